//! The fake's model: guilds, gateway sessions, interactions, messages and commands.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::types::{
    id, ControlError, GatewaySent, GuildSpec, InteractionRecord, MemberSpec, Overwrite,
    RecordedRequest, RoleSpec, SentBy, SessionInfo,
};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

pub const ADMINISTRATOR: u64 = 1 << 3;
pub const VIEW_CHANNEL: u64 = 1 << 10;
pub const SEND_MESSAGES: u64 = 1 << 11;
pub const EMBED_LINKS: u64 = 1 << 14;
pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
pub const CONNECT: u64 = 1 << 20;
pub const SPEAK: u64 = 1 << 21;
pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
/// Every permission bit Discord currently defines (0 ..= 50).
pub const ALL_PERMISSIONS: u64 = (1 << 51) - 1;
/// What a new guild's `@everyone` role gets in this fake when the spec has none.
pub const DEFAULT_EVERYONE: u64 = VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | READ_MESSAGE_HISTORY
    | CONNECT
    | SPEAK
    | USE_APPLICATION_COMMANDS
    | (1 << 6); // ADD_REACTIONS

/// Ephemeral message flag.
pub const EPHEMERAL: u64 = 1 << 6;
/// "Bot is thinking" flag of a deferred response.
pub const LOADING: u64 = 1 << 7;

/// Gateway intents that gate the events this fake dispatches.
pub const INTENT_GUILDS: u64 = 1 << 0;
pub const INTENT_GUILD_VOICE_STATES: u64 = 1 << 7;
pub const INTENT_GUILD_MESSAGES: u64 = 1 << 9;

pub(crate) enum Outgoing {
    Text(String),
    Close(u16, String),
    /// Ends the TCP connection without a close frame.
    Drop,
}

/// A REST error: HTTP status plus Discord's JSON error code and message.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: u64,
    pub message: String,
    pub errors: Option<Value>,
}

impl ApiError {
    pub fn new(status: u16, code: u64, message: &str) -> ApiError {
        ApiError {
            status,
            code,
            message: message.to_string(),
            errors: None,
        }
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(401, 0, "401: Unauthorized")
    }
    pub fn not_found() -> ApiError {
        ApiError::new(404, 0, "404: Not Found")
    }
    pub fn unknown_channel() -> ApiError {
        ApiError::new(404, 10003, "Unknown Channel")
    }
    pub fn unknown_guild() -> ApiError {
        ApiError::new(404, 10004, "Unknown Guild")
    }
    pub fn unknown_member() -> ApiError {
        ApiError::new(404, 10007, "Unknown Member")
    }
    pub fn unknown_message() -> ApiError {
        ApiError::new(404, 10008, "Unknown Message")
    }
    pub fn unknown_webhook() -> ApiError {
        ApiError::new(404, 10015, "Unknown Webhook")
    }
    pub fn invalid_webhook_token() -> ApiError {
        ApiError::new(401, 50027, "Invalid Webhook Token")
    }
    pub fn unknown_interaction() -> ApiError {
        ApiError::new(404, 10062, "Unknown interaction")
    }
    pub fn missing_access() -> ApiError {
        ApiError::new(403, 50001, "Missing Access")
    }
    pub fn missing_permissions() -> ApiError {
        ApiError::new(403, 50013, "Missing Permissions")
    }
    pub fn already_acknowledged() -> ApiError {
        ApiError::new(400, 40060, "Interaction has already been acknowledged.")
    }
    pub fn empty_message() -> ApiError {
        ApiError::new(400, 50006, "Cannot send an empty message")
    }
    /// 50035 with Discord's nested `errors` object for one field.
    pub fn invalid_form(field_path: &[&str], code: &str, message: &str) -> ApiError {
        let mut errors = json!({"_errors": [{"code": code, "message": message}]});
        for key in field_path.iter().rev() {
            errors = json!({ *key: errors });
        }
        ApiError {
            status: 400,
            code: 50035,
            message: "Invalid Form Body".to_string(),
            errors: Some(errors),
        }
    }
    pub fn body(&self) -> Value {
        let mut b = json!({"code": self.code, "message": self.message});
        if let (Some(e), Some(m)) = (&self.errors, b.as_object_mut()) {
            m.insert("errors".into(), e.clone());
        }
        b
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// ISO 8601 timestamp in Discord's format: `2024-01-01T12:00:00.123000+00:00`.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    if m <= 2 {
        y += 1;
    }
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}000+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn random_hex(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

pub(crate) struct Config {
    pub token: String,
    pub bot_user_id: u64,
    pub application_id: u64,
    pub bot_name: String,
    pub shard_count: u64,
    pub heartbeat_interval_ms: u64,
    /// `ws://127.0.0.1:PORT/gateway`
    pub gateway_url: String,
}

impl Config {
    /// The bot token with or without its `Bot ` prefix.
    pub fn token_matches(&self, given: &str) -> bool {
        let given = given.trim();
        let given = given.strip_prefix("Bot ").unwrap_or(given);
        let own = self.token.strip_prefix("Bot ").unwrap_or(&self.token);
        !own.is_empty() && given == own
    }
}

struct VoiceEntry {
    channel_id: u64,
    session_id: String,
    self_mute: bool,
    self_deaf: bool,
    /// The bot's only: the gateway session whose op 4 created or last moved this voice
    /// state. It dies with that session (clean close, invalidation, superseding IDENTIFY).
    owner: Option<String>,
}

struct Guild {
    spec: GuildSpec,
    joined_at: String,
    voice: BTreeMap<u64, VoiceEntry>,
}

pub(crate) struct Session {
    pub shard: [u64; 2],
    pub seq: u64,
    events: Vec<(u64, String)>,
    conn: Option<(u64, UnboundedSender<Outgoing>)>,
    pub intents: u64,
}

struct Interaction {
    rec: InteractionRecord,
    /// The invoking user (for `interaction_metadata.user`).
    user: Value,
    acked: bool,
    original: Option<u64>,
    followups: Vec<u64>,
    /// The message a component interaction is attached to.
    component_message: Option<u64>,
}

pub(crate) struct State {
    pub cfg: Config,
    guilds: BTreeMap<u64, Guild>,
    pub sessions: HashMap<String, Session>,
    interactions: BTreeMap<String, Interaction>,
    messages: BTreeMap<u64, Value>,
    channel_messages: BTreeMap<u64, Vec<u64>>,
    global_commands: Vec<Value>,
    guild_commands: BTreeMap<u64, Vec<Value>>,
    pub requests: Vec<RecordedRequest>,
    pub gateway_sent: Vec<GatewaySent>,
    pub connections: HashMap<u64, UnboundedSender<Outgoing>>,
    next_conn: u64,
    last_snowflake: u64,
    /// The clock `GatewaySent::received_at_us` counts from.
    pub started: Instant,
    /// How many connections were closed with 4008 for sending too fast.
    pub rate_limit_closes: usize,
}

impl State {
    pub fn new(cfg: Config) -> State {
        State {
            cfg,
            guilds: BTreeMap::new(),
            sessions: HashMap::new(),
            interactions: BTreeMap::new(),
            messages: BTreeMap::new(),
            channel_messages: BTreeMap::new(),
            global_commands: Vec::new(),
            guild_commands: BTreeMap::new(),
            requests: Vec::new(),
            gateway_sent: Vec::new(),
            connections: HashMap::new(),
            next_conn: 0,
            last_snowflake: 0,
            started: Instant::now(),
            rate_limit_closes: 0,
        }
    }

    /// A fresh snowflake: timestamp since Discord's epoch, strictly increasing.
    pub fn snowflake(&mut self) -> u64 {
        let now = unix_ms().saturating_sub(DISCORD_EPOCH_MS) << 22;
        let next = now.max(self.last_snowflake + 1);
        self.last_snowflake = next;
        next
    }

    // ----- JSON shapes -------------------------------------------------------------

    fn user_json(&self, user_id: u64, username: &str) -> Value {
        let bot = user_id == self.cfg.bot_user_id;
        let mut u = json!({
            "id": user_id.to_string(),
            "username": username,
            "discriminator": "0",
            "global_name": if bot { Value::Null } else { Value::String(username.to_string()) },
            "avatar": null,
            "avatar_decoration_data": null,
            "banner": null,
            "accent_color": null,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": null,
            "collectibles": null,
        });
        if bot {
            if let Some(m) = u.as_object_mut() {
                m.insert("bot".into(), Value::Bool(true));
            }
        }
        u
    }

    pub fn bot_user_json(&self) -> Value {
        let mut u = self.user_json(self.cfg.bot_user_id, &self.cfg.bot_name);
        if let Some(m) = u.as_object_mut() {
            m.insert("verified".into(), Value::Bool(true));
            m.insert("mfa_enabled".into(), Value::Bool(false));
            m.insert("email".into(), Value::Null);
            m.insert("locale".into(), Value::String("en-US".into()));
        }
        u
    }

    fn member_json(&self, g: &Guild, m: &MemberSpec, with_user: bool) -> Value {
        let mut v = json!({
            "nick": null,
            "avatar": null,
            "banner": null,
            "roles": m.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "joined_at": g.joined_at,
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": null,
            "unusual_dm_activity_until": null,
        });
        if with_user {
            if let Some(o) = v.as_object_mut() {
                o.insert("user".into(), self.user_json(m.user_id, &m.username));
            }
        }
        v
    }

    fn role_json(r: &RoleSpec, position: usize) -> Value {
        json!({
            "id": r.id.to_string(),
            "name": r.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
            "hoist": false,
            "icon": null,
            "unicode_emoji": null,
            "position": position,
            "permissions": r.permissions,
            "managed": false,
            "mentionable": false,
            "flags": 0,
        })
    }

    fn channel_json(g: &Guild, idx: usize, with_guild_id: bool) -> Value {
        let c = &g.spec.channels[idx];
        let mut v = json!({
            "id": c.id.to_string(),
            "type": c.kind.code(),
            "name": c.name,
            "position": idx,
            "permission_overwrites": c.permission_overwrites,
            "parent_id": null,
            "nsfw": false,
            "last_message_id": null,
            "rate_limit_per_user": 0,
            "flags": 0,
        });
        if let Some(o) = v.as_object_mut() {
            if with_guild_id {
                o.insert("guild_id".into(), Value::String(g.spec.id.to_string()));
            }
            match c.kind {
                super::types::ChannelKind::Text => {
                    o.insert("topic".into(), Value::Null);
                }
                super::types::ChannelKind::Voice => {
                    o.insert("bitrate".into(), json!(64000));
                    o.insert("user_limit".into(), json!(0));
                    o.insert("rtc_region".into(), Value::Null);
                }
            }
        }
        v
    }

    fn guild_json(&self, g: &Guild) -> Value {
        let roles: Vec<Value> = g
            .spec
            .roles
            .iter()
            .enumerate()
            .map(|(i, r)| Self::role_json(r, i))
            .collect();
        json!({
            "id": g.spec.id.to_string(),
            "name": g.spec.name,
            "icon": null,
            "icon_hash": null,
            "splash": null,
            "discovery_splash": null,
            "owner_id": g.spec.owner_id.to_string(),
            "region": null,
            "afk_channel_id": null,
            "afk_timeout": 300,
            "widget_enabled": false,
            "widget_channel_id": null,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": roles,
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": null,
            "system_channel_id": null,
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "max_presences": null,
            "max_members": 500000,
            "vanity_url_code": null,
            "description": null,
            "banner": null,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": null,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "nsfw": false,
            "stickers": [],
            "premium_progress_bar_enabled": false,
            "safety_alerts_channel_id": null,
            "incidents_data": null,
        })
    }

    /// GUILD_CREATE's payload: the guild plus the gateway-only fields.
    fn guild_create_json(&self, g: &Guild) -> Value {
        let mut v = self.guild_json(g);
        let channels: Vec<Value> = (0..g.spec.channels.len())
            .map(|i| Self::channel_json(g, i, false))
            .collect();
        let members: Vec<Value> = g
            .spec
            .members
            .iter()
            .map(|m| self.member_json(g, m, true))
            .collect();
        let voice_states: Vec<Value> = g
            .voice
            .keys()
            .filter_map(|u| self.voice_state_json(g, *u, false))
            .collect();
        if let Some(o) = v.as_object_mut() {
            o.insert("joined_at".into(), Value::String(g.joined_at.clone()));
            o.insert("large".into(), Value::Bool(false));
            o.insert("unavailable".into(), Value::Bool(false));
            o.insert("member_count".into(), json!(g.spec.members.len()));
            o.insert("voice_states".into(), Value::Array(voice_states));
            o.insert("members".into(), Value::Array(members));
            o.insert("channels".into(), Value::Array(channels));
            o.insert("threads".into(), json!([]));
            o.insert("presences".into(), json!([]));
            o.insert("stage_instances".into(), json!([]));
            o.insert("guild_scheduled_events".into(), json!([]));
            o.insert("soundboard_sounds".into(), json!([]));
            o.insert("lazy".into(), Value::Bool(true));
            o.insert("application_command_counts".into(), json!({}));
        }
        v
    }

    /// A voice state; for a user who left, `channel_id: null` with `left_session`.
    fn voice_state_json(&self, g: &Guild, user_id: u64, with_guild: bool) -> Option<Value> {
        let e = g.voice.get(&user_id)?;
        Some(self.voice_state_value(
            g,
            user_id,
            Some(e.channel_id),
            &e.session_id,
            e.self_mute,
            e.self_deaf,
            with_guild,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn voice_state_value(
        &self,
        g: &Guild,
        user_id: u64,
        channel: Option<u64>,
        session_id: &str,
        self_mute: bool,
        self_deaf: bool,
        with_guild: bool,
    ) -> Value {
        let mut v = json!({
            "channel_id": channel.map(|c| c.to_string()),
            "user_id": user_id.to_string(),
            "session_id": session_id,
            "deaf": false,
            "mute": false,
            "self_deaf": self_deaf,
            "self_mute": self_mute,
            "self_stream": false,
            "self_video": false,
            "suppress": false,
            "request_to_speak_timestamp": null,
        });
        if with_guild {
            if let Some(o) = v.as_object_mut() {
                o.insert("guild_id".into(), Value::String(g.spec.id.to_string()));
                if let Some(m) = g.spec.members.iter().find(|m| m.user_id == user_id) {
                    o.insert("member".into(), self.member_json(g, m, true));
                }
            }
        }
        v
    }

    // ----- guild model --------------------------------------------------------------

    pub fn add_guild(&mut self, mut spec: GuildSpec) -> Result<(), ControlError> {
        if spec.id == 0 {
            return Err(ControlError("guild id must be a snowflake > 0".into()));
        }
        if !spec.roles.iter().any(|r| r.id == spec.id) {
            spec.roles.insert(
                0,
                RoleSpec {
                    id: spec.id,
                    name: "@everyone".into(),
                    permissions: DEFAULT_EVERYONE.to_string(),
                },
            );
        }
        for r in &spec.roles {
            if r.permissions.parse::<u64>().is_err() {
                return Err(ControlError(format!(
                    "role {}: permissions must be a decimal bitfield string",
                    r.id
                )));
            }
        }
        if !spec
            .members
            .iter()
            .any(|m| m.user_id == self.cfg.bot_user_id)
        {
            spec.members.push(MemberSpec {
                user_id: self.cfg.bot_user_id,
                username: self.cfg.bot_name.clone(),
                roles: Vec::new(),
            });
        }
        let mut voice = BTreeMap::new();
        for (user, channel) in &spec.voice_states {
            if !spec.channels.iter().any(|c| c.id == *channel) {
                return Err(ControlError(format!(
                    "voice state of {user}: channel {channel} is not in the guild"
                )));
            }
            voice.insert(
                *user,
                VoiceEntry {
                    channel_id: *channel,
                    session_id: random_hex(32),
                    self_mute: false,
                    self_deaf: false,
                    owner: None,
                },
            );
        }
        let g = Guild {
            spec,
            joined_at: iso8601(unix_ms()),
            voice,
        };
        let id = g.spec.id;
        let payload = self.guild_create_json(&g);
        self.guilds.insert(id, g);
        self.dispatch(Some(id), "GUILD_CREATE", payload, Some(INTENT_GUILDS));
        Ok(())
    }

    /// Where `channel` is in the guild's channel list.
    fn channel_index(g: &Guild, guild: u64, channel: u64) -> Result<usize, ControlError> {
        g.spec
            .channels
            .iter()
            .position(|c| c.id == channel)
            .ok_or_else(|| ControlError(format!("unknown channel {channel} in {guild}")))
    }

    fn guild(&self, id: u64) -> Result<&Guild, ControlError> {
        self.guilds
            .get(&id)
            .ok_or_else(|| ControlError(format!("unknown guild {id}")))
    }

    pub fn guild_ids(&self) -> Vec<u64> {
        self.guilds.keys().copied().collect()
    }

    pub fn set_user_voice(
        &mut self,
        guild: u64,
        user: u64,
        channel: Option<u64>,
    ) -> Result<(), ControlError> {
        let g = self.guild(guild)?;
        if !g.spec.members.iter().any(|m| m.user_id == user) {
            return Err(ControlError(format!(
                "user {user} is not a member of {guild}"
            )));
        }
        self.apply_voice(guild, user, channel, false, false, None, None)
            .map(|_| ())
    }

    /// Moves (or disconnects) the bot the way a moderator would.
    pub fn move_bot(&mut self, guild: u64, channel: Option<u64>) -> Result<(), ControlError> {
        let bot = self.cfg.bot_user_id;
        let g = self.guild(guild)?;
        let Some(e) = g.voice.get(&bot) else {
            return Err(ControlError(format!(
                "the bot is not in a voice channel of {guild}"
            )));
        };
        let (m, d) = (e.self_mute, e.self_deaf);
        self.apply_voice(guild, bot, channel, m, d, None, None)
            .map(|_| ())
    }

    /// Updates a voice state and dispatches VOICE_STATE_UPDATE; returns the session id.
    /// `fresh_session` replaces the voice session id and `owner` the owning gateway
    /// session; None keeps what the entry had.
    #[allow(clippy::too_many_arguments)]
    fn apply_voice(
        &mut self,
        guild: u64,
        user: u64,
        channel: Option<u64>,
        self_mute: bool,
        self_deaf: bool,
        fresh_session: Option<String>,
        owner: Option<String>,
    ) -> Result<String, ControlError> {
        let g = self
            .guilds
            .get_mut(&guild)
            .ok_or_else(|| ControlError(format!("unknown guild {guild}")))?;
        if let Some(c) = channel {
            match g.spec.channels.iter().find(|ch| ch.id == c) {
                Some(ch) if ch.kind == super::types::ChannelKind::Voice => {}
                Some(_) => return Err(ControlError(format!("channel {c} is not a voice channel"))),
                None => return Err(ControlError(format!("unknown channel {c} in {guild}"))),
            }
        }
        let session_id = fresh_session
            .or_else(|| g.voice.get(&user).map(|e| e.session_id.clone()))
            .unwrap_or_else(|| random_hex(32));
        let owner = owner.or_else(|| g.voice.get(&user).and_then(|e| e.owner.clone()));
        match channel {
            Some(c) => {
                g.voice.insert(
                    user,
                    VoiceEntry {
                        channel_id: c,
                        session_id: session_id.clone(),
                        self_mute,
                        self_deaf,
                        owner,
                    },
                );
            }
            None => {
                g.voice.remove(&user);
            }
        }
        let Some(g) = self.guilds.get(&guild) else {
            return Err(ControlError(format!("unknown guild {guild}")));
        };
        let payload =
            self.voice_state_value(g, user, channel, &session_id, self_mute, self_deaf, true);
        self.dispatch(
            Some(guild),
            "VOICE_STATE_UPDATE",
            payload,
            Some(INTENT_GUILD_VOICE_STATES),
        );
        Ok(session_id)
    }

    /// op 4 from the bot on gateway session `gateway_session`: its voice state changes,
    /// plus a voice server when it goes to a channel (also the one it is already in).
    /// Like Discord, the voice state's `session_id` is the sending gateway session's id,
    /// and that session owns the voice state from then on.
    pub fn bot_voice_update(
        &mut self,
        gateway_session: &str,
        d: &Value,
    ) -> Result<(), ControlError> {
        let guild = d
            .get("guild_id")
            .and_then(id::parse)
            .ok_or_else(|| ControlError("op 4 without a guild_id".into()))?;
        let channel = match d.get("channel_id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(id::parse(v).ok_or_else(|| ControlError("bad channel_id".into()))?),
        };
        let self_mute = d.get("self_mute").and_then(Value::as_bool).unwrap_or(false);
        let self_deaf = d.get("self_deaf").and_then(Value::as_bool).unwrap_or(false);
        let bot = self.cfg.bot_user_id;
        // Without VIEW_CHANNEL and CONNECT Discord silently ignores the request.
        if let Some(c) = channel {
            let g = self.guild(guild)?;
            let p = Self::channel_permissions(g, c, bot);
            if p & (VIEW_CHANNEL | CONNECT) != (VIEW_CHANNEL | CONNECT) {
                return Err(ControlError(format!("the bot may not connect to {c}")));
            }
        }
        // Joining or moving: the voice session is the sender's gateway session (the same
        // one while a session moves the bot, the new one when another session takes
        // over). Leaving keeps the id the voice state had.
        let (fresh, owner) = match channel {
            Some(_) => (
                Some(gateway_session.to_string()),
                Some(gateway_session.to_string()),
            ),
            None => (None, None),
        };
        self.apply_voice(guild, bot, channel, self_mute, self_deaf, fresh, owner)?;
        if channel.is_some() {
            let payload = json!({
                "token": random_hex(16),
                "guild_id": guild.to_string(),
                "endpoint": format!("c-fake{}.discord.media:443", rand::thread_rng().gen_range(1000..10000)),
            });
            self.dispatch(Some(guild), "VOICE_SERVER_UPDATE", payload, None);
        }
        Ok(())
    }

    pub fn voice_channel_of(&self, guild: u64, user: u64) -> Option<u64> {
        self.guilds
            .get(&guild)
            .and_then(|g| g.voice.get(&user))
            .map(|e| e.channel_id)
    }

    /// The gateway session owning the bot's voice state in `guild` (None when the bot is
    /// not in voice there, or got there without an op 4, e.g. from a `GuildSpec`).
    pub fn bot_voice_session_owner(&self, guild: u64) -> Option<String> {
        self.guilds
            .get(&guild)
            .and_then(|g| g.voice.get(&self.cfg.bot_user_id))
            .and_then(|e| e.owner.clone())
    }

    /// Removes `user`'s voice state in `guild` and dispatches VOICE_STATE_UPDATE with
    /// `channel_id: null` and the voice session id it had.
    fn remove_voice(&mut self, guild: u64, user: u64) {
        let Some(g) = self.guilds.get_mut(&guild) else {
            return;
        };
        let Some(e) = g.voice.remove(&user) else {
            return;
        };
        let Some(g) = self.guilds.get(&guild) else {
            return;
        };
        let payload =
            self.voice_state_value(g, user, None, &e.session_id, e.self_mute, e.self_deaf, true);
        self.dispatch(
            Some(guild),
            "VOICE_STATE_UPDATE",
            payload,
            Some(INTENT_GUILD_VOICE_STATES),
        );
    }

    /// A gateway session ended for good: the bot's voice states it owns go away, with a
    /// VOICE_STATE_UPDATE (channel null) to the sessions that remain. Call after the
    /// session was removed from `sessions`.
    fn session_ended(&mut self, gateway_session: &str) {
        let bot = self.cfg.bot_user_id;
        let owned: Vec<u64> = self
            .guilds
            .iter()
            .filter(|(_, g)| {
                g.voice
                    .get(&bot)
                    .is_some_and(|e| e.owner.as_deref() == Some(gateway_session))
            })
            .map(|(id, _)| *id)
            .collect();
        for guild in owned {
            self.remove_voice(guild, bot);
        }
    }

    /// Deletes a channel: CHANNEL_DELETE (the channel object with `guild_id`), then a
    /// VOICE_STATE_UPDATE with `channel_id: null` for everyone who was in it.
    pub fn delete_channel(&mut self, guild: u64, channel: u64) -> Result<(), ControlError> {
        let g = self.guild(guild)?;
        let idx = Self::channel_index(g, guild, channel)?;
        let payload = Self::channel_json(g, idx, true);
        let inside: Vec<u64> = g
            .voice
            .iter()
            .filter(|(_, e)| e.channel_id == channel)
            .map(|(u, _)| *u)
            .collect();
        if let Some(g) = self.guilds.get_mut(&guild) {
            g.spec.channels.remove(idx);
        }
        self.dispatch(Some(guild), "CHANNEL_DELETE", payload, Some(INTENT_GUILDS));
        for user in inside {
            self.remove_voice(guild, user);
        }
        Ok(())
    }

    /// Replaces a channel's permission overwrites: CHANNEL_UPDATE with the whole channel.
    /// Members already in a voice channel stay there (as on Discord).
    pub fn set_channel_overwrites(
        &mut self,
        guild: u64,
        channel: u64,
        overwrites: Vec<Overwrite>,
    ) -> Result<(), ControlError> {
        for o in &overwrites {
            if o.kind > 1 {
                return Err(ControlError(format!(
                    "overwrite {}: type must be 0 (role) or 1 (member)",
                    o.id
                )));
            }
            if o.allow.parse::<u64>().is_err() || o.deny.parse::<u64>().is_err() {
                return Err(ControlError(format!(
                    "overwrite {}: allow and deny must be decimal bitfield strings",
                    o.id
                )));
            }
        }
        let g = self
            .guilds
            .get_mut(&guild)
            .ok_or_else(|| ControlError(format!("unknown guild {guild}")))?;
        let idx = Self::channel_index(g, guild, channel)?;
        g.spec.channels[idx].permission_overwrites = overwrites;
        let Some(g) = self.guilds.get(&guild) else {
            return Err(ControlError(format!("unknown guild {guild}")));
        };
        let payload = Self::channel_json(g, idx, true);
        self.dispatch(Some(guild), "CHANNEL_UPDATE", payload, Some(INTENT_GUILDS));
        Ok(())
    }

    // ----- permissions ----------------------------------------------------------------

    fn base_permissions(g: &Guild, user: u64) -> u64 {
        if user == g.spec.owner_id {
            return ALL_PERMISSIONS;
        }
        let perms = |rid: u64| {
            g.spec
                .roles
                .iter()
                .find(|r| r.id == rid)
                .and_then(|r| r.permissions.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let mut p = perms(g.spec.id);
        if let Some(m) = g.spec.members.iter().find(|m| m.user_id == user) {
            for r in &m.roles {
                p |= perms(*r);
            }
        }
        if p & ADMINISTRATOR != 0 {
            ALL_PERMISSIONS
        } else {
            p
        }
    }

    fn channel_permissions(g: &Guild, channel: u64, user: u64) -> u64 {
        let mut p = Self::base_permissions(g, user);
        if p & ADMINISTRATOR != 0 {
            return ALL_PERMISSIONS;
        }
        let Some(c) = g.spec.channels.iter().find(|c| c.id == channel) else {
            return p;
        };
        let bits = |s: &str| s.parse::<u64>().unwrap_or(0);
        if let Some(o) = c
            .permission_overwrites
            .iter()
            .find(|o| o.kind == 0 && o.id == g.spec.id)
        {
            p &= !bits(&o.deny);
            p |= bits(&o.allow);
        }
        let roles: Vec<u64> = g
            .spec
            .members
            .iter()
            .find(|m| m.user_id == user)
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let (mut allow, mut deny) = (0, 0);
        for o in &c.permission_overwrites {
            if o.kind == 0 && roles.contains(&o.id) {
                allow |= bits(&o.allow);
                deny |= bits(&o.deny);
            }
        }
        p &= !deny;
        p |= allow;
        if let Some(o) = c
            .permission_overwrites
            .iter()
            .find(|o| o.kind == 1 && o.id == user)
        {
            p &= !bits(&o.deny);
            p |= bits(&o.allow);
        }
        p
    }

    fn find_channel(&self, channel: u64) -> Option<(&Guild, usize)> {
        self.guilds.values().find_map(|g| {
            g.spec
                .channels
                .iter()
                .position(|c| c.id == channel)
                .map(|i| (g, i))
        })
    }

    // ----- gateway --------------------------------------------------------------------

    pub fn shard_of(guild: u64, count: u64) -> u64 {
        (guild >> 22) % count.max(1)
    }

    pub fn new_connection(&mut self, tx: UnboundedSender<Outgoing>) -> u64 {
        self.next_conn += 1;
        self.connections.insert(self.next_conn, tx);
        self.next_conn
    }

    pub fn connection_closed(&mut self, conn: u64, invalidate: bool) {
        self.connections.remove(&conn);
        let mut dead = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            if s.conn.as_ref().is_some_and(|(c, _)| *c == conn) {
                s.conn = None;
                if invalidate {
                    dead.push(id.clone());
                }
            }
        }
        for id in &dead {
            self.sessions.remove(id);
        }
        for id in &dead {
            self.session_ended(id);
        }
    }

    /// Sends a dispatch to every session of the guild's shard (buffered for resuming).
    pub fn dispatch(&mut self, guild: Option<u64>, t: &str, d: Value, intent: Option<u64>) {
        for s in self.sessions.values_mut() {
            let shard = guild.map_or(0, |g| Self::shard_of(g, s.shard[1]));
            if shard != s.shard[0] {
                continue;
            }
            if intent.is_some_and(|i| s.intents & i == 0) {
                continue;
            }
            s.seq += 1;
            let text = json!({"op": 0, "t": t, "s": s.seq, "d": d}).to_string();
            s.events.push((s.seq, text.clone()));
            if let Some((_, tx)) = &s.conn {
                let _ = tx.send(Outgoing::Text(text));
            }
        }
    }

    /// IDENTIFY accepted: a new session with READY then GUILD_CREATE for its guilds.
    pub fn identify(
        &mut self,
        conn: u64,
        tx: UnboundedSender<Outgoing>,
        shard: [u64; 2],
        intents: u64,
    ) -> String {
        // Disconnected sessions of the same shard are superseded; the voice states they
        // own end with them before the new session exists (it learns the state from its
        // GUILD_CREATE, not from a VOICE_STATE_UPDATE).
        let superseded: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.shard == shard && s.conn.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &superseded {
            self.sessions.remove(id);
        }
        for id in &superseded {
            self.session_ended(id);
        }
        let session_id = random_hex(32);
        self.sessions.insert(
            session_id.clone(),
            Session {
                shard,
                seq: 0,
                events: Vec::new(),
                conn: Some((conn, tx)),
                intents,
            },
        );
        let guilds: Vec<u64> = self
            .guilds
            .keys()
            .copied()
            .filter(|g| Self::shard_of(*g, shard[1]) == shard[0])
            .collect();
        let ready = json!({
            "v": 10,
            "user_settings": {},
            "user": self.bot_user_json(),
            "private_channels": [],
            "guilds": guilds.iter().map(|g| json!({"id": g.to_string(), "unavailable": true})).collect::<Vec<_>>(),
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["rotterdam", "frankfurt", "london"],
            "session_type": "normal",
            "session_id": session_id,
            "resume_gateway_url": self.cfg.gateway_url,
            "shard": shard,
            "application": {"id": self.cfg.application_id.to_string(), "flags": 0},
            "auth": {},
            "_trace": ["[\"fake-discord-gateway\",{\"micros\":0}]"],
        });
        self.send_session(&session_id, "READY", ready);
        for g in guilds {
            let payload = match self.guilds.get(&g) {
                Some(guild) => self.guild_create_json(guild),
                None => continue,
            };
            if intents & INTENT_GUILDS != 0 {
                self.send_session(&session_id, "GUILD_CREATE", payload);
            }
        }
        session_id
    }

    fn send_session(&mut self, session_id: &str, t: &str, d: Value) {
        if let Some(s) = self.sessions.get_mut(session_id) {
            s.seq += 1;
            let text = json!({"op": 0, "t": t, "s": s.seq, "d": d}).to_string();
            s.events.push((s.seq, text.clone()));
            if let Some((_, tx)) = &s.conn {
                let _ = tx.send(Outgoing::Text(text));
            }
        }
    }

    /// RESUME: replays what the session missed after `seq`, then RESUMED.
    pub fn resume(
        &mut self,
        conn: u64,
        tx: UnboundedSender<Outgoing>,
        session_id: &str,
        seq: u64,
    ) -> Option<[u64; 2]> {
        let s = self.sessions.get_mut(session_id)?;
        if seq > s.seq {
            return None;
        }
        if let Some((old, old_tx)) = s.conn.take() {
            if old != conn {
                let _ = old_tx.send(Outgoing::Close(4009, "Session timed out".into()));
            }
        }
        for (n, text) in &s.events {
            if *n > seq {
                let _ = tx.send(Outgoing::Text(text.clone()));
            }
        }
        s.conn = Some((conn, tx));
        let shard = s.shard;
        self.send_session(session_id, "RESUMED", Value::Null);
        Some(shard)
    }

    pub fn sessions_info(&self) -> Vec<SessionInfo> {
        let mut v: Vec<SessionInfo> = self
            .sessions
            .iter()
            .map(|(id, s)| SessionInfo {
                session_id: id.clone(),
                shard: s.shard,
                seq: s.seq,
                connected: s.conn.is_some(),
                connection: s.conn.as_ref().map(|(c, _)| *c),
                intents: s.intents,
            })
            .collect();
        v.sort_by(|a, b| a.shard.cmp(&b.shard).then(a.session_id.cmp(&b.session_id)));
        v
    }

    pub fn invalidate_sessions(&mut self) -> usize {
        let n = self.sessions.len();
        for s in self.sessions.values() {
            if let Some((_, tx)) = &s.conn {
                let _ = tx.send(Outgoing::Text(
                    json!({"op": 9, "s": null, "t": null, "d": false}).to_string(),
                ));
            }
        }
        let ended: Vec<String> = self.sessions.drain().map(|(id, _)| id).collect();
        for id in &ended {
            self.session_ended(id);
        }
        n
    }

    /// The most gateway commands `by` sent within any `window` (a record at time t
    /// counts those in `(t - window, t]`, the rule the 4008 limit uses), over what
    /// `gateway_sent` still holds.
    pub fn max_sent_in_any_window(&self, by: &SentBy, window: Duration) -> usize {
        let window_us = window.as_micros().min(u64::MAX as u128) as u64;
        let max_in = |times: &[u64]| {
            let (mut best, mut start) = (0, 0);
            for (i, t) in times.iter().enumerate() {
                while start <= i && t.saturating_sub(times[start]) >= window_us {
                    start += 1;
                }
                best = best.max(i + 1 - start);
            }
            best
        };
        let mut per: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for r in &self.gateway_sent {
            let (key, hit) = match by {
                SentBy::AnyConnection => (r.connection, true),
                SentBy::Connection(c) => (0, r.connection == *c),
                SentBy::Session(s) => (0, r.session.as_deref() == Some(s.as_str())),
            };
            if hit {
                per.entry(key).or_default().push(r.received_at_us);
            }
        }
        per.values_mut()
            .map(|times| {
                times.sort_unstable();
                max_in(times)
            })
            .max()
            .unwrap_or(0)
    }

    /// op 8: GUILD_MEMBERS_CHUNK with the members matching `query` / `user_ids`.
    pub fn request_members(&mut self, session_id: &str, d: &Value) {
        let Some(guild) = d.get("guild_id").and_then(id::parse) else {
            return;
        };
        let Some(g) = self.guilds.get(&guild) else {
            return;
        };
        let query = d.get("query").and_then(Value::as_str).unwrap_or("");
        let limit = d.get("limit").and_then(Value::as_u64).unwrap_or(0);
        let ids: Option<Vec<u64>> = match d.get("user_ids") {
            Some(Value::Array(a)) => Some(a.iter().filter_map(id::parse).collect()),
            Some(v) => id::parse(v).map(|x| vec![x]),
            None => None,
        };
        let mut members: Vec<Value> = g
            .spec
            .members
            .iter()
            .filter(|m| match &ids {
                Some(ids) => ids.contains(&m.user_id),
                None => m.username.starts_with(query),
            })
            .map(|m| self.member_json(g, m, true))
            .collect();
        if limit > 0 {
            members.truncate(limit as usize);
        }
        let mut chunk = json!({
            "guild_id": guild.to_string(),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
        });
        if let (Some(n), Some(o)) = (d.get("nonce"), chunk.as_object_mut()) {
            o.insert("nonce".into(), n.clone());
        }
        self.send_session(session_id, "GUILD_MEMBERS_CHUNK", chunk);
    }

    /// Sends a raw payload to every connection; returns how many.
    pub fn broadcast(&mut self, out: impl Fn() -> Outgoing) -> usize {
        self.connections
            .values()
            .filter(|tx| tx.send(out()).is_ok())
            .count()
    }

    // ----- REST reads -----------------------------------------------------------------

    pub fn rest_guild(&self, guild: u64) -> Result<Value, ApiError> {
        let g = self
            .guilds
            .get(&guild)
            .ok_or_else(ApiError::unknown_guild)?;
        Ok(self.guild_json(g))
    }

    pub fn rest_guild_channels(&self, guild: u64) -> Result<Value, ApiError> {
        let g = self
            .guilds
            .get(&guild)
            .ok_or_else(ApiError::unknown_guild)?;
        Ok(Value::Array(
            (0..g.spec.channels.len())
                .map(|i| Self::channel_json(g, i, true))
                .collect(),
        ))
    }

    pub fn rest_guild_roles(&self, guild: u64) -> Result<Value, ApiError> {
        let g = self
            .guilds
            .get(&guild)
            .ok_or_else(ApiError::unknown_guild)?;
        Ok(Value::Array(
            g.spec
                .roles
                .iter()
                .enumerate()
                .map(|(i, r)| Self::role_json(r, i))
                .collect(),
        ))
    }

    pub fn rest_member(&self, guild: u64, user: u64) -> Result<Value, ApiError> {
        let g = self
            .guilds
            .get(&guild)
            .ok_or_else(ApiError::unknown_guild)?;
        let m = g
            .spec
            .members
            .iter()
            .find(|m| m.user_id == user)
            .ok_or_else(ApiError::unknown_member)?;
        Ok(self.member_json(g, m, true))
    }

    pub fn rest_channel(&self, channel: u64) -> Result<Value, ApiError> {
        let (g, i) = self
            .find_channel(channel)
            .ok_or_else(ApiError::unknown_channel)?;
        if Self::channel_permissions(g, channel, self.cfg.bot_user_id) & VIEW_CHANNEL == 0 {
            return Err(ApiError::missing_access());
        }
        Ok(Self::channel_json(g, i, true))
    }

    // ----- messages -------------------------------------------------------------------

    /// Checks a message body like Discord: something to show, content ≤ 2000 chars.
    fn check_message_body(body: &Value, allow_empty: bool) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::invalid_form(
                &[],
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used in a DictType",
            ));
        }
        let content = body.get("content").and_then(Value::as_str).unwrap_or("");
        if content.chars().count() > 2000 {
            return Err(ApiError::invalid_form(
                &["content"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2000 or fewer in length.",
            ));
        }
        let non_empty = |k: &str| {
            body.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        if !allow_empty
            && content.is_empty()
            && !non_empty("embeds")
            && !non_empty("components")
            && !non_empty("sticker_ids")
            && !non_empty("attachments")
            && body.get("poll").is_none()
        {
            return Err(ApiError::empty_message());
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn new_message(
        &mut self,
        channel: u64,
        guild: Option<u64>,
        body: &Value,
        kind: u8,
        webhook: bool,
        flags: u64,
        interaction: Option<&InteractionRecord>,
    ) -> Value {
        let id = self.snowflake();
        let author = self.bot_user_json();
        let mut m = json!({
            "id": id.to_string(),
            "channel_id": channel.to_string(),
            "author": author,
            "content": body.get("content").and_then(Value::as_str).unwrap_or(""),
            "timestamp": iso8601(unix_ms()),
            "edited_timestamp": null,
            "tts": body.get("tts").and_then(Value::as_bool).unwrap_or(false),
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds").cloned().unwrap_or_else(|| json!([])),
            "reactions": [],
            "pinned": false,
            "type": kind,
            "flags": flags,
            "components": body.get("components").cloned().unwrap_or_else(|| json!([])),
        });
        let user = interaction
            .and_then(|rec| self.interactions.get(&rec.id))
            .map(|i| i.user.clone())
            .unwrap_or(Value::Null);
        if let Some(o) = m.as_object_mut() {
            if let Some(g) = guild {
                o.insert("guild_id".into(), Value::String(g.to_string()));
            }
            if let Some(n) = body.get("nonce") {
                o.insert("nonce".into(), n.clone());
            }
            if let Some(r) = body.get("message_reference") {
                o.insert("message_reference".into(), r.clone());
            }
            if webhook {
                o.insert(
                    "webhook_id".into(),
                    Value::String(self.cfg.application_id.to_string()),
                );
                o.insert(
                    "application_id".into(),
                    Value::String(self.cfg.application_id.to_string()),
                );
            }
            if let Some(rec) = interaction {
                o.insert(
                    "interaction_metadata".into(),
                    json!({
                        "id": rec.id,
                        "type": rec.kind,
                        "user": user,
                        "authorizing_integration_owners": {"0": rec.guild_id},
                    }),
                );
            }
        }
        self.messages.insert(id, m.clone());
        if flags & EPHEMERAL == 0 {
            self.channel_messages.entry(channel).or_default().push(id);
        }
        m
    }

    /// Applies a PATCH body to a stored message and returns it.
    fn edit_message(&mut self, id: u64, body: &Value) -> Result<Value, ApiError> {
        let m = self
            .messages
            .get_mut(&id)
            .ok_or_else(ApiError::unknown_message)?;
        let Some(o) = m.as_object_mut() else {
            return Err(ApiError::unknown_message());
        };
        for key in ["content", "embeds", "components", "attachments"] {
            match body.get(key) {
                None => {}
                Some(Value::Null) => {
                    let empty = if key == "content" {
                        json!("")
                    } else {
                        json!([])
                    };
                    o.insert(key.into(), empty);
                }
                Some(v) => {
                    o.insert(key.into(), v.clone());
                }
            }
        }
        // A deferred response stops "thinking" once edited; other flags are kept, only
        // SUPPRESS_EMBEDS (4) can be changed on edit.
        let mut flags = o.get("flags").and_then(Value::as_u64).unwrap_or(0) & !LOADING;
        if let Some(f) = body.get("flags").and_then(Value::as_u64) {
            flags = (flags & !4) | (f & 4);
        }
        o.insert("flags".into(), json!(flags));
        o.insert("edited_timestamp".into(), json!(iso8601(unix_ms())));
        Ok(m.clone())
    }

    pub fn create_channel_message(
        &mut self,
        channel: u64,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let (g, _) = self
            .find_channel(channel)
            .ok_or_else(ApiError::unknown_channel)?;
        let perms = Self::channel_permissions(g, channel, self.cfg.bot_user_id);
        if perms & VIEW_CHANNEL == 0 {
            return Err(ApiError::missing_access());
        }
        if perms & SEND_MESSAGES == 0 {
            return Err(ApiError::missing_permissions());
        }
        let guild = g.spec.id;
        Self::check_message_body(body, false)?;
        let kind = if body.get("message_reference").is_some() {
            19
        } else {
            0
        };
        // Only SUPPRESS_EMBEDS (4) and SUPPRESS_NOTIFICATIONS (4096) may be set.
        let flags = body.get("flags").and_then(Value::as_u64).unwrap_or(0) & (4 | 4096);
        let m = self.new_message(channel, Some(guild), body, kind, false, flags, None);
        self.dispatch(
            Some(guild),
            "MESSAGE_CREATE",
            m.clone(),
            Some(INTENT_GUILD_MESSAGES),
        );
        Ok(m)
    }

    pub fn edit_channel_message(
        &mut self,
        channel: u64,
        message: u64,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let (g, _) = self
            .find_channel(channel)
            .ok_or_else(ApiError::unknown_channel)?;
        let guild = g.spec.id;
        let in_channel = self
            .messages
            .get(&message)
            .and_then(|m| m.get("channel_id"))
            .and_then(id::parse)
            == Some(channel);
        if !in_channel {
            return Err(ApiError::unknown_message());
        }
        Self::check_message_body(body, true)?;
        let m = self.edit_message(message, body)?;
        self.dispatch(
            Some(guild),
            "MESSAGE_UPDATE",
            m.clone(),
            Some(INTENT_GUILD_MESSAGES),
        );
        Ok(m)
    }

    pub fn channel_messages(&self, channel: u64) -> Vec<Value> {
        self.channel_messages
            .get(&channel)
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| self.messages.get(i).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn message(&self, id: u64) -> Option<Value> {
        self.messages.get(&id).cloned()
    }

    // ----- commands -------------------------------------------------------------------

    fn check_app(&self, app: u64) -> Result<(), ApiError> {
        if app == self.cfg.application_id {
            Ok(())
        } else {
            Err(ApiError::missing_access())
        }
    }

    /// Bulk overwrite: commands with a known name keep their id; a new version each time.
    pub fn overwrite_commands(
        &mut self,
        app: u64,
        guild: Option<u64>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        self.check_app(app)?;
        if let Some(g) = guild {
            if !self.guilds.contains_key(&g) {
                return Err(ApiError::missing_access());
            }
        }
        let Some(list) = body.as_array() else {
            return Err(ApiError::invalid_form(
                &[],
                "LIST_TYPE_CONVERT",
                "Only iterables may be used in a ListType",
            ));
        };
        if list.len() > 100 {
            return Err(ApiError::invalid_form(
                &[],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            ));
        }
        let old = match guild {
            Some(g) => self.guild_commands.get(&g).cloned().unwrap_or_default(),
            None => self.global_commands.clone(),
        };
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let idx = i.to_string();
            let kind = c.get("type").and_then(Value::as_u64).unwrap_or(1);
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            let name_ok = !name.is_empty()
                && name.chars().count() <= 32
                && (kind != 1
                    || name.chars().all(|ch| {
                        ch == '-' || ch == '_' || ch.is_alphanumeric() && !ch.is_uppercase()
                    }));
            if !name_ok {
                return Err(ApiError::invalid_form(
                    &[&idx, "name"],
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid",
                ));
            }
            let description = c.get("description").and_then(Value::as_str).unwrap_or("");
            if kind == 1 && (description.is_empty() || description.chars().count() > 100) {
                return Err(ApiError::invalid_form(
                    &[&idx, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                ));
            }
            if out.iter().any(|o: &Value| {
                o.get("name").and_then(Value::as_str) == Some(name)
                    && o.get("type").and_then(Value::as_u64) == Some(kind)
            }) {
                return Err(ApiError::invalid_form(
                    &[&idx, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                ));
            }
            let id = old
                .iter()
                .find(|o| {
                    o.get("name").and_then(Value::as_str) == Some(name)
                        && o.get("type").and_then(Value::as_u64) == Some(kind)
                })
                .and_then(|o| o.get("id").and_then(id::parse))
                .unwrap_or_else(|| self.snowflake());
            let version = self.snowflake();
            let mut cmd = json!({
                "id": id.to_string(),
                "application_id": app.to_string(),
                "version": version.to_string(),
                "default_member_permissions": c.get("default_member_permissions").cloned().unwrap_or(Value::Null),
                "type": kind,
                "name": name,
                "name_localizations": c.get("name_localizations").cloned().unwrap_or(Value::Null),
                "description": description,
                "description_localizations": c.get("description_localizations").cloned().unwrap_or(Value::Null),
                "dm_permission": c.get("dm_permission").cloned().unwrap_or(Value::Bool(true)),
                "nsfw": c.get("nsfw").cloned().unwrap_or(Value::Bool(false)),
            });
            if let Some(o) = cmd.as_object_mut() {
                if let Some(opts) = c.get("options").filter(|v| v.is_array()) {
                    o.insert("options".into(), opts.clone());
                }
                match guild {
                    Some(g) => {
                        o.insert("guild_id".into(), Value::String(g.to_string()));
                    }
                    None => {
                        o.insert(
                            "integration_types".into(),
                            c.get("integration_types").cloned().unwrap_or(json!([0])),
                        );
                        o.insert(
                            "contexts".into(),
                            c.get("contexts").cloned().unwrap_or(Value::Null),
                        );
                    }
                }
            }
            out.push(cmd);
        }
        match guild {
            Some(g) => {
                self.guild_commands.insert(g, out.clone());
            }
            None => self.global_commands = out.clone(),
        }
        Ok(Value::Array(out))
    }

    pub fn list_commands(&self, app: u64, guild: Option<u64>) -> Result<Value, ApiError> {
        self.check_app(app)?;
        Ok(Value::Array(match guild {
            Some(g) => {
                if !self.guilds.contains_key(&g) {
                    return Err(ApiError::missing_access());
                }
                self.guild_commands.get(&g).cloned().unwrap_or_default()
            }
            None => self.global_commands.clone(),
        }))
    }

    /// Creates (or replaces by name) one command.
    pub fn create_command(
        &mut self,
        app: u64,
        guild: Option<u64>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let mut list = match self.list_commands(app, guild)? {
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        let name = body.get("name").and_then(Value::as_str).unwrap_or("");
        list.retain(|c| c.get("name").and_then(Value::as_str) != Some(name));
        list.push(body.clone());
        let all = self.overwrite_commands(app, guild, &Value::Array(list))?;
        all.as_array()
            .and_then(|a| a.last().cloned())
            .ok_or_else(ApiError::not_found)
    }

    pub fn registered_commands(&self) -> Value {
        let guilds: Map<String, Value> = self
            .guild_commands
            .iter()
            .map(|(g, c)| (g.to_string(), Value::Array(c.clone())))
            .collect();
        json!({"global": self.global_commands, "guilds": guilds})
    }

    fn find_command(&self, guild: u64, name: &str, kind: u64) -> Option<Value> {
        let hit = |c: &&Value| {
            c.get("name").and_then(Value::as_str) == Some(name)
                && c.get("type").and_then(Value::as_u64) == Some(kind)
        };
        self.guild_commands
            .get(&guild)
            .and_then(|l| l.iter().find(hit))
            .or_else(|| self.global_commands.iter().find(hit))
            .cloned()
    }

    // ----- interactions ---------------------------------------------------------------

    /// Common part of every interaction payload; checks guild, channel and member.
    fn interaction_base(
        &mut self,
        guild: u64,
        channel: u64,
        user: u64,
        kind: u8,
    ) -> Result<(Value, String, String), ControlError> {
        let g = self.guild(guild)?;
        let ci = Self::channel_index(g, guild, channel)?;
        let m = g
            .spec
            .members
            .iter()
            .find(|m| m.user_id == user)
            .ok_or_else(|| ControlError(format!("user {user} is not a member of {guild}")))?;
        let member_perms = Self::channel_permissions(g, channel, user);
        let app_perms = Self::channel_permissions(g, channel, self.cfg.bot_user_id);
        let mut member = self.member_json(g, m, true);
        if let Some(o) = member.as_object_mut() {
            o.insert("permissions".into(), json!(member_perms.to_string()));
        }
        let mut channel_v = Self::channel_json(g, ci, true);
        if let Some(o) = channel_v.as_object_mut() {
            o.insert("permissions".into(), json!(member_perms.to_string()));
        }
        let id = self.snowflake().to_string();
        let token = format!("aW50ZXJhY3Rpb246{}:{}", id, random_token(64));
        let v = json!({
            "id": id,
            "application_id": self.cfg.application_id.to_string(),
            "type": kind,
            "guild_id": guild.to_string(),
            "guild": {"id": guild.to_string(), "locale": "en-US", "features": []},
            "channel_id": channel.to_string(),
            "channel": channel_v,
            "member": member,
            "token": token,
            "version": 1,
            "app_permissions": app_perms.to_string(),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": guild.to_string()},
            "context": 0,
            "attachment_size_limit": 10_485_760,
        });
        Ok((v, id, token))
    }

    /// Options as Discord sends them: an array passes through; an object
    /// `{"name": value}` becomes typed options (string 3, integer 4, boolean 5, number 10).
    /// Discord's option array from either that array or the shorthand `{"name": value}`; the
    /// shorthand takes each option's type from the registered command (`cmd`), as Discord would.
    fn normalise_options(options: &Value, focus_first: bool, cmd: &Value) -> Value {
        let registered_type = |name: &str| {
            cmd.get("options")
                .and_then(Value::as_array)
                .and_then(|opts| opts.iter().find(|o| o["name"] == name))
                .and_then(|o| o.get("type"))
                .and_then(Value::as_u64)
        };
        let mut list: Vec<Value> = match options {
            Value::Array(a) => a.clone(),
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| {
                    let kind = registered_type(k).unwrap_or(match v {
                        Value::Bool(_) => 5,
                        Value::Number(n) if n.is_i64() || n.is_u64() => 4,
                        Value::Number(_) => 10,
                        _ => 3,
                    });
                    json!({"name": k, "type": kind, "value": v})
                })
                .collect(),
            _ => Vec::new(),
        };
        if focus_first
            && !list
                .iter()
                .any(|o| o.get("focused").and_then(Value::as_bool) == Some(true))
        {
            if let Some(o) = list.first_mut().and_then(Value::as_object_mut) {
                o.insert("focused".into(), Value::Bool(true));
            }
        }
        Value::Array(list)
    }

    /// `data.resolved` for user (6), channel (7), role (8) and mentionable (9) options.
    fn resolved(&self, guild: u64, options: &Value) -> Option<Value> {
        let g = self.guilds.get(&guild)?;
        let mut users = Map::new();
        let mut members = Map::new();
        let mut channels = Map::new();
        let mut roles = Map::new();
        let mut stack: Vec<&Value> = options.as_array()?.iter().collect();
        while let Some(o) = stack.pop() {
            if let Some(sub) = o.get("options").and_then(Value::as_array) {
                stack.extend(sub.iter());
            }
            let kind = o.get("type").and_then(Value::as_u64).unwrap_or(0);
            let Some(v) = o.get("value").and_then(id::parse) else {
                continue;
            };
            if kind == 6 || kind == 9 {
                if let Some(m) = g.spec.members.iter().find(|m| m.user_id == v) {
                    users.insert(v.to_string(), self.user_json(m.user_id, &m.username));
                    let mut mv = self.member_json(g, m, false);
                    if let Some(mo) = mv.as_object_mut() {
                        mo.insert(
                            "permissions".into(),
                            json!(Self::base_permissions(g, v).to_string()),
                        );
                    }
                    members.insert(v.to_string(), mv);
                }
            }
            if kind == 7 {
                if let Some(i) = g.spec.channels.iter().position(|c| c.id == v) {
                    let mut cv = Self::channel_json(g, i, true);
                    if let Some(co) = cv.as_object_mut() {
                        co.insert(
                            "permissions".into(),
                            json!(Self::channel_permissions(g, v, self.cfg.bot_user_id)
                                .to_string()),
                        );
                    }
                    channels.insert(v.to_string(), cv);
                }
            }
            if kind == 8 || kind == 9 {
                if let Some((i, r)) = g.spec.roles.iter().enumerate().find(|(_, r)| r.id == v) {
                    roles.insert(v.to_string(), Self::role_json(r, i));
                }
            }
        }
        let mut out = Map::new();
        for (k, m) in [
            ("users", users),
            ("members", members),
            ("channels", channels),
            ("roles", roles),
        ] {
            if !m.is_empty() {
                out.insert(k.into(), Value::Object(m));
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    #[allow(clippy::too_many_arguments)]
    fn record_interaction(
        &mut self,
        payload: Value,
        id: String,
        token: String,
        kind: u8,
        guild: u64,
        channel: u64,
        component_message: Option<u64>,
    ) {
        let user = payload
            .get("member")
            .and_then(|m| m.get("user"))
            .or_else(|| payload.get("user"))
            .cloned()
            .unwrap_or(Value::Null);
        self.interactions.insert(
            id.clone(),
            Interaction {
                rec: InteractionRecord {
                    id,
                    token,
                    kind,
                    guild_id: guild.to_string(),
                    channel_id: channel.to_string(),
                    callback: None,
                    original: None,
                    followups: Vec::new(),
                    log: Vec::new(),
                },
                user,
                acked: false,
                original: None,
                followups: Vec::new(),
                component_message,
            },
        );
        let target = (guild != 0).then_some(guild);
        self.dispatch(target, "INTERACTION_CREATE", payload, None);
    }

    /// INTERACTION_CREATE for a global chat input command used in a DM with the bot (no guild:
    /// `user` instead of `member`, a DM channel, context 1).
    pub fn inject_dm_command(
        &mut self,
        user: u64,
        name: &str,
        options: &Value,
    ) -> Result<(String, String), ControlError> {
        let hit = |c: &&Value| {
            c.get("name").and_then(Value::as_str) == Some(name)
                && c.get("type").and_then(Value::as_u64) == Some(1)
        };
        let cmd = self
            .global_commands
            .iter()
            .find(hit)
            .cloned()
            .ok_or_else(|| ControlError(format!("no global command named {name:?}")))?;
        let username = self
            .guilds
            .values()
            .flat_map(|g| g.spec.members.iter())
            .find(|m| m.user_id == user)
            .map(|m| m.username.clone())
            .unwrap_or_else(|| format!("user{user}"));
        let user_v = self.user_json(user, &username);
        let channel = self.snowflake();
        let id = self.snowflake().to_string();
        let token = format!("aW50ZXJhY3Rpb246{}:{}", id, random_token(64));
        let payload = json!({
            "id": id,
            "application_id": self.cfg.application_id.to_string(),
            "type": 2,
            "channel_id": channel.to_string(),
            "channel": {"id": channel.to_string(), "type": 1, "recipients": [user_v.clone()]},
            "user": user_v,
            "token": token,
            "version": 1,
            "app_permissions": "0",
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": "0"},
            "context": 1,
            "attachment_size_limit": 10_485_760,
            "data": {
                "id": cmd.get("id").cloned().unwrap_or(Value::Null),
                "name": name,
                "type": 1,
                "options": Self::normalise_options(options, false, &cmd),
            },
        });
        self.record_interaction(payload, id.clone(), token.clone(), 2, 0, channel, None);
        Ok((id, token))
    }

    pub fn inject_command(
        &mut self,
        guild: u64,
        channel: u64,
        user: u64,
        name: &str,
        options: &Value,
        autocomplete: bool,
    ) -> Result<(String, String), ControlError> {
        let cmd = self.find_command(guild, name, 1).ok_or_else(|| {
            ControlError(format!(
                "no chat input command named {name:?} is registered (globally or in {guild})"
            ))
        })?;
        let kind = if autocomplete { 4 } else { 2 };
        let (mut payload, id, token) = self.interaction_base(guild, channel, user, kind)?;
        let options = Self::normalise_options(options, autocomplete, &cmd);
        let mut data = json!({
            "id": cmd.get("id").cloned().unwrap_or(Value::Null),
            "name": name,
            "type": 1,
            "options": options,
        });
        if let Some(o) = data.as_object_mut() {
            if let Some(g) = cmd.get("guild_id") {
                o.insert("guild_id".into(), g.clone());
            }
            if !autocomplete {
                if let Some(r) = self.resolved(guild, &options) {
                    o.insert("resolved".into(), r);
                }
            }
        }
        if let Some(o) = payload.as_object_mut() {
            o.insert("data".into(), data);
        }
        self.record_interaction(
            payload,
            id.clone(),
            token.clone(),
            kind,
            guild,
            channel,
            None,
        );
        Ok((id, token))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn inject_component(
        &mut self,
        guild: u64,
        channel: u64,
        user: u64,
        message: u64,
        custom_id: &str,
        component_type: u64,
        values: Option<Value>,
    ) -> Result<(String, String), ControlError> {
        let msg = self
            .messages
            .get(&message)
            .cloned()
            .ok_or_else(|| ControlError(format!("unknown message {message}")))?;
        let (mut payload, id, token) = self.interaction_base(guild, channel, user, 3)?;
        let mut data = json!({"custom_id": custom_id, "component_type": component_type});
        if let (Some(v), Some(o)) = (values, data.as_object_mut()) {
            o.insert("values".into(), v);
        }
        if let Some(o) = payload.as_object_mut() {
            o.insert("data".into(), data);
            o.insert("message".into(), msg);
        }
        self.record_interaction(
            payload,
            id.clone(),
            token.clone(),
            3,
            guild,
            channel,
            Some(message),
        );
        Ok((id, token))
    }

    pub fn interaction(&self, id: &str) -> Option<InteractionRecord> {
        let i = self.interactions.get(id)?;
        let mut rec = i.rec.clone();
        rec.original = i
            .original
            .or(if i.acked { i.component_message } else { None })
            .and_then(|m| self.messages.get(&m).cloned());
        rec.followups = i
            .followups
            .iter()
            .filter_map(|m| self.messages.get(m).cloned())
            .collect();
        Some(rec)
    }

    pub fn interactions(&self) -> Vec<InteractionRecord> {
        self.interactions
            .keys()
            .filter_map(|k| self.interaction(k))
            .collect()
    }

    fn log(&mut self, id: &str, action: &str, body: &Value) {
        if let Some(i) = self.interactions.get_mut(id) {
            i.rec.log.push(json!({"action": action, "body": body}));
        }
    }

    /// POST /interactions/{id}/{token}/callback
    /// Returns the interaction callback response object (`?with_response=true`).
    pub fn callback(&mut self, id: &str, token: &str, body: &Value) -> Result<Value, ApiError> {
        let Some(i) = self.interactions.get(id) else {
            return Err(ApiError::unknown_interaction());
        };
        if i.rec.token != token {
            return Err(ApiError::unknown_interaction());
        }
        if i.acked {
            return Err(ApiError::already_acknowledged());
        }
        let kind = i.rec.kind;
        let rtype = body.get("type").and_then(Value::as_u64).unwrap_or(0);
        let allowed: &[u64] = match kind {
            2 => &[4, 5, 9],
            3 => &[4, 5, 6, 7, 9],
            4 => &[8],
            _ => &[1],
        };
        if !allowed.contains(&rtype) {
            return Err(ApiError::invalid_form(
                &["type"],
                "INTERACTION_CALLBACK_TYPE_INVALID",
                "Interaction callback type is not valid for this interaction.",
            ));
        }
        let empty = json!({});
        let data = body.get("data").unwrap_or(&empty);
        if rtype == 4 {
            Self::check_message_body(data, false)?;
        }
        if rtype == 7 {
            Self::check_message_body(data, true)?;
        }
        let rec = i.rec.clone();
        let component_message = i.component_message;
        let guild = rec.guild_id.parse::<u64>().ok();
        let channel = rec.channel_id.parse::<u64>().unwrap_or(0);
        let flags = data.get("flags").and_then(Value::as_u64).unwrap_or(0) & (EPHEMERAL | 4 | 4096);
        let msg_kind = if kind == 2 { 20 } else { 19 };
        let original = match rtype {
            4 => Some(
                self.new_message(channel, guild, data, msg_kind, true, flags, Some(&rec))
                    .get("id")
                    .and_then(id::parse)
                    .unwrap_or(0),
            ),
            5 => Some(
                self.new_message(
                    channel,
                    guild,
                    &json!({}),
                    msg_kind,
                    true,
                    flags | LOADING,
                    Some(&rec),
                )
                .get("id")
                .and_then(id::parse)
                .unwrap_or(0),
            ),
            7 => {
                if let Some(m) = component_message {
                    let edited = self.edit_message(m, data)?;
                    if let Some(g) = guild {
                        self.dispatch(
                            Some(g),
                            "MESSAGE_UPDATE",
                            edited,
                            Some(INTENT_GUILD_MESSAGES),
                        );
                    }
                }
                None
            }
            _ => None,
        };
        if let Some(i) = self.interactions.get_mut(id) {
            i.acked = true;
            i.original = original;
            i.rec.callback = Some(body.clone());
        }
        self.log(id, "callback", body);
        if let (Some(m), Some(g)) = (original, guild) {
            if flags & EPHEMERAL == 0 {
                if let Some(v) = self.messages.get(&m).cloned() {
                    self.dispatch(Some(g), "MESSAGE_CREATE", v, Some(INTENT_GUILD_MESSAGES));
                }
            }
        }
        let message_id = original.or(if rtype == 6 || rtype == 7 {
            component_message
        } else {
            None
        });
        let message = message_id.and_then(|m| self.messages.get(&m).cloned());
        let mut interaction = json!({"id": id, "type": kind, "activity_instance_id": null});
        if let (Some(m), Some(o)) = (&message, interaction.as_object_mut()) {
            let mflags = m.get("flags").and_then(Value::as_u64).unwrap_or(0);
            o.insert(
                "response_message_id".into(),
                m.get("id").cloned().unwrap_or(Value::Null),
            );
            o.insert(
                "response_message_loading".into(),
                json!(mflags & LOADING != 0),
            );
            o.insert(
                "response_message_ephemeral".into(),
                json!(mflags & EPHEMERAL != 0),
            );
        }
        let mut resource = json!({"type": rtype});
        if let (Some(m), Some(o)) = (message, resource.as_object_mut()) {
            o.insert("message".into(), m);
        }
        Ok(json!({"interaction": interaction, "resource": resource}))
    }

    fn by_token(&self, app: u64, token: &str) -> Result<String, ApiError> {
        if app != self.cfg.application_id {
            return Err(ApiError::unknown_webhook());
        }
        self.interactions
            .values()
            .find(|i| i.rec.token == token)
            .map(|i| i.rec.id.clone())
            .ok_or_else(ApiError::invalid_webhook_token)
    }

    fn original_id(&self, id: &str) -> Option<u64> {
        let i = self.interactions.get(id)?;
        if !i.acked {
            return None;
        }
        i.original.or(i.component_message)
    }

    pub fn get_original(&mut self, app: u64, token: &str) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        self.log(&id, "get_original", &Value::Null);
        let m = self
            .original_id(&id)
            .ok_or_else(ApiError::unknown_message)?;
        self.messages
            .get(&m)
            .cloned()
            .ok_or_else(ApiError::unknown_message)
    }

    pub fn edit_original(
        &mut self,
        app: u64,
        token: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        self.log(&id, "edit_original", body);
        Self::check_message_body(body, true)?;
        let m = self
            .original_id(&id)
            .ok_or_else(ApiError::unknown_message)?;
        let v = self.edit_message(m, body)?;
        self.message_updated(&v);
        Ok(v)
    }

    fn message_updated(&mut self, v: &Value) {
        let ephemeral = v.get("flags").and_then(Value::as_u64).unwrap_or(0) & EPHEMERAL != 0;
        if let (false, Some(g)) = (ephemeral, v.get("guild_id").and_then(id::parse)) {
            self.dispatch(
                Some(g),
                "MESSAGE_UPDATE",
                v.clone(),
                Some(INTENT_GUILD_MESSAGES),
            );
        }
    }

    pub fn delete_original(&mut self, app: u64, token: &str) -> Result<(), ApiError> {
        let id = self.by_token(app, token)?;
        self.log(&id, "delete_original", &Value::Null);
        let m = self
            .original_id(&id)
            .ok_or_else(ApiError::unknown_message)?;
        self.delete_message(m);
        if let Some(i) = self.interactions.get_mut(&id) {
            if i.original == Some(m) {
                i.original = None;
            } else {
                i.component_message = None;
            }
        }
        Ok(())
    }

    fn delete_message(&mut self, m: u64) {
        if let Some(v) = self.messages.remove(&m) {
            let channel = v.get("channel_id").and_then(id::parse).unwrap_or(0);
            if let Some(list) = self.channel_messages.get_mut(&channel) {
                list.retain(|x| *x != m);
            }
            if let Some(g) = v.get("guild_id").and_then(id::parse) {
                self.dispatch(
                    Some(g),
                    "MESSAGE_DELETE",
                    json!({"id": m.to_string(), "channel_id": channel.to_string(), "guild_id": g.to_string()}),
                    Some(INTENT_GUILD_MESSAGES),
                );
            }
        }
    }

    pub fn followup(&mut self, app: u64, token: &str, body: &Value) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        self.log(&id, "followup", body);
        let Some(i) = self.interactions.get(&id) else {
            return Err(ApiError::unknown_webhook());
        };
        if !i.acked {
            return Err(ApiError::unknown_webhook());
        }
        Self::check_message_body(body, false)?;
        let rec = i.rec.clone();
        let kind = rec.kind;
        let guild = rec.guild_id.parse::<u64>().ok();
        let channel = rec.channel_id.parse::<u64>().unwrap_or(0);
        // A deferred response's first follow-up edits the "thinking" message.
        if let Some(orig) = i.original {
            let loading = self
                .messages
                .get(&orig)
                .and_then(|m| m.get("flags"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
                & LOADING
                != 0;
            if loading {
                let v = self.edit_message(orig, body)?;
                self.message_updated(&v);
                return Ok(v);
            }
        }
        let flags = body.get("flags").and_then(Value::as_u64).unwrap_or(0) & (EPHEMERAL | 4 | 4096);
        let msg_kind = if kind == 2 { 20 } else { 19 };
        let v = self.new_message(channel, guild, body, msg_kind, true, flags, Some(&rec));
        let mid = v.get("id").and_then(id::parse).unwrap_or(0);
        if let Some(i) = self.interactions.get_mut(&id) {
            i.followups.push(mid);
        }
        if let (Some(g), true) = (guild, flags & EPHEMERAL == 0) {
            self.dispatch(
                Some(g),
                "MESSAGE_CREATE",
                v.clone(),
                Some(INTENT_GUILD_MESSAGES),
            );
        }
        Ok(v)
    }

    fn webhook_message(&self, id: &str, message: u64) -> Result<u64, ApiError> {
        let i = self
            .interactions
            .get(id)
            .ok_or_else(ApiError::unknown_webhook)?;
        if self.original_id(id) == Some(message) || i.followups.contains(&message) {
            Ok(message)
        } else {
            Err(ApiError::unknown_message())
        }
    }

    pub fn get_followup(&mut self, app: u64, token: &str, message: u64) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        let m = self.webhook_message(&id, message)?;
        self.messages
            .get(&m)
            .cloned()
            .ok_or_else(ApiError::unknown_message)
    }

    pub fn edit_followup(
        &mut self,
        app: u64,
        token: &str,
        message: u64,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        self.log(
            &id,
            "edit_followup",
            &json!({"message_id": message.to_string(), "body": body}),
        );
        Self::check_message_body(body, true)?;
        let m = self.webhook_message(&id, message)?;
        let v = self.edit_message(m, body)?;
        self.message_updated(&v);
        Ok(v)
    }

    pub fn delete_followup(&mut self, app: u64, token: &str, message: u64) -> Result<(), ApiError> {
        let id = self.by_token(app, token)?;
        self.log(
            &id,
            "delete_followup",
            &json!({"message_id": message.to_string()}),
        );
        let m = self.webhook_message(&id, message)?;
        self.delete_message(m);
        if let Some(i) = self.interactions.get_mut(&id) {
            i.followups.retain(|x| *x != m);
        }
        Ok(())
    }
}
