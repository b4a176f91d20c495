//! Per-guild settings: the `guild_configs` table, independent of the saved players.

use std::sync::atomic::Ordering;

use rusqlite::{params, OptionalExtension};

use super::{map_sqlite, SqliteStore};
use crate::domain::{now_ms, GuildConfig, GuildId};
use crate::store::{check_config, warn_skipped_config, Skipped, StoreError, StoredGuildConfig};

const SELECT_GUILD_CONFIGS: &str =
    "SELECT guild_id, dj_role_id, always_on, default_volume, announce_now_playing, auto_resume,
        updated_at_ms, autoplay, vote_skip_percent
    FROM guild_configs";

/// Decodes one `guild_configs` row; any problem is a reason to skip this guild's config only.
fn decode_config_row(row: &rusqlite::Row<'_>) -> Result<GuildConfig, Skipped> {
    let guild_id = row.get::<_, i64>(0).ok();
    let skip = |reason: String| Skipped {
        guild_id: guild_id.map(|g| g as u64),
        reason,
    };
    let sql = |e: rusqlite::Error| skip(format!("unreadable column: {e}"));
    let flag = |i: usize, name: &str| -> Result<Option<bool>, Skipped> {
        match row.get::<_, Option<i64>>(i).map_err(sql)? {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(v) => Err(skip(format!("`{name}` is {v}, not 0 or 1"))),
        }
    };
    let required = |i: usize, name: &str| -> Result<bool, Skipped> {
        flag(i, name)?.ok_or_else(|| skip(format!("`{name}` is missing")))
    };
    StoredGuildConfig {
        guild_id: guild_id.ok_or_else(|| skip("no guild id".into()))?,
        dj_role_id: row.get(1).map_err(sql)?,
        always_on: required(2, "always_on")?,
        default_volume: row.get(3).map_err(sql)?,
        announce_now_playing: required(4, "announce_now_playing")?,
        auto_resume: flag(5, "auto_resume")?,
        autoplay: required(7, "autoplay")?,
        vote_skip_percent: row.get(8).map_err(sql)?,
        updated_at_ms: row.get(6).map_err(sql)?,
    }
    .into_config()
    .map_err(skip)
}

impl SqliteStore {
    pub(super) async fn save_config(&self, config: &GuildConfig) -> Result<(), StoreError> {
        check_config(config)?;
        let c = StoredGuildConfig::from_config(config);
        self.blocking(move |conn| {
            conn.prepare_cached(
                "INSERT INTO guild_configs (guild_id, dj_role_id, always_on, default_volume,
                     announce_now_playing, auto_resume, updated_at_ms, autoplay,
                     vote_skip_percent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(guild_id) DO UPDATE SET
                     dj_role_id = excluded.dj_role_id, always_on = excluded.always_on,
                     default_volume = excluded.default_volume,
                     announce_now_playing = excluded.announce_now_playing,
                     auto_resume = excluded.auto_resume, updated_at_ms = excluded.updated_at_ms,
                     autoplay = excluded.autoplay, vote_skip_percent = excluded.vote_skip_percent",
            )
            .map_err(map_sqlite)?
            .execute(params![
                c.guild_id,
                c.dj_role_id,
                i64::from(c.always_on),
                c.default_volume,
                i64::from(c.announce_now_playing),
                c.auto_resume.map(i64::from),
                c.updated_at_ms,
                i64::from(c.autoplay),
                c.vote_skip_percent
            ])
            .map_err(map_sqlite)?;
            Ok(())
        })
        .await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }

    pub(super) async fn load_config(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<GuildConfig>, StoreError> {
        let found = self
            .blocking(move |conn| {
                let sql = format!("{SELECT_GUILD_CONFIGS} WHERE guild_id = ?1");
                conn.query_row(&sql, params![guild_id as i64], |row| {
                    Ok(decode_config_row(row))
                })
                .optional()
                .map_err(map_sqlite)
            })
            .await?;
        match found {
            None => Ok(None),
            Some(Ok(c)) => Ok(Some(c)),
            Some(Err(skipped)) => {
                warn_skipped_config("sqlite", &skipped);
                Ok(None)
            }
        }
    }

    pub(super) async fn load_configs(&self) -> Result<Vec<GuildConfig>, StoreError> {
        let decoded = self
            .blocking(|conn| {
                let mut stmt = conn.prepare(SELECT_GUILD_CONFIGS).map_err(map_sqlite)?;
                let mut rows = stmt.query([]).map_err(map_sqlite)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(map_sqlite)? {
                    out.push(decode_config_row(row));
                }
                Ok(out)
            })
            .await?;
        let mut configs = Vec::with_capacity(decoded.len());
        for d in decoded {
            match d {
                Ok(c) => configs.push(c),
                Err(skipped) => warn_skipped_config("sqlite", &skipped),
            }
        }
        configs.sort_by_key(|c| c.guild_id);
        Ok(configs)
    }
}
