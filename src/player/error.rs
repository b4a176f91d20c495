use crate::audio::AudioError;
use crate::domain::{QueueError, SearchSource, SeekRefused, StartError};

/// What a player operation can refuse. `Display` is for the log; what the user reads is rendered
/// by `discord::texts::player_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayerError {
    #[error("not connected to voice")]
    NotConnected,
    #[error("nothing playing")]
    NothingPlaying,
    #[error("already paused")]
    AlreadyPaused,
    #[error("not paused")]
    NotPaused,
    #[error("empty query")]
    EmptyQuery,
    #[error("query longer than {max} characters")]
    QueryTooLong { max: usize },
    #[error("no results for {0:?}")]
    NoResults(String),
    /// No connected node has the source to search (its plugin is missing, or it is turned off).
    #[error("no node has the source of {0:?}")]
    SourceMissing(SearchSource),
    /// The source could not load it; the message, when the audio server gave one, is safe to
    /// show.
    #[error("load failed: {0:?}")]
    LoadFailed(Option<String>),
    #[error("seek refused: {0}")]
    Seek(SeekRefused),
    #[error("start: {0}")]
    Start(StartError),
    #[error("volume above {max}")]
    VolumeOutOfRange { max: u16 },
    #[error("queue: {0}")]
    Queue(QueueError),
    #[error("audio server: {0}")]
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
}
