//! Per-guild settings: the `guild_configs` documents, independent of the saved players.

use std::sync::atomic::Ordering;

use futures::TryStreamExt;
use mongodb::bson::doc;

use super::documents::{decode_guild_config, guild_config_document};
use super::{MongoStore, GUILD_CONFIGS};
use crate::domain::{now_ms, GuildConfig, GuildId};
use crate::store::{check_config, warn_skipped_config, StoreError};

impl MongoStore {
    pub(super) async fn save_config(&self, config: &GuildConfig) -> Result<(), StoreError> {
        check_config(config)?;
        let command = doc! {
            "update": GUILD_CONFIGS,
            "updates": [{
                "q": { "_id": config.guild_id as i64 },
                "u": guild_config_document(config),
                "upsert": true,
            }],
            "ordered": true,
        };
        self.run_write(command).await?;
        self.last_write_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }

    pub(super) async fn load_config(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<GuildConfig>, StoreError> {
        let Some(d) = self
            .guild_configs
            .find_one(doc! { "_id": guild_id as i64 })
            .await
            .map_err(|e| self.map_err(e))?
        else {
            return Ok(None);
        };
        Ok(match decode_guild_config(&d) {
            Ok(c) => Some(c),
            Err(s) => {
                warn_skipped_config("mongodb", &s);
                None
            }
        })
    }

    pub(super) async fn load_configs(&self) -> Result<Vec<GuildConfig>, StoreError> {
        let mut cursor = self
            .guild_configs
            .find(doc! {})
            .await
            .map_err(|e| self.map_err(e))?;
        let mut configs = Vec::new();
        while let Some(d) = cursor.try_next().await.map_err(|e| self.map_err(e))? {
            match decode_guild_config(&d) {
                Ok(c) => configs.push(c),
                Err(s) => warn_skipped_config("mongodb", &s),
            }
        }
        configs.sort_by_key(|c| c.guild_id);
        Ok(configs)
    }
}
