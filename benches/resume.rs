//! Benchmark: take-over after a crash, with the real `encore` binary against the fake Discord and
//! the fake Lavalink on loopback, with the default `LEASE_TTL` and `AUTOSAVE_INTERVAL` (SQLite).
//! One guild with one listener in voice plays a track started with `/play`; then, N times per
//! kind, the owner is killed with SIGKILL at a different moment (2.0 s + k × 1.07 s after the
//! previous take-over, spread across Lavalink's 5 s `playerUpdate` period and the lease's
//! renewals) and a new instance is started at once:
//! - (a) Lavalink alive: the new instance should resume the dead owner's Lavalink session;
//! - (b) Lavalink restarted right after the kill: the player is rebuilt from the store.
//!
//! Measured from the new process's spawn to the first player update (`PATCH
//! /v4/sessions/*/players/<guild>` with a `voice` state) the fake Lavalink receives; for (b) the
//! position error of that update against the position Lavalink played at the kill, for (a) whether
//! the Lavalink session stayed the same and how far the live player's position moved from where
//! it would be had nothing happened. The new instance is the owner killed in the next run.
//! `cargo bench --bench resume [-- N]` (N runs per kind, default 5); figures in
//! docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{eventually, fake_discord, listener_guild, logged_at, unix_us, Bot, Launcher};
use encore_fakes::discord::{FakeDiscord, GuildSpec};
use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig};
use serde_json::{json, Value};

const GUILD: u64 = (1_000_000 << 22) | 5;
const TEXT: u64 = GUILD + 1;
const VOICE: u64 = GUILD + 2;
const LISTENER: u64 = 700_000_000_000_000_001;

fn guild() -> GuildSpec {
    listener_guild(GUILD, "Server", TEXT, VOICE, LISTENER)
}

struct Rig {
    discord: FakeDiscord,
    /// The fake Discord's clock (µs since it started) in Unix µs, give or take a millisecond.
    discord_epoch_us: u64,
    lavalink: FakeLavalink,
    bots: Launcher,
}

impl Rig {
    fn spawn(&mut self) -> Bot {
        self.bots.spawn(&self.discord, &self.lavalink, &[])
    }

    /// The first player update of the guild carrying a voice state received at or after
    /// `since_us`: (received at, Unix µs; Lavalink session id; body).
    fn first_voice_patch(&self, since_us: u64) -> Option<(u64, String, Value)> {
        let suffix = format!("/players/{GUILD}");
        self.lavalink.requests().into_iter().find_map(|r| {
            if r.method != "PATCH" || r.received_at_unix_us < since_us {
                return None;
            }
            let session = r
                .path
                .strip_prefix("/v4/sessions/")?
                .strip_suffix(&suffix)?
                .to_string();
            let body = r.body.filter(|b| b.get("voice").is_some())?;
            Some((r.received_at_unix_us, session, body))
        })
    }
}

impl Rig {
    /// When the fake Discord received the guild's first voice join (op 4 to the voice channel)
    /// and dispatched its first VOICE_SERVER_UPDATE at or after `since_us`, in Unix µs.
    fn voice_join(&self, since_us: u64) -> (Option<u64>, Option<u64>) {
        let epoch = self.discord_epoch_us;
        let op4 = self
            .discord
            .gateway_sent()
            .into_iter()
            .filter(|g| {
                g.payload["op"] == 4
                    && snowflake(&g.payload["d"]["guild_id"]) == Some(GUILD)
                    && snowflake(&g.payload["d"]["channel_id"]) == Some(VOICE)
            })
            .map(|g| epoch + g.received_at_us)
            .find(|t| *t >= since_us);
        let server = self
            .discord
            .voice_servers(GUILD)
            .into_iter()
            .map(|v| epoch + v.sent_at_us)
            .find(|t| *t >= since_us);
        (op4, server)
    }
}

/// A Discord id, sent as a string (or a number).
fn snowflake(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// The dead owner's last lease renewal (Unix ms), as the new owner logged it on taking the lease.
fn last_seen_ms(bot: &Bot) -> Option<u64> {
    let text = std::fs::read_to_string(&bot.log).ok()?;
    let line = text
        .lines()
        .find(|l| l.contains("this instance owns the lease"))?;
    let v: Value = serde_json::from_str(line).ok()?;
    v["last_seen_ms"]
        .as_str()?
        .strip_prefix("Some(")?
        .strip_suffix(')')?
        .parse()
        .ok()
}

/// Milliseconds from `since_us` to `t`, as text.
fn ms_after(t: Option<u64>, since_us: u64) -> String {
    t.map_or("-".into(), |t| {
        format!("{}", t.saturating_sub(since_us) / 1000)
    })
}

/// Milliseconds from the bot's spawn to its first log line containing `needle`, as text.
fn since_spawn(bot: &Bot, needle: &str) -> String {
    logged_at(bot, needle).map_or("-".into(), |t| {
        format!("{}", t.saturating_sub(bot.spawned_us) / 1000)
    })
}

fn median_max(v: &[u64]) -> (u64, u64) {
    let mut s = v.to_vec();
    s.sort_unstable();
    if s.is_empty() {
        return (0, 0);
    }
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2
    };
    (median, s[n - 1])
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    LavalinkAlive,
    LavalinkRestarted,
}

struct Outcome {
    kind: Kind,
    take_over_ms: u64,
    /// (b): |restored position − position at the kill|, ms.
    position_error_ms: Option<u64>,
    /// (a): the same Lavalink session as before the kill.
    same_session: Option<bool>,
    /// (a): live position after the take-over minus (position at the kill + time since), ms.
    drift_ms: Option<i64>,
}

async fn run(runs: usize) {
    let discord_epoch_us = unix_us();
    let discord = fake_discord([guild()]).await;
    let lavalink = FakeLavalink::start(FakeLavalinkConfig::default())
        .await
        .unwrap();
    let mut rig = Rig {
        discord,
        discord_epoch_us,
        lavalink,
        bots: Launcher::new(tempfile::tempdir().unwrap()),
    };
    let guild_id = GUILD.to_string();

    // The first owner plays a track started by a member.
    let mut owner = rig.spawn();
    eventually("commands registered", Duration::from_secs(60), || {
        rig.discord.registered_commands()["global"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            .then_some(())
    })
    .await;
    eventually("the lease", Duration::from_secs(30), || {
        logged_at(&owner, "this instance owns the lease")
    })
    .await;
    rig.discord
        .inject_command(
            GUILD,
            TEXT,
            LISTENER,
            "play",
            json!({ "query": "bohemian rhapsody" }),
        )
        .unwrap();
    eventually("playing", Duration::from_secs(20), || {
        rig.lavalink.player(&guild_id).filter(|p| p.playing)
    })
    .await;
    println!(
        "first instance: READY {} ms, lease {} ms after spawn; playing",
        since_spawn(&owner, "connected to Discord"),
        since_spawn(&owner, "this instance owns the lease"),
    );
    println!(
        "{:<13} {:>6} {:>7} {:>6} {:>8} {:>6} {:>7} {:>6} {:>6} {:>6}  detail",
        "crash",
        "kill@",
        "renewed",
        "READY",
        "evidence",
        "lease",
        "restore",
        "op 4",
        "VSU",
        "PATCH"
    );

    let mut outcomes = Vec::new();
    for k in 0..runs {
        for kind in [Kind::LavalinkAlive, Kind::LavalinkRestarted] {
            let slept_ms = 2_000 + k as u64 * 1_070;
            tokio::time::sleep(Duration::from_millis(slept_ms)).await;
            let before = rig.lavalink.player(&guild_id).expect("a player");
            owner.child.kill().unwrap();
            owner.child.wait().unwrap();
            let killed_at = Instant::now();
            let killed_us = unix_us();
            let at_kill = rig.lavalink.player(&guild_id).expect("a player").position;
            if kind == Kind::LavalinkRestarted {
                rig.lavalink.restart();
            }
            let bot = rig.spawn();
            let (patched_us, session, body) =
                eventually("the player update", Duration::from_secs(60), || {
                    rig.first_voice_patch(bot.spawned_us)
                })
                .await;
            let (op4, server) = rig.voice_join(bot.spawned_us);
            let take_over_ms = patched_us.saturating_sub(bot.spawned_us) / 1000;
            let mut outcome = Outcome {
                kind,
                take_over_ms,
                position_error_ms: None,
                same_session: None,
                drift_ms: None,
            };
            let detail = match kind {
                Kind::LavalinkAlive => {
                    let now = rig.lavalink.player(&guild_id).expect("a player");
                    let expected = at_kill + killed_at.elapsed().as_millis() as u64;
                    let drift = now.position as i64 - expected as i64;
                    let same = session == before.session_id && now.session_id == before.session_id;
                    outcome.same_session = Some(same);
                    outcome.drift_ms = Some(drift);
                    format!(
                        "same session {same}, drift {drift:+} ms, track in PATCH {}, position in PATCH {}",
                        body.get("track").is_some(),
                        body.get("position").is_some()
                    )
                }
                Kind::LavalinkRestarted => {
                    let position = body["position"].as_u64().unwrap_or(0);
                    let error = position.abs_diff(at_kill);
                    outcome.position_error_ms = Some(error);
                    format!(
                        "killed at {at_kill} ms, restored at {position} ms: error {error} ms{}",
                        if position > at_kill { " (ahead)" } else { "" }
                    )
                }
            };
            println!(
                "{:<13} {:>6} {:>7} {:>6} {:>8} {:>6} {:>7} {:>6} {:>6} {:>6}  {detail}",
                match kind {
                    Kind::LavalinkAlive => "(a) alive",
                    Kind::LavalinkRestarted => "(b) restarted",
                },
                slept_ms,
                last_seen_ms(&bot).map_or("-".into(), |t| format!(
                    "-{}",
                    (killed_us / 1000).saturating_sub(t)
                )),
                since_spawn(&bot, "connected to Discord"),
                since_spawn(&bot, "session could be resumed"),
                since_spawn(&bot, "this instance owns the lease"),
                since_spawn(&bot, "restoring saved players"),
                ms_after(op4, bot.spawned_us),
                ms_after(server, bot.spawned_us),
                take_over_ms,
            );
            outcomes.push(outcome);
            // Playing again before the next kill.
            eventually("playing again", Duration::from_secs(20), || {
                rig.lavalink.player(&guild_id).filter(|p| p.playing)
            })
            .await;
            owner = bot;
        }
    }

    println!();
    println!("| Crash | Runs | Crash → first player update (median / max) | Position error (median / max) | Same Lavalink session | Position drift (max abs) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for kind in [Kind::LavalinkAlive, Kind::LavalinkRestarted] {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == kind).collect();
        let times: Vec<u64> = of.iter().map(|o| o.take_over_ms).collect();
        let (t_med, t_max) = median_max(&times);
        match kind {
            Kind::LavalinkAlive => {
                let same = of.iter().filter(|o| o.same_session == Some(true)).count();
                let drift = of
                    .iter()
                    .filter_map(|o| o.drift_ms)
                    .map(i64::unsigned_abs)
                    .max()
                    .unwrap_or(0);
                println!(
                    "| kill -9, Lavalink alive | {} | {t_med} ms / {t_max} ms | - | {same} of {} | {drift} ms |",
                    of.len(),
                    of.len()
                );
            }
            Kind::LavalinkRestarted => {
                let errors: Vec<u64> = of.iter().filter_map(|o| o.position_error_ms).collect();
                let (e_med, e_max) = median_max(&errors);
                println!(
                    "| kill -9, Lavalink restarted | {} | {t_med} ms / {t_max} ms | {e_med} ms / {e_max} ms | - | - |",
                    of.len()
                );
            }
        }
    }
    println!(
        "(kill@: ms after the previous take-over; renewed: the dead owner's last lease renewal, ms before the kill; the other columns: ms from the new process's spawn to READY, to the owner's Lavalink session found resumable, to the lease owned, to the restore's start, to the voice join (op 4) and VOICE_SERVER_UPDATE at the fake Discord, to the first player update)"
    );
    if std::env::var_os("BENCH_KEEP_LOGS").is_some() {
        let kept = rig.bots.dir.keep();
        println!("logs kept in {}", kept.display());
    }
    drop(owner);
}

fn main() {
    let runs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(runs));
}
