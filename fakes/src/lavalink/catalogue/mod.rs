//! The fake's deterministic track catalogue and `/v4/loadtracks` resolution, per the plugins
//! the node runs: youtube-source (YouTube links, searches and mixes), LavaSrc (Spotify, Apple
//! Music and Deezer links, searches and recommendations), the built-in soundcloud search and
//! the http source for links no plugin claims.

mod lavasrc;
mod lavasrc_fixtures;
mod mixes;

use std::collections::HashMap;

use serde_json::{json, Value};

use super::codec;
use super::lyrics::{self, FakeLyrics};
use super::plugins::Node;
use super::types::{NewTrack, Track, TrackInfo};

pub(crate) use lavasrc::{decoded_object_bytes, plugin_info, Collection, CollectionKind, Extended};

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

/// Spotify tracks (LavaSrc), loaded by `https://open.spotify.com/track/<id>`.
pub const SPOTIFY_RICK: &str = "4PTG3Z6ehGkBFwjybzWkR8";
pub const SPOTIFY_QUEEN: &str = "gZnhAOgshDBj1zpi4i4zBG";
pub const SPOTIFY_AHA: &str = "yanwfQuvxBGtpMZh4mNU5M";
pub const SPOTIFY_TONE_2S: &str = "DdW42oQ6Y4as4qQ3v5pFRg";
pub const SPOTIFY_TONE_3S: &str = "KxisKsk3ujuxDSTw7VmODU";
/// The Spotify album (`https://open.spotify.com/album/<id>`): the two Spotify tones.
pub const SPOTIFY_ALBUM_ID: &str = "bDryvzOSnwlcxyTLth6req";
/// The Spotify playlist (`https://open.spotify.com/playlist/<id>`): Rick, a-ha, Queen.
pub const SPOTIFY_PLAYLIST_ID: &str = "tQnsH2rUxtqhlwKzrjRSe7";
/// Apple Music songs (LavaSrc), loaded by
/// `https://music.apple.com/us/album/<slug>/<albumId>?i=<id>` (their `uri`).
pub const APPLE_MUSIC_RICK: &str = "1558533900";
pub const APPLE_MUSIC_AHA: &str = "1137018068";
pub const APPLE_MUSIC_TONE_2S: &str = "1966382290";
/// Deezer tracks (LavaSrc), loaded by `https://www.deezer.com/track/<id>`.
pub const DEEZER_DAFT_PUNK: &str = "3135556";
pub const DEEZER_RICK: &str = "781592622";
pub const DEEZER_QUEEN: &str = "7868649";
pub const DEEZER_TONE_2S: &str = "2603142712";
pub const DEEZER_TONE_3S: &str = "2603142713";

pub use super::lyrics::{PLAIN_LYRICS_IDENTIFIER, SYNCED_LYRICS_IDENTIFIER};

/// Length Lavalink reports for streams (`Long.MAX_VALUE`).
pub const STREAM_LENGTH: u64 = i64::MAX as u64;

/// lavaplayer's `FriendlyException` class, as Lavalink names it in `cause`.
const FRIENDLY: &str = "com.sedmelluq.discord.lavaplayer.tools.FriendlyException";

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub info: TrackInfo,
    pub encoded: String,
    pub fails_on_play: bool,
    /// The source manager's own bytes of the track object (LavaSrc's [`Extended`] fields;
    /// none for youtube).
    pub source_bytes: Vec<u8>,
}

impl Entry {
    fn new(info: TrackInfo, source_bytes: Vec<u8>) -> Entry {
        Entry {
            encoded: codec::encode_with_source_bytes(&info, &source_bytes),
            info,
            fails_on_play: false,
            source_bytes,
        }
    }

    pub fn track(&self) -> Track {
        Track {
            encoded: self.encoded.clone(),
            plugin_info: plugin_info(&self.info, &self.source_bytes),
            info: self.info.clone(),
            user_data: json!({}),
        }
    }

    fn is_lavasrc(&self) -> bool {
        lavasrc::is_lavasrc(&self.info.source_name)
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
    /// LavaSrc albums and playlists.
    collections: Vec<Collection>,
    /// Per seed identifier: the related tracks a mix or recommendation answers instead of
    /// the default ones (`FakeLavalink::set_mix`).
    mixes: HashMap<String, Vec<String>>,
    /// Per track identifier: what the lyrics sources find.
    lyrics: HashMap<String, FakeLyrics>,
}

/// What `/v4/loadtracks` answers.
#[derive(Debug, Clone)]
pub(crate) enum LoadResult {
    Track(Box<Track>),
    Playlist {
        name: String,
        selected: i64,
        /// `{}`, or LavaSrc's playlist fields.
        plugin_info: Value,
        tracks: Vec<Track>,
    },
    Search(Vec<Track>),
    Empty,
    Error {
        message: String,
        severity: &'static str,
        cause: String,
        cause_stack_trace: String,
    },
}

impl LoadResult {
    pub fn to_json(&self) -> Value {
        match self {
            LoadResult::Track(t) => json!({"loadType": "track", "data": t}),
            LoadResult::Playlist {
                name,
                selected,
                plugin_info,
                tracks,
            } => json!({
                "loadType": "playlist",
                "data": {
                    "info": {"name": name, "selectedTrack": selected},
                    "pluginInfo": plugin_info,
                    "tracks": tracks,
                }
            }),
            LoadResult::Search(tracks) => json!({"loadType": "search", "data": tracks}),
            LoadResult::Empty => json!({"loadType": "empty", "data": {}}),
            LoadResult::Error {
                message,
                severity,
                cause,
                cause_stack_trace,
            } => json!({
                "loadType": "error",
                "data": {"message": message, "severity": severity, "cause": cause,
                         "causeStackTrace": cause_stack_trace}
            }),
        }
    }

    /// What Lavalink (4.0.8 and newer) answers when a source throws while loading: its
    /// `loadAudioItem` wraps every exception in a FriendlyException "Something went wrong
    /// while looking up the track." of severity `fault`; the source's exception
    /// (`cause_class: cause_message`) shows only in `causeStackTrace`.
    pub fn lookup_failed(cause_class: &str, cause_message: &str, at: &str) -> LoadResult {
        let message = "Something went wrong while looking up the track.";
        let cause = format!("{FRIENDLY}: {message}");
        LoadResult::Error {
            message: message.into(),
            severity: "fault",
            cause_stack_trace: format!(
                "{cause}\n\tat lavalink.server.util.LoadingKt.loadAudioItem(loading.kt:18)\n\
                 \tat lavalink.server.player.AudioLoaderRestHandler.loadTracks(AudioLoaderRestHandler.kt:59)\n\
                 Caused by: {cause_class}: {cause_message}\n\tat {at}\n"
            ),
            cause,
        }
    }

    /// lavaplayer's http source on a link to a web page (no audio container it knows).
    pub fn http_unknown_format() -> LoadResult {
        LoadResult::lookup_failed(
            FRIENDLY,
            "Unknown file format.",
            "com.sedmelluq.discord.lavaplayer.source.ProbingAudioSourceManager.handleLoadResult(ProbingAudioSourceManager.java:26)",
        )
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
    Entry::new(info, Vec::new())
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
        let mut entries = entries;
        entries.extend(
            lavasrc_fixtures::fixtures()
                .into_iter()
                .map(|f| Entry::new(f.info, f.extended.encode())),
        );
        let playlists = vec![Playlist {
            id: PLAYLIST_ID.to_string(),
            name: "Encore Fixtures - Short Tones".to_string(),
            tracks: vec![SHORT_1S.into(), SHORT_2S.into(), SHORT_3S.into()],
        }];
        let lyrics = HashMap::from([
            (PLAIN_LYRICS_IDENTIFIER.to_string(), lyrics::default_plain()),
            (
                SYNCED_LYRICS_IDENTIFIER.to_string(),
                lyrics::default_synced(),
            ),
        ]);
        Catalogue {
            entries,
            playlists,
            collections: lavasrc_fixtures::collections(),
            mixes: HashMap::new(),
            lyrics,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Adds (or replaces, by identifier) a track. A track of a LavaSrc source (`spotify`,
    /// `applemusic`, `deezer`) carries LavaSrc's fields, all null.
    pub fn add(&mut self, spec: NewTrack) -> Track {
        let source_name = spec.source_name.unwrap_or_else(|| "youtube".into());
        let id = &spec.identifier;
        let uri = spec.uri.or_else(|| {
            Some(match source_name.as_str() {
                "spotify" => format!("https://open.spotify.com/track/{id}"),
                "deezer" => format!("https://deezer.com/track/{id}"),
                "applemusic" => format!("https://music.apple.com/us/song/{id}"),
                _ => format!("https://www.youtube.com/watch?v={id}"),
            })
        });
        let source_bytes = if lavasrc::is_lavasrc(&source_name) {
            Extended::default().encode()
        } else {
            Vec::new()
        };
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
        let mut entry = Entry::new(info, source_bytes);
        entry.fails_on_play = spec.fails_on_play;
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
        self.check_known(identifiers.iter().copied())?;
        self.playlists.retain(|p| p.id != id);
        self.playlists.push(Playlist {
            id: id.to_string(),
            name: name.to_string(),
            tracks: identifiers.iter().map(|i| i.to_string()).collect(),
        });
        Ok(())
    }

    /// Err names the first identifier the catalogue does not have.
    fn check_known<'a>(
        &self,
        mut identifiers: impl Iterator<Item = &'a str>,
    ) -> Result<(), String> {
        match identifiers.find(|i| self.by_identifier(i).is_none()) {
            Some(missing) => Err(format!("no track with identifier {missing}")),
            None => Ok(()),
        }
    }

    /// The related tracks a mix or recommendation seeded by `seed` answers from now on
    /// (the seed itself is added where the source adds it). Err names an identifier (seed
    /// included) the catalogue does not have.
    pub fn set_mix(&mut self, seed: &str, related: Vec<String>) -> Result<(), String> {
        self.check_known(std::iter::once(seed).chain(related.iter().map(String::as_str)))?;
        self.mixes.insert(seed.to_string(), related);
        Ok(())
    }

    /// What the lyrics sources find for the track with this identifier.
    pub fn set_lyrics(&mut self, identifier: &str, lyrics: FakeLyrics) {
        self.lyrics.insert(identifier.to_string(), lyrics);
    }

    pub fn lyrics(&self, identifier: &str) -> &FakeLyrics {
        self.lyrics.get(identifier).unwrap_or(&FakeLyrics::None)
    }

    pub fn by_identifier(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.info.identifier == id)
    }

    /// The entry of `source` with this identifier.
    fn of_source(&self, source: &str, id: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.info.source_name == source && e.info.identifier == id)
    }

    fn by_uri(&self, uri: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.info.uri.as_deref() == Some(uri))
    }

    pub(crate) fn collections(&self) -> &[Collection] {
        &self.collections
    }

    /// `/v4/loadtracks` on a node running `node`.
    pub fn load(&self, identifier: &str, node: Node) -> LoadResult {
        let identifier = identifier.trim();
        for prefix in ["ytsearch:", "ytmsearch:"] {
            if let Some(query) = identifier.strip_prefix(prefix) {
                if !node.plugins.youtube {
                    return LoadResult::Empty;
                }
                return self.search(query, |e| !e.is_lavasrc(), usize::MAX);
            }
        }
        if let Some(query) = identifier.strip_prefix("scsearch:") {
            return self.search(query, |e| !e.is_lavasrc(), usize::MAX);
        }
        if let Some(result) = self.load_lavasrc(identifier, node) {
            return result;
        }
        let youtube_host = youtube_host(identifier);
        let youtube_link = youtube_host.is_some();
        if youtube_link && !node.plugins.youtube {
            // Without youtube-source, lavaplayer's http source fetches the web page.
            return LoadResult::http_unknown_format();
        }
        if identifier == LOAD_ERROR_IDENTIFIER
            || url_param(identifier, "v") == Some(LOAD_ERROR_IDENTIFIER)
        {
            return LoadResult::Error {
                message: "This video is unavailable".into(),
                severity: "common",
                cause: format!("{FRIENDLY}: This video is unavailable"),
                cause_stack_trace: format!(
                    "{FRIENDLY}: This video is unavailable\n\tat dev.lavalink.youtube.YoutubeAudioSourceManager.loadItem(YoutubeAudioSourceManager.java:212)\n"
                ),
            };
        }
        // youtube-source reads `list=` on youtube.com links only: a youtu.be link is its video.
        let short_link = youtube_host.is_some_and(|h| h.ends_with("youtu.be"));
        if let Some(list) = url_param(identifier, "list").filter(|_| !short_link) {
            if let (true, Some(seed)) = (youtube_link, list.strip_prefix("RD")) {
                return self.youtube_mix(identifier, seed);
            }
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
                        plugin_info: json!({}),
                        tracks,
                    }
                }
                None => LoadResult::Empty,
            };
        }
        let playable = |e: &&Entry| node.has_source(&e.info.source_name) && !e.is_lavasrc();
        if let Some(e) = self.by_uri(identifier).filter(playable) {
            return LoadResult::Track(Box::new(e.track()));
        }
        let id = url_param(identifier, "v")
            .or_else(|| short_link_id(identifier))
            .unwrap_or(identifier);
        match self.by_identifier(id).filter(playable) {
            Some(e) => LoadResult::Track(Box::new(e.track())),
            None => LoadResult::Empty,
        }
    }

    /// LavaSrc's prefixes and links: None when `identifier` is neither. Without the source
    /// (LavaSrc off, or the source off for lack of credentials) no source claims its prefixes
    /// (`empty`) and its links go to the http source.
    fn load_lavasrc(&self, identifier: &str, node: Node) -> Option<LoadResult> {
        /// Each prefix and the source that claims it.
        const PREFIXES: [(&str, &str); 6] = [
            ("spsearch:", "spotify"),
            ("amsearch:", "applemusic"),
            ("dzsearch:", "deezer"),
            ("dzisrc:", "deezer"),
            ("sprec:", "spotify"),
            ("dzrec:", "deezer"),
        ];
        let prefix = PREFIXES.iter().find(|(p, _)| identifier.starts_with(*p));
        let link = lavasrc::parse_link(identifier);
        let source = match (prefix, &link) {
            (Some((_, source)), _) => *source,
            (None, Some(link)) => link.source,
            (None, None) => return None,
        };
        if !node.lavasrc_source(source) {
            let http = identifier.starts_with("https://") || identifier.starts_with("http://");
            return Some(if link.is_some() && http {
                LoadResult::http_unknown_format()
            } else {
                LoadResult::Empty
            });
        }
        if let Some(link) = link {
            return Some(self.load_link(&link));
        }
        let (prefix, query) = identifier.split_at(prefix.map_or(0, |(p, _)| p.len()));
        let source_is = |source: &'static str| move |e: &Entry| e.info.source_name == source;
        Some(match prefix {
            "spsearch:" => self.spotify_search(query.trim()),
            "amsearch:" => self.search(
                query,
                source_is("applemusic"),
                lavasrc::search_limit("applemusic"),
            ),
            "dzsearch:" => self.search(query, source_is("deezer"), lavasrc::search_limit("deezer")),
            "dzisrc:" => self
                .entries
                .iter()
                .find(|e| {
                    e.info.source_name == "deezer" && e.info.isrc.as_deref() == Some(query.trim())
                })
                .map_or(LoadResult::Empty, |e| {
                    LoadResult::Track(Box::new(e.track()))
                }),
            "sprec:" => self.spotify_recommendations(query.trim()),
            _ => self.deezer_recommendations(query.trim()),
        })
    }

    /// A Spotify, Apple Music or Deezer link: its track, album, playlist or artist (top
    /// tracks); `empty` when the catalogue does not have it (the API's 404).
    fn load_link(&self, link: &lavasrc::Link) -> LoadResult {
        if link.kind == "track" {
            return self
                .of_source(link.source, &link.id)
                .map_or(LoadResult::Empty, |e| {
                    LoadResult::Track(Box::new(e.track()))
                });
        }
        if link.kind == "artist" {
            return self.artist_top_tracks(link);
        }
        let kind = match link.kind {
            "album" => CollectionKind::Album,
            _ => CollectionKind::Playlist,
        };
        match self
            .collections
            .iter()
            .find(|c| c.source == link.source && c.kind == kind && c.id == link.id)
        {
            Some(c) => LoadResult::Playlist {
                name: c.name.clone(),
                selected: -1,
                plugin_info: c.plugin_info(),
                tracks: self.tracks_of(&c.tracks),
            },
            None => LoadResult::Empty,
        }
    }

    /// `<artist>'s Top Tracks`: the source's catalogue tracks whose artist URL ends with the
    /// artist id. Spotify's `totalTracks` is 0 (LavaSrc reads a `total` the top-tracks
    /// answer does not have), the others count the tracks.
    fn artist_top_tracks(&self, link: &lavasrc::Link) -> LoadResult {
        let suffix = format!("/{}", link.id);
        let found: Vec<(&Entry, Extended)> = self
            .entries
            .iter()
            .filter(|e| e.info.source_name == link.source)
            .map(|e| (e, Extended::read(&e.source_bytes)))
            .filter(|(_, x)| {
                x.artist_url
                    .as_deref()
                    .is_some_and(|u| u.ends_with(&suffix))
            })
            .collect();
        let Some((first, x)) = found.first() else {
            return LoadResult::Empty;
        };
        let total = if link.source == "spotify" {
            0
        } else {
            found.len()
        };
        LoadResult::Playlist {
            name: format!("{}'s Top Tracks", first.info.author),
            selected: -1,
            plugin_info: lavasrc::collection_plugin_info(
                CollectionKind::Artist,
                x.artist_url.as_deref(),
                x.artist_artwork_url.as_deref(),
                Some(&first.info.author),
                Some(total),
            ),
            tracks: found.iter().map(|(e, _)| e.track()).collect(),
        }
    }

    /// `spsearch:`: title or artist, or `isrc:<code>` (Spotify's field filter).
    fn spotify_search(&self, query: &str) -> LoadResult {
        let limit = lavasrc::search_limit("spotify");
        if let Some(isrc) = query.strip_prefix("isrc:") {
            let found: Vec<Track> = self
                .entries
                .iter()
                .filter(|e| {
                    e.info.source_name == "spotify" && e.info.isrc.as_deref() == Some(isrc.trim())
                })
                .map(Entry::track)
                .take(limit)
                .collect();
            return if found.is_empty() {
                LoadResult::Empty
            } else {
                LoadResult::Search(found)
            };
        }
        self.search(query, |e| e.info.source_name == "spotify", limit)
    }

    /// The catalogue tracks with these identifiers, in order (unknown ones left out).
    fn tracks_of(&self, identifiers: &[String]) -> Vec<Track> {
        identifiers
            .iter()
            .filter_map(|id| self.by_identifier(id))
            .map(Entry::track)
            .collect()
    }

    /// The entries `keep` accepts whose title or artist contains `query` (case-insensitive),
    /// at most `limit`, in catalogue order.
    pub(crate) fn matching(
        &self,
        query: &str,
        keep: impl Fn(&Entry) -> bool,
        limit: usize,
    ) -> Vec<&Entry> {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        self.entries
            .iter()
            .filter(|e| keep(e))
            .filter(|e| {
                e.info.title.to_lowercase().contains(&q)
                    || e.info.author.to_lowercase().contains(&q)
            })
            .take(limit)
            .collect()
    }

    fn search(&self, query: &str, keep: impl Fn(&Entry) -> bool, limit: usize) -> LoadResult {
        let found: Vec<Track> = self
            .matching(query, keep, limit)
            .into_iter()
            .map(Entry::track)
            .collect();
        if found.is_empty() {
            LoadResult::Empty
        } else {
            LoadResult::Search(found)
        }
    }
}

/// The host of a link youtube-source claims: `(www.|m.|music.)youtube.com` or
/// `(www.)youtu.be`.
fn youtube_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    matches!(
        host,
        "youtube.com"
            | "www.youtube.com"
            | "m.youtube.com"
            | "music.youtube.com"
            | "youtu.be"
            | "www.youtu.be"
    )
    .then_some(host)
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
    use crate::lavalink::plugins::{LavaSrcSources, Plugins};

    fn all(c: &Catalogue, identifier: &str) -> LoadResult {
        c.load(
            identifier,
            Node {
                plugins: Plugins::all(),
                lavasrc_sources: LavaSrcSources::all(),
            },
        )
    }

    #[test]
    fn resolves_each_load_type() {
        let c = Catalogue::new();
        assert!(matches!(
            all(&c, "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
            LoadResult::Track(_)
        ));
        assert!(matches!(all(&c, SHORT_1S), LoadResult::Track(_)));
        match all(
            &c,
            &format!("https://www.youtube.com/playlist?list={PLAYLIST_ID}"),
        ) {
            LoadResult::Playlist {
                tracks, selected, ..
            } => {
                assert_eq!(tracks.len(), 3);
                assert_eq!(selected, -1);
            }
            other => panic!("{other:?}"),
        }
        match all(
            &c,
            &format!("https://www.youtube.com/watch?v={SHORT_2S}&list={PLAYLIST_ID}"),
        ) {
            LoadResult::Playlist { selected, .. } => assert_eq!(selected, 1),
            other => panic!("{other:?}"),
        }
        match all(&c, "ytsearch:rick ASTLEY") {
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
            match all(&c, link) {
                LoadResult::Track(t) => {
                    assert_eq!(
                        (t.info.identifier.as_str(), t.info.position),
                        ("dQw4w9WgXcQ", 0)
                    )
                }
                other => panic!("{link}: {other:?}"),
            }
        }
        assert!(matches!(
            all(&c, "scsearch:zzzz nothing"),
            LoadResult::Empty
        ));
        assert!(matches!(all(&c, "nothing here"), LoadResult::Empty));
        assert!(matches!(
            all(&c, LOAD_ERROR_IDENTIFIER),
            LoadResult::Error { .. }
        ));
    }

    #[test]
    fn only_youtube_com_links_read_list() {
        let c = Catalogue::new();
        let mix = all(
            &c,
            "https://m.youtube.com/watch?v=dQw4w9WgXcQ&list=RDdQw4w9WgXcQ",
        );
        assert!(matches!(mix, LoadResult::Playlist { .. }), "{mix:?}");
        for link in [
            "https://youtu.be/dQw4w9WgXcQ?list=RDdQw4w9WgXcQ",
            "https://youtu.be/dQw4w9WgXcQ?list=PLencoreFixtures01",
        ] {
            match all(&c, link) {
                LoadResult::Track(t) => assert_eq!(t.info.identifier, "dQw4w9WgXcQ"),
                other => panic!("{link}: {other:?}"),
            }
        }
    }

    #[test]
    fn added_playlists_load_their_tracks_in_order() {
        let mut c = Catalogue::new();
        c.add_playlist("PLmine", "Mine", &[SHORT_2S, FAILING_IDENTIFIER])
            .unwrap();
        match all(&c, "https://www.youtube.com/playlist?list=PLmine") {
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
