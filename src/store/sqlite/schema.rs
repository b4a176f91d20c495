//! The schema: the migrations, keyed on `PRAGMA user_version`.

use rusqlite::Connection;

use crate::store::StoreError;

/// The newest schema this build knows; `user_version` holds the applied one.
pub(super) const SCHEMA_VERSION: i64 = 4;

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
    // 4: why a player is paused (`PauseReason::as_str`; NULL while it plays), and whether nobody
    // hears it (`PlayerState::stalled`: its position stands still). Paused players of schema 3
    // were paused by a member: that is all `paused` could mean.
    "ALTER TABLE players ADD COLUMN pause_reason TEXT;
    ALTER TABLE players ADD COLUMN stalled INTEGER NOT NULL DEFAULT 0;
    UPDATE players SET pause_reason = 'member' WHERE paused != 0;",
];

pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
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
