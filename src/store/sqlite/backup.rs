//! Online backups into the backup directory, and finding them again.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags};

use super::{err, map_sqlite, SqliteOptions, SqliteStore};
use crate::store::StoreError;

const BACKUP_PREFIX: &str = "encore-";
const BACKUP_SUFFIX: &str = ".db";

pub(super) fn stamp() -> String {
    // 2026-11-23T21:07:13.123Z -> 20261123T210713123Z: sorts by time as text.
    humantime::format_rfc3339_millis(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
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
