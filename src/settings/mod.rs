//! Typed settings.
//!
//! Sources, lowest precedence first: built-in defaults, `config/default.toml`, `config/local.toml`,
//! then environment variables (a `.env` file is read into the environment first by the binary).
//! TOML keys are the lower-case names of the environment variables (`autosave_interval = "10s"`).
//! Every problem is reported as one line naming the variable, what was given (never a secret's
//! value) and what is expected.
//!
//! Each concern has its own file: `raw` (the merged raw values), `reader` (reading one of them),
//! `parse` (value parsers) and `from_raw` (the rules, group by group); this one holds the typed
//! settings, the list of keys and `load_from`.

mod from_raw;
mod parse;
mod raw;
mod reader;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

pub use parse::{parse_bool, parse_duration};
pub use raw::RawSettings;
pub use reader::redact_userinfo;

/// Where a raw value came from, so an error can point the operator at the right place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "the built-in default"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env => write!(f, "the environment"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{var} is not set: expected {expected}")]
    Missing { var: &'static str, expected: String },
    #[error("{var} is invalid (from {origin}): got {given}, expected {expected}")]
    Invalid {
        var: &'static str,
        origin: String,
        given: String,
        expected: String,
    },
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error("unknown setting `{key}` in {path}: see .env.example for the list of settings")]
    UnknownKey { key: String, path: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Sqlite,
    Mongodb,
    Memory,
}

impl StorageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageKind::Sqlite => "sqlite",
            StorageKind::Mongodb => "mongodb",
            StorageKind::Memory => "memory",
        }
    }
}

/// The shards this process runs (`SHARD_COUNT` + `SHARD_IDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardPlan {
    /// Every shard, as many as Discord recommends (`SHARD_COUNT` unset).
    Auto,
    /// Shards `first..=last` of `count`.
    Range { first: u32, last: u32, count: u32 },
}

impl ShardPlan {
    /// The ids this process runs, given the total (needed for [`ShardPlan::Auto`]).
    pub fn ids(&self, total: u32) -> std::ops::RangeInclusive<u32> {
        match *self {
            ShardPlan::Auto => 0..=total.max(1) - 1,
            ShardPlan::Range { first, last, .. } => first..=last,
        }
    }

    /// Whether this process runs `shard` (with [`ShardPlan::Auto`]: every shard).
    pub fn runs(&self, shard: u32) -> bool {
        match *self {
            ShardPlan::Auto => true,
            ShardPlan::Range { first, last, .. } => (first..=last).contains(&shard),
        }
    }

    /// Whether this process runs only part of the bot's shards.
    pub fn is_partial(&self) -> bool {
        match *self {
            ShardPlan::Auto => false,
            ShardPlan::Range { first, last, count } => first > 0 || last + 1 < count,
        }
    }
}

impl fmt::Display for ShardPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ShardPlan::Auto => write!(f, "all shards (as many as Discord recommends)"),
            ShardPlan::Range { first, last, count } if first == last => {
                write!(f, "shard {first} of {count}")
            }
            ShardPlan::Range { first, last, count } => {
                write!(f, "shards {first}-{last} of {count}")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// One Lavalink node. The password is a secret and is never printed.
#[derive(Debug, Clone)]
pub struct LavalinkNode {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub password: Option<SecretString>,
}

impl LavalinkNode {
    /// `http://host:port` or `https://host:port`, for REST calls.
    pub fn http_base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteSettings {
    pub path: PathBuf,
    pub backup_dir: PathBuf,
    /// `None` disables the periodic backups (the start-up backup still runs).
    pub backup_interval: Option<Duration>,
    pub max_backups: usize,
}

#[derive(Debug, Clone)]
pub struct MongoSettings {
    pub uri: Option<SecretString>,
    pub database: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub discord_token: Option<SecretString>,
    pub discord_api_base: Option<String>,
    pub lavalink_nodes: Vec<LavalinkNode>,
    pub lavalink_resume_timeout: Duration,
    /// Lavalink search prefix for plain-text queries (`ytsearch`, `scsearch`, …).
    pub search_prefix: String,
    /// Leave a voice channel that has had no listeners this long (unless 24/7 is on).
    pub idle_timeout: Duration,
    /// "Connected but silent": a playing player whose position has not moved this long gets its
    /// voice healed.
    pub voice_silence_timeout: Duration,
    /// How long a `/search` menu can be picked from before it closes.
    pub search_menu_timeout: Duration,
    /// Each user may run this many commands per `rate_limit_window`.
    pub rate_limit_commands: usize,
    pub rate_limit_window: Duration,
    pub storage: StorageKind,
    pub sqlite: SqliteSettings,
    pub mongodb: MongoSettings,
    pub autosave_interval: Duration,
    pub music_auto_resume: bool,
    pub resume_max_age: Duration,
    /// A graceful stop (SIGTERM/SIGINT) exits within this, whatever is still pending.
    pub shutdown_timeout: Duration,
    /// How long an instance's lease lasts without renewal: a crashed instance is replaced after
    /// this; a graceful stop or a hand-over is immediate.
    pub lease_ttl: Duration,
    pub queue_max_length: usize,
    pub history_max_length: usize,
    pub log_format: LogFormat,
    pub log_level: String,
    /// The shards this process runs and restores.
    pub shards: ShardPlan,
    /// Port of the HTTP listener for `/healthz`, `/readyz` and `/metrics` (off when unset).
    pub health_port: Option<u16>,
}

/// Every setting with its default (`None`: no default) and whether it is a secret.
/// This table is the single list that `.env.example`, `config/default.toml` and the README follow.
pub const KEYS: &[(&str, Option<&str>, bool)] = &[
    ("DISCORD_TOKEN", None, true),
    ("DISCORD_API_BASE", None, false),
    ("LAVALINK_NODES", Some("127.0.0.1:2333"), false),
    ("LAVALINK_PASSWORD", None, true),
    ("LAVALINK_RESUME_TIMEOUT", Some("60s"), false),
    ("SEARCH_PREFIX", Some("ytsearch"), false),
    ("IDLE_TIMEOUT", Some("5m"), false),
    ("VOICE_SILENCE_TIMEOUT", Some("10s"), false),
    ("SEARCH_MENU_TIMEOUT", Some("60s"), false),
    ("RATE_LIMIT_COMMANDS", Some("5"), false),
    ("RATE_LIMIT_WINDOW", Some("10s"), false),
    ("STORAGE", None, false),
    ("SQLITE_PATH", Some("data/encore.db"), false),
    ("BACKUP_DIR", None, false),
    ("BACKUP_INTERVAL", Some("6h"), false),
    ("MAX_BACKUPS", Some("5"), false),
    ("MONGODB_URI", None, true),
    ("MONGODB_DATABASE", Some("encore"), false),
    ("AUTOSAVE_INTERVAL", Some("10s"), false),
    ("MUSIC_AUTO_RESUME", Some("true"), false),
    ("RESUME_MAX_AGE", Some("1h"), false),
    ("SHUTDOWN_TIMEOUT", Some("20s"), false),
    ("LEASE_TTL", Some("3s"), false),
    ("QUEUE_MAX_LENGTH", Some("1000"), false),
    ("HISTORY_MAX_LENGTH", Some("50"), false),
    ("LOG_FORMAT", Some("pretty"), false),
    ("LOG_LEVEL", Some("info"), false),
    ("SHARD_COUNT", Some("auto"), false),
    ("SHARD_IDS", None, false),
    ("HEALTH_PORT", None, false),
];

/// Extra per-node passwords: `LAVALINK_PASSWORD_2` is the password of the second node in
/// `LAVALINK_NODES`, and so on; a node without its own uses `LAVALINK_PASSWORD`.
const NODE_PASSWORD_PREFIX: &str = "LAVALINK_PASSWORD_";

fn is_secret(var: &str) -> bool {
    var.starts_with(NODE_PASSWORD_PREFIX) || KEYS.iter().any(|(k, _, s)| *k == var && *s)
}

/// Reads the two config files (when present) and the process environment.
pub fn load_from(config_dir: &Path) -> Result<Settings, SettingsError> {
    let mut raw = RawSettings::default();
    for name in ["default.toml", "local.toml"] {
        let path = config_dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => raw.layer_toml(&text, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SettingsError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
            }
        }
    }
    raw.layer_env(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    );
    Settings::from_raw(&raw)
}

impl Settings {
    /// What running the bot needs on top of a valid configuration: the Discord token and a
    /// password for every Lavalink node.
    pub fn require_bot_credentials(&self) -> Result<(), SettingsError> {
        if self.discord_token.is_none() {
            return Err(SettingsError::Missing {
                var: "DISCORD_TOKEN",
                expected: "the bot token from the Discord developer portal (required to run the bot; put it in .env)".into(),
            });
        }
        if let Some((i, _)) = self
            .lavalink_nodes
            .iter()
            .enumerate()
            .find(|(_, n)| n.password.is_none())
        {
            return Err(SettingsError::Missing {
                var: "LAVALINK_PASSWORD",
                expected: format!(
                    "the password of Lavalink node {} (its `lavalink.server.password`)",
                    i + 1
                ),
            });
        }
        Ok(())
    }
}
