//! The fake's deterministic track catalogue and `/v4/loadtracks` resolution.

use serde_json::{json, Value};

use super::codec;
use super::types::{NewTrack, Track, TrackInfo};

/// Identifier whose loading fails (`loadType: "error"`, severity `common`).
pub const LOAD_ERROR_IDENTIFIER: &str = "loadError00";
/// Identifier of the catalogue's playlist.
pub const PLAYLIST_ID: &str = "PLencoreFixtures01";
/// Identifier of the catalogue's stream.
pub const STREAM_IDENTIFIER: &str = "jfKfPfyJRdk";
/// Identifier of the catalogue track that starts and then fails (TrackExceptionEvent +
/// TrackEndEvent `loadFailed`).
pub const FAILING_IDENTIFIER: &str = "failOnPlay1";
/// Short tracks for tests: 1, 2, 3 and 5 seconds.
pub const SHORT_1S: &str = "shortTone1s";
pub const SHORT_2S: &str = "shortTone2s";
pub const SHORT_3S: &str = "shortTone3s";
pub const SHORT_5S: &str = "shortTone5s";

/// Length Lavalink reports for streams (`Long.MAX_VALUE`).
pub const STREAM_LENGTH: u64 = i64::MAX as u64;

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub info: TrackInfo,
    pub encoded: String,
    pub fails_on_play: bool,
}

impl Entry {
    pub fn track(&self) -> Track {
        Track {
            encoded: self.encoded.clone(),
            info: self.info.clone(),
            plugin_info: json!({}),
            user_data: json!({}),
        }
    }
}

#[derive(Debug, Clone)]
struct Playlist {
    id: String,
    name: String,
    tracks: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Catalogue {
    entries: Vec<Entry>,
    playlists: Vec<Playlist>,
}

/// What `/v4/loadtracks` answers.
#[derive(Debug, Clone)]
pub(crate) enum LoadResult {
    Track(Box<Track>),
    Playlist {
        name: String,
        selected: i64,
        tracks: Vec<Track>,
    },
    Search(Vec<Track>),
    Empty,
    Error {
        message: String,
        severity: &'static str,
        cause: String,
    },
}

impl LoadResult {
    pub fn to_json(&self) -> Value {
        match self {
            LoadResult::Track(t) => json!({"loadType": "track", "data": t}),
            LoadResult::Playlist {
                name,
                selected,
                tracks,
            } => json!({
                "loadType": "playlist",
                "data": {
                    "info": {"name": name, "selectedTrack": selected},
                    "pluginInfo": {},
                    "tracks": tracks,
                }
            }),
            LoadResult::Search(tracks) => json!({"loadType": "search", "data": tracks}),
            LoadResult::Empty => json!({"loadType": "empty", "data": {}}),
            LoadResult::Error {
                message,
                severity,
                cause,
            } => json!({
                "loadType": "error",
                "data": {"message": message, "severity": severity, "cause": cause}
            }),
        }
    }
}

fn yt(id: &str, title: &str, author: &str, length: u64, is_stream: bool) -> Entry {
    let info = TrackInfo {
        identifier: id.to_string(),
        is_seekable: !is_stream,
        author: author.to_string(),
        length,
        is_stream,
        position: 0,
        title: title.to_string(),
        uri: Some(format!("https://www.youtube.com/watch?v={id}")),
        artwork_url: Some(format!("https://i.ytimg.com/vi/{id}/maxresdefault.jpg")),
        isrc: None,
        source_name: "youtube".to_string(),
    };
    Entry {
        encoded: codec::encode(&info),
        info,
        fails_on_play: false,
    }
}

impl Catalogue {
    pub fn new() -> Self {
        let mut failing = yt(
            FAILING_IDENTIFIER,
            "Encore Fixture - Unplayable Upload",
            "Encore Fixtures",
            180_000,
            false,
        );
        failing.fails_on_play = true;
        let mut rick = yt(
            "dQw4w9WgXcQ",
            "Rick Astley - Never Gonna Give You Up",
            "RickAstleyVEVO",
            212_000,
            false,
        );
        rick.info.isrc = Some("GBARL9300135".into());
        rick.encoded = codec::encode(&rick.info);
        let entries = vec![
            rick,
            yt(
                "fJ9rUzIMcZQ",
                "Queen – Bohemian Rhapsody (Official Video Remastered)",
                "Queen Official",
                359_000,
                false,
            ),
            yt(
                "9bZkp7q19f0",
                "PSY - GANGNAM STYLE(강남스타일) M/V",
                "officialpsy",
                252_000,
                false,
            ),
            yt(
                "kJQP7kiw5Fk",
                "Luis Fonsi - Despacito ft. Daddy Yankee",
                "LuisFonsiVEVO",
                281_000,
                false,
            ),
            yt(
                SHORT_1S,
                "Encore Fixture - Test Tone (1 s)",
                "Encore Fixtures",
                1_000,
                false,
            ),
            yt(
                SHORT_2S,
                "Encore Fixture - Test Tone (2 s)",
                "Encore Fixtures",
                2_000,
                false,
            ),
            yt(
                SHORT_3S,
                "Encore Fixture - Test Tone (3 s)",
                "Encore Fixtures",
                3_000,
                false,
            ),
            yt(
                SHORT_5S,
                "Encore Fixture - Test Tone (5 s)",
                "Encore Fixtures",
                5_000,
                false,
            ),
            yt(
                STREAM_IDENTIFIER,
                "lofi hip hop radio 📚 beats to relax/study to",
                "Lofi Girl",
                STREAM_LENGTH,
                true,
            ),
            failing,
        ];
        let playlists = vec![Playlist {
            id: PLAYLIST_ID.to_string(),
            name: "Encore Fixtures - Short Tones".to_string(),
            tracks: vec![SHORT_1S.into(), SHORT_2S.into(), SHORT_3S.into()],
        }];
        Catalogue { entries, playlists }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Adds (or replaces, by identifier) a track.
    pub fn add(&mut self, spec: NewTrack) -> Track {
        let source_name = spec.source_name.unwrap_or_else(|| "youtube".into());
        let uri = spec.uri.or_else(|| {
            Some(format!(
                "https://www.youtube.com/watch?v={}",
                spec.identifier
            ))
        });
        let info = TrackInfo {
            identifier: spec.identifier,
            is_seekable: !spec.is_stream,
            author: spec.author,
            length: if spec.is_stream {
                STREAM_LENGTH
            } else {
                spec.length
            },
            is_stream: spec.is_stream,
            position: 0,
            title: spec.title,
            uri,
            artwork_url: spec.artwork_url,
            isrc: spec.isrc,
            source_name,
        };
        let entry = Entry {
            encoded: codec::encode(&info),
            info,
            fails_on_play: spec.fails_on_play,
        };
        let track = entry.track();
        self.entries
            .retain(|e| e.info.identifier != entry.info.identifier);
        self.entries.push(entry);
        track
    }

    /// Adds (or replaces, by id) a playlist of catalogue tracks, loaded by a link with
    /// `list=<id>`. Err names an identifier the catalogue does not have.
    pub fn add_playlist(
        &mut self,
        id: &str,
        name: &str,
        identifiers: &[&str],
    ) -> Result<(), String> {
        if let Some(missing) = identifiers.iter().find(|i| self.by_identifier(i).is_none()) {
            return Err(format!("no track with identifier {missing}"));
        }
        self.playlists.retain(|p| p.id != id);
        self.playlists.push(Playlist {
            id: id.to_string(),
            name: name.to_string(),
            tracks: identifiers.iter().map(|i| i.to_string()).collect(),
        });
        Ok(())
    }

    pub fn by_identifier(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.info.identifier == id)
    }

    fn by_uri(&self, uri: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.info.uri.as_deref() == Some(uri))
    }

    pub fn load(&self, identifier: &str) -> LoadResult {
        let identifier = identifier.trim();
        for prefix in ["ytsearch:", "ytmsearch:", "scsearch:"] {
            if let Some(query) = identifier.strip_prefix(prefix) {
                return self.search(query);
            }
        }
        if identifier == LOAD_ERROR_IDENTIFIER
            || url_param(identifier, "v") == Some(LOAD_ERROR_IDENTIFIER)
        {
            return LoadResult::Error {
                message: "This video is unavailable".into(),
                severity: "common",
                cause: "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: This video is unavailable".into(),
            };
        }
        if let Some(list) = url_param(identifier, "list") {
            return match self.playlists.iter().find(|p| p.id == list) {
                Some(p) => {
                    let tracks: Vec<Track> = p
                        .tracks
                        .iter()
                        .filter_map(|id| self.by_identifier(id))
                        .map(Entry::track)
                        .collect();
                    let selected = url_param(identifier, "v")
                        .and_then(|v| tracks.iter().position(|t| t.info.identifier == v))
                        .map_or(-1, |i| i as i64);
                    LoadResult::Playlist {
                        name: p.name.clone(),
                        selected,
                        tracks,
                    }
                }
                None => LoadResult::Empty,
            };
        }
        if let Some(e) = self.by_uri(identifier) {
            return LoadResult::Track(Box::new(e.track()));
        }
        let id = url_param(identifier, "v")
            .or_else(|| short_link_id(identifier))
            .unwrap_or(identifier);
        match self.by_identifier(id) {
            Some(e) => LoadResult::Track(Box::new(e.track())),
            None => LoadResult::Empty,
        }
    }

    fn search(&self, query: &str) -> LoadResult {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return LoadResult::Empty;
        }
        let found: Vec<Track> = self
            .entries
            .iter()
            .filter(|e| {
                e.info.title.to_lowercase().contains(&q)
                    || e.info.author.to_lowercase().contains(&q)
            })
            .map(Entry::track)
            .collect();
        if found.is_empty() {
            LoadResult::Empty
        } else {
            LoadResult::Search(found)
        }
    }
}

/// The video id of a `youtu.be` short link, which YouTube shares as `https://youtu.be/<id>`
/// with an optional query (`?t=103`, `?si=…`) or fragment; lavaplayer's YouTube source reads
/// the id from the path and ignores the rest.
fn short_link_id(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://youtu.be/")
        .or_else(|| url.strip_prefix("http://youtu.be/"))?;
    let id = rest.split(['?', '#', '/']).next()?;
    (!id.is_empty()).then_some(id)
}

/// The value of `name` in a YouTube-style URL's query (`watch?v=`, `playlist?list=`).
fn url_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name && !v.is_empty()).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn resolves_each_load_type() {
        let c = Catalogue::new();
        assert!(matches!(
            c.load("https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
            LoadResult::Track(_)
        ));
        assert!(matches!(c.load(SHORT_1S), LoadResult::Track(_)));
        match c.load(&format!(
            "https://www.youtube.com/playlist?list={PLAYLIST_ID}"
        )) {
            LoadResult::Playlist {
                tracks, selected, ..
            } => {
                assert_eq!(tracks.len(), 3);
                assert_eq!(selected, -1);
            }
            other => panic!("{other:?}"),
        }
        match c.load(&format!(
            "https://www.youtube.com/watch?v={SHORT_2S}&list={PLAYLIST_ID}"
        )) {
            LoadResult::Playlist { selected, .. } => assert_eq!(selected, 1),
            other => panic!("{other:?}"),
        }
        match c.load("ytsearch:rick ASTLEY") {
            LoadResult::Search(t) => assert_eq!(t[0].info.identifier, "dQw4w9WgXcQ"),
            other => panic!("{other:?}"),
        }
        // Start times (`t=`) are not part of what identifies the video.
        for link in [
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=103",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ#t=1:43",
            "https://youtu.be/dQw4w9WgXcQ?t=103",
            "https://youtu.be/dQw4w9WgXcQ",
        ] {
            match c.load(link) {
                LoadResult::Track(t) => {
                    assert_eq!(
                        (t.info.identifier.as_str(), t.info.position),
                        ("dQw4w9WgXcQ", 0)
                    )
                }
                other => panic!("{link}: {other:?}"),
            }
        }
        assert!(matches!(c.load("scsearch:zzzz nothing"), LoadResult::Empty));
        assert!(matches!(c.load("nothing here"), LoadResult::Empty));
        assert!(matches!(
            c.load(LOAD_ERROR_IDENTIFIER),
            LoadResult::Error { .. }
        ));
    }

    #[test]
    fn added_playlists_load_their_tracks_in_order() {
        let mut c = Catalogue::new();
        c.add_playlist("PLmine", "Mine", &[SHORT_2S, FAILING_IDENTIFIER])
            .unwrap();
        match c.load("https://www.youtube.com/playlist?list=PLmine") {
            LoadResult::Playlist { name, tracks, .. } => {
                assert_eq!(name, "Mine");
                let ids: Vec<_> = tracks.iter().map(|t| t.info.identifier.as_str()).collect();
                assert_eq!(ids, [SHORT_2S, FAILING_IDENTIFIER]);
            }
            other => panic!("{other:?}"),
        }
        assert!(c.add_playlist("PLbad", "Bad", &["nosuchtrack"]).is_err());
    }

    #[test]
    fn catalogue_encodings_decode_back() {
        for e in Catalogue::new().entries() {
            assert_eq!(codec::decode(&e.encoded).unwrap().info, e.info);
        }
    }
}
