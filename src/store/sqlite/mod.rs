//! The embedded default store: one SQLite file in WAL mode.
//!
//! Layout: `players` holds the small state (one narrow row per guild, rewritten on every tick);
//! `queues` holds the current track, the upcoming tracks and the history as JSON, rewritten only
//! when the queue changes. Every save batch is one transaction, so a crash leaves every guild at
//! its previous or its new snapshot. Migrations are keyed on `PRAGMA user_version`.
//!
//! Each concern has its own file: `schema` (migrations), `open` (integrity check and recovery),
//! `backup`, `players`, `guild_configs` and `leases`; this one holds the store itself and its
//! `StateStore` implementation.

mod backup;
mod guild_configs;
mod leases;
mod open;
mod played;
mod players;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;

use super::{
    LeaseRecord, LoadFilter, LoadReport, SaveOp, StateStore, StoreError, StoreHealth, WriteStats,
};
use crate::domain::{GuildConfig, GuildId, Played, PlayerSnapshot};
use crate::settings::SqliteSettings;

use crate::sync::LockExt;
pub use backup::list_backups;

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    pub backup_dir: PathBuf,
    pub max_backups: usize,
    /// How long a write waits for a lock held by another connection before failing.
    pub busy_timeout: Duration,
    /// Whether an unreadable file is moved aside and the newest good backup restored (`true`),
    /// or reported as an error and left as it is (`false`, for `encore check`).
    pub recover: bool,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let backup_dir = path
            .parent()
            .map(|p| p.join("backups"))
            .unwrap_or_else(|| PathBuf::from("backups"));
        SqliteOptions {
            path,
            backup_dir,
            max_backups: 5,
            busy_timeout: Duration::from_secs(5),
            recover: true,
        }
    }

    pub fn from_settings(s: &SqliteSettings) -> Self {
        SqliteOptions {
            path: s.path.clone(),
            backup_dir: s.backup_dir.clone(),
            max_backups: s.max_backups,
            busy_timeout: Duration::from_secs(5),
            recover: true,
        }
    }
}

/// What opening the database had to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The file was fine (or new).
    None,
    /// The file was unreadable; it was moved to `moved_to` and `restored_from` was restored.
    Restored {
        moved_to: PathBuf,
        restored_from: PathBuf,
    },
    /// The file was unreadable and no good backup existed: it starts empty.
    StartedEmpty { moved_to: PathBuf },
}

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    opts: SqliteOptions,
    last_write_at_ms: AtomicU64,
    recovery: Recovery,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn map_sqlite(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(
            DatabaseBusy | DatabaseLocked | CannotOpen | DiskFull | ReadOnly | SystemIoFailure,
        ) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

impl SqliteStore {
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    pub fn path(&self) -> &Path {
        &self.opts.path
    }

    fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
        conn.locked()
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut Self::lock(&conn)))
            .await
            .map_err(err)?
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn save(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
        self.save_players(batch).await
    }

    async fn load_all(&self, filter: &LoadFilter) -> Result<LoadReport, StoreError> {
        self.load_players(filter).await
    }

    async fn load(&self, guild_id: GuildId) -> Result<Option<PlayerSnapshot>, StoreError> {
        self.load_player(guild_id).await
    }

    async fn delete(&self, guild_id: GuildId) -> Result<bool, StoreError> {
        self.delete_player(guild_id).await
    }

    async fn health(&self) -> StoreHealth {
        let count = self
            .blocking(|conn| {
                conn.query_row("SELECT COUNT(*) FROM players", [], |r| r.get::<_, i64>(0))
                    .map_err(map_sqlite)
            })
            .await;
        let count = count.map(|n| n.max(0) as u64).map_err(|e| e.to_string());
        StoreHealth::from_count(
            "sqlite",
            count,
            self.last_write_at_ms.load(Ordering::Relaxed),
        )
    }

    async fn save_guild_config(&self, config: &GuildConfig) -> Result<(), StoreError> {
        self.save_config(config).await
    }

    async fn load_guild_config(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<GuildConfig>, StoreError> {
        self.load_config(guild_id).await
    }

    async fn load_guild_configs(&self) -> Result<Vec<GuildConfig>, StoreError> {
        self.load_configs().await
    }

    async fn record_played(
        &self,
        guild_id: GuildId,
        played: &Played,
        keep: usize,
    ) -> Result<(), StoreError> {
        self.append_played(guild_id, played, keep).await
    }

    async fn load_played(
        &self,
        guild_id: GuildId,
        limit: usize,
    ) -> Result<Vec<Played>, StoreError> {
        self.read_played(guild_id, limit).await
    }

    async fn load_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        self.read_lease(name).await
    }

    async fn swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError> {
        self.compare_and_swap_lease(name, expected, body).await
    }
}
