//! The fake's model: guilds, gateway sessions, interactions, messages and commands.

mod commands;
mod gateway;
mod guilds;
mod interactions;
mod json;
mod messages;
mod permissions;
mod responses;
mod rest;
mod voice_servers;

use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::types::{
    GatewaySent, GuildSpec, InteractionRecord, RecordedRequest, VoiceServerMode, VoiceServerSent,
};

pub(crate) use voice_servers::{schedule_voice_server, PendingVoiceServer};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

pub const ADMINISTRATOR: u64 = 1 << 3;
pub const VIEW_CHANNEL: u64 = 1 << 10;
pub const SEND_MESSAGES: u64 = 1 << 11;
pub const EMBED_LINKS: u64 = 1 << 14;
pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
pub const CONNECT: u64 = 1 << 20;
pub const SPEAK: u64 = 1 << 21;
/// MOVE_MEMBERS (`1 << 24`, Discord's permissions table): move members between voice
/// channels; a member with it may also join a voice channel that is full (`user_limit`).
pub const MOVE_MEMBERS: u64 = 1 << 24;
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

pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
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
    /// Per guild: how the bot's next joins get their voice server (absent = immediate).
    voice_server_modes: BTreeMap<u64, VoiceServerMode>,
    /// Per guild: every VOICE_SERVER_UPDATE dispatched, in order.
    voice_servers: BTreeMap<u64, Vec<VoiceServerSent>>,
    /// Per guild: bumped by every voice server allocation (join, move, reallocation), so a
    /// delayed VOICE_SERVER_UPDATE of an older allocation is dropped.
    voice_server_generation: BTreeMap<u64, u64>,
    /// The runtime the fake was started on, for delayed dispatches.
    runtime: Option<tokio::runtime::Handle>,
    /// The most guilds one gateway session may hold before IDENTIFY is closed with 4011
    /// "Sharding required" (Discord: 2,500 guilds per shard).
    pub max_guilds_per_shard: usize,
    /// Per channel: how long its next message creates take, and how many more are slow.
    slow_messages: HashMap<u64, (std::time::Duration, usize)>,
}

/// Discord's limit of guilds per shard ("Sharding": each shard can only support a maximum of
/// 2500 guilds).
pub const MAX_GUILDS_PER_SHARD: usize = 2500;

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
            max_guilds_per_shard: MAX_GUILDS_PER_SHARD,
            voice_server_modes: BTreeMap::new(),
            voice_servers: BTreeMap::new(),
            voice_server_generation: BTreeMap::new(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            slow_messages: HashMap::new(),
        }
    }

    /// The next `count` message creates in `channel` take `delay` (0 ends it).
    pub fn slow_messages(&mut self, channel: u64, delay: std::time::Duration, count: usize) {
        if count == 0 || delay.is_zero() {
            self.slow_messages.remove(&channel);
        } else {
            self.slow_messages.insert(channel, (delay, count));
        }
    }

    /// How long a message create in `channel` arriving now takes before Discord handles it (it
    /// uses up one slow message).
    pub fn take_message_delay(&mut self, channel: u64) -> Option<std::time::Duration> {
        let (delay, left) = self.slow_messages.get_mut(&channel)?;
        let delay = *delay;
        *left -= 1;
        if *left == 0 {
            self.slow_messages.remove(&channel);
        }
        Some(delay)
    }

    /// A fresh snowflake: timestamp since Discord's epoch, strictly increasing.
    pub fn snowflake(&mut self) -> u64 {
        let now = unix_ms().saturating_sub(DISCORD_EPOCH_MS) << 22;
        let next = now.max(self.last_snowflake + 1);
        self.last_snowflake = next;
        next
    }
}
