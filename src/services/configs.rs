//! The per-guild settings cache, shared by the commands, the announcer, the idle watch and the
//! restore.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::{GuildConfig, GuildId};
use crate::store::StateStore;
use crate::sync::RwLockExt;

#[derive(Clone, Default)]
pub struct Configs(Arc<RwLock<HashMap<GuildId, GuildConfig>>>);

impl Configs {
    pub fn cached(&self, guild: GuildId) -> Option<GuildConfig> {
        self.0.read_locked().get(&guild).cloned()
    }

    pub fn put(&self, config: GuildConfig) {
        self.0.write_locked().insert(config.guild_id, config);
    }

    /// The guild's settings: cached, else loaded from the store, else the defaults.
    pub async fn get(&self, store: &dyn StateStore, guild: GuildId) -> GuildConfig {
        if let Some(c) = self.cached(guild) {
            return c;
        }
        let config = match store.load_guild_config(guild).await {
            Ok(Some(c)) => c,
            Ok(None) => GuildConfig::new(guild),
            Err(e) => {
                tracing::warn!(guild, error = %e, "could not load the server's settings; using the defaults");
                return GuildConfig::new(guild);
            }
        };
        self.put(config.clone());
        config
    }
}
