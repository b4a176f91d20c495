//! Saved players: the `players` and `queues` tables, written in one transaction per batch.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use rusqlite::{params, CachedStatement, Connection, OptionalExtension, Transaction};

use super::{err, map_sqlite, SqliteStore};
use crate::domain::{now_ms, GuildId, PlayerSnapshot, PlayerState, QueueSnapshot, Track};
use crate::store::{
    warn_skipped, LoadFilter, LoadReport, SaveOp, Skipped, StoreError, StoredState, WriteStats,
};

fn opt_id(v: Option<u64>) -> Option<i64> {
    v.map(|x| x as i64)
}

fn state_params(s: &PlayerState) -> ([rusqlite::types::Value; 11], u64) {
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
            s.pause_reason
                .map_or(Value::Null, |r| Value::Text(r.as_str().to_string())),
            Value::Integer(i64::from(s.stalled)),
        ],
        bytes,
    )
}

/// The statements a save batch uses, prepared (from the cache) once per transaction.
struct BatchStatements<'c> {
    upsert_player: CachedStatement<'c>,
    upsert_queue: CachedStatement<'c>,
    update_state: CachedStatement<'c>,
    delete_queue: CachedStatement<'c>,
    delete_player: CachedStatement<'c>,
}

impl<'c> BatchStatements<'c> {
    fn prepare(tx: &'c Transaction<'_>) -> Result<Self, StoreError> {
        let upsert_player = tx
            .prepare_cached(
                "INSERT INTO players (voice_channel_id, text_channel_id, position_ms, position_at_ms,
                     paused, volume, loop_mode, filters, taken_at_ms, pause_reason, stalled,
                     guild_id, schema_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(guild_id) DO UPDATE SET
                     voice_channel_id = excluded.voice_channel_id, text_channel_id = excluded.text_channel_id,
                     position_ms = excluded.position_ms, position_at_ms = excluded.position_at_ms,
                     paused = excluded.paused, volume = excluded.volume, loop_mode = excluded.loop_mode,
                     filters = excluded.filters, taken_at_ms = excluded.taken_at_ms,
                     pause_reason = excluded.pause_reason, stalled = excluded.stalled,
                     schema_version = excluded.schema_version",
            )
            .map_err(map_sqlite)?;
        let upsert_queue = tx
            .prepare_cached(
                "INSERT INTO queues (guild_id, current, upcoming, history) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(guild_id) DO UPDATE SET
                     current = excluded.current, upcoming = excluded.upcoming, history = excluded.history",
            )
            .map_err(map_sqlite)?;
        let update_state = tx
            .prepare_cached(
                "UPDATE players SET voice_channel_id = ?1, text_channel_id = ?2, position_ms = ?3,
                     position_at_ms = ?4, paused = ?5, volume = ?6, loop_mode = ?7, filters = ?8,
                     taken_at_ms = ?9, pause_reason = ?10, stalled = ?11
                 WHERE guild_id = ?12",
            )
            .map_err(map_sqlite)?;
        let delete_queue = tx
            .prepare_cached("DELETE FROM queues WHERE guild_id = ?1")
            .map_err(map_sqlite)?;
        let delete_player = tx
            .prepare_cached("DELETE FROM players WHERE guild_id = ?1")
            .map_err(map_sqlite)?;
        Ok(BatchStatements {
            upsert_player,
            upsert_queue,
            update_state,
            delete_queue,
            delete_player,
        })
    }

    /// Applies one change; returns the payload bytes it wrote.
    fn apply(&mut self, op: &SaveOp) -> Result<u64, StoreError> {
        let mut bytes = 0u64;
        match op {
            SaveOp::Full { state, queue } => {
                let (p, b) = state_params(state);
                let gid = state.guild_id as i64;
                let version = i64::from(crate::domain::SNAPSHOT_SCHEMA_VERSION);
                self.upsert_player
                    .execute(rusqlite::params_from_iter(p.iter().chain(&[
                        rusqlite::types::Value::Integer(gid),
                        rusqlite::types::Value::Integer(version),
                    ])))
                    .map_err(map_sqlite)?;
                let current = queue
                    .current
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(err)?;
                let upcoming = serde_json::to_string(&queue.upcoming).map_err(err)?;
                let history = serde_json::to_string(&queue.history).map_err(err)?;
                self.upsert_queue
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
                let gid = rusqlite::types::Value::Integer(state.guild_id as i64);
                self.update_state
                    .execute(rusqlite::params_from_iter(p.iter().chain([&gid])))
                    .map_err(map_sqlite)?;
                bytes += b + 8;
            }
            SaveOp::Delete(g) => {
                self.delete_queue
                    .execute(params![*g as i64])
                    .map_err(map_sqlite)?;
                self.delete_player
                    .execute(params![*g as i64])
                    .map_err(map_sqlite)?;
                bytes += 8;
            }
        }
        Ok(bytes)
    }
}

fn save_batch(conn: &mut Connection, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
    let tx = conn.transaction().map_err(map_sqlite)?;
    let mut bytes = 0u64;
    {
        let mut statements = BatchStatements::prepare(&tx)?;
        for op in batch {
            bytes += statements.apply(op)?;
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
        q.guild_id, q.current, q.upcoming, q.history, p.pause_reason, p.stalled
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
    let pause_reason: Option<String> = row.get(15).map_err(sql)?;
    let state = StoredState {
        guild_id: guild_id_v,
        voice_channel_id: row.get(2).map_err(sql)?,
        text_channel_id: row.get(3).map_err(sql)?,
        position_ms: row.get(4).map_err(sql)?,
        position_at_ms: row.get(5).map_err(sql)?,
        paused: row.get::<_, i64>(6).map_err(sql)? != 0,
        pause_reason: pause_reason.as_deref(),
        stalled: row.get::<_, i64>(16).map_err(sql)? != 0,
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

impl SqliteStore {
    /// [`StateStore::save`](crate::store::StateStore::save): the whole batch in one transaction.
    pub(super) async fn save_players(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
        if batch.is_empty() {
            return Ok(WriteStats::default());
        }
        let batch = batch.to_vec();
        let stats = self.blocking(move |conn| save_batch(conn, &batch)).await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(stats)
    }

    pub(super) async fn load_players(&self, filter: &LoadFilter) -> Result<LoadReport, StoreError> {
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

    pub(super) async fn load_player(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<PlayerSnapshot>, StoreError> {
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

    pub(super) async fn delete_player(&self, guild_id: GuildId) -> Result<bool, StoreError> {
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
}
