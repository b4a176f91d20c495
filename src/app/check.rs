//! `encore check`: the settings, the credentials, the store and every Lavalink node (its
//! version, source managers and plugins, `GET /v4/info`), then warnings where the nodes differ or
//! a feature's plugin is missing. Only a failure fails the check; a warning is printed.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::ExposeSecret;

use crate::audio::lavalink::parse_info;
use crate::audio::NodeInfo;
use crate::domain::Plugin;
use crate::settings::{LavalinkNode, Settings};
use crate::store;

/// How a part of the check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works, but something is missing or uneven: said, not failed.
    Warn,
    Fail,
}

/// One entry of the `encore check` report; `detail` may hold more lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub verdict: Verdict,
    pub what: String,
    pub detail: String,
}

impl CheckLine {
    fn new(verdict: Verdict, what: impl Into<String>, detail: impl Into<String>) -> Self {
        CheckLine {
            verdict,
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// What each plugin Encore uses is needed for.
const FEATURES: [(Plugin, &str); 3] = [
    (
        Plugin::YouTube,
        "YouTube and YouTube Music links and searches (the default SEARCH_PREFIX, ytsearch) need it",
    ),
    (
        Plugin::LavaSrc,
        "Spotify, Apple Music and Deezer links and searches, and autoplay's recommendations for \
         their tracks, need it",
    ),
    (Plugin::LavaLyrics, "/lyrics needs it"),
];

/// `encore check`: settings (already loaded), credentials, store and every Lavalink node, then
/// how the nodes that answered compare.
pub async fn check(settings: &Settings) -> Vec<CheckLine> {
    let mut lines = vec![CheckLine::new(
        Verdict::Ok,
        "settings",
        format!(
            "valid (storage {}, {} Lavalink node(s), autosave every {})",
            settings.storage.as_str(),
            settings.lavalink_nodes.len(),
            humantime::format_duration(settings.autosave_interval)
        ),
    )];
    lines.push(match settings.require_bot_credentials() {
        Ok(()) => CheckLine::new(
            Verdict::Ok,
            "credentials",
            "DISCORD_TOKEN and Lavalink passwords are set",
        ),
        Err(e) => CheckLine::new(Verdict::Fail, "credentials", e.to_string()),
    });
    // A check changes nothing: a damaged SQLite file is reported, not replaced.
    lines.push(match store::open_with(settings, false).await {
        Err(e) => CheckLine::new(
            Verdict::Fail,
            format!("store ({})", settings.storage.as_str()),
            e.to_string(),
        ),
        Ok(store) => {
            let h = store.health().await;
            CheckLine::new(
                if h.reachable {
                    Verdict::Ok
                } else {
                    Verdict::Fail
                },
                format!("store ({})", h.backend),
                match (h.reachable, h.saved_players) {
                    (true, Some(n)) => format!("reachable, {n} saved player(s)"),
                    (true, None) => "reachable".into(),
                    (false, _) => h.error.unwrap_or_else(|| "unreachable".into()),
                },
            )
        }
    });
    let mut infos = vec![];
    for node in &settings.lavalink_nodes {
        let (line, info) = check_node(node).await;
        lines.push(line);
        infos.extend(info);
    }
    lines.extend(compare_nodes(&infos));
    lines.extend(missing_plugins(&infos));
    lines
}

/// One node: reachable with a recent enough Lavalink, what it has.
async fn check_node(node: &LavalinkNode) -> (CheckLine, Option<NodeInfo>) {
    let what = format!("lavalink {} ({}:{})", node.name, node.host, node.port);
    let fail = |detail: String| (CheckLine::new(Verdict::Fail, what.clone(), detail), None);
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot build an HTTP client: {e}")),
    };
    let mut request = client.get(format!("{}/v4/info", node.http_base()));
    if let Some(p) = &node.password {
        request = request.header("Authorization", p.expose_secret());
    }
    let text = match request.send().await {
        Err(e) if e.is_timeout() => return fail("no answer within 5 s".into()),
        Err(e) if e.is_connect() => return fail("connection refused or host unreachable".into()),
        Err(e) => return fail(format!("request failed: {}", e.without_url())),
        Ok(r) if r.status() == 401 || r.status() == 403 => {
            return fail(format!(
                "the password was refused (HTTP {})",
                r.status().as_u16()
            ))
        }
        Ok(r) if !r.status().is_success() => {
            return fail(format!("answered HTTP {}", r.status().as_u16()))
        }
        Ok(r) => r.text().await.unwrap_or_default(),
    };
    let Ok(info) = parse_info(&text, &node.name) else {
        return fail("answered, but not with Lavalink's /v4/info JSON".into());
    };
    let version = &info.version;
    if parse_major_minor(version) < (4, 2) {
        return fail(format!(
            "Lavalink {version}: Encore needs 4.2 or newer (DAVE voice)"
        ));
    }
    let detail = format!(
        "reachable, Lavalink {version}\nsource managers: {}\nplugins: {}",
        list_or_none(info.source_managers.iter().cloned()),
        list_or_none(
            info.plugins
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
        ),
    );
    (CheckLine::new(Verdict::Ok, what, detail), Some(info))
}

fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let list: Vec<String> = items.collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// One warning for each way the nodes differ: Lavalink version, source managers, plugins (or
/// their versions). A guild's player, and a search, may land on any node.
fn compare_nodes(infos: &[NodeInfo]) -> Vec<CheckLine> {
    if infos.len() < 2 {
        return vec![];
    }
    let warn = |detail: String| CheckLine::new(Verdict::Warn, "lavalink nodes differ", detail);
    let mut out = vec![];
    let versions: Vec<&str> = infos.iter().map(|i| i.version.as_str()).collect();
    if versions.iter().any(|v| *v != versions[0]) {
        out.push(warn(format!(
            "Lavalink versions: {}",
            infos
                .iter()
                .map(|i| format!("{} {}", i.node, i.version))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Source managers: which nodes list each.
    let mut sources: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for i in infos {
        for s in &i.source_managers {
            sources
                .entry(s.to_ascii_lowercase())
                .or_default()
                .push(&i.node);
        }
    }
    let uneven: Vec<String> = sources
        .iter()
        .filter(|(_, nodes)| nodes.len() < infos.len())
        .map(|(s, nodes)| format!("{s} only on {}", nodes.join(", ")))
        .collect();
    if !uneven.is_empty() {
        out.push(warn(format!("source managers: {}", uneven.join("; "))));
    }
    // Plugins: which nodes list each, at which version.
    let mut plugins: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
    for i in infos {
        for p in &i.plugins {
            plugins
                .entry(p.name.clone())
                .or_default()
                .push((&i.node, &p.version));
        }
    }
    let uneven: Vec<String> = plugins
        .iter()
        .filter_map(|(name, on)| {
            let at = |(node, version): &(&str, &str)| format!("{version} on {node}");
            if on.len() < infos.len() {
                let at: Vec<String> = on.iter().map(at).collect();
                Some(format!("{name} only on {} ({})", nodes(on), at.join(", ")))
            } else if on.iter().any(|(_, v)| *v != on[0].1) {
                let at: Vec<String> = on.iter().map(at).collect();
                Some(format!("{name} {}", at.join(", ")))
            } else {
                None
            }
        })
        .collect();
    if !uneven.is_empty() {
        out.push(warn(format!("plugins: {}", uneven.join("; "))));
    }
    out
}

fn nodes(on: &[(&str, &str)]) -> String {
    on.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// One warning for each plugin a feature needs that some node lacks.
fn missing_plugins(infos: &[NodeInfo]) -> Vec<CheckLine> {
    if infos.is_empty() {
        return vec![];
    }
    FEATURES
        .iter()
        .filter_map(|(plugin, need)| {
            let lacking: Vec<&str> = infos
                .iter()
                .filter(|i| i.plugin(*plugin).is_none())
                .map(|i| i.node.as_str())
                .collect();
            let on = match lacking.len() {
                0 => return None,
                n if n == infos.len() && n > 1 => "every node".to_string(),
                _ => lacking.join(", "),
            };
            Some(CheckLine::new(
                Verdict::Warn,
                format!("plugin {}", plugin.name()),
                format!("missing on {on}: {need}"),
            ))
        })
        .collect()
}

fn parse_major_minor(semver: &str) -> (u32, u32) {
    let mut parts = semver
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Prints the check report (a `detail`'s further lines indented under it); returns whether
/// nothing failed (warnings pass).
pub fn print_check(lines: &[CheckLine]) -> bool {
    for l in lines {
        let mark = match l.verdict {
            Verdict::Ok => " ok ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        let mut detail = l.detail.lines();
        println!("[{mark}] {}: {}", l.what, detail.next().unwrap_or_default());
        for more in detail {
            println!("       {more}");
        }
    }
    lines.iter().all(|l| l.verdict != Verdict::Fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::PluginInfo;

    fn info(node: &str, version: &str, sources: &[&str], plugins: &[(&str, &str)]) -> NodeInfo {
        NodeInfo {
            node: node.into(),
            version: version.into(),
            source_managers: sources.iter().map(|s| s.to_string()).collect(),
            plugins: plugins
                .iter()
                .map(|(name, version)| PluginInfo {
                    name: name.to_string(),
                    version: version.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn versions_compare() {
        assert_eq!(parse_major_minor("4.2.1"), (4, 2));
        assert_eq!(parse_major_minor("4.10.0-rc1"), (4, 10));
        assert_eq!(parse_major_minor("garbage"), (0, 0));
    }

    #[test]
    fn nodes_that_differ_are_named_once_per_difference() {
        let a = info(
            "node-1",
            "4.2.0",
            &["youtube", "spotify"],
            &[("youtube-plugin", "1.11.0"), ("lavasrc-plugin", "4.3.0")],
        );
        let b = info(
            "node-2",
            "4.2.1",
            &["youtube"],
            &[("youtube-plugin", "1.12.0"), ("lavalyrics-plugin", "1.0.0")],
        );
        let details: Vec<String> = compare_nodes(&[a.clone(), b.clone()])
            .into_iter()
            .map(|l| l.detail)
            .collect();
        assert_eq!(
            details,
            [
                "Lavalink versions: node-1 4.2.0, node-2 4.2.1",
                "source managers: spotify only on node-1",
                "plugins: lavalyrics-plugin only on node-2 (1.0.0 on node-2); lavasrc-plugin only \
                 on node-1 (4.3.0 on node-1); youtube-plugin 1.11.0 on node-1, 1.12.0 on node-2",
            ]
        );
        assert!(compare_nodes(&[a.clone(), a.clone()]).is_empty());
        let missing: Vec<(String, String)> = missing_plugins(&[a, b])
            .into_iter()
            .map(|l| (l.what, l.detail))
            .collect();
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert_eq!(missing[0].0, "plugin lavasrc-plugin");
        assert!(missing[0].1.starts_with("missing on node-2: Spotify"));
        assert_eq!(
            missing[1],
            (
                "plugin lavalyrics-plugin".to_string(),
                "missing on node-1: /lyrics needs it".to_string()
            )
        );
    }
}
