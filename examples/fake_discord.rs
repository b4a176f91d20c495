//! Runs the fake Discord (API v10 + gateway) from `encore-fakes` on its own, for local
//! runs and for scripts in any language (see docs/testing-discord.md).
//!
//! ```text
//! cargo run --example fake_discord -- --port 8080 --token <token> \
//!     [--bot-user-id ID] [--application-id ID] [--bot-name NAME] [--shards N] \
//!     [--heartbeat-interval DURATION]
//! ```
//!
//! Prints the base URL and the gateway URL once it accepts connections; Ctrl-C (or
//! SIGTERM) stops it.

use std::process::ExitCode;
use std::time::Duration;

use encore_fakes::discord::{FakeDiscord, FakeDiscordConfig};

const USAGE: &str = "usage: fake_discord [--port N] [--token T] [--bot-user-id ID] \
[--application-id ID] [--bot-name NAME] [--shards N] [--heartbeat-interval DURATION]
DURATION: 41250ms, 5s (humantime) or a number of milliseconds";

fn duration(value: &str) -> Result<Duration, String> {
    if let Ok(ms) = value.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    humantime::parse_duration(value).map_err(|e| format!("bad duration {value:?}: {e}"))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("bad value {value:?} for {flag}\n{USAGE}"))
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<FakeDiscordConfig, String> {
    let mut config = FakeDiscordConfig {
        port: 8080,
        ..FakeDiscordConfig::default()
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
            "--token",
            "--bot-user-id",
            "--application-id",
            "--bot-name",
            "--shards",
            "--heartbeat-interval",
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
            "--port" => config.port = number(&flag, &value)?,
            "--token" => config.token = value,
            "--bot-user-id" => config.bot_user_id = number(&flag, &value)?,
            "--application-id" => config.application_id = number(&flag, &value)?,
            "--bot-name" => config.bot_name = value,
            "--shards" => config.shard_count = number(&flag, &value)?,
            "--heartbeat-interval" => config.heartbeat_interval = duration(&value)?,
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
    let fake = match FakeDiscord::start(config).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake discord: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("fake discord listening on {}", fake.base_url());
    println!("rest api {}/api/v10", fake.base_url());
    println!("gateway {}", fake.gateway_url());
    println!("control {}/control", fake.base_url());
    stopped().await;
    fake.shutdown().await;
    println!("fake discord stopped");
    ExitCode::SUCCESS
}
