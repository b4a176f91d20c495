use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{extrapolate_position, Autoplay, GuildId, LoopMode, Queue, Track};

/// Bumped whenever the saved shape changes; a record of an unknown version is skipped on load.
pub const SNAPSHOT_SCHEMA_VERSION: u32 = 1;

/// The audio filter preset applied to a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterPreset {
    #[default]
    Off,
    Bassboost,
    Nightcore,
    Vaporwave,
    #[serde(rename = "8d")]
    EightD,
    Karaoke,
}

impl FilterPreset {
    pub const ALL: [FilterPreset; 6] = [
        FilterPreset::Off,
        FilterPreset::Bassboost,
        FilterPreset::Nightcore,
        FilterPreset::Vaporwave,
        FilterPreset::EightD,
        FilterPreset::Karaoke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FilterPreset::Off => "off",
            FilterPreset::Bassboost => "bassboost",
            FilterPreset::Nightcore => "nightcore",
            FilterPreset::Vaporwave => "vaporwave",
            FilterPreset::EightD => "8d",
            FilterPreset::Karaoke => "karaoke",
        }
    }

    pub fn parse(text: &str) -> Option<FilterPreset> {
        FilterPreset::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// Why a player is paused: kept with the player (saved), so a restart can tell a person's pause,
/// which stays, from a pause Encore made, which ends when its cause has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// A member paused it (`/pause`, the Pause button). Only a member resumes it.
    Member,
    /// It came back from a restart paused because automatic resume was off (the server's
    /// setting, else `MUSIC_AUTO_RESUME`).
    AutoResumeOff,
    /// It came back from a restart paused because nobody was in the voice channel and 24/7 is off.
    NobodyListening,
    /// Voice could not be healed (every step of the ladder failed).
    VoiceLost,
}

impl PauseReason {
    /// The stored name (SQLite `players.pause_reason`, MongoDB `pause_reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::Member => "member",
            PauseReason::AutoResumeOff => "auto_resume_off",
            PauseReason::NobodyListening => "nobody_listening",
            PauseReason::VoiceLost => "voice_lost",
        }
    }

    /// The reason of a stored name; `None` for an unknown one (a newer build's).
    pub fn parse(name: &str) -> Option<PauseReason> {
        [
            PauseReason::Member,
            PauseReason::AutoResumeOff,
            PauseReason::NobodyListening,
            PauseReason::VoiceLost,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// The small, often-changing part of a player: written on every autosave tick without touching
/// the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerState {
    pub guild_id: GuildId,
    pub voice_channel_id: Option<u64>,
    pub text_channel_id: Option<u64>,
    /// Position of the current track, in ms, as observed at `position_at_ms`.
    pub position_ms: u64,
    /// Wall-clock time (Unix ms) at which `position_ms` was observed.
    pub position_at_ms: u64,
    pub paused: bool,
    /// Why it is paused, as saved; read it through [`PlayerState::why_paused`]. Change both
    /// through [`PlayerState::pause`] and [`PlayerState::unpause`].
    #[serde(default)]
    pub pause_reason: Option<PauseReason>,
    /// Listeners hear nothing although it is not paused: no node plays it (the node's connection
    /// was lost, or no node was up to take a restore) or its voice is broken. The position then
    /// stands still where the audio stopped instead of being extrapolated — one rule for every
    /// outage, kept in the saved state so a restart during one starts where listeners last
    /// heard it.
    #[serde(default)]
    pub stalled: bool,
    /// Volume in percent, 0–200 (100 leaves the audio unchanged).
    pub volume: u16,
    pub loop_mode: LoopMode,
    pub filters: FilterPreset,
    /// Autoplay on or off, and its seed ([`crate::domain::autoplay`]). Records saved before it
    /// existed read as off.
    #[serde(default)]
    pub autoplay: Autoplay,
    /// Wall-clock time (Unix ms) at which this state was taken.
    pub taken_at_ms: u64,
}

impl PlayerState {
    pub fn new(guild_id: GuildId) -> Self {
        PlayerState {
            guild_id,
            voice_channel_id: None,
            text_channel_id: None,
            position_ms: 0,
            position_at_ms: 0,
            paused: false,
            pause_reason: None,
            stalled: false,
            volume: 100,
            loop_mode: LoopMode::Off,
            filters: FilterPreset::Off,
            autoplay: Autoplay::default(),
            taken_at_ms: 0,
        }
    }
}

impl PlayerState {
    /// Pauses for `reason`; a player already paused keeps its first reason unless a member
    /// pauses it (a member's pause is the one that must stay).
    pub fn pause(&mut self, reason: PauseReason) {
        if !self.paused || reason == PauseReason::Member {
            self.pause_reason = Some(reason);
        }
        self.paused = true;
    }

    /// Why it is paused; `None` while it plays. A paused record without a reason (saved before
    /// reasons were kept, by such a build during an overlapping deploy, or with a newer build's
    /// unknown reason) was paused by a member: all today's schema could mean, and the safe
    /// reading (a member's pause stays).
    pub fn why_paused(&self) -> Option<PauseReason> {
        self.paused
            .then(|| self.pause_reason.unwrap_or(PauseReason::Member))
    }

    pub fn unpause(&mut self) {
        self.paused = false;
        self.pause_reason = None;
    }

    /// Sets paused or playing as Lavalink or a plan says, with `reason` when paused.
    pub fn set_paused(&mut self, paused: bool, reason: PauseReason) {
        if paused {
            self.pause(reason);
        } else {
            self.unpause();
        }
    }
}

/// The queue as saved: the current track, the upcoming ones in order, and the history.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueSnapshot {
    pub current: Option<Track>,
    #[serde(default)]
    pub upcoming: VecDeque<Track>,
    #[serde(default)]
    pub history: VecDeque<Track>,
}

impl QueueSnapshot {
    /// A copy of the queue's tracks (see [`Queue::shared`] to share them instead).
    pub fn of(queue: &Queue) -> Self {
        (*queue.shared()).clone()
    }

    pub fn into_queue(self, max_len: usize, max_history: usize) -> Queue {
        Queue::from_parts(
            self.current,
            self.upcoming,
            self.history,
            max_len,
            max_history,
        )
    }
}

/// Everything needed to rebuild a guild's player after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerSnapshot {
    pub schema_version: u32,
    pub state: PlayerState,
    pub queue: QueueSnapshot,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("saved player of guild {guild_id} has schema version {found}, this build reads {SNAPSHOT_SCHEMA_VERSION}")]
    UnknownVersion { guild_id: GuildId, found: u32 },
    #[error("saved player of guild {guild_id} is unreadable: {reason}")]
    Corrupt { guild_id: GuildId, reason: String },
}

impl PlayerSnapshot {
    pub fn new(state: PlayerState, queue: QueueSnapshot) -> Self {
        PlayerSnapshot {
            schema_version: SNAPSHOT_SCHEMA_VERSION,
            state,
            queue,
        }
    }

    pub fn guild_id(&self) -> GuildId {
        self.state.guild_id
    }

    /// Playing means a current track that is not paused.
    pub fn is_playing(&self) -> bool {
        is_playing(&self.state, &self.queue)
    }

    /// The position of the current track at wall-clock time `now_ms`.
    pub fn position_at(&self, now_ms: u64) -> u64 {
        position_at(&self.state, &self.queue, now_ms)
    }

    /// Checks what a decoder cannot: the version and the value ranges.
    pub fn validate(&self) -> Result<(), SnapshotError> {
        let guild_id = self.state.guild_id;
        if self.schema_version != SNAPSHOT_SCHEMA_VERSION {
            return Err(SnapshotError::UnknownVersion {
                guild_id,
                found: self.schema_version,
            });
        }
        let corrupt = |reason: &str| SnapshotError::Corrupt {
            guild_id,
            reason: reason.to_string(),
        };
        if guild_id == 0 {
            return Err(corrupt("guild id 0"));
        }
        if self.state.volume > 1000 {
            return Err(corrupt("volume out of range"));
        }
        let tracks = self
            .queue
            .current
            .iter()
            .chain(&self.queue.upcoming)
            .chain(&self.queue.history);
        for t in tracks {
            if t.encoded.is_empty() {
                return Err(corrupt("a track without its encoded form"));
            }
        }
        Ok(())
    }
}

/// True when the player has a current track and is not paused.
pub(crate) fn is_playing(state: &PlayerState, queue: &QueueSnapshot) -> bool {
    queue.current.is_some() && !state.paused
}

/// The extrapolated position of the current track at `now_ms` (0 without a current track).
pub(crate) fn position_at(state: &PlayerState, queue: &QueueSnapshot, now_ms: u64) -> u64 {
    match &queue.current {
        None => 0,
        Some(t) => extrapolate_position(
            state.position_ms,
            state.position_at_ms,
            now_ms,
            state.paused || state.stalled,
            t.known_length_ms(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(len: u64) -> Track {
        Track {
            encoded: "QAAA".into(),
            title: "t".into(),
            author: "a".into(),
            uri: None,
            length_ms: Some(len),
            is_stream: false,
            is_seekable: true,
            requester: None,
            start_ms: None,
            autoplay: false,
        }
    }

    fn snap() -> PlayerSnapshot {
        let mut state = PlayerState::new(7 << 22);
        state.position_ms = 1_000;
        state.position_at_ms = 10_000;
        PlayerSnapshot::new(
            state,
            QueueSnapshot {
                current: Some(track(5_000)),
                upcoming: VecDeque::from([track(1)]),
                history: VecDeque::new(),
            },
        )
    }

    #[test]
    fn json_round_trip() {
        let s = snap();
        let text = serde_json::to_string(&s).unwrap();
        let back: PlayerSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert!(text.contains("\"loop_mode\":\"off\""));
    }

    #[test]
    fn position_follows_the_rule() {
        let mut s = snap();
        assert_eq!(s.position_at(12_000), 3_000);
        assert_eq!(s.position_at(99_000), 5_000);
        s.state.stalled = true;
        assert_eq!(s.position_at(99_000), 1_000, "nobody hears it");
        assert!(s.is_playing(), "not paused: it plays again once heard");
        s.state.stalled = false;
        s.state.paused = true;
        assert_eq!(s.position_at(99_000), 1_000);
        assert!(!s.is_playing());
        s.queue.current = None;
        assert_eq!(s.position_at(99_000), 0);
    }

    #[test]
    fn validate_rejects_unknown_versions_and_bad_values() {
        let mut s = snap();
        assert!(s.validate().is_ok());
        s.schema_version = 99;
        assert!(matches!(
            s.validate(),
            Err(SnapshotError::UnknownVersion { found: 99, .. })
        ));
        let mut s = snap();
        s.queue.upcoming[0].encoded.clear();
        assert!(matches!(s.validate(), Err(SnapshotError::Corrupt { .. })));
    }

    #[test]
    fn filter_names_round_trip() {
        for p in FilterPreset::ALL {
            assert_eq!(FilterPreset::parse(p.as_str()), Some(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
    }

    #[test]
    fn queue_round_trips_through_snapshot() {
        let mut q = Queue::new(10, 5);
        q.append(vec![track(1), track(2), track(3)]).unwrap();
        q.start();
        q.skip(LoopMode::Off);
        let back = QueueSnapshot::of(&q).into_queue(10, 5);
        assert_eq!(back, q);
    }
}
