//! The player domain: tracks, the queue, loop modes and the saved snapshot.
//! Nothing here knows about Discord or Lavalink, so all of it is unit-tested in place.

pub mod autoplay;
mod failure_streak;
mod guild_config;
pub mod lease;
mod lyrics;
mod played;
mod position;
mod queue;
pub mod restore;
mod snapshot;
mod sources;
mod track;
mod track_time;
pub mod voice_health;
pub mod vote;

pub use autoplay::Autoplay;
pub use failure_streak::{AfterFailure, FailureStreak, FAILURE_STREAK_LIMIT, QUICK_FAILURE_MS};
pub use guild_config::{GuildConfig, GuildConfigError, MAX_DEFAULT_VOLUME};
pub use lyrics::{line_at, LinePosition, Lyrics, LyricsBody, LyricsLine};
pub use played::Played;
pub use position::{extrapolate_position, now_ms};
pub use queue::{diff, EndReason, Hunk, LoopMode, Queue, QueueError};
pub use restore::{
    restorable, restore_pause_reason, restore_plays, restore_position, AudioStop, NotRestored,
};
pub(crate) use snapshot::{is_playing, position_at};
pub use snapshot::{
    FilterPreset, PauseReason, PlayerSnapshot, PlayerState, QueueSnapshot, SnapshotError,
    SNAPSHOT_SCHEMA_VERSION,
};
pub use sources::{Plugin, SearchSource};
pub use track::{SeekRefused, Track};
pub use track_time::{
    parse_seek, parse_time, start_for, start_from_link, PlayStart, SeekTo, StartError,
};
pub use voice_health::{HealStep, VoiceFault, VoiceHealth};

/// A Discord guild id (snowflake).
pub type GuildId = u64;

/// The shard a guild belongs to, by Discord's rule `(guild_id >> 22) % shard_count`.
pub fn shard_of(guild_id: GuildId, shard_count: u32) -> u32 {
    ((guild_id >> 22) % u64::from(shard_count.max(1))) as u32
}
