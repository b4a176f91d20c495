//! What each node says it has (`GET /v4/info`: version, source managers, plugins; asked once
//! per session), the node a search goes to (one with the source it names), and the routes of
//! the plugins Encore uses: LavaLyrics' `GET /v4/lyrics`.

use std::sync::Arc;

use super::rest::{error_message, read_answer, urlencode};
use super::wire::{parse_info, parse_lyrics};
use super::{LavalinkBackend, Node};
use crate::audio::{AudioError, NodeInfo};
use crate::domain::{Lyrics, Plugin, SearchSource};

impl LavalinkBackend {
    /// The node's `/v4/info` for this session: kept, else asked now.
    async fn info_of(&self, node: &Node) -> Result<NodeInfo, AudioError> {
        if let Some(info) = node.state().info.clone() {
            return Ok(info);
        }
        let (status, text) = self
            .request(node, reqwest::Method::GET, "/v4/info", None)
            .await?;
        if !(200..300).contains(&status) {
            return Err(AudioError::Rejected(error_message(&text)));
        }
        let info = read_answer(node, "GET info", parse_info(&text, &node.name))?;
        node.state().info = Some(info.clone());
        Ok(info)
    }

    /// Every connected node's `/v4/info`; nodes that do not answer are left out (and logged).
    pub(super) async fn infos(&self) -> Vec<NodeInfo> {
        let mut out = vec![];
        for node in self.connected_by_load() {
            match self.info_of(&node).await {
                Ok(info) => out.push(info),
                Err(e) => {
                    tracing::warn!(node = %node.name, error = %e, "Lavalink did not say what it has")
                }
            }
        }
        out
    }

    /// The node to load `identifier` on: for a search, a recommendation or a link of a source
    /// (Spotify, Deezer, YouTube, …), the least loaded node that has its source (so a mixed
    /// cluster loads where it can; with several nodes, those not asked yet are asked what they
    /// have), else the least loaded node.
    pub(super) async fn node_for_load(&self, identifier: &str) -> Option<Arc<Node>> {
        if let Some(source) = SearchSource::source_manager_of(identifier) {
            let nodes = self.connected_by_load();
            if nodes.len() > 1 && nodes.iter().any(|n| n.state().info.is_none()) {
                self.infos().await;
            }
            let has = self.least_loaded_where(|n| {
                n.state()
                    .info
                    .as_ref()
                    .is_some_and(|i| i.has_source(source))
            });
            if has.is_some() {
                return has;
            }
        }
        self.least_loaded(None)
    }

    /// LavaLyrics' lyrics of `encoded`, asked of each connected node in turn (those known to
    /// have the plugin first, then the least loaded) until one has the route. A node that
    /// refuses the track's own source (LavaSrc's Spotify lyrics need an `spDc` cookie: 500
    /// "Spotify spDc must be set") is asked again with `skipTrackSource=true`, which goes to
    /// its other lyrics sources (LavaLyrics README, "Get lyrics for a track").
    pub(super) async fn fetch_lyrics(&self, encoded: &str) -> Result<Option<Lyrics>, AudioError> {
        let mut nodes = self.connected_by_load();
        nodes.sort_by_key(|n| {
            let has = n
                .state()
                .info
                .as_ref()
                .map(|i| i.plugin(Plugin::LavaLyrics).is_some());
            // Known to have it, then unknown, then known not to.
            match has {
                Some(true) => 0,
                None => 1,
                Some(false) => 2,
            }
        });
        let path = |skip: bool| {
            format!(
                "/v4/lyrics?track={}&skipTrackSource={skip}",
                urlencode(encoded)
            )
        };
        let mut outcome = Err(AudioError::Unavailable);
        for node in nodes {
            let mut skip = false;
            loop {
                let answer = self
                    .request(&node, reqwest::Method::GET, &path(skip), None)
                    .await;
                let (status, text) = match answer {
                    Ok(answer) => answer,
                    Err(e) => {
                        if outcome != Err(AudioError::PluginMissing(Plugin::LavaLyrics)) {
                            outcome = Err(e);
                        }
                        break;
                    }
                };
                match status {
                    204 => return Ok(None),
                    200..=299 => return read_answer(&node, "GET lyrics", parse_lyrics(&text)),
                    // Lavalink without the plugin has no such route.
                    404 => {
                        outcome = Err(AudioError::PluginMissing(Plugin::LavaLyrics));
                        break;
                    }
                    _ if !skip => {
                        tracing::debug!(node = %node.name, status, "the track's own lyrics source refused; asking the others");
                        skip = true;
                    }
                    _ => {
                        let message = error_message(&text);
                        tracing::warn!(node = %node.name, status, message, "LavaLyrics refused a lyrics request");
                        return Err(AudioError::Rejected(message));
                    }
                }
            }
        }
        outcome
    }
}
