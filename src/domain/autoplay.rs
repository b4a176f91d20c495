//! Autoplay: when the queue runs out, a track related to what played keeps the music going.
//!
//! Where related tracks come from (the query list, [`queries`]):
//! - a YouTube track: its mix playlist, `https://www.youtube.com/watch?v=ID&list=RDID`
//!   (youtube-source loads it as a playlist whose first track is the seed itself);
//! - a Spotify track: LavaSrc's recommendations, `sprec:ID` (LavaSrc 4.8's form; the older
//!   `sprec:seed_tracks=ID` is sent to Spotify as a track id and fails); a Deezer track:
//!   `dzrec:ID` (LavaSrc README, "Recommendations");
//! - then, for any track, a search by the seed's author (the source's own search prefix when
//!   LavaSrc has one, else the bot's `SEARCH_PREFIX`).
//!
//! The seed is saved with the player ([`Autoplay`], part of [`crate::domain::PlayerState`]):
//! autoplay keeps drawing from one seed's related tracks while it only plays its own picks,
//! so after a restart it goes on from the same place; a track a member queued becomes the
//! next seed once it has played.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::Track;

/// A player's autoplay: on or off, and the track its related tracks come from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Autoplay {
    pub on: bool,
    /// The track autoplay draws related tracks from; `None` until its first pick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<Seed>,
}

/// What autoplay keeps of its seed track: enough to ask for related tracks again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seed {
    pub title: String,
    pub author: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

impl Seed {
    pub fn of(track: &Track) -> Seed {
        Seed {
            title: track.title.clone(),
            author: track.author.clone(),
            uri: track.uri.clone(),
        }
    }
}

/// Where a track comes from, as far as its link tells (the source and the source's id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceId {
    YouTube(String),
    Spotify(String),
    Deezer(String),
    AppleMusic(String),
    Other,
}

/// The source and id a track's link names: `youtube.com/watch?v=ID`, `music.youtube.com/...`,
/// `youtu.be/ID`, `open.spotify.com/track/ID`, `deezer.com/[lang/]track/ID`,
/// `music.apple.com/...?i=ID`.
pub fn source_of(uri: Option<&str>) -> SourceId {
    let Some(uri) = uri else {
        return SourceId::Other;
    };
    let Some(rest) = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
    else {
        return SourceId::Other;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.trim_start_matches("www.").trim_start_matches("m.");
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let last = || path.rsplit('/').find(|s| !s.is_empty()).map(str::to_string);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match host {
        "youtube.com" | "music.youtube.com" if path == "watch" => {
            param("v").map_or(SourceId::Other, SourceId::YouTube)
        }
        "youtu.be" => last().map_or(SourceId::Other, SourceId::YouTube),
        "open.spotify.com" if segments.iter().rev().nth(1) == Some(&"track") => {
            last().map_or(SourceId::Other, SourceId::Spotify)
        }
        "deezer.com" if segments.iter().rev().nth(1) == Some(&"track") => {
            last().map_or(SourceId::Other, SourceId::Deezer)
        }
        "music.apple.com" => param("i").map_or(SourceId::Other, SourceId::AppleMusic),
        _ => SourceId::Other,
    }
}

/// One key per track whatever link or encoding it came with: `youtube:ID` and the like for
/// the sources above, else its link, else its encoded form.
pub fn identity(track: &Track) -> String {
    key(track.uri.as_deref(), &track.encoded)
}

fn key(uri: Option<&str>, encoded: &str) -> String {
    match source_of(uri) {
        SourceId::YouTube(id) => format!("youtube:{id}"),
        SourceId::Spotify(id) => format!("spotify:{id}"),
        SourceId::Deezer(id) => format!("deezer:{id}"),
        SourceId::AppleMusic(id) => format!("applemusic:{id}"),
        SourceId::Other => uri.unwrap_or(encoded).to_string(),
    }
}

/// The seed to draw from after `finished` ended the queue: the saved seed while autoplay only
/// plays its own picks, else `finished` (a member's track, or the first pick).
pub fn seed_after(finished: &Track, saved: Option<&Seed>) -> Seed {
    match saved {
        Some(seed) if finished.autoplay => seed.clone(),
        _ => Seed::of(finished),
    }
}

/// The identifiers to load, in order, for tracks related to `seed`; `search_prefix` is the
/// bot's default search (e.g. `ytsearch`) for sources without a search of their own.
pub fn queries(seed: &Seed, search_prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let source = source_of(seed.uri.as_deref());
    match &source {
        SourceId::YouTube(id) => {
            out.push(format!("https://www.youtube.com/watch?v={id}&list=RD{id}"))
        }
        SourceId::Spotify(id) => out.push(format!("sprec:{id}")),
        SourceId::Deezer(id) => out.push(format!("dzrec:{id}")),
        SourceId::AppleMusic(_) | SourceId::Other => {}
    }
    let author = seed.author.trim();
    if !author.is_empty() {
        let prefix = match source {
            SourceId::Spotify(_) => "spsearch",
            SourceId::Deezer(_) => "dzsearch",
            SourceId::AppleMusic(_) => "amsearch",
            SourceId::YouTube(_) | SourceId::Other => search_prefix,
        };
        out.push(format!("{prefix}:{author}"));
    }
    out
}

/// The first of `candidates` autoplay may play: not a live stream, not the seed, and not
/// among `recent` ([`identity`] keys of the tracks played lately, queued or current).
pub fn pick<'a>(
    candidates: &'a [Track],
    seed: &Seed,
    recent: &HashSet<String>,
) -> Option<&'a Track> {
    let seed_key = seed.uri.as_deref().map(|u| key(Some(u), u));
    candidates.iter().find(|t| {
        let key = identity(t);
        !t.is_stream && Some(&key) != seed_key.as_ref() && !recent.contains(&key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(uri: &str, author: &str) -> Track {
        Track {
            encoded: format!("enc-{uri}"),
            title: format!("title of {uri}"),
            author: author.into(),
            uri: Some(uri.into()),
            length_ms: Some(60_000),
            is_stream: false,
            is_seekable: true,
            requester: None,
            start_ms: None,
            autoplay: false,
        }
    }

    #[test]
    fn links_name_their_source_and_id() {
        let yt = |u: &str| source_of(Some(u));
        assert_eq!(
            yt("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42"),
            SourceId::YouTube("dQw4w9WgXcQ".into())
        );
        assert_eq!(
            yt("https://music.youtube.com/watch?list=RDx&v=abc"),
            SourceId::YouTube("abc".into())
        );
        assert_eq!(
            yt("https://youtu.be/abc?t=3"),
            SourceId::YouTube("abc".into())
        );
        assert_eq!(
            yt("https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"),
            SourceId::Spotify("4uLU6hMCjMI75M1A2tKUQC".into())
        );
        assert_eq!(
            yt("https://open.spotify.com/intl-de/track/4uLU"),
            SourceId::Spotify("4uLU".into())
        );
        assert_eq!(
            yt("https://open.spotify.com/playlist/37i9"),
            SourceId::Other
        );
        assert_eq!(
            yt("https://www.deezer.com/en/track/3135556"),
            SourceId::Deezer("3135556".into())
        );
        assert_eq!(
            yt("https://music.apple.com/us/album/x/1469577723?i=1469577741"),
            SourceId::AppleMusic("1469577741".into())
        );
        assert_eq!(yt("https://soundcloud.com/a/b"), SourceId::Other);
        assert_eq!(source_of(None), SourceId::Other);
        assert_eq!(yt("ytsearch:abc"), SourceId::Other);
    }

    #[test]
    fn identity_is_the_same_for_one_video_under_two_links() {
        let a = track("https://www.youtube.com/watch?v=abc", "x");
        let b = track("https://music.youtube.com/watch?v=abc&list=RDabc", "x");
        assert_eq!(identity(&a), identity(&b));
        assert_eq!(identity(&a), "youtube:abc");
        let mut c = track("https://soundcloud.com/a/b", "x");
        assert_eq!(identity(&c), "https://soundcloud.com/a/b");
        c.uri = None;
        assert_eq!(identity(&c), c.encoded);
    }

    #[test]
    fn each_source_asks_for_its_related_tracks_then_the_author() {
        let seed = |u: &str| Seed {
            title: "t".into(),
            author: "Artist".into(),
            uri: Some(u.into()),
        };
        assert_eq!(
            queries(&seed("https://www.youtube.com/watch?v=abc"), "ytsearch"),
            [
                "https://www.youtube.com/watch?v=abc&list=RDabc",
                "ytsearch:Artist"
            ]
        );
        assert_eq!(
            queries(&seed("https://open.spotify.com/track/XYZ"), "ytsearch"),
            ["sprec:XYZ", "spsearch:Artist"]
        );
        assert_eq!(
            queries(&seed("https://www.deezer.com/track/42"), "ytsearch"),
            ["dzrec:42", "dzsearch:Artist"]
        );
        assert_eq!(
            queries(
                &seed("https://music.apple.com/us/album/a/1?i=2"),
                "ytsearch"
            ),
            ["amsearch:Artist"]
        );
        assert_eq!(
            queries(&seed("https://soundcloud.com/a/b"), "scsearch"),
            ["scsearch:Artist"]
        );
        let mut nameless = seed("https://soundcloud.com/a/b");
        nameless.author = "  ".into();
        assert!(queries(&nameless, "ytsearch").is_empty());
    }

    #[test]
    fn the_pick_skips_the_seed_streams_and_recent_tracks() {
        let seed = Seed::of(&track("https://www.youtube.com/watch?v=s", "a"));
        let mut live = track("https://www.youtube.com/watch?v=live", "a");
        live.is_stream = true;
        let list = vec![
            track("https://www.youtube.com/watch?v=s", "a"),
            live,
            track("https://www.youtube.com/watch?v=r1", "a"),
            track("https://www.youtube.com/watch?v=n1", "a"),
            track("https://www.youtube.com/watch?v=n2", "a"),
        ];
        let recent: HashSet<String> = ["youtube:r1".to_string()].into();
        assert_eq!(
            pick(&list, &seed, &recent).and_then(|t| t.uri.as_deref()),
            Some("https://www.youtube.com/watch?v=n1")
        );
        let all: HashSet<String> = ["youtube:r1", "youtube:n1", "youtube:n2"]
            .map(String::from)
            .into();
        assert_eq!(pick(&list, &seed, &all), None);
    }

    #[test]
    fn the_seed_stays_while_autoplay_plays_its_own_picks() {
        let mine = track("https://www.youtube.com/watch?v=m", "a");
        let saved = Seed::of(&track("https://www.youtube.com/watch?v=s", "a"));
        assert_eq!(seed_after(&mine, Some(&saved)), Seed::of(&mine));
        let mut picked = track("https://www.youtube.com/watch?v=p", "a");
        picked.autoplay = true;
        assert_eq!(seed_after(&picked, Some(&saved)), saved);
        assert_eq!(seed_after(&picked, None), Seed::of(&picked));
    }

    #[test]
    fn autoplay_state_round_trips_and_old_records_read_off() {
        let a = Autoplay {
            on: true,
            seed: Some(Seed::of(&track("https://youtu.be/x", "a"))),
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Autoplay>(&json).unwrap(), a);
        assert_eq!(
            serde_json::from_str::<Autoplay>("{\"on\":false}").unwrap(),
            Autoplay::default()
        );
    }
}
