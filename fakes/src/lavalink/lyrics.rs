//! LavaLyrics (1.0.0) answers: the lyrics the fake knows per track and the Lyrics object
//! `{sourceName, provider, text, lines, plugin}` each lyrics source renders them as.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What the lyrics sources find for a track (set with
/// [`crate::lavalink::FakeLavalink::set_lyrics`] or `POST /control/lyrics`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FakeLyrics {
    /// Text only (YouTube Music's lyrics tab without timing): `text` set; `lines` is `null`
    /// from the YouTube source, `[]` from Deezer and LRCLIB.
    Plain(String),
    /// Timed lines: `(timestamp ms, duration ms, line)`. `text` is the lines joined with
    /// `\n` (YouTube's and LRCLIB's plain text), `lines` the lines (LRCLIB has no durations:
    /// `null` there).
    Synced(Vec<(u64, Option<u64>, String)>),
    /// No source finds lyrics: 204 No Content.
    None,
}

/// The LavaLyrics source that answers, which decides the Lyrics object's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LyricsSource {
    /// LavaSrc's YouTube (Music) lyrics: `sourceName: "youtube"`, `provider` the credit
    /// YouTube shows ("Source: LyricFind").
    YouTube,
    /// LavaSrc's Deezer lyrics (asked first for Deezer tracks): `sourceName: "deezer"`,
    /// `provider: "LyricFind"`.
    Deezer,
    /// LavaSrc's LRCLIB lyrics (the one left when the youtube plugin is off):
    /// `sourceName: "LRCLIB"`, `provider: "LRCLIB"`.
    LrcLib,
}

impl FakeLyrics {
    /// The Lyrics object `source` answers with; None for [`FakeLyrics::None`] (204).
    pub(crate) fn render(&self, source: LyricsSource) -> Option<Value> {
        let (source_name, provider) = match source {
            LyricsSource::YouTube => ("youtube", "Source: LyricFind"),
            LyricsSource::Deezer => ("deezer", "LyricFind"),
            LyricsSource::LrcLib => ("LRCLIB", "LRCLIB"),
        };
        let (text, lines) = match self {
            FakeLyrics::None => return None,
            FakeLyrics::Plain(text) => (
                text.clone(),
                match source {
                    LyricsSource::YouTube => Value::Null,
                    _ => json!([]),
                },
            ),
            FakeLyrics::Synced(lines) => (
                lines
                    .iter()
                    .map(|(_, _, l)| l.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                Value::Array(
                    lines
                        .iter()
                        .map(|(timestamp, duration, line)| {
                            let duration = match source {
                                LyricsSource::LrcLib => None,
                                _ => *duration,
                            };
                            json!({"timestamp": timestamp, "duration": duration, "line": line, "plugin": {}})
                        })
                        .collect(),
                ),
            ),
        };
        Some(json!({
            "sourceName": source_name,
            "provider": provider,
            "text": text,
            "lines": lines,
            "plugin": {},
        }))
    }
}

/// The catalogue track with plain lyrics by default (longer than one Discord embed).
pub const PLAIN_LYRICS_IDENTIFIER: &str = "dQw4w9WgXcQ";
/// The catalogue track with timed lyrics by default (30 lines).
pub const SYNCED_LYRICS_IDENTIFIER: &str = "fJ9rUzIMcZQ";

/// Made-up fixture text (no real song's words): 8 stanzas of 11 lines, about 6000
/// characters, stanzas separated by a blank line.
pub(crate) fn default_plain() -> FakeLyrics {
    let stanzas: Vec<String> = (1..=8)
        .map(|s| {
            (1..=11)
                .map(|l| {
                    format!(
                        "Stanza {s}, line {l:>2}: the fixture tone hums along, steady and clear"
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    FakeLyrics::Plain(stanzas.join("\n\n"))
}

/// Made-up timed fixture lines: 30 lines, one every 11 s from 5 s, each lasting 10 s.
pub(crate) fn default_synced() -> FakeLyrics {
    FakeLyrics::Synced(
        (0..30u64)
            .map(|i| {
                (
                    5_000 + i * 11_000,
                    Some(10_000),
                    format!("Timed fixture line {}: the tone rises and falls", i + 1),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_default_plain_lyrics_need_two_embeds() {
        let FakeLyrics::Plain(text) = default_plain() else {
            panic!()
        };
        assert!(
            text.chars().count() > 4096 && text.chars().count() < 8192,
            "{}",
            text.len()
        );
    }

    #[test]
    fn each_source_shapes_the_lyrics_its_way() {
        let plain = FakeLyrics::Plain("a\nb".into());
        let yt = plain.render(LyricsSource::YouTube).unwrap();
        assert_eq!(
            yt,
            json!({"sourceName": "youtube", "provider": "Source: LyricFind", "text": "a\nb",
                   "lines": null, "plugin": {}})
        );
        assert_eq!(
            plain.render(LyricsSource::Deezer).unwrap()["lines"],
            json!([])
        );
        let synced = FakeLyrics::Synced(vec![
            (1000, Some(500), "x".into()),
            (2000, None, "y".into()),
        ]);
        let lrc = synced.render(LyricsSource::LrcLib).unwrap();
        assert_eq!(lrc["text"], "x\ny");
        assert_eq!(
            lrc["lines"][0],
            json!({"timestamp": 1000, "duration": null, "line": "x", "plugin": {}})
        );
        assert_eq!(
            synced.render(LyricsSource::YouTube).unwrap()["lines"][0]["duration"],
            500
        );
        assert_eq!(FakeLyrics::None.render(LyricsSource::YouTube), None);
    }
}
