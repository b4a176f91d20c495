use serde::{Deserialize, Serialize};

/// One playable track: Lavalink's `encoded` string plus what we show and save about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    /// Lavalink's base64 encoded track; enough to play it again without searching.
    pub encoded: String,
    pub title: String,
    pub author: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Length in milliseconds (0 for streams of unknown length).
    pub length_ms: u64,
    #[serde(default)]
    pub is_stream: bool,
    /// The Discord user who asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<u64>,
}

impl Track {
    /// True when the track has an end that positions must be clamped to.
    pub fn has_length(&self) -> bool {
        !self.is_stream && self.length_ms > 0
    }
}
