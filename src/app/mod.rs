//! Start-up ([`startup`], the composition root) and the operator subcommands (`encore check`:
//! `check.rs`). `main.rs` only parses the command line and calls these.

mod check;
pub mod startup;

pub use check::{check, print_check, CheckLine, Verdict};
pub use startup::{run, Application};

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::{now_ms, PlayerSnapshot};
use crate::lease::{Instance, LeaseHandle};
use crate::settings::{Settings, SettingsError, ShardPlan, StorageKind};
use crate::store::{self, LoadFilter, SaveOp, SqliteOptions, SqliteStore, StateStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(String),
    #[error("the import file is not an Encore export: {0}")]
    BadImport(String),
    #[error("`encore backup` works with STORAGE=sqlite only (STORAGE is {0}); MongoDB has its own backup tools")]
    BackupNeedsSqlite(&'static str),
    #[error("the check found problems")]
    CheckFailed,
    #[error("{0}")]
    Discord(String),
    #[error(transparent)]
    Health(#[from] crate::health::HealthError),
}

impl AppError {
    /// 2 for a configuration problem, 1 for anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Settings(_) | AppError::Health(_) => 2,
            _ => 1,
        }
    }
}

/// The format written by `encore export`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Export {
    pub format: String,
    pub version: u32,
    pub exported_at_ms: u64,
    pub players: Vec<serde_json::Value>,
    /// Per-guild settings; absent in exports made before they existed.
    #[serde(default)]
    pub guild_configs: Vec<serde_json::Value>,
}

pub const EXPORT_FORMAT: &str = "encore-players";

/// The lease instances of this bot share (see [`crate::lease`]) when each runs every shard.
pub const LEASE_NAME: &str = "encore";

/// The lease of the processes that run `shards`: instances of the same shards (old and new
/// during a deploy) hand over to each other; processes of other shards never meet them.
pub fn lease_name(shards: ShardPlan) -> String {
    match shards {
        ShardPlan::Range { first, last, count } if shards.is_partial() => {
            format!("{LEASE_NAME}:shards-{first}-{last}-of-{count}")
        }
        _ => LEASE_NAME.to_string(),
    }
}

/// This process's part in the lease, not yet taking part (see [`LeaseHandle::start`]).
pub fn new_lease(settings: &Settings, store: Arc<dyn StateStore>) -> LeaseHandle {
    LeaseHandle::new(
        store,
        &lease_name(settings.shards),
        Instance::new_process(),
        settings.lease_ttl,
    )
}

/// The SQLite backup at start and every `BACKUP_INTERVAL`, in the background.
pub(crate) fn start_backups(settings: &Settings) -> Option<tokio::task::JoinHandle<()>> {
    if settings.storage != StorageKind::Sqlite {
        return None;
    }
    let opts = SqliteOptions::from_settings(&settings.sqlite);
    let interval = settings.sqlite.backup_interval;
    Some(tokio::spawn(async move {
        loop {
            let o = opts.clone();
            match tokio::task::spawn_blocking(move || SqliteStore::backup_now_blocking(&o)).await {
                Ok(Ok(path)) => tracing::info!(backup = %path.display(), "SQLite backup written"),
                Ok(Err(e)) => tracing::warn!(error = %e, "SQLite backup failed"),
                Err(e) => tracing::warn!(error = %e, "SQLite backup task failed"),
            }
            match interval {
                Some(i) => tokio::time::sleep(i).await,
                None => return,
            }
        }
    }))
}

/// `encore backup`.
pub async fn backup(settings: &Settings) -> Result<std::path::PathBuf, AppError> {
    if settings.storage != StorageKind::Sqlite {
        return Err(AppError::BackupNeedsSqlite(settings.storage.as_str()));
    }
    // Opening first checks (and if needed repairs) the database and applies migrations.
    let store = store::open_from_settings(settings).await?;
    drop(store);
    let opts = SqliteOptions::from_settings(&settings.sqlite);
    let path = tokio::task::spawn_blocking(move || SqliteStore::backup_now_blocking(&opts))
        .await
        .map_err(|e| AppError::Io(e.to_string()))??;
    Ok(path)
}

/// `encore export`: every readable saved player as JSON.
pub async fn export(settings: &Settings, output: Option<&Path>) -> Result<usize, AppError> {
    let store = store::open_from_settings(settings).await?;
    let report = store.load_all(&LoadFilter::All).await?;
    let players = report
        .snapshots
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::Io(e.to_string()))?;
    let count = players.len();
    // The guild configs ride along; the returned count stays the players'.
    let guild_configs = store
        .load_guild_configs()
        .await?
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::Io(e.to_string()))?;
    let export = Export {
        format: EXPORT_FORMAT.into(),
        version: 1,
        exported_at_ms: now_ms(),
        players,
        guild_configs,
    };
    let text = serde_json::to_string_pretty(&export).map_err(|e| AppError::Io(e.to_string()))?;
    match output {
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}").map_err(|e| AppError::Io(e.to_string()))?;
        }
        Some(path) => write_atomically(path, text.as_bytes())?,
    }
    if !report.skipped.is_empty() {
        tracing::warn!(
            skipped = report.skipped.len(),
            "unreadable saved players were left out of the export"
        );
    }
    Ok(count)
}

/// Writes a file through a temporary file and a rename, so a crash never leaves half of it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let io = |e: std::io::Error| AppError::Io(format!("cannot write {}: {e}", path.display()));
    let tmp = path.with_extension("partial");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// What `encore import` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub skipped: usize,
}

/// `encore import`: reads an export and saves every valid player (invalid ones are skipped with a
/// warning; nothing already saved is lost on a bad file).
pub async fn import(settings: &Settings, file: &Path) -> Result<ImportReport, AppError> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(|e| AppError::Io(e.to_string()))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| AppError::Io(format!("cannot read {}: {e}", file.display())))?
    };
    let export: Export =
        serde_json::from_str(&text).map_err(|e| AppError::BadImport(e.to_string()))?;
    if export.format != EXPORT_FORMAT || export.version != 1 {
        return Err(AppError::BadImport(format!(
            "format `{}` version {}, expected `{EXPORT_FORMAT}` version 1",
            export.format, export.version
        )));
    }
    let mut ops = Vec::with_capacity(export.players.len());
    let mut skipped = 0;
    for (i, value) in export.players.into_iter().enumerate() {
        let parsed = serde_json::from_value::<PlayerSnapshot>(value)
            .map_err(|e| e.to_string())
            .and_then(|s| s.validate().map(|_| s).map_err(|e| e.to_string()));
        match parsed {
            Ok(s) => ops.push(SaveOp::Full {
                state: s.state,
                queue: Arc::new(s.queue),
            }),
            Err(reason) => {
                skipped += 1;
                tracing::warn!(
                    entry = i + 1,
                    reason,
                    "skipping an unreadable player in the import"
                );
            }
        }
    }
    // Guild configs too (an export made before them has none); invalid ones count as skipped.
    let mut configs = Vec::with_capacity(export.guild_configs.len());
    for (i, value) in export.guild_configs.into_iter().enumerate() {
        let parsed = serde_json::from_value::<crate::domain::GuildConfig>(value)
            .map_err(|e| e.to_string())
            .and_then(|c| c.validate().map(|_| c).map_err(|e| e.to_string()));
        match parsed {
            Ok(c) => configs.push(c),
            Err(reason) => {
                skipped += 1;
                tracing::warn!(
                    entry = i + 1,
                    reason,
                    "skipping an unreadable guild config in the import"
                );
            }
        }
    }
    let store = store::open_from_settings(settings).await?;
    for chunk in ops.chunks(500) {
        store.save(chunk).await?;
    }
    for config in &configs {
        store.save_guild_config(config).await?;
    }
    if !configs.is_empty() {
        tracing::info!(guild_configs = configs.len(), "guild configs imported");
    }
    Ok(ImportReport {
        imported: ops.len(),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shard_range_has_its_own_lease() {
        assert_eq!(lease_name(ShardPlan::Auto), "encore");
        let all = ShardPlan::Range {
            first: 0,
            last: 3,
            count: 4,
        };
        assert_eq!(
            lease_name(all),
            "encore",
            "every shard: the one process's lease"
        );
        let part = ShardPlan::Range {
            first: 2,
            last: 3,
            count: 4,
        };
        assert_eq!(lease_name(part), "encore:shards-2-3-of-4");
    }
}
