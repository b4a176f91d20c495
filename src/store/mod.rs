//! Durable player state: the `StateStore` trait and its SQLite, MongoDB and memory backends.

mod chunks;
mod memory;
mod mongo;
mod sqlite;
mod timed;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

pub use memory::MemoryStore;
pub use mongo::MongoStore;
pub use sqlite::{list_backups, Recovery, SqliteOptions, SqliteStore};
pub use timed::TimedStore;

use crate::domain::{
    shard_of, Autoplay, FilterPreset, GuildConfig, GuildId, LoopMode, PauseReason, Played,
    PlayerSnapshot, PlayerState, QueueSnapshot,
};
use crate::settings::{Settings, StorageKind};

/// One change in a save batch.
#[derive(Debug, Clone)]
pub enum SaveOp {
    /// The whole player: its state and its queue.
    Full {
        state: PlayerState,
        queue: Arc<QueueSnapshot>,
    },
    /// The whole player, its queue written as a change from `base`: the queue the store holds
    /// for the guild (the queue of the writer's last successful save of it). Cheap for a small
    /// change of a long queue (an append writes the appended tracks, not the queue). A store
    /// that holds nothing for the guild, or a queue of another length than `base`'s, writes the
    /// queue whole; a `base` of the same length that the store does not hold is the writer's
    /// error and saves a wrong queue.
    Edit {
        state: PlayerState,
        base: Arc<QueueSnapshot>,
        queue: Arc<QueueSnapshot>,
    },
    /// Only the small state (position, its time, paused, volume, loop, filters, channels); the
    /// saved queue stays as it is. Applies only to a guild that is already saved.
    State(PlayerState),
    /// Forget the guild.
    Delete(GuildId),
}

impl SaveOp {
    pub fn guild_id(&self) -> GuildId {
        match self {
            SaveOp::Full { state, .. } | SaveOp::Edit { state, .. } | SaveOp::State(state) => {
                state.guild_id
            }
            SaveOp::Delete(g) => *g,
        }
    }
}

/// What a save wrote, for statistics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub ops: usize,
    /// Payload bytes handed to the database (encoded values or BSON commands).
    pub bytes: u64,
}

/// Which saved players to load: all, or those of some shards (Discord's
/// `(guild_id >> 22) % shard_count`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LoadFilter {
    #[default]
    All,
    Shards {
        shard_ids: Vec<u32>,
        shard_count: u32,
    },
}

impl LoadFilter {
    pub fn matches(&self, guild_id: GuildId) -> bool {
        match self {
            LoadFilter::All => true,
            LoadFilter::Shards {
                shard_ids,
                shard_count,
            } => shard_ids.contains(&shard_of(guild_id, *shard_count)),
        }
    }
}

/// A saved record that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub guild_id: Option<GuildId>,
    pub reason: String,
}

/// The result of loading many players: the good ones, and the ones skipped with the reason.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub snapshots: Vec<PlayerSnapshot>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StoreHealth {
    pub backend: &'static str,
    pub reachable: bool,
    /// Unix ms of the last successful write by this process.
    pub last_write_at_ms: Option<u64>,
    pub saved_players: Option<u64>,
    /// Why it is unreachable, when it is.
    pub error: Option<String>,
}

impl StoreHealth {
    /// The health of a database backend from its count of saved players (or why it could not
    /// count them) and the Unix ms of this process's last successful write (0: none yet).
    pub fn from_count(
        backend: &'static str,
        count: Result<u64, String>,
        last_write_at_ms: u64,
    ) -> StoreHealth {
        let (reachable, saved_players, error) = match count {
            Ok(n) => (true, Some(n), None),
            Err(e) => (false, None, Some(e)),
        };
        StoreHealth {
            backend,
            reachable,
            last_write_at_ms: (last_write_at_ms > 0).then_some(last_write_at_ms),
            saved_players,
            error,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the player store is unavailable: {0}")]
    Unavailable(String),
    #[error("the player store failed: {0}")]
    Backend(String),
    #[error("the player store could not be opened: {0}")]
    Open(String),
    #[error("refused to store an invalid value: {0}")]
    Invalid(String),
}

/// Durable storage of player snapshots. Failures are returned, never panicked on, so the caller
/// can log and retry.
#[async_trait]
pub trait StateStore: Send + Sync {
    fn backend(&self) -> &'static str;

    /// Applies a batch atomically per guild (SQLite: the whole batch in one transaction).
    async fn save(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError>;

    /// Loads every readable saved player matching `filter`; unreadable ones are reported in
    /// `skipped` (and logged) while the rest still load.
    async fn load_all(&self, filter: &LoadFilter) -> Result<LoadReport, StoreError>;

    /// Loads one guild's saved player; `Ok(None)` when nothing (readable) is saved.
    async fn load(&self, guild_id: GuildId) -> Result<Option<PlayerSnapshot>, StoreError>;

    /// Forgets one guild; returns whether anything was saved.
    async fn delete(&self, guild_id: GuildId) -> Result<bool, StoreError>;

    async fn health(&self) -> StoreHealth;

    /// Saves a guild's settings, replacing any saved before. An invalid config (see
    /// [`GuildConfig::validate`]) is refused with [`StoreError::Invalid`].
    async fn save_guild_config(&self, config: &GuildConfig) -> Result<(), StoreError>;

    /// Loads one guild's settings; `Ok(None)` when nothing (readable) is saved. An unreadable
    /// record is logged as a warning and reads as `None`.
    async fn load_guild_config(&self, guild_id: GuildId)
        -> Result<Option<GuildConfig>, StoreError>;

    /// Loads every readable guild config, sorted by guild id; unreadable ones are logged and
    /// skipped. Guild configs are independent of saved players: deleting a player keeps them.
    async fn load_guild_configs(&self) -> Result<Vec<GuildConfig>, StoreError>;

    /// Adds `played` to what guild `guild_id` played, keeping its newest `keep` entries (older
    /// ones are dropped). Independent of the saved player: forgetting a player keeps these.
    async fn record_played(
        &self,
        guild_id: GuildId,
        played: &Played,
        keep: usize,
    ) -> Result<(), StoreError>;

    /// What guild `guild_id` played, newest first, at most `limit` entries. An unreadable entry
    /// is logged and left out.
    async fn load_played(&self, guild_id: GuildId, limit: usize)
        -> Result<Vec<Played>, StoreError>;

    /// The lease called `name` (who owns voice, autosave and replies; see [`crate::lease`]).
    async fn load_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError>;

    /// Writes `body` as the lease `name` if its stored version is still `expected` (`None`: no
    /// lease is stored yet). Returns whether it was written; the new version is `expected + 1`
    /// (or 1). Atomic: of two instances swapping from the same version, exactly one wins.
    async fn swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError>;
}

/// A stored lease: an opaque body and the version it is compared and swapped on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub version: u64,
    pub body: String,
}

/// Opens the store chosen by `STORAGE`.
pub async fn open_from_settings(settings: &Settings) -> Result<Arc<dyn StateStore>, StoreError> {
    open_with(settings, true).await
}

/// Opens the store chosen by `STORAGE`; with `recover` false, a damaged SQLite file is reported
/// and left alone instead of being replaced by a backup.
pub async fn open_with(
    settings: &Settings,
    recover: bool,
) -> Result<Arc<dyn StateStore>, StoreError> {
    Ok(match settings.storage {
        StorageKind::Memory => Arc::new(MemoryStore::new()),
        StorageKind::Sqlite => {
            let opts = SqliteOptions {
                recover,
                ..SqliteOptions::from_settings(&settings.sqlite)
            };
            Arc::new(
                tokio::task::spawn_blocking(move || SqliteStore::open(opts))
                    .await
                    .map_err(|e| StoreError::Open(e.to_string()))??,
            )
        }
        StorageKind::Mongodb => {
            let uri = settings
                .mongodb
                .uri
                .as_ref()
                .ok_or_else(|| StoreError::Open("MONGODB_URI is not set".into()))?;
            Arc::new(MongoStore::connect(uri, &settings.mongodb.database).await?)
        }
    })
}

/// The small state as a backend reads it back, before the checks every backend shares.
pub(crate) struct StoredState<'a> {
    pub guild_id: GuildId,
    pub voice_channel_id: Option<i64>,
    pub text_channel_id: Option<i64>,
    pub position_ms: i64,
    pub position_at_ms: i64,
    pub paused: bool,
    /// `None` in records of the schema before reasons were kept.
    pub pause_reason: Option<&'a str>,
    /// `false` in records of the schema before it was kept.
    pub stalled: bool,
    pub volume: i64,
    pub loop_mode: &'a str,
    pub filters: &'a str,
    /// Off in records of the schema before it was kept.
    pub autoplay: Autoplay,
    pub taken_at_ms: i64,
}

impl StoredState<'_> {
    /// Checks the values; the error is the reason to skip the guild.
    pub(crate) fn into_state(self) -> Result<PlayerState, String> {
        let volume = self.volume;
        Ok(PlayerState {
            guild_id: self.guild_id,
            voice_channel_id: self.voice_channel_id.map(|v| v as u64),
            text_channel_id: self.text_channel_id.map(|v| v as u64),
            position_ms: self.position_ms.max(0) as u64,
            position_at_ms: self.position_at_ms.max(0) as u64,
            paused: self.paused,
            pause_reason: self
                .paused
                .then(|| self.pause_reason.and_then(PauseReason::parse))
                .flatten(),
            stalled: self.stalled,
            volume: u16::try_from(volume).map_err(|_| format!("volume {volume} out of range"))?,
            loop_mode: LoopMode::parse(self.loop_mode)
                .ok_or_else(|| format!("unknown loop mode `{}`", self.loop_mode))?,
            filters: FilterPreset::parse(self.filters)
                .ok_or_else(|| format!("unknown filter preset `{}`", self.filters))?,
            autoplay: self.autoplay,
            taken_at_ms: self.taken_at_ms.max(0) as u64,
        })
    }
}

/// A guild config as a backend reads it back, before the checks every backend shares.
pub(crate) struct StoredGuildConfig {
    pub guild_id: i64,
    pub dj_role_id: Option<i64>,
    pub always_on: bool,
    pub default_volume: i64,
    pub announce_now_playing: bool,
    pub auto_resume: Option<bool>,
    pub autoplay: bool,
    pub vote_skip_percent: i64,
    pub updated_at_ms: i64,
}

impl StoredGuildConfig {
    pub(crate) fn from_config(c: &GuildConfig) -> Self {
        StoredGuildConfig {
            guild_id: c.guild_id as i64,
            dj_role_id: c.dj_role_id.map(|r| r as i64),
            always_on: c.always_on,
            default_volume: i64::from(c.default_volume),
            announce_now_playing: c.announce_now_playing,
            auto_resume: c.auto_resume,
            autoplay: c.autoplay,
            vote_skip_percent: i64::from(c.vote_skip_percent),
            updated_at_ms: c.updated_at_ms as i64,
        }
    }

    /// Checks the values; the error is the reason to skip the guild's config.
    pub(crate) fn into_config(self) -> Result<GuildConfig, String> {
        let volume = self.default_volume;
        let share = self.vote_skip_percent;
        let config = GuildConfig {
            guild_id: self.guild_id as u64,
            dj_role_id: self.dj_role_id.map(|r| r as u64),
            always_on: self.always_on,
            default_volume: u16::try_from(volume)
                .map_err(|_| format!("default volume {volume} out of range"))?,
            announce_now_playing: self.announce_now_playing,
            auto_resume: self.auto_resume,
            autoplay: self.autoplay,
            vote_skip_percent: u8::try_from(share)
                .map_err(|_| format!("vote-skip share {share} out of range"))?,
            updated_at_ms: self.updated_at_ms.max(0) as u64,
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// Refuses to store a config that could not be read back.
pub(crate) fn check_config(config: &GuildConfig) -> Result<(), StoreError> {
    config
        .validate()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Logs one unreadable guild config as a warning (the rest of a load goes on).
pub(crate) fn warn_skipped_config(backend: &str, skipped: &Skipped) {
    match skipped.guild_id {
        Some(guild) => {
            tracing::warn!(backend, guild, reason = %skipped.reason, "skipping an unreadable guild config")
        }
        None => {
            tracing::warn!(backend, reason = %skipped.reason, "skipping an unreadable guild config")
        }
    }
}

/// Logs one skipped record as a warning (the rest of a load goes on).
pub(crate) fn warn_skipped(backend: &str, skipped: &Skipped) {
    match skipped.guild_id {
        Some(guild) => {
            tracing::warn!(backend, guild, reason = %skipped.reason, "skipping an unreadable saved player")
        }
        None => {
            tracing::warn!(backend, reason = %skipped.reason, "skipping an unreadable saved player")
        }
    }
}
