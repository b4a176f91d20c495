//! What the fake Discord's test files share: the ids, the fake's start-up, parts of a
//! guild spec, a raw websocket client speaking gateway v10, and [`eventually`].

use std::time::{Duration, Instant};

use encore_fakes::discord::{
    ChannelKind, ChannelSpec, FakeDiscord, FakeDiscordConfig, MemberSpec, Overwrite, SEND_LIMIT,
};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TOKEN: &str = "MTEw.fake.token";
pub const BOT: u64 = 1_100_000_000_000_000_001;
pub const APP: u64 = 1_100_000_000_000_000_001;
pub const GUILD: u64 = 817_327_181_659_111_454;
pub const TEXT: u64 = 900_000_000_000_000_001;
pub const VOICE: u64 = 900_000_000_000_000_002;
pub const VOICE_2: u64 = 900_000_000_000_000_004;
pub const ALICE: u64 = 500_000_000_000_000_001;
pub const BOB: u64 = 500_000_000_000_000_002;
/// Generous: the machine may be loaded.
pub const WAIT: Duration = Duration::from_secs(30);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn fake() -> FakeDiscord {
    fake_with(1).await
}

pub async fn fake_with(shards: u64) -> FakeDiscord {
    FakeDiscord::start(FakeDiscordConfig {
        token: TOKEN.into(),
        bot_user_id: BOT,
        application_id: APP,
        shard_count: shards,
        heartbeat_interval: Duration::from_millis(45_000),
        ..FakeDiscordConfig::default()
    })
    .await
    .unwrap()
}

/// A channel without permission overwrites.
pub fn channel(id: u64, name: &str, kind: ChannelKind) -> ChannelSpec {
    ChannelSpec {
        id,
        name: name.into(),
        kind,
        permission_overwrites: vec![],
        user_limit: 0,
    }
}

/// alice (no roles) and bob (with `bob_roles`).
pub fn members(bob_roles: Vec<u64>) -> Vec<MemberSpec> {
    vec![
        MemberSpec {
            user_id: ALICE,
            username: "alice".into(),
            roles: vec![],
        },
        MemberSpec {
            user_id: BOB,
            username: "bob".into(),
            roles: bob_roles,
        },
    ]
}

/// A member overwrite for the bot; permission bitfields as decimal strings.
pub fn bot_overwrite(allow: &str, deny: &str) -> Overwrite {
    Overwrite {
        id: BOT,
        kind: 1,
        allow: allow.into(),
        deny: deny.into(),
    }
}

/// The `authorization` header value of the bot.
pub fn auth() -> String {
    format!("Bot {TOKEN}")
}

/// GETs `url` and returns its JSON body.
pub async fn get_json(c: &reqwest::Client, url: String) -> Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

/// POSTs `body` as a message to `channel` with the bot's token.
pub async fn post_message(
    c: &reqwest::Client,
    fake: &FakeDiscord,
    channel: u64,
    body: Value,
) -> reqwest::Response {
    let url = format!("{}/api/v10/channels/{channel}/messages", fake.base_url());
    send_as_bot(c.post(url), body).await
}

/// Sends `req` with the bot's token and `body` as JSON.
pub async fn send_as_bot(req: reqwest::RequestBuilder, body: Value) -> reqwest::Response {
    req.header("authorization", auth())
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn connect(fake: &FakeDiscord) -> Ws {
    let url = format!("{}?v=10&encoding=json", fake.gateway_url());
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .unwrap();
    ws
}

/// Connects and reads (and drops) the HELLO.
pub async fn after_hello(fake: &FakeDiscord) -> Ws {
    let mut ws = connect(fake).await;
    recv(&mut ws).await;
    ws
}

/// The next JSON payload; panics on close or timeout.
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).unwrap(),
            Ok(Some(Ok(Message::Close(f)))) => panic!("closed: {f:?}"),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no payload: {other:?}"),
        }
    }
}

/// Skips payloads until dispatch `t`.
pub async fn recv_event(ws: &mut Ws, t: &str) -> Value {
    loop {
        let p = recv(ws).await;
        if p["t"] == t {
            return p;
        }
    }
}

/// Reads until the server closes; returns the close code.
pub async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return f.code.into(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    }
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Sends one heartbeat over Discord's limit of SEND_LIMIT payloads per window (or until
/// the server closes); the server should then close with 4008.
pub async fn flood(ws: &mut Ws) {
    for _ in 0..=SEND_LIMIT {
        if ws
            .send(Message::Text(r#"{"op":1,"d":null}"#.into()))
            .await
            .is_err()
        {
            break;
        }
    }
}

/// IDENTIFY (op 2) with the bot's token.
pub fn identify(shard: [u64; 2], intents: u64) -> Value {
    json!({"op": 2, "d": {
        "token": auth(),
        "intents": intents,
        "properties": {"os": "linux", "browser": "test", "device": "test"},
        "shard": shard,
    }})
}

/// RESUME (op 6) with the bot's token.
pub fn resume(session_id: &str, seq: u64) -> Value {
    json!({"op": 6, "d": {"token": auth(), "session_id": session_id, "seq": seq}})
}

/// HELLO, IDENTIFY, READY; returns (socket, READY payload).
pub async fn ready(fake: &FakeDiscord, shard: [u64; 2], intents: u64) -> (Ws, Value) {
    let mut ws = connect(fake).await;
    let hello = recv(&mut ws).await;
    assert_eq!(hello["op"], 10);
    send(&mut ws, identify(shard, intents)).await;
    let ready = recv_event(&mut ws, "READY").await;
    (ws, ready)
}

/// Polls `f` every 25 ms until it gives a value, for up to `within`; then panics with
/// `timed out after …: {what}`.
pub async fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
