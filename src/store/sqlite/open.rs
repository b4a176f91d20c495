//! Opening the database: the integrity check and, for a damaged file, recovery from a backup.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use super::backup::{list_backups, stamp, with_suffix};
use super::schema::{migrate, SCHEMA_VERSION};
use super::{map_sqlite, Recovery, SqliteOptions, SqliteStore};
use crate::store::StoreError;

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
}
