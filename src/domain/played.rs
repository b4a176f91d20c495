//! What a server played: the tracks it heard, newest first, kept per guild apart from the
//! player (a `/stop` forgets the player, not what it played). `/history` lists them and
//! autoplay never picks one of the last ones again.

use serde::{Deserialize, Serialize};

use super::Track;

/// One track a guild heard, and when it started (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Played {
    pub played_at_ms: u64,
    pub track: Track,
}
