//! The confirmations commands reply with.

use super::{track_line, QUEUE_ENDED};
use crate::domain::Track;
use crate::player::format_ms;

/// After `/skip`: what plays now, or that the queue ended.
pub fn skipped(now: Option<&Track>) -> String {
    match now {
        Some(t) => format!("Skipped. Now playing {}.", track_line(t)),
        None => format!("Skipped. {QUEUE_ENDED}"),
    }
}

/// After `/previous`.
pub fn back_to(t: &Track) -> String {
    format!("Back to {}.", track_line(t))
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
