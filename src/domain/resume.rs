//! The rules of resuming after a restart: which saved players come back, where their track goes
//! on from, and whether they play.

use super::{PlayerSnapshot, PlayerState};

/// When the audio a saved player describes stopped being heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioStop {
    /// At this time (Unix ms): the previous instance shut down and closed its voice then.
    At(u64),
    /// It has not: the previous instance handed over and kept playing until we rejoin.
    Continued,
    /// Unknown (a crash): the last save is the best we know.
    Unknown,
}

/// Where a restored player's track goes on from: never past its end, never further back than
/// the newest thing we know.
pub fn resume_position(snapshot: &PlayerSnapshot, stop: AudioStop, now_ms: u64) -> u64 {
    let state = &snapshot.state;
    let at = match stop {
        AudioStop::At(t) => t.clamp(state.position_at_ms, now_ms.max(state.position_at_ms)),
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
    /// Nothing left to play.
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
    if snapshot.queue.current.is_none() {
        return Err(NotRestored::NothingToPlay);
    }
    if state.voice_channel_id.is_none() {
        return Err(NotRestored::NoVoiceChannel);
    }
    Ok(())
}

/// Whether a restored player plays (else it comes back paused): it was playing, resuming is on
/// (the server's own setting wins over `MUSIC_AUTO_RESUME`), and someone is listening or 24/7
/// is on. A track a person paused stays paused.
pub fn resume_plays(
    was_paused: bool,
    auto_resume: bool,
    listeners: usize,
    always_on: bool,
) -> bool {
    !was_paused && auto_resume && (listeners > 0 || always_on)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PlayerState, QueueSnapshot, Track};

    fn snap(position: u64, at: u64, taken: u64, paused: bool) -> PlayerSnapshot {
        let mut s = PlayerState::new(1);
        s.position_ms = position;
        s.position_at_ms = at;
        s.taken_at_ms = taken;
        s.paused = paused;
        s.voice_channel_id = Some(9);
        let track = Track {
            encoded: "x".into(),
            title: "t".into(),
            author: "a".into(),
            uri: None,
            length_ms: 200_000,
            is_stream: false,
            requester: None,
        };
        PlayerSnapshot::new(
            s,
            QueueSnapshot {
                current: Some(track),
                ..Default::default()
            },
        )
    }

    #[test]
    fn the_position_follows_how_the_audio_stopped() {
        let s = snap(10_000, 1_000, 4_000, false);
        // Shut down at 6 s: 5 s after the observation.
        assert_eq!(resume_position(&s, AudioStop::At(6_000), 9_000), 15_000);
        // A handover: it kept playing until now.
        assert_eq!(resume_position(&s, AudioStop::Continued, 9_000), 18_000);
        // A crash: as of the last save.
        assert_eq!(resume_position(&s, AudioStop::Unknown, 9_000), 13_000);
        // Never past the end of the track.
        assert_eq!(resume_position(&s, AudioStop::Continued, 900_000), 200_000);
        // A stop time before the observation never rewinds it.
        assert_eq!(resume_position(&s, AudioStop::At(0), 9_000), 10_000);
        // Paused: where it was.
        let p = snap(10_000, 1_000, 4_000, true);
        for stop in [
            AudioStop::At(6_000),
            AudioStop::Continued,
            AudioStop::Unknown,
        ] {
            assert_eq!(resume_position(&p, stop, 9_000), 10_000);
        }
    }

    #[test]
    fn stale_empty_and_channel_less_players_are_not_restored() {
        let s = snap(0, 0, 1_000, false);
        assert_eq!(restorable(&s, 2_000, 3_600_000), Ok(()));
        assert_eq!(
            restorable(&s, 1_000 + 3_600_001, 3_600_000),
            Err(NotRestored::TooOld)
        );
        let mut empty = s.clone();
        empty.queue.current = None;
        assert_eq!(
            restorable(&empty, 2_000, 3_600_000),
            Err(NotRestored::NothingToPlay)
        );
        let mut nowhere = s;
        nowhere.state.voice_channel_id = None;
        assert_eq!(
            restorable(&nowhere, 2_000, 3_600_000),
            Err(NotRestored::NoVoiceChannel)
        );
    }

    #[test]
    fn it_plays_only_if_it_played_resuming_is_on_and_someone_listens() {
        assert!(resume_plays(false, true, 2, false));
        assert!(!resume_plays(true, true, 2, false), "a person paused it");
        assert!(!resume_plays(false, false, 2, false), "resuming is off");
        assert!(!resume_plays(false, true, 0, false), "nobody listens");
        assert!(
            resume_plays(false, true, 0, true),
            "24/7 plays to an empty room"
        );
    }
}
