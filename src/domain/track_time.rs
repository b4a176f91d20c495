//! A time in a track, as members and links write it: the one grammar `/seek`, `/play`'s `start`
//! option and the start time of a link (`t=`, `start=`, `#t=`) share, and the rule for where a
//! newly queued track starts.

use url::Url;

use super::Track;

/// Parses a time in a track into milliseconds. Accepted forms:
/// - a clock: `1:43` (m:ss), `1:02:03` (h:mm:ss);
/// - seconds: `103`;
/// - units, as YouTube and Twitch links write them: `103s`, `1m43s`, `1h2m3s` (read by
///   `humantime`, so `1m 43s` is fine too).
///
/// `None` for anything else (empty, negative, fractions, too large).
pub fn parse_time(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.chars().all(|c| c.is_ascii_digit() || c == ':') {
        return parse_clock(t);
    }
    if !t.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let d = humantime::parse_duration(t).ok()?;
    u64::try_from(d.as_millis()).ok()
}

/// `1:43`, `1:02:03` or plain seconds `103` (each part at most 6 digits).
fn parse_clock(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    let mut secs: u64 = 0;
    for p in parts {
        if p.is_empty() || p.len() > 6 {
            return None;
        }
        secs = secs.checked_mul(60)?.checked_add(p.parse::<u64>().ok()?)?;
    }
    secs.checked_mul(1000)
}

/// What `/seek` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTo {
    /// An absolute position (ms).
    At(u64),
    /// Forward (positive) or back (negative) by this many ms.
    By(i64),
}

/// Parses `/seek`'s input: a time ([`parse_time`]), or `+`/`-` and a time to move by
/// (`+10`, `-15`, `+1m`).
pub fn parse_seek(text: &str) -> Option<SeekTo> {
    let t = text.trim();
    let relative = |rest: &str| i64::try_from(parse_time(rest)?).ok();
    if let Some(rest) = t.strip_prefix('+') {
        return relative(rest).map(SeekTo::By);
    }
    if let Some(rest) = t.strip_prefix('-') {
        return relative(rest).map(|ms| SeekTo::By(-ms));
    }
    parse_time(t).map(SeekTo::At)
}

/// The start time (ms) a link asks for, from any host: the query's `t` or `start`
/// (`watch?v=…&t=103`, `youtu.be/…?t=1m43s`, Twitch's `?t=1h2m3s`), else the fragment's `t`
/// (`#t=1:43`, as SoundCloud and YouTube write it). `None` when the text is not an http(s) link,
/// names no time, names an unreadable one (`t=abc`), or names 0.
pub fn start_from_link(link: &str) -> Option<u64> {
    let url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let named = |pairs: url::form_urlencoded::Parse<'_>, keys: &[&str]| {
        let pairs: Vec<_> = pairs.collect();
        keys.iter().find_map(|key| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.to_string())
        })
    };
    let value = named(url.query_pairs(), &["t", "start"]).or_else(|| {
        let fragment = url.fragment()?;
        named(url::form_urlencoded::parse(fragment.as_bytes()), &["t"])
    })?;
    parse_time(&value).filter(|ms| *ms > 0)
}

/// Why a start cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("start at {start_ms} ms is at or past the track's end ({length_ms} ms)")]
    PastTheEnd { start_ms: u64, length_ms: u64 },
}

/// Where the first track a `/play` queues starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayStart {
    /// From the beginning: no start was asked (or 0).
    Beginning,
    /// At this position (ms).
    At(u64),
    /// A start was asked for a live stream, which plays live.
    IgnoredLive,
    /// A start was asked for a playlist, which plays from the beginning of its first track.
    IgnoredPlaylist,
    /// A start was asked for a track the audio server cannot seek in (`isSeekable` false):
    /// it plays from the beginning.
    IgnoredNotSeekable,
}

impl PlayStart {
    /// The position (ms) to start at, when there is one.
    pub fn ms(self) -> Option<u64> {
        match self {
            PlayStart::At(ms) => Some(ms),
            _ => None,
        }
    }
}

/// Where `first`, the first track a `/play` loaded, starts when `start_ms` is asked for (the
/// `start` option, else the link's time). A start applies to a single track (a link to one, or
/// a search's first hit) only. A playlist ignores it: YouTube applies `t=` to the video a
/// `watch?v=…&list=…` link names, but the whole playlist is queued from its first track, where
/// that time would land in another video. A live stream ignores it too, and so does a track the
/// audio server cannot seek in (a start is a seek). A track of known length refuses a start at
/// or past its end.
pub fn start_for(
    first: &Track,
    playlist: bool,
    start_ms: Option<u64>,
) -> Result<PlayStart, StartError> {
    let Some(start_ms) = start_ms.filter(|s| *s > 0) else {
        return Ok(PlayStart::Beginning);
    };
    if playlist {
        return Ok(PlayStart::IgnoredPlaylist);
    }
    if first.is_stream {
        return Ok(PlayStart::IgnoredLive);
    }
    if !first.is_seekable {
        return Ok(PlayStart::IgnoredNotSeekable);
    }
    if let Some(length_ms) = first.known_length_ms().filter(|len| start_ms >= *len) {
        return Err(StartError::PastTheEnd {
            start_ms,
            length_ms,
        });
    }
    Ok(PlayStart::At(start_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form() {
        let cases = [
            ("1:43", 103_000),
            ("103", 103_000),
            ("103s", 103_000),
            ("1m43s", 103_000),
            ("1m 43s", 103_000),
            ("1h2m3s", 3_723_000),
            ("1:02:03", 3_723_000),
            ("0", 0),
            (" 83 ", 83_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_time(text), Some(ms), "{text}");
        }
        for bad in [
            "",
            "abc",
            "1:",
            ":5",
            "1:2:3:4",
            "1.5",
            "-3",
            "+3",
            "99999999999",
            "m43s",
            "1x",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn seek_is_a_time_or_a_signed_one() {
        assert_eq!(parse_seek("1:23"), Some(SeekTo::At(83_000)));
        assert_eq!(parse_seek("83"), Some(SeekTo::At(83_000)));
        assert_eq!(parse_seek("1m43s"), Some(SeekTo::At(103_000)));
        assert_eq!(parse_seek("1:02:03"), Some(SeekTo::At(3_723_000)));
        assert_eq!(parse_seek("+10"), Some(SeekTo::By(10_000)));
        assert_eq!(parse_seek("-15"), Some(SeekTo::By(-15_000)));
        assert_eq!(parse_seek("+1m"), Some(SeekTo::By(60_000)));
        for bad in ["", "soon", "+", "-", "+-3", "--3", "1:", "99999999999"] {
            assert_eq!(parse_seek(bad), None, "{bad}");
        }
    }

    #[test]
    fn start_times_of_youtube_links() {
        let cases = [
            ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=103", 103_000),
            (
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=103s",
                103_000,
            ),
            (
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1m43s",
                103_000,
            ),
            (
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1h2m3s",
                3_723_000,
            ),
            ("https://www.youtube.com/watch?t=103&v=dQw4w9WgXcQ", 103_000),
            (
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ&start=103",
                103_000,
            ),
            (
                "https://www.youtube.com/embed/dQw4w9WgXcQ?start=103",
                103_000,
            ),
            (
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ#t=1:43",
                103_000,
            ),
            ("https://www.youtube.com/watch?v=dQw4w9WgXcQ#t=103", 103_000),
            ("https://youtu.be/dQw4w9WgXcQ?t=103", 103_000),
            ("https://youtu.be/dQw4w9WgXcQ?si=abc&t=1m43s", 103_000),
            ("http://youtu.be/dQw4w9WgXcQ?t=1%3A43", 103_000),
            // The query's time wins over the fragment's.
            ("https://www.youtube.com/watch?v=x&t=10#t=20", 10_000),
        ];
        for (link, ms) in cases {
            assert_eq!(start_from_link(link), Some(ms), "{link}");
        }
    }

    #[test]
    fn start_times_of_other_hosts() {
        assert_eq!(
            start_from_link("https://soundcloud.com/artist/track#t=1:43"),
            Some(103_000)
        );
        assert_eq!(
            start_from_link("https://www.twitch.tv/videos/123456789?t=1h2m3s"),
            Some(3_723_000)
        );
        assert_eq!(
            start_from_link("https://vimeo.com/76979871#t=1m43s"),
            Some(103_000)
        );
    }

    #[test]
    fn links_without_a_usable_time_start_at_the_beginning() {
        for link in [
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=abc",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=0",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=0s",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ#comments",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PL1&index=3",
            "never gonna give you up t=103",
            "ytsearch:t=103",
            "ftp://example.com/song.mp3?t=103",
        ] {
            assert_eq!(start_from_link(link), None, "{link}");
        }
    }

    fn track(length_ms: u64, is_stream: bool) -> Track {
        Track {
            encoded: "QAAA".into(),
            title: "t".into(),
            author: "a".into(),
            uri: None,
            length_ms: (length_ms > 0).then_some(length_ms),
            is_stream,
            is_seekable: !is_stream,
            requester: None,
            start_ms: None,
            autoplay: false,
        }
    }

    #[test]
    fn a_start_must_fall_inside_a_track_of_known_length() {
        let song = track(212_000, false);
        assert_eq!(
            start_for(&song, false, Some(103_000)),
            Ok(PlayStart::At(103_000))
        );
        assert_eq!(start_for(&song, false, None), Ok(PlayStart::Beginning));
        assert_eq!(start_for(&song, false, Some(0)), Ok(PlayStart::Beginning));
        assert_eq!(
            start_for(&song, false, Some(212_000)),
            Err(StartError::PastTheEnd {
                start_ms: 212_000,
                length_ms: 212_000
            })
        );
        assert!(start_for(&song, false, Some(300_000)).is_err());
    }

    #[test]
    fn streams_and_playlists_ignore_a_start_and_unknown_lengths_keep_it() {
        let live = track(i64::MAX as u64, true);
        assert_eq!(
            start_for(&live, false, Some(103_000)),
            Ok(PlayStart::IgnoredLive)
        );
        assert_eq!(start_for(&live, false, None), Ok(PlayStart::Beginning));
        assert_eq!(
            start_for(&track(1_000, false), true, Some(103_000)),
            Ok(PlayStart::IgnoredPlaylist)
        );
        assert_eq!(
            start_for(&track(0, false), false, Some(103_000)),
            Ok(PlayStart::At(103_000))
        );
        let mut fixed = track(200_000, false);
        fixed.is_seekable = false;
        assert_eq!(
            start_for(&fixed, false, Some(90_000)),
            Ok(PlayStart::IgnoredNotSeekable)
        );
        assert_eq!(PlayStart::IgnoredNotSeekable.ms(), None);
        assert_eq!(PlayStart::At(5).ms(), Some(5));
        assert_eq!(PlayStart::IgnoredLive.ms(), None);
    }
}
