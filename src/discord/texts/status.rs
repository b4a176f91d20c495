//! `/status`: the bot's health as a member reads it.

use std::time::Duration;

/// What `/status` shows, gathered by the command.
#[derive(Debug, Clone)]
pub struct StatusFacts {
    /// The store's backend name (`sqlite`, `mongodb`, `memory`) and whether it answered.
    pub store: &'static str,
    pub store_reachable: bool,
    /// Seconds since the last successful autosave write, if there was one.
    pub last_save_ago_s: Option<u64>,
    pub saved_players: Option<u64>,
    /// What the restore after start did (see `restore_summary`), once it finished.
    pub restored: Option<String>,
    /// Per Lavalink node: its name, whether it is up, its players.
    pub nodes: Vec<(String, bool, u64)>,
    pub shard: u32,
    pub shard_count: u32,
    /// The shards this process runs, as `ShardPlan` displays them.
    pub shards: String,
    pub uptime: Duration,
    pub version: &'static str,
}

pub fn status(f: &StatusFacts) -> String {
    let nodes: Vec<String> = f
        .nodes
        .iter()
        .map(|(name, up, players)| {
            format!(
                "{name}: {} · {players} player(s)",
                if *up { "up" } else { "down" }
            )
        })
        .collect();
    let last_save = f
        .last_save_ago_s
        .map(|s| format!("{s} s ago"))
        .unwrap_or_else(|| "not yet".into());
    format!(
        "Store: {} ({})\nLast save: {last_save}\nSaved players: {}\nRestored after start: {}\nAudio nodes:\n{}\nShard: {} of {} (this process runs {})\nUptime: {}\nVersion: {}",
        f.store,
        if f.store_reachable { "reachable" } else { "unreachable" },
        f.saved_players
            .map(|n| n.to_string())
            .unwrap_or_else(|| "unknown".into()),
        f.restored.as_deref().unwrap_or("in progress"),
        nodes.join("\n"),
        f.shard,
        f.shard_count,
        f.shards,
        humantime::format_duration(Duration::from_secs(f.uptime.as_secs())),
        f.version,
    )
}
