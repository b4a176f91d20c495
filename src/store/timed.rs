//! A store wrapper that times every call into the process's metrics (store latency and errors
//! by operation); the running bot wraps its store in it.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{LeaseRecord, LoadFilter, LoadReport, SaveOp, StateStore, StoreError, StoreHealth};
use crate::domain::{GuildConfig, GuildId, Played, PlayerSnapshot};
use crate::store::WriteStats;

pub struct TimedStore {
    inner: Arc<dyn StateStore>,
}

impl TimedStore {
    pub fn wrap(inner: Arc<dyn StateStore>) -> Arc<dyn StateStore> {
        Arc::new(TimedStore { inner })
    }
}

async fn timed<T>(
    op: &'static str,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let start = Instant::now();
    let result = call.await;
    crate::metrics::metrics().store_call(op, start.elapsed(), result.is_ok());
    result
}

#[async_trait]
impl StateStore for TimedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn save(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
        timed("save", self.inner.save(batch)).await
    }

    async fn load_all(&self, filter: &LoadFilter) -> Result<LoadReport, StoreError> {
        timed("load_all", self.inner.load_all(filter)).await
    }

    async fn load(&self, guild_id: GuildId) -> Result<Option<PlayerSnapshot>, StoreError> {
        timed("load", self.inner.load(guild_id)).await
    }

    async fn delete(&self, guild_id: GuildId) -> Result<bool, StoreError> {
        timed("delete", self.inner.delete(guild_id)).await
    }

    async fn health(&self) -> StoreHealth {
        self.inner.health().await
    }

    async fn save_guild_config(&self, config: &GuildConfig) -> Result<(), StoreError> {
        timed("save_guild_config", self.inner.save_guild_config(config)).await
    }

    async fn load_guild_config(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<GuildConfig>, StoreError> {
        timed("load_guild_config", self.inner.load_guild_config(guild_id)).await
    }

    async fn load_guild_configs(&self) -> Result<Vec<GuildConfig>, StoreError> {
        timed("load_guild_configs", self.inner.load_guild_configs()).await
    }

    async fn record_played(
        &self,
        guild_id: GuildId,
        played: &Played,
        keep: usize,
    ) -> Result<(), StoreError> {
        timed(
            "record_played",
            self.inner.record_played(guild_id, played, keep),
        )
        .await
    }

    async fn load_played(
        &self,
        guild_id: GuildId,
        limit: usize,
    ) -> Result<Vec<Played>, StoreError> {
        timed("load_played", self.inner.load_played(guild_id, limit)).await
    }

    async fn load_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        timed("load_lease", self.inner.load_lease(name)).await
    }

    async fn swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError> {
        timed("swap_lease", self.inner.swap_lease(name, expected, body)).await
    }
}
