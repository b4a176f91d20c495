//! Saved players: copy-on-write saves of the `players` documents and their `queue_chunks`, and
//! loading them (also the single queue documents of `queues` that builds before chunked queues
//! saved, and the migration that turns those into chunks).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};

use super::documents::{
    chunk_document, decode_document, player_document, queue_field, saved_layout, state_fields,
    Layout, QueueSource,
};
use super::writer::Writer;
use super::{MongoStore, LOOKUP_CHUNK, PLAYERS, QUEUES, QUEUE_CHUNKS};
use crate::domain::{now_ms, GuildId, PlayerSnapshot, QueueSnapshot, Track};
use crate::store::chunks::{fresh, plan_list, Chunk, Piece, Plan, QueueChunks};
use crate::store::{warn_skipped, LoadFilter, LoadReport, SaveOp, StoreError, WriteStats};

/// What step 1 decided for one op: the player's new queue layout, and whether the guild's
/// documents of the layout before chunks must go.
struct Written<'a> {
    layout: Layout<'a>,
    legacy: bool,
}

/// Step 1 for one list: inserts the chunks the plan writes; returns the list's new layout.
async fn write_chunks(
    w: &mut Writer<'_>,
    guild: GuildId,
    plan: Plan<ObjectId>,
    list: &std::collections::VecDeque<Track>,
) -> Result<Vec<Chunk<ObjectId>>, StoreError> {
    let mut layout = Vec::with_capacity(plan.pieces.len());
    for piece in plan.pieces {
        match piece {
            Piece::Keep(c) => layout.push(c),
            Piece::Write(r) => {
                let id = ObjectId::new();
                let len = r.len();
                w.push(
                    "insert",
                    QUEUE_CHUNKS,
                    chunk_document(guild, id, list.range(r)),
                )
                .await?;
                layout.push(Chunk { id, len });
            }
        }
    }
    Ok(layout)
}

/// Step 1 of a save: the new chunks. Returns, per op, the player's new queue layout.
async fn insert_chunks<'a>(
    w: &mut Writer<'_>,
    batch: &'a [SaveOp],
    saved: &HashMap<GuildId, Option<QueueChunks<ObjectId>>>,
) -> Result<Vec<Option<Written<'a>>>, StoreError> {
    let mut out = Vec::with_capacity(batch.len());
    let mut seen = HashSet::new();
    for op in batch {
        // A guild's second op in one batch is written whole: its saved layout was read before.
        let first = seen.insert(op.guild_id());
        let (guild, base, queue): (GuildId, Option<&QueueSnapshot>, &'a QueueSnapshot) = match op {
            SaveOp::Full { state, queue } => (state.guild_id, None, queue),
            SaveOp::Edit { state, base, queue } => (state.guild_id, Some(base), queue),
            _ => {
                out.push(None);
                continue;
            }
        };
        let known = base
            .filter(|_| first)
            .and(saved.get(&guild))
            .and_then(|s| s.as_ref());
        let (upcoming, history) = match known {
            Some((u, h)) => (
                plan_list(u, base.map(|b| &b.upcoming), &queue.upcoming),
                plan_list(h, base.map(|b| &b.history), &queue.history),
            ),
            None => (
                fresh(queue.upcoming.len(), vec![]),
                fresh(queue.history.len(), vec![]),
            ),
        };
        let layout = Layout {
            current: queue.current.as_ref(),
            upcoming: write_chunks(w, guild, upcoming, &queue.upcoming).await?,
            history: write_chunks(w, guild, history, &queue.history).await?,
        };
        out.push(Some(Written {
            layout,
            legacy: known.is_none(),
        }));
    }
    Ok(out)
}

/// Step 2 of a save: the player documents, in the batch's order; each is one atomic write.
async fn write_players(
    w: &mut Writer<'_>,
    batch: &[SaveOp],
    written: &[Option<Written<'_>>],
) -> Result<(), StoreError> {
    for (op, written) in batch.iter().zip(written) {
        let statement = match (op, written) {
            (SaveOp::Full { state, .. }, Some(q)) => doc! {
                "q": { "_id": state.guild_id as i64 },
                "u": player_document(state, &q.layout),
                "upsert": true,
            },
            (SaveOp::Edit { state, .. }, Some(q)) => {
                // Like the full document, without resending the chunks that stay.
                let mut set = state_fields(state);
                set.insert("v", crate::domain::SNAPSHOT_SCHEMA_VERSION as i32);
                set.insert("shard_key", (state.guild_id >> 22) as i64);
                set.insert("queue", queue_field(&q.layout));
                doc! {
                    "q": { "_id": state.guild_id as i64 },
                    "u": { "$set": set, "$unset": { "queue_id": "" } },
                    "upsert": true,
                }
            }
            (SaveOp::State(state), _) => doc! {
                "q": { "_id": state.guild_id as i64 },
                "u": { "$set": state_fields(state) },
            },
            (SaveOp::Delete(g), _) => {
                w.push(
                    "delete",
                    PLAYERS,
                    doc! { "q": { "_id": *g as i64 }, "limit": 1 },
                )
                .await?;
                continue;
            }
            (SaveOp::Full { .. } | SaveOp::Edit { .. }, None) => continue,
        };
        w.push("update", PLAYERS, statement).await?;
    }
    Ok(())
}

/// Step 3 of a save: chunks no player lists any more (those the change replaced, and any left by
/// a save a crash cut short), and the queue documents of the layout before chunks: per guild,
/// after its last write in this batch.
async fn delete_unlisted(
    w: &mut Writer<'_>,
    batch: &[SaveOp],
    written: &[Option<Written<'_>>],
) -> Result<(), StoreError> {
    // Per guild: the chunks its player lists now (`None`: deleted), and whether old documents go.
    type Listed = (Option<Vec<ObjectId>>, bool);
    let mut last: HashMap<GuildId, Listed> = HashMap::new();
    for (op, written) in batch.iter().zip(written) {
        match (op, written) {
            (SaveOp::Full { state, .. } | SaveOp::Edit { state, .. }, Some(q)) => {
                let ids = q.layout.upcoming.iter().chain(&q.layout.history);
                let legacy = q.legacy || last.get(&state.guild_id).is_some_and(|l| l.1);
                last.insert(state.guild_id, (Some(ids.map(|c| c.id).collect()), legacy));
            }
            (SaveOp::Delete(g), _) => {
                last.insert(*g, (None, true));
            }
            _ => {}
        }
    }
    let mut guilds: Vec<(GuildId, Listed)> = last.into_iter().collect();
    guilds.sort_by_key(|(g, _)| *g);
    for (g, (listed, _)) in &guilds {
        let q = match listed {
            Some(ids) => doc! { "guild_id": *g as i64, "_id": { "$nin": ids.clone() } },
            None => doc! { "guild_id": *g as i64 },
        };
        w.push("delete", QUEUE_CHUNKS, doc! { "q": q, "limit": 0 })
            .await?;
    }
    for (g, (_, legacy)) in &guilds {
        if *legacy {
            let q = doc! { "guild_id": *g as i64 };
            w.push("delete", QUEUES, doc! { "q": q, "limit": 0 })
                .await?;
        }
    }
    Ok(())
}

impl MongoStore {
    /// The saved layouts of the guilds whose queue the batch writes as a change (the first op of
    /// the guild in the batch only; a later one is written whole). `None`: no readable layout.
    async fn saved_layouts(
        &self,
        batch: &[SaveOp],
    ) -> Result<HashMap<GuildId, Option<QueueChunks<ObjectId>>>, StoreError> {
        let mut seen = HashSet::new();
        let mut wanted = Vec::new();
        for op in batch {
            if seen.insert(op.guild_id()) {
                if let SaveOp::Edit { state, .. } = op {
                    wanted.push(state.guild_id as i64);
                }
            }
        }
        let mut saved: HashMap<GuildId, Option<QueueChunks<ObjectId>>> =
            wanted.iter().map(|g| (*g as u64, None)).collect();
        for chunk in wanted.chunks(LOOKUP_CHUNK) {
            let mut cursor = self
                .players
                .find(doc! { "_id": { "$in": chunk.to_vec() } })
                .projection(doc! { "queue": 1 })
                .await
                .map_err(|e| self.map_err(e))?;
            while let Some(p) = cursor.try_next().await.map_err(|e| self.map_err(e))? {
                if let Ok(g) = p.get_i64("_id") {
                    saved.insert(g as u64, saved_layout(&p));
                }
            }
        }
        Ok(saved)
    }

    pub(super) async fn save_players(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
        if batch.is_empty() {
            return Ok(WriteStats::default());
        }
        let saved = self.saved_layouts(batch).await?;
        let mut w = Writer::new(self);
        // 1. The new chunks.
        let written = insert_chunks(&mut w, batch, &saved).await?;
        // 2. The player documents, in the batch's order; each is one atomic write.
        write_players(&mut w, batch, &written).await?;
        // 3. Chunks and old queue documents no player lists any more.
        delete_unlisted(&mut w, batch, &written).await?;
        w.send().await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(WriteStats {
            ops: batch.len(),
            bytes: w.bytes,
        })
    }

    /// Fetches documents of `collection` by id, `LOOKUP_CHUNK` ids per query.
    async fn by_ids(
        &self,
        collection: &mongodb::Collection<Document>,
        ids: Vec<ObjectId>,
    ) -> Result<HashMap<ObjectId, Document>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let mut cursor = collection
                .find(doc! { "_id": { "$in": chunk.to_vec() } })
                .await
                .map_err(|e| self.map_err(e))?;
            while let Some(d) = cursor.try_next().await.map_err(|e| self.map_err(e))? {
                if let Ok(id) = d.get_object_id("_id") {
                    out.insert(id, d);
                }
            }
        }
        Ok(out)
    }

    /// Decodes player documents with their queues (chunks, or old queue documents).
    async fn decode_players(&self, players: &[Document]) -> Result<LoadReport, StoreError> {
        let mut chunk_ids = Vec::new();
        let mut legacy_ids = Vec::new();
        for p in players {
            match saved_layout(p) {
                Some((u, h)) => chunk_ids.extend(u.iter().chain(&h).map(|c| c.id)),
                None => legacy_ids.extend(p.get_object_id("queue_id").ok()),
            }
        }
        let chunks = self.by_ids(&self.queue_chunks, chunk_ids).await?;
        let legacy = self.by_ids(&self.queues, legacy_ids).await?;
        let mut report = LoadReport::default();
        for p in players {
            let source = if p.get_document("queue").is_ok() {
                QueueSource::Chunks(&chunks)
            } else {
                QueueSource::Legacy(
                    p.get_object_id("queue_id")
                        .ok()
                        .and_then(|id| legacy.get(&id)),
                )
            };
            match decode_document(p, source) {
                Ok(s) => report.snapshots.push(s),
                Err(s) => {
                    warn_skipped("mongodb", &s);
                    report.skipped.push(s);
                }
            }
        }
        Ok(report)
    }

    pub(super) async fn load_players(&self, filter: &LoadFilter) -> Result<LoadReport, StoreError> {
        let query = match filter {
            LoadFilter::All => doc! {},
            LoadFilter::Shards {
                shard_ids,
                shard_count,
            } => {
                let count = i64::from((*shard_count).max(1));
                let any: Vec<Document> = shard_ids
                    .iter()
                    .map(|s| doc! { "shard_key": { "$mod": [count, i64::from(*s)] } })
                    .collect();
                if any.is_empty() {
                    return Ok(LoadReport::default());
                }
                doc! { "$or": any }
            }
        };
        let players: Vec<Document> = self
            .players
            .find(query)
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| self.map_err(e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err(e))?;
        self.decode_players(&players).await
    }

    pub(super) async fn load_player(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<PlayerSnapshot>, StoreError> {
        let Some(player) = self
            .players
            .find_one(doc! { "_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?
        else {
            return Ok(None);
        };
        Ok(self.decode_players(&[player]).await?.snapshots.pop())
    }

    pub(super) async fn delete_player(&self, guild_id: GuildId) -> Result<bool, StoreError> {
        let r = self
            .players
            .delete_one(doc! { "_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?;
        for collection in [&self.queue_chunks, &self.queues] {
            collection
                .delete_many(doc! { "guild_id": guild_id as i64 })
                .await
                .map_err(|e| self.map_err(e))?;
        }
        Ok(r.deleted_count > 0)
    }

    /// Migration: players saved before queues were chunked point at one queue document
    /// (`queue_id`); each of its lists becomes one chunk (a later change splits it), in three
    /// steps like a save: the chunks; the player document, only if nothing wrote it since it was
    /// read (same `taken_at_ms`: an older build may still be writing during an overlapping
    /// deploy); the queue documents of the players moved. A queue document that is missing or
    /// whose lists are not lists is left as it is: that player is still skipped as unreadable.
    /// A player left behind is read as it is, and moved by its next queue save.
    pub(super) async fn migrate_to_chunks(&self) -> Result<(), StoreError> {
        let unchunked = doc! { "queue_id": { "$exists": true }, "queue": { "$exists": false } };
        let legacy: Vec<Document> = self
            .players
            .find(unchunked)
            .projection(doc! { "queue_id": 1, "taken_at_ms": 1 })
            .await
            .map_err(|e| self.map_err(e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err(e))?;
        let mut moved = 0usize;
        for group in legacy.chunks(LOOKUP_CHUNK) {
            let ids: Vec<ObjectId> = group
                .iter()
                .filter_map(|p| p.get_object_id("queue_id").ok())
                .collect();
            let queues = self.by_ids(&self.queues, ids).await?;
            let mut w = Writer::new(self);
            let mut moves = Vec::new();
            for p in group {
                let (Ok(guild), Ok(queue_id), Some(taken)) = (
                    p.get_i64("_id"),
                    p.get_object_id("queue_id"),
                    p.get("taken_at_ms"),
                ) else {
                    continue;
                };
                let Some(q) = queues.get(&queue_id) else {
                    continue;
                };
                let list = |key| match q.get(key) {
                    None | Some(Bson::Null) => Some(vec![]),
                    Some(Bson::Array(items)) => Some(items.clone()),
                    Some(_) => None,
                };
                let (Some(upcoming), Some(history)) = (list("upcoming"), list("history")) else {
                    continue;
                };
                let mut layout =
                    doc! { "current": q.get("current").cloned().unwrap_or(Bson::Null) };
                for (key, tracks) in [("upcoming", upcoming), ("history", history)] {
                    let mut refs = Vec::new();
                    if !tracks.is_empty() {
                        let id = ObjectId::new();
                        refs.push(Bson::Document(doc! { "c": id, "n": tracks.len() as i64 }));
                        let chunk = doc! { "_id": id, "guild_id": guild, "tracks": tracks };
                        w.push("insert", QUEUE_CHUNKS, chunk).await?;
                    }
                    layout.insert(key, refs);
                }
                let statement = doc! {
                    "q": { "_id": guild, "taken_at_ms": taken.clone(), "queue": { "$exists": false } },
                    "u": { "$set": { "queue": layout }, "$unset": { "queue_id": "" } },
                };
                moves.push((guild, queue_id, statement));
            }
            for (_, _, statement) in &moves {
                w.push("update", PLAYERS, statement.clone()).await?;
            }
            w.send().await?;
            // The queue documents of the players that now list chunks (or that an older build
            // saved again since: it points them at another queue document).
            let guilds: Vec<i64> = moves.iter().map(|(g, _, _)| *g).collect();
            let mut still: HashSet<ObjectId> = HashSet::new();
            let mut cursor = self
                .players
                .find(doc! { "_id": { "$in": guilds } })
                .projection(doc! { "queue_id": 1 })
                .await
                .map_err(|e| self.map_err(e))?;
            while let Some(p) = cursor.try_next().await.map_err(|e| self.map_err(e))? {
                still.extend(p.get_object_id("queue_id").ok());
            }
            for (_, queue_id, _) in moves.iter().filter(|m| !still.contains(&m.1)) {
                moved += 1;
                w.push(
                    "delete",
                    QUEUES,
                    doc! { "q": { "_id": *queue_id }, "limit": 1 },
                )
                .await?;
            }
            w.send().await?;
        }
        if moved > 0 {
            tracing::info!(players = moved, "saved queues moved into chunks");
        }
        Ok(())
    }
}
