//! The rules of restoring a saved player after a restart (or a hand-over): which saved players come
//! back, where their track goes on from, whether they play, and why they come back paused.
//!
//! [`plan`] is the one decision: everything it needs is given to it (the snapshot, what Lavalink
//! still plays, how the last owner left, the server's settings, the listeners, the channel's
//! access, the time), so `lifecycle::restore` only gathers those facts and carries the plan out.

use super::{extrapolate_position, PauseReason, PlayerSnapshot, PlayerState};

/// When the audio a saved player describes stopped being heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioStop {
    /// At this time (Unix ms): the previous instance shut down and closed its voice then.
    At(u64),
    /// It has not: the previous instance handed over and kept playing until we rejoin.
    Continued,
    /// A crash: the previous owner was last seen alive at this time (Unix ms; its last lease
    /// renewal, every `LEASE_TTL / 10`), so its audio played at least until then.
    LastSeen(u64),
    /// Unknown (a crash, with no sign of life recorded): the last save is the best we know.
    Unknown,
}

/// Where a restored player's track goes on from: never past its end, never further back than
/// the newest thing we know.
pub fn restore_position(snapshot: &PlayerSnapshot, stop: AudioStop, now_ms: u64) -> u64 {
    let state = &snapshot.state;
    let at = match stop {
        AudioStop::At(t) => t.clamp(state.position_at_ms, now_ms.max(state.position_at_ms)),
        AudioStop::LastSeen(t) => {
            let saved = state.taken_at_ms.max(state.position_at_ms);
            t.clamp(saved, now_ms.max(saved))
        }
        AudioStop::Continued => now_ms,
        AudioStop::Unknown => state.taken_at_ms.max(state.position_at_ms),
    };
    snapshot.position_at(at)
}

/// Why a saved player is not restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRestored {
    /// Older than `RESUME_MAX_AGE`.
    TooOld,
    /// Nothing left to play: no current track and none upcoming.
    NothingToPlay,
    /// No voice channel was saved.
    NoVoiceChannel,
}

/// Whether a saved player is worth restoring at all.
pub fn restorable(
    snapshot: &PlayerSnapshot,
    now_ms: u64,
    max_age_ms: u64,
) -> Result<(), NotRestored> {
    let state: &PlayerState = &snapshot.state;
    if now_ms.saturating_sub(state.taken_at_ms) > max_age_ms {
        return Err(NotRestored::TooOld);
    }
    // A queue stopped after tracks failed in a row (nothing current, tracks upcoming) comes
    // back stopped, its tracks kept.
    if snapshot.queue.current.is_none() && snapshot.queue.upcoming.is_empty() {
        return Err(NotRestored::NothingToPlay);
    }
    if state.voice_channel_id.is_none() {
        return Err(NotRestored::NoVoiceChannel);
    }
    Ok(())
}

/// Whether a restored player plays (else it comes back paused): a member did not pause it,
/// resuming is on (the server's own setting wins over `MUSIC_AUTO_RESUME`), and someone is
/// listening or 24/7 is on. A pause Encore made (nobody listening, resume off, voice lost) does
/// not outlive its cause: it is decided afresh.
pub fn restore_plays(
    saved: Option<PauseReason>,
    auto_resume: bool,
    listeners: usize,
    always_on: bool,
) -> bool {
    saved != Some(PauseReason::Member) && auto_resume && (listeners > 0 || always_on)
}

/// Why a restored player comes back paused (told in the restart notice, and saved): a member's
/// pause stays a member's; otherwise resume off, else nobody listening.
pub fn restore_pause_reason(
    saved: Option<PauseReason>,
    auto_resume: bool,
    listeners: usize,
    always_on: bool,
) -> Option<PauseReason> {
    if restore_plays(saved, auto_resume, listeners, always_on) {
        None
    } else if saved == Some(PauseReason::Member) {
        Some(PauseReason::Member)
    } else if !auto_resume {
        Some(PauseReason::AutoResumeOff)
    } else {
        Some(PauseReason::NobodyListening)
    }
}

/// A permission the bot needs in a voice channel (Discord's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoicePermission {
    Connect,
    Speak,
}

impl VoicePermission {
    /// Discord's name of the permission.
    pub fn as_str(self) -> &'static str {
        match self {
            VoicePermission::Connect => "Connect",
            VoicePermission::Speak => "Speak",
        }
    }
}

/// Whether the bot may play in the saved voice channel, as the guild's cached channels and
/// permissions say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAccess {
    Open,
    /// Deleted, or no longer a voice or stage channel.
    Gone,
    Missing(VoicePermission),
}

/// What Lavalink still plays for the guild (a resumed session kept the player), when it is the
/// saved current track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivePosition {
    pub position_ms: u64,
    /// Lavalink's clock (Unix ms) when `position_ms` was observed.
    pub time_ms: u64,
    pub paused: bool,
}

/// Everything the restore decision looks at, for one guild.
#[derive(Debug, Clone, Copy)]
pub struct RestoreFacts<'a> {
    pub snapshot: &'a PlayerSnapshot,
    /// Lavalink's live player, only when it plays the saved current track.
    pub live: Option<LivePosition>,
    /// How the last owner stopped the audio.
    pub stop: AudioStop,
    pub access: ChannelAccess,
    /// The server's own setting, else `MUSIC_AUTO_RESUME`.
    pub auto_resume: bool,
    /// The server's 24/7 setting.
    pub always_on: bool,
    /// People (not bots) in the saved voice channel.
    pub listeners: usize,
    /// `RESUME_MAX_AGE`, in ms.
    pub max_age_ms: u64,
    /// When the saved players were loaded (Unix ms): the age limit is judged then.
    pub now_ms: u64,
}

/// Why a saved player is refused; the refusals for the channel delete its saved state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotRestorable(NotRestored),
    ChannelGone,
    MissingPermission(VoicePermission),
}

impl Refusal {
    /// Whether the saved state is deleted: it can never come back (stale, or a channel the bot
    /// cannot play in; the text channel is told).
    pub fn forgets_saved_state(self) -> bool {
        matches!(
            self,
            Refusal::NotRestorable(NotRestored::TooOld)
                | Refusal::ChannelGone
                | Refusal::MissingPermission(_)
        )
    }

    /// A short reason for the log.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotRestorable(NotRestored::TooOld) => "older than RESUME_MAX_AGE",
            Refusal::NotRestorable(NotRestored::NothingToPlay) => "nothing to play",
            Refusal::NotRestorable(NotRestored::NoVoiceChannel) => "no voice channel saved",
            Refusal::ChannelGone => "the voice channel is gone",
            Refusal::MissingPermission(VoicePermission::Connect) => {
                "missing the Connect permission"
            }
            Refusal::MissingPermission(VoicePermission::Speak) => "missing the Speak permission",
        }
    }
}

/// Where the current track goes on from, as a rule of time: the voice join between the plan and
/// the player update takes a while, so the position is read when the update is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The saved position, by how the last owner stopped ([`restore_position`]).
    Saved(AudioStop),
    /// Lavalink's live player, where it is now.
    Live(LivePosition),
}

/// How one saved player comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestorePlan {
    pub voice_channel_id: u64,
    pub start: StartFrom,
    /// `None`: it plays.
    pub paused_because: Option<PauseReason>,
    /// Lavalink kept the player: keep it (no reload), moved to the saved position when `true`
    /// (the audio stopped when the last owner closed its voice, earlier than Lavalink's clock).
    pub keep_live: Option<bool>,
}

impl RestorePlan {
    pub fn plays(&self) -> bool {
        self.paused_because.is_none()
    }

    /// The position (ms) to send at `now_ms`.
    pub fn position_ms(&self, snapshot: &PlayerSnapshot, now_ms: u64) -> u64 {
        match self.start {
            StartFrom::Saved(stop) => restore_position(snapshot, stop, now_ms),
            StartFrom::Live(l) => {
                extrapolate_position(l.position_ms, l.time_ms, now_ms, l.paused, None)
            }
        }
    }
}

/// The restore decision for one saved player: a plan, or a refusal with its reason.
///
/// Order: a snapshot not worth restoring (stale, empty, no channel), then the channel's access,
/// then how it comes back. A live Lavalink player of the same track is kept; its position is the
/// saved one when the last owner shut down (voice stopped then), else Lavalink's own.
pub fn plan(facts: &RestoreFacts<'_>) -> Result<RestorePlan, Refusal> {
    let snapshot = facts.snapshot;
    restorable(snapshot, facts.now_ms, facts.max_age_ms).map_err(Refusal::NotRestorable)?;
    let voice_channel_id = snapshot
        .state
        .voice_channel_id
        .ok_or(Refusal::NotRestorable(NotRestored::NoVoiceChannel))?;
    match facts.access {
        ChannelAccess::Open => {}
        ChannelAccess::Gone => return Err(Refusal::ChannelGone),
        ChannelAccess::Missing(p) => return Err(Refusal::MissingPermission(p)),
    }
    // A hand-over is no restart: the music went on, so it stays as it was.
    let paused_because = if facts.stop == AudioStop::Continued {
        snapshot.state.why_paused()
    } else {
        restore_pause_reason(
            snapshot.state.why_paused(),
            facts.auto_resume,
            facts.listeners,
            facts.always_on,
        )
    };
    let (start, keep_live) = match (facts.live, facts.stop) {
        (Some(_), AudioStop::At(_)) => (StartFrom::Saved(facts.stop), Some(true)),
        (Some(live), _) => (StartFrom::Live(live), Some(false)),
        (None, stop) => (StartFrom::Saved(stop), None),
    };
    Ok(RestorePlan {
        voice_channel_id,
        start,
        paused_because,
        keep_live,
    })
}

/// How many saved players each restore outcome had, for the log, `/metrics` and `/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    pub playing: usize,
    pub paused: usize,
    pub skipped: usize,
    pub refused: usize,
    /// Rejoined, but no Lavalink node was up yet: rebuilt when one is.
    pub pending: usize,
    pub failed: usize,
    /// Saved records the store could not read.
    pub unreadable: usize,
}

impl RestoreReport {
    /// Every count with its outcome's name (the `outcome` label of `encore_restores_total`).
    pub fn by_outcome(&self) -> [(&'static str, usize); 7] {
        [
            ("playing", self.playing),
            ("paused", self.paused),
            ("skipped", self.skipped),
            ("refused", self.refused),
            ("pending", self.pending),
            ("failed", self.failed),
            ("unreadable", self.unreadable),
        ]
    }
}

#[cfg(test)]
mod tests;
