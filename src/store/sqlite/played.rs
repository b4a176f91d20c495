//! What each guild played: the `played` table, newest by `id`.

use std::sync::atomic::Ordering;

use rusqlite::params;

use super::{map_sqlite, SqliteStore};
use crate::domain::{now_ms, GuildId, Played, Track};
use crate::store::StoreError;

impl SqliteStore {
    pub(super) async fn append_played(
        &self,
        guild_id: GuildId,
        played: &Played,
        keep: usize,
    ) -> Result<(), StoreError> {
        let track = serde_json::to_string(&played.track)
            .map_err(|e| StoreError::Invalid(format!("track: {e}")))?;
        let at = played.played_at_ms as i64;
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.blocking(move |conn| {
            let tx = conn.unchecked_transaction().map_err(map_sqlite)?;
            tx.prepare_cached(
                "INSERT INTO played (guild_id, played_at_ms, track) VALUES (?1, ?2, ?3)",
            )
            .map_err(map_sqlite)?
            .execute(params![guild_id as i64, at, track])
            .map_err(map_sqlite)?;
            tx.prepare_cached(
                "DELETE FROM played WHERE guild_id = ?1 AND id <= (
                     SELECT id FROM played WHERE guild_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            )
            .map_err(map_sqlite)?
            .execute(params![guild_id as i64, keep])
            .map_err(map_sqlite)?;
            tx.commit().map_err(map_sqlite)
        })
        .await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }

    pub(super) async fn read_played(
        &self,
        guild_id: GuildId,
        limit: usize,
    ) -> Result<Vec<Played>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .blocking(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT played_at_ms, track FROM played WHERE guild_id = ?1
                         ORDER BY id DESC LIMIT ?2",
                    )
                    .map_err(map_sqlite)?;
                let rows = stmt
                    .query_map(params![guild_id as i64, limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(map_sqlite)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(map_sqlite)
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(at, json)| match serde_json::from_str::<Track>(&json) {
                Ok(track) => Some(Played {
                    played_at_ms: at.max(0) as u64,
                    track,
                }),
                Err(e) => {
                    tracing::warn!(backend = "sqlite", guild = guild_id, error = %e, "skipping an unreadable played track");
                    None
                }
            })
            .collect())
    }
}
