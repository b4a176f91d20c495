//! LavaSearch (1.0.0): `GET /v4/loadsearch?query=<prefix:query>&types=...`, answered by
//! the search managers LavaSrc registers — Spotify (`spsearch:`), Apple Music (`amsearch:`),
//! Deezer (`dzsearch:`) and, with youtube-source, YouTube (`ytsearch:`, `ytmsearch:`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::catalogue::{Catalogue, CollectionKind, Entry, Extended};
use super::codec;
use super::plugins::Node;
use super::state::ApiError;
use super::types::{Track, TrackInfo};

/// LavaSearch's `AudioSearchResult.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Track,
    Album,
    Artist,
    Playlist,
    Text,
}

impl Kind {
    fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "track" => Kind::Track,
            "album" => Kind::Album,
            "artist" => Kind::Artist,
            "playlist" => Kind::Playlist,
            "text" => Kind::Text,
            _ => return None,
        })
    }
}

/// The `types` parameter: names split on `,\s*`, unknown names dropped.
fn parse_types(types: Option<&str>) -> BTreeSet<Kind> {
    types
        .unwrap_or_default()
        .split(',')
        .filter_map(|t| Kind::from_name(t.trim_start()))
        .collect()
}

/// A search manager's answer; empty lists where it found nothing.
#[derive(Default)]
struct Found {
    tracks: Vec<Value>,
    albums: Vec<Value>,
    artists: Vec<Value>,
    playlists: Vec<Value>,
    texts: Vec<String>,
}

impl Found {
    fn to_json(&self) -> Value {
        json!({
            "tracks": self.tracks,
            "albums": self.albums,
            "artists": self.artists,
            "playlists": self.playlists,
            "texts": self.texts.iter().map(|t| json!({"text": t, "plugin": {}})).collect::<Vec<_>>(),
            "plugin": {},
        })
    }
}

/// A playlist of a search result: LavaSrc's info and pluginInfo, no tracks.
fn playlist(name: &str, plugin_info: Value) -> Value {
    json!({"info": {"name": name, "selectedTrack": -1}, "pluginInfo": plugin_info, "tracks": []})
}

/// What `GET /v4/loadsearch` answers: `Ok(Some(result))` (200), `Ok(None)` when no search
/// manager takes the query's prefix (204), Err for the 500s LavaSearch throws (no search
/// manager registered, as without LavaSrc; Spotify refusing a search for texts only).
/// LavaSrc registers a search manager per source it runs, and YouTube's with youtube-source.
pub(crate) fn load_search(
    catalogue: &Catalogue,
    node: Node,
    query: &str,
    types: Option<&str>,
) -> Result<Option<Value>, ApiError> {
    let youtube = node.plugins.lavasrc && node.plugins.youtube;
    let registered = youtube
        || ["spotify", "applemusic", "deezer"]
            .iter()
            .any(|s| node.lavasrc_source(s));
    if !registered {
        return Err(ApiError::new(500, "No search managers registered"));
    }
    let source_query = |prefix: &str, source: &str| {
        query
            .strip_prefix(prefix)
            .filter(|_| node.lavasrc_source(source))
    };
    let types = parse_types(types);
    let wants = |defaults: &[Kind]| -> BTreeSet<Kind> {
        if types.is_empty() {
            defaults.iter().copied().collect()
        } else {
            types.clone()
        }
    };
    const FOUR: [Kind; 4] = [Kind::Album, Kind::Artist, Kind::Playlist, Kind::Track];
    const ALL: [Kind; 5] = [
        Kind::Track,
        Kind::Album,
        Kind::Artist,
        Kind::Playlist,
        Kind::Text,
    ];
    let found = if let Some(q) = source_query("spsearch:", "spotify") {
        let wanted = wants(&FOUR);
        if !wanted.iter().any(|k| FOUR.contains(k)) {
            // Spotify's search API refuses `type=text`.
            return Err(ApiError::new(500, "Server responded with an error."));
        }
        source_search(catalogue, "spotify", q, &wanted)
    } else if let Some(q) = source_query("amsearch:", "applemusic") {
        source_search(catalogue, "applemusic", q, &wants(&ALL))
    } else if let Some(q) = source_query("dzsearch:", "deezer") {
        source_search(catalogue, "deezer", q, &wants(&FOUR))
    } else if let (true, Some(q)) = (youtube, query.strip_prefix("ytsearch:")) {
        // YouTube's suggest API: texts only, whatever the types.
        Found {
            texts: suggestions(catalogue, q),
            ..Found::default()
        }
    } else if let (true, Some(q)) = (youtube, query.strip_prefix("ytmsearch:")) {
        let wanted = wants(&ALL);
        let mut found = Found::default();
        if wanted.contains(&Kind::Track) {
            found.tracks = catalogue
                .matching(q, |e| e.info.source_name == "youtube", usize::MAX)
                .into_iter()
                .map(music_suggestion)
                .collect();
        }
        if wanted.contains(&Kind::Text) {
            found.texts = suggestions(catalogue, q);
        }
        found
    } else {
        return Ok(None);
    };
    Ok(Some(found.to_json()))
}

/// Spotify's, Apple Music's or Deezer's answer: matching tracks, albums and playlists of the
/// catalogue, the artists of the matching tracks (as "<artist>'s Top Tracks"), and for
/// Apple Music the matching titles as search terms.
fn source_search(
    catalogue: &Catalogue,
    source: &str,
    query: &str,
    wanted: &BTreeSet<Kind>,
) -> Found {
    let q = query.trim().to_lowercase();
    let mut found = Found::default();
    if q.is_empty() {
        return found;
    }
    let entries = catalogue.matching(query, |e| e.info.source_name == source, usize::MAX);
    if wanted.contains(&Kind::Track) {
        found.tracks = entries
            .iter()
            .map(|e| match source {
                // Apple's search suggestions carry no artist artwork.
                "applemusic" => json!(without_artist_artwork(e)),
                _ => json!(e.track()),
            })
            .collect();
    }
    for c in catalogue
        .collections()
        .iter()
        .filter(|c| c.source == source)
    {
        let hit = c.name.to_lowercase().contains(&q)
            || c.author
                .as_deref()
                .is_some_and(|a| a.to_lowercase().contains(&q));
        let (kind, list) = match c.kind {
            CollectionKind::Album => (Kind::Album, &mut found.albums),
            _ => (Kind::Playlist, &mut found.playlists),
        };
        if hit && wanted.contains(&kind) {
            list.push(playlist(&c.name, c.plugin_info()));
        }
    }
    if wanted.contains(&Kind::Artist) {
        let mut seen = BTreeSet::new();
        for e in entries
            .iter()
            .filter(|e| e.info.author.to_lowercase().contains(&q))
        {
            let x = Extended::read(&e.source_bytes);
            if seen.insert(e.info.author.clone()) {
                found.artists.push(playlist(
                    &format!("{}'s Top Tracks", e.info.author),
                    json!({
                        "type": "artist",
                        "url": x.artist_url,
                        "artworkUrl": x.artist_artwork_url,
                        "author": e.info.author,
                        "totalTracks": null,
                    }),
                ));
            }
        }
    }
    if source == "applemusic" && wanted.contains(&Kind::Text) {
        found.texts = entries
            .iter()
            .map(|e| e.info.title.to_lowercase())
            .collect();
        found.texts.dedup();
    }
    found
}

/// The distinct lower-cased titles of the YouTube tracks matching `query`.
fn suggestions(catalogue: &Catalogue, query: &str) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    for e in catalogue.matching(query, |e| e.info.source_name == "youtube", usize::MAX) {
        let t = e.info.title.to_lowercase();
        if !texts.contains(&t) {
            texts.push(t);
        }
    }
    texts
}

/// An Apple Music song from the search suggestions: LavaSrc leaves its artist artwork null.
fn without_artist_artwork(e: &Entry) -> Track {
    let mut x = Extended::read(&e.source_bytes);
    x.artist_artwork_url = None;
    let bytes = x.encode();
    Track {
        encoded: codec::encode_with_source_bytes(&e.info, &bytes),
        plugin_info: super::catalogue::plugin_info(&e.info, &bytes),
        info: e.info.clone(),
        user_data: json!({}),
    }
}

/// A YouTube Music suggestion as LavaSrc builds it: length -1 (unknown), a
/// music.youtube.com link, no ISRC.
fn music_suggestion(e: &Entry) -> Value {
    let info = TrackInfo {
        length: u64::MAX, // written as the long -1
        uri: Some(format!(
            "https://music.youtube.com/watch?v={}",
            e.info.identifier
        )),
        isrc: None,
        ..e.info.clone()
    };
    let mut v = json!(Track {
        encoded: codec::encode(&info),
        info,
        plugin_info: json!({}),
        user_data: json!({}),
    });
    v["info"]["length"] = json!(-1);
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::lavalink::plugins::{LavaSrcSources, Plugins};

    fn node(plugins: Plugins, lavasrc_sources: LavaSrcSources) -> Node {
        Node {
            plugins,
            lavasrc_sources,
        }
    }

    #[test]
    fn types_are_split_like_lavasearch_and_unknown_ones_dropped() {
        assert_eq!(
            parse_types(Some("track, album,bogus,text")),
            BTreeSet::from([Kind::Track, Kind::Album, Kind::Text])
        );
        assert!(parse_types(None).is_empty());
    }

    #[test]
    fn prefixes_pick_the_search_manager() {
        let c = Catalogue::new();
        let all = node(Plugins::all(), LavaSrcSources::all());
        let r = load_search(&c, all, "spsearch:rick", None)
            .unwrap()
            .unwrap();
        assert_eq!(r["tracks"][0]["info"]["sourceName"], "spotify");
        assert_eq!(r["artists"][0]["info"]["name"], "Rick Astley's Top Tracks");
        assert_eq!(r["texts"], json!([]));
        let r = load_search(&c, all, "ytsearch:rick", Some("track"))
            .unwrap()
            .unwrap();
        assert_eq!(r["tracks"], json!([]));
        assert_eq!(
            r["texts"][0]["text"],
            "rick astley - never gonna give you up"
        );
        let r = load_search(&c, all, "ytmsearch:rick", Some("track"))
            .unwrap()
            .unwrap();
        assert_eq!(r["tracks"][0]["info"]["length"], -1);
        assert_eq!(load_search(&c, all, "scsearch:rick", None).unwrap(), None);
        assert_eq!(
            load_search(&c, all, "spsearch:rick", Some("text"))
                .unwrap_err()
                .status,
            500
        );
        assert_eq!(
            load_search(
                &c,
                node(Plugins::none(), LavaSrcSources::all()),
                "spsearch:rick",
                None
            )
            .unwrap_err()
            .message,
            "No search managers registered"
        );
    }
}
