//! What each guild played: the `played` documents, `{guild_id, seq, played_at_ms, track}`,
//! newest by `seq` (the writer's clock in µs plus a counter, so entries written in one ms
//! keep their order).

use std::sync::atomic::{AtomicU64, Ordering};

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson};

use super::documents::{decode_track, track_doc};
use super::MongoStore;
use crate::domain::{now_ms, GuildId, Played};
use crate::store::StoreError;

/// A number that grows with every call in this process and across restarts (Unix ms × 1000
/// plus a counter within the ms).
fn next_seq() -> i64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_ms().saturating_mul(1000);
    let seq = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .map_or(now, |last| now.max(last + 1));
    seq as i64
}

impl MongoStore {
    pub(super) async fn append_played(
        &self,
        guild_id: GuildId,
        played: &Played,
        keep: usize,
    ) -> Result<(), StoreError> {
        let guild = guild_id as i64;
        self.played
            .insert_one(doc! {
                "guild_id": guild,
                "seq": next_seq(),
                "played_at_ms": played.played_at_ms as i64,
                "track": track_doc(&played.track),
            })
            .await
            .map_err(|e| self.map_err(e))?;
        // The oldest entry still kept; everything older goes.
        let oldest_kept = self
            .played
            .find_one(doc! { "guild_id": guild })
            .sort(doc! { "seq": -1 })
            .skip(keep.saturating_sub(1) as u64)
            .projection(doc! { "seq": 1 })
            .await
            .map_err(|e| self.map_err(e))?;
        if let Some(seq) = oldest_kept.and_then(|d| d.get_i64("seq").ok()) {
            self.played
                .delete_many(doc! { "guild_id": guild, "seq": { "$lt": seq } })
                .await
                .map_err(|e| self.map_err(e))?;
        }
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }

    pub(super) async fn read_played(
        &self,
        guild_id: GuildId,
        limit: usize,
    ) -> Result<Vec<Played>, StoreError> {
        if limit == 0 {
            // MongoDB reads a limit of 0 as no limit.
            return Ok(vec![]);
        }
        let mut cursor = self
            .played
            .find(doc! { "guild_id": guild_id as i64 })
            .sort(doc! { "seq": -1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(|e| self.map_err(e))?;
        let mut out = Vec::new();
        while let Some(d) = cursor.try_next().await.map_err(|e| self.map_err(e))? {
            let track = d
                .get("track")
                .ok_or_else(|| "no track".to_string())
                .and_then(decode_track);
            match track {
                Ok(track) => out.push(Played {
                    played_at_ms: match d.get("played_at_ms") {
                        Some(Bson::Int64(v)) => (*v).max(0) as u64,
                        Some(Bson::Int32(v)) => (*v).max(0) as u64,
                        _ => 0,
                    },
                    track,
                }),
                Err(e) => {
                    tracing::warn!(backend = "mongodb", guild = guild_id, error = %e, "skipping an unreadable played track");
                }
            }
        }
        Ok(out)
    }
}
