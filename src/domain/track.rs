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
    /// Where the track's first play starts (ms): a link's `t=` or `/play`'s `start`. Taken when
    /// the track starts playing ([`crate::domain::Queue::take_start`]), so a repeat plays it from
    /// the beginning. `None` (also for records saved before it existed): from the beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
}

impl Track {
    /// True when the track has an end that positions must be clamped to.
    pub fn has_length(&self) -> bool {
        !self.is_stream && self.length_ms > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_is_saved_only_when_there_is_one_and_old_records_read_without_it() {
        let old =
            r#"{"encoded":"QAAA","title":"t","author":"a","length_ms":5000,"is_stream":false}"#;
        let t: Track = serde_json::from_str(old).unwrap();
        assert_eq!(t.start_ms, None);
        assert_eq!(serde_json::to_string(&t).unwrap(), old);
        let with = Track {
            start_ms: Some(103_000),
            ..t
        };
        let text = serde_json::to_string(&with).unwrap();
        assert!(text.contains(r#""start_ms":103000"#), "{text}");
        assert_eq!(serde_json::from_str::<Track>(&text).unwrap(), with);
    }
}
