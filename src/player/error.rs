use crate::audio::AudioError;
use crate::domain::QueueError;

/// What a player operation can refuse; the text is what the user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayerError {
    #[error("I'm not connected to a voice channel in this server.")]
    NotConnected,
    #[error("Nothing is playing.")]
    NothingPlaying,
    #[error("The player is already paused.")]
    AlreadyPaused,
    #[error("The player is not paused.")]
    NotPaused,
    #[error("Tell me what to play: a link or some words to search for.")]
    EmptyQuery,
    #[error("That query is too long ({max} characters at most).")]
    QueryTooLong { max: usize },
    #[error("No results for `{0}`.")]
    NoResults(String),
    #[error("That could not be loaded: {0}")]
    LoadFailed(String),
    #[error("This track is a live stream: it cannot be seeked.")]
    NotSeekable,
    #[error("Seek within the track: 0:00 to {}.", format_ms(*length_ms))]
    SeekOutOfRange { length_ms: u64 },
    #[error("Volume goes from 0 to {max}.")]
    VolumeOutOfRange { max: u16 },
    #[error("{0}")]
    Queue(QueueError),
    #[error("{0}")]
    Audio(AudioError),
}

/// `m:ss` or `h:mm:ss`.
pub fn format_ms(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(format_ms(0), "0:00");
        assert_eq!(format_ms(212_000), "3:32");
        assert_eq!(format_ms(3_723_000), "1:02:03");
    }

    #[test]
    fn messages_are_for_people() {
        assert_eq!(
            PlayerError::SeekOutOfRange { length_ms: 212_000 }.to_string(),
            "Seek within the track: 0:00 to 3:32."
        );
        assert_eq!(
            PlayerError::Audio(AudioError::Unavailable).to_string(),
            "The audio server is unavailable right now; retrying. Your queue is kept."
        );
    }
}
