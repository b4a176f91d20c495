//! A track's lyrics as an audio server's lyrics plugin found them (LavaLyrics' lyrics object, in
//! our terms), and which line is sung at a position.

/// Lyrics of one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lyrics {
    /// Where they were found (LavaLyrics' `sourceName`, such as `youtube` or `spotify`); may be
    /// empty.
    pub source: String,
    /// Who provided them on that source (`provider`, such as `MusixMatch`); may be empty.
    pub provider: String,
    pub body: LyricsBody,
}

/// The words: plain text, or lines with times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LyricsBody {
    /// Text without times, lines separated by `\n`.
    Plain(String),
    /// Lines in order of their times (at least one line).
    Synced(Vec<LyricsLine>),
}

/// One timed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LyricsLine {
    /// When it starts, in ms from the start of the track.
    pub timestamp_ms: u64,
    /// How long it is sung, in ms, when the provider says.
    pub duration_ms: Option<u64>,
    /// The words; empty for an instrumental pause.
    pub text: String,
}

/// Where a position falls in timed lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePosition {
    /// The line being sung: the last one started at or before the position, unless its known
    /// duration has already run out.
    pub current: Option<usize>,
    /// The first line that starts after the position (`lines.len()` when none does).
    pub next: usize,
}

impl Lyrics {
    /// Lyrics from what a lyrics plugin answered: timed lines when at least one line has a time
    /// (lines are sorted by time), else the text, else the lines' words as plain text; `None`
    /// when there are no words at all.
    pub fn from_parts(
        source: String,
        provider: String,
        text: Option<String>,
        mut lines: Vec<LyricsLine>,
    ) -> Option<Lyrics> {
        let timed = lines.iter().any(|l| l.timestamp_ms > 0);
        let body = if timed {
            lines.sort_by_key(|l| l.timestamp_ms);
            LyricsBody::Synced(lines)
        } else {
            let text = match text.filter(|t| !t.trim().is_empty()) {
                Some(t) => t,
                None => lines
                    .iter()
                    .map(|l| l.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            if text.trim().is_empty() {
                return None;
            }
            LyricsBody::Plain(text)
        };
        Some(Lyrics {
            source,
            provider,
            body,
        })
    }
}

/// Where `position_ms` falls in `lines` (sorted by time).
pub fn line_at(lines: &[LyricsLine], position_ms: u64) -> LinePosition {
    let next = lines.partition_point(|l| l.timestamp_ms <= position_ms);
    let current = next.checked_sub(1).filter(|&i| {
        let l = &lines[i];
        l.duration_ms
            .is_none_or(|d| position_ms < l.timestamp_ms.saturating_add(d))
    });
    LinePosition { current, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(timestamp_ms: u64, duration_ms: Option<u64>, text: &str) -> LyricsLine {
        LyricsLine {
            timestamp_ms,
            duration_ms,
            text: text.into(),
        }
    }

    #[test]
    fn the_current_line_is_the_last_started_one_while_it_lasts() {
        let lines = [
            line(1000, None, "one"),
            line(5000, Some(2000), "two"),
            line(10_000, None, "three"),
        ];
        assert_eq!(
            line_at(&lines, 0),
            LinePosition {
                current: None,
                next: 0
            }
        );
        assert_eq!(
            line_at(&lines, 1000),
            LinePosition {
                current: Some(0),
                next: 1
            }
        );
        assert_eq!(
            line_at(&lines, 6999),
            LinePosition {
                current: Some(1),
                next: 2
            }
        );
        // Line two lasts 2 s: after it, nothing is sung until three.
        assert_eq!(
            line_at(&lines, 7000),
            LinePosition {
                current: None,
                next: 2
            }
        );
        assert_eq!(
            line_at(&lines, 60_000),
            LinePosition {
                current: Some(2),
                next: 3
            }
        );
    }

    #[test]
    fn lines_without_times_read_as_plain_text() {
        let s = |t: &str| t.to_string();
        let synced = Lyrics::from_parts(
            s("spotify"),
            s("MusixMatch"),
            None,
            vec![line(2000, None, "b"), line(1000, None, "a")],
        )
        .unwrap();
        assert_eq!(
            synced.body,
            LyricsBody::Synced(vec![line(1000, None, "a"), line(2000, None, "b")])
        );
        let untimed = Lyrics::from_parts(
            s("deezer"),
            s(""),
            None,
            vec![line(0, None, "a"), line(0, None, "b")],
        )
        .unwrap();
        assert_eq!(untimed.body, LyricsBody::Plain("a\nb".into()));
        let text = Lyrics::from_parts(s("youtube"), s(""), Some(s("words")), vec![]).unwrap();
        assert_eq!(text.body, LyricsBody::Plain("words".into()));
        assert_eq!(
            Lyrics::from_parts(s("youtube"), s(""), Some(s(" \n")), vec![]),
            None
        );
    }
}
