//! Bringing players back: rebuilding one on the audio server from our own state, and restoring
//! a saved one after a restart.

use crate::audio::{PlayerPatch, VoiceConnection};
use crate::domain::{GuildId, PauseReason, PlayerSnapshot, VoiceHealth};

use super::state::next_play_id;
use super::{LiveTrack, PlayerError, PlayerService};
use crate::sync::LockExt;

/// How one saved player comes back (see [`PlayerService::restore`]).
#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub snapshot: PlayerSnapshot,
    pub voice: VoiceConnection,
    /// Where the current track goes on from.
    pub position_ms: u64,
    /// Why it comes back paused; `None`: it plays.
    pub paused: Option<PauseReason>,
    /// The audio server kept this player running (a resumed Lavalink session).
    pub live: Option<LiveTrack>,
}

impl PlayerService {
    /// Rebuilds a guild's player on the audio server from our own state, at its extrapolated
    /// position, with a single player update.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn rebuild(&self, guild: GuildId) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let mut g = g.lock().await;
        if g.queue.current().is_none() || g.voice.is_none() {
            g.voice_sent = false;
            return;
        }
        // Where listeners last heard it: a lost node pinned it (`stall`), so no time nobody
        // heard is skipped.
        let position = g.position_now();
        g.begin_play(next_play_id(), position);
        let patch = g.play_patch(position, true);
        match self.inner.backend.update(guild, patch).await {
            Ok(()) => {
                self.inner.pending_rebuild.locked().remove(&guild);
                g.voice_sent = true;
                g.node_lost = false;
                if matches!(g.health, VoiceHealth::Connected) {
                    g.unstall(position);
                } else {
                    g.set_position(position);
                }
                tracing::info!(position, "player rebuilt on the audio server");
            }
            Err(e) => {
                g.voice_sent = false;
                self.inner.pending_rebuild.locked().insert(guild);
                tracing::warn!(error = %e, "could not rebuild the player; will retry when a node is back");
            }
        }
    }

    /// Restores a saved player after a restart: its queue, loop mode, volume and filters, and
    /// the current track at `plan.position_ms`, playing or paused, in one player update. With
    /// `plan.live`, the audio server kept the player running: it keeps its track and gets the
    /// new voice state (and, if asked, the position) instead.
    #[tracing::instrument(skip_all, fields(guild = plan.snapshot.guild_id()))]
    pub async fn restore(&self, plan: RestorePlan) -> Result<(), PlayerError> {
        let RestorePlan {
            snapshot,
            voice,
            position_ms,
            paused,
            live,
        } = plan;
        let guild = snapshot.guild_id();
        let g = self.guild(guild);
        let mut g = g.lock().await;
        // The store holds this queue: the autosave writes changes from it, and nothing at all
        // while it stays the same.
        let saved = std::sync::Arc::new(snapshot.queue);
        if let Some(a) = &self.inner.autosave {
            a.adopt_shared(snapshot.state.clone(), saved.clone());
        }
        let config = &self.inner.config;
        g.queue = crate::domain::Queue::from_shared(saved, config.queue_max, config.history_max);
        g.state = snapshot.state;
        // Heard again once sent (a record saved during an outage says stalled).
        g.state.stalled = false;
        g.state.pause_reason = paused;
        g.state.paused = paused.is_some();
        let paused = paused.is_some();
        g.state.voice_channel_id = Some(voice.channel_id);
        g.voice = Some(voice);
        g.voice_sent = false;
        g.now_playing_due = false;
        g.failures.reset();
        if let Some(current) = g.queue.current() {
            // The previous owner keeps a play once it is heard; one it had not kept yet (a
            // crash or hand-over in its first seconds) is kept here.
            let started = crate::domain::now_ms().saturating_sub(position_ms);
            self.keep_played_if_missing(guild, current, started);
            let patch = match live {
                Some(live) => {
                    g.begin_play(live.play_id.unwrap_or_else(next_play_id), position_ms);
                    PlayerPatch {
                        position_ms: live.seek.then_some(position_ms),
                        paused: Some(paused),
                        voice: g.voice.clone(),
                        ..Default::default()
                    }
                }
                None => {
                    g.begin_play(next_play_id(), position_ms);
                    g.play_patch(position_ms, true)
                }
            };
            if let Err(e) = self.send(&mut g, patch).await {
                if Self::is_unavailable(&e) {
                    // Kept, and rebuilt from this very position once a node is ready.
                    g.set_position(position_ms);
                    g.stall(position_ms);
                    g.node_lost = true;
                    self.inner.pending_rebuild.locked().insert(guild);
                    self.save(&mut g, true);
                }
                return Err(e);
            }
            g.set_position(position_ms);
        } else if let Some(voice) = g.voice.clone() {
            // Nothing to play: the audio server still learns the voice state.
            let patch = PlayerPatch {
                voice: Some(voice),
                ..Default::default()
            };
            self.send(&mut g, patch).await?;
        }
        self.save(&mut g, true);
        Ok(())
    }
}
