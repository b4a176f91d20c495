//! The real `encore` binary against the fake Discord and the fake Lavalink: a [`Rig`] holds both
//! fakes and a store, [`Rig::spawn`] starts a [`Bot`] on them; plus the saved players, small
//! servers and log checks the restart and operations tests build on.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use encore::domain::{now_ms, GuildConfig, PlayerSnapshot, PlayerState, QueueSnapshot, Track};
use encore::store::{SaveOp, StateStore};
use encore_fakes::discord::{
    ChannelKind, ChannelSpec, FakeDiscord, FakeDiscordConfig, GuildSpec, MemberSpec,
};
use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig};
use serde_json::{json, Value};

use super::{eventually, full, mongo_store, mongo_uri, sqlite_at, unique_db};
use super::{BOB, BOT, GUILD, TEXT, TOKEN};

/// The binary in an empty folder, with a clean environment holding only `vars`.
pub fn encore(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_encore"));
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--config-dir", "config"])
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

/// Where a test's bots keep their state.
#[derive(Clone)]
pub enum Storage {
    Sqlite(PathBuf),
    Mongo { uri: String, db: String },
}

impl Storage {
    fn env(&self) -> Vec<(String, String)> {
        match self {
            Storage::Sqlite(p) => vec![
                ("STORAGE".into(), "sqlite".into()),
                ("SQLITE_PATH".into(), p.display().to_string()),
                ("BACKUP_INTERVAL".into(), "off".into()),
            ],
            Storage::Mongo { uri, db } => vec![
                ("STORAGE".into(), "mongodb".into()),
                ("MONGODB_URI".into(), uri.clone()),
                ("MONGODB_DATABASE".into(), db.clone()),
            ],
        }
    }

    pub async fn open(&self) -> Arc<dyn StateStore> {
        match self {
            Storage::Sqlite(p) => Arc::new(sqlite_at(p)),
            Storage::Mongo { uri, db } => Arc::new(mongo_store(uri, db).await),
        }
    }
}

/// The two fakes and a store, shared by the bots a test starts one after another (or together).
pub struct Rig {
    pub discord: FakeDiscord,
    pub lavalink: FakeLavalink,
    pub dir: tempfile::TempDir,
    pub storage: Storage,
    started: std::sync::atomic::AtomicUsize,
}

pub struct Bot {
    child: Child,
    pub log: PathBuf,
}

impl Bot {
    /// SIGTERM, as Render sends; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        signal(&self.child, "-TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit code, once it has exited.
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child.try_wait().unwrap().and_then(|s| s.code())
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

impl Rig {
    pub async fn new(guilds: Vec<GuildSpec>, storage: Option<Storage>) -> Rig {
        Rig::with_shards(guilds, storage, 1).await
    }

    /// A rig whose fake Lavalink sends `playerUpdate` every `interval` (Lavalink's default, as
    /// shipped in `config/lavalink`, is 5 s; other rigs use 500 ms).
    pub async fn with_player_updates(guilds: Vec<GuildSpec>, interval: Duration) -> Rig {
        Rig::build(guilds, None, 1, interval).await
    }

    /// A rig whose fake Discord tells the bot to run `shard_count` shards.
    pub async fn with_shards(
        guilds: Vec<GuildSpec>,
        storage: Option<Storage>,
        shard_count: u64,
    ) -> Rig {
        Rig::build(guilds, storage, shard_count, Duration::from_millis(500)).await
    }

    async fn build(
        guilds: Vec<GuildSpec>,
        storage: Option<Storage>,
        shard_count: u64,
        player_update_interval: Duration,
    ) -> Rig {
        let discord = FakeDiscord::start(FakeDiscordConfig {
            token: TOKEN.into(),
            bot_user_id: BOT,
            application_id: BOT,
            shard_count,
            ..FakeDiscordConfig::default()
        })
        .await
        .unwrap();
        for g in guilds {
            discord.add_guild(g).unwrap();
        }
        let lavalink = FakeLavalink::start(FakeLavalinkConfig {
            player_update_interval,
            ..FakeLavalinkConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let storage = storage.unwrap_or_else(|| Storage::Sqlite(dir.path().join("encore.db")));
        Rig {
            discord,
            lavalink,
            dir,
            storage,
            started: Default::default(),
        }
    }

    /// A fresh MongoDB database, when a server is configured (scripts/test.sh starts one).
    pub fn mongo_storage() -> Option<Storage> {
        Some(Storage::Mongo {
            uri: mongo_uri()?,
            db: unique_db(),
        })
    }

    /// Starts the real binary with the ordinary settings, plus `extra`.
    pub fn spawn(&self, extra: &[(&str, &str)]) -> Bot {
        let n = self
            .started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let log = self.dir.path().join(format!("bot-{n}.log"));
        let nodes = format!("127.0.0.1:{}", self.lavalink.port());
        let mut vars: Vec<(String, String)> = vec![
            ("DISCORD_TOKEN".into(), TOKEN.into()),
            ("DISCORD_API_BASE".into(), self.discord.base_url()),
            ("LAVALINK_NODES".into(), nodes),
            ("LAVALINK_PASSWORD".into(), self.lavalink.password().into()),
            ("LOG_FORMAT".into(), "json".into()),
            ("LOG_LEVEL".into(), "encore=debug,info".into()),
            ("LEASE_TTL".into(), "3s".into()),
        ];
        vars.extend(self.storage.env());
        for (k, v) in extra {
            vars.retain(|(key, _)| key != k);
            vars.push((k.to_string(), v.to_string()));
        }
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut c = encore(self.dir.path(), &[], &vars);
        c.stdout(Stdio::null()).stderr(File::create(&log).unwrap());
        Bot {
            child: c.spawn().unwrap(),
            log,
        }
    }

    /// The fake Lavalink's player of `guild` on a connected session, if any.
    pub fn player(&self, guild: u64) -> Option<encore_fakes::lavalink::PlayerSnapshot> {
        let live: Vec<String> = self
            .lavalink
            .sessions()
            .into_iter()
            .filter(|s| s.connected)
            .map(|s| s.session_id)
            .collect();
        self.lavalink
            .players()
            .into_iter()
            .find(|p| p.guild_id == guild.to_string() && live.contains(&p.session_id))
    }

    /// Player updates sent for `guild`, in order.
    pub fn patches(&self, guild: u64) -> Vec<Value> {
        let path = format!("/players/{guild}");
        self.lavalink
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with(&path))
            .filter_map(|r| r.body)
            .collect()
    }
}

/// A track of the fake's catalogue, as the bot saves it.
pub fn catalogue_track(lavalink: &FakeLavalink, min_length_ms: u64, nth: usize) -> Track {
    let t = lavalink
        .tracks()
        .into_iter()
        .filter(|t| !t.info.is_stream && t.info.length >= min_length_ms)
        .nth(nth)
        .expect("a long enough track in the catalogue");
    Track {
        encoded: t.encoded,
        title: t.info.title,
        author: t.info.author,
        uri: t.info.uri,
        length_ms: Some(t.info.length),
        is_stream: false,
        is_seekable: true,
        requester: Some(BOB),
        start_ms: None,
        autoplay: false,
    }
}

/// A saved player of `guild`, playing `current` at `position_ms` as of now.
pub fn saved(
    guild: u64,
    voice: u64,
    text: u64,
    current: Track,
    upcoming: Vec<Track>,
    position_ms: u64,
    paused: bool,
) -> PlayerSnapshot {
    let now = now_ms();
    let mut s = PlayerState::new(guild);
    s.voice_channel_id = Some(voice);
    s.text_channel_id = Some(text);
    s.position_ms = position_ms;
    s.position_at_ms = now;
    s.taken_at_ms = now;
    s.paused = paused;
    PlayerSnapshot::new(
        s,
        QueueSnapshot {
            current: Some(current),
            upcoming: upcoming.into(),
            history: Default::default(),
        },
    )
}

/// A saved player of the small server `n` (see [`small_guild`]).
pub fn saved_small(
    n: u64,
    current: &Track,
    upcoming: Vec<Track>,
    position_ms: u64,
    paused: bool,
) -> PlayerSnapshot {
    let g = small_guild_id(n);
    saved(
        g,
        voice_of(g),
        text_of(g),
        current.clone(),
        upcoming,
        position_ms,
        paused,
    )
}

/// The first player update that gave `guild` a voice state (the restore), once it comes.
pub async fn restored(rig: &Rig, guild: u64) -> Value {
    eventually("the restored player", Duration::from_secs(20), || {
        rig.patches(guild)
            .into_iter()
            .find(|b| b.get("voice").is_some())
    })
    .await
}

/// A small server: a text channel, a voice channel, `listeners` people in it.
pub fn small_guild(n: u64, listeners: usize) -> GuildSpec {
    let id = small_guild_id(n);
    let channel = ChannelSpec::new;
    let members: Vec<MemberSpec> = (0..listeners as u64)
        .map(|i| MemberSpec {
            user_id: 700_000_000_000_000_000 + n * 100 + i,
            username: format!("listener-{n}-{i}"),
            roles: vec![],
        })
        .collect();
    GuildSpec {
        id,
        name: format!("Server {n}"),
        owner_id: 700_000_000_000_000_000 + n * 100,
        channels: vec![
            channel(text_of(id), "general", ChannelKind::Text),
            channel(voice_of(id), "Music", ChannelKind::Voice),
        ],
        roles: vec![],
        voice_states: members.iter().map(|m| (m.user_id, voice_of(id))).collect(),
        members,
    }
}

/// Guild ids spread over time like real snowflakes (shard 0 of 1).
pub fn small_guild_id(n: u64) -> u64 {
    (1_000_000 + n) << 22 | 7
}

pub fn text_of(guild: u64) -> u64 {
    guild + 1
}

pub fn voice_of(guild: u64) -> u64 {
    guild + 2
}

pub fn log_has(bot: &Bot, needle: &str) -> bool {
    bot.log_text().contains(needle)
}

/// The messages the bot posted in `channel`.
pub fn posted(rig: &Rig, channel: u64) -> Vec<String> {
    rig.discord
        .messages(channel)
        .into_iter()
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect()
}

/// Once `bot` is up and owns the lease, bob asks it to `/play` `query` in [`GUILD`]; returns when
/// it plays and the command is answered.
pub async fn play_through_the_bot(rig: &Rig, bot: &Bot, query: &str) {
    eventually("commands registered", Duration::from_secs(60), || {
        rig.discord.registered_commands()["global"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            .then_some(())
    })
    .await;
    eventually("the bot owns the lease", Duration::from_secs(30), || {
        log_has(bot, "this instance owns the lease").then_some(())
    })
    .await;
    let inj = rig
        .discord
        .inject_command(GUILD, TEXT, BOB, "play", json!({ "query": query }))
        .unwrap();
    eventually("playing", Duration::from_secs(20), || {
        rig.player(GUILD).filter(|p| p.playing).map(|_| ())
    })
    .await;
    eventually("the /play answer", Duration::from_secs(5), || {
        rig.discord.interaction_responses(&inj.id)?.callback
    })
    .await;
}

/// Seeds saved players straight into the store (as a previous run would have left them).
pub async fn seed(rig: &Rig, players: &[PlayerSnapshot], configs: &[GuildConfig]) {
    let store = rig.storage.open().await;
    let ops: Vec<SaveOp> = players.iter().map(full).collect();
    store.save(&ops).await.unwrap();
    for c in configs {
        store.save_guild_config(c).await.unwrap();
    }
}

/// The `/interactions/{id}/{token}/callback` calls the bot made for `id`.
pub fn callbacks(rig: &Rig, id: &str) -> usize {
    let prefix = format!("/api/v10/interactions/{id}/");
    rig.discord
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "POST" && r.path.starts_with(&prefix) && r.path.ends_with("/callback")
        })
        .count()
}

/// Connections that sent op 4, in the order of their op 4s.
pub fn voice_senders(rig: &Rig) -> Vec<u64> {
    rig.discord
        .gateway_sent()
        .into_iter()
        .filter(|s| s.payload["op"] == 4)
        .map(|s| s.connection)
        .collect()
}

/// Waits until every one of `guilds` plays.
pub async fn every_guild_playing(rig: &Rig, guilds: &[u64], within: Duration) {
    eventually("every guild playing again", within, || {
        guilds
            .iter()
            .all(|g| rig.player(*g).is_some_and(|p| p.playing))
            .then_some(())
    })
    .await;
}

/// Bob's `/name` with `options` in [`TEXT`] of [`GUILD`]; returns the interaction's id.
pub fn bob_command(rig: &Rig, name: &str, options: Value) -> String {
    rig.discord
        .inject_command(GUILD, TEXT, BOB, name, options)
        .unwrap()
        .id
}

/// The bot's answer (callback) to the interaction `id`, once it comes.
pub async fn answered(rig: &Rig, id: &str) -> Value {
    eventually("an answer", Duration::from_secs(10), || {
        rig.discord.interaction_responses(id)?.callback
    })
    .await
}
