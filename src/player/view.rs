//! What the player shows outward: announcements, the `/play` outcome, a guild's view, the
//! figures over all players, and a player the audio server kept.

use crate::domain::{FilterPreset, GuildId, LoopMode, PlayStart, Track};

use super::PlayerService;

/// What the player tells a guild's text channel (the Discord layer renders and sends it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// A track the queue moved on to is heard (a member's command replies for its own).
    NowPlaying(Track),
    /// A track could not be played and was skipped (`reason` is empty when none was given).
    TrackFailed {
        track: Track,
        reason: String,
    },
    /// `failures` tracks in a row failed right after they started
    /// ([`crate::domain::FailureStreak`]): the player stopped; the `kept` upcoming tracks stay
    /// queued. `last_error` is Lavalink's message for the last failure, if it gave one.
    StoppedAfterFailures {
        failures: u32,
        last_error: Option<String>,
        kept: usize,
    },
    QueueEnded,
    /// The queue ran out with autoplay on, and autoplay found nothing new related to `after`
    /// (told instead of [`Announcement::QueueEnded`]).
    AutoplayFoundNothing {
        after: Track,
    },
    /// The music ended without anyone asking for it.
    VoiceEnded(VoiceEnd),
}

/// Why the music ended on its own (each is told to the text channel once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceEnd {
    /// Someone disconnected the bot from `channel`.
    Disconnected { channel: Option<u64> },
    /// The voice channel was deleted.
    ChannelDeleted,
    /// The bot lost Connect or Speak in `channel`.
    PermissionRemoved {
        channel: u64,
        permission: crate::domain::restore::VoicePermission,
    },
    /// Every healing step failed; the player is paused and kept.
    GaveUp { channel: Option<u64> },
    /// After a restart the bot could not get back into `channel`.
    RejoinFailed { channel: u64 },
}

/// Receives announcements for a guild's text channel, in the order things happened to the
/// guild (the player announces while it holds the guild's lock); an implementation posts one
/// guild's announcements in that order.
pub trait Announcer: Send + Sync {
    fn announce(&self, guild: GuildId, text_channel: Option<u64>, announcement: Announcement);
}

/// An announcer that only logs (until a Discord layer provides one).
pub struct LogAnnouncer;

impl Announcer for LogAnnouncer {
    fn announce(&self, guild: GuildId, _text_channel: Option<u64>, announcement: Announcement) {
        tracing::info!(guild, ?announcement, "announcement");
    }
}

/// What `/play` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayOutcome {
    /// The first track added.
    pub first: Track,
    pub added: usize,
    /// Tracks that did not fit in the queue.
    pub dropped: usize,
    pub playlist: Option<String>,
    /// It started playing at once (nothing was playing).
    pub started: bool,
    /// 1-based position in the queue of the first track, when queued behind others.
    pub position: Option<usize>,
    /// Where the first track starts (or will start, when queued), or why a start that was
    /// asked for does not apply.
    pub start: PlayStart,
    /// The loop mode that applies to what plays.
    pub loop_mode: LoopMode,
}

/// What a change of the current track asked for (`/skip`, `/previous`) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    /// The track that was current before.
    pub from: Option<Track>,
    /// The track that plays now; `None` when the queue ended.
    pub now: Option<Track>,
    /// The loop mode that applies to what plays now.
    pub loop_mode: LoopMode,
    /// The queue ended and autoplay is looking for a related track (in the background).
    pub autoplay: bool,
}

/// A read-only view of a guild's player, for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerView {
    pub current: Option<Track>,
    pub position_ms: u64,
    pub paused: bool,
    pub volume: u16,
    pub loop_mode: LoopMode,
    pub filters: FilterPreset,
    pub upcoming: Vec<Track>,
    pub text_channel_id: Option<u64>,
    pub voice_channel_id: Option<u64>,
    /// Autoplay is on ([`crate::domain::autoplay`]).
    pub autoplay: bool,
    /// Identifies the current play of the current track (a new track, or the same one
    /// again, has another): what skip votes are counted for.
    pub play_id: u64,
}

/// Counts over every player of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayerFigures {
    pub playing: u64,
    pub paused: u64,
    /// Players with nothing loaded.
    pub idle: u64,
    pub queued_tracks: u64,
    pub longest_queue: u64,
    /// Players whose voice is suspect, healing, or given up.
    pub voice_unhealthy: u64,
}

/// A player the audio server kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveTrack {
    /// The play id it carries, so its events match.
    pub play_id: Option<u64>,
    /// Also move it to `position_ms` (voice stopped earlier than the server's clock says).
    pub seek: bool,
}

impl PlayerService {
    /// The guild's player as it is now (position extrapolated).
    pub async fn view(&self, guild: GuildId) -> Option<PlayerView> {
        let g = self.existing(guild)?;
        let g = g.lock().await;
        Some(PlayerView {
            current: g.queue.current().cloned(),
            position_ms: g.position_now(),
            paused: g.state.paused,
            volume: g.state.volume,
            loop_mode: g.state.loop_mode,
            filters: g.state.filters,
            upcoming: g.queue.upcoming().cloned().collect(),
            text_channel_id: g.state.text_channel_id,
            voice_channel_id: g.state.voice_channel_id,
            autoplay: g.state.autoplay.on,
            play_id: g.play_id,
        })
    }
}
