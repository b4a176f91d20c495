//! Benchmark: memory of a guild's player with a 200-track queue, and the cost of handling the
//! `playerUpdate`s of 1,000 concurrent players (decode with the real Lavalink message reader,
//! then the real player service with the autosave attached), and what a `/metrics` scrape costs
//! over those players. Prints figures; see docs/benchmarks.md. `cargo bench --bench player`;
//! knobs BENCH_GUILDS (1000), BENCH_TRACKS (200).

#![allow(clippy::unwrap_used, clippy::expect_used)]
// A counting global allocator needs `unsafe impl GlobalAlloc`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use encore::audio::lavalink::{decode_message, Inbound};
use encore::audio::{
    AudioBackend, AudioError, BackendEvent, Loaded, PlayerPatch, PlayerProbe, VoiceConnection,
};
use encore::autosave::{Autosave, AutosaveConfig};
use encore::domain::{now_ms, GuildId, Track};
use encore::player::{LogAnnouncer, PlayerConfig, PlayerService};
use encore::store::MemoryStore;
use tokio::sync::mpsc;

struct Counting;

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Answers every load with a playlist of realistic tracks; accepts every update.
struct Quiet {
    tracks: usize,
}

fn track(i: usize) -> Track {
    let id = format!("{i:011x}");
    Track {
        encoded: format!("QAAA1gMAO0FydGlzdCBOYW1lIC0gQSBTb25nIFRpdGxlIFRoYXQgSXMgUmVhbGlzdGljYWxseSBMb25nAAtBcnRpc3ROYW1lAAAAAAADN+AAC{id}AAEAK2h0dHBzOi8vd3d3LnlvdXR1YmUuY29tL3dhdGNoP3Y9{id}AQA0aHR0cHM6Ly9pLnl0aW1nLmNvbS92aS97aWR9L21heHJlc2RlZmF1bHQuanBnAAAHeW91dHViZQAAAAAAAAAA"),
        title: format!("Artist Name - A Song Title That Is Realistically Long #{i}"),
        author: "Artist Name".into(),
        uri: Some(format!("https://www.youtube.com/watch?v={id}")),
        length_ms: Some(240_000),
        is_stream: false,
        is_seekable: true,
        requester: None,
        start_ms: None,
        autoplay: false,
    }
}

#[async_trait]
impl AudioBackend for Quiet {
    async fn load(&self, _identifier: &str) -> Result<Loaded, AudioError> {
        Ok(Loaded::Playlist {
            name: "bench".into(),
            tracks: (0..self.tracks).map(track).collect(),
        })
    }
    async fn update(&self, _guild: GuildId, _patch: PlayerPatch) -> Result<(), AudioError> {
        Ok(())
    }
    async fn destroy(&self, _guild: GuildId) -> Result<(), AudioError> {
        Ok(())
    }
    async fn probe(&self, _guild: GuildId) -> Result<Option<PlayerProbe>, AudioError> {
        Ok(None)
    }
    async fn relocate(&self, _guild: GuildId) -> Result<bool, AudioError> {
        Ok(false)
    }
    fn node_count(&self) -> usize {
        1
    }
    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<BackendEvent>> {
        None
    }
}

fn guild(i: usize) -> GuildId {
    ((1_000_000 + i as u64) << 22) | 1
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let guilds = env_num("BENCH_GUILDS", 1000);
    let tracks = env_num("BENCH_TRACKS", 200);
    println!("player benchmark: {guilds} guilds, {tracks}-track queues");

    let autosave = Autosave::new(
        Arc::new(MemoryStore::new()),
        AutosaveConfig::new(Duration::from_secs(10)),
    );
    let service = PlayerService::new(
        Arc::new(Quiet { tracks }),
        Some(autosave.clone()),
        Arc::new(LogAnnouncer),
        PlayerConfig {
            queue_max: tracks + 10,
            ..PlayerConfig::default()
        },
    );
    let before = ALLOCATED.load(Ordering::Relaxed);
    for i in 0..guilds {
        let voice = VoiceConnection {
            token: "token".into(),
            endpoint: "endpoint".into(),
            session_id: "session".into(),
            channel_id: 42,
        };
        service.connect(guild(i), voice, Some(7)).await.unwrap();
        service
            .play(guild(i), "https://example.com/list", Some(3), false)
            .await
            .unwrap();
    }
    let after = ALLOCATED.load(Ordering::Relaxed);
    let per_guild = (after - before) as f64 / guilds as f64;
    println!(
        "memory: {:.1} KiB per guild (one copy of the queue, shared by the player and the autosave), {:.1} MiB for {guilds} guilds",
        per_guild / 1024.0,
        (after - before) as f64 / (1 << 20) as f64
    );

    // 1,000 playerUpdates, as Lavalink sends them every 5 s.
    let messages: Vec<String> = (0..guilds)
        .map(|i| {
            format!(
                r#"{{"op":"playerUpdate","guildId":"{}","state":{{"time":{},"position":{},"connected":true,"ping":20}}}}"#,
                guild(i),
                now_ms(),
                5000 + i
            )
        })
        .collect();
    let mut rounds = vec![];
    for _ in 0..5 {
        let t = Instant::now();
        for m in &messages {
            if let Ok(Inbound::Event(e)) = decode_message(m) {
                service.handle_event(e).await;
            }
        }
        rounds.push(t.elapsed());
    }
    rounds.sort();
    let median = rounds[rounds.len() / 2];
    println!(
        "playerUpdate handling: {guilds} updates in {:.2} ms (median of 5), {:.2} µs each",
        median.as_secs_f64() * 1000.0,
        median.as_secs_f64() * 1e6 / guilds as f64
    );
    let t = Instant::now();
    let stats = autosave.tick().await.unwrap();
    println!(
        "autosave tick after those updates: {} players written in {:.2} ms",
        stats.ops,
        t.elapsed().as_secs_f64() * 1000.0
    );

    // What a /metrics scrape adds: counting every player and queue, then rendering the text.
    let mut scrapes = vec![];
    let mut figures = Default::default();
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        figures = service.figures().await;
        let m = encore::metrics::metrics();
        m.queued_tracks.set(figures.queued_tracks as i64);
        m.longest_queue.set(figures.longest_queue as i64);
        bytes = m.render().len();
        scrapes.push(t.elapsed());
    }
    scrapes.sort();
    println!(
        "metrics scrape: {guilds} players counted ({} playing, {} queued tracks) and {bytes} bytes rendered in {:.2} ms (median of 5)",
        figures.playing,
        figures.queued_tracks,
        scrapes[scrapes.len() / 2].as_secs_f64() * 1000.0
    );
}
