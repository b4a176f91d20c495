//! Parsers of setting values: durations, booleans, bounded numbers, Lavalink nodes, shard ids and
//! URLs. Each returns `None` for a value it cannot read.

use std::time::Duration;

use super::LavalinkNode;

/// Parses a human duration (`10s`, `5m`, `1h 30m`, `250ms`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim()).ok()
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub(super) fn bounded_duration(min: Duration, max: Duration) -> impl Fn(&str) -> Option<Duration> {
    move |t| parse_duration(t).filter(|d| *d >= min && *d <= max)
}

pub(super) fn bounded_usize(min: usize, max: usize) -> impl Fn(&str) -> Option<usize> {
    move |t| {
        t.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
    }
}

/// Parses one `LAVALINK_NODES` entry: `host:port`, `http://host:port` or `https://host:port`
/// (`https`/`wss` mean TLS).
fn parse_node(entry: &str, index: usize) -> Option<LavalinkNode> {
    let entry = entry.trim().trim_end_matches('/');
    let (tls, rest) = if let Some(r) = entry
        .strip_prefix("https://")
        .or(entry.strip_prefix("wss://"))
    {
        (true, r)
    } else if let Some(r) = entry
        .strip_prefix("http://")
        .or(entry.strip_prefix("ws://"))
    {
        (false, r)
    } else {
        (false, entry)
    };
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    valid_host.then(|| LavalinkNode {
        name: format!("node-{}", index + 1),
        host: host.to_string(),
        port,
        tls,
        password: None,
    })
}

pub(super) fn parse_nodes(text: &str) -> Option<Vec<LavalinkNode>> {
    let entries: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() {
        return None;
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| parse_node(e, i))
        .collect()
}

/// `3` or `0-3`.
pub(super) fn parse_shard_ids(text: &str) -> Option<(u32, u32)> {
    let t = text.trim();
    let (a, b) = t.split_once('-').unwrap_or((t, t));
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

pub(super) fn parse_http_base(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches('/');
    let rest = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"))?;
    (!rest.is_empty() && !rest.contains(char::is_whitespace)).then(|| t.to_string())
}
