use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    check_config, LeaseRecord, LoadFilter, LoadReport, SaveOp, StateStore, StoreError, StoreHealth,
    WriteStats,
};
use crate::domain::{
    now_ms, GuildConfig, GuildId, Played, PlayerSnapshot, PlayerState, QueueSnapshot,
};
use crate::sync::LockExt;

#[derive(Default)]
struct Inner {
    players: HashMap<GuildId, (PlayerState, Arc<QueueSnapshot>)>,
    guild_configs: HashMap<GuildId, GuildConfig>,
    leases: HashMap<String, LeaseRecord>,
    /// Newest last.
    played: HashMap<GuildId, std::collections::VecDeque<Played>>,
    last_write_at_ms: Option<u64>,
}

/// Keeps saved players in memory only: nothing survives a restart. For development and tests.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of a plain map.
        self.inner.locked()
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn save(&self, batch: &[SaveOp]) -> Result<WriteStats, StoreError> {
        let mut inner = self.lock();
        for op in batch {
            match op {
                SaveOp::Full { state, queue } | SaveOp::Edit { state, queue, .. } => {
                    inner
                        .players
                        .insert(state.guild_id, (state.clone(), queue.clone()));
                }
                SaveOp::State(state) => {
                    if let Some(entry) = inner.players.get_mut(&state.guild_id) {
                        entry.0 = state.clone();
                    }
                }
                SaveOp::Delete(g) => {
                    inner.players.remove(g);
                }
            }
        }
        inner.last_write_at_ms = Some(now_ms());
        Ok(WriteStats {
            ops: batch.len(),
            bytes: 0,
        })
    }

    async fn load_all(&self, filter: &LoadFilter) -> Result<LoadReport, StoreError> {
        let inner = self.lock();
        let mut snapshots: Vec<PlayerSnapshot> = inner
            .players
            .values()
            .filter(|(s, _)| filter.matches(s.guild_id))
            .map(|(s, q)| PlayerSnapshot::new(s.clone(), (**q).clone()))
            .collect();
        snapshots.sort_by_key(|s| s.guild_id());
        Ok(LoadReport {
            snapshots,
            skipped: vec![],
        })
    }

    async fn load(&self, guild_id: GuildId) -> Result<Option<PlayerSnapshot>, StoreError> {
        Ok(self
            .lock()
            .players
            .get(&guild_id)
            .map(|(s, q)| PlayerSnapshot::new(s.clone(), (**q).clone())))
    }

    async fn delete(&self, guild_id: GuildId) -> Result<bool, StoreError> {
        Ok(self.lock().players.remove(&guild_id).is_some())
    }

    async fn health(&self) -> StoreHealth {
        let inner = self.lock();
        StoreHealth {
            backend: "memory",
            reachable: true,
            last_write_at_ms: inner.last_write_at_ms,
            saved_players: Some(inner.players.len() as u64),
            error: None,
        }
    }

    async fn save_guild_config(&self, config: &GuildConfig) -> Result<(), StoreError> {
        check_config(config)?;
        let mut inner = self.lock();
        inner.guild_configs.insert(config.guild_id, config.clone());
        inner.last_write_at_ms = Some(now_ms());
        Ok(())
    }

    async fn load_guild_config(
        &self,
        guild_id: GuildId,
    ) -> Result<Option<GuildConfig>, StoreError> {
        Ok(self.lock().guild_configs.get(&guild_id).cloned())
    }

    async fn load_guild_configs(&self) -> Result<Vec<GuildConfig>, StoreError> {
        let mut configs: Vec<GuildConfig> = self.lock().guild_configs.values().cloned().collect();
        configs.sort_by_key(|c| c.guild_id);
        Ok(configs)
    }

    async fn record_played(
        &self,
        guild_id: GuildId,
        played: &Played,
        keep: usize,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let list = inner.played.entry(guild_id).or_default();
        list.push_back(played.clone());
        while list.len() > keep {
            list.pop_front();
        }
        inner.last_write_at_ms = Some(now_ms());
        Ok(())
    }

    async fn load_played(
        &self,
        guild_id: GuildId,
        limit: usize,
    ) -> Result<Vec<Played>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .played
            .get(&guild_id)
            .map(|l| l.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn load_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        Ok(self.lock().leases.get(name).cloned())
    }

    async fn swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let current = inner.leases.get(name).map(|l| l.version);
        if current != expected {
            return Ok(false);
        }
        let record = LeaseRecord {
            version: expected.unwrap_or(0) + 1,
            body: body.to_string(),
        };
        inner.leases.insert(name.to_string(), record);
        Ok(true)
    }
}
