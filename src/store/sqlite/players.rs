//! Saved players: the `players`, `queues` and `queue_chunks` tables, written in one transaction
//! per batch. A queue change writes the chunks that changed (`store::chunks`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use rusqlite::{params, CachedStatement, Connection, OptionalExtension, Transaction};

use super::{err, map_sqlite, SqliteStore};
use crate::domain::{now_ms, Autoplay, GuildId, PlayerSnapshot, PlayerState, QueueSnapshot, Track};
use crate::store::chunks::{plan_list, Chunk, Piece, QueueChunks};
use crate::store::{
    warn_skipped, LoadFilter, LoadReport, SaveOp, Skipped, StoreError, StoredState, WriteStats,
};

fn opt_id(v: Option<u64>) -> Option<i64> {
    v.map(|x| x as i64)
}

fn state_params(s: &PlayerState) -> ([rusqlite::types::Value; 12], u64) {
    use rusqlite::types::Value;
    let id = |v: Option<u64>| opt_id(v).map(Value::Integer).unwrap_or(Value::Null);
    let loop_mode = s.loop_mode.as_str();
    let filters = s.filters.as_str();
    // NULL while off without a seed: what records saved before autoplay read as.
    let autoplay = (s.autoplay != Autoplay::default())
        .then(|| serde_json::to_string(&s.autoplay).ok())
        .flatten();
    let bytes = 8 * 8
        + loop_mode.len() as u64
        + filters.len() as u64
        + autoplay.as_ref().map_or(0, |a| a.len() as u64);
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
            autoplay.map_or(Value::Null, Value::Text),
        ],
        bytes,
    )
}

/// A player's saved autoplay; an unreadable one (a newer build's) reads as off, logged: the
/// rest of the player is still restored.
fn read_autoplay(guild: u64, text: Option<&str>) -> Autoplay {
    let Some(text) = text else {
        return Autoplay::default();
    };
    serde_json::from_str(text).unwrap_or_else(|e| {
        tracing::warn!(backend = "sqlite", guild, error = %e, "unreadable autoplay state; reading it as off");
        Autoplay::default()
    })
}

/// A list's chunks as `queues` lists them: JSON `[[chunk id, tracks in it], ...]`.
fn layout_text(chunks: &[Chunk<i64>]) -> String {
    let pairs: Vec<(i64, usize)> = chunks.iter().map(|c| (c.id, c.len)).collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

fn parse_layout(text: &str) -> Result<Vec<Chunk<i64>>, String> {
    let pairs: Vec<(i64, i64)> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(pairs
        .into_iter()
        .map(|(id, len)| Chunk {
            id,
            len: len.max(0) as usize,
        })
        .collect())
}

/// The statements a save batch uses, prepared (from the cache) once per transaction.
struct BatchStatements<'c> {
    upsert_player: CachedStatement<'c>,
    upsert_queue: CachedStatement<'c>,
    select_layout: CachedStatement<'c>,
    insert_chunk: CachedStatement<'c>,
    delete_chunk: CachedStatement<'c>,
    delete_chunks: CachedStatement<'c>,
    update_state: CachedStatement<'c>,
    delete_queue: CachedStatement<'c>,
    delete_player: CachedStatement<'c>,
}

impl<'c> BatchStatements<'c> {
    fn prepare(tx: &'c Transaction<'_>) -> Result<Self, StoreError> {
        let prepare = |sql: &str| tx.prepare_cached(sql).map_err(map_sqlite);
        Ok(BatchStatements {
            upsert_player: prepare(
                "INSERT INTO players (voice_channel_id, text_channel_id, position_ms, position_at_ms,
                     paused, volume, loop_mode, filters, taken_at_ms, pause_reason, stalled,
                     autoplay, guild_id, schema_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT(guild_id) DO UPDATE SET
                     voice_channel_id = excluded.voice_channel_id, text_channel_id = excluded.text_channel_id,
                     position_ms = excluded.position_ms, position_at_ms = excluded.position_at_ms,
                     paused = excluded.paused, volume = excluded.volume, loop_mode = excluded.loop_mode,
                     filters = excluded.filters, taken_at_ms = excluded.taken_at_ms,
                     pause_reason = excluded.pause_reason, stalled = excluded.stalled,
                     autoplay = excluded.autoplay, schema_version = excluded.schema_version",
            )?,
            upsert_queue: prepare(
                "INSERT INTO queues (guild_id, current, upcoming_chunks, history_chunks)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(guild_id) DO UPDATE SET current = excluded.current,
                     upcoming_chunks = excluded.upcoming_chunks, history_chunks = excluded.history_chunks",
            )?,
            select_layout: prepare(
                "SELECT upcoming_chunks, history_chunks FROM queues WHERE guild_id = ?1",
            )?,
            insert_chunk: prepare("INSERT INTO queue_chunks (guild_id, tracks) VALUES (?1, ?2)")?,
            delete_chunk: prepare("DELETE FROM queue_chunks WHERE id = ?1")?,
            delete_chunks: prepare("DELETE FROM queue_chunks WHERE guild_id = ?1")?,
            update_state: prepare(
                "UPDATE players SET voice_channel_id = ?1, text_channel_id = ?2, position_ms = ?3,
                     position_at_ms = ?4, paused = ?5, volume = ?6, loop_mode = ?7, filters = ?8,
                     taken_at_ms = ?9, pause_reason = ?10, stalled = ?11, autoplay = ?12
                 WHERE guild_id = ?13",
            )?,
            delete_queue: prepare("DELETE FROM queues WHERE guild_id = ?1")?,
            delete_player: prepare("DELETE FROM players WHERE guild_id = ?1")?,
        })
    }

    /// Applies one change; returns the payload bytes it wrote.
    fn apply(&mut self, op: &SaveOp) -> Result<u64, StoreError> {
        match op {
            SaveOp::Full { state, queue } => {
                let bytes = self.upsert_player(state)?;
                self.delete_chunks
                    .execute(params![state.guild_id as i64])
                    .map_err(map_sqlite)?;
                Ok(bytes + self.write_queue(state.guild_id, None, None, queue)?)
            }
            SaveOp::Edit { state, base, queue } => {
                let bytes = self.upsert_player(state)?;
                let gid = state.guild_id as i64;
                let saved: Option<(String, String)> = self
                    .select_layout
                    .query_row(params![gid], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(map_sqlite)?;
                let layouts =
                    saved.and_then(|(u, h)| Some((parse_layout(&u).ok()?, parse_layout(&h).ok()?)));
                if layouts.is_none() {
                    self.delete_chunks
                        .execute(params![gid])
                        .map_err(map_sqlite)?;
                }
                Ok(bytes + self.write_queue(state.guild_id, layouts, Some(base), queue)?)
            }
            SaveOp::State(state) => {
                let (p, b) = state_params(state);
                let gid = rusqlite::types::Value::Integer(state.guild_id as i64);
                self.update_state
                    .execute(rusqlite::params_from_iter(p.iter().chain([&gid])))
                    .map_err(map_sqlite)?;
                Ok(b + 8)
            }
            SaveOp::Delete(g) => {
                for statement in [
                    &mut self.delete_chunks,
                    &mut self.delete_queue,
                    &mut self.delete_player,
                ] {
                    statement.execute(params![*g as i64]).map_err(map_sqlite)?;
                }
                Ok(8)
            }
        }
    }

    fn upsert_player(&mut self, state: &PlayerState) -> Result<u64, StoreError> {
        let (p, b) = state_params(state);
        let version = i64::from(crate::domain::SNAPSHOT_SCHEMA_VERSION);
        self.upsert_player
            .execute(rusqlite::params_from_iter(p.iter().chain(&[
                rusqlite::types::Value::Integer(state.guild_id as i64),
                rusqlite::types::Value::Integer(version),
            ])))
            .map_err(map_sqlite)?;
        Ok(b + 8)
    }

    /// Writes the guild's queue: the chunks of its upcoming tracks and history that changed from
    /// `base` given the chunks saved (`saved`: upcoming, history), and its `queues` row.
    fn write_queue(
        &mut self,
        guild_id: GuildId,
        saved: Option<QueueChunks<i64>>,
        base: Option<&QueueSnapshot>,
        queue: &QueueSnapshot,
    ) -> Result<u64, StoreError> {
        let gid = guild_id as i64;
        let (saved_upcoming, saved_history) = saved.unwrap_or_default();
        let mut bytes = 0u64;
        let mut layouts = Vec::with_capacity(2);
        for (saved, base, list) in [
            (&saved_upcoming, base.map(|b| &b.upcoming), &queue.upcoming),
            (&saved_history, base.map(|b| &b.history), &queue.history),
        ] {
            let plan = plan_list(saved, base, list);
            for id in &plan.dropped {
                self.delete_chunk.execute(params![id]).map_err(map_sqlite)?;
            }
            let mut layout = Vec::with_capacity(plan.pieces.len());
            for piece in plan.pieces {
                match piece {
                    Piece::Keep(c) => layout.push(c),
                    Piece::Write(r) => {
                        let len = r.len();
                        let tracks: Vec<&Track> = list.range(r).collect();
                        let text = serde_json::to_string(&tracks).map_err(err)?;
                        let id = self
                            .insert_chunk
                            .insert(params![gid, text])
                            .map_err(map_sqlite)?;
                        bytes += 16 + text.len() as u64;
                        layout.push(Chunk { id, len });
                    }
                }
            }
            layouts.push(layout_text(&layout));
        }
        let current = queue
            .current
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(err)?;
        self.upsert_queue
            .execute(params![gid, current, layouts[0], layouts[1]])
            .map_err(map_sqlite)?;
        bytes += 8
            + current.as_ref().map_or(0, |c| c.len() as u64)
            + layouts.iter().map(|l| l.len() as u64).sum::<u64>();
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
        q.guild_id, q.current, q.upcoming_chunks, q.history_chunks, p.pause_reason, p.stalled,
        p.autoplay
    FROM players p LEFT JOIN queues q ON q.guild_id = p.guild_id";

const SELECT_CHUNKS: &str = "SELECT id, tracks FROM queue_chunks WHERE guild_id = ?1";

/// One list of a saved queue from its layout (`[[chunk id, tracks in it], ...]`) and the guild's
/// chunks; the error is the reason to skip the guild.
fn read_list(layout: &str, chunks: &HashMap<i64, String>) -> Result<VecDeque<Track>, String> {
    let mut list = VecDeque::new();
    for c in parse_layout(layout)? {
        let text = chunks
            .get(&c.id)
            .ok_or_else(|| format!("chunk {} is missing", c.id))?;
        let tracks: Vec<Track> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if tracks.len() != c.len {
            return Err(format!(
                "chunk {} holds {} tracks, not {}",
                c.id,
                tracks.len(),
                c.len
            ));
        }
        list.extend(tracks);
    }
    Ok(list)
}

/// Decodes one row, reading its queue's chunks with `chunks`; any problem (wrong type, bad JSON,
/// a missing chunk, unknown version or value) is a reason to skip this guild only.
fn decode_row(
    row: &rusqlite::Row<'_>,
    chunks: &mut CachedStatement<'_>,
) -> Result<PlayerSnapshot, Skipped> {
    let guild_id = row.get::<_, i64>(0).ok().map(|g| g as u64);
    let skip = |reason: String| Skipped { guild_id, reason };
    let sql = |e: rusqlite::Error| skip(format!("unreadable column: {e}"));
    let guild_id_v = guild_id.ok_or_else(|| skip("no guild id".into()))?;
    let schema_version: i64 = row.get(1).map_err(sql)?;
    let loop_text: String = row.get(8).map_err(sql)?;
    let filters_text: String = row.get(9).map_err(sql)?;
    let pause_reason: Option<String> = row.get(15).map_err(sql)?;
    let autoplay: Option<String> = row.get(17).map_err(sql)?;
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
        autoplay: read_autoplay(guild_id_v, autoplay.as_deref()),
        taken_at_ms: row.get(10).map_err(sql)?,
    }
    .into_state()
    .map_err(skip)?;
    if row.get::<_, Option<i64>>(11).map_err(sql)?.is_none() {
        return Err(skip("its queue is missing".into()));
    }
    let current: Option<Track> = row
        .get::<_, Option<String>>(12)
        .map_err(sql)?
        .map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| skip(format!("current track: {e}")))?;
    let layout = |i: usize| -> Result<String, Skipped> { row.get(i).map_err(sql) };
    let (upcoming_layout, history_layout) = (layout(13)?, layout(14)?);
    let texts: HashMap<i64, String> = chunks
        .query_map(params![guild_id_v as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(sql)?;
    let upcoming = read_list(&upcoming_layout, &texts).map_err(|e| skip(format!("queue: {e}")))?;
    let history = read_list(&history_layout, &texts).map_err(|e| skip(format!("history: {e}")))?;
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
                let mut chunks = conn.prepare_cached(SELECT_CHUNKS).map_err(map_sqlite)?;
                let mut rows = stmt.query(params![count, shards]).map_err(map_sqlite)?;
                let mut report = LoadReport::default();
                while let Some(row) = rows.next().map_err(map_sqlite)? {
                    match decode_row(row, &mut chunks) {
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
                let mut chunks = conn.prepare_cached(SELECT_CHUNKS).map_err(map_sqlite)?;
                conn.query_row(&sql, params![guild_id as i64], |row| {
                    Ok(decode_row(row, &mut chunks))
                })
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
            for sql in [
                "DELETE FROM queue_chunks WHERE guild_id = ?1",
                "DELETE FROM queues WHERE guild_id = ?1",
            ] {
                tx.execute(sql, params![guild_id as i64])
                    .map_err(map_sqlite)?;
            }
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
