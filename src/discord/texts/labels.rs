//! Button labels and embed titles.

use crate::domain::LoopMode;

pub const NOW_PLAYING: &str = "Now playing";
pub const QUEUE: &str = "Queue";
pub const RESUME: &str = "Resume";
pub const PAUSE: &str = "Pause";
pub const SKIP: &str = "Skip";
pub const STOP: &str = "Stop";
pub const PREVIOUS_PAGE: &str = "Previous page";
pub const NEXT_PAGE: &str = "Next page";
pub const HISTORY: &str = "Recently played";
pub const REWIND: &str = "-10s";
pub const REPLAY: &str = "Replay";
pub const FORWARD: &str = "+10s";

/// The autoplay button, naming whether it is on.
pub fn autoplay(on: bool) -> String {
    format!("Autoplay: {}", if on { "on" } else { "off" })
}

/// The loop button, naming the current mode.
pub fn loop_mode(mode: LoopMode) -> String {
    format!("Loop: {}", mode.as_str())
}
