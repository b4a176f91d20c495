//! What members read when something is refused or fails: rendered from plain error kinds (the
//! errors' own `Display` is for the log).

use super::{escape, plugin_missing, source_missing, INTERNAL, NOTHING_PLAYING};
use crate::audio::AudioError;
use crate::discord::CommandError;
use crate::domain::{QueueError, SeekRefused, StartError};
use crate::player::{format_ms, PlayerError};

/// An option Discord sent that the command could not read (`None`: missing or invalid ones).
pub fn unreadable_option(input: Option<&str>) -> String {
    match input {
        Some(i) => format!("I could not read `{}`.", escape(i)),
        None => "Some options were missing or invalid.".to_string(),
    }
}

/// What the member reads when a player operation is refused.
pub fn player_error(e: &PlayerError) -> String {
    match e {
        PlayerError::NotConnected => "I'm not connected to a voice channel in this server.".into(),
        PlayerError::NothingPlaying => NOTHING_PLAYING.into(),
        PlayerError::AlreadyPaused => "The player is already paused.".into(),
        PlayerError::NotPaused => "The player is not paused.".into(),
        PlayerError::EmptyQuery => {
            "Tell me what to play: a link or some words to search for.".into()
        }
        PlayerError::QueryTooLong { max } => {
            format!("That query is too long ({max} characters at most).")
        }
        PlayerError::NoResults(query) => format!("No results for `{query}`."),
        PlayerError::SourceMissing(source) => source_missing(*source),
        PlayerError::LoadFailed(Some(why)) => format!("That could not be loaded: {why}"),
        PlayerError::LoadFailed(None) => "That could not be loaded.".into(),
        PlayerError::Seek(refused) => seek_refused(refused),
        PlayerError::Start(StartError::PastTheEnd {
            start_ms,
            length_ms,
        }) => format!(
            "That track is {} long, so it can't start at {}. Nothing was queued.",
            format_ms(*length_ms),
            format_ms(*start_ms)
        ),
        PlayerError::VolumeOutOfRange { max } => format!("Volume goes from 0 to {max}."),
        PlayerError::Queue(e) => queue_error(e),
        PlayerError::Audio(e) => audio_error(e),
    }
}

/// What the member reads when a seek is refused.
pub fn seek_refused(refused: &SeekRefused) -> String {
    match refused {
        SeekRefused::LiveStream => "This track is a live stream: it cannot be seeked.".into(),
        SeekRefused::NotSeekable => {
            "The audio server cannot seek in this track, so it plays from start to end.".into()
        }
        SeekRefused::OutOfRange {
            length_ms: Some(length_ms),
        } => format!("Seek within the track: 0:00 to {}.", format_ms(*length_ms)),
        SeekRefused::OutOfRange { length_ms: None } => {
            "Seek to a time from 0:00 on (this track's length is unknown).".into()
        }
    }
}

/// What the member reads when the queue refuses a change.
pub fn queue_error(e: &QueueError) -> String {
    match e {
        QueueError::Full { max } => format!("The queue is full ({max} tracks at most)."),
        QueueError::NoSuchPosition { position, len } => {
            format!("There is no track at position {position}: the queue has {len} tracks.")
        }
        QueueError::NoPrevious => "There is no previous track.".into(),
        QueueError::Empty => "The queue is empty.".into(),
    }
}

/// What the member reads when the audio server fails a request (details go to the log).
pub fn audio_error(e: &AudioError) -> String {
    match e {
        AudioError::Unavailable => {
            "The audio server is unavailable right now, so that was not done; try again in a moment. Your queue is kept and goes on from where it stopped once the server is back.".into()
        }
        AudioError::PluginMissing(plugin) => plugin_missing(*plugin),
        AudioError::Rejected(why) => format!("The audio server refused the request: {why}"),
        AudioError::BadResponse(_) => {
            "The audio server sent an answer Encore could not read.".into()
        }
    }
}

/// The ephemeral answer to a command or button that failed.
pub fn command_error(e: &CommandError) -> String {
    match e {
        CommandError::Player(e) => player_error(e),
        CommandError::Refused(text) => text.clone(),
        CommandError::Internal(_) => INTERNAL.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_rendered_for_people() {
        assert_eq!(
            player_error(&PlayerError::Seek(SeekRefused::OutOfRange {
                length_ms: Some(212_000)
            })),
            "Seek within the track: 0:00 to 3:32."
        );
        assert_eq!(
            player_error(&PlayerError::Start(StartError::PastTheEnd {
                start_ms: 300_000,
                length_ms: 212_000
            })),
            "That track is 3:32 long, so it can't start at 5:00. Nothing was queued."
        );
        assert_eq!(
            player_error(&PlayerError::Seek(SeekRefused::NotSeekable)),
            "The audio server cannot seek in this track, so it plays from start to end."
        );
        assert_eq!(
            player_error(&PlayerError::LoadFailed(None)),
            "That could not be loaded."
        );
        assert_eq!(
            player_error(&PlayerError::Audio(AudioError::Unavailable)),
            "The audio server is unavailable right now, so that was not done; try again in a moment. Your queue is kept and goes on from where it stopped once the server is back."
        );
        assert_eq!(
            player_error(&PlayerError::Queue(QueueError::NoSuchPosition {
                position: 9,
                len: 2
            })),
            "There is no track at position 9: the queue has 2 tracks."
        );
        assert_eq!(
            command_error(&CommandError::Internal("database on fire".into())),
            INTERNAL,
            "internal details stay in the log"
        );
    }
}
