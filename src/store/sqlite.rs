//! The embedded default store: one SQLite file in WAL mode.
//!
//! Layout: `players` holds the small state (one narrow row per guild, rewritten on every tick);
//! `queues` holds the current track, the upcoming tracks and the history as JSON, rewritten only
//! when the queue changes. Every save batch is one transaction, so a crash leaves every guild at
//! its previous or its new snapshot. Migrations are keyed on `PRAGMA user_version`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{
    check_config, warn_skipped, warn_skipped_config, LeaseRecord, LoadFilter, LoadReport, SaveOp,
    Skipped, StateStore, StoreError, StoreHealth, StoredGuildConfig, StoredState, WriteStats,
};
use crate::domain::{
    now_ms, GuildConfig, GuildId, PlayerSnapshot, PlayerState, QueueSnapshot, Track,
};
use crate::settings::SqliteSettings;

/// The newest schema this build knows; `user_version` holds the applied one.
const SCHEMA_VERSION: i64 = 3;

const MIGRATIONS: &[&str] = &[
    // 1: players + queues.
    "CREATE TABLE players (
        guild_id          INTEGER PRIMARY KEY,
        schema_version    INTEGER NOT NULL,
        voice_channel_id  INTEGER,
        text_channel_id   INTEGER,
        position_ms       INTEGER NOT NULL,
        position_at_ms    INTEGER NOT NULL,
        paused            INTEGER NOT NULL,
        volume            INTEGER NOT NULL,
        loop_mode         TEXT NOT NULL,
        filters           TEXT NOT NULL,
        taken_at_ms       INTEGER NOT NULL
    );
    CREATE TABLE queues (
        guild_id  INTEGER PRIMARY KEY REFERENCES players(guild_id) ON DELETE CASCADE,
        current   TEXT,
        upcoming  TEXT NOT NULL,
        history   TEXT NOT NULL
    );",
    // 2: guild_configs, per-guild settings; independent of `players` (no foreign key), so
    // forgetting a player keeps its guild's settings.
    "CREATE TABLE guild_configs (
        guild_id              INTEGER PRIMARY KEY,
        dj_role_id            INTEGER,
        always_on             INTEGER NOT NULL,
        default_volume        INTEGER NOT NULL,
        announce_now_playing  INTEGER NOT NULL,
        auto_resume           INTEGER,
        updated_at_ms         INTEGER NOT NULL
    );",
    // 3: leases: which instance owns voice, autosave and replies (compare-and-swap on version).
    "CREATE TABLE leases (
        name     TEXT PRIMARY KEY,
        version  INTEGER NOT NULL,
        body     TEXT NOT NULL
    );",
];

const BACKUP_PREFIX: &str = "encore-";
const BACKUP_SUFFIX: &str = ".db";

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

/// Why a database file could not be used.
enum Unusable {
    /// Damaged or not a database: recover from a backup.
    Damaged(String),
    /// Written by a newer Encore: leave it alone.
    Newer(i64),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Damaged(reason) => write!(f, "{reason}"),
            Unusable::Newer(v) => write!(
                f,
                "it was written by a newer Encore (schema {v}, this build knows {SCHEMA_VERSION}): run that version, or restore a backup"
            ),
        }
    }
}

/// Opens a connection and checks that the file is a healthy database of a schema we know.
fn open_checked(path: &Path, flags: OpenFlags) -> Result<Connection, Unusable> {
    let damaged = |e: rusqlite::Error| Unusable::Damaged(e.to_string());
    let conn = Connection::open_with_flags(path, flags).map_err(damaged)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(damaged)?;
    if check != "ok" {
        return Err(Unusable::Damaged(format!(
            "integrity check failed: {check}"
        )));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(damaged)?;
    if version > SCHEMA_VERSION {
        return Err(Unusable::Newer(version));
    }
    Ok(conn)
}

fn stamp() -> String {
    // 2026-11-23T21:07:13.123Z -> 20261123T210713123Z: sorts by time as text.
    humantime::format_rfc3339_millis(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Backups in `dir`, newest first.
pub fn list_backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(BACKUP_PREFIX) && n.ends_with(BACKUP_SUFFIX))
        })
        .collect();
    found.sort();
    found.reverse();
    found
}

impl SqliteStore {
    /// Opens (creating if needed) the database. If the file cannot be opened or fails its
    /// integrity check, it is moved aside and the newest good backup is restored, with a loud
    /// warning. Blocking: call from `spawn_blocking` in async code.
    pub fn open(opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = opts.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Open(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut recovery = Recovery::None;
        let conn = match open_checked(&opts.path, flags) {
            Ok(c) => c,
            Err(newer @ Unusable::Newer(_)) => {
                return Err(StoreError::Open(format!(
                    "{}: {newer}",
                    opts.path.display()
                )));
            }
            Err(Unusable::Damaged(reason)) => {
                if !opts.path.exists() {
                    return Err(StoreError::Open(format!(
                        "cannot create {}: {reason}",
                        opts.path.display()
                    )));
                }
                if !opts.recover {
                    return Err(StoreError::Open(format!(
                        "{} is damaged ({reason}); on start-up Encore moves it aside and restores the newest good backup",
                        opts.path.display()
                    )));
                }
                recovery = Self::recover(&opts, &reason)?;
                open_checked(&opts.path, flags).map_err(|e| {
                    StoreError::Open(format!("{} after recovery: {e}", opts.path.display()))
                })?
            }
        };
        conn.busy_timeout(opts.busy_timeout).map_err(map_sqlite)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| StoreError::Open(e.to_string()))?;
        migrate(&conn)?;
        // Leftovers of a backup interrupted by a crash.
        for p in std::fs::read_dir(&opts.backup_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            if p.file_name().to_string_lossy().ends_with(".partial") {
                let _ = std::fs::remove_file(p.path());
            }
        }
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            opts,
            last_write_at_ms: AtomicU64::new(0),
            recovery,
        })
    }

    fn recover(opts: &SqliteOptions, reason: &str) -> Result<Recovery, StoreError> {
        let moved_to = with_suffix(&opts.path, &format!(".corrupt-{}", stamp()));
        std::fs::rename(&opts.path, &moved_to).map_err(|e| {
            StoreError::Open(format!(
                "{} is unreadable ({reason}) and could not be moved aside: {e}",
                opts.path.display()
            ))
        })?;
        for side in ["-wal", "-shm"] {
            let p = with_suffix(&opts.path, side);
            if p.exists() {
                let _ = std::fs::rename(&p, with_suffix(&moved_to, side));
            }
        }
        for backup in list_backups(&opts.backup_dir) {
            if let Err(e) = open_checked(&backup, OpenFlags::SQLITE_OPEN_READ_ONLY) {
                tracing::warn!(backup = %backup.display(), error = %e, "skipping a bad backup");
                continue;
            }
            let tmp = with_suffix(&opts.path, ".restoring");
            let restored =
                std::fs::copy(&backup, &tmp).and_then(|_| std::fs::rename(&tmp, &opts.path));
            match restored {
                Ok(()) => {
                    tracing::warn!(
                        database = %opts.path.display(),
                        moved_to = %moved_to.display(),
                        restored_from = %backup.display(),
                        reason,
                        "!!! THE PLAYER DATABASE WAS UNREADABLE: it was moved aside and the newest good backup was restored; players saved after that backup are lost"
                    );
                    return Ok(Recovery::Restored {
                        moved_to,
                        restored_from: backup,
                    });
                }
                Err(e) => {
                    tracing::warn!(backup = %backup.display(), error = %e, "could not restore a backup");
                }
            }
        }
        tracing::warn!(
            database = %opts.path.display(),
            moved_to = %moved_to.display(),
            reason,
            "!!! THE PLAYER DATABASE WAS UNREADABLE and no good backup exists: it was moved aside and Encore starts with no saved players"
        );
        Ok(Recovery::StartedEmpty { moved_to })
    }

    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    pub fn path(&self) -> &Path {
        &self.opts.path
    }

    fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
        conn.lock().unwrap_or_else(|p| p.into_inner())
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

    /// An online backup into the backup directory (`VACUUM INTO` a temporary file, then an atomic
    /// rename), keeping the newest `max_backups`. Runs on its own connection, so saves go on.
    /// Blocking: call from `spawn_blocking` in async code.
    pub fn backup_now_blocking(opts: &SqliteOptions) -> Result<PathBuf, StoreError> {
        std::fs::create_dir_all(&opts.backup_dir).map_err(|e| {
            StoreError::Backend(format!("cannot create {}: {e}", opts.backup_dir.display()))
        })?;
        let name = format!("{BACKUP_PREFIX}{}{BACKUP_SUFFIX}", stamp());
        let target = opts.backup_dir.join(&name);
        let partial = opts.backup_dir.join(format!(".{name}.partial"));
        let _ = std::fs::remove_file(&partial);
        let conn = Connection::open_with_flags(&opts.path, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(map_sqlite)?;
        conn.busy_timeout(opts.busy_timeout).map_err(map_sqlite)?;
        let partial_text = partial.to_string_lossy().to_string();
        conn.execute("VACUUM INTO ?1", params![partial_text])
            .map_err(map_sqlite)?;
        std::fs::rename(&partial, &target).map_err(err)?;
        for old in list_backups(&opts.backup_dir)
            .into_iter()
            .skip(opts.max_backups)
        {
            if let Err(e) = std::fs::remove_file(&old) {
                tracing::warn!(backup = %old.display(), error = %e, "could not remove an old backup");
            }
        }
        Ok(target)
    }

    pub async fn backup_now(&self) -> Result<PathBuf, StoreError> {
        let opts = self.opts.clone();
        tokio::task::spawn_blocking(move || Self::backup_now_blocking(&opts))
            .await
            .map_err(err)?
    }
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::Open(format!("schema migration failed: {e}"));
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(open_err)?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= current {
            continue;
        }
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {version}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            open_err(e)
        })?;
    }
    Ok(())
}

fn opt_id(v: Option<u64>) -> Option<i64> {
    v.map(|x| x as i64)
}

fn state_params(s: &PlayerState) -> ([rusqlite::types::Value; 9], u64) {
    use rusqlite::types::Value;
    let id = |v: Option<u64>| opt_id(v).map(Value::Integer).unwrap_or(Value::Null);
    let loop_mode = s.loop_mode.as_str();
    let filters = s.filters.as_str();
    let bytes = 8 * 8 + loop_mode.len() as u64 + filters.len() as u64;
    (
        [
            id(s.voice_channel_id),
            id(s.text_channel_id),
            Value::Integer(s.position_ms as i64),
            Value::Integer(s.position_at_ms as i64),
            Value::Integer(i64::from(s.paused)),
            Value::Integer(i64::from(s.volume)),
            Value::Text(loop_mode.to_string()),
            Value::Text(filters.to_string()),
            Value::Integer(s.taken_at_ms as i64),
        ],
        bytes,
    )
}

fn save_batch(conn: &mut Connection, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
    let tx = conn.transaction().map_err(map_sqlite)?;
    let mut bytes = 0u64;
    {
        let mut upsert_player = tx
            .prepare_cached(
                "INSERT INTO players (voice_channel_id, text_channel_id, position_ms, position_at_ms,
                     paused, volume, loop_mode, filters, taken_at_ms, guild_id, schema_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(guild_id) DO UPDATE SET
                     voice_channel_id = excluded.voice_channel_id, text_channel_id = excluded.text_channel_id,
                     position_ms = excluded.position_ms, position_at_ms = excluded.position_at_ms,
                     paused = excluded.paused, volume = excluded.volume, loop_mode = excluded.loop_mode,
                     filters = excluded.filters, taken_at_ms = excluded.taken_at_ms,
                     schema_version = excluded.schema_version",
            )
            .map_err(map_sqlite)?;
        let mut upsert_queue = tx
            .prepare_cached(
                "INSERT INTO queues (guild_id, current, upcoming, history) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(guild_id) DO UPDATE SET
                     current = excluded.current, upcoming = excluded.upcoming, history = excluded.history",
            )
            .map_err(map_sqlite)?;
        let mut update_state = tx
            .prepare_cached(
                "UPDATE players SET voice_channel_id = ?1, text_channel_id = ?2, position_ms = ?3,
                     position_at_ms = ?4, paused = ?5, volume = ?6, loop_mode = ?7, filters = ?8,
                     taken_at_ms = ?9
                 WHERE guild_id = ?10",
            )
            .map_err(map_sqlite)?;
        let mut delete_queue = tx
            .prepare_cached("DELETE FROM queues WHERE guild_id = ?1")
            .map_err(map_sqlite)?;
        let mut delete_player = tx
            .prepare_cached("DELETE FROM players WHERE guild_id = ?1")
            .map_err(map_sqlite)?;
        for op in batch {
            match op {
                SaveOp::Full { state, queue } => {
                    let (p, b) = state_params(state);
                    let gid = state.guild_id as i64;
                    let version = i64::from(crate::domain::SNAPSHOT_SCHEMA_VERSION);
                    upsert_player
                        .execute(params![
                            p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], gid, version
                        ])
                        .map_err(map_sqlite)?;
                    let current = queue
                        .current
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(err)?;
                    let upcoming = serde_json::to_string(&queue.upcoming).map_err(err)?;
                    let history = serde_json::to_string(&queue.history).map_err(err)?;
                    upsert_queue
                        .execute(params![gid, current, upcoming, history])
                        .map_err(map_sqlite)?;
                    bytes += b
                        + 16
                        + current.as_ref().map_or(0, |c| c.len() as u64)
                        + upcoming.len() as u64
                        + history.len() as u64;
                }
                SaveOp::State(state) => {
                    let (p, b) = state_params(state);
                    update_state
                        .execute(params![
                            p[0],
                            p[1],
                            p[2],
                            p[3],
                            p[4],
                            p[5],
                            p[6],
                            p[7],
                            p[8],
                            state.guild_id as i64
                        ])
                        .map_err(map_sqlite)?;
                    bytes += b + 8;
                }
                SaveOp::Delete(g) => {
                    delete_queue
                        .execute(params![*g as i64])
                        .map_err(map_sqlite)?;
                    delete_player
                        .execute(params![*g as i64])
                        .map_err(map_sqlite)?;
                    bytes += 8;
                }
            }
        }
    }
    tx.commit().map_err(map_sqlite)?;
    Ok(WriteStats {
        ops: batch.len(),
        bytes,
    })
}

const SELECT_PLAYERS: &str =
    "SELECT p.guild_id, p.schema_version, p.voice_channel_id, p.text_channel_id,
        p.position_ms, p.position_at_ms, p.paused, p.volume, p.loop_mode, p.filters, p.taken_at_ms,
        q.guild_id, q.current, q.upcoming, q.history
    FROM players p LEFT JOIN queues q ON q.guild_id = p.guild_id";

/// Decodes one row; any problem (wrong type, bad JSON, unknown version or value) is a reason to
/// skip this guild only.
fn decode_row(row: &rusqlite::Row<'_>) -> Result<PlayerSnapshot, Skipped> {
    let guild_id = row.get::<_, i64>(0).ok().map(|g| g as u64);
    let skip = |reason: String| Skipped { guild_id, reason };
    let sql = |e: rusqlite::Error| skip(format!("unreadable column: {e}"));
    let guild_id_v = guild_id.ok_or_else(|| skip("no guild id".into()))?;
    let schema_version: i64 = row.get(1).map_err(sql)?;
    let loop_text: String = row.get(8).map_err(sql)?;
    let filters_text: String = row.get(9).map_err(sql)?;
    let state = StoredState {
        guild_id: guild_id_v,
        voice_channel_id: row.get(2).map_err(sql)?,
        text_channel_id: row.get(3).map_err(sql)?,
        position_ms: row.get(4).map_err(sql)?,
        position_at_ms: row.get(5).map_err(sql)?,
        paused: row.get::<_, i64>(6).map_err(sql)? != 0,
        volume: row.get(7).map_err(sql)?,
        loop_mode: &loop_text,
        filters: &filters_text,
        taken_at_ms: row.get(10).map_err(sql)?,
    }
    .into_state()
    .map_err(skip)?;
    if row.get::<_, Option<i64>>(11).map_err(sql)?.is_none() {
        return Err(skip("its queue is missing".into()));
    }
    let json = |i: usize| -> Result<Option<String>, Skipped> { row.get(i).map_err(sql) };
    let current: Option<Track> = json(12)?
        .map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| skip(format!("current track: {e}")))?;
    let upcoming: VecDeque<Track> = serde_json::from_str(&json(13)?.unwrap_or_default())
        .map_err(|e| skip(format!("queue: {e}")))?;
    let history: VecDeque<Track> = serde_json::from_str(&json(14)?.unwrap_or_default())
        .map_err(|e| skip(format!("history: {e}")))?;
    let snapshot = PlayerSnapshot {
        schema_version: u32::try_from(schema_version).unwrap_or(u32::MAX),
        state,
        queue: QueueSnapshot {
            current,
            upcoming,
            history,
        },
    };
    snapshot.validate().map_err(|e| skip(e.to_string()))?;
    Ok(snapshot)
}

const SELECT_GUILD_CONFIGS: &str =
    "SELECT guild_id, dj_role_id, always_on, default_volume, announce_now_playing, auto_resume,
        updated_at_ms
    FROM guild_configs";

/// Decodes one `guild_configs` row; any problem is a reason to skip this guild's config only.
fn decode_config_row(row: &rusqlite::Row<'_>) -> Result<GuildConfig, Skipped> {
    let guild_id = row.get::<_, i64>(0).ok();
    let skip = |reason: String| Skipped {
        guild_id: guild_id.map(|g| g as u64),
        reason,
    };
    let sql = |e: rusqlite::Error| skip(format!("unreadable column: {e}"));
    let flag = |i: usize, name: &str| -> Result<Option<bool>, Skipped> {
        match row.get::<_, Option<i64>>(i).map_err(sql)? {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(v) => Err(skip(format!("`{name}` is {v}, not 0 or 1"))),
        }
    };
    let required = |i: usize, name: &str| -> Result<bool, Skipped> {
        flag(i, name)?.ok_or_else(|| skip(format!("`{name}` is missing")))
    };
    StoredGuildConfig {
        guild_id: guild_id.ok_or_else(|| skip("no guild id".into()))?,
        dj_role_id: row.get(1).map_err(sql)?,
        always_on: required(2, "always_on")?,
        default_volume: row.get(3).map_err(sql)?,
        announce_now_playing: required(4, "announce_now_playing")?,
        auto_resume: flag(5, "auto_resume")?,
        updated_at_ms: row.get(6).map_err(sql)?,
    }
    .into_config()
    .map_err(skip)
}

#[async_trait]
impl StateStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn save(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
        if batch.is_empty() {
            return Ok(WriteStats::default());
        }
        let batch = batch.to_vec();
        let stats = self.blocking(move |conn| save_batch(conn, &batch)).await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(stats)
    }

    async fn load_all(&self, filter: &LoadFilter) -> Result<LoadReport, StoreError> {
        let (count, shards) = match filter {
            LoadFilter::All => (0i64, "[]".to_string()),
            LoadFilter::Shards {
                shard_ids,
                shard_count,
            } => (
                i64::from((*shard_count).max(1)),
                serde_json::to_string(shard_ids).map_err(err)?,
            ),
        };
        let report = self
            .blocking(move |conn| {
                let sql = format!(
                    "{SELECT_PLAYERS} WHERE ?1 = 0 OR ((p.guild_id >> 22) % ?1) IN (SELECT value FROM json_each(?2))
                     ORDER BY p.guild_id"
                );
                let mut stmt = conn.prepare(&sql).map_err(map_sqlite)?;
                let mut rows = stmt.query(params![count, shards]).map_err(map_sqlite)?;
                let mut report = LoadReport::default();
                while let Some(row) = rows.next().map_err(map_sqlite)? {
                    match decode_row(row) {
                        Ok(s) => report.snapshots.push(s),
                        Err(s) => report.skipped.push(s),
                    }
                }
                Ok(report)
            })
            .await?;
        for s in &report.skipped {
            warn_skipped("sqlite", s);
        }
        Ok(report)
    }

    async fn load(&self, guild_id: GuildId) -> Result<Option<PlayerSnapshot>, StoreError> {
        let found = self
            .blocking(move |conn| {
                let sql = format!("{SELECT_PLAYERS} WHERE p.guild_id = ?1");
                conn.query_row(&sql, params![guild_id as i64], |row| Ok(decode_row(row)))
                    .optional()
                    .map_err(map_sqlite)
            })
            .await?;
        match found {
            None => Ok(None),
            Some(Ok(s)) => Ok(Some(s)),
            Some(Err(skipped)) => {
                warn_skipped("sqlite", &skipped);
                Ok(None)
            }
        }
    }

    async fn delete(&self, guild_id: GuildId) -> Result<bool, StoreError> {
        self.blocking(move |conn| {
            let tx = conn.transaction().map_err(map_sqlite)?;
            tx.execute(
                "DELETE FROM queues WHERE guild_id = ?1",
                params![guild_id as i64],
            )
            .map_err(map_sqlite)?;
            let n = tx
                .execute(
                    "DELETE FROM players WHERE guild_id = ?1",
                    params![guild_id as i64],
                )
                .map_err(map_sqlite)?;
            tx.commit().map_err(map_sqlite)?;
            Ok(n > 0)
        })
        .await
    }

    async fn health(&self) -> StoreHealth {
        let count = self
            .blocking(|conn| {
                conn.query_row("SELECT COUNT(*) FROM players", [], |r| r.get::<_, i64>(0))
                    .map_err(map_sqlite)
            })
            .await;
        let last = self.last_write_at_ms.load(Ordering::Relaxed);
        let (reachable, saved_players, error) = match count {
            Ok(n) => (true, Some(n.max(0) as u64), None),
            Err(e) => (false, None, Some(e.to_string())),
        };
        StoreHealth {
            backend: "sqlite",
            reachable,
            last_write_at_ms: (last > 0).then_some(last),
            saved_players,
            error,
        }
    }

    async fn save_guild_config(&self, config: &GuildConfig) -> Result<(), StoreError> {
        check_config(config)?;
        let c = StoredGuildConfig::from_config(config);
        self.blocking(move |conn| {
            conn.prepare_cached(
                "INSERT INTO guild_configs (guild_id, dj_role_id, always_on, default_volume,
                     announce_now_playing, auto_resume, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(guild_id) DO UPDATE SET
                     dj_role_id = excluded.dj_role_id, always_on = excluded.always_on,
                     default_volume = excluded.default_volume,
                     announce_now_playing = excluded.announce_now_playing,
                     auto_resume = excluded.auto_resume, updated_at_ms = excluded.updated_at_ms",
            )
            .map_err(map_sqlite)?
            .execute(params![
                c.guild_id,
                c.dj_role_id,
                i64::from(c.always_on),
                c.default_volume,
                i64::from(c.announce_now_playing),
                c.auto_resume.map(i64::from),
                c.updated_at_ms
            ])
            .map_err(map_sqlite)?;
            Ok(())
        })
        .await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }

    async fn load_guild_config(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<GuildConfig>, StoreError> {
        let found = self
            .blocking(move |conn| {
                let sql = format!("{SELECT_GUILD_CONFIGS} WHERE guild_id = ?1");
                conn.query_row(&sql, params![guild_id as i64], |row| {
                    Ok(decode_config_row(row))
                })
                .optional()
                .map_err(map_sqlite)
            })
            .await?;
        match found {
            None => Ok(None),
            Some(Ok(c)) => Ok(Some(c)),
            Some(Err(skipped)) => {
                warn_skipped_config("sqlite", &skipped);
                Ok(None)
            }
        }
    }

    async fn load_guild_configs(&self) -> Result<Vec<GuildConfig>, StoreError> {
        let decoded = self
            .blocking(|conn| {
                let mut stmt = conn.prepare(SELECT_GUILD_CONFIGS).map_err(map_sqlite)?;
                let mut rows = stmt.query([]).map_err(map_sqlite)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(map_sqlite)? {
                    out.push(decode_config_row(row));
                }
                Ok(out)
            })
            .await?;
        let mut configs = Vec::with_capacity(decoded.len());
        for d in decoded {
            match d {
                Ok(c) => configs.push(c),
                Err(skipped) => warn_skipped_config("sqlite", &skipped),
            }
        }
        configs.sort_by_key(|c| c.guild_id);
        Ok(configs)
    }

    async fn load_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        let name = name.to_string();
        self.blocking(move |conn| {
            conn.query_row(
                "SELECT version, body FROM leases WHERE name = ?1",
                params![name],
                |row| {
                    Ok(LeaseRecord {
                        version: row.get::<_, i64>(0)? as u64,
                        body: row.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(map_sqlite)
        })
        .await
    }

    async fn swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError> {
        let (name, body) = (name.to_string(), body.to_string());
        self.blocking(move |conn| {
            let changed = match expected {
                None => conn
                    .execute(
                        "INSERT INTO leases (name, version, body) VALUES (?1, 1, ?2)
                         ON CONFLICT(name) DO NOTHING",
                        params![name, body],
                    )
                    .map_err(map_sqlite)?,
                Some(v) => conn
                    .execute(
                        "UPDATE leases SET version = version + 1, body = ?3
                         WHERE name = ?1 AND version = ?2",
                        params![name, v as i64, body],
                    )
                    .map_err(map_sqlite)?,
            };
            Ok(changed == 1)
        })
        .await
    }
}
