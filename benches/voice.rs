//! Benchmark: voice healing, with the real bot (`Application::build`, in process) against the fake
//! Discord and two fake Lavalink nodes on loopback. For each healing step it injects a fault that
//! the step (and no milder one) repairs, and measures from the fault to audio again (the fake
//! Lavalink holds a working voice state and the position advances): median and max over
//! `BENCH_RUNS` runs (default 20). Then the cost of the silence watch: one `playerUpdate` for
//! each of `BENCH_PLAYERS` (default 10,000) playing players through `PlayerService::handle_event`.
//! `cargo bench --bench voice`; figures in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::{eventually as wait, fake_discord, listener_guild, TOKEN};
use encore::audio::{
    AudioBackend, AudioError, BackendEvent, Loaded, PlayerPatch, PlayerProbe, VoiceConnection,
};
use encore::domain::{now_ms, GuildId, Track};
use encore::player::{LogAnnouncer, PlayerConfig, PlayerService};
use encore::settings::{RawSettings, Settings};
use encore_fakes::discord::{FakeDiscord, GuildSpec};
use encore_fakes::lavalink::{Cure, FakeLavalink, FakeLavalinkConfig, PlayerSnapshot, VoiceFault};
use serde_json::json;
use tokio::sync::mpsc;

const GUILD: u64 = 817_327_181_659_111_454;
const TEXT: u64 = 900_000_000_000_000_001;
const VOICE: u64 = 900_000_000_000_000_002;
const LISTENER: u64 = 500_000_000_000_000_002;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn guild() -> GuildSpec {
    listener_guild(GUILD, "Bench", TEXT, VOICE, LISTENER)
}

struct World {
    discord: FakeDiscord,
    nodes: Vec<FakeLavalink>,
    _app: encore::app::Application,
}

impl World {
    fn player(&self) -> Option<(usize, PlayerSnapshot)> {
        let g = GUILD.to_string();
        (0..self.nodes.len()).find_map(|i| self.nodes[i].player(&g).map(|p| (i, p)))
    }
}

async fn world(node_count: usize) -> World {
    let discord = fake_discord([guild()]).await;
    let node = || {
        FakeLavalink::start(FakeLavalinkConfig {
            player_update_interval: Duration::from_millis(500),
            ..FakeLavalinkConfig::default()
        })
    };
    let mut nodes = Vec::new();
    for _ in 0..node_count {
        nodes.push(node().await.unwrap());
    }
    let list = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect::<Vec<_>>()
        .join(",");
    let base = discord.base_url();
    let mut raw = RawSettings::default();
    raw.layer_env([
        ("DISCORD_TOKEN", TOKEN),
        ("DISCORD_API_BASE", base.as_str()),
        ("LAVALINK_NODES", list.as_str()),
        ("LAVALINK_PASSWORD", nodes[0].password()),
        ("STORAGE", "memory"),
        ("LOG_LEVEL", "error"),
    ]);
    let app = encore::app::Application::build(Settings::from_raw(&raw).unwrap())
        .await
        .unwrap();
    wait("commands registered", Duration::from_secs(30), || {
        discord.registered_commands()["global"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            .then_some(())
    })
    .await;
    wait("every node", Duration::from_secs(30), || {
        nodes
            .iter()
            .all(|n| n.sessions().iter().any(|s| s.connected))
            .then_some(())
    })
    .await;
    discord
        .inject_command(GUILD, TEXT, LISTENER, "play", json!({"query": "bohemian"}))
        .unwrap();
    let w = World {
        discord,
        nodes,
        _app: app,
    };
    wait("playing", Duration::from_secs(30), || {
        w.player().filter(|(_, p)| p.playing)
    })
    .await;
    w
}

/// One fault that `step` repairs: (fault on the player's node, voice close code).
fn fault_for(step: &str) -> (VoiceFault, u16) {
    match step {
        // A voice server that crashed: Lavalink reconnects with the voice state it has.
        "resend" => (
            VoiceFault::Disconnected {
                cure: Cure::AnyVoiceUpdate,
            },
            4015,
        ),
        // A spent session: only a fresh one from Discord works.
        "rerequest" => (
            VoiceFault::Disconnected {
                cure: Cure::NewVoiceSession,
            },
            4006,
        ),
        // The node cannot speak the encryption Discord asks for: a fresh session (one node) or
        // another node plays it.
        "rejoin" => (
            VoiceFault::Disconnected {
                cure: Cure::NewVoiceSession,
            },
            4016,
        ),
        _ => (VoiceFault::Disconnected { cure: Cure::Never }, 4016),
    }
}

fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "median {:.0} ms, max {:.0} ms ({} runs)",
        ms(v[v.len() / 2]),
        ms(v[v.len() - 1]),
        v.len()
    )
}

/// Heals by each of `steps` in a world of `node_count` nodes.
async fn healing(runs: usize, node_count: usize, steps: &[&str]) {
    let w = world(node_count).await;
    let g = GUILD.to_string();
    for &step in steps {
        let mut took = Vec::with_capacity(runs);
        for _ in 0..runs {
            let (node, _) = w.player().unwrap();
            let (fault, code) = fault_for(step);
            w.nodes[node].set_voice_fault(&g, fault).unwrap();
            let t0 = Instant::now();
            w.nodes[node]
                .inject_websocket_closed(&g, code, "bench", true)
                .unwrap();
            // Audio again: a working voice state, and the position moving past where it stopped.
            let stopped = w.nodes[node].player(&g).unwrap().position;
            wait("audio again", Duration::from_secs(30), || {
                w.player().filter(|(_, p)| {
                    p.playing && p.voice_fault == VoiceFault::None && p.position > stopped
                })
            })
            .await;
            took.push(t0.elapsed());
            // Let the bot see the audio back before the next fault.
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        println!("heal by {step:>9}: {}", summary(took));
    }
    let _ = &w.discord;
}

/// Accepts everything; the audio server of the silence-watch figure.
struct Quiet;

#[async_trait]
impl AudioBackend for Quiet {
    async fn load(&self, _identifier: &str) -> Result<Loaded, AudioError> {
        Ok(Loaded::Track(Track {
            encoded: "enc".into(),
            title: "t".into(),
            author: "a".into(),
            uri: None,
            length_ms: Some(3_600_000),
            is_stream: false,
            is_seekable: true,
            requester: None,
            start_ms: None,
            autoplay: false,
        }))
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

async fn silence_watch(players: usize) {
    let service = PlayerService::new(
        Arc::new(Quiet),
        None,
        Arc::new(LogAnnouncer),
        PlayerConfig::default(),
    );
    let voice = VoiceConnection {
        token: "t".into(),
        endpoint: "e".into(),
        session_id: "s".into(),
        channel_id: 1,
    };
    let guilds: Vec<GuildId> = (0..players as u64).map(|i| (i + 1) << 22).collect();
    for g in &guilds {
        service.connect(*g, voice.clone(), None).await.unwrap();
        service.play(*g, "x", None, false).await.unwrap();
    }
    let mut rounds = Vec::new();
    for round in 0..5u64 {
        let t0 = Instant::now();
        for g in &guilds {
            service
                .handle_event(BackendEvent::PlayerUpdate {
                    guild: *g,
                    time_ms: now_ms(),
                    position_ms: 1000 * (round + 1),
                    connected: true,
                })
                .await;
        }
        rounds.push(t0.elapsed());
    }
    rounds.sort();
    let median = rounds[rounds.len() / 2];
    println!(
        "silence watch: one playerUpdate for each of {players} players: median {:.1} ms per round \
         ({:.2} µs per update), 5 rounds",
        median.as_secs_f64() * 1000.0,
        median.as_secs_f64() * 1e6 / players as f64
    );
}

#[tokio::main]
async fn main() {
    let runs = env_num("BENCH_RUNS", 20);
    let players = env_num("BENCH_PLAYERS", 10_000);
    silence_watch(players).await;
    healing(runs, 2, &["resend", "rerequest", "move_node"]).await;
    // With one node, a protocol the node cannot speak is healed by a fresh session.
    healing(runs, 1, &["rejoin"]).await;
}
