//! A guild's player state, and how it leaves the service: the play patch for the audio
//! server, the backend update, and the autosave record.

use std::sync::Arc;

use crate::audio::{PlayerPatch, VoiceConnection};
use crate::domain::voice_health::SilenceWatch;
use crate::domain::{
    extrapolate_position, now_ms, FailureStreak, GuildId, PlayerState, Queue, QueueSnapshot,
    VoiceHealth,
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
    /// How far the current play got: when it was asked for and when Lavalink started it.
    pub(super) play: PlayProgress,
    /// Post "now playing" for the current play once it is heard: it began by itself (the queue
    /// moved on), not by a member's command, whose reply says it.
    pub(super) now_playing_due: bool,
    /// Tracks that failed right after they started, one after another.
    pub(super) failures: FailureStreak,
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

/// One play of the current track on the audio server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct PlayProgress {
    /// When the track was sent to the audio server (Unix ms).
    pub(super) requested_at_ms: u64,
    /// When its TrackStartEvent arrived (Unix ms).
    pub(super) started_at_ms: Option<u64>,
    /// Where in the track it started (ms).
    pub(super) from_ms: u64,
    /// A new play of the track (from the queue or a command), to be kept in what the guild
    /// played once Lavalink starts it; not a restore, rebuild or heal of a play already kept.
    pub(super) fresh: bool,
}

impl PlayProgress {
    /// How long (ms) it has been playing at `now_ms`: since its start, else since it was asked
    /// for (Lavalink may report a failure without a start).
    pub(super) fn played_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.started_at_ms.unwrap_or(self.requested_at_ms))
    }
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
            play: PlayProgress::default(),
            now_playing_due: false,
            failures: FailureStreak::default(),
            health: VoiceHealth::Connected,
            silence: SilenceWatch::default(),
            node_lost: false,
            server_pending_since: None,
        }
    }

    /// A new play `id` of the current track, from `from_ms` (ms into the track), asked for now.
    pub(super) fn begin_play(&mut self, id: u64, from_ms: u64) {
        self.play_id = id;
        self.play = PlayProgress {
            requested_at_ms: now_ms(),
            started_at_ms: None,
            from_ms,
            fresh: false,
        };
    }

    pub(super) fn position_now(&self) -> u64 {
        extrapolate_position(
            self.state.position_ms,
            self.state.position_at_ms,
            now_ms(),
            self.state.paused || self.state.stalled,
            self.queue.current().and_then(|t| t.known_length_ms()),
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
    /// A queue stopped after failures (nothing current, tracks upcoming) is kept.
    pub(super) fn save(&self, g: &mut GuildPlayer, queue_changed: bool) {
        if queue_changed {
            g.snapshot = g.queue.shared();
        }
        g.state.taken_at_ms = now_ms();
        if let Some(a) = &self.inner.autosave {
            if g.queue.is_done() {
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
        g.begin_play(next_play_id(), position);
        g.play.fresh = true;
        g.now_playing_due = false;
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
