//! Logging set-up: `LOG_FORMAT` pretty or json, `LOG_LEVEL` as a tracing filter, to stderr
//! (coloured only when stderr is a terminal: a platform's log viewer gets plain text).

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Colours only on a terminal, and not when `NO_COLOR` is set (no-color.org).
fn colours() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber. Calling it twice is harmless (the second call does nothing).
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colours());
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.with_target(false).try_init(),
    };
}
