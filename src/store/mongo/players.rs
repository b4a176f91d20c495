//! Saved players: copy-on-write saves of the `players` and `queues` documents, and loading them.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Document};

use super::documents::{decode_document, player_document, queue_document, state_fields};
use super::writer::Writer;
use super::{MongoStore, LOOKUP_CHUNK, PLAYERS, QUEUES};
use crate::domain::{now_ms, GuildId, PlayerSnapshot};
use crate::store::{warn_skipped, LoadFilter, LoadReport, SaveOp, StoreError, WriteStats};

/// Step 1 of a save: the new queue documents. Returns, per op, the id of its new queue document.
async fn insert_queues(
    w: &mut Writer<'_>,
    batch: &[SaveOp],
) -> Result<Vec<Option<ObjectId>>, StoreError> {
    let mut queue_ids = Vec::with_capacity(batch.len());
    for op in batch {
        let id = match op {
            SaveOp::Full { state, queue } => {
                let id = ObjectId::new();
                w.push("insert", QUEUES, queue_document(state.guild_id, id, queue))
                    .await?;
                Some(id)
            }
            _ => None,
        };
        queue_ids.push(id);
    }
    Ok(queue_ids)
}

/// Step 2 of a save: the player documents, in the batch's order; each is one atomic write.
async fn write_players(
    w: &mut Writer<'_>,
    batch: &[SaveOp],
    queue_ids: &[Option<ObjectId>],
) -> Result<(), StoreError> {
    for (op, queue_id) in batch.iter().zip(queue_ids) {
        match (op, queue_id) {
            (SaveOp::Full { state, .. }, Some(id)) => {
                let statement = doc! {
                    "q": { "_id": state.guild_id as i64 },
                    "u": player_document(state, *id),
                    "upsert": true,
                };
                w.push("update", PLAYERS, statement).await?;
            }
            (SaveOp::State(state), _) => {
                let statement = doc! {
                    "q": { "_id": state.guild_id as i64 },
                    "u": { "$set": state_fields(state) },
                };
                w.push("update", PLAYERS, statement).await?;
            }
            (SaveOp::Delete(g), _) => {
                let statement = doc! { "q": { "_id": *g as i64 }, "limit": 1 };
                w.push("delete", PLAYERS, statement).await?;
            }
            (SaveOp::Full { .. }, None) => {}
        }
    }
    Ok(())
}

/// Step 3 of a save: queue documents no player points at any more: per guild, after its last full
/// save or delete in this batch.
async fn delete_stale_queues(
    w: &mut Writer<'_>,
    batch: &[SaveOp],
    queue_ids: &[Option<ObjectId>],
) -> Result<(), StoreError> {
    let mut last: HashMap<GuildId, Option<ObjectId>> = HashMap::new();
    for (op, queue_id) in batch.iter().zip(queue_ids) {
        match op {
            SaveOp::Full { state, .. } => {
                last.insert(state.guild_id, *queue_id);
            }
            SaveOp::Delete(g) => {
                last.insert(*g, None);
            }
            SaveOp::State(_) => {}
        }
    }
    let mut stale: Vec<(GuildId, Option<ObjectId>)> = last.into_iter().collect();
    stale.sort_by_key(|(g, _)| *g);
    for (g, keep) in stale {
        let q = match keep {
            Some(id) => doc! { "guild_id": g as i64, "_id": { "$ne": id } },
            None => doc! { "guild_id": g as i64 },
        };
        w.push("delete", QUEUES, doc! { "q": q, "limit": 0 })
            .await?;
    }
    Ok(())
}

impl MongoStore {
    pub(super) async fn save_players(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
        if batch.is_empty() {
            return Ok(WriteStats::default());
        }
        let mut w = Writer::new(self);
        // 1. The new queue documents.
        let queue_ids = insert_queues(&mut w, batch).await?;
        // 2. The player documents, in the batch's order; each is one atomic write.
        write_players(&mut w, batch, &queue_ids).await?;
        // 3. Queue documents no player points at any more: per guild, after its last full save
        //    or delete in this batch.
        delete_stale_queues(&mut w, batch, &queue_ids).await?;
        w.send().await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(WriteStats {
            ops: batch.len(),
            bytes: w.bytes,
        })
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
        let ids: Vec<ObjectId> = players
            .iter()
            .filter_map(|p| p.get_object_id("queue_id").ok())
            .collect();
        let mut queues: HashMap<ObjectId, Document> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let mut cursor = self
                .queues
                .find(doc! { "_id": { "$in": chunk.to_vec() } })
                .await
                .map_err(|e| self.map_err(e))?;
            while let Some(q) = cursor.try_next().await.map_err(|e| self.map_err(e))? {
                if let Ok(id) = q.get_object_id("_id") {
                    queues.insert(id, q);
                }
            }
        }
        let mut report = LoadReport::default();
        for p in &players {
            let queue = p
                .get_object_id("queue_id")
                .ok()
                .and_then(|id| queues.get(&id));
            match decode_document(p, queue) {
                Ok(s) => report.snapshots.push(s),
                Err(s) => {
                    warn_skipped("mongodb", &s);
                    report.skipped.push(s);
                }
            }
        }
        Ok(report)
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
        let queue = match player.get_object_id("queue_id") {
            Ok(id) => self
                .queues
                .find_one(doc! { "_id": id })
                .await
                .map_err(|e| self.map_err(e))?,
            Err(_) => None,
        };
        Ok(match decode_document(&player, queue.as_ref()) {
            Ok(s) => Some(s),
            Err(s) => {
                warn_skipped("mongodb", &s);
                None
            }
        })
    }

    pub(super) async fn delete_player(&self, guild_id: GuildId) -> Result<bool, StoreError> {
        let r = self
            .players
            .delete_one(doc! { "_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?;
        self.queues
            .delete_many(doc! { "guild_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?;
        Ok(r.deleted_count > 0)
    }
}
