//! The guilds with a player: lookup and creation, the list, the figures over all of them, and
//! forgetting them all.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::domain::GuildId;

use super::state::GuildPlayer;
use super::{PlayerFigures, PlayerService};
use crate::sync::LockExt;

impl PlayerService {
    pub(super) fn guild(&self, guild: GuildId) -> Arc<Mutex<GuildPlayer>> {
        let mut map = self.inner.guilds.locked();
        map.entry(guild)
            .or_insert_with(|| Arc::new(Mutex::new(GuildPlayer::new(guild, &self.inner.config))))
            .clone()
    }

    pub(super) fn existing(&self, guild: GuildId) -> Option<Arc<Mutex<GuildPlayer>>> {
        self.inner.guilds.locked().get(&guild).cloned()
    }

    /// Counts over every player (for the metrics).
    pub async fn figures(&self) -> PlayerFigures {
        let players: Vec<_> = self.inner.guilds.locked().values().cloned().collect();
        let mut f = PlayerFigures::default();
        for g in players {
            let g = g.lock().await;
            match (g.queue.current().is_some(), g.state.paused) {
                (false, _) => f.idle += 1,
                (true, true) => f.paused += 1,
                (true, false) => f.playing += 1,
            }
            let queued = g.queue.upcoming().len() as u64;
            f.queued_tracks += queued;
            f.longest_queue = f.longest_queue.max(queued);
            f.voice_unhealthy += u64::from(g.health.is_unhealthy());
        }
        f
    }

    /// Guilds with a player.
    pub fn guilds(&self) -> Vec<GuildId> {
        let mut v: Vec<GuildId> = self.inner.guilds.locked().keys().copied().collect();
        v.sort();
        v
    }

    /// Forgets every player here without touching the audio server or the store (after handing
    /// them over to another instance).
    pub async fn forget_all(&self) {
        self.inner.guilds.locked().clear();
        if let Some(a) = &self.inner.autosave {
            a.release_all().await;
        }
    }
}
