//! The fake Lavalink node against the published v4 protocol, over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use encore_fakes::lavalink::catalogue::{
    FAILING_IDENTIFIER, LOAD_ERROR_IDENTIFIER, PLAYLIST_ID, SHORT_1S, SHORT_2S, SHORT_3S, SHORT_5S,
    STREAM_IDENTIFIER,
};
use encore_fakes::lavalink::{
    Cure, FakeLavalink, FakeLavalinkConfig, NewTrack, Severity, VoiceFault,
};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[path = "lavalink/plugins.rs"]
mod plugins;

const PASSWORD: &str = "youshallnotpass";
const GUILD: &str = "817327181659111454";
const RICK: &str = "QAAAjQIAJVJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAADlJpY2tBc3RsZXlWRVZPAAAAAAADPCAAC2RRdzR3OVdnWGNRAAEAK2h0dHBzOi8vd3d3LnlvdXR1YmUuY29tL3dhdGNoP3Y9ZFF3NHc5V2dYY1EAB3lvdXR1YmUAAAAAAAAAAA==";

async fn fake() -> FakeLavalink {
    FakeLavalink::start(FakeLavalinkConfig {
        player_update_interval: Duration::from_millis(200),
        ..FakeLavalinkConfig::default()
    })
    .await
    .unwrap()
}

fn voice() -> Value {
    json!({"token": "tok", "endpoint": "rotterdam1234.discord.media", "sessionId": "vsess", "channelId": "1234567890"})
}

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session_id: String,
    resumed: bool,
}

async fn try_connect(
    fake: &FakeLavalink,
    headers: &[(&str, &str)],
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, tungstenite::Error> {
    let mut req = fake.websocket_url().into_client_request().unwrap();
    for (k, v) in headers {
        let name = tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

async fn connect_with(fake: &FakeLavalink, session: Option<&str>) -> Client {
    let mut headers = vec![
        ("Authorization", PASSWORD),
        ("User-Id", "170939974227541168"),
        ("Client-Name", "encore-tests/0.1"),
    ];
    if let Some(s) = session {
        headers.push(("Session-Id", s));
    }
    let mut ws = try_connect(fake, &headers).await.unwrap();
    let ready = next_json(&mut ws).await;
    assert_eq!(ready["op"], "ready", "first message must be ready: {ready}");
    Client {
        session_id: ready["sessionId"].as_str().unwrap().to_string(),
        resumed: ready["resumed"].as_bool().unwrap(),
        ws,
    }
}

async fn connect(fake: &FakeLavalink) -> Client {
    connect_with(fake, None).await
}

async fn next_json(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("no message within 5 s")
            .expect("socket ended")
            .expect("socket error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

impl Client {
    async fn next(&mut self) -> Value {
        next_json(&mut self.ws).await
    }

    /// The next message that is not stats.
    async fn next_non_stats(&mut self) -> Value {
        loop {
            let m = self.next().await;
            if m["op"] != "stats" {
                return m;
            }
        }
    }

    /// Skips playerUpdate and stats until an event arrives.
    async fn next_event(&mut self) -> Value {
        loop {
            let m = self.next().await;
            if m["op"] == "event" {
                return m;
            }
        }
    }

    async fn next_player_update(&mut self) -> Value {
        loop {
            let m = self.next().await;
            if m["op"] == "playerUpdate" {
                return m;
            }
        }
    }
}

struct Rest {
    http: reqwest::Client,
    base: String,
}

impl Rest {
    fn new(fake: &FakeLavalink) -> Self {
        Rest {
            http: reqwest::Client::new(),
            base: fake.base_url(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", PASSWORD);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn patch_player(&self, session: &str, body: Value) -> (u16, Value) {
        self.send(
            reqwest::Method::PATCH,
            &format!("/v4/sessions/{session}/players/{GUILD}"),
            Some(body),
        )
        .await
    }

    async fn load(&self, identifier: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}/v4/loadtracks", self.base))
            .query(&[("identifier", identifier)])
            .header("Authorization", PASSWORD)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    async fn encoded(&self, identifier: &str) -> String {
        let r = self.load(identifier).await;
        assert_eq!(r["loadType"], "track", "{r}");
        r["data"]["encoded"].as_str().unwrap().to_string()
    }
}

fn assert_error_body(body: &Value, status: u16, path_prefix: &str) {
    assert_eq!(body["status"], status, "{body}");
    assert!(body["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(body["error"].is_string());
    assert!(body["message"].is_string());
    assert!(
        body["path"].as_str().unwrap().starts_with(path_prefix),
        "{body}"
    );
}

#[tokio::test]
async fn handshake_rules_and_ready_first() {
    let fake = fake().await;
    for headers in [
        vec![("Authorization", "wrong"), ("User-Id", "1")],
        vec![("User-Id", "1")],
    ] {
        match try_connect(&fake, &headers).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
            other => panic!("expected 401, got {other:?}"),
        }
    }
    for headers in [
        vec![("Authorization", PASSWORD)],
        vec![("Authorization", PASSWORD), ("User-Id", "not-a-number")],
    ] {
        match try_connect(&fake, &headers).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 400),
            other => panic!("expected 400, got {other:?}"),
        }
    }

    let mut c = connect(&fake).await;
    assert!(!c.resumed);
    assert_eq!(c.session_id.len(), 16);
    assert!(c
        .session_id
        .chars()
        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()));
    let stats = c.next().await;
    assert_eq!(stats["op"], "stats");
    for k in ["players", "playingPlayers", "uptime"] {
        assert!(stats[k].is_u64(), "{k}: {stats}");
    }
    for k in ["free", "used", "allocated", "reservable"] {
        assert!(stats["memory"][k].is_u64());
    }
    assert!(stats["cpu"]["cores"].is_u64());
    assert!(stats["cpu"]["systemLoad"].is_f64());
    assert!(stats["frameStats"].is_null());

    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].client_name.as_deref(), Some("encore-tests/0.1"));
    let handshake = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/v4/websocket")
        .unwrap();
    assert_eq!(handshake.headers["authorization"], PASSWORD);
    assert_eq!(handshake.headers["user-id"], "170939974227541168");
}

#[tokio::test]
async fn rest_auth_version_info_and_error_bodies() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", fake.base_url());

    let v = http.get(url("/version")).send().await.unwrap();
    assert_eq!(v.status(), 200);
    assert_eq!(v.text().await.unwrap(), "4.2.0");

    let r = http.get(url("/v4/info")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_error_body(&r.json().await.unwrap(), 401, "/v4/info");
    let r = http
        .get(url("/v4/info?trace=true"))
        .header("Authorization", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_error_body(&body, 403, "/v4/info");
    assert!(body["trace"].is_string());

    let rest = Rest::new(&fake);
    let (s, info) = rest.get("/v4/info").await;
    assert_eq!(s, 200);
    assert_eq!(info["version"]["semver"], "4.2.0");
    assert_eq!(info["version"]["major"], 4);
    assert_eq!(info["version"]["minor"], 2);
    assert!(info["version"]["preRelease"].is_null());
    for k in [
        "buildTime",
        "git",
        "jvm",
        "lavaplayer",
        "sourceManagers",
        "filters",
        "plugins",
    ] {
        assert!(!info[k].is_null(), "{k}");
    }
    let (s, stats) = rest.get("/v4/stats").await;
    assert_eq!(s, 200);
    assert!(stats.get("frameStats").is_none());

    let (s, body) = rest.get("/v4/sessions/nosuchsession000/players").await;
    assert_eq!(s, 404);
    assert_error_body(&body, 404, "/v4/sessions/nosuchsession000/players");
    assert_eq!(body["message"], "Session not found");
    assert!(body.get("trace").is_none());
    let (s, body) = rest
        .patch_player("nosuchsession000", json!({"volume": 50}))
        .await;
    assert_eq!(s, 404);
    assert_eq!(body["message"], "Session not found");

    let c = connect(&fake).await;
    let (s, body) = rest
        .get(&format!("/v4/sessions/{}/players/{GUILD}", c.session_id))
        .await;
    assert_eq!(s, 404);
    assert_eq!(body["message"], "Player not found");
    let (s, players) = rest
        .get(&format!("/v4/sessions/{}/players", c.session_id))
        .await;
    assert_eq!((s, players), (200, json!([])));
}

#[tokio::test]
async fn loadtracks_each_load_type() {
    let fake = fake().await;
    let rest = Rest::new(&fake);

    let r = rest
        .load("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
        .await;
    assert_eq!(r["loadType"], "track");
    let t = &r["data"];
    assert_eq!(t["info"]["title"], "Rick Astley - Never Gonna Give You Up");
    assert_eq!(t["info"]["length"], 212_000);
    assert_eq!(t["info"]["sourceName"], "youtube");
    assert_eq!(t["pluginInfo"], json!({}));
    assert_eq!(t["userData"], json!({}));
    let keys: Vec<&str> = t["info"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "identifier",
        "isSeekable",
        "author",
        "length",
        "isStream",
        "position",
        "title",
        "uri",
        "artworkUrl",
        "isrc",
        "sourceName",
    ] {
        assert!(keys.contains(&k), "{k}");
    }

    let r = rest
        .load(&format!(
            "https://www.youtube.com/playlist?list={PLAYLIST_ID}"
        ))
        .await;
    assert_eq!(r["loadType"], "playlist");
    assert_eq!(r["data"]["info"]["selectedTrack"], -1);
    assert!(r["data"]["info"]["name"].is_string());
    assert_eq!(r["data"]["pluginInfo"], json!({}));
    assert_eq!(r["data"]["tracks"].as_array().unwrap().len(), 3);

    let r = rest.load("ytsearch:encore fixture - test tone").await;
    assert_eq!(r["loadType"], "search");
    assert!(r["data"].as_array().unwrap().len() >= 4);
    let r = rest.load("scsearch:Queen").await;
    assert_eq!(r["loadType"], "search");
    assert_eq!(r["data"][0]["info"]["author"], "Queen Official");

    let r = rest.load("ytsearch:this matches nothing at all").await;
    assert_eq!(r, json!({"loadType": "empty", "data": {}}));

    let r = rest.load(LOAD_ERROR_IDENTIFIER).await;
    assert_eq!(r["loadType"], "error");
    assert_eq!(r["data"]["severity"], "common");
    assert!(r["data"]["message"].is_string());
    assert!(r["data"]["cause"].is_string());

    let r = rest.load(STREAM_IDENTIFIER).await;
    assert_eq!(r["data"]["info"]["isStream"], true);
    assert_eq!(r["data"]["info"]["isSeekable"], false);

    // Tests can extend the catalogue.
    let added = fake.add_track(NewTrack {
        title: "Added Song".into(),
        author: "Someone".into(),
        length: 1500,
        identifier: "addedSong01".into(),
        is_stream: false,
        uri: None,
        artwork_url: None,
        isrc: None,
        source_name: None,
        fails_on_play: false,
    });
    let r = rest.load("ytsearch:added song").await;
    assert_eq!(r["data"][0]["encoded"], added.encoded);
}

#[tokio::test]
async fn decodes_the_documented_track_and_rejects_garbage() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let resp = rest
        .http
        .get(format!("{}/v4/decodetrack", rest.base))
        .query(&[("encodedTrack", RICK)])
        .header("Authorization", PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t: Value = resp.json().await.unwrap();
    // The documentation's example payload, field for field.
    assert_eq!(
        t,
        json!({
            "encoded": RICK,
            "info": {
                "identifier": "dQw4w9WgXcQ", "isSeekable": true, "author": "RickAstleyVEVO",
                "length": 212000, "isStream": false, "position": 0,
                "title": "Rick Astley - Never Gonna Give You Up",
                "uri": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                "artworkUrl": "https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg",
                "isrc": null, "sourceName": "youtube"
            },
            "pluginInfo": {},
            "userData": {}
        })
    );

    let short = rest.encoded(SHORT_2S).await;
    let (s, list) = rest
        .send(
            reqwest::Method::POST,
            "/v4/decodetracks",
            Some(json!([RICK, short])),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list[1]["info"]["identifier"], SHORT_2S);
    assert_eq!(list[1]["encoded"], short);

    let (s, body) = rest
        .get("/v4/decodetrack?encodedTrack=bm90IGEgdHJhY2s=")
        .await;
    assert_eq!(s, 400);
    assert_error_body(&body, 400, "/v4/decodetrack");
    let (s, _) = rest
        .send(
            reqwest::Method::POST,
            "/v4/decodetracks",
            Some(json!(["%%%"])),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn player_update_validation() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let c = connect(&fake).await;
    let sid = c.session_id.as_str();

    for missing in ["token", "endpoint", "sessionId", "channelId"] {
        let mut v = voice();
        v.as_object_mut().unwrap().remove(missing);
        let (s, body) = rest.patch_player(sid, json!({"voice": v})).await;
        assert_eq!(s, 400, "missing {missing}");
        assert_error_body(&body, 400, "/v4/sessions/");
    }
    let mut v = voice();
    v["channelId"] = Value::Null;
    assert_eq!(rest.patch_player(sid, json!({"voice": v})).await.0, 400);

    for volume in [-1, 1001] {
        assert_eq!(
            rest.patch_player(sid, json!({"volume": volume})).await.0,
            400
        );
    }
    let (s, p) = rest.patch_player(sid, json!({"volume": 1000})).await;
    assert_eq!((s, p["volume"].clone()), (200, json!(1000)));

    let enc = rest.encoded(SHORT_1S).await;
    let (s, body) = rest
        .patch_player(
            sid,
            json!({"track": {"encoded": enc, "identifier": SHORT_1S}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        body["message"],
        "Cannot specify both encodedTrack and identifier"
    );
    let (s, _) = rest
        .patch_player(sid, json!({"track": {"encoded": enc}, "encodedTrack": enc}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(rest.patch_player(sid, json!({"endTime": 0})).await.0, 400);
    assert_eq!(
        rest.patch_player(
            sid,
            json!({"filters": {"equalizer": [{"band": 15, "gain": 0.1}]}})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        rest.patch_player(sid, json!({"track": {"identifier": format!("https://www.youtube.com/playlist?list={PLAYLIST_ID}")}}))
            .await
            .0,
        400
    );
    assert_eq!(
        rest.patch_player(
            sid,
            json!({"track": {"identifier": "ytsearch:nothing matches this"}})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        rest.patch_player(sid, json!({"track": {"encoded": "garbage"}}))
            .await
            .0,
        400
    );
    let resp = rest
        .http
        .patch(format!(
            "{}/v4/sessions/{sid}/players/notanumber",
            rest.base
        ))
        .header("Authorization", PASSWORD)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // The player object's shape.
    let filters = json!({"volume": 0.8, "equalizer": [{"band": 0, "gain": 0.2}],
        "timescale": {"speed": 1.0, "pitch": 1.2, "rate": 1.0}, "rotation": {"rotationHz": 0.2},
        "pluginFilters": {"x": {"y": 1}}});
    let (s, p) = rest
        .patch_player(
            sid,
            json!({"voice": voice(), "filters": filters, "paused": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(p["guildId"], GUILD);
    assert!(p["track"].is_null());
    assert_eq!(p["paused"], true);
    let mut echoed = voice();
    echoed["channelId"] = Value::Null;
    assert_eq!(p["voice"], echoed);
    assert_eq!(
        fake.player(GUILD).unwrap().voice.unwrap().channel_id,
        "1234567890"
    );
    assert_eq!(p["filters"], filters);
    assert_eq!(p["state"]["connected"], true);
    for k in ["time", "position", "ping"] {
        assert!(p["state"][k].is_number(), "{k}");
    }
    let (s, got) = rest
        .get(&format!("/v4/sessions/{sid}/players/{GUILD}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(got["voice"], echoed);

    let (s, session) = rest
        .send(
            reqwest::Method::PATCH,
            &format!("/v4/sessions/{sid}"),
            Some(json!({"resuming": true, "timeout": 30})),
        )
        .await;
    assert_eq!(
        (s, session),
        (200, json!({"resuming": true, "timeout": 30}))
    );
}

#[tokio::test]
async fn track_lifecycle_finished_replaced_stopped() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();
    let one = rest.encoded(SHORT_1S).await;

    let started = Instant::now();
    let (s, p) = rest
        .patch_player(
            &sid,
            json!({"voice": voice(), "track": {"encoded": one, "userData": {"requester": 42}}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(p["track"]["info"]["identifier"], SHORT_1S);
    assert_eq!(p["track"]["userData"], json!({"requester": 42}));

    let start = c.next_non_stats().await;
    assert_eq!(start["op"], "event");
    assert_eq!(start["type"], "TrackStartEvent");
    assert_eq!(start["guildId"], GUILD);
    assert_eq!(start["track"]["encoded"], one);
    assert_eq!(start["track"]["userData"], json!({"requester": 42}));
    let update = c.next_non_stats().await;
    assert_eq!(update["op"], "playerUpdate");
    assert_eq!(update["state"]["connected"], true);

    let end = c.next_event().await;
    assert_eq!(end["type"], "TrackEndEvent");
    assert_eq!(end["reason"], "finished");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(950) && elapsed < Duration::from_millis(1800),
        "{elapsed:?}"
    );
    assert!(fake.player(GUILD).unwrap().track.is_none());

    // Replaced, then stopped.
    rest.patch_player(&sid, json!({"track": {"identifier": SHORT_5S}}))
        .await;
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    let (s, _) = rest
        .patch_player(&sid, json!({"track": {"identifier": SHORT_3S}}))
        .await;
    assert_eq!(s, 200);
    let end = c.next_event().await;
    assert_eq!(
        (end["type"].as_str(), end["reason"].as_str()),
        (Some("TrackEndEvent"), Some("replaced"))
    );
    assert_eq!(end["track"]["info"]["identifier"], SHORT_5S);
    let start = c.next_event().await;
    assert_eq!(start["type"], "TrackStartEvent");
    assert_eq!(start["track"]["info"]["identifier"], SHORT_3S);

    // noReplace keeps the playing track.
    let (s, p) = rest
        .send(
            reqwest::Method::PATCH,
            &format!("/v4/sessions/{sid}/players/{GUILD}?noReplace=true"),
            Some(json!({"track": {"identifier": SHORT_2S}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(p["track"]["info"]["identifier"], SHORT_3S);

    let (s, p) = rest
        .patch_player(&sid, json!({"track": {"encoded": null}}))
        .await;
    assert_eq!(s, 200);
    assert!(p["track"].is_null());
    let end = c.next_event().await;
    assert_eq!(end["reason"], "stopped");
    assert_eq!(end["track"]["info"]["identifier"], SHORT_3S);

    // DELETE: 204, player gone, no event.
    rest.patch_player(&sid, json!({"track": {"identifier": SHORT_5S}}))
        .await;
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    let (s, _) = rest
        .send(
            reqwest::Method::DELETE,
            &format!("/v4/sessions/{sid}/players/{GUILD}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert!(fake.players().is_empty());
    let quiet = tokio::time::timeout(Duration::from_millis(400), c.next_event()).await;
    assert!(quiet.is_err(), "no event after DELETE: {quiet:?}");
}

#[tokio::test]
async fn player_updates_cadence_seek_pause_and_end_time() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();

    // Without voice the track starts but does not advance.
    rest.patch_player(&sid, json!({"track": {"identifier": SHORT_5S}}))
        .await;
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let p = fake.player(GUILD).unwrap();
    assert_eq!((p.position, p.connected, p.playing), (0, false, false));
    let u = c.next_player_update().await;
    assert_eq!(u["state"]["connected"], false);
    assert_eq!(u["state"]["ping"], -1);

    // Cadence: with voice, one playerUpdate every 200 ms.
    rest.patch_player(&sid, json!({"voice": voice()})).await;
    let t0 = Instant::now();
    let mut count = 0;
    while t0.elapsed() < Duration::from_millis(1050) {
        c.next_player_update().await;
        count += 1;
    }
    assert!((4..=7).contains(&count), "{count} updates in ~1 s");
    let pos = fake.player(GUILD).unwrap().position;
    assert!((900..=1400).contains(&pos), "{pos}");

    // Seek: an immediate playerUpdate at the new position.
    let (s, p) = rest.patch_player(&sid, json!({"position": 3000})).await;
    assert_eq!(s, 200);
    assert!(p["state"]["position"].as_u64().unwrap() >= 3000);
    let u = c.next_player_update().await;
    let pos = u["state"]["position"].as_u64().unwrap();
    assert!((3000..3100).contains(&pos), "{u}");

    // Pause: the clock stops.
    rest.patch_player(&sid, json!({"paused": true})).await;
    let a = fake.player(GUILD).unwrap().position;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.player(GUILD).unwrap().position, a);
    rest.patch_player(&sid, json!({"paused": false})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fake.player(GUILD).unwrap().position > a);

    // endTime: ends with reason finished at endTime.
    let t0 = Instant::now();
    rest.patch_player(
        &sid,
        json!({"track": {"identifier": SHORT_5S}, "position": 1000, "endTime": 1500}),
    )
    .await;
    let end = c.next_event().await; // replaced
    assert_eq!(end["reason"], "replaced");
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    let end = c.next_event().await;
    assert_eq!(end["reason"], "finished");
    assert_eq!(end["track"]["info"]["position"], 1500);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1200),
        "{took:?}"
    );

    // Streams never end; fake.set_player_update_interval is live.
    fake.set_player_update_interval(Duration::from_millis(50));
    rest.patch_player(&sid, json!({"track": {"identifier": STREAM_IDENTIFIER}}))
        .await;
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < Duration::from_millis(500) {
        c.next_player_update().await;
        n += 1;
    }
    assert!(n >= 6, "{n}");
    assert!(fake.player(GUILD).unwrap().track.is_some());
}

#[tokio::test]
async fn failures_exception_stuck_and_fails_on_play() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();

    rest.patch_player(
        &sid,
        json!({"voice": voice(), "track": {"identifier": FAILING_IDENTIFIER}}),
    )
    .await;
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    let ex = c.next_event().await;
    assert_eq!(ex["type"], "TrackExceptionEvent");
    assert_eq!(ex["exception"]["severity"], "common");
    assert!(ex["exception"]["message"].is_string());
    assert!(ex["exception"]["cause"].is_string());
    let end = c.next_event().await;
    assert_eq!(end["reason"], "loadFailed");

    rest.patch_player(&sid, json!({"track": {"identifier": SHORT_5S}}))
        .await;
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    fake.inject_stuck(GUILD, 10_000).unwrap();
    let stuck = c.next_event().await;
    assert_eq!(stuck["type"], "TrackStuckEvent");
    assert_eq!(stuck["thresholdMs"], 10_000);
    assert!(
        fake.player(GUILD).unwrap().track.is_some(),
        "stuck does not end the track"
    );

    fake.inject_exception(GUILD, "boom", Severity::Fault)
        .unwrap();
    let ex = c.next_event().await;
    assert_eq!(ex["exception"]["message"], "boom");
    assert_eq!(ex["exception"]["severity"], "fault");
    assert_eq!(c.next_event().await["reason"], "loadFailed");
    assert!(fake
        .inject_exception(GUILD, "again", Severity::Fault)
        .is_err());

    fake.inject_websocket_closed(GUILD, 4006, "Your session is no longer valid.", true)
        .unwrap();
    let closed = c.next_event().await;
    assert_eq!(
        closed,
        json!({"op": "event", "type": "WebSocketClosedEvent", "guildId": GUILD,
               "code": 4006, "reason": "Your session is no longer valid.", "byRemote": true})
    );
    assert!(!fake.player(GUILD).unwrap().connected);

    assert_eq!(fake.send_raw("{not json"), 1);
    c.ws.send(Message::Text("{\"op\":\"whatever\"}".into()))
        .await
        .unwrap();
}

async fn enable_resuming(rest: &Rest, sid: &str, timeout: u64) {
    let (s, _) = rest
        .send(
            reqwest::Method::PATCH,
            &format!("/v4/sessions/{sid}"),
            Some(json!({"resuming": true, "timeout": timeout})),
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn resuming_replays_events_then_player_updates() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();
    enable_resuming(&rest, &sid, 2).await;
    rest.patch_player(
        &sid,
        json!({"voice": voice(), "track": {"identifier": SHORT_1S}}),
    )
    .await;
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");

    assert_eq!(fake.drop_sockets(), 1);
    // The socket ends without a close frame.
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match c.ws.next().await {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(f))) => return Some(f),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(ended.is_none(), "no close frame expected: {ended:?}");

    // The player keeps playing while disconnected; its end is queued.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(fake.sessions()[0].queued_events, 1);

    let mut r = connect_with(&fake, Some(&sid)).await;
    assert!(r.resumed);
    assert_eq!(r.session_id, sid);
    let end = r.next().await;
    assert_eq!(
        (end["type"].as_str(), end["reason"].as_str()),
        (Some("TrackEndEvent"), Some("finished"))
    );
    let update = r.next().await;
    assert_eq!(update["op"], "playerUpdate");
    assert_eq!(update["guildId"], GUILD);
    assert_eq!(r.next().await["op"], "stats");

    // Closed again: after the timeout, the session is gone.
    drop(r);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert!(fake.sessions().is_empty());
    let (s, _) = rest.get(&format!("/v4/sessions/{sid}/players")).await;
    assert_eq!(s, 404);
    let n = connect_with(&fake, Some(&sid)).await;
    assert!(!n.resumed);
    assert_ne!(n.session_id, sid);
}

#[tokio::test]
async fn without_resuming_a_closed_session_is_destroyed_at_once() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();
    rest.patch_player(
        &sid,
        json!({"voice": voice(), "track": {"identifier": SHORT_5S}}),
    )
    .await;
    c.ws.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fake.sessions().is_empty());
    assert!(fake.players().is_empty());
    let n = connect_with(&fake, Some(&sid)).await;
    assert!(!n.resumed);
}

#[tokio::test]
async fn restart_and_refuse_over_the_control_api() {
    let fake = fake().await;
    let rest = Rest::new(&fake);
    let http = reqwest::Client::new();
    let control = |p: &str| format!("{}/control/{p}", fake.base_url());
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();
    enable_resuming(&rest, &sid, 60).await;

    // Tracks added over HTTP come back with their encoding.
    let t: Value = http
        .post(control("tracks"))
        .json(&json!({"title": "Probe Tone", "author": "Probe", "length": 800, "identifier": "probeTone01"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["info"]["identifier"], "probeTone01");
    rest.patch_player(
        &sid,
        json!({"voice": voice(), "track": {"encoded": t["encoded"]}}),
    )
    .await;
    let players: Value = http
        .get(control("players"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(players[0]["guildId"], GUILD);
    assert_eq!(players[0]["sessionId"], sid.as_str());

    let r = http.post(control("restart")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match c.ws.next().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(closed, Some(1001));
    assert!(fake.sessions().is_empty());
    let n = connect_with(&fake, Some(&sid)).await;
    assert!(!n.resumed);
    assert_ne!(n.session_id, sid);

    let r = http
        .post(control("refuse-connections"))
        .json(&json!({"ms": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(rest.get("/v4/info").await.0, 503);
    match try_connect(&fake, &[("Authorization", PASSWORD), ("User-Id", "1")]).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(rest.get("/v4/info").await.0, 200);

    let reqs: Value = http
        .get(control("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = reqs.as_array().unwrap().last().unwrap();
    assert_eq!(last["path"], "/v4/info");
    assert_eq!(last["headers"]["authorization"], PASSWORD);
    let r = http.delete(control("requests")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(fake.requests().is_empty());
}

// ----- voice faults -----------------------------------------------------------------------

/// [`voice`] with another Discord voice token (a new voice server / session).
fn voice_with_token(token: &str) -> Value {
    let mut v = voice();
    v["token"] = json!(token);
    v
}

/// A connected client whose player plays Rick (212 s) with [`voice`], ~300 ms in.
async fn playing(fake: &FakeLavalink) -> (Client, Rest) {
    let rest = Rest::new(fake);
    let mut c = connect(fake).await;
    let sid = c.session_id.clone();
    let (s, _) = rest
        .patch_player(&sid, json!({"voice": voice(), "track": {"encoded": RICK}}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    (c, rest)
}

/// Unix time in ms one ms from now: playerUpdates stamped at or after it were made after
/// this call.
fn mark() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 1
}

/// The next playerUpdate whose `state.time` is at or after `mark` (older ones were queued
/// before a change).
async fn player_update_since(c: &mut Client, mark: u64) -> Value {
    loop {
        let u = c.next_player_update().await;
        if u["state"]["time"].as_u64().unwrap() >= mark {
            return u;
        }
    }
}

/// The events that arrive within `d` (player updates and stats skipped).
async fn events_within(c: &mut Client, d: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + d;
    let mut out = Vec::new();
    while let Ok(m) = tokio::time::timeout_at(deadline, c.next()).await {
        if m["op"] == "event" {
            out.push(m);
        }
    }
    out
}

fn refused_voice_event() -> Value {
    json!({"op": "event", "type": "WebSocketClosedEvent", "guildId": GUILD,
           "code": 4006, "reason": "Session is no longer valid.", "byRemote": true})
}

/// The player as `GET /v4/sessions/{sid}/players/{guild}` answers it.
async fn rest_player(rest: &Rest, sid: &str) -> Value {
    let (s, p) = rest
        .get(&format!("/v4/sessions/{sid}/players/{GUILD}"))
        .await;
    assert_eq!(s, 200);
    p
}

#[tokio::test]
async fn disconnected_fault_stops_the_clock_until_any_voice_update() {
    let fake = fake().await;
    let (mut c, rest) = playing(&fake).await;
    let sid = c.session_id.clone();

    let cure = Cure::AnyVoiceUpdate;
    fake.set_voice_fault(GUILD, VoiceFault::Disconnected { cure })
        .unwrap();
    let frozen = fake.player(GUILD).unwrap();
    assert_eq!(frozen.voice_fault, VoiceFault::Disconnected { cure });
    assert!(!frozen.connected && !frozen.playing && !frozen.paused);
    let p0 = frozen.position;
    assert!(p0 >= 250, "{p0}");
    let since = mark();

    // playerUpdate: connected false, ping -1, the position constant.
    for _ in 0..3 {
        let u = player_update_since(&mut c, since).await;
        assert_eq!(u["state"]["connected"], false, "{u}");
        assert_eq!(u["state"]["ping"], -1);
        assert_eq!(u["state"]["position"], p0);
    }
    // The player object too.
    let p = rest_player(&rest, &sid).await;
    assert_eq!(p["state"]["connected"], false);
    assert_eq!(p["state"]["ping"], -1);
    assert_eq!(p["state"]["position"], p0);
    assert_eq!(p["paused"], false);
    assert!(p["track"].is_object());

    // The same voice state again cures it; the clock resumes from p0.
    let (s, p) = rest.patch_player(&sid, json!({"voice": voice()})).await;
    assert_eq!(s, 200);
    assert_eq!(p["state"]["connected"], true);
    assert_eq!(p["state"]["position"], p0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = fake.player(GUILD).unwrap();
    assert!(now.connected && now.playing);
    assert_eq!(now.voice_fault, VoiceFault::None);
    assert!(
        (p0 + 200..p0 + 900).contains(&now.position),
        "{} after {p0}",
        now.position
    );
    assert!(events_within(&mut c, Duration::from_millis(200))
        .await
        .is_empty());

    // Two voice PATCHes: the one that created the player and the cure.
    let ups = fake.voice_updates(GUILD);
    assert_eq!(ups.len(), 2);
    assert!(ups
        .iter()
        .all(|u| u.session_id == sid && u.voice.token == "tok"));
    assert!(ups[0].received_at_unix_us <= ups[1].received_at_unix_us);

    // An injected WebSocketClosedEvent is the same fault.
    fake.inject_websocket_closed(GUILD, 4014, "Disconnected.", true)
        .unwrap();
    assert_eq!(
        fake.player(GUILD).unwrap().voice_fault,
        VoiceFault::Disconnected {
            cure: Cure::AnyVoiceUpdate
        }
    );
    assert!(fake
        .set_voice_fault("1", VoiceFault::Frozen { cure })
        .is_err());
}

#[tokio::test]
async fn disconnected_fault_needing_a_new_voice_session() {
    let fake = fake().await;
    let (mut c, rest) = playing(&fake).await;
    let sid = c.session_id.clone();
    let cure = Cure::NewVoiceSession;
    fake.set_voice_fault(GUILD, VoiceFault::Disconnected { cure })
        .unwrap();
    let p0 = fake.player(GUILD).unwrap().position;

    // The stale voice state: still disconnected, and Discord refuses the voice connect.
    let (s, p) = rest.patch_player(&sid, json!({"voice": voice()})).await;
    assert_eq!(s, 200);
    assert_eq!(p["state"]["connected"], false);
    assert_eq!(c.next_event().await, refused_voice_event());
    // Another endpoint but the same token and session: still stale.
    let mut moved = voice();
    moved["endpoint"] = json!("c-fake5555.discord.media:443");
    rest.patch_player(&sid, json!({"voice": moved})).await;
    assert_eq!(c.next_event().await, refused_voice_event());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.player(GUILD).unwrap().position, p0);

    // A new token: cured, resuming from p0.
    let (_, p) = rest
        .patch_player(&sid, json!({"voice": voice_with_token("tok2")}))
        .await;
    assert_eq!(p["state"]["connected"], true);
    assert_eq!(p["state"]["position"], p0);
    assert!(events_within(&mut c, Duration::from_millis(300))
        .await
        .is_empty());
    assert!(fake.player(GUILD).unwrap().position >= p0 + 200);

    let tokens: Vec<String> = fake
        .voice_updates(GUILD)
        .into_iter()
        .map(|u| u.voice.token)
        .collect();
    assert_eq!(tokens, ["tok", "tok", "tok", "tok2"]);

    // A new Discord voice session id counts as new too.
    fake.set_voice_fault(GUILD, VoiceFault::Disconnected { cure })
        .unwrap();
    let mut fresh = voice_with_token("tok2");
    fresh["sessionId"] = json!("vsess2");
    let (_, p) = rest.patch_player(&sid, json!({"voice": fresh})).await;
    assert_eq!(p["state"]["connected"], true);
}

#[tokio::test]
async fn disconnected_fault_that_is_never_cured() {
    let fake = fake().await;
    let (mut c, rest) = playing(&fake).await;
    let sid = c.session_id.clone();
    fake.set_voice_fault(GUILD, VoiceFault::Disconnected { cure: Cure::Never })
        .unwrap();
    let p0 = fake.player(GUILD).unwrap().position;
    for token in ["tok2", "tok3"] {
        let (_, p) = rest
            .patch_player(&sid, json!({"voice": voice_with_token(token)}))
            .await;
        assert_eq!(p["state"]["connected"], false);
        assert_eq!(p["state"]["ping"], -1);
        assert_eq!(c.next_event().await, refused_voice_event());
    }
    // The player keeps the last voice state it was given, and is still stuck at p0.
    let snap = fake.player(GUILD).unwrap();
    assert_eq!(snap.voice.unwrap().token, "tok3");
    assert_eq!(snap.position, p0);
    assert!(!snap.connected);
    let u = player_update_since(&mut c, mark()).await;
    assert_eq!(u["state"]["connected"], false);
    assert_eq!(fake.voice_updates(GUILD).len(), 3);

    // An injected close does not soften it.
    fake.inject_websocket_closed(GUILD, 4006, "Session is no longer valid.", true)
        .unwrap();
    assert_eq!(c.next_event().await, refused_voice_event());
    rest.patch_player(&sid, json!({"voice": voice_with_token("tok4")}))
        .await;
    assert_eq!(c.next_event().await, refused_voice_event());
    // Healing it by hand.
    fake.set_voice_fault(GUILD, VoiceFault::None).unwrap();
    let snap = fake.player(GUILD).unwrap();
    assert!(snap.connected && snap.playing);
    assert_eq!(snap.position, p0);
}

#[tokio::test]
async fn frozen_fault_claims_to_play_while_the_position_stands_still() {
    let fake = fake().await;
    let (mut c, rest) = playing(&fake).await;
    let sid = c.session_id.clone();
    fake.set_voice_fault(
        GUILD,
        VoiceFault::Frozen {
            cure: Cure::NewVoiceSession,
        },
    )
    .unwrap();
    let p0 = fake.player(GUILD).unwrap().position;
    let since = mark();

    // For over a second: connected, not paused, a track, the same position.
    let t0 = Instant::now();
    let mut updates = 0;
    while t0.elapsed() < Duration::from_millis(1200) {
        let u = player_update_since(&mut c, since).await;
        assert_eq!(u["state"]["connected"], true, "{u}");
        assert!(u["state"]["ping"].as_i64().unwrap() >= 0);
        assert_eq!(u["state"]["position"], p0);
        updates += 1;
    }
    assert!(updates >= 4, "{updates}");
    let p = rest_player(&rest, &sid).await;
    assert_eq!(p["paused"], false);
    assert_eq!(p["state"]["connected"], true);
    assert_eq!(p["state"]["position"], p0);
    assert_eq!(p["track"]["info"]["position"], p0);
    let snap = fake.player(GUILD).unwrap();
    assert!(snap.connected && !snap.playing && !snap.paused && snap.track.is_some());

    // The stale voice state: still frozen, and no event (the connection looks fine).
    rest.patch_player(&sid, json!({"voice": voice()})).await;
    assert!(events_within(&mut c, Duration::from_millis(300))
        .await
        .is_empty());
    assert_eq!(fake.player(GUILD).unwrap().position, p0);

    // A new voice session cures it: advancing again from p0, no jump.
    let (_, p) = rest
        .patch_player(&sid, json!({"voice": voice_with_token("tok2")}))
        .await;
    assert_eq!(p["state"]["position"], p0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let snap = fake.player(GUILD).unwrap();
    assert!(snap.playing);
    assert!(
        (p0 + 300..p0 + 1000).contains(&snap.position),
        "{} after {p0}",
        snap.position
    );

    // AnyVoiceUpdate: the stale voice state is enough.
    fake.set_voice_fault(
        GUILD,
        VoiceFault::Frozen {
            cure: Cure::AnyVoiceUpdate,
        },
    )
    .unwrap();
    let p1 = fake.player(GUILD).unwrap().position;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, p) = rest
        .patch_player(&sid, json!({"voice": voice_with_token("tok2")}))
        .await;
    assert_eq!(p["state"]["position"], p1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fake.player(GUILD).unwrap().position > p1);
}

#[tokio::test]
async fn voice_fault_control_routes() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let base = fake.base_url();
    let post = |body: Value| {
        http.post(format!("{base}/control/voice-fault"))
            .json(&body)
            .send()
    };
    // No player yet: 404.
    let r = post(json!({"guildId": GUILD, "fault": "frozen", "cure": "never"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let (mut c, rest) = playing(&fake).await;
    let sid = c.session_id.clone();
    let r = post(json!({"guildId": GUILD, "fault": "disconnected", "cure": "newVoiceSession"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let players: Value = http
        .get(format!("{base}/control/players"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        players[0]["voiceFault"],
        json!({"fault": "disconnected", "cure": "newVoiceSession"})
    );
    assert_eq!(players[0]["connected"], false);
    rest.patch_player(&sid, json!({"voice": voice()})).await;
    assert_eq!(c.next_event().await, refused_voice_event());

    for bad in [
        json!({"guildId": GUILD, "fault": "gone"}),
        json!({"guildId": GUILD, "fault": "frozen"}),
        json!({"fault": "none"}),
    ] {
        assert_eq!(post(bad).await.unwrap().status(), 400);
    }
    let r = post(json!({"guildId": GUILD, "fault": "none"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(fake.player(GUILD).unwrap().connected);

    let ups: Value = http
        .get(format!("{base}/control/voice-updates/{GUILD}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ups = ups.as_array().unwrap();
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[1]["sessionId"], sid);
    assert_eq!(ups[1]["voice"], voice());
    assert!(ups[1]["receivedAtUnixUs"].as_u64().unwrap() > 1_600_000_000_000_000);
}

#[tokio::test]
async fn new_players_of_a_faulted_guild_start_broken_and_old_ones_keep_their_state() {
    let fake = fake().await;
    fake.fault_new_players(GUILD, VoiceFault::Disconnected { cure: Cure::Never });
    let rest = Rest::new(&fake);
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();
    let (s, p) = rest
        .patch_player(&sid, json!({"voice": voice(), "track": {"encoded": RICK}}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(p["state"]["connected"], false);
    let snap = fake.player(GUILD).unwrap();
    assert!(!snap.connected && !snap.playing);
    assert_eq!(
        snap.voice_fault,
        VoiceFault::Disconnected { cure: Cure::Never }
    );
    // The voice state is applied (and refused) before the track starts.
    assert_eq!(c.next_event().await, refused_voice_event());
    assert_eq!(c.next_event().await["type"], "TrackStartEvent");
    // Lifting it leaves the existing player broken (it keeps its own fault) …
    fake.fault_new_players(GUILD, VoiceFault::None);
    assert!(!fake.player(GUILD).unwrap().connected);
    // … and a new player is fine.
    let (s, _) = rest
        .send(
            reqwest::Method::DELETE,
            &format!("/v4/sessions/{sid}/players/{GUILD}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, p) = rest
        .patch_player(&sid, json!({"voice": voice(), "track": {"encoded": RICK}}))
        .await;
    assert_eq!(p["state"]["connected"], true);
}

#[tokio::test]
async fn the_compat_answer_shape_reaches_every_track_object_and_playback_is_unchanged() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let base = fake.base_url();
    let shape = |body: Value| {
        http.post(format!("{base}/control/answer-shape"))
            .json(&body)
            .send()
    };
    for bad in [json!({}), json!({"shape": "weird"})] {
        assert_eq!(shape(bad).await.unwrap().status(), 400);
    }
    let r = shape(json!({"shape": "compat"})).await.unwrap();
    assert_eq!(r.status(), 200);
    let now: Value = http
        .get(format!("{base}/control/answer-shape"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now, json!({"shape": "compat"}));

    let rest = Rest::new(&fake);
    let compat = |t: &Value| {
        assert_eq!(t["info"]["length"], -1, "{t}");
        assert_eq!(t["info"]["isSeekable"], false, "{t}");
        assert_eq!(t["info"]["isStream"], false, "{t}");
        for gone in ["pluginInfo", "userData"] {
            assert!(t.get(gone).is_none(), "{t}");
        }
        assert!(t["info"].get("artworkUrl").is_none(), "{t}");
    };
    compat(&rest.load(SHORT_2S).await["data"]);
    let list = rest
        .load(&format!(
            "https://www.youtube.com/playlist?list={PLAYLIST_ID}"
        ))
        .await;
    assert!(list["data"].get("pluginInfo").is_none(), "{list}");
    list["data"]["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(compat);
    let search = rest.load("ytsearch:rick astley").await;
    search["data"].as_array().unwrap().iter().for_each(compat);

    // Playback keeps the track's real length: a 2 s track ends after 2 s.
    let mut c = connect(&fake).await;
    let sid = c.session_id.clone();
    let encoded = rest.encoded(SHORT_2S).await;
    let (s, player) = rest
        .patch_player(
            &sid,
            json!({"voice": voice(), "track": {"encoded": encoded, "userData": {"n": 1}}}),
        )
        .await;
    assert_eq!(s, 200);
    compat(&player["track"]);
    let start = c.next_event().await;
    assert_eq!(start["type"], "TrackStartEvent");
    compat(&start["track"]);
    compat(&rest_player(&rest, &sid).await["track"]);
    let started = Instant::now();
    let end = c.next_event().await;
    assert_eq!(
        (&end["type"], &end["reason"]),
        (&json!("TrackEndEvent"), &json!("finished"))
    );
    compat(&end["track"]);
    assert!(
        started.elapsed() > Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    fake.set_answer_shape(encore_fakes::lavalink::AnswerShape::Lavalink);
    let t = &rest.load(SHORT_2S).await["data"];
    assert_eq!(t["info"]["length"], 2000);
    assert!(t.get("pluginInfo").is_some() && t.get("userData").is_some());
}
