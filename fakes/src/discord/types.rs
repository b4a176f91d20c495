//! Public data types of the fake Discord: what tests put in and read back.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Snowflake (de)serialisation: written as a string like Discord does, read from a
/// string or a number so control scripts can use either.
pub mod id {
    use super::*;

    pub fn parse(v: &Value) -> Option<u64> {
        match v {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let v = Value::deserialize(d)?;
        parse(&v).ok_or_else(|| serde::de::Error::custom(format!("not a snowflake: {v}")))
    }

    pub mod vec {
        use super::*;

        pub fn serialize<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
            let strings: Vec<String> = v.iter().map(u64::to_string).collect();
            strings.serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
            let v: Vec<Value> = Vec::deserialize(d)?;
            v.iter()
                .map(|x| {
                    parse(x)
                        .ok_or_else(|| serde::de::Error::custom(format!("not a snowflake: {x}")))
                })
                .collect()
        }
    }

    pub mod pairs {
        use super::*;

        pub fn serialize<S: Serializer>(v: &[(u64, u64)], s: S) -> Result<S::Ok, S::Error> {
            let pairs: Vec<[String; 2]> = v
                .iter()
                .map(|(a, b)| [a.to_string(), b.to_string()])
                .collect();
            pairs.serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(u64, u64)>, D::Error> {
            let v: Vec<[Value; 2]> = Vec::deserialize(d)?;
            v.iter()
                .map(|[a, b]| match (parse(a), parse(b)) {
                    (Some(a), Some(b)) => Ok((a, b)),
                    _ => Err(serde::de::Error::custom(format!(
                        "not a [user_id, channel_id] pair: [{a}, {b}]"
                    ))),
                })
                .collect()
        }
    }
}

/// A guild the bot is in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GuildSpec {
    #[serde(with = "id")]
    pub id: u64,
    pub name: String,
    #[serde(with = "id")]
    pub owner_id: u64,
    #[serde(default)]
    pub channels: Vec<ChannelSpec>,
    /// The `@everyone` role (id = guild id) is added when missing.
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    /// The bot's own member is added when missing (no roles).
    #[serde(default)]
    pub members: Vec<MemberSpec>,
    /// `(user_id, channel_id)` of members connected to a voice channel.
    #[serde(default, with = "id::pairs")]
    pub voice_states: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// GUILD_TEXT (type 0)
    #[default]
    Text,
    /// GUILD_VOICE (type 2)
    Voice,
}

impl ChannelKind {
    pub fn code(self) -> u8 {
        match self {
            ChannelKind::Text => 0,
            ChannelKind::Voice => 2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChannelSpec {
    #[serde(with = "id")]
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub kind: ChannelKind,
    #[serde(default)]
    pub permission_overwrites: Vec<Overwrite>,
    /// Voice channels: the most users that may be connected at once; 0 = no limit, 1 to 99
    /// a limit (Discord's channel object `user_limit`, "the user limit of the voice
    /// channel", docs/resources/Channel.md). Must be 0 for text channels. A member with
    /// MOVE_MEMBERS in the channel may join when it is full.
    #[serde(default)]
    pub user_limit: u32,
}

impl ChannelSpec {
    /// A channel without overwrites or user limit.
    pub fn new(id: u64, name: &str, kind: ChannelKind) -> ChannelSpec {
        ChannelSpec {
            id,
            name: name.to_string(),
            kind,
            permission_overwrites: Vec::new(),
            user_limit: 0,
        }
    }
}

/// Most users a voice channel's `user_limit` may be (Discord: "1 to 99 refers to a user
/// limit" for voice channels; 10 000 is for stage channels, which this fake lacks).
pub const MAX_VOICE_USER_LIMIT: u32 = 99;

/// A channel permission overwrite, as Discord writes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Overwrite {
    /// Role or user id.
    #[serde(with = "id")]
    pub id: u64,
    /// 0 = role, 1 = member.
    #[serde(rename = "type", default)]
    pub kind: u8,
    /// Permission bitfield as a decimal string.
    #[serde(default = "zero")]
    pub allow: String,
    #[serde(default = "zero")]
    pub deny: String,
}

fn zero() -> String {
    "0".to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoleSpec {
    #[serde(with = "id")]
    pub id: u64,
    pub name: String,
    /// Permission bitfield as a decimal string.
    #[serde(default = "zero")]
    pub permissions: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberSpec {
    #[serde(with = "id")]
    pub user_id: u64,
    pub username: String,
    #[serde(default, with = "id::vec")]
    pub roles: Vec<u64>,
}

/// One REST request received (not `/control`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-cased; `authorization` as sent.
    pub headers: BTreeMap<String, String>,
    /// The body when it parsed as JSON.
    pub body: Option<Value>,
    /// The status code answered.
    pub status: u16,
    /// When it arrived (Unix time, microseconds).
    #[serde(default)]
    pub received_at_unix_us: u64,
}

/// One payload a client sent on the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GatewaySent {
    /// Connection number (1, 2, ... in connection order).
    pub connection: u64,
    /// The gateway session the connection was attached to when it sent this (after an
    /// accepted IDENTIFY or RESUME; None for the IDENTIFY/RESUME itself and before).
    #[serde(default)]
    pub session: Option<String>,
    /// `[shard_id, shard_count]` once identified or resumed.
    pub shard: Option<[u64; 2]>,
    /// When it arrived: microseconds since the fake started (monotonic clock).
    #[serde(default)]
    pub received_at_us: u64,
    /// The payload as sent (or `{"raw": text}` when it was not JSON).
    pub payload: Value,
}

/// Whose gateway commands [`crate::discord::FakeDiscord::max_sent_in_any_window`] counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentBy {
    /// Each connection on its own; the answer is the highest of them (the fake's and
    /// Discord's send limit is per connection).
    AnyConnection,
    /// One connection (`GatewaySent::connection`, `SessionInfo::connection`).
    Connection(u64),
    /// Everything sent while attached to this gateway session, on whichever connection.
    Session(String),
}

/// An interaction injected into the bot and everything the bot answered to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InteractionRecord {
    pub id: String,
    pub token: String,
    /// 2 application command, 3 message component, 4 autocomplete.
    #[serde(rename = "type")]
    pub kind: u8,
    pub guild_id: String,
    pub channel_id: String,
    /// The body of the (first accepted) callback.
    pub callback: Option<Value>,
    /// The original response message as it is now (None before it exists or once deleted).
    pub original: Option<Value>,
    /// Follow-up messages as they are now.
    pub followups: Vec<Value>,
    /// Every callback / webhook call on this interaction, in order:
    /// `{"action": "callback"|"get_original"|"edit_original"|"delete_original"|"followup"|"edit_followup", "body": ...}`.
    pub log: Vec<Value>,
}

/// What an injection returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Injected {
    pub id: String,
    pub token: String,
}

/// Error of a control operation (unknown guild, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ControlError(pub String);

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ControlError {}

/// A gateway session as the fake sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionInfo {
    pub session_id: String,
    pub shard: [u64; 2],
    /// Last sequence number dispatched.
    pub seq: u64,
    /// Whether a websocket is attached (false: resumable).
    pub connected: bool,
    /// The attached connection's number (as in `GatewaySent::connection`).
    #[serde(default)]
    pub connection: Option<u64>,
    pub intents: u64,
}

/// How the fake allocates a voice server when the bot joins (or moves to) a voice channel
/// with op 4. Discord's gateway docs (Voice Server Update): "A null endpoint means that
/// the voice server allocated has gone away and is trying to be reallocated. You should
/// attempt to disconnect from the currently connected voice server, and not attempt to
/// reconnect until a new voice server is allocated." The real server comes in a later
/// VOICE_SERVER_UPDATE.
///
/// Over HTTP (`POST /control/voice-server-mode`): `{"mode": "immediate"}`,
/// `{"mode": "null_then", "delay_ms": 500}` or `{"mode": "null_forever"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VoiceServerMode {
    /// One VOICE_SERVER_UPDATE with a token and an endpoint right after the
    /// VOICE_STATE_UPDATE (what Discord normally does).
    #[default]
    Immediate,
    /// First a VOICE_SERVER_UPDATE with `endpoint: null` (and an interim token), then,
    /// after this long, one with a fresh token and an endpoint. The late one is dropped if
    /// the bot left voice or a newer allocation happened meanwhile.
    NullThen(std::time::Duration),
    /// Only the VOICE_SERVER_UPDATE with `endpoint: null`: the server never comes.
    NullForever,
}

/// One VOICE_SERVER_UPDATE the fake dispatched for a guild (see
/// [`crate::discord::FakeDiscord::voice_servers`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VoiceServerSent {
    /// The voice connection token it carried.
    pub token: String,
    /// The voice server host (`c-fakeNNNN.discord.media:443`); None for `endpoint: null`
    /// (the server is being reallocated: the token must not be used).
    pub endpoint: Option<String>,
    /// When it was dispatched: microseconds since the fake started (the clock of
    /// `GatewaySent::received_at_us`).
    pub sent_at_us: u64,
}
