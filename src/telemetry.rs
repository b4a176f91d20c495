//! Logging set-up: `LOG_FORMAT` pretty or json, `LOG_LEVEL` as a tracing filter, to stderr
//! (coloured only when stderr is a terminal: a platform's log viewer gets plain text).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::discord::shard_refusals::ShardRefusals;

use crate::settings::LogFormat;

/// Colours only on a terminal, and not when `NO_COLOR` is set (no-color.org).
fn colours() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// serenity's shard queuer logs every failed gateway connection attempt (one every 5 s while
/// Discord is down); Encore logs the outage once instead (`discord::Link`). Added to `LOG_LEVEL`
/// unless it names serenity itself.
const QUIET: &str = "serenity::gateway::bridge::shard_queuer=error";

/// `LOG_LEVEL` as a filter, with [`QUIET`] unless it names serenity.
fn filter(level: &str) -> String {
    if level.contains("serenity") {
        level.to_string()
    } else {
        format!("{level},{QUIET}")
    }
}

/// Installs the global subscriber: the log lines (filtered by `LOG_LEVEL`) and
/// [`ShardRefusals`], which sees serenity's gateway events whatever the level. Calling it twice
/// is harmless (the second call does nothing).
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(filter(level))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET}")));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colours());
    let lines = match format {
        LogFormat::Json => lines.json().flatten_event(true).boxed(),
        LogFormat::Pretty => lines.with_target(false).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(ShardRefusals)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serenitys_per_attempt_gateway_lines_are_quiet_unless_asked_for() {
        assert_eq!(
            filter("info"),
            "info,serenity::gateway::bridge::shard_queuer=error"
        );
        assert!(EnvFilter::try_new(filter("encore=debug,info")).is_ok());
        assert_eq!(filter("info,serenity=debug"), "info,serenity=debug");
    }
}
