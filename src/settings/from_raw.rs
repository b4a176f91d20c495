//! Building typed [`Settings`] from the merged raw values: every rule is checked here, one group
//! of settings per function, in the order the settings are listed.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::parse::{
    bounded_duration, bounded_usize, parse_bool, parse_duration, parse_http_base, parse_nodes,
    parse_shard_ids,
};
use super::reader::Reader;
use super::{
    LavalinkNode, LogFormat, MongoSettings, RawSettings, Settings, SettingsError, ShardPlan,
    SqliteSettings, StorageKind, NODE_PASSWORD_PREFIX,
};

impl Settings {
    /// Builds typed settings from merged raw values; this is where every rule is checked.
    pub fn from_raw(raw: &RawSettings) -> Result<Settings, SettingsError> {
        let r = Reader { raw };

        let (discord_token, discord_api_base) = r.discord()?;
        let (lavalink_nodes, lavalink_resume_timeout) = r.lavalink()?;
        let (search_prefix, idle_timeout, voice_silence_timeout, search_menu_timeout) =
            r.playback()?;
        let (rate_limit_commands, rate_limit_window) = r.rate_limit()?;
        let (storage, mongodb) = r.mongodb()?;
        let sqlite = r.sqlite()?;
        let (autosave_interval, music_auto_resume, resume_max_age) = r.resume()?;
        let (shutdown_timeout, lease_ttl) = r.lifecycle()?;
        let (queue_max_length, history_max_length) = r.queue_limits()?;
        let (log_format, log_level) = r.logging()?;
        let shards = r.shards()?;
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
            voice_silence_timeout,
            search_menu_timeout,
            rate_limit_commands,
            rate_limit_window,
            storage,
            sqlite,
            mongodb,
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
}

impl Reader<'_> {
    /// `DISCORD_TOKEN` and `DISCORD_API_BASE`.
    fn discord(&self) -> Result<(Option<SecretString>, Option<String>), SettingsError> {
        let discord_token = self.secret("DISCORD_TOKEN");
        if let Some((v, source)) = self.value("DISCORD_TOKEN") {
            if v.chars().any(char::is_whitespace) || v.len() < 20 {
                return Err(self.invalid(
                    "DISCORD_TOKEN",
                    v,
                    &source,
                    "the bot token from the Discord developer portal (one word, without the `Bot ` prefix)",
                ));
            }
        }
        let discord_api_base = self.parse(
            "DISCORD_API_BASE",
            "an http:// or https:// base URL, such as http://127.0.0.1:8080",
            parse_http_base,
        )?;
        Ok((discord_token, discord_api_base))
    }

    /// `LAVALINK_NODES`, their passwords and `LAVALINK_RESUME_TIMEOUT`.
    fn lavalink(&self) -> Result<(Vec<LavalinkNode>, Duration), SettingsError> {
        let mut lavalink_nodes = self.required(
            "LAVALINK_NODES",
            "a comma-separated list of host:port (prefix https:// for TLS), such as lavalink:2333",
            parse_nodes,
        )?;
        let shared_password = self.secret("LAVALINK_PASSWORD");
        for (i, node) in lavalink_nodes.iter_mut().enumerate() {
            let own = self
                .raw
                .get(&format!("{NODE_PASSWORD_PREFIX}{}", i + 1))
                .map(|(v, _)| SecretString::from(v.to_string()));
            node.password = own.or_else(|| shared_password.clone());
        }
        let lavalink_resume_timeout = self.required(
            "LAVALINK_RESUME_TIMEOUT",
            "a duration between 5s and 10m, such as 60s",
            bounded_duration(Duration::from_secs(5), Duration::from_secs(600)),
        )?;
        Ok((lavalink_nodes, lavalink_resume_timeout))
    }

    /// `SEARCH_PREFIX`, `IDLE_TIMEOUT`, `VOICE_SILENCE_TIMEOUT` and `SEARCH_MENU_TIMEOUT`.
    fn playback(&self) -> Result<(String, Duration, Duration, Duration), SettingsError> {
        let search_prefix = self.required(
            "SEARCH_PREFIX",
            "a Lavalink search prefix such as ytsearch, ytmsearch or scsearch",
            |t| {
                let ok = t.len() > "search".len()
                    && t.ends_with("search")
                    && t.chars().all(|c| c.is_ascii_lowercase());
                ok.then(|| t.to_string())
            },
        )?;

        let idle_timeout = self.required(
            "IDLE_TIMEOUT",
            "a duration between 10s and 1d, such as 5m",
            bounded_duration(Duration::from_secs(10), Duration::from_secs(86_400)),
        )?;
        let voice_silence_timeout = self.required(
            "VOICE_SILENCE_TIMEOUT",
            "a duration between 3s and 10m, such as 10s",
            bounded_duration(Duration::from_secs(3), Duration::from_secs(600)),
        )?;
        // Discord lets the bot edit the menu for 15 minutes.
        let search_menu_timeout = self.required(
            "SEARCH_MENU_TIMEOUT",
            "a duration between 5s and 14m, such as 60s",
            bounded_duration(Duration::from_secs(5), Duration::from_secs(14 * 60)),
        )?;
        Ok((
            search_prefix,
            idle_timeout,
            voice_silence_timeout,
            search_menu_timeout,
        ))
    }

    /// `RATE_LIMIT_COMMANDS` and `RATE_LIMIT_WINDOW`.
    fn rate_limit(&self) -> Result<(usize, Duration), SettingsError> {
        let rate_limit_commands = self.required(
            "RATE_LIMIT_COMMANDS",
            "a whole number from 1 to 10000",
            bounded_usize(1, 10_000),
        )?;
        let rate_limit_window = self.required(
            "RATE_LIMIT_WINDOW",
            "a duration between 1s and 1h, such as 10s",
            bounded_duration(Duration::from_secs(1), Duration::from_secs(3600)),
        )?;
        Ok((rate_limit_commands, rate_limit_window))
    }

    /// `MONGODB_URI`, `STORAGE` (which depends on it) and `MONGODB_DATABASE`.
    fn mongodb(&self) -> Result<(StorageKind, MongoSettings), SettingsError> {
        let mongodb_uri = self.secret("MONGODB_URI");
        if let Some((v, source)) = self.value("MONGODB_URI") {
            if !(v.starts_with("mongodb://") || v.starts_with("mongodb+srv://")) {
                return Err(self.invalid(
                    "MONGODB_URI",
                    v,
                    &source,
                    "a connection string starting with mongodb:// or mongodb+srv://",
                ));
            }
        }
        let storage = self
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
        let database = self.required(
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
        Ok((
            storage,
            MongoSettings {
                uri: mongodb_uri,
                database,
            },
        ))
    }

    /// `SQLITE_PATH`, `BACKUP_DIR`, `BACKUP_INTERVAL` and `MAX_BACKUPS`.
    fn sqlite(&self) -> Result<SqliteSettings, SettingsError> {
        let sqlite_path =
            self.required("SQLITE_PATH", "a file path, such as data/encore.db", |t| {
                (!t.ends_with('/')).then(|| PathBuf::from(t))
            })?;
        let backup_dir = self
            .parse("BACKUP_DIR", "a directory path", |t| Some(PathBuf::from(t)))?
            .unwrap_or_else(|| {
                sqlite_path
                    .parent()
                    .map(|p| p.join("backups"))
                    .unwrap_or_else(|| PathBuf::from("backups"))
            });
        let backup_interval = self.required(
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
        let max_backups = self.required(
            "MAX_BACKUPS",
            "a whole number from 1 to 1000",
            bounded_usize(1, 1000),
        )?;
        Ok(SqliteSettings {
            path: sqlite_path,
            backup_dir,
            backup_interval,
            max_backups,
        })
    }

    /// `AUTOSAVE_INTERVAL`, `MUSIC_AUTO_RESUME` and `RESUME_MAX_AGE`.
    fn resume(&self) -> Result<(Duration, bool, Duration), SettingsError> {
        let autosave_interval = self.required(
            "AUTOSAVE_INTERVAL",
            "a duration between 1s and 10m, such as 10s",
            bounded_duration(Duration::from_secs(1), Duration::from_secs(600)),
        )?;
        let music_auto_resume = self.required("MUSIC_AUTO_RESUME", "true or false", parse_bool)?;
        let resume_max_age = self.required(
            "RESUME_MAX_AGE",
            "a duration between 1m and 30d, such as 1h",
            bounded_duration(Duration::from_secs(60), Duration::from_secs(30 * 86_400)),
        )?;
        Ok((autosave_interval, music_auto_resume, resume_max_age))
    }

    /// `SHUTDOWN_TIMEOUT` and `LEASE_TTL`.
    fn lifecycle(&self) -> Result<(Duration, Duration), SettingsError> {
        let shutdown_timeout = self.required(
            "SHUTDOWN_TIMEOUT",
            "a duration between 1s and 5m, such as 20s (keep it under the host's kill delay)",
            bounded_duration(Duration::from_secs(1), Duration::from_secs(300)),
        )?;
        let lease_ttl = self.required(
            "LEASE_TTL",
            "a duration between 2s and 5m, such as 15s",
            bounded_duration(Duration::from_secs(2), Duration::from_secs(300)),
        )?;
        Ok((shutdown_timeout, lease_ttl))
    }

    /// `QUEUE_MAX_LENGTH` and `HISTORY_MAX_LENGTH`.
    fn queue_limits(&self) -> Result<(usize, usize), SettingsError> {
        let queue_max_length = self.required(
            "QUEUE_MAX_LENGTH",
            "a whole number from 1 to 100000",
            bounded_usize(1, 100_000),
        )?;
        let history_max_length = self.required(
            "HISTORY_MAX_LENGTH",
            "a whole number from 0 to 1000",
            bounded_usize(0, 1000),
        )?;
        Ok((queue_max_length, history_max_length))
    }

    /// `LOG_FORMAT` and `LOG_LEVEL`.
    fn logging(&self) -> Result<(LogFormat, String), SettingsError> {
        let log_format = self.required("LOG_FORMAT", "pretty or json", |t| {
            match t.to_ascii_lowercase().as_str() {
                "pretty" => Some(LogFormat::Pretty),
                "json" => Some(LogFormat::Json),
                _ => None,
            }
        })?;
        let log_level = self.required(
            "LOG_LEVEL",
            "a tracing filter such as info, debug or encore=debug,info",
            |t| {
                t.parse::<tracing_subscriber::EnvFilter>()
                    .ok()
                    .map(|_| t.to_string())
            },
        )?;
        Ok((log_format, log_level))
    }

    /// `SHARD_COUNT` and `SHARD_IDS`.
    fn shards(&self) -> Result<ShardPlan, SettingsError> {
        let shard_count = self.required(
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
        let shards = match (shard_count, self.value("SHARD_IDS")) {
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
                        self.invalid(
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
        Ok(shards)
    }
}
