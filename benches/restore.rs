//! Benchmark: resume after a restart, with the real `encore` binary against the fake Discord and
//! the fake Lavalink on loopback. For each size of saved guilds (default 1, 100, 1000) it prints
//! the time from READY to each guild's player update (median, p99, max) and the restore
//! throughput against Discord's gateway limit; for sizes up to 100 also the position error of a
//! graceful restart (SIGTERM) and of a crash (kill -9 plus a Lavalink restart: restored from the
//! last autosave, carried forward to the dead owner's last lease renewal). `cargo bench --bench restore [-- 1 100 1000]`; figures in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fake_discord, listener_guild, logged_at, unix_us, Bot, Launcher};
use encore::domain::{now_ms, PlayerSnapshot, PlayerState, QueueSnapshot, Track};
use encore::store::{SaveOp, SqliteOptions, SqliteStore, StateStore};
use encore_fakes::discord::{FakeDiscord, GuildSpec, SentBy};
use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig};

fn guild_id(n: u64) -> u64 {
    (1_000_000 + n) << 22 | 5
}

fn guild(n: u64) -> GuildSpec {
    let id = guild_id(n);
    let listener = 700_000_000_000_000_000 + n;
    listener_guild(id, &format!("Server {n}"), id + 1, id + 2, listener)
}

struct Rig {
    discord: FakeDiscord,
    lavalink: FakeLavalink,
    bots: Launcher,
}

impl Rig {
    fn spawn(&mut self) -> Bot {
        let extra = [("LEASE_TTL", "2s")];
        self.bots.spawn(&self.discord, &self.lavalink, &extra)
    }

    /// The time of each guild's first player update with a voice state after `since_us`.
    fn restored(&self, since_us: u64) -> HashMap<u64, (u64, serde_json::Value)> {
        let mut out = HashMap::new();
        for r in self.lavalink.requests() {
            if r.method != "PATCH" || r.received_at_unix_us < since_us {
                continue;
            }
            let Some(body) = r.body.filter(|b| b.get("voice").is_some()) else {
                continue;
            };
            let Some(g) = r.path.rsplit('/').next().and_then(|g| g.parse().ok()) else {
                continue;
            };
            out.entry(g).or_insert((r.received_at_unix_us, body));
        }
        out
    }
}

/// When the bot logged READY ("connected to Discord"), in Unix µs.
fn ready_at(bot: &Bot) -> Option<u64> {
    logged_at(bot, "connected to Discord")
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut v: Vec<u64>, unit: &str) -> String {
    v.sort_unstable();
    format!(
        "median {} {unit}, p99 {} {unit}, max {} {unit} (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or(0),
        v.len()
    )
}

/// Waits for `n` restored guilds since `since_us`; returns them.
async fn wait_restored(
    rig: &Rig,
    n: usize,
    since_us: u64,
    within: Duration,
) -> HashMap<u64, (u64, serde_json::Value)> {
    let deadline = Instant::now() + within;
    loop {
        let r = rig.restored(since_us);
        if r.len() >= n {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} restored",
            r.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each guild's position on the fake Lavalink: on a connected session, or with `any_session` on
/// the session a process that just exited left for the next one to resume.
fn live_positions(rig: &Rig, ids: &[u64], any_session: bool) -> HashMap<u64, u64> {
    let connected: Vec<String> = rig
        .lavalink
        .sessions()
        .into_iter()
        .filter(|s| any_session || s.connected)
        .map(|s| s.session_id)
        .collect();
    rig.lavalink
        .players()
        .into_iter()
        .filter(|p| connected.contains(&p.session_id))
        .filter_map(|p| {
            let g: u64 = p.guild_id.parse().ok()?;
            ids.contains(&g).then_some((g, p.position))
        })
        .collect()
}

async fn run(n: u64) {
    let discord = fake_discord((0..n).map(guild)).await;
    let lavalink = FakeLavalink::start(FakeLavalinkConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = lavalink
        .tracks()
        .into_iter()
        .find(|t| !t.info.is_stream && t.info.length >= 180_000)
        .unwrap();
    let track = Track {
        encoded: t.encoded,
        title: t.info.title,
        author: t.info.author,
        uri: t.info.uri,
        length_ms: Some(t.info.length),
        is_stream: false,
        is_seekable: true,
        requester: None,
        start_ms: None,
        autoplay: false,
    };
    let ids: Vec<u64> = (0..n).map(guild_id).collect();
    {
        let store = SqliteStore::open(SqliteOptions::new(dir.path().join("encore.db"))).unwrap();
        let now = now_ms();
        let ops: Vec<SaveOp> = ids
            .iter()
            .map(|g| {
                let mut s = PlayerState::new(*g);
                s.voice_channel_id = Some(g + 2);
                s.text_channel_id = Some(g + 1);
                s.position_ms = 3_000;
                s.position_at_ms = now;
                s.taken_at_ms = now;
                let snap = PlayerSnapshot::new(
                    s,
                    QueueSnapshot {
                        current: Some(track.clone()),
                        ..Default::default()
                    },
                );
                SaveOp::Full {
                    state: snap.state,
                    queue: Arc::new(snap.queue),
                }
            })
            .collect();
        store.save(&ops).await.unwrap();
    }
    let mut rig = Rig {
        discord,
        lavalink,
        bots: Launcher::new(dir),
    };
    println!("== {n} saved guild(s), one shard");
    let since = unix_us();
    let mut bot = rig.spawn();
    let within = Duration::from_secs(60 + n * 61 / 100);
    let restored = wait_restored(&rig, n as usize, since, within).await;
    let ready = ready_at(&bot).expect("READY in the log");
    let latencies: Vec<u64> = restored
        .values()
        .map(|(t, _)| t.saturating_sub(ready) / 1000)
        .collect();
    let last = latencies.iter().copied().max().unwrap_or(0);
    println!("  READY -> player update: {}", summary(latencies, "ms"));
    let peak = rig
        .discord
        .max_sent_in_any_window(&SentBy::AnyConnection, Duration::from_secs(60));
    println!(
        "  gateway: at most {peak} commands in any 60 s (limit 120), rate-limit closes {}",
        rig.discord.rate_limit_closes()
    );
    if n > 112 {
        let per_min = (n - 112) as f64 / ((last as f64 / 1000.0) - 0.0).max(1.0) * 60.0;
        println!(
            "  throughput after the first burst: {per_min:.1} joins/min ({:.0} % of 120/min)",
            per_min / 120.0 * 100.0
        );
    }
    if n > 100 {
        return;
    }
    // A graceful restart: SIGTERM, then a new instance. The music stops when the old process's
    // gateway closes (Discord ends its voice sessions), just before it exits, so the position to
    // come back to is Lavalink's at the exit.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Command::new("kill")
        .args(["-TERM", &bot.child.id().to_string()])
        .status()
        .unwrap();
    bot.child.wait().unwrap();
    let at_term = live_positions(&rig, &ids, true);
    let since = unix_us();
    bot = rig.spawn();
    let restored = wait_restored(&rig, n as usize, since, Duration::from_secs(60)).await;
    let errors: Vec<u64> = restored
        .iter()
        .filter_map(|(g, (_, body))| Some(body["position"].as_u64()?.abs_diff(*at_term.get(g)?)))
        .collect();
    println!(
        "  graceful restart, position error: {}",
        summary(errors, "ms")
    );
    // A crash: kill -9, Lavalink restarts too; the last autosave (every 10 s) and the dead
    // owner's last lease renewal are all there is.
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    let at_kill = live_positions(&rig, &ids, false);
    bot.child.kill().unwrap();
    bot.child.wait().unwrap();
    rig.lavalink.restart();
    let since = unix_us();
    let _bot = rig.spawn();
    let restored = wait_restored(&rig, n as usize, since, Duration::from_secs(60)).await;
    let errors: Vec<u64> = restored
        .iter()
        .filter_map(|(g, (_, body))| Some(body["position"].as_u64()?.abs_diff(*at_kill.get(g)?)))
        .collect();
    println!(
        "  crash (kill -9 + Lavalink restart, AUTOSAVE_INTERVAL 10s), position error: {}",
        summary(errors, "ms")
    );
}

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1, 100, 1000]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in sizes {
        rt.block_on(run(n));
    }
}
