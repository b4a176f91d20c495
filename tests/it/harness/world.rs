//! The bot in process: the real serenity/poise/songbird code built by
//! `encore::app::Application::build`, configured only through its settings, against the fake
//! Discord and the fake Lavalink on loopback. Also the server every Discord test uses
//! ([`guild_spec`]) and its ids.

use std::sync::Arc;
use std::time::Duration;

use encore::settings::{RawSettings, Settings};
use encore::store::StateStore;
use encore_fakes::discord::{
    ChannelKind, ChannelSpec, FakeDiscord, FakeDiscordConfig, GuildSpec, MemberSpec, Overwrite,
    RoleSpec,
};
use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig};
use serde_json::Value;

use super::{eventually, Proxy};

/// The bot's token and the test server's ids.
pub const TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.fake.discord-token-for-tests";
pub const BOT: u64 = 1_100_000_000_000_000_001;
pub const GUILD: u64 = 817_327_181_659_111_454;
pub const TEXT: u64 = 900_000_000_000_000_001;
pub const VOICE: u64 = 900_000_000_000_000_002;
pub const OTHER_VOICE: u64 = 900_000_000_000_000_004;
/// A voice channel where the bot may connect but not speak.
pub const MUTED_VOICE: u64 = 900_000_000_000_000_007;
/// A text channel where the bot may not send messages.
pub const LOCKED_TEXT: u64 = 900_000_000_000_000_006;
/// A voice channel where the bot is denied Connect.
pub const LOCKED_VOICE: u64 = 900_000_000_000_000_005;
/// The owner (Manage Server).
pub const ALICE: u64 = 500_000_000_000_000_001;
pub const BOB: u64 = 500_000_000_000_000_002;
/// Has the DJ role.
pub const CAROL: u64 = 500_000_000_000_000_003;
pub const DJ_ROLE: u64 = 600_000_000_000_000_001;
/// Members with no role, out of voice until a test moves them in.
pub const DAN: u64 = 500_000_000_000_000_004;
pub const ERIN: u64 = 500_000_000_000_000_005;
pub const FRANK: u64 = 500_000_000_000_000_006;
/// How long the Discord tests wait for anything.
pub const WAIT: Duration = Duration::from_secs(30);

/// The bot in process with its two fakes; [`World::stop`] shuts the bot down.
pub struct World {
    pub discord: FakeDiscord,
    pub lavalink: FakeLavalink,
    app: Option<encore::app::Application>,
    pub store: Arc<dyn StateStore>,
}

impl World {
    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
    }
}

/// The server of the Discord tests: text and voice channels (some the bot may not use), alice
/// (the owner), bob, and carol with the DJ role; bob and carol are in [`VOICE`].
pub fn guild_spec() -> GuildSpec {
    let channel = ChannelSpec::new;
    GuildSpec {
        id: GUILD,
        name: "Encore HQ".into(),
        owner_id: ALICE,
        channels: vec![
            channel(TEXT, "general", ChannelKind::Text),
            channel(VOICE, "Music", ChannelKind::Voice),
            channel(OTHER_VOICE, "Lounge", ChannelKind::Voice),
            ChannelSpec {
                permission_overwrites: vec![Overwrite {
                    id: BOT,
                    kind: 1,
                    allow: "0".into(),
                    deny: (1u64 << 20).to_string(),
                }],
                ..channel(LOCKED_VOICE, "Staff", ChannelKind::Voice)
            },
            ChannelSpec {
                permission_overwrites: vec![Overwrite {
                    id: BOT,
                    kind: 1,
                    allow: "0".into(),
                    deny: (1u64 << 11).to_string(),
                }],
                ..channel(LOCKED_TEXT, "read-only", ChannelKind::Text)
            },
            ChannelSpec {
                permission_overwrites: vec![Overwrite {
                    id: BOT,
                    kind: 1,
                    allow: "0".into(),
                    deny: (1u64 << 21).to_string(),
                }],
                ..channel(MUTED_VOICE, "Stage-ish", ChannelKind::Voice)
            },
        ],
        roles: vec![RoleSpec {
            id: DJ_ROLE,
            name: "DJ".into(),
            permissions: "0".into(),
        }],
        members: vec![
            MemberSpec {
                user_id: ALICE,
                username: "alice".into(),
                roles: vec![],
            },
            MemberSpec {
                user_id: BOB,
                username: "bob".into(),
                roles: vec![],
            },
            MemberSpec {
                user_id: CAROL,
                username: "carol".into(),
                roles: vec![DJ_ROLE],
            },
            MemberSpec {
                user_id: DAN,
                username: "dan".into(),
                roles: vec![],
            },
            MemberSpec {
                user_id: ERIN,
                username: "erin".into(),
                roles: vec![],
            },
            MemberSpec {
                user_id: FRANK,
                username: "frank".into(),
                roles: vec![],
            },
        ],
        voice_states: vec![(BOB, VOICE), (CAROL, VOICE)],
    }
}

/// The bot with the ordinary settings (memory store), once its commands are registered and its
/// Lavalink node connected.
pub async fn world() -> World {
    world_with(&[]).await
}

/// Like [`world`], with `extra` settings on top.
pub async fn world_with(extra: &[(&str, &str)]) -> World {
    world_with_nodes(extra, &[]).await
}

/// Like [`world_with`], with more Lavalink nodes (their ports) after the world's own.
pub async fn world_with_nodes(extra: &[(&str, &str)], more_nodes: &[u16]) -> World {
    build_world(extra, more_nodes, false).await.0
}

/// Like [`world_with`], the bot reaching its Lavalink node through a [`Proxy`] (to slow some
/// of its requests down, say).
pub async fn world_behind_proxy(extra: &[(&str, &str)]) -> (World, Proxy) {
    let (w, proxy) = build_world(extra, &[], true).await;
    (w, proxy.expect("a proxy"))
}

async fn build_world(
    extra: &[(&str, &str)],
    more_nodes: &[u16],
    proxied: bool,
) -> (World, Option<Proxy>) {
    let discord = FakeDiscord::start(FakeDiscordConfig {
        token: TOKEN.into(),
        bot_user_id: BOT,
        application_id: BOT,
        ..FakeDiscordConfig::default()
    })
    .await
    .unwrap();
    discord.add_guild(guild_spec()).unwrap();
    let lavalink = FakeLavalink::start(FakeLavalinkConfig {
        player_update_interval: Duration::from_millis(200),
        ..FakeLavalinkConfig::default()
    })
    .await
    .unwrap();
    // Configured only through the ordinary settings.
    let mut raw = RawSettings::default();
    let proxy = if proxied {
        Some(Proxy::start(&format!("127.0.0.1:{}", lavalink.port())).await)
    } else {
        None
    };
    let mut nodes = match &proxy {
        Some(p) => p.addr().to_string(),
        None => format!("127.0.0.1:{}", lavalink.port()),
    };
    for port in more_nodes {
        nodes.push_str(&format!(",127.0.0.1:{port}"));
    }
    let base = discord.base_url();
    raw.layer_env([
        ("DISCORD_TOKEN", TOKEN),
        ("DISCORD_API_BASE", base.as_str()),
        ("LAVALINK_NODES", nodes.as_str()),
        ("LAVALINK_PASSWORD", lavalink.password()),
        ("STORAGE", "memory"),
        ("AUTOSAVE_INTERVAL", "60s"),
    ]);
    raw.layer_env(extra.iter().copied());
    let settings = Settings::from_raw(&raw).unwrap();
    let app = encore::app::Application::build(settings).await.unwrap();
    let store = app.services().store.clone();
    eventually("commands registered", WAIT, || {
        let c = discord.registered_commands();
        c["global"]
            .as_array()
            .is_some_and(|a| a.len() >= 20)
            .then_some(())
    })
    .await;
    eventually("the Lavalink node is connected", WAIT, || {
        lavalink
            .sessions()
            .iter()
            .any(|s| s.connected)
            .then_some(())
    })
    .await;
    (
        World {
            discord,
            lavalink,
            app: Some(app),
            store,
        },
        proxy,
    )
}

/// Injects a command as `user` and returns the reply's content (ephemeral flag included).
pub async fn command(w: &World, user: u64, name: &str, options: Value) -> (String, bool) {
    command_in(w, TEXT, user, name, options).await
}

/// Like [`command`], from the text channel `channel`.
pub async fn command_in(
    w: &World,
    channel: u64,
    user: u64,
    name: &str,
    options: Value,
) -> (String, bool) {
    let inj = w
        .discord
        .inject_command(GUILD, channel, user, name, options)
        .unwrap();
    let answered = |m: &Value| {
        m["content"].as_str().is_some_and(|c| !c.is_empty())
            || m["embeds"].as_array().is_some_and(|e| !e.is_empty())
    };
    // The original response, or (after a deferral that ended in a refusal) a follow-up.
    let message = eventually(&format!("/{name} answered"), WAIT, || {
        let r = w.discord.interaction_responses(&inj.id)?;
        r.original
            .filter(answered)
            .or_else(|| r.followups.last().cloned().filter(answered))
    })
    .await;
    let flags = message["flags"].as_u64().unwrap_or(0);
    let content = match message["content"].as_str() {
        Some(c) if !c.is_empty() => c.to_string(),
        _ => message["embeds"][0]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    (content, flags & 64 != 0)
}

/// The value Discord sends for the choice `name` of `command`'s first option, as registered.
pub fn choice(discord: &FakeDiscord, command: &str, name: &str) -> Value {
    choice_in(discord, command, None, name)
}

/// The value Discord sends for the choice `name` of `command`'s option `option`.
pub fn choice_of(discord: &FakeDiscord, command: &str, option: &str, name: &str) -> Value {
    choice_in(discord, command, Some(option), name)
}

fn choice_in(discord: &FakeDiscord, command: &str, option: Option<&str>, name: &str) -> Value {
    let commands = discord.registered_commands()["global"].clone();
    let options = commands
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == command)
        .and_then(|c| c["options"].as_array().cloned())
        .unwrap();
    let option = match option {
        Some(o) => options.into_iter().find(|x| x["name"] == o).unwrap(),
        None => options.into_iter().next().unwrap(),
    };
    option["choices"]
        .as_array()
        .cloned()
        .unwrap()
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap()["value"]
        .clone()
}
