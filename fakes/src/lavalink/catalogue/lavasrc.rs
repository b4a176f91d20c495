//! LavaSrc (4.8.3) as Lavalink serves it: its tracks' extra bytes and `pluginInfo`, its
//! playlists' `pluginInfo`, its links, and the Spotify, Apple Music and Deezer fixtures.
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

use super::{
    APPLE_MUSIC_AHA, APPLE_MUSIC_RICK, APPLE_MUSIC_TONE_2S, DEEZER_DAFT_PUNK, DEEZER_QUEEN,
    DEEZER_RICK, DEEZER_TONE_2S, DEEZER_TONE_3S, SPOTIFY_AHA, SPOTIFY_ALBUM_ID,
    SPOTIFY_PLAYLIST_ID, SPOTIFY_QUEEN, SPOTIFY_RICK, SPOTIFY_TONE_2S, SPOTIFY_TONE_3S,
};

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

/// A LavaSrc fixture track.
pub(crate) struct Fixture {
    pub info: TrackInfo,
    pub extended: Extended,
}

#[allow(clippy::too_many_arguments)]
fn fixture(
    source: &str,
    id: &str,
    title: &str,
    author: &str,
    length: u64,
    uri: String,
    artwork: &str,
    isrc: &str,
    extended: [Option<&str>; 5],
) -> Fixture {
    let [album_name, album_url, artist_url, artist_artwork_url, preview_url] =
        extended.map(|s| s.map(str::to_string));
    Fixture {
        info: TrackInfo {
            identifier: id.to_string(),
            is_seekable: true,
            author: author.to_string(),
            length,
            is_stream: false,
            position: 0,
            title: title.to_string(),
            uri: Some(uri),
            artwork_url: Some(artwork.to_string()),
            isrc: Some(isrc.to_string()),
            source_name: source.to_string(),
        },
        extended: Extended {
            album_name,
            album_url,
            artist_url,
            artist_artwork_url,
            preview_url,
            is_preview: false,
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn spotify(
    id: &str,
    title: &str,
    author: &str,
    length: u64,
    image: &str,
    isrc: &str,
    album: (&str, &str),
    artist: (&str, &str),
    preview: Option<&str>,
) -> Fixture {
    let album_url = format!("https://open.spotify.com/album/{}", album.1);
    let artist_url = format!("https://open.spotify.com/artist/{}", artist.0);
    let artist_art = format!("https://i.scdn.co/image/ab6761610000e5eb{}", artist.1);
    fixture(
        "spotify",
        id,
        title,
        author,
        length,
        format!("https://open.spotify.com/track/{id}"),
        &format!("https://i.scdn.co/image/ab67616d0000b273{image}"),
        isrc,
        [
            Some(album.0),
            Some(&album_url),
            Some(&artist_url),
            Some(&artist_art),
            preview,
        ],
    )
}

const DEEZER_IMAGES: &str = "https://cdn-images.dzcdn.net/images";

#[allow(clippy::too_many_arguments)]
fn deezer(
    id: &str,
    title: &str,
    author: &str,
    seconds: u64,
    cover: &str,
    isrc: &str,
    album: (&str, u64),
    artist: (u64, &str),
    preview: &str,
) -> Fixture {
    let album_url = format!("https://www.deezer.com/album/{}", album.1);
    let artist_url = format!("https://www.deezer.com/artist/{}", artist.0);
    let artist_art = format!(
        "{DEEZER_IMAGES}/artist/{}/1000x1000-000000-80-0-0.jpg",
        artist.1
    );
    let preview = format!("https://cdnt-preview.dzcdn.net/api/1/1/{preview}.mp3");
    fixture(
        "deezer",
        id,
        title,
        author,
        // Deezer's API gives whole seconds.
        seconds * 1000,
        format!("https://deezer.com/track/{id}"),
        &format!("{DEEZER_IMAGES}/cover/{cover}/1000x1000-000000-80-0-0.jpg"),
        isrc,
        [
            Some(album.0),
            Some(&album_url),
            Some(&artist_url),
            Some(&artist_art),
            Some(&preview),
        ],
    )
}

const MZSTATIC: &str = "https://is1-ssl.mzstatic.com/image/thumb";

#[allow(clippy::too_many_arguments)]
fn apple(
    id: &str,
    title: &str,
    author: &str,
    length: u64,
    album: (&str, &str, &str),
    artwork: &str,
    isrc: &str,
    artist: (&str, &str, &str),
    preview: &str,
) -> Fixture {
    let (album_name, album_slug, album_id) = album;
    let album_url = format!("https://music.apple.com/us/album/{album_slug}/{album_id}");
    let artist_url = format!(
        "https://music.apple.com/us/artist/{}/{}",
        artist.0, artist.1
    );
    let artist_art = format!("{MZSTATIC}/{}/pr_source.png/2400x2400bb.jpg", artist.2);
    let preview =
        format!("https://aod-ssl.itunes.apple.com/itunes-assets/HLSMusic116/v4/{preview}/P1.m3u8");
    fixture(
        "applemusic",
        id,
        title,
        author,
        length,
        format!("{album_url}?i={id}"),
        &format!("{MZSTATIC}/{artwork}/3000x3000bb.jpg"),
        isrc,
        [
            Some(album_name),
            Some(&album_url),
            Some(&artist_url),
            Some(&artist_art),
            Some(&preview),
        ],
    )
}

const TONES_ALBUM: &str = "Encore Fixtures: Tones";
const FIXTURES: &str = "Encore Fixtures";

/// The Spotify, Apple Music and Deezer tracks of the catalogue (see docs/testing.md).
pub(crate) fn fixtures() -> Vec<Fixture> {
    let fixtures_artist = ("h2n8fjRxc0w2tvD9DGvUmK", "ac28f1a26584c4108d34041a");
    let tones_album = (TONES_ALBUM, SPOTIFY_ALBUM_ID);
    vec![
        spotify(
            SPOTIFY_RICK,
            "Never Gonna Give You Up",
            "Rick Astley",
            213_573,
            "49078040ee979b8d2bfd5919",
            "GBARL9300135",
            ("Whenever You Need Somebody", "xEEsAoCaA2QTqpOoast0vQ"),
            ("0gxyHStUsqpMadRV0Di1Qt", "7c5bf5d6d0f99329f7f6e4f2"),
            None,
        ),
        spotify(
            SPOTIFY_QUEEN,
            "Bohemian Rhapsody - Remastered 2011",
            "Queen",
            354_320,
            "16da1cb04d7a5c1c1ce14056",
            "GBUM71029604",
            ("A Night At The Opera (2011 Remaster)", "AqhNyMmwVCxBbwm0fn8yA4"),
            ("wba4eTqRA3hvAMEy7pMmtk", "755cb24064d289daac6a7e00"),
            Some("https://p.scdn.co/mp3-preview/f27a32370c131c48750773348cd1ceee81106d8c?cid=20b7f499aee25f0ef0f3e2f047cb11ca"),
        ),
        spotify(
            SPOTIFY_AHA,
            "Take On Me",
            "a-ha",
            225_280,
            "24d54656e764d9137b971302",
            "GBAYE8500005",
            ("Hunting High and Low", "pfNRCt5HwkQ6xQNPX0fWyv"),
            ("hNQDhbWW2ZTfwNwrU22XhF", "827d64f119050535cc4b3420"),
            None,
        ),
        spotify(
            SPOTIFY_TONE_2S,
            "Encore Fixture - Spotify Tone (2 s)",
            FIXTURES,
            2_000,
            "b1eb496271ff4a04293e91af",
            "QZES72600002",
            tones_album,
            fixtures_artist,
            None,
        ),
        spotify(
            SPOTIFY_TONE_3S,
            "Encore Fixture - Spotify Tone (3 s)",
            FIXTURES,
            3_000,
            "b1eb496271ff4a04293e91af",
            "QZES72600003",
            tones_album,
            fixtures_artist,
            None,
        ),
        apple(
            APPLE_MUSIC_RICK,
            "Never Gonna Give You Up",
            "Rick Astley",
            213_573,
            ("Whenever You Need Somebody", "whenever-you-need-somebody", "1558533890"),
            "Music115/v4/16/89/90/1323a8c7-e249-ceef-0880-33dcfc6b5288/886448996467.jpg",
            "GBARL9300135",
            ("rick-astley", "669771", "Music126/v4/ae/1a/dd/8e273854-8203-b076-6463-a89a6e45e0c5"),
            "74/bf/27/21b768a0-12cc-0e4b-1855-c61ccd843348",
        ),
        apple(
            APPLE_MUSIC_AHA,
            "Take On Me",
            "a-ha",
            225_280,
            ("Hunting High and Low", "hunting-high-and-low", "1137018046"),
            "Music125/v4/63/7f/b4/c304869a-aa56-5469-97e7-4b48c328db1e/081227955014.jpg",
            "GBAYE8500005",
            ("a-ha", "265075112", "Music116/v4/f0/d0/bc/664ced8d-cfbc-b64a-7c52-832518c7659e"),
            "90/88/5b/8b2901da-f5d6-a600-d81f-0666c3d9d047",
        ),
        apple(
            APPLE_MUSIC_TONE_2S,
            "Encore Fixture - Apple Music Tone (2 s)",
            FIXTURES,
            2_000,
            ("Encore Fixtures: Tones", "encore-fixtures-tones", "1966382289"),
            "Music211/v4/90/88/5b/8b2901da-f5d6-a600-d81f-0666c3d9d047/199066342442.jpg",
            "QZES72600012",
            ("encore-fixtures", "959489408", "Music221/v4/16/89/90/1323a8c7-e249-ceef-0880-33dcfc6b5288"),
            "16/89/90/1323a8c7-e249-ceef-0880-33dcfc6b5288",
        ),
        deezer(
            DEEZER_DAFT_PUNK,
            "Harder, Better, Faster, Stronger",
            "Daft Punk",
            224,
            "52d15fd877db2b0085fcbb44acebf722",
            "GBDUW0000059",
            ("Discovery", 302_127),
            (27, "6722a1eb4fbeb77d23c4fad62e117e10"),
            "5/2/d/0/52d15fd877db2b0085fcbb44acebf722",
        ),
        deezer(
            DEEZER_RICK,
            "Never Gonna Give You Up",
            "Rick Astley",
            213,
            "b2453ab3ff79aa03494b4990e60dc01a",
            "GBARL9300135",
            ("Whenever You Need Somebody", 106_634),
            (1_181, "9c1df890456c4d4a889d38da9ddc6e4e"),
            "b/2/4/0/b2453ab3ff79aa03494b4990e60dc01a",
        ),
        deezer(
            DEEZER_QUEEN,
            "Bohemian Rhapsody (Remastered 2011)",
            "Queen",
            354,
            "5947f43b523e1198f3c89aad6e3c487f",
            "GBUM71029604",
            ("A Night At The Opera (Deluxe Remastered Version)", 915_785),
            (412, "af3524c05962ab04f28d63832d75683f"),
            "5/9/4/0/5947f43b523e1198f3c89aad6e3c487f",
        ),
        deezer(
            DEEZER_TONE_2S,
            "Encore Fixture - Deezer Tone (2 s)",
            FIXTURES,
            2,
            "3b64b07021fecd74c19c81f2b2453ab3",
            "QZES72600022",
            ("Encore Fixtures: Tones", 635_844_480),
            (1_551_204_646, "6af5440d53e3156f8e9925619c1df890"),
            "3/b/6/0/3b64b07021fecd74c19c81f2b2453ab3",
        ),
        deezer(
            DEEZER_TONE_3S,
            "Encore Fixture - Deezer Tone (3 s)",
            FIXTURES,
            3,
            "3b64b07021fecd74c19c81f2b2453ab3",
            "QZES72600023",
            ("Encore Fixtures: Tones", 635_844_480),
            (1_551_204_646, "6af5440d53e3156f8e9925619c1df890"),
            "3/b/6/0/208709535e7ab47e4ddc51275947f43b",
        ),
    ]
}

/// The Spotify album and playlist of the catalogue.
pub(crate) fn collections() -> Vec<Collection> {
    vec![
        Collection {
            source: "spotify",
            kind: CollectionKind::Album,
            id: SPOTIFY_ALBUM_ID.to_string(),
            name: TONES_ALBUM.to_string(),
            url: Some(format!("https://open.spotify.com/album/{SPOTIFY_ALBUM_ID}")),
            artwork_url: Some(
                "https://i.scdn.co/image/ab67616d0000b273b1eb496271ff4a04293e91af".into(),
            ),
            author: Some(FIXTURES.to_string()),
            total_tracks: Some(2),
            tracks: vec![SPOTIFY_TONE_2S.into(), SPOTIFY_TONE_3S.into()],
        },
        Collection {
            source: "spotify",
            kind: CollectionKind::Playlist,
            id: SPOTIFY_PLAYLIST_ID.to_string(),
            name: "Encore Fixtures - Eighties Mix".to_string(),
            url: Some(format!(
                "https://open.spotify.com/playlist/{SPOTIFY_PLAYLIST_ID}"
            )),
            artwork_url: Some(
                "https://image-cdn-ak.spotifycdn.com/image/ab67706c0000da84cf557396d484789d21712c0a"
                    .into(),
            ),
            author: Some(FIXTURES.to_string()),
            total_tracks: Some(3),
            tracks: vec![SPOTIFY_RICK.into(), SPOTIFY_AHA.into(), SPOTIFY_QUEEN.into()],
        },
    ]
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
