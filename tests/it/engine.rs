//! The playback engine end to end: the real PlayerService and Lavalink backend (lavalink-rs wire
//! types, our websocket loop) against the fake Lavalink v4 server on loopback.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use encore::audio::lavalink::{LavalinkBackend, LavalinkOptions};
use encore::audio::{AudioError, VoiceConnection};
use encore::autosave::{Autosave, AutosaveConfig};
use encore::domain::{FilterPreset, GuildId, LoopMode, SeekRefused};
use encore::player::{
    Announcement, Announcer, PlayerConfig, PlayerError, PlayerService, RestorePlan,
};
use encore::settings::LavalinkNode;
use encore::store::{MemoryStore, StateStore};
use encore_fakes::lavalink::catalogue::{
    FAILING_IDENTIFIER, LOAD_ERROR_IDENTIFIER, PLAYLIST_ID, SHORT_1S, SHORT_2S,
};
use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig};
use secrecy::SecretString;

use crate::harness::eventually;

const RICK: &str = "https://www.youtube.com/watch?v=dQw4w9WgXcQ";

fn url(id: &str) -> String {
    format!("https://www.youtube.com/watch?v={id}")
}

async fn fake() -> FakeLavalink {
    FakeLavalink::start(FakeLavalinkConfig {
        player_update_interval: Duration::from_millis(200),
        ..FakeLavalinkConfig::default()
    })
    .await
    .unwrap()
}

fn node(index: usize, port: u16, password: &str) -> LavalinkNode {
    LavalinkNode {
        name: format!("node-{}", index + 1),
        host: "127.0.0.1".into(),
        port,
        tls: false,
        password: Some(SecretString::from(password.to_string())),
    }
}

#[derive(Default)]
struct Said(Mutex<Vec<(GuildId, Announcement)>>);

impl Announcer for Said {
    fn announce(&self, guild: GuildId, _text: Option<u64>, a: Announcement) {
        self.0.lock().unwrap().push((guild, a));
    }
}

impl Said {
    fn has(&self, guild: GuildId, f: impl Fn(&Announcement) -> bool) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|(g, a)| *g == guild && f(a))
    }
}

struct Engine {
    service: PlayerService,
    backend: LavalinkBackend,
    said: Arc<Said>,
}

fn options() -> LavalinkOptions {
    LavalinkOptions {
        takeover_after: Duration::from_secs(1),
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        ..LavalinkOptions::new(4_242, Duration::from_secs(60))
    }
}

async fn engine_on(nodes: Vec<LavalinkNode>, wait_connected: bool) -> Engine {
    engine_with(nodes, wait_connected, None).await
}

async fn engine_with(
    nodes: Vec<LavalinkNode>,
    wait_connected: bool,
    autosave: Option<Autosave>,
) -> Engine {
    let backend = LavalinkBackend::start(&nodes, options()).unwrap();
    let said = Arc::new(Said::default());
    let service = PlayerService::new(
        Arc::new(backend.clone()),
        autosave,
        said.clone(),
        PlayerConfig::default(),
    );
    service.spawn_event_loop().unwrap();
    if wait_connected {
        eventually("every node connected", Duration::from_secs(5), || {
            backend
                .node_status()
                .iter()
                .all(|(_, up, _)| *up)
                .then_some(())
        })
        .await;
    }
    Engine {
        service,
        backend,
        said,
    }
}

async fn engine(fakes: &[&FakeLavalink]) -> Engine {
    let nodes = fakes
        .iter()
        .enumerate()
        .map(|(i, f)| node(i, f.port(), f.password()))
        .collect();
    engine_on(nodes, true).await
}

fn voice(channel: u64) -> VoiceConnection {
    VoiceConnection {
        token: "voice-token".into(),
        endpoint: "c-fra12.discord.media:443".into(),
        session_id: "voice-session-id".into(),
        channel_id: channel,
    }
}

const G: GuildId = 1_100_000 << 22;

async fn start(e: &Engine, guild: GuildId, query: &str) {
    e.service.connect(guild, voice(77), Some(5)).await.unwrap();
    e.service.play(guild, query, Some(9), false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn play_reaches_the_fake_with_a_complete_voice_state_and_positions_agree() {
    let f = fake().await;
    let e = engine(&[&f]).await;
    e.service.connect(G, voice(77), Some(5)).await.unwrap();
    let out = e
        .service
        .play(G, "never gonna give", Some(9), false)
        .await
        .unwrap();
    assert_eq!(out.first.title, "Rick Astley - Never Gonna Give You Up");
    assert!(out.started);
    let p = f.player(&G.to_string()).expect("player created");
    assert!(p.playing, "{p:?}");
    let v = p.voice.clone().unwrap();
    assert_eq!(
        (
            v.token.as_str(),
            v.endpoint.as_str(),
            v.session_id.as_str(),
            v.channel_id.as_str()
        ),
        (
            "voice-token",
            "c-fra12.discord.media:443",
            "voice-session-id",
            "77"
        )
    );
    // The handshake carried our identity; the session has resuming on with our timeout.
    let ws = f
        .requests()
        .into_iter()
        .find(|r| r.path == "/v4/websocket")
        .unwrap();
    assert_eq!(ws.headers.get("user-id").map(String::as_str), Some("4242"));
    assert!(ws
        .headers
        .get("client-name")
        .unwrap()
        .starts_with("Encore/"));
    let session = f.sessions().into_iter().next().unwrap();
    assert!(session.resuming);
    assert_eq!(session.timeout, 60);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ours = e.service.view(G).await.unwrap().position_ms;
    let theirs = f.player(&G.to_string()).unwrap().position;
    assert!(ours.abs_diff(theirs) < 300, "ours {ours} vs fake {theirs}");
    assert!(theirs >= 1000, "{theirs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_seek_volume_and_filters_reach_the_player() {
    let f = fake().await;
    let e = engine(&[&f]).await;
    start(&e, G, RICK).await;
    let g = G.to_string();

    assert_eq!(e.service.seek(G, 60_000).await, Ok(60_000));
    let p = f.player(&g).unwrap();
    assert!((60_000..60_500).contains(&p.position), "{}", p.position);

    e.service.pause(G).await.unwrap();
    let frozen = f.player(&g).unwrap().position;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let p = f.player(&g).unwrap();
    assert!(p.paused && p.position == frozen, "{p:?}");
    let ours = e.service.view(G).await.unwrap().position_ms;
    assert!(ours.abs_diff(frozen) < 100, "ours {ours} vs fake {frozen}");
    e.service.resume(G).await.unwrap();
    assert!(f.player(&g).unwrap().playing);

    let back = e.service.seek_by(G, -30_000).await.unwrap();
    assert!((30_000..31_000).contains(&back), "{back}");
    assert!(matches!(
        e.service.seek(G, 10_000_000).await,
        Err(PlayerError::Seek(SeekRefused::OutOfRange { .. }))
    ));

    e.service.set_volume(G, 150).await.unwrap();
    assert_eq!(f.player(&g).unwrap().volume, 150);
    assert_eq!(
        e.service.set_volume(G, 250).await,
        Err(PlayerError::VolumeOutOfRange { max: 200 })
    );
    assert_eq!(f.player(&g).unwrap().volume, 150);

    e.service
        .set_filters(G, FilterPreset::Nightcore)
        .await
        .unwrap();
    let filters = f.player(&g).unwrap().filters;
    assert_eq!(filters["timescale"]["speed"], 1.2, "{filters}");
    e.service.set_filters(G, FilterPreset::Off).await.unwrap();
    let filters = f.player(&g).unwrap().filters;
    assert!(
        filters.get("timescale").is_none_or(|t| t.is_null()),
        "{filters}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn loop_modes_over_a_chain_of_short_tracks() {
    let f = fake().await;
    let e = engine(&[&f]).await;
    let (off, track, queue) = (G + 1, G + 2, G + 3);
    for g in [off, track, queue] {
        start(&e, g, &url(SHORT_1S)).await;
        e.service
            .play(g, &url(SHORT_2S), None, false)
            .await
            .unwrap();
    }
    e.service.set_loop(track, LoopMode::Track).await;
    e.service.set_loop(queue, LoopMode::Queue).await;

    // Off: 1 s, then 2 s, then the queue has ended.
    eventually("loop off ends", Duration::from_secs(8), || {
        e.said
            .has(off, |a| *a == Announcement::QueueEnded)
            .then_some(())
    })
    .await;
    assert!(e.service.view(off).await.unwrap().current.is_none());
    // Track: the 1 s track again and again.
    let starts_of = |guild: GuildId| -> Vec<String> {
        e.said
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(g, _)| *g == guild)
            .filter_map(|(_, a)| match a {
                Announcement::NowPlaying(t) => Some(t.title.clone()),
                _ => None,
            })
            .collect()
    };
    eventually(
        "the 1 s track starts three times",
        Duration::from_secs(5),
        || (starts_of(track).len() >= 3).then_some(()),
    )
    .await;
    assert!(starts_of(track)
        .iter()
        .all(|t| t == "Encore Fixture - Test Tone (1 s)"));
    // Queue: cycles back to the 1 s track after the 2 s one, and never ends.
    eventually("the queue cycles", Duration::from_secs(5), || {
        (starts_of(queue).len() >= 3).then_some(())
    })
    .await;
    let titles = starts_of(queue);
    assert_eq!(titles[0], titles[2], "{titles:?}");
    assert_ne!(titles[0], titles[1], "{titles:?}");
    assert!(!e.said.has(queue, |a| *a == Announcement::QueueEnded));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_track_and_a_stuck_track_are_skipped_and_reported() {
    let f = fake().await;
    let e = engine(&[&f]).await;
    start(&e, G, &url(FAILING_IDENTIFIER)).await;
    e.service.play(G, RICK, None, false).await.unwrap();
    e.service
        .play(G, &url(SHORT_5S_ID), None, false)
        .await
        .unwrap();
    eventually(
        "the failing track is skipped",
        Duration::from_secs(5),
        || {
            e.said
                .has(G, |a| matches!(a, Announcement::TrackFailed { .. }))
                .then_some(())
        },
    )
    .await;
    eventually("rick plays", Duration::from_secs(5), || {
        f.player(&G.to_string())
            .and_then(|p| p.track)
            .is_some_and(|t| t.info.identifier == "dQw4w9WgXcQ")
            .then_some(())
    })
    .await;
    // Stuck: reported and skipped to the next track.
    f.inject_stuck(&G.to_string(), 10_000).unwrap();
    eventually("the stuck track is skipped", Duration::from_secs(5), || {
        f.player(&G.to_string())
            .and_then(|p| p.track)
            .is_some_and(|t| t.info.identifier == SHORT_5S_ID)
            .then_some(())
    })
    .await;
    let failures = e
        .said
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, a)| matches!(a, Announcement::TrackFailed { .. }))
        .count();
    assert_eq!(failures, 2, "each failure reported once");
}

const SHORT_5S_ID: &str = encore_fakes::lavalink::catalogue::SHORT_5S;

#[tokio::test(flavor = "multi_thread")]
async fn a_node_restart_rebuilds_the_player_at_its_position() {
    let f = fake().await;
    let e = engine(&[&f]).await;
    start(&e, G, RICK).await;
    e.service.seek(G, 30_000).await.unwrap();
    e.service.set_volume(G, 80).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old_session = f.sessions()[0].session_id.clone();

    let heard = f.player(&G.to_string()).unwrap().position;
    f.restart();
    eventually("a new session (ready)", Duration::from_secs(3), || {
        f.sessions()
            .iter()
            .any(|s| s.connected && s.session_id != old_session)
            .then_some(())
    })
    .await;
    let ready = Instant::now();
    eventually("the player is rebuilt", Duration::from_secs(3), || {
        f.player(&G.to_string())
            .is_some_and(|p| p.playing)
            .then_some(())
    })
    .await;
    let after_ready = ready.elapsed();
    let session = f.sessions()[0].clone();
    assert_ne!(session.session_id, old_session, "a new session");
    assert!(
        after_ready < Duration::from_secs(2),
        "rebuilt {after_ready:?} after the node's ready"
    );
    // It goes on from where listeners last heard it: the restart is not skipped.
    let p = f.player(&G.to_string()).unwrap();
    let rebuilt_at = rebuild_position(&f, &session.session_id);
    assert!(
        rebuilt_at.abs_diff(heard) <= 1000,
        "rebuilt at {rebuilt_at} instead of ~{heard}"
    );
    assert_eq!(p.volume, 80, "rebuilt from our state");
    assert_eq!(p.voice.unwrap().channel_id, "77");
    // One PATCH rebuilt it.
    let patches = f
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/players/{G}")))
        .filter(|r| r.path.contains(&session.session_id))
        .count();
    assert_eq!(patches, 1);
}

/// The position of the PATCH that rebuilt [`G`]'s player on `session`.
fn rebuild_position(f: &FakeLavalink, session: &str) -> u64 {
    f.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("{session}/players/{G}")))
        .find_map(|r| r.body?.get("position")?.as_u64())
        .expect("a rebuild with a position")
}

#[tokio::test(flavor = "multi_thread")]
async fn time_nobody_heard_during_a_node_outage_is_not_skipped() {
    let f = fake().await;
    let e = engine(&[&f]).await;
    start(&e, G, RICK).await;
    e.service.seek(G, 20_000).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let heard = f.player(&G.to_string()).unwrap().position;
    // The node goes away and refuses connections for 6 s, then comes back restarted.
    f.restart();
    f.refuse_connections_for(Duration::from_secs(6));
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Meanwhile the player's position (what /nowplaying and the autosave read) stands still.
    let view = e.service.view(G).await.unwrap();
    assert!(
        view.position_ms.abs_diff(heard) <= 1000,
        "{} during the outage, heard until {heard}",
        view.position_ms
    );
    let session = eventually("the node back", Duration::from_secs(10), || {
        f.sessions()
            .into_iter()
            .find(|s| s.connected)
            .map(|s| s.session_id)
    })
    .await;
    eventually("the player is rebuilt", Duration::from_secs(3), || {
        f.player(&G.to_string())
            .is_some_and(|p| p.playing)
            .then_some(())
    })
    .await;
    let rebuilt_at = rebuild_position(&f, &session);
    assert!(
        rebuilt_at.abs_diff(heard) <= 1000,
        "rebuilt at {rebuilt_at}, listeners last heard {heard}"
    );
    // Heard again: the position follows Lavalink's once more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let view = e.service.view(G).await.unwrap();
    assert!(
        view.position_ms >= rebuilt_at + 1000,
        "{} after playing on from {rebuilt_at}",
        view.position_ms
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_socket_with_resuming_rebuilds_nothing() {
    let f = fake().await;
    let e = engine(&[&f]).await;
    start(&e, G, RICK).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    f.clear_requests();
    let session = f.sessions()[0].session_id.clone();
    assert_eq!(f.drop_sockets(), 1);
    eventually("reconnected", Duration::from_secs(3), || {
        let requests = f.requests();
        (requests.iter().any(|r| r.path == "/v4/websocket")
            && f.sessions().iter().any(|s| s.connected))
        .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = f.sessions();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].session_id, session, "the session was resumed");
    let requests = f.requests();
    let ws = requests.iter().find(|r| r.path == "/v4/websocket").unwrap();
    assert_eq!(ws.headers.get("session-id"), Some(&session));
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains("/players/")),
        "nothing was rebuilt: {requests:?}"
    );
    let p = f.player(&G.to_string()).unwrap();
    assert!(p.playing && p.position > 500, "{p:?}");
    // The node kept playing while the socket was away: its position is the truth again.
    crate::harness::eventually_async(
        "our position follows the node's",
        Duration::from_secs(3),
        || async {
            let live = f.player(&G.to_string())?.position;
            let ours = e.service.view(G).await?.position_ms;
            (ours.abs_diff(live) <= 500).then_some(())
        },
    )
    .await;
    assert!(
        e.service.pause(G).await.is_ok(),
        "commands work after resuming"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_two_nodes_the_players_of_a_killed_one_move_to_the_other() {
    let a = fake().await;
    let b = fake().await;
    let e = engine(&[&a, &b]).await;
    // Least loaded: the first guild goes to one node, the second to the other.
    start(&e, G, RICK).await;
    start(&e, G + 1, RICK).await;
    let first_on_a = a.player(&G.to_string()).is_some();
    let second_on_a = a.player(&(G + 1).to_string()).is_some();
    assert!(first_on_a != second_on_a, "spread over both nodes");
    assert!(b.player(&G.to_string()).is_some() != first_on_a);
    let (victim, survivor, moved) = if first_on_a { (a, b, G) } else { (b, a, G) };
    e.service.seek(moved, 50_000).await.unwrap();
    let killed = Instant::now();
    victim.shutdown().await;
    eventually("the player moved", Duration::from_secs(6), || {
        survivor
            .player(&moved.to_string())
            .is_some_and(|p| p.playing)
            .then_some(())
    })
    .await;
    // Nobody heard it between the node's death and the move: it goes on from 50 s.
    let session = survivor.sessions()[0].session_id.clone();
    let rebuilt_at = rebuild_position(&survivor, &session);
    assert!(
        rebuilt_at.abs_diff(50_000) < 1000,
        "{rebuilt_at} vs 50000, {:?} after the kill",
        killed.elapsed()
    );
    assert!(
        e.service.pause(moved).await.is_ok(),
        "commands follow the player"
    );
    assert!(survivor.player(&moved.to_string()).unwrap().paused);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_unexpected_messages_do_not_crash_the_engine() {
    let f = fake().await;
    let e = engine(&[&f]).await;
    for raw in [
        "not json at all",
        "[1,2,3]",
        r#"{"op":"event","type":"TrackEndEvent","guildId":"1"}"#,
        r#"{"op":"playerUpdate","guildId":"nope","state":{}}"#,
        r#"{"op":"somethingFromTheFuture","x":1}"#,
        r#"{"op":"event","type":"NewEventType","guildId":"1"}"#,
    ] {
        assert_eq!(f.send_raw(raw), 1);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    start(&e, G, RICK).await;
    assert!(f.player(&G.to_string()).unwrap().playing);
    assert!(e.backend.node_status()[0].1, "still connected");
}

#[tokio::test(flavor = "multi_thread")]
async fn load_results_of_every_kind() {
    let f = fake().await;
    let e = engine(&[&f]).await;
    e.service.connect(G, voice(77), None).await.unwrap();
    let out = e
        .service
        .play(
            G,
            &format!("https://www.youtube.com/playlist?list={PLAYLIST_ID}"),
            None,
            false,
        )
        .await
        .unwrap();
    assert!(out.playlist.is_some() && out.added > 1, "{out:?}");
    assert_eq!(
        e.service.play(G, "zzqqxx no such song", None, false).await,
        Err(PlayerError::NoResults("zzqqxx no such song".into()))
    );
    assert!(matches!(
        e.service
            .play(G, &url(LOAD_ERROR_IDENTIFIER), None, false)
            .await,
        Err(PlayerError::LoadFailed(_))
    ));
    // Plain text searches with the configured prefix.
    let search = f
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v4/loadtracks")
        .filter_map(|r| r.query)
        .find(|q| q.contains("zzqqxx"))
        .unwrap();
    assert!(
        search.starts_with("identifier=ytsearch%3Azzqqxx"),
        "{search}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_node_commands_say_the_audio_server_is_unavailable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = engine_on(vec![node(0, closed, "pw")], false).await;
    e.service.connect(G, voice(77), None).await.unwrap();
    let err = e.service.play(G, RICK, None, false).await.unwrap_err();
    assert_eq!(err, PlayerError::Audio(AudioError::Unavailable));
    assert!(encore::discord::texts::player_error(&err)
        .contains("unavailable right now, so that was not done"));
}

/// The identifier of the track the fake is playing for `guild`.
fn playing_id(f: &FakeLavalink, guild: GuildId) -> Option<String> {
    f.player(&guild.to_string())
        .and_then(|p| p.track)
        .map(|t| t.info.identifier)
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_operations_end_to_end_and_the_saved_snapshot_follows() {
    let f = fake().await;
    let store = Arc::new(MemoryStore::new());
    let autosave = Autosave::new(store.clone(), AutosaveConfig::new(Duration::from_secs(60)));
    let e = engine_with(
        vec![node(0, f.port(), f.password())],
        true,
        Some(autosave.clone()),
    )
    .await;
    let ids = ["dQw4w9WgXcQ", "fJ9rUzIMcZQ", "9bZkp7q19f0", "kJQP7kiw5Fk"];
    start(&e, G, &url(ids[0])).await;
    for id in &ids[1..] {
        e.service.play(G, &url(id), None, false).await.unwrap();
    }
    let out = e
        .service
        .play(G, &url(SHORT_5S_ID), None, true)
        .await
        .unwrap();
    assert_eq!(out.position, Some(1), "inserted next");
    assert_eq!(playing_id(&f, G).as_deref(), Some(ids[0]));

    e.service.skip(G, None).await.unwrap();
    assert_eq!(playing_id(&f, G).as_deref(), Some(SHORT_5S_ID));
    e.service.skip(G, Some(2)).await.unwrap();
    assert_eq!(playing_id(&f, G).as_deref(), Some(ids[2]));
    e.service.previous(G).await.unwrap();
    assert_eq!(playing_id(&f, G).as_deref(), Some(ids[1]));

    // Queue edits: [ids[2], ids[3]] upcoming now.
    e.service.move_track(G, 2, 1).await.unwrap();
    assert_eq!(
        e.service.remove(G, 1).await.unwrap().title,
        "Luis Fonsi - Despacito ft. Daddy Yankee"
    );
    assert!(matches!(
        e.service.remove(G, 5).await,
        Err(PlayerError::Queue(_))
    ));
    assert_eq!(e.service.shuffle(G).await.unwrap(), 1);
    e.service.seek(G, 42_000).await.unwrap();

    // The autosave's snapshot is the live player.
    autosave.tick().await.unwrap();
    let saved = store.load(G).await.unwrap().unwrap();
    let live = f.player(&G.to_string()).unwrap();
    assert_eq!(
        saved.queue.current.as_ref().unwrap().title,
        live.track.unwrap().info.title
    );
    assert_eq!(saved.queue.upcoming.len(), 1);
    let saved_pos = saved.position_at(encore::domain::now_ms());
    let live_pos = f.player(&G.to_string()).unwrap().position;
    assert!(
        saved_pos.abs_diff(live_pos) < 300,
        "saved {saved_pos} vs live {live_pos}"
    );
    assert_eq!(saved.state.voice_channel_id, Some(77));
    assert_eq!(saved.state.text_channel_id, Some(5));

    assert_eq!(e.service.clear(G).await.unwrap(), 1);
    e.service.stop(G).await.unwrap();
    let p = f.player(&G.to_string()).unwrap();
    assert!(p.track.is_none() && !p.playing, "{p:?}");
    autosave.tick().await.unwrap();
    assert_eq!(
        store.load(G).await.unwrap(),
        None,
        "a stopped player is forgotten"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_gives_lavalink_the_whole_player_in_one_update() {
    use encore::domain::{now_ms, PlayerSnapshot, PlayerState, QueueSnapshot};
    let f = fake().await;
    let e = engine(&[&f]).await;
    // A saved player: paused at 42 s on the track, volume 70, nightcore, two tracks queued.
    let load = |q: &str| {
        let svc = e.service.clone();
        let q = q.to_string();
        async move { svc.resolve(&q).await.unwrap().0.remove(0) }
    };
    let current = load(RICK).await;
    let next = load(&url(SHORT_2S)).await;
    let mut state = PlayerState::new(G);
    state.voice_channel_id = Some(77);
    state.text_channel_id = Some(5);
    state.position_ms = 42_000;
    state.position_at_ms = now_ms() - 60_000;
    state.paused = true;
    state.volume = 70;
    state.loop_mode = LoopMode::Queue;
    state.filters = FilterPreset::Nightcore;
    let snapshot = PlayerSnapshot::new(
        state,
        QueueSnapshot {
            current: Some(current.clone()),
            upcoming: [next.clone(), next].into(),
            history: Default::default(),
        },
    );
    f.clear_requests();
    e.service
        .restore(RestorePlan {
            position_ms: snapshot.position_at(snapshot.state.taken_at_ms),
            paused: snapshot.state.why_paused(),
            snapshot,
            voice: voice(77),
            live: None,
        })
        .await
        .unwrap();
    let patches: Vec<_> = f
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/players/"))
        .collect();
    assert_eq!(patches.len(), 1, "one player update");
    let body = patches[0].body.clone().unwrap();
    assert_eq!(body["track"]["encoded"], current.encoded.as_str());
    assert_eq!(
        body["position"], 42_000,
        "paused: the saved position as it was"
    );
    assert_eq!(body["paused"], true);
    assert_eq!(body["volume"], 70);
    assert_eq!(body["filters"]["timescale"]["speed"], 1.2);
    assert_eq!(body["voice"]["channelId"], "77");
    let p = f.player(&G.to_string()).unwrap();
    assert!(p.paused && p.position == 42_000, "{p:?}");
    let view = e.service.view(G).await.unwrap();
    assert_eq!(view.upcoming.len(), 2);
    assert_eq!(view.loop_mode, LoopMode::Queue);
}
