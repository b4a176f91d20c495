//! The catalogue's Spotify, Apple Music and Deezer tracks and its Spotify album and playlist
//! (ids in each service's format, most of them made up; see docs/testing-plugins.md).

use crate::lavalink::types::TrackInfo;

use super::lavasrc::{Collection, CollectionKind, Extended};
use super::{
    APPLE_MUSIC_AHA, APPLE_MUSIC_RICK, APPLE_MUSIC_TONE_2S, DEEZER_DAFT_PUNK, DEEZER_QUEEN,
    DEEZER_RICK, DEEZER_TONE_2S, DEEZER_TONE_3S, SPOTIFY_AHA, SPOTIFY_ALBUM_ID,
    SPOTIFY_PLAYLIST_ID, SPOTIFY_QUEEN, SPOTIFY_RICK, SPOTIFY_TONE_2S, SPOTIFY_TONE_3S,
};

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
