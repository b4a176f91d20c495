//! Runs the fake Lavalink v4 node from `encore-fakes` on its own, for local runs and
//! for scripts in any language (see docs/testing.md).
//!
//! ```text
//! cargo run --example fake_lavalink -- --port 2333 --password youshallnotpass \
//!     [--player-update-interval 5s] [--stats-interval 60s] [--version 4.2.0] \
//!     [--plugins all|none|youtube,lavasrc,lavasearch,lavalyrics] \
//!     [--lavasrc-sources all|none|spotify,applemusic,deezer]
//! ```
//!
//! Prints `fake lavalink listening on http://127.0.0.1:PORT` once it accepts
//! connections; Ctrl-C (or SIGTERM) stops it.

use std::process::ExitCode;
use std::time::Duration;

use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig, LavaSrcSources, Plugins};

const USAGE: &str = "usage: fake_lavalink [--port N] [--password P] \
[--player-update-interval DURATION] [--stats-interval DURATION] [--version V] [--plugins PLUGINS]
[--lavasrc-sources SOURCES]
DURATION: 5s, 200ms, 1m (humantime) or a number of milliseconds
PLUGINS: all (default), none, or a comma list of youtube, lavasrc, lavasearch, lavalyrics
SOURCES (LavaSrc's, with credentials): all (default), none, or a comma list of spotify,
applemusic, deezer";

/// `all`, `none` or a comma list of LavaSrc source names.
fn lavasrc_sources(value: &str) -> Result<LavaSrcSources, String> {
    match value {
        "all" => return Ok(LavaSrcSources::all()),
        "none" => return Ok(LavaSrcSources::none()),
        _ => {}
    }
    let mut s = LavaSrcSources::none();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "spotify" => s.spotify = true,
            "applemusic" => s.applemusic = true,
            "deezer" => s.deezer = true,
            other => return Err(format!("unknown LavaSrc source {other:?}\n{USAGE}")),
        }
    }
    Ok(s)
}

/// `all`, `none` or a comma list of plugin names.
fn plugins(value: &str) -> Result<Plugins, String> {
    match value {
        "all" => return Ok(Plugins::all()),
        "none" => return Ok(Plugins::none()),
        _ => {}
    }
    let mut p = Plugins::none();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "youtube" => p.youtube = true,
            "lavasrc" => p.lavasrc = true,
            "lavasearch" => p.lavasearch = true,
            "lavalyrics" => p.lavalyrics = true,
            other => return Err(format!("unknown plugin {other:?}\n{USAGE}")),
        }
    }
    Ok(p)
}

fn duration(value: &str) -> Result<Duration, String> {
    if let Ok(ms) = value.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    humantime::parse_duration(value).map_err(|e| format!("bad duration {value:?}: {e}"))
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<FakeLavalinkConfig, String> {
    let mut config = FakeLavalinkConfig {
        port: 2333,
        ..FakeLavalinkConfig::default()
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        const FLAGS: [&str; 7] = [
            "--port",
            "--password",
            "--player-update-interval",
            "--stats-interval",
            "--version",
            "--plugins",
            "--lavasrc-sources",
        ];
        if !FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown argument {flag:?}\n{USAGE}"));
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?,
        };
        match flag.as_str() {
            "--port" => {
                config.port = value
                    .parse()
                    .map_err(|_| format!("bad port {value:?}\n{USAGE}"))?
            }
            "--password" => config.password = value,
            "--player-update-interval" => config.player_update_interval = duration(&value)?,
            "--stats-interval" => config.stats_interval = duration(&value)?,
            "--version" => config.version = value,
            "--plugins" => config.plugins = plugins(&value)?,
            "--lavasrc-sources" => config.lavasrc_sources = lavasrc_sources(&value)?,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(config)
}

async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let update = config.player_update_interval;
    let running = (config.plugins, config.lavasrc_sources);
    let fake = match FakeLavalink::start(config).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake lavalink: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("fake lavalink listening on {}", fake.base_url());
    println!(
        "websocket {} (playerUpdate every {update:?}); plugins and LavaSrc sources {running:?}",
        fake.websocket_url()
    );
    stopped().await;
    fake.shutdown().await;
    println!("fake lavalink stopped");
    ExitCode::SUCCESS
}
