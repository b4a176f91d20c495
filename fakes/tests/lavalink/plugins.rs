//! The plugins Encore's Lavalink runs — youtube-source, LavaSrc, LavaSearch, LavaLyrics — as
//! the fake serves them, and what a node without each answers.

use encore_fakes::lavalink::catalogue::{
    DEEZER_DAFT_PUNK, DEEZER_QUEEN, DEEZER_RICK, DEEZER_TONE_2S, DEEZER_TONE_3S,
    PLAIN_LYRICS_IDENTIFIER, SPOTIFY_AHA, SPOTIFY_ALBUM_ID, SPOTIFY_PLAYLIST_ID, SPOTIFY_QUEEN,
    SPOTIFY_RICK, SPOTIFY_TONE_2S, SPOTIFY_TONE_3S, SYNCED_LYRICS_IDENTIFIER,
};
use encore_fakes::lavalink::{codec, FakeLyrics, LavaSrcSources, Plugins};

use super::*;

const LOOKUP_FAILED: &str = "Something went wrong while looking up the track.";
const FRIENDLY: &str = "com.sedmelluq.discord.lavaplayer.tools.FriendlyException";

impl Rest {
    /// GET `path` with a query string built from `query`.
    async fn get_with(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .header("Authorization", PASSWORD)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }
}

fn spotify_url(id: &str) -> String {
    format!("https://open.spotify.com/track/{id}")
}

/// The `loadType: "error"` Lavalink (4.0.8+) answers when a source throws: the source's
/// exception only in `causeStackTrace`.
fn assert_lookup_failed(r: &Value, caused_by: &str) {
    assert_eq!(r["loadType"], "error", "{r}");
    let data = &r["data"];
    assert_eq!(data["message"], LOOKUP_FAILED);
    assert_eq!(data["severity"], "fault");
    assert_eq!(data["cause"], format!("{FRIENDLY}: {LOOKUP_FAILED}"));
    let trace = data["causeStackTrace"].as_str().unwrap();
    assert!(
        trace.contains(&format!("Caused by: {caused_by}")),
        "{trace}"
    );
}

fn ids(tracks: &Value) -> Vec<&str> {
    tracks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["info"]["identifier"].as_str().unwrap())
        .collect()
}

/// LavaSrc's track bytes: five `writeNullableText` then a boolean.
fn lavasrc_bytes(texts: [Option<&str>; 5], preview: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for t in texts {
        match t {
            Some(t) => {
                out.push(1);
                out.extend_from_slice(&(t.len() as u16).to_be_bytes());
                out.extend_from_slice(t.as_bytes());
            }
            None => out.push(0),
        }
    }
    out.push(u8::from(preview));
    out
}

#[tokio::test]
async fn info_lists_the_running_plugins_and_their_sources() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let (_, info) = rest.get("/v4/info").await;
    assert_eq!(
        info["plugins"],
        json!([
            {"name": "youtube-plugin", "version": "1.18.1"},
            {"name": "lavasrc-plugin", "version": "4.8.3"},
            {"name": "lavasearch-plugin", "version": "1.0.0"},
            {"name": "lavalyrics-plugin", "version": "1.0.0"},
        ])
    );
    assert_eq!(
        info["sourceManagers"],
        json!([
            "soundcloud",
            "youtube",
            "spotify",
            "applemusic",
            "deezer",
            "http"
        ])
    );

    fake.set_plugins(Plugins::none());
    let (_, info) = rest.get("/v4/info").await;
    assert_eq!(info["plugins"], json!([]));
    assert_eq!(info["sourceManagers"], json!(["soundcloud", "http"]));

    // The control route changes only what its body names.
    let (s, body) = rest
        .control(
            "/control/plugins",
            json!({"youtube": true, "lavalyrics": true}),
        )
        .await;
    assert_eq!(s, 200);
    let expected = Plugins {
        youtube: true,
        lavalyrics: true,
        ..Plugins::none()
    };
    let mut shown = json!(expected);
    shown["lavasrcSources"] = json!({"spotify": true, "applemusic": true, "deezer": true});
    assert_eq!(body["plugins"], shown);
    assert_eq!(fake.plugins(), expected);
    let (_, info) = rest.get("/v4/info").await;
    assert_eq!(
        info["plugins"],
        json!([{"name": "youtube-plugin", "version": "1.18.1"},
               {"name": "lavalyrics-plugin", "version": "1.0.0"}])
    );
    let (s, _) = rest
        .control("/control/plugins", json!({"lavasrc": 1}))
        .await;
    assert_eq!(s, 400);
    let plugins: Value = reqwest::get(format!("{}/control/plugins", fake.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plugins, shown);

    // The config chooses the plugins at start.
    let bare = FakeLavalink::start(FakeLavalinkConfig {
        plugins: Plugins::none(),
        ..FakeLavalinkConfig::default()
    })
    .await
    .unwrap();
    let (_, info) = Rest::new(&bare).get("/v4/info").await;
    assert_eq!(info["plugins"], json!([]));
}

#[tokio::test]
async fn lavasrc_links_load_tracks_albums_playlists_and_artists() {
    let fake = fake().await;
    let rest = Rest::new(&fake);

    let r = rest.load(&spotify_url(SPOTIFY_RICK)).await;
    assert_eq!(r["loadType"], "track", "{r}");
    let t = &r["data"];
    assert_eq!(
        t["info"],
        json!({
            "identifier": SPOTIFY_RICK, "isSeekable": true, "author": "Rick Astley",
            "length": 213573, "isStream": false, "position": 0,
            "title": "Never Gonna Give You Up",
            "uri": spotify_url(SPOTIFY_RICK),
            "artworkUrl": "https://i.scdn.co/image/ab67616d0000b27349078040ee979b8d2bfd5919",
            "isrc": "GBARL9300135", "sourceName": "spotify"
        })
    );
    let album_url = "https://open.spotify.com/album/xEEsAoCaA2QTqpOoast0vQ";
    let artist_url = "https://open.spotify.com/artist/0gxyHStUsqpMadRV0Di1Qt";
    let artist_art = "https://i.scdn.co/image/ab6761610000e5eb7c5bf5d6d0f99329f7f6e4f2";
    assert_eq!(
        t["pluginInfo"],
        json!({
            "albumName": "Whenever You Need Somebody", "albumUrl": album_url,
            "artistUrl": artist_url, "artistArtworkUrl": artist_art,
            "previewUrl": null, "isPreview": false, "isLocal": false
        })
    );
    // lavaplayer's message with LavaSrc's own bytes after the source name.
    let d = codec::decode(t["encoded"].as_str().unwrap()).unwrap();
    assert_eq!(d.version, 3);
    assert_eq!(json!(d.info), t["info"]);
    assert_eq!(
        d.source_bytes,
        lavasrc_bytes(
            [
                Some("Whenever You Need Somebody"),
                Some(album_url),
                Some(artist_url),
                Some(artist_art),
                None
            ],
            false
        )
    );
    // Regional links and share parameters load the same track.
    let r = rest
        .load(&format!(
            "https://open.spotify.com/intl-de/track/{SPOTIFY_RICK}?si=0123abcd"
        ))
        .await;
    assert_eq!(r["data"]["info"]["identifier"], SPOTIFY_RICK);

    // Apple Music: the song of an album link's `?i=`; no isLocal.
    let r = rest
        .load("https://music.apple.com/us/album/whenever-you-need-somebody/1558533890?i=1558533900")
        .await;
    let t = &r["data"];
    assert_eq!(t["info"]["sourceName"], "applemusic");
    assert_eq!(t["info"]["identifier"], "1558533900");
    assert_eq!(
        t["info"]["uri"],
        "https://music.apple.com/us/album/whenever-you-need-somebody/1558533890?i=1558533900"
    );
    assert_eq!(
        t["pluginInfo"]["albumUrl"],
        "https://music.apple.com/us/album/whenever-you-need-somebody/1558533890"
    );
    assert!(t["pluginInfo"].get("isLocal").is_none());

    // Deezer: whole seconds, the uri LavaSrc builds (no www).
    let r = rest
        .load(&format!("https://www.deezer.com/track/{DEEZER_DAFT_PUNK}"))
        .await;
    let t = &r["data"];
    assert_eq!(t["info"]["sourceName"], "deezer");
    assert_eq!(t["info"]["length"], 224_000);
    assert_eq!(
        t["info"]["uri"],
        format!("https://deezer.com/track/{DEEZER_DAFT_PUNK}")
    );
    assert_eq!(
        t["pluginInfo"]["artistUrl"],
        "https://www.deezer.com/artist/27"
    );
    assert!(t["pluginInfo"]["previewUrl"]
        .as_str()
        .unwrap()
        .starts_with("https://cdnt-preview.dzcdn.net/"));

    let r = rest
        .load(&format!(
            "https://open.spotify.com/playlist/{SPOTIFY_PLAYLIST_ID}?si=x"
        ))
        .await;
    assert_eq!(r["loadType"], "playlist");
    assert_eq!(
        r["data"]["info"],
        json!({"name": "Encore Fixtures - Eighties Mix", "selectedTrack": -1})
    );
    assert_eq!(
        r["data"]["pluginInfo"],
        json!({
            "type": "playlist",
            "url": format!("https://open.spotify.com/playlist/{SPOTIFY_PLAYLIST_ID}"),
            "artworkUrl": "https://image-cdn-ak.spotifycdn.com/image/ab67706c0000da84cf557396d484789d21712c0a",
            "author": "Encore Fixtures", "totalTracks": 3
        })
    );
    assert_eq!(
        ids(&r["data"]["tracks"]),
        [SPOTIFY_RICK, SPOTIFY_AHA, SPOTIFY_QUEEN]
    );

    let r = rest
        .load(&format!(
            "https://open.spotify.com/album/{SPOTIFY_ALBUM_ID}"
        ))
        .await;
    assert_eq!(r["loadType"], "playlist");
    assert_eq!(r["data"]["pluginInfo"]["type"], "album");
    assert_eq!(r["data"]["pluginInfo"]["author"], "Encore Fixtures");
    assert_eq!(r["data"]["pluginInfo"]["totalTracks"], 2);
    assert_eq!(
        ids(&r["data"]["tracks"]),
        [SPOTIFY_TONE_2S, SPOTIFY_TONE_3S]
    );

    let r = rest
        .load("https://open.spotify.com/artist/0gxyHStUsqpMadRV0Di1Qt")
        .await;
    assert_eq!(r["data"]["info"]["name"], "Rick Astley's Top Tracks");
    assert_eq!(
        r["data"]["pluginInfo"],
        json!({"type": "artist", "url": artist_url, "artworkUrl": artist_art,
               "author": "Rick Astley", "totalTracks": 0})
    );

    // Spotify's 404 is LavaSrc's "no track".
    let r = rest.load(&spotify_url("0000000000000000000000")).await;
    assert_eq!(r, json!({"loadType": "empty", "data": {}}));
    // A bare Spotify id is no identifier any source takes.
    let r = rest.load(SPOTIFY_RICK).await;
    assert_eq!(r, json!({"loadType": "empty", "data": {}}));
}

#[tokio::test]
async fn lavasrc_searches_stay_within_their_source() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let sources = |r: &Value| -> Vec<String> {
        r["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["info"]["sourceName"].as_str().unwrap().to_string())
            .collect()
    };

    let r = rest.load("spsearch:rick astley").await;
    assert_eq!(r["loadType"], "search");
    assert_eq!(ids(&r["data"]), [SPOTIFY_RICK]);
    assert_eq!(
        r["data"][0]["pluginInfo"]["albumName"],
        "Whenever You Need Somebody"
    );
    let r = rest.load("spsearch:isrc:GBARL9300135").await;
    assert_eq!(ids(&r["data"]), [SPOTIFY_RICK]);
    let r = rest.load("amsearch:a-ha").await;
    assert_eq!(sources(&r), ["applemusic"]);
    let r = rest.load("dzsearch:encore fixture").await;
    assert_eq!(ids(&r["data"]), [DEEZER_TONE_2S, DEEZER_TONE_3S]);
    let r = rest.load("dzisrc:GBARL9300135").await;
    assert_eq!(r["loadType"], "track");
    assert_eq!(r["data"]["info"]["identifier"], DEEZER_RICK);
    let r = rest.load("spsearch:nothing matches this").await;
    assert_eq!(r, json!({"loadType": "empty", "data": {}}));

    // YouTube and SoundCloud searches do not find LavaSrc's tracks.
    let r = rest.load("ytsearch:rick astley").await;
    assert_eq!(sources(&r), ["youtube"]);
    let r = rest.load("scsearch:never gonna").await;
    assert_eq!(sources(&r), ["youtube"]);
}

#[tokio::test]
async fn a_node_without_plugins_answers_like_plain_lavalink() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let spotify_encoded = rest.encoded(&spotify_url(SPOTIFY_RICK)).await;
    let youtube_encoded = rest.encoded(SHORT_1S).await;
    fake.set_plugins(Plugins::none());

    // Prefixes no source claims: empty.
    let sprec = format!("sprec:{SPOTIFY_RICK}");
    let dzrec = format!("dzrec:{DEEZER_RICK}");
    for prefix in [
        "spsearch:rick",
        "amsearch:rick",
        "dzsearch:rick",
        "dzisrc:GBARL9300135",
        &sprec,
        &dzrec,
        "ytsearch:rick",
        "ytmsearch:rick",
        SHORT_1S,
    ] {
        assert_eq!(
            rest.load(prefix).await,
            json!({"loadType": "empty", "data": {}}),
            "{prefix}"
        );
    }
    // Links go to lavaplayer's http source, which finds a web page.
    for link in [
        spotify_url(SPOTIFY_RICK),
        format!("https://www.deezer.com/track/{DEEZER_RICK}"),
        "https://music.apple.com/us/album/whenever-you-need-somebody/1558533890?i=1558533900"
            .into(),
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ".into(),
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=RDdQw4w9WgXcQ".into(),
    ] {
        assert_lookup_failed(
            &rest.load(&link).await,
            &format!("{FRIENDLY}: Unknown file format."),
        );
    }
    // SoundCloud is built in.
    assert_eq!(rest.load("scsearch:encore").await["loadType"], "search");

    // The plugins' routes do not exist.
    for path in [
        "/v4/loadsearch?query=spsearch:rick".to_string(),
        format!("/v4/lyrics?track={}", urlencode(&youtube_encoded)),
        "/v4/sessions/abc/players/1/track/lyrics".into(),
    ] {
        let (s, body) = rest.get(&path).await;
        assert_eq!(s, 404, "{path}");
        assert_error_body(&body, 404, path.split('?').next().unwrap());
        assert_eq!(body["message"], "Not Found");
    }

    // Tracks of a missing source manager do not decode.
    for encoded in [&spotify_encoded, &youtube_encoded] {
        let (s, body) = rest
            .get_with("/v4/decodetrack", &[("encodedTrack", encoded)])
            .await;
        assert_eq!(s, 500);
        assert_eq!(
            body["message"],
            "Failed to decode track due to a mismatching version or missing source manager"
        );
    }
    let c = connect(&fake).await;
    let (s, body) = rest
        .patch_player(
            &c.session_id,
            json!({"track": {"encoded": spotify_encoded}}),
        )
        .await;
    assert_eq!(s, 500);
    assert_error_body(&body, 500, "/v4/sessions/");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[tokio::test]
async fn each_plugin_off_alone() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let rick = rest.encoded("dQw4w9WgXcQ").await;

    // LavaSrc off: LavaSearch and LavaLyrics run without a source to ask.
    fake.set_plugins(Plugins {
        lavasrc: false,
        ..Plugins::all()
    });
    let (s, body) = rest
        .get_with("/v4/loadsearch", &[("query", "ytsearch:rick")])
        .await;
    assert_eq!(
        (s, body["message"].as_str()),
        (500, Some("No search managers registered"))
    );
    let (s, body) = rest.get_with("/v4/lyrics", &[("track", &rick)]).await;
    assert_eq!(
        (s, body["message"].as_str()),
        (500, Some("No lyrics managers registered"))
    );
    assert_eq!(rest.load("ytsearch:rick").await["loadType"], "search");

    // youtube-source off: LavaSrc registers no YouTube search or lyrics; LRCLIB answers.
    fake.set_plugins(Plugins {
        youtube: false,
        ..Plugins::all()
    });
    let (s, _) = rest
        .get_with("/v4/loadsearch", &[("query", "ytsearch:rick")])
        .await;
    assert_eq!(s, 204);
    let deezer = rest
        .encoded(&format!("https://www.deezer.com/track/{DEEZER_RICK}"))
        .await;
    fake.set_lyrics(DEEZER_RICK, FakeLyrics::Plain("la la".into()));
    let (s, body) = rest
        .get_with(
            "/v4/lyrics",
            &[("track", &deezer), ("skipTrackSource", "true")],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body,
        json!({"sourceName": "LRCLIB", "provider": "LRCLIB", "text": "la la", "lines": [],
               "plugin": {}})
    );

    // LavaSearch and LavaLyrics off: their routes are 404, loading is unchanged.
    fake.set_plugins(Plugins {
        lavasearch: false,
        lavalyrics: false,
        ..Plugins::all()
    });
    let (s, _) = rest
        .get_with("/v4/loadsearch", &[("query", "spsearch:rick")])
        .await;
    assert_eq!(s, 404);
    let (s, _) = rest.get_with("/v4/lyrics", &[("track", &rick)]).await;
    assert_eq!(s, 404);
    assert_eq!(rest.load("spsearch:rick").await["loadType"], "search");
}

#[tokio::test]
async fn youtube_mixes_start_with_their_seed() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let seed = "dQw4w9WgXcQ";

    let r = rest
        .load(&format!(
            "https://www.youtube.com/watch?v={seed}&list=RD{seed}"
        ))
        .await;
    assert_eq!(r["loadType"], "playlist", "{r}");
    assert_eq!(
        r["data"]["info"],
        json!({"name": "Mix – Rick Astley - Never Gonna Give You Up", "selectedTrack": 0})
    );
    assert_eq!(r["data"]["pluginInfo"], json!({}));
    let tracks = ids(&r["data"]["tracks"]);
    assert_eq!(
        tracks,
        [
            seed,
            "fJ9rUzIMcZQ",
            "9bZkp7q19f0",
            "kJQP7kiw5Fk",
            SHORT_1S,
            SHORT_2S,
            SHORT_3S,
            SHORT_5S
        ],
        "the seed, then the playable YouTube tracks: no stream, no failing track"
    );
    // YouTube Music links and the playlist form name the same mix.
    for link in [
        format!("https://music.youtube.com/watch?v={seed}&list=RD{seed}"),
        format!("https://www.youtube.com/playlist?list=RD{seed}"),
    ] {
        let r = rest.load(&link).await;
        assert_eq!(ids(&r["data"]["tracks"]), tracks, "{link}");
        assert_eq!(r["data"]["info"]["selectedTrack"], 0, "{link}");
    }
    // The link's video is the selected track.
    let r = rest
        .load(&format!(
            "https://www.youtube.com/watch?v={SHORT_2S}&list=RD{seed}"
        ))
        .await;
    assert_eq!(r["data"]["info"]["selectedTrack"], 5);

    // Overrides: the seed stays first.
    fake.set_mix(seed, [SHORT_3S, SHORT_1S]).unwrap();
    let r = rest
        .load(&format!(
            "https://www.youtube.com/watch?v={seed}&list=RD{seed}"
        ))
        .await;
    assert_eq!(ids(&r["data"]["tracks"]), [seed, SHORT_3S, SHORT_1S]);
    let (s, _) = rest
        .control(
            "/control/mixes",
            json!({"seed": SHORT_5S, "tracks": [SHORT_2S]}),
        )
        .await;
    assert_eq!(s, 200);
    let r = rest
        .load(&format!(
            "https://www.youtube.com/playlist?list=RD{SHORT_5S}"
        ))
        .await;
    assert_eq!(ids(&r["data"]["tracks"]), [SHORT_5S, SHORT_2S]);
    assert_eq!(
        r["data"]["info"]["name"],
        "Mix – Encore Fixture - Test Tone (5 s)"
    );
    let (s, _) = rest
        .control(
            "/control/mixes",
            json!({"seed": seed, "tracks": ["nosuchtrack"]}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(fake.set_mix("nosuchseed0", Vec::<String>::new()).is_err());

    // A mix YouTube does not know fails in every client.
    let r = rest
        .load("https://www.youtube.com/watch?v=zzzzzzzzzzz&list=RDzzzzzzzzzzz")
        .await;
    assert_lookup_failed(
        &r,
        "dev.lavalink.youtube.AllClientsFailedException: (yts.version: 1.18.1) All clients failed to load the item.",
    );
    assert!(r["data"]["causeStackTrace"]
        .as_str()
        .unwrap()
        .contains("Could not find tracks from mix."));
}

#[tokio::test]
async fn lavasrc_recommendations() {
    let fake = fake().await;
    let rest = Rest::new(&fake);

    let r = rest.load(&format!("sprec:{SPOTIFY_RICK}")).await;
    assert_eq!(r["loadType"], "playlist", "{r}");
    assert_eq!(
        r["data"]["info"],
        json!({"name": "Spotify Recommendations", "selectedTrack": -1})
    );
    assert_eq!(
        r["data"]["pluginInfo"],
        json!({"type": "recommendations", "url": null, "artworkUrl": null, "author": null,
               "totalTracks": 4})
    );
    assert_eq!(
        ids(&r["data"]["tracks"]),
        [SPOTIFY_QUEEN, SPOTIFY_AHA, SPOTIFY_TONE_2S, SPOTIFY_TONE_3S],
        "Spotify's recommendations leave the seed out"
    );
    fake.set_mix(SPOTIFY_RICK, [SPOTIFY_TONE_3S]).unwrap();
    let r = rest.load(&format!("sprec:{SPOTIFY_RICK}")).await;
    assert_eq!(ids(&r["data"]["tracks"]), [SPOTIFY_TONE_3S]);
    assert_eq!(r["data"]["pluginInfo"]["totalTracks"], 1);
    fake.set_mix(SPOTIFY_RICK, Vec::<String>::new()).unwrap();
    assert_eq!(
        rest.load(&format!("sprec:{SPOTIFY_RICK}")).await["loadType"],
        "empty"
    );
    assert_eq!(
        rest.load("sprec:0000000000000000000000").await["loadType"],
        "empty"
    );
    // LavaSrc 4.8 takes a bare track id; the README's older forms fail.
    assert_lookup_failed(
        &rest.load(&format!("sprec:mix:track:{SPOTIFY_QUEEN}")).await,
        &format!("{FRIENDLY}: Spotify generated playlists are no longer accessible via anonymous tokens."),
    );
    assert_lookup_failed(
        &rest
            .load(&format!("sprec:seed_tracks={SPOTIFY_QUEEN}"))
            .await,
        &format!("{FRIENDLY}: Server responded with an error."),
    );

    for query in [
        format!("dzrec:{DEEZER_RICK}"),
        format!("dzrec:track={DEEZER_RICK}"),
    ] {
        let r = rest.load(&query).await;
        assert_eq!(r["data"]["info"]["name"], "Deezer Recommendations");
        assert_eq!(r["data"]["pluginInfo"]["type"], "recommendations");
        assert_eq!(
            ids(&r["data"]["tracks"]),
            [
                DEEZER_RICK,
                DEEZER_DAFT_PUNK,
                DEEZER_QUEEN,
                DEEZER_TONE_2S,
                DEEZER_TONE_3S
            ],
            "Deezer's track mix starts with the seed"
        );
    }
    rest.control(
        "/control/mixes",
        json!({"seed": DEEZER_RICK, "tracks": [DEEZER_TONE_3S]}),
    )
    .await;
    let r = rest.load(&format!("dzrec:{DEEZER_RICK}")).await;
    assert_eq!(ids(&r["data"]["tracks"]), [DEEZER_RICK, DEEZER_TONE_3S]);
    assert_eq!(rest.load("dzrec:1").await["loadType"], "empty");
}

#[tokio::test]
async fn lyrics_of_a_track_and_of_a_player() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let lyrics = |track: String, skip: &'static str| {
        let rest = &rest;
        async move {
            rest.get_with(
                "/v4/lyrics",
                &[("track", &track), ("skipTrackSource", skip)],
            )
            .await
        }
    };

    let plain = rest.encoded(PLAIN_LYRICS_IDENTIFIER).await;
    let (s, body) = lyrics(plain.clone(), "false").await;
    assert_eq!(s, 200);
    assert_eq!(body["sourceName"], "youtube");
    assert_eq!(body["provider"], "Source: LyricFind");
    assert_eq!(
        body["lines"],
        Value::Null,
        "YouTube's text lyrics have no lines"
    );
    assert_eq!(body["plugin"], json!({}));
    let text = body["text"].as_str().unwrap();
    assert!(
        text.chars().count() > 4096,
        "more than one embed: {}",
        text.len()
    );

    let synced = rest.encoded(SYNCED_LYRICS_IDENTIFIER).await;
    let (s, body) = lyrics(synced, "false").await;
    assert_eq!(s, 200);
    let lines = body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 30);
    assert_eq!(
        lines[0],
        json!({"timestamp": 5000, "duration": 10000,
               "line": "Timed fixture line 1: the tone rises and falls", "plugin": {}})
    );
    assert!(body["text"]
        .as_str()
        .unwrap()
        .starts_with("Timed fixture line 1: the tone rises and falls\nTimed fixture line 2"));

    // No lyrics: 204; set_lyrics and the control route change that.
    let short = rest.encoded(SHORT_2S).await;
    assert_eq!(lyrics(short.clone(), "false").await.0, 204);
    fake.set_lyrics(
        SHORT_2S,
        FakeLyrics::Synced(vec![
            (0, None, "one".into()),
            (1000, Some(500), "two".into()),
        ]),
    );
    let (_, body) = lyrics(short.clone(), "false").await;
    assert_eq!(body["text"], "one\ntwo");
    assert_eq!(body["lines"][0]["duration"], Value::Null);
    let (s, _) = rest
        .control(
            "/control/lyrics",
            json!({"identifier": SHORT_2S, "none": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(lyrics(short.clone(), "false").await.0, 204);
    rest.control(
        "/control/lyrics",
        json!({"identifier": SHORT_2S, "lines": [{"timestamp": 10, "line": "x"}]}),
    )
    .await;
    assert_eq!(
        lyrics(short.clone(), "false").await.1["lines"][0]["timestamp"],
        10
    );
    let (s, _) = rest
        .control("/control/lyrics", json!({"identifier": SHORT_2S}))
        .await;
    assert_eq!(s, 400);

    // The track's own source is asked first unless skipped: Spotify needs an spDc cookie
    // Encore does not set, Deezer answers itself.
    let spotify = rest.encoded(&spotify_url(SPOTIFY_RICK)).await;
    fake.set_lyrics(SPOTIFY_RICK, FakeLyrics::Plain("sp".into()));
    let (s, body) = lyrics(spotify.clone(), "false").await;
    assert_eq!(
        (s, body["message"].as_str()),
        (500, Some("Spotify spDc must be set"))
    );
    let (s, body) = lyrics(spotify, "true").await;
    assert_eq!((s, body["sourceName"].as_str()), (200, Some("youtube")));
    let deezer = rest
        .encoded(&format!("https://www.deezer.com/track/{DEEZER_RICK}"))
        .await;
    fake.set_lyrics(DEEZER_RICK, FakeLyrics::Plain("dz".into()));
    let (_, body) = lyrics(deezer.clone(), "false").await;
    assert_eq!(
        body,
        json!({"sourceName": "deezer", "provider": "LyricFind", "text": "dz", "lines": [],
               "plugin": {}})
    );
    assert_eq!(lyrics(deezer, "true").await.1["sourceName"], "youtube");

    // Spring's answers to bad parameters.
    let (s, body) = rest.get("/v4/lyrics").await;
    assert_eq!(s, 400);
    assert_eq!(
        body["message"],
        "Required request parameter 'track' for method parameter type String is not present"
    );
    assert_eq!(lyrics(plain.clone(), "maybe").await.0, 400);
    assert_eq!(lyrics("bm90IGEgdHJhY2s=".into(), "false").await.0, 500);

    // The player's current track.
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();
    let path = format!("/v4/sessions/{sid}/players/{GUILD}/track/lyrics");
    let (s, body) = rest.get(&path).await;
    assert_eq!(
        (s, body["message"].as_str()),
        (404, Some("Player not found"))
    );
    assert_error_body(&body, 404, &path);
    let (s, body) = rest
        .get("/v4/sessions/nosuchsession000/players/1/track/lyrics")
        .await;
    assert_eq!(
        (s, body["message"].as_str()),
        (404, Some("Session not found"))
    );
    rest.patch_player(&sid, json!({"volume": 50})).await;
    let (s, body) = rest.get(&path).await;
    assert_eq!(
        (s, body["message"].as_str()),
        (404, Some("No track playing"))
    );
    let (s, _) = rest
        .patch_player(&sid, json!({"voice": voice(), "track": {"encoded": plain}}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    let (s, body) = rest.get(&format!("{path}?skipTrackSource=true")).await;
    assert_eq!(s, 200);
    assert_eq!(body["sourceName"], "youtube");
    let (s, _) = rest
        .get(&format!(
            "/v4/sessions/{sid}/players/notaguild/track/lyrics"
        ))
        .await;
    assert_eq!(s, 500);

    // Both routes are recorded like every other.
    let recorded: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/lyrics"))
        .collect();
    assert!(recorded
        .iter()
        .any(|r| r.path == path && r.query.as_deref() == Some("skipTrackSource=true")));
    assert!(recorded.iter().any(|r| r.path == "/v4/lyrics"));
}

#[tokio::test]
async fn loadsearch_answers_lavasearch_results() {
    let fake = fake().await;
    let rest = Rest::new(&fake);

    let (s, r) = rest
        .get_with("/v4/loadsearch", &[("query", "spsearch:encore fixtures")])
        .await;
    assert_eq!(s, 200);
    let mut keys: Vec<&String> = r.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "albums",
            "artists",
            "playlists",
            "plugin",
            "texts",
            "tracks"
        ]
    );
    assert_eq!(ids(&r["tracks"]), [SPOTIFY_TONE_2S, SPOTIFY_TONE_3S]);
    assert_eq!(r["tracks"][0]["pluginInfo"]["isLocal"], false);
    assert_eq!(
        r["albums"],
        json!([{
            "info": {"name": "Encore Fixtures: Tones", "selectedTrack": -1},
            "pluginInfo": {
                "type": "album",
                "url": format!("https://open.spotify.com/album/{SPOTIFY_ALBUM_ID}"),
                "artworkUrl": "https://i.scdn.co/image/ab67616d0000b273b1eb496271ff4a04293e91af",
                "author": "Encore Fixtures", "totalTracks": 2
            },
            "tracks": []
        }])
    );
    assert_eq!(
        r["playlists"][0]["info"]["name"],
        "Encore Fixtures - Eighties Mix"
    );
    assert_eq!(
        r["artists"][0]["info"]["name"],
        "Encore Fixtures's Top Tracks"
    );
    assert_eq!(r["artists"][0]["pluginInfo"]["type"], "artist");
    assert_eq!(r["texts"], json!([]));
    assert_eq!(r["plugin"], json!({}));

    // `types` narrows the answer.
    let (_, r) = rest
        .get_with(
            "/v4/loadsearch",
            &[
                ("query", "spsearch:encore fixtures"),
                ("types", "album, track"),
            ],
        )
        .await;
    assert_eq!(ids(&r["tracks"]).len(), 2);
    assert_eq!(r["albums"].as_array().unwrap().len(), 1);
    assert_eq!(r["playlists"], json!([]));
    assert_eq!(r["artists"], json!([]));

    // Apple Music suggests search terms; YouTube's suggestions are texts only.
    let (_, r) = rest
        .get_with("/v4/loadsearch", &[("query", "amsearch:take on")])
        .await;
    assert_eq!(r["texts"], json!([{"text": "take on me", "plugin": {}}]));
    assert_eq!(
        r["tracks"][0]["pluginInfo"]["artistArtworkUrl"],
        Value::Null
    );
    let (_, r) = rest
        .get_with(
            "/v4/loadsearch",
            &[("query", "ytsearch:test tone"), ("types", "track,text")],
        )
        .await;
    assert_eq!(r["tracks"], json!([]));
    assert_eq!(
        r["texts"][0],
        json!({"text": "encore fixture - test tone (1 s)", "plugin": {}})
    );
    let (_, r) = rest
        .get_with("/v4/loadsearch", &[("query", "ytmsearch:test tone (1 s)")])
        .await;
    assert_eq!(r["tracks"][0]["info"]["length"], -1);
    assert_eq!(
        r["tracks"][0]["info"]["uri"],
        format!("https://music.youtube.com/watch?v={SHORT_1S}")
    );

    // Nothing found by a source that took the query: empty lists. No source took it: 204.
    let (s, r) = rest
        .get_with("/v4/loadsearch", &[("query", "dzsearch:zzzz")])
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["tracks"], json!([]));
    let (s, r) = rest
        .get_with("/v4/loadsearch", &[("query", "scsearch:rick")])
        .await;
    assert_eq!((s, r), (204, Value::Null));
    let (s, body) = rest.get("/v4/loadsearch").await;
    assert_eq!(s, 400);
    assert_error_body(&body, 400, "/v4/loadsearch");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path == "/v4/loadsearch"
                && r.query.as_deref() == Some("query=dzsearch%3Azzzz"))
    );
}

#[tokio::test]
async fn decoded_lavasrc_tracks_carry_lavasrcs_shuffled_urls() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let loaded = rest.load(&spotify_url(SPOTIFY_QUEEN)).await["data"].clone();
    let written = loaded["pluginInfo"].clone();
    assert!(written["previewUrl"].is_string());
    // LavaSrc's decodeTrack hands artistUrl, artistArtworkUrl, previewUrl to a constructor
    // taking artistArtworkUrl, previewUrl, artistUrl.
    let shuffled = json!({
        "albumName": written["albumName"], "albumUrl": written["albumUrl"],
        "artistUrl": written["previewUrl"], "artistArtworkUrl": written["artistUrl"],
        "previewUrl": written["artistArtworkUrl"], "isPreview": false, "isLocal": false,
    });
    let encoded = loaded["encoded"].as_str().unwrap();
    let (s, decoded) = rest
        .get_with("/v4/decodetrack", &[("encodedTrack", encoded)])
        .await;
    assert_eq!(s, 200);
    assert_eq!(decoded["encoded"], encoded);
    assert_eq!(decoded["info"], loaded["info"]);
    assert_eq!(decoded["pluginInfo"], shuffled);

    // A player given the encoded track plays the decoded object; one given the link plays
    // what LavaSrc loaded.
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();
    rest.patch_player(
        &sid,
        json!({"voice": voice(), "track": {"encoded": encoded}}),
    )
    .await;
    let start = c.next_event().await;
    assert_eq!(start["track"]["pluginInfo"], shuffled);
    rest.patch_player(
        &sid,
        json!({"track": {"identifier": spotify_url(SPOTIFY_QUEEN)}}),
    )
    .await;
    let mut start = c.next_event().await;
    if start["type"] == "TrackEndEvent" {
        start = c.next_event().await;
    }
    assert_eq!(start["type"], "TrackStartEvent");
    assert_eq!(start["track"]["pluginInfo"], written);
}

#[tokio::test]
async fn lavasrc_without_credentials_registers_none_of_its_sources() {
    let fake = FakeLavalink::start(FakeLavalinkConfig {
        lavasrc_sources: LavaSrcSources::none(),
        ..FakeLavalinkConfig::default()
    })
    .await
    .unwrap();
    let rest = Rest::new(&fake);
    let (_, info) = rest.get("/v4/info").await;
    assert_eq!(
        info["sourceManagers"],
        json!(["soundcloud", "youtube", "http"])
    );
    assert_eq!(info["plugins"].as_array().unwrap().len(), 4);

    assert_eq!(
        rest.load("spsearch:rick").await,
        json!({"loadType": "empty", "data": {}})
    );
    assert_lookup_failed(
        &rest.load(&spotify_url(SPOTIFY_RICK)).await,
        &format!("{FRIENDLY}: Unknown file format."),
    );
    // LavaSearch still has YouTube's suggestions; the Spotify prefix is nobody's.
    let (s, _) = rest
        .get_with("/v4/loadsearch", &[("query", "spsearch:rick")])
        .await;
    assert_eq!(s, 204);
    let (s, r) = rest
        .get_with("/v4/loadsearch", &[("query", "ytsearch:rick")])
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["texts"].as_array().unwrap().len(), 1);
    // LavaLyrics still has YouTube's and LRCLIB's lyrics.
    let rick = rest.encoded(PLAIN_LYRICS_IDENTIFIER).await;
    let (s, body) = rest.get_with("/v4/lyrics", &[("track", &rick)]).await;
    assert_eq!((s, body["sourceName"].as_str()), (200, Some("youtube")));

    // One source switched on over the control API.
    let (s, body) = rest
        .control(
            "/control/plugins",
            json!({"lavasrcSources": {"deezer": true}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body["plugins"]["lavasrcSources"],
        json!({"spotify": false, "applemusic": false, "deezer": true})
    );
    assert_eq!(
        fake.lavasrc_sources(),
        LavaSrcSources {
            deezer: true,
            ..LavaSrcSources::none()
        }
    );
    assert_eq!(rest.load("dzsearch:daft punk").await["loadType"], "search");
    assert_eq!(rest.load("spsearch:rick").await["loadType"], "empty");
    let (s, _) = rest
        .control(
            "/control/plugins",
            json!({"lavasrcSources": {"deezer": "yes"}}),
        )
        .await;
    assert_eq!(s, 400);
    fake.set_lavasrc_sources(LavaSrcSources::all());
    assert_eq!(rest.load("spsearch:rick").await["loadType"], "search");
}
