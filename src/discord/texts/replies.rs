//! The confirmations commands reply with.

use super::{track_line, QUEUE_ENDED};
use crate::domain::{LoopMode, Track};
use crate::player::{format_ms, Switched};

/// After `/skip` (or the Skip button): what was skipped, what plays now and the loop mode that
/// applies to it, or that the queue ended.
pub fn skipped(s: &Switched) -> String {
    let what = match &s.from {
        Some(t) => format!("Skipped {}.", track_line(t)),
        None => "Skipped.".to_string(),
    };
    match &s.now {
        Some(t) => format!(
            "{what} Now playing {}.{}",
            track_line(t),
            loop_note(s.loop_mode)
        ),
        None if s.autoplay => format!("{what} {AUTOPLAY_LOOKING}"),
        None => format!("{what} {QUEUE_ENDED}"),
    }
}

/// After skipping the last track with autoplay on.
pub const AUTOPLAY_LOOKING: &str =
    "That was the last track: autoplay is looking for a related one.";

/// After `/previous`: the track that plays again, and the loop mode that applies to it.
pub fn back_to(s: &Switched) -> String {
    match &s.now {
        Some(t) => format!("Back to {}.{}", track_line(t), loop_note(s.loop_mode)),
        None => QUEUE_ENDED.to_string(),
    }
}

/// After a reply that changed the current track: the loop mode that now applies (nothing when
/// loop is off), with a leading space.
pub fn loop_note(mode: LoopMode) -> &'static str {
    match mode {
        LoopMode::Off => "",
        LoopMode::Track => " Still looping the current track (loop: track).",
        LoopMode::Queue => " Still looping the queue (loop: queue).",
    }
}

/// After `/seek`, with the new position (ms).
pub fn jumped_to(position_ms: u64) -> String {
    format!("Jumped to {}.", format_ms(position_ms))
}

/// After `/volume`, in % (100 is unchanged).
pub fn volume_set(level: u16) -> String {
    format!("Volume set to {level}%.")
}

/// After `/shuffle`.
pub fn shuffled(n: usize) -> String {
    format!("Shuffled {n} track(s).")
}

/// After `/remove`.
pub fn removed(t: &Track) -> String {
    format!("Removed {}.", track_line(t))
}

/// After `/move` (1-based queue positions).
pub fn moved(from: usize, to: usize) -> String {
    format!("Moved the track at {from} to {to}.")
}

/// After `/clear`.
pub fn cleared(n: usize) -> String {
    format!("Cleared {n} track(s) from the queue.")
}

/// The first line of `/settings`: whether it changed anything.
pub fn settings_title(changed: bool) -> &'static str {
    if changed {
        "Settings saved."
    } else {
        "Settings:"
    }
}

/// A confirmation whose change the store could not take yet (it is kept, and saved once the store
/// answers again): `reply` and a small note.
pub fn not_saved_yet(reply: &str) -> String {
    format!("{reply}\n{NOT_SAVED_YET}")
}

/// The note under a confirmation that is not saved yet (Discord's small grey subtext).
pub const NOT_SAVED_YET: &str =
    "-# Not saved yet: the bot's storage is not answering. A restart before it answers again would undo this.";

#[cfg(test)]
mod tests {
    use super::*;

    fn track(title: &str) -> Track {
        Track {
            encoded: "QAAA".into(),
            title: title.into(),
            author: "Band".into(),
            uri: None,
            length_ms: Some(60_000),
            is_stream: false,
            is_seekable: true,
            requester: None,
            start_ms: None,
            autoplay: false,
        }
    }

    fn switched(now: Option<&str>, loop_mode: LoopMode) -> Switched {
        Switched {
            from: Some(track("Old")),
            now: now.map(track),
            loop_mode,
            autoplay: false,
        }
    }

    #[test]
    fn a_skip_says_which_loop_mode_applies_to_what_plays_now() {
        assert_eq!(
            skipped(&switched(Some("New"), LoopMode::Track)),
            "Skipped **Old** by Band `1:00`. Now playing **New** by Band `1:00`. \
             Still looping the current track (loop: track)."
        );
        assert_eq!(
            skipped(&switched(Some("New"), LoopMode::Queue)),
            "Skipped **Old** by Band `1:00`. Now playing **New** by Band `1:00`. \
             Still looping the queue (loop: queue)."
        );
        assert_eq!(
            skipped(&switched(Some("New"), LoopMode::Off)),
            "Skipped **Old** by Band `1:00`. Now playing **New** by Band `1:00`."
        );
        assert_eq!(
            skipped(&switched(None, LoopMode::Track)),
            "Skipped **Old** by Band `1:00`. The queue has ended."
        );
        assert_eq!(
            back_to(&switched(Some("Before"), LoopMode::Track)),
            "Back to **Before** by Band `1:00`. Still looping the current track (loop: track)."
        );
    }
}
