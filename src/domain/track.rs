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
    /// Length in milliseconds; `None` when it is unknown (the audio server did not say, or said
    /// 0 or a negative length). Saved as `0` when unknown, which is what records saved before
    /// this field was optional hold for "no length", so both read the same.
    #[serde(default, with = "saved_length")]
    pub length_ms: Option<u64>,
    /// A live stream: no end, no seeking (see [`Track::known_length_ms`]).
    #[serde(default)]
    pub is_stream: bool,
    /// The audio server can seek in it (Lavalink's `isSeekable`). Records saved before this
    /// field existed read as seekable.
    #[serde(default = "seekable")]
    pub is_seekable: bool,
    /// The Discord user who asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<u64>,
    /// Where the track's first play starts (ms): a link's `t=` or `/play`'s `start`. Taken when
    /// the track starts playing ([`crate::domain::Queue::take_start`]), so a repeat plays it from
    /// the beginning. `None` (also for records saved before it existed): from the beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    /// Queued by autoplay ([`crate::domain::autoplay`]), not by a member: shown as such in
    /// `/queue` and `/nowplaying`. Records saved before it existed read as `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub autoplay: bool,
}

fn seekable() -> bool {
    true
}

/// Why a seek in a track is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeekRefused {
    #[error("a live stream has no position to seek to")]
    LiveStream,
    #[error("the audio server cannot seek in this track")]
    NotSeekable,
    /// Before 0, or past the track's end (`length_ms`, `None` when the length is unknown).
    #[error("outside the track (length {length_ms:?} ms)")]
    OutOfRange { length_ms: Option<u64> },
}

impl Track {
    /// The track's end, which positions are clamped to: its length, unless it is a live stream
    /// or its length is unknown.
    pub fn known_length_ms(&self) -> Option<u64> {
        if self.is_stream {
            None
        } else {
            self.length_ms
        }
    }

    /// The rule for seeking: `wanted_ms` (may be negative after a relative seek) becomes the
    /// position to seek to, from 0 to the track's end; with an unknown length only the start
    /// bounds it (the audio server ends the track if it is past its end).
    pub fn seek_target(&self, wanted_ms: i64) -> Result<u64, SeekRefused> {
        if self.is_stream {
            return Err(SeekRefused::LiveStream);
        }
        if !self.is_seekable {
            return Err(SeekRefused::NotSeekable);
        }
        let length_ms = self.known_length_ms();
        match u64::try_from(wanted_ms) {
            Ok(at) if length_ms.is_none_or(|len| at <= len) => Ok(at),
            _ => Err(SeekRefused::OutOfRange { length_ms }),
        }
    }
}

/// `length_ms` as saved: a number of milliseconds, `0` for unknown.
mod saved_length {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(length: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(length.unwrap_or(0))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.filter(|ms| *ms > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(length_ms: Option<u64>) -> Track {
        Track {
            encoded: "QAAA".into(),
            title: "t".into(),
            author: "a".into(),
            uri: None,
            length_ms,
            is_stream: false,
            is_seekable: true,
            requester: None,
            start_ms: None,
            autoplay: false,
        }
    }

    #[test]
    fn a_track_saved_before_lengths_were_optional_reads_the_same() {
        let old =
            r#"{"encoded":"QAAA","title":"t","author":"a","length_ms":212000,"is_stream":false}"#;
        let t: Track = serde_json::from_str(old).unwrap();
        assert_eq!(t.length_ms, Some(212_000));
        assert!(t.is_seekable, "older records read as seekable");
        let no_length = r#"{"encoded":"QAAA","title":"t","author":"a","length_ms":0}"#;
        let t: Track = serde_json::from_str(no_length).unwrap();
        assert_eq!(t.length_ms, None);
    }

    #[test]
    fn an_unknown_length_is_saved_as_zero_and_reads_back_unknown() {
        let mut t = track(None);
        t.is_seekable = false;
        let text = serde_json::to_string(&t).unwrap();
        assert!(text.contains("\"length_ms\":0"), "{text}");
        assert_eq!(serde_json::from_str::<Track>(&text).unwrap(), t);
        let known = track(Some(5_000));
        let back: Track = serde_json::from_str(&serde_json::to_string(&known).unwrap()).unwrap();
        assert_eq!(back, known);
    }

    #[test]
    fn streams_have_no_known_length() {
        let mut t = track(Some(9_000));
        assert_eq!(t.known_length_ms(), Some(9_000));
        t.is_stream = true;
        assert_eq!(t.known_length_ms(), None);
    }

    #[test]
    fn seeking_stays_within_the_track_and_is_refused_where_it_cannot_be_done() {
        let t = track(Some(60_000));
        assert_eq!(t.seek_target(30_000), Ok(30_000));
        assert_eq!(t.seek_target(60_000), Ok(60_000));
        assert_eq!(
            t.seek_target(60_001),
            Err(SeekRefused::OutOfRange {
                length_ms: Some(60_000)
            })
        );
        assert_eq!(
            t.seek_target(-1),
            Err(SeekRefused::OutOfRange {
                length_ms: Some(60_000)
            })
        );
        let unknown = track(None);
        assert_eq!(unknown.seek_target(3_600_000), Ok(3_600_000));
        assert_eq!(
            unknown.seek_target(-5),
            Err(SeekRefused::OutOfRange { length_ms: None })
        );
        let mut fixed = track(None);
        fixed.is_seekable = false;
        assert_eq!(fixed.seek_target(0), Err(SeekRefused::NotSeekable));
        let mut live = track(None);
        live.is_stream = true;
        assert_eq!(live.seek_target(0), Err(SeekRefused::LiveStream));
    }

    #[test]
    fn a_start_is_saved_only_when_there_is_one_and_old_records_read_without_it() {
        let old =
            r#"{"encoded":"QAAA","title":"t","author":"a","length_ms":5000,"is_stream":false}"#;
        let t: Track = serde_json::from_str(old).unwrap();
        assert_eq!(t.start_ms, None);
        assert!(!serde_json::to_string(&t).unwrap().contains("start_ms"));
        let with = Track {
            start_ms: Some(103_000),
            ..t
        };
        let text = serde_json::to_string(&with).unwrap();
        assert!(text.contains(r#""start_ms":103000"#), "{text}");
        assert_eq!(serde_json::from_str::<Track>(&text).unwrap(), with);
    }
}
