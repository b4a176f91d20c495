//! LavaSrc (4.8.3) as Lavalink serves it: its tracks' extra bytes and `pluginInfo`, its
//! playlists' `pluginInfo` and its links (the fixtures are in `lavasrc_fixtures.rs`).
//!
//! LavaSrc's `ExtendedAudioSourceManager.encodeTrack` writes, after lavaplayer's common
//! fields, `writeNullableText` albumName, albumUrl, artistUrl, artistArtworkUrl, previewUrl and
//! a boolean isPreview. Its `decodeTrack` reads them in that order but hands them to
//! `ExtendedAudioTrackInfo(albumName, albumUrl, artistArtworkUrl, previewUrl, artistUrl, ...)`
//! in the order it read them, so a *decoded* track (`/v4/decodetrack(s)`, a player PATCHed
//! with an `encoded` track, its events) carries artistUrl = the written previewUrl,
//! artistArtworkUrl = the written artistUrl and previewUrl = the written artistArtworkUrl.
//! The fake does the same; tracks LavaSrc loaded itself (`/v4/loadtracks`) are right.

use serde_json::{json, Value};

use crate::lavalink::codec::{self, Reader};
use crate::lavalink::plugins::LAVASRC_SOURCES;
use crate::lavalink::types::TrackInfo;

/// The fields LavaSrc's `ExtendedAudioTrack` adds, as the track object holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Extended {
    pub album_name: Option<String>,
    pub album_url: Option<String>,
    pub artist_url: Option<String>,
    pub artist_artwork_url: Option<String>,
    pub preview_url: Option<String>,
    pub is_preview: bool,
}

impl Extended {
    /// `ExtendedAudioSourceManager.encodeTrack`'s bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for text in [
            &self.album_name,
            &self.album_url,
            &self.artist_url,
            &self.artist_artwork_url,
            &self.preview_url,
        ] {
            codec::write_nullable(&mut out, text.as_deref());
        }
        out.push(u8::from(self.is_preview));
        out
    }

    /// The fields in the order [`Self::encode`] wrote them; all null when the bytes are absent
    /// (LavaSrc reads them only when more than the position's 8 bytes are left) or malformed.
    pub fn read(bytes: &[u8]) -> Extended {
        let mut r = Reader::new(bytes);
        let mut read = || -> Option<Extended> {
            Some(Extended {
                album_name: r.nullable().ok()?,
                album_url: r.nullable().ok()?,
                artist_url: r.nullable().ok()?,
                artist_artwork_url: r.nullable().ok()?,
                preview_url: r.nullable().ok()?,
                is_preview: r.bool().ok()?,
            })
        };
        read().unwrap_or_default()
    }

    /// The track object LavaSrc's `decodeTrack` builds from these written fields (see the
    /// module docs).
    pub fn as_decoded(&self) -> Extended {
        Extended {
            album_name: self.album_name.clone(),
            album_url: self.album_url.clone(),
            artist_url: self.preview_url.clone(),
            artist_artwork_url: self.artist_url.clone(),
            preview_url: self.artist_artwork_url.clone(),
            is_preview: self.is_preview,
        }
    }
}

/// Whether LavaSrc owns tracks of this source.
pub(crate) fn is_lavasrc(source_name: &str) -> bool {
    LAVASRC_SOURCES.contains(&source_name)
}

/// A track's `pluginInfo`: LavaSrc's `LavaSrcAudioPluginInfoModifier` for its sources (from
/// the track object's fields, `object_bytes` as [`Extended::encode`] wrote them; Spotify adds
/// `isLocal`), `{}` for every other source.
pub(crate) fn plugin_info(info: &TrackInfo, object_bytes: &[u8]) -> Value {
    if !is_lavasrc(&info.source_name) {
        return json!({});
    }
    let e = Extended::read(object_bytes);
    let mut v = json!({
        "albumName": e.album_name,
        "albumUrl": e.album_url,
        "artistUrl": e.artist_url,
        "artistArtworkUrl": e.artist_artwork_url,
        "previewUrl": e.preview_url,
        "isPreview": e.is_preview,
    });
    if info.source_name == "spotify" {
        if let Some(m) = v.as_object_mut() {
            m.insert("isLocal".into(), Value::Bool(info.identifier == "local"));
        }
    }
    v
}

/// The bytes of the track object lavaplayer builds when it decodes a message of
/// `source_name` whose source-specific bytes are `written` (LavaSrc's field shuffle).
pub(crate) fn decoded_object_bytes(source_name: &str, written: &[u8]) -> Vec<u8> {
    if is_lavasrc(source_name) {
        Extended::read(written).as_decoded().encode()
    } else {
        written.to_vec()
    }
}

/// LavaSrc's `ExtendedAudioPlaylist.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CollectionKind {
    Album,
    Playlist,
    Artist,
    Recommendations,
}

impl CollectionKind {
    fn name(self) -> &'static str {
        match self {
            CollectionKind::Album => "album",
            CollectionKind::Playlist => "playlist",
            CollectionKind::Artist => "artist",
            CollectionKind::Recommendations => "recommendations",
        }
    }
}

/// An `ExtendedAudioPlaylist`: an album or playlist of a LavaSrc source.
#[derive(Debug, Clone)]
pub(crate) struct Collection {
    pub source: &'static str,
    pub kind: CollectionKind,
    pub id: String,
    pub name: String,
    pub url: Option<String>,
    pub artwork_url: Option<String>,
    pub author: Option<String>,
    pub total_tracks: Option<usize>,
    /// Catalogue identifiers, in order.
    pub tracks: Vec<String>,
}

/// `LavaSrcAudioPluginInfoModifier.modifyAudioPlaylistPluginInfo`.
pub(crate) fn collection_plugin_info(
    kind: CollectionKind,
    url: Option<&str>,
    artwork_url: Option<&str>,
    author: Option<&str>,
    total_tracks: Option<usize>,
) -> Value {
    json!({
        "type": kind.name(),
        "url": url,
        "artworkUrl": artwork_url,
        "author": author,
        "totalTracks": total_tracks,
    })
}

impl Collection {
    pub fn plugin_info(&self) -> Value {
        collection_plugin_info(
            self.kind,
            self.url.as_deref(),
            self.artwork_url.as_deref(),
            self.author.as_deref(),
            self.total_tracks,
        )
    }
}

/// A link LavaSrc's URL patterns accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    /// `spotify`, `applemusic` or `deezer`.
    pub source: &'static str,
    /// `track` (Apple Music: `song`, or `album` with `?i=`), `album`, `playlist`, `artist`.
    pub kind: &'static str,
    pub id: String,
}

fn strip_scheme(url: &str, optional: bool) -> Option<&str> {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or(optional.then_some(url))
}

fn kind_of(segment: &str) -> Option<&'static str> {
    ["track", "album", "playlist", "artist"]
        .into_iter()
        .find(|k| *k == segment)
}

fn id_prefix(s: &str, ok: impl Fn(char) -> bool) -> Option<String> {
    let id: String = s.chars().take_while(|c| ok(*c)).collect();
    (!id.is_empty()).then_some(id)
}

/// Spotify: `https://open.spotify.com/[<region>/][user/<user>/]<kind>/<id>` (anything after
/// the id, like `?si=...`, is ignored).
fn spotify_link(url: &str) -> Option<Link> {
    let rest = strip_scheme(url, false)?;
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let path = rest.strip_prefix("open.spotify.com/")?;
    let mut segments = path.split('/').peekable();
    if segments
        .peek()
        .is_some_and(|s| kind_of(s).is_none() && *s != "user")
    {
        segments.next(); // region, like intl-de
    }
    if segments.peek() == Some(&"user") {
        segments.next();
        segments.next();
    }
    let kind = kind_of(segments.next()?)?;
    let id = id_prefix(segments.next()?, |c| {
        c.is_ascii_alphanumeric() || c == '-' || c == '_'
    })?;
    Some(Link {
        source: "spotify",
        kind,
        id,
    })
}

/// Apple Music: `https://music.apple.com/[<cc>/](album|playlist|artist|song)[/<slug>]/<id>`,
/// an album link with `?i=<songId>` naming one of its songs.
fn apple_link(url: &str) -> Option<Link> {
    let rest = strip_scheme(url, true)?;
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let path = rest.strip_prefix("music.apple.com/")?;
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments
        .first()
        .is_some_and(|s| s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()))
    {
        segments.remove(0);
    }
    let kind = match *segments.first()? {
        "song" => "track",
        "album" => "album",
        "playlist" => "playlist",
        "artist" => "artist",
        _ => return None,
    };
    let id = id_prefix(segments.get(1..)?.last()?, |c| {
        c.is_ascii_alphanumeric() || c == '-' || c == '.'
    })?;
    let song = query
        .split('&')
        .find_map(|p| p.strip_prefix("i="))
        .and_then(|i| id_prefix(i, |c| c.is_ascii_digit()));
    Some(match (kind, song) {
        ("album", Some(song)) => Link {
            source: "applemusic",
            kind: "track",
            id: song,
        },
        _ => Link {
            source: "applemusic",
            kind,
            id,
        },
    })
}

/// Deezer: `https://www.deezer.com/[<cc>/]<kind>/<digits>`.
fn deezer_link(url: &str) -> Option<Link> {
    let rest = strip_scheme(url, true)?;
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let path = rest.strip_prefix("deezer.com/")?;
    let mut segments = path.split('/').peekable();
    if segments
        .peek()
        .is_some_and(|s| s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()))
    {
        segments.next();
    }
    let kind = kind_of(segments.next()?)?;
    let id = id_prefix(segments.next()?, |c| c.is_ascii_digit())?;
    Some(Link {
        source: "deezer",
        kind,
        id,
    })
}

/// The LavaSrc link `identifier` is, if any.
pub(crate) fn parse_link(identifier: &str) -> Option<Link> {
    spotify_link(identifier)
        .or_else(|| apple_link(identifier))
        .or_else(|| deezer_link(identifier))
}

/// How many matches a source's search answers (Spotify asks for `limit=10`, Apple Music for
/// `limit=25`, Deezer's API pages by 25).
pub(crate) fn search_limit(source: &str) -> usize {
    match source {
        "spotify" => 10,
        _ => 25,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_the_links_lavasrc_documents() {
        let cases = [
            ("https://open.spotify.com/track/0eG08cBeKk0mzykKjw4hcQ", "spotify", "track", "0eG08cBeKk0mzykKjw4hcQ"),
            ("https://open.spotify.com/intl-de/track/0eG08cBeKk0mzykKjw4hcQ?si=abc", "spotify", "track", "0eG08cBeKk0mzykKjw4hcQ"),
            ("https://open.spotify.com/album/7qemUq4n71awwVPOaX7jw4", "spotify", "album", "7qemUq4n71awwVPOaX7jw4"),
            ("https://open.spotify.com/playlist/7HAO9R9v203gkaPAgknOMp", "spotify", "playlist", "7HAO9R9v203gkaPAgknOMp"),
            ("https://music.apple.com/cy/album/animals/1533388849?i=1533388859", "applemusic", "track", "1533388859"),
            ("https://music.apple.com/cy/album/for-those-that-wish-to-exist/1533388849", "applemusic", "album", "1533388849"),
            ("https://music.apple.com/us/playlist/architects-essentials/pl.40e568c609ae4b1eba58b6e89f4cd6a5", "applemusic", "playlist", "pl.40e568c609ae4b1eba58b6e89f4cd6a5"),
            ("https://www.deezer.com/track/1090538082", "deezer", "track", "1090538082"),
            ("https://deezer.com/track/1090538082", "deezer", "track", "1090538082"),
            ("https://www.deezer.com/fr/album/175537082", "deezer", "album", "175537082"),
        ];
        for (url, source, kind, id) in cases {
            let link = parse_link(url).unwrap_or_else(|| panic!("{url}"));
            assert_eq!(
                (link.source, link.kind, link.id.as_str()),
                (source, kind, id),
                "{url}"
            );
        }
        assert_eq!(
            parse_link("https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
            None
        );
        assert_eq!(parse_link("https://open.spotify.com/show/abc"), None);
    }

    #[test]
    fn decoding_shuffles_the_urls_as_lavasrc_does() {
        let written = Extended {
            album_name: Some("album".into()),
            album_url: Some("albumUrl".into()),
            artist_url: Some("artistUrl".into()),
            artist_artwork_url: Some("artistArtworkUrl".into()),
            preview_url: None,
            is_preview: true,
        };
        assert_eq!(Extended::read(&written.encode()), written);
        let decoded = Extended::read(&decoded_object_bytes("deezer", &written.encode()));
        assert_eq!(decoded.artist_url, None);
        assert_eq!(decoded.artist_artwork_url.as_deref(), Some("artistUrl"));
        assert_eq!(decoded.preview_url.as_deref(), Some("artistArtworkUrl"));
        assert!(decoded.is_preview);
        // Messages without the fields (older LavaSrc) decode with nulls.
        assert_eq!(Extended::read(&[]), Extended::default());
        assert_eq!(decoded_object_bytes("youtube", &[1, 2]), [1, 2]);
    }
}
