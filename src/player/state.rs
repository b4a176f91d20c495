//! A guild's player state, and how it leaves the service: the play patch for the audio
//! server, the backend update, and the autosave record.

use std::sync::Arc;

use crate::audio::{PlayerPatch, VoiceConnection};
use crate::domain::voice_health::SilenceWatch;
use crate::domain::{
    extrapolate_position, now_ms, GuildId, PlayerState, Queue, QueueSnapshot, VoiceHealth,
};

use super::{PlayerConfig, PlayerError, PlayerService};

pub(super) struct GuildPlayer {
    pub(super) queue: Queue,
    pub(super) state: PlayerState,
    pub(super) voice: Option<VoiceConnection>,
    /// The audio server has this voice state already.
    pub(super) voice_sent: bool,
    /// Identifies the current play of the current track in backend events.
    pub(super) play_id: u64,
    pub(super) snapshot: Arc<QueueSnapshot>,
    /// The voice connection's health (see [`crate::domain::voice_health`]).
    pub(super) health: VoiceHealth,
    pub(super) silence: SilenceWatch,
    /// The node playing it was lost (its websocket closed, or no node took it yet): the position
    /// is pinned (`state.stalled`) until the node answers again or the player is rebuilt.
    pub(super) node_lost: bool,
    /// Discord announced a new voice server (null endpoint) at this time (ms) and the real one
    /// has not come yet.
    pub(super) server_pending_since: Option<u64>,
}

impl GuildPlayer {
    pub(super) fn new(guild: GuildId, config: &PlayerConfig) -> Self {
        let queue = Queue::new(config.queue_max, config.history_max);
        GuildPlayer {
            snapshot: queue.shared(),
            queue,
            state: PlayerState::new(guild),
            voice: None,
            voice_sent: false,
            play_id: 0,
            health: VoiceHealth::Connected,
            silence: SilenceWatch::default(),
            node_lost: false,
            server_pending_since: None,
        }
    }

    pub(super) fn position_now(&self) -> u64 {
        extrapolate_position(
            self.state.position_ms,
            self.state.position_at_ms,
            now_ms(),
            self.state.paused || self.state.stalled,
            self.queue
                .current()
                .filter(|t| t.has_length())
                .map(|t| t.length_ms),
        )
    }

    /// Pins the position at `position` as of now.
    pub(super) fn set_position(&mut self, position: u64) {
        self.state.position_ms = position;
        self.state.position_at_ms = now_ms();
    }

    /// Nobody hears it any more (a voice fault, a lost node): the position stays at `heard_ms`,
    /// where the audio stopped, until [`GuildPlayer::unstall`].
    pub(super) fn stall(&mut self, heard_ms: u64) {
        if self.queue.current().is_some() && !self.state.stalled {
            self.set_position(heard_ms);
            self.state.stalled = true;
        }
    }

    /// Heard again from `position` (ms) on.
    pub(super) fn unstall(&mut self, position: u64) {
        if self.state.stalled && self.queue.current().is_some() {
            self.set_position(position);
        }
        self.state.stalled = false;
    }

    /// The patch that (re)starts the current track from our own state, at `position`.
    pub(super) fn play_patch(&self, position: u64, include_voice: bool) -> PlayerPatch {
        PlayerPatch {
            track: Some(self.queue.current().map(|t| t.encoded.clone())),
            position_ms: Some(position),
            paused: Some(self.state.paused),
            volume: Some(self.state.volume),
            filters: Some(self.state.filters),
            voice: if include_voice {
                self.voice.clone()
            } else {
                None
            },
            no_replace: false,
            play_id: Some(self.play_id),
        }
    }
}

impl PlayerService {
    /// Records the guild's state with the autosave; `queue_changed` rebuilds the saved queue.
    /// A player with nothing to play (stopped, or its queue ran out) has nothing to resume: its
    /// saved state is forgotten, also when a late change (a voice update) comes after a /stop.
    pub(super) fn save(&self, g: &mut GuildPlayer, queue_changed: bool) {
        if queue_changed {
            g.snapshot = g.queue.shared();
        }
        g.state.taken_at_ms = now_ms();
        if let Some(a) = &self.inner.autosave {
            if g.queue.current().is_none() {
                a.forget(g.state.guild_id);
            } else {
                a.record(g.state.clone(), g.snapshot.clone(), queue_changed);
            }
        }
    }

    /// Returns once the guild's latest change is in the store ([`crate::autosave::Autosave::commit`]):
    /// what a member's confirmed change (a queue edit, a setting, a pause, a stop) waits for
    /// before its reply; positions are left to the autosave tick. Error: why it is not saved yet
    /// (the store's error, or no answer within the autosave's `commit_wait`); the change stands
    /// and stays pending, and is saved by the next write that succeeds.
    pub async fn commit(&self, guild: GuildId) -> Result<(), crate::store::StoreError> {
        let Some(a) = &self.inner.autosave else {
            return Ok(());
        };
        let committed = a.commit(guild).await;
        if let Err(e) = &committed {
            tracing::warn!(guild, error = %e, "a change is not saved yet; it stays pending");
        }
        committed
    }

    pub(super) async fn send(
        &self,
        g: &mut GuildPlayer,
        mut patch: PlayerPatch,
    ) -> Result<(), PlayerError> {
        if !g.voice_sent {
            patch.voice = g.voice.clone();
        }
        let had_voice = patch.voice.is_some();
        self.inner
            .backend
            .update(g.state.guild_id, patch)
            .await
            .map_err(PlayerError::Audio)?;
        if had_voice {
            g.voice_sent = true;
        }
        Ok(())
    }

    /// Starts the current track of `g` (or stops when there is none): at its start time on its
    /// first play ([`crate::domain::Queue::take_start`]), else from the beginning.
    pub(super) async fn start_current(&self, g: &mut GuildPlayer) -> Result<(), PlayerError> {
        let position = g.queue.take_start().unwrap_or(0);
        g.play_id = next_play_id();
        Self::rearm(g);
        let patch = g.play_patch(position, !g.voice_sent);
        self.send(g, patch).await?;
        g.set_position(position);
        Ok(())
    }
}

/// A new id for one play of a track (unique in this process).
pub(super) fn next_play_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
