//! Watch Encore work with no Discord account: `cargo run --example demo`.
//!
//! Starts the fake Discord and the fake Lavalink on loopback and runs the real `encore` binary
//! against them (built by cargo; configured only through its ordinary environment settings, with
//! a SQLite file in a temporary folder). It plays a short scripted session — join, play, queue,
//! skip, pause, resume — then restarts the bot three times mid-track: gracefully (SIGTERM), with
//! `kill -9`, and with `kill -9` plus a Lavalink restart. After each it prints what listeners
//! noticed: how long the music was silent, and where it stopped and came back. It exits non-zero
//! when a restart does not come back where the music stopped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use encore_fakes::discord::{
    ChannelKind, ChannelSpec, FakeDiscord, FakeDiscordConfig, GuildSpec, MemberSpec,
};
use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig};
use encore_fakes::listeners::{close_ended_voice, heard, Heard};
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;

const TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.demo.not-a-real-token";
const BOT: u64 = 1_100_000_000_000_000_001;
const GUILD: u64 = 817_327_181_659_111_454;
const TEXT: u64 = 900_000_000_000_000_001;
const VOICE: u64 = 900_000_000_000_000_002;
const BOB: u64 = 500_000_000_000_000_002;

/// How far from where the music stopped a restart may come back.
const TOLERANCE_MS: i64 = 1_500;
/// How long the music plays between two restarts.
const PLAY_BETWEEN: Duration = Duration::from_secs(2);

async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T, Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Bob runs a slash command; prints it and the bot's answer.
async fn run(discord: &FakeDiscord, name: &str, options: Value) -> Result<(), Error> {
    let shown: Vec<String> = options
        .as_object()
        .map(|o| o.iter().map(|(k, v)| format!("{k}:{v}")).collect())
        .unwrap_or_default();
    println!(
        "\n{}",
        format!("bob> /{name} {}", shown.join(" ")).trim_end()
    );
    let inj = discord.inject_command(GUILD, TEXT, BOB, name, options)?;
    let message = until("the answer", || {
        let r = discord.interaction_responses(&inj.id)?;
        r.original
            .or_else(|| r.followups.last().cloned())
            .filter(|m| {
                m["content"].as_str().is_some_and(|c| !c.is_empty())
                    || m["embeds"].as_array().is_some_and(|e| !e.is_empty())
            })
    })
    .await?;
    let text = match message["content"].as_str() {
        Some(c) if !c.is_empty() => c.to_string(),
        _ => message["embeds"][0]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    for line in text.lines() {
        println!("encore> {line}");
    }
    Ok(())
}

fn show_player(lavalink: &FakeLavalink) {
    match lavalink.player(&GUILD.to_string()) {
        Some(p) => println!(
            "   lavalink: {} at {}, {}, volume {}",
            p.track
                .map(|t| t.info.title)
                .unwrap_or_else(|| "no track".into()),
            clock(p.position as i64),
            if p.paused { "paused" } else { "playing" },
            p.volume
        ),
        None => println!("   lavalink: no player"),
    }
}

/// `m:ss.s`
fn clock(ms: i64) -> String {
    let tenths = ms.max(0) / 100;
    format!("{}:{:02}.{}", tenths / 600, tenths / 10 % 60, tenths % 10)
}

/// `+0.1 s`
fn seconds(ms: i64) -> String {
    format!("{:+.1} s", ms as f64 / 1000.0)
}

/// A setting's default, as the demo runs with it: `LEASE_TTL=3s (the default)`.
fn setting(key: &str) -> String {
    let default = encore::settings::KEYS
        .iter()
        .find(|(k, _, _)| *k == key)
        .and_then(|(_, d, _)| *d)
        .unwrap_or("none");
    format!("{key}={default} (the default)")
}

/// The `encore` binary of this package, built (or found up to date) by cargo with the demo's
/// profile: cargo builds an example without the package's binaries. Asking for the demo too
/// builds the binary with the features the demo's build resolved (dev-dependencies included),
/// so it reuses the library the demo was built with.
fn build_encore() -> Result<PathBuf, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args([
        "build",
        "--quiet",
        "--bin",
        "encore",
        "--example",
        "demo",
        "--message-format=json-render-diagnostics",
        "--manifest-path",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
    ]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    // `cargo run` hands the demo the variables cargo sets for a crate (CARGO_MANIFEST_DIR,
    // CARGO_PKG_NAME, ...). Passed on to this cargo, they would look like a changed environment
    // to build scripts that watch them (ring's watches CARGO_MANIFEST_DIR) and rebuild half the
    // dependencies on every run.
    for (name, _) in std::env::vars_os() {
        let crate_var = name.to_str().is_some_and(|n| {
            n.starts_with("CARGO_PKG_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_RUSTC_CURRENT_DIR",
                ]
                .contains(&n)
        });
        if crate_var {
            build.env_remove(name);
        }
    }
    let out = build.stderr(Stdio::inherit()).output()?;
    if !out.status.success() {
        return Err("cargo could not build the encore binary".into());
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["name"] == "encore"
                && m["target"]["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .and_then(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo built no encore binary".into())
}

/// How every `encore` process of the demo is started.
struct Launcher {
    exe: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    started: usize,
}

impl Launcher {
    /// A process in the empty folder `dir` (no config files, no `.env`), with a clean
    /// environment holding only the settings, its log in `dir`.
    fn spawn(&mut self) -> Result<Bot, Error> {
        self.started += 1;
        let log = self.dir.join(format!("encore-{}.log", self.started));
        let child = Command::new(&self.exe)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["--config-dir", "config"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(Bot { child, log })
    }
}

/// One running `encore` process.
struct Bot {
    child: Child,
    log: PathBuf,
}

impl Bot {
    /// SIGTERM, as a host sends on a deploy; waits for the exit.
    async fn terminate(&mut self) -> Result<(), Error> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !sent.success() {
            return Err("kill -TERM failed".into());
        }
        let status = until("the exit after SIGTERM", || {
            self.child.try_wait().ok().flatten()
        })
        .await?;
        if !status.success() {
            return Err(format!(
                "encore exited with {status} after SIGTERM{}",
                tail(&self.log)
            )
            .into());
        }
        Ok(())
    }

    /// `kill -9`: nothing runs in the process any more.
    fn kill(&mut self) -> Result<(), Error> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Err with the end of its log when it has exited.
    fn running(&mut self) -> Result<(), Error> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("encore exited ({status}){}", tail(&self.log)).into()),
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a log, to show with an error.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(20);
    format!("; the end of its log:\n{}", lines[from..].join("\n"))
}

/// A silence that ended: the last moment heard before it and the first after it.
#[derive(Debug, Clone)]
struct Silence {
    stopped_at: Instant,
    last: Heard,
    back_at: Instant,
    first: Heard,
}

/// Follows what the listeners of [`GUILD`] hear, every 10 ms, and plays Discord's part of
/// ending voice connections (see `encore_fakes::listeners`).
struct Listening {
    now: Arc<Mutex<Option<Heard>>>,
    silences: Arc<Mutex<Vec<Silence>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Listening {
    fn start(discord: Arc<FakeDiscord>, lavalink: Arc<FakeLavalink>) -> Listening {
        let now: Arc<Mutex<Option<Heard>>> = Arc::default();
        let silences: Arc<Mutex<Vec<Silence>>> = Arc::default();
        let (now_w, silences_w) = (now.clone(), silences.clone());
        let task = tokio::spawn(async move {
            let mut last: Option<(Instant, Heard)> = None;
            let mut silent = false;
            loop {
                close_ended_voice(&discord, &lavalink, GUILD);
                let h = heard(&discord, &lavalink, GUILD);
                let at = Instant::now();
                match (&h, &last) {
                    (Some(first), Some((stopped_at, l))) if silent => {
                        lock(&silences_w).push(Silence {
                            stopped_at: *stopped_at,
                            last: l.clone(),
                            back_at: at,
                            first: first.clone(),
                        });
                        silent = false;
                    }
                    (None, Some(_)) => silent = true,
                    _ => {}
                }
                if let Some(h) = &h {
                    last = Some((at, h.clone()));
                }
                *lock(&now_w) = h;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Listening {
            now,
            silences,
            task,
        }
    }

    fn now(&self) -> Option<Heard> {
        lock(&self.now).clone()
    }

    /// The first silence that ended after `since`.
    fn silence_after(&self, since: Instant) -> Option<Silence> {
        lock(&self.silences)
            .iter()
            .find(|s| s.back_at > since)
            .cloned()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone, Copy)]
enum Restart {
    Graceful,
    Kill,
    KillAndLavalink,
}

impl Restart {
    fn title(self) -> String {
        match self {
            Restart::Graceful => "graceful restart: SIGTERM, then a new process".into(),
            Restart::Kill => "kill -9, then a new process (it resumes the dead one's Lavalink \
                 session, which shows the owner is gone, and takes over at once)"
                .into(),
            Restart::KillAndLavalink => format!(
                "kill -9 and a Lavalink restart (its session and players are lost), then a new \
                 process (once the lease runs out, {}): the last save, carried forward to when \
                 the dead process last renewed its lease ({})",
                setting("LEASE_TTL"),
                setting("AUTOSAVE_INTERVAL")
            ),
        }
    }

    fn signal(self) -> &'static str {
        match self {
            Restart::Graceful => "SIGTERM",
            Restart::Kill | Restart::KillAndLavalink => "kill -9",
        }
    }

    /// The accepted error (came back minus stopped at), in ms, for every kind of restart.
    fn allowed(self) -> (i64, i64) {
        (-TOLERANCE_MS, TOLERANCE_MS)
    }
}

/// Restarts the bot as `how` says while the music plays; prints what listeners noticed.
/// Ok(false) when it came back elsewhere than where the music stopped.
async fn restart(
    how: Restart,
    n: usize,
    bot: &mut Bot,
    launcher: &mut Launcher,
    lavalink: &FakeLavalink,
    discord: &FakeDiscord,
    listening: &Listening,
) -> Result<bool, Error> {
    println!("\n== Restart {n} of 3: {}", how.title());
    let before = listening
        .now()
        .ok_or_else(|| format!("the music is not playing before restart {n}"))?;
    let posted = discord.messages(TEXT).len();
    let since = Instant::now();
    match how {
        Restart::Graceful => bot.terminate().await?,
        Restart::Kill => bot.kill()?,
        Restart::KillAndLavalink => {
            bot.kill()?;
            lavalink.restart();
        }
    }
    println!(
        "   {} at {} of \"{}\"",
        how.signal(),
        clock(before.position_ms as i64),
        before.title
    );
    *bot = launcher.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(40);
    let silence = loop {
        if let Some(s) = listening.silence_after(since) {
            break s;
        }
        bot.running()?;
        if Instant::now() > deadline {
            return Err(format!(
                "the music did not come back after restart {n}{}",
                tail(&bot.log)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let gap = silence.back_at.duration_since(silence.stopped_at);
    let stopped = silence.last.position_ms as i64;
    let back = silence.first.position_ms as i64;
    let error = back - stopped;
    let (low, high) = how.allowed();
    let same_track = silence.first.title == silence.last.title;
    let ok = same_track && (low..=high).contains(&error);
    let allowed = if low == -high {
        format!("±{:.1} s", high as f64 / 1000.0)
    } else {
        format!("{} to {}", seconds(low), seconds(high))
    };
    println!(
        "   listeners: silent for {:.1} s; the music stopped at {} and came back at {} \
         (error {}, allowed {allowed}): {}",
        gap.as_secs_f64(),
        clock(stopped),
        clock(back),
        seconds(error),
        if ok { "ok" } else { "WRONG" }
    );
    if !same_track {
        println!(
            "   it stopped in \"{}\" but came back in \"{}\"",
            silence.last.title, silence.first.title
        );
    }
    tokio::time::sleep(PLAY_BETWEEN).await;
    for m in discord.messages(TEXT).iter().skip(posted) {
        for line in m["content"].as_str().unwrap_or_default().lines() {
            println!("encore (#general)> {line}");
        }
    }
    if listening.now().is_none() {
        return Err(format!("the music stopped again after restart {n}").into());
    }
    Ok(ok)
}

#[tokio::main]
async fn main() -> ExitCode {
    match demo().await {
        Ok(()) => {
            println!("done.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<(), Error> {
    let exe = build_encore()?;
    let discord = Arc::new(
        FakeDiscord::start(FakeDiscordConfig {
            token: TOKEN.into(),
            bot_user_id: BOT,
            application_id: BOT,
            bot_name: "Encore".into(),
            ..FakeDiscordConfig::default()
        })
        .await?,
    );
    let channel = ChannelSpec::new;
    discord.add_guild(GuildSpec {
        id: GUILD,
        name: "Demo Server".into(),
        owner_id: BOB,
        channels: vec![
            channel(TEXT, "general", ChannelKind::Text),
            channel(VOICE, "Music", ChannelKind::Voice),
        ],
        roles: vec![],
        members: vec![MemberSpec {
            user_id: BOB,
            username: "bob".into(),
            roles: vec![],
        }],
        voice_states: vec![(BOB, VOICE)],
    })?;
    let lavalink = Arc::new(
        FakeLavalink::start(FakeLavalinkConfig {
            player_update_interval: Duration::from_secs(1),
            ..FakeLavalinkConfig::default()
        })
        .await?,
    );
    println!("fake Discord on {}", discord.base_url());
    println!("fake Lavalink on {}", lavalink.base_url());

    // The bot is configured exactly as an operator would configure it.
    let dir = tempfile::tempdir()?;
    let env = [
        ("DISCORD_TOKEN", TOKEN.to_string()),
        ("DISCORD_API_BASE", discord.base_url()),
        ("LAVALINK_NODES", format!("127.0.0.1:{}", lavalink.port())),
        ("LAVALINK_PASSWORD", lavalink.password().to_string()),
        ("STORAGE", "sqlite".into()),
        (
            "SQLITE_PATH",
            dir.path().join("encore.db").display().to_string(),
        ),
        ("BACKUP_INTERVAL", "off".into()),
        // One scripted user sends commands faster than the default 5 per 10 s allows.
        ("RATE_LIMIT_COMMANDS", "20".into()),
    ];
    let mut launcher = Launcher {
        exe,
        dir: dir.path().to_path_buf(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        started: 0,
    };
    println!(
        "encore: {} (SQLite in a temporary folder)",
        launcher.exe.display()
    );
    let mut bot = launcher.spawn()?;
    until("the slash commands", || {
        discord.registered_commands()["global"]
            .as_array()
            .filter(|a| !a.is_empty())
            .map(|a| a.len())
    })
    .await?;
    until("the Lavalink session", || {
        lavalink
            .sessions()
            .iter()
            .any(|s| s.connected)
            .then_some(())
    })
    .await?;
    bot.running()?;
    println!("Encore is connected; Bob is in the voice channel \"Music\".");
    let listening = Listening::start(discord.clone(), lavalink.clone());

    run(
        &discord,
        "play",
        json!({"query": "never gonna give you up"}),
    )
    .await?;
    show_player(&lavalink);
    run(&discord, "play", json!({"query": "bohemian rhapsody"})).await?;
    run(&discord, "queue", json!({})).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    show_player(&lavalink);
    run(&discord, "skip", json!({})).await?;
    show_player(&lavalink);
    run(&discord, "pause", json!({})).await?;
    show_player(&lavalink);
    run(&discord, "nowplaying", json!({})).await?;
    run(&discord, "resume", json!({})).await?;
    tokio::time::sleep(PLAY_BETWEEN).await;
    show_player(&lavalink);

    println!(
        "\nNow the bot restarts three times mid-track. Listeners hear the fake Lavalink's player \
         while it plays over the bot's voice session on the fake Discord; when Discord ends that \
         session, the demo closes Lavalink's voice connection (4014) as Discord does."
    );
    let mut wrong = Vec::new();
    for (n, how) in [Restart::Graceful, Restart::Kill, Restart::KillAndLavalink]
        .into_iter()
        .enumerate()
    {
        let ok = restart(
            how,
            n + 1,
            &mut bot,
            &mut launcher,
            &lavalink,
            &discord,
            &listening,
        )
        .await?;
        if !ok {
            wrong.push(n + 1);
        }
    }

    println!(
        "\nop 4 voice joins sent by the bot: {}",
        discord
            .gateway_sent()
            .iter()
            .filter(|s| s.payload["op"] == 4)
            .count()
    );
    bot.terminate().await?;
    match wrong.as_slice() {
        [] => Ok(()),
        [n] => Err(format!("restart {n} did not come back where the music stopped").into()),
        _ => Err(format!("restarts {wrong:?} did not come back where the music stopped").into()),
    }
}
