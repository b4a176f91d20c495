//! What the benchmarks share: the fake bot's credentials, a server with one listener in voice,
//! the real `encore` binary started against the fakes, waiting for a condition, and reading the
//! bot's JSON log. Each benchmark uses a part of it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use encore_fakes::discord::{
    ChannelKind, ChannelSpec, FakeDiscord, FakeDiscordConfig, GuildSpec, MemberSpec,
};
use encore_fakes::lavalink::FakeLavalink;

/// The token the fake Discord accepts for [`BOT`].
pub const TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.fake.discord-token-for-bench";
pub const BOT: u64 = 1_100_000_000_000_000_001;

/// A server `id` called `name`: a text channel `text`, a voice channel `voice`, and one member,
/// `listener`, in that voice channel.
pub fn listener_guild(id: u64, name: &str, text: u64, voice: u64, listener: u64) -> GuildSpec {
    let channel = ChannelSpec::new;
    GuildSpec {
        id,
        name: name.into(),
        owner_id: listener,
        channels: vec![
            channel(text, "general", ChannelKind::Text),
            channel(voice, "Music", ChannelKind::Voice),
        ],
        roles: vec![],
        members: vec![MemberSpec {
            user_id: listener,
            username: format!("listener-{listener}"),
            roles: vec![],
        }],
        voice_states: vec![(listener, voice)],
    }
}

/// The fake Discord on loopback, knowing the bot [`BOT`] by [`TOKEN`], with `guilds`.
pub async fn fake_discord(guilds: impl IntoIterator<Item = GuildSpec>) -> FakeDiscord {
    let discord = FakeDiscord::start(FakeDiscordConfig {
        token: TOKEN.into(),
        bot_user_id: BOT,
        application_id: BOT,
        ..FakeDiscordConfig::default()
    })
    .await
    .unwrap();
    for g in guilds {
        discord.add_guild(g).unwrap();
    }
    discord
}

/// Now, in Unix µs.
pub fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Polls `f` every 5 ms until it gives a value; panics naming `what` after `within`.
pub async fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A running `encore` process, killed when dropped.
pub struct Bot {
    pub child: Child,
    /// Its JSON log (stderr).
    pub log: PathBuf,
    /// Just before `Command::spawn`, Unix µs.
    pub spawned_us: u64,
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts numbered `encore` processes sharing one directory (their SQLite file and logs).
pub struct Launcher {
    pub dir: tempfile::TempDir,
    started: usize,
}

impl Launcher {
    pub fn new(dir: tempfile::TempDir) -> Launcher {
        Launcher { dir, started: 0 }
    }

    /// The next process, against `discord` and `lavalink`, with the `extra` settings.
    pub fn spawn(
        &mut self,
        discord: &FakeDiscord,
        lavalink: &FakeLavalink,
        extra: &[(&str, &str)],
    ) -> Bot {
        self.started += 1;
        spawn_encore(self.dir.path(), self.started, discord, lavalink, extra)
    }
}

/// Starts the real `encore` binary in `dir` against the fakes, with SQLite in `dir`, no
/// backups, JSON logs to `dir/bot-<n>.log`, `LOG_LEVEL` as the benchmark's environment sets it,
/// and the `extra` settings.
fn spawn_encore(
    dir: &Path,
    n: usize,
    discord: &FakeDiscord,
    lavalink: &FakeLavalink,
    extra: &[(&str, &str)],
) -> Bot {
    let log = dir.join(format!("bot-{n}.log"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_encore"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--config-dir", "config"])
        .env("DISCORD_TOKEN", TOKEN)
        .env("DISCORD_API_BASE", discord.base_url())
        .env("LAVALINK_NODES", format!("127.0.0.1:{}", lavalink.port()))
        .env("LAVALINK_PASSWORD", lavalink.password())
        .env("SQLITE_PATH", dir.join("encore.db"))
        .env("BACKUP_INTERVAL", "off")
        .env("LOG_FORMAT", "json");
    if let Ok(filter) = std::env::var("LOG_LEVEL") {
        command.env("LOG_LEVEL", filter);
    }
    for (k, v) in extra {
        command.env(k, v);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let spawned_us = unix_us();
    let child = command.spawn().unwrap();
    Bot {
        child,
        log,
        spawned_us,
    }
}

/// When the bot first logged a line containing `needle`, in Unix µs.
pub fn logged_at(bot: &Bot, needle: &str) -> Option<u64> {
    let text = std::fs::read_to_string(&bot.log).ok()?;
    let line = text.lines().find(|l| l.contains(needle))?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let t = humantime::parse_rfc3339_weak(v["timestamp"].as_str()?).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_micros() as u64)
}
