//! Watch Encore work with no Discord account: `cargo run --example demo`.
//!
//! Starts the fake Discord and the fake Lavalink on loopback, runs the real bot against them
//! (configured through its ordinary settings, as an operator would), plays a short scripted
//! session — join, play, queue, skip, pause — and prints what happened.

use std::time::{Duration, Instant};

use encore::settings::{RawSettings, Settings};
use encore_fakes::discord::{
    ChannelKind, ChannelSpec, FakeDiscord, FakeDiscordConfig, GuildSpec, MemberSpec,
};
use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig};
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;

const TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.demo.not-a-real-token";
const BOT: u64 = 1_100_000_000_000_000_001;
const GUILD: u64 = 817_327_181_659_111_454;
const TEXT: u64 = 900_000_000_000_000_001;
const VOICE: u64 = 900_000_000_000_000_002;
const BOB: u64 = 500_000_000_000_000_002;

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
            "   lavalink: {} at {:.1} s, {}, volume {}",
            p.track
                .map(|t| t.info.title)
                .unwrap_or_else(|| "no track".into()),
            p.position as f64 / 1000.0,
            if p.paused { "paused" } else { "playing" },
            p.volume
        ),
        None => println!("   lavalink: no player"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let discord = FakeDiscord::start(FakeDiscordConfig {
        token: TOKEN.into(),
        bot_user_id: BOT,
        application_id: BOT,
        bot_name: "Encore".into(),
        ..FakeDiscordConfig::default()
    })
    .await?;
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
    let lavalink = FakeLavalink::start(FakeLavalinkConfig {
        player_update_interval: Duration::from_secs(1),
        ..FakeLavalinkConfig::default()
    })
    .await?;
    println!("fake Discord on {}", discord.base_url());
    println!("fake Lavalink on {}", lavalink.base_url());

    // The bot is configured exactly as an operator would configure it.
    let mut raw = RawSettings::default();
    let base = discord.base_url();
    let nodes = format!("127.0.0.1:{}", lavalink.port());
    raw.layer_env([
        ("DISCORD_TOKEN", TOKEN),
        ("DISCORD_API_BASE", base.as_str()),
        ("LAVALINK_NODES", nodes.as_str()),
        ("LAVALINK_PASSWORD", lavalink.password()),
        ("STORAGE", "memory"),
        // One scripted user sends commands faster than the default 5 per 10 s allows.
        ("RATE_LIMIT_COMMANDS", "20"),
    ]);
    let settings = Settings::from_raw(&raw)?;
    let app = encore::app::Application::build(settings).await?;
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
    println!("Encore is connected; Bob is in the voice channel \"Music\".");

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

    println!(
        "\nop 4 voice joins sent by the bot: {}",
        discord
            .gateway_sent()
            .iter()
            .filter(|s| s.payload["op"] == 4)
            .count()
    );
    app.stop().await;
    println!("done.");
    Ok(())
}
