//! Typed settings.
//!
//! Sources, lowest precedence first: built-in defaults, `config/default.toml`, `config/local.toml`,
//! then environment variables (a `.env` file is read into the environment first by the binary).
//! TOML keys are the lower-case names of the environment variables (`autosave_interval = "10s"`).
//! Every problem is reported as one line naming the variable, what was given (never a secret's
//! value) and what is expected.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

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
    ("LEASE_TTL", Some("15s"), false),
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

/// The raw values of every source, merged by precedence.
#[derive(Debug, Default, Clone)]
pub struct RawSettings {
    values: HashMap<String, (String, Source)>,
}

impl RawSettings {
    /// Layers a TOML document over what is there. Unknown keys are an error (a typo in a config
    /// file must not be silently ignored).
    pub fn layer_toml(&mut self, text: &str, path: &Path) -> Result<(), SettingsError> {
        let file_err = |reason: String| SettingsError::File {
            path: path.display().to_string(),
            reason,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_err(e.message().to_string()))?;
        for (key, value) in table {
            let var = key.to_ascii_uppercase();
            let known = KEYS.iter().any(|(k, _, _)| *k == var)
                || var
                    .strip_prefix(NODE_PASSWORD_PREFIX)
                    .is_some_and(|n| n.parse::<usize>().is_ok());
            if !known {
                return Err(SettingsError::UnknownKey {
                    key,
                    path: path.display().to_string(),
                });
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Array(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            toml::Value::String(s) => parts.push(s),
                            other => {
                                return Err(file_err(format!(
                                    "`{key}` must be a list of strings, found {}",
                                    other.type_str()
                                )))
                            }
                        }
                    }
                    parts.join(",")
                }
                other => {
                    return Err(file_err(format!(
                        "`{key}` must be a string, number or boolean, found {}",
                        other.type_str()
                    )))
                }
            };
            self.set(&var, text, Source::File(path.to_path_buf()));
        }
        Ok(())
    }

    /// Layers environment variables over what is there. Only known names are read; an empty
    /// variable counts as unset, as `.env` templates often leave `NAME=`.
    pub fn layer_env<I, K, V>(&mut self, vars: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (k, v) in vars {
            let (k, v) = (k.as_ref(), v.as_ref());
            let known =
                KEYS.iter().any(|(name, _, _)| *name == k) || k.starts_with(NODE_PASSWORD_PREFIX);
            if known && !v.trim().is_empty() {
                self.set(k, v.to_string(), Source::Env);
            }
        }
    }

    fn set(&mut self, var: &str, value: String, source: Source) {
        self.values.insert(var.to_string(), (value, source));
    }

    fn get(&self, var: &str) -> Option<(&str, &Source)> {
        self.values
            .get(var)
            .map(|(v, s)| (v.trim(), s))
            .filter(|(v, _)| !v.is_empty())
    }
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

struct Reader<'a> {
    raw: &'a RawSettings,
}

impl Reader<'_> {
    fn value(&self, var: &'static str) -> Option<(&str, Source)> {
        if let Some((v, s)) = self.raw.get(var) {
            return Some((v, s.clone()));
        }
        KEYS.iter()
            .find(|(k, _, _)| *k == var)
            .and_then(|(_, d, _)| *d)
            .map(|d| (d, Source::Default))
    }

    fn invalid(
        &self,
        var: &'static str,
        given: &str,
        source: &Source,
        expected: &str,
    ) -> SettingsError {
        let given = if is_secret(var) {
            "a value (hidden)".to_string()
        } else {
            format!("`{given}`")
        };
        SettingsError::Invalid {
            var,
            origin: source.to_string(),
            given,
            expected: expected.to_string(),
        }
    }

    fn parse<T>(
        &self,
        var: &'static str,
        expected: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, SettingsError> {
        match self.value(var) {
            None => Ok(None),
            Some((v, source)) => f(v)
                .map(Some)
                .ok_or_else(|| self.invalid(var, v, &source, expected)),
        }
    }

    fn required<T>(
        &self,
        var: &'static str,
        expected: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<T, SettingsError> {
        self.parse(var, expected, f)?
            .ok_or_else(|| SettingsError::Missing {
                var,
                expected: expected.to_string(),
            })
    }

    fn secret(&self, var: &'static str) -> Option<SecretString> {
        self.value(var)
            .map(|(v, _)| SecretString::from(v.to_string()))
    }
}

/// Parses a human duration (`10s`, `5m`, `1h 30m`, `250ms`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim()).ok()
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn bounded_duration(min: Duration, max: Duration) -> impl Fn(&str) -> Option<Duration> {
    move |t| parse_duration(t).filter(|d| *d >= min && *d <= max)
}

fn bounded_usize(min: usize, max: usize) -> impl Fn(&str) -> Option<usize> {
    move |t| {
        t.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
    }
}

/// Parses one `LAVALINK_NODES` entry: `host:port`, `http://host:port` or `https://host:port`
/// (`https`/`wss` mean TLS).
fn parse_node(entry: &str, index: usize) -> Option<LavalinkNode> {
    let entry = entry.trim().trim_end_matches('/');
    let (tls, rest) = if let Some(r) = entry
        .strip_prefix("https://")
        .or(entry.strip_prefix("wss://"))
    {
        (true, r)
    } else if let Some(r) = entry
        .strip_prefix("http://")
        .or(entry.strip_prefix("ws://"))
    {
        (false, r)
    } else {
        (false, entry)
    };
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    valid_host.then(|| LavalinkNode {
        name: format!("node-{}", index + 1),
        host: host.to_string(),
        port,
        tls,
        password: None,
    })
}

fn parse_nodes(text: &str) -> Option<Vec<LavalinkNode>> {
    let entries: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() {
        return None;
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| parse_node(e, i))
        .collect()
}

/// `3` or `0-3`.
fn parse_shard_ids(text: &str) -> Option<(u32, u32)> {
    let t = text.trim();
    let (a, b) = t.split_once('-').unwrap_or((t, t));
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

fn parse_http_base(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches('/');
    let rest = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"))?;
    (!rest.is_empty() && !rest.contains(char::is_whitespace)).then(|| t.to_string())
}

impl Settings {
    /// Builds typed settings from merged raw values; this is where every rule is checked.
    pub fn from_raw(raw: &RawSettings) -> Result<Settings, SettingsError> {
        let r = Reader { raw };

        let discord_token = r.secret("DISCORD_TOKEN");
        if let Some((v, source)) = r.value("DISCORD_TOKEN") {
            if v.chars().any(char::is_whitespace) || v.len() < 20 {
                return Err(r.invalid(
                    "DISCORD_TOKEN",
                    v,
                    &source,
                    "the bot token from the Discord developer portal (one word, without the `Bot ` prefix)",
                ));
            }
        }
        let discord_api_base = r.parse(
            "DISCORD_API_BASE",
            "an http:// or https:// base URL, such as http://127.0.0.1:8080",
            parse_http_base,
        )?;

        let mut lavalink_nodes = r.required(
            "LAVALINK_NODES",
            "a comma-separated list of host:port (prefix https:// for TLS), such as lavalink:2333",
            parse_nodes,
        )?;
        let shared_password = r.secret("LAVALINK_PASSWORD");
        for (i, node) in lavalink_nodes.iter_mut().enumerate() {
            let own = raw
                .get(&format!("{NODE_PASSWORD_PREFIX}{}", i + 1))
                .map(|(v, _)| SecretString::from(v.to_string()));
            node.password = own.or_else(|| shared_password.clone());
        }
        let lavalink_resume_timeout = r.required(
            "LAVALINK_RESUME_TIMEOUT",
            "a duration between 5s and 10m, such as 60s",
            bounded_duration(Duration::from_secs(5), Duration::from_secs(600)),
        )?;

        let search_prefix = r.required(
            "SEARCH_PREFIX",
            "a Lavalink search prefix such as ytsearch, ytmsearch or scsearch",
            |t| {
                let ok = t.len() > "search".len()
                    && t.ends_with("search")
                    && t.chars().all(|c| c.is_ascii_lowercase());
                ok.then(|| t.to_string())
            },
        )?;

        let idle_timeout = r.required(
            "IDLE_TIMEOUT",
            "a duration between 10s and 1d, such as 5m",
            bounded_duration(Duration::from_secs(10), Duration::from_secs(86_400)),
        )?;

        let rate_limit_commands = r.required(
            "RATE_LIMIT_COMMANDS",
            "a whole number from 1 to 10000",
            bounded_usize(1, 10_000),
        )?;
        let rate_limit_window = r.required(
            "RATE_LIMIT_WINDOW",
            "a duration between 1s and 1h, such as 10s",
            bounded_duration(Duration::from_secs(1), Duration::from_secs(3600)),
        )?;

        let mongodb_uri = r.secret("MONGODB_URI");
        if let Some((v, source)) = r.value("MONGODB_URI") {
            if !(v.starts_with("mongodb://") || v.starts_with("mongodb+srv://")) {
                return Err(r.invalid(
                    "MONGODB_URI",
                    v,
                    &source,
                    "a connection string starting with mongodb:// or mongodb+srv://",
                ));
            }
        }
        let storage = r
            .parse("STORAGE", "one of sqlite, mongodb, memory", |t| {
                match t.to_ascii_lowercase().as_str() {
                    "sqlite" => Some(StorageKind::Sqlite),
                    "mongodb" | "mongo" => Some(StorageKind::Mongodb),
                    "memory" => Some(StorageKind::Memory),
                    _ => None,
                }
            })?
            .unwrap_or(if mongodb_uri.is_some() {
                StorageKind::Mongodb
            } else {
                StorageKind::Sqlite
            });
        if storage == StorageKind::Mongodb && mongodb_uri.is_none() {
            return Err(SettingsError::Missing {
                var: "MONGODB_URI",
                expected: "a MongoDB connection string (mongodb://… or mongodb+srv://…) because STORAGE is mongodb".into(),
            });
        }
        let database = r.required(
            "MONGODB_DATABASE",
            "a database name: letters, digits, `_` or `-`, at most 63 characters",
            |t| {
                let ok = !t.is_empty()
                    && t.len() <= 63
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                ok.then(|| t.to_string())
            },
        )?;

        let sqlite_path =
            r.required("SQLITE_PATH", "a file path, such as data/encore.db", |t| {
                (!t.ends_with('/')).then(|| PathBuf::from(t))
            })?;
        let backup_dir = r
            .parse("BACKUP_DIR", "a directory path", |t| Some(PathBuf::from(t)))?
            .unwrap_or_else(|| {
                sqlite_path
                    .parent()
                    .map(|p| p.join("backups"))
                    .unwrap_or_else(|| PathBuf::from("backups"))
            });
        let backup_interval = r.required(
            "BACKUP_INTERVAL",
            "a duration of at least 1m (such as 6h), or `off`",
            |t| {
                if matches!(t.to_ascii_lowercase().as_str(), "off" | "0" | "false") {
                    Some(None)
                } else {
                    parse_duration(t)
                        .filter(|d| *d >= Duration::from_secs(60))
                        .map(Some)
                }
            },
        )?;
        let max_backups = r.required(
            "MAX_BACKUPS",
            "a whole number from 1 to 1000",
            bounded_usize(1, 1000),
        )?;

        let autosave_interval = r.required(
            "AUTOSAVE_INTERVAL",
            "a duration between 1s and 10m, such as 10s",
            bounded_duration(Duration::from_secs(1), Duration::from_secs(600)),
        )?;
        let music_auto_resume = r.required("MUSIC_AUTO_RESUME", "true or false", parse_bool)?;
        let resume_max_age = r.required(
            "RESUME_MAX_AGE",
            "a duration between 1m and 30d, such as 1h",
            bounded_duration(Duration::from_secs(60), Duration::from_secs(30 * 86_400)),
        )?;
        let shutdown_timeout = r.required(
            "SHUTDOWN_TIMEOUT",
            "a duration between 1s and 5m, such as 20s (keep it under the host's kill delay)",
            bounded_duration(Duration::from_secs(1), Duration::from_secs(300)),
        )?;
        let lease_ttl = r.required(
            "LEASE_TTL",
            "a duration between 2s and 5m, such as 15s",
            bounded_duration(Duration::from_secs(2), Duration::from_secs(300)),
        )?;
        let queue_max_length = r.required(
            "QUEUE_MAX_LENGTH",
            "a whole number from 1 to 100000",
            bounded_usize(1, 100_000),
        )?;
        let history_max_length = r.required(
            "HISTORY_MAX_LENGTH",
            "a whole number from 0 to 1000",
            bounded_usize(0, 1000),
        )?;
        let log_format = r.required("LOG_FORMAT", "pretty or json", |t| {
            match t.to_ascii_lowercase().as_str() {
                "pretty" => Some(LogFormat::Pretty),
                "json" => Some(LogFormat::Json),
                _ => None,
            }
        })?;
        let log_level = r.required(
            "LOG_LEVEL",
            "a tracing filter such as info, debug or encore=debug,info",
            |t| {
                t.parse::<tracing_subscriber::EnvFilter>()
                    .ok()
                    .map(|_| t.to_string())
            },
        )?;

        let shard_count = r.required(
            "SHARD_COUNT",
            "`auto` or a whole number of shards from 1 to 65535",
            |t| match t.trim().to_ascii_lowercase().as_str() {
                "auto" => Some(None),
                n => n
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=65_535).contains(n))
                    .map(Some),
            },
        )?;
        let shards = match (shard_count, r.value("SHARD_IDS")) {
            (None, None) => ShardPlan::Auto,
            (None, Some(_)) => {
                return Err(SettingsError::Missing {
                    var: "SHARD_COUNT",
                    expected: "the bot's total number of shards, because SHARD_IDS is set".into(),
                })
            }
            (Some(count), None) => ShardPlan::Range {
                first: 0,
                last: count - 1,
                count,
            },
            (Some(count), Some((text, source))) => {
                let (first, last) = parse_shard_ids(text)
                    .filter(|(first, last)| first <= last && *last < count)
                    .ok_or_else(|| {
                        r.invalid(
                            "SHARD_IDS",
                            text,
                            &source,
                            &format!(
                                "a shard id or a range like 0-3 within 0-{} (SHARD_COUNT is {count})",
                                count - 1
                            ),
                        )
                    })?;
                ShardPlan::Range { first, last, count }
            }
        };
        let health_port = r.parse(
            "HEALTH_PORT",
            "a TCP port from 1 to 65535, such as 8080",
            |t| t.trim().parse::<u16>().ok().filter(|p| *p != 0),
        )?;

        Ok(Settings {
            discord_token,
            discord_api_base,
            lavalink_nodes,
            lavalink_resume_timeout,
            search_prefix,
            idle_timeout,
            rate_limit_commands,
            rate_limit_window,
            storage,
            sqlite: SqliteSettings {
                path: sqlite_path,
                backup_dir,
                backup_interval,
                max_backups,
            },
            mongodb: MongoSettings {
                uri: mongodb_uri,
                database,
            },
            autosave_interval,
            music_auto_resume,
            resume_max_age,
            shutdown_timeout,
            lease_ttl,
            queue_max_length,
            history_max_length,
            log_format,
            log_level,
            shards,
            health_port,
        })
    }

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
