//! Logging set-up: `LOG_FORMAT` pretty or json, `LOG_LEVEL` as a tracing filter, to stderr
//! (coloured only when stderr is a terminal: a platform's log viewer gets plain text).

use tracing_subscriber::EnvFilter;

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

/// Installs the global subscriber. Calling it twice is harmless (the second call does nothing).
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(filter(level))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colours());
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.with_target(false).try_init(),
    };
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
