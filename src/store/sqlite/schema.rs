//! The schema: the migrations, keyed on `PRAGMA user_version`.

use rusqlite::Connection;

use crate::store::StoreError;

/// The newest schema this build knows; `user_version` holds the applied one.
pub(super) const SCHEMA_VERSION: i64 = 6;

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
    // 5: queues in chunks (`store::chunks`), so a change writes what changed, not the queue:
    // `queue_chunks` holds the tracks, a JSON array of at most 64 each, never changed once
    // written; `queues.upcoming_chunks` and `history_chunks` list a player's chunks in order, as
    // JSON `[[chunk id, tracks in it], ...]`. Each list of schema 4 becomes one chunk (a later
    // change splits it); a list that is not a JSON array is kept as it was, as a chunk said to
    // hold no track, so that player is still skipped as unreadable rather than loaded empty.
    "CREATE TABLE queue_chunks (
        id        INTEGER PRIMARY KEY,
        guild_id  INTEGER NOT NULL REFERENCES players(guild_id) ON DELETE CASCADE,
        tracks    TEXT NOT NULL
    );
    CREATE INDEX queue_chunks_by_guild ON queue_chunks (guild_id);
    DELETE FROM queues WHERE guild_id NOT IN (SELECT guild_id FROM players);
    CREATE TEMP TABLE q5 AS SELECT guild_id, row_number() OVER (ORDER BY guild_id) AS n,
        upcoming, CASE WHEN NOT json_valid(upcoming) THEN -1
            WHEN json_type(upcoming) <> 'array' THEN -1
            ELSE json_array_length(upcoming) END AS upcoming_len,
        history, CASE WHEN NOT json_valid(history) THEN -1
            WHEN json_type(history) <> 'array' THEN -1
            ELSE json_array_length(history) END AS history_len
        FROM queues;
    INSERT INTO queue_chunks (id, guild_id, tracks)
        SELECT 2 * n - 1, guild_id, upcoming FROM q5 WHERE upcoming_len <> 0;
    INSERT INTO queue_chunks (id, guild_id, tracks)
        SELECT 2 * n, guild_id, history FROM q5 WHERE history_len <> 0;
    UPDATE queues SET
        upcoming = (SELECT CASE WHEN upcoming_len = 0 THEN '[]'
            ELSE json_array(json_array(2 * n - 1, max(upcoming_len, 0))) END
            FROM q5 WHERE q5.guild_id = queues.guild_id),
        history = (SELECT CASE WHEN history_len = 0 THEN '[]'
            ELSE json_array(json_array(2 * n, max(history_len, 0))) END
            FROM q5 WHERE q5.guild_id = queues.guild_id);
    DROP TABLE q5;
    ALTER TABLE queues RENAME COLUMN upcoming TO upcoming_chunks;
    ALTER TABLE queues RENAME COLUMN history TO history_chunks;",
    // 6: autoplay (`players.autoplay`, the JSON of `domain::Autoplay`; NULL: off), the server
    // settings for autoplay and vote-skip, and `played`: what each guild played (a JSON
    // `domain::Track` each), newest by `id`, independent of `players` (no foreign key), so a
    // stopped player's guild keeps its history.
    "ALTER TABLE players ADD COLUMN autoplay TEXT;
    ALTER TABLE guild_configs ADD COLUMN autoplay INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE guild_configs ADD COLUMN vote_skip_percent INTEGER NOT NULL DEFAULT 50;
    CREATE TABLE played (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id      INTEGER NOT NULL,
        played_at_ms  INTEGER NOT NULL,
        track         TEXT NOT NULL
    );
    CREATE INDEX played_by_guild ON played (guild_id, id);",
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
