//! The REST client: requests to a node, and the [`AudioBackend`] calls made with them (load,
//! update, destroy; lyrics and node infos are in `plugins`) plus reading a node's live players.

use async_trait::async_trait;
use secrecy::ExposeSecret;
use tokio::sync::mpsc;

use super::wire::{parse_live_players, parse_load_result, parse_player_probe, patch_body};
use super::{LavalinkBackend, LivePlayer, Node};
use crate::audio::{
    AudioBackend, AudioError, BackendEvent, Loaded, NodeInfo, PlayerPatch, PlayerProbe,
};
use crate::domain::{GuildId, Lyrics};
use crate::sync::LockExt;

impl LavalinkBackend {
    /// The players node `index` holds right now (after a resumed session: the ones that kept
    /// playing while we were away).
    pub async fn live_players(&self, index: usize) -> Result<Vec<LivePlayer>, AudioError> {
        let node = self
            .inner
            .nodes
            .get(index)
            .cloned()
            .ok_or(AudioError::Unavailable)?;
        let session = Self::session_of(&node)?;
        let path = format!("/v4/sessions/{session}/players");
        let (status, text) = self
            .request(&node, reqwest::Method::GET, &path, None)
            .await?;
        if !(200..300).contains(&status) {
            return Err(AudioError::Rejected(error_message(&text)));
        }
        read_answer(&node, "GET players", parse_live_players(&text, index))
    }

    pub(super) async fn request(
        &self,
        node: &Node,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, String), AudioError> {
        let mut req = self
            .inner
            .http
            .request(method, format!("{}{path}", node.http_base))
            .header("Authorization", node.password.expose_secret());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            tracing::warn!(node = %node.name, error = %e.without_url(), "Lavalink request failed");
            AudioError::Unavailable
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|_| AudioError::Unavailable)?;
        Ok((status, text))
    }
}

/// An answer as read; one that could not be read is logged with its cause (which field, and
/// what was wrong with it), as the member who asked only reads that the answer was unreadable.
pub(super) fn read_answer<T>(
    node: &Node,
    request: &str,
    read: Result<T, AudioError>,
) -> Result<T, AudioError> {
    read.inspect_err(|e| {
        tracing::warn!(node = %node.name, request, error = %e, "Lavalink sent an answer Encore could not read");
    })
}

/// The message of a Lavalink error body, for logs.
pub(super) fn error_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.chars().take(200).collect())
}

#[async_trait]
impl AudioBackend for LavalinkBackend {
    #[tracing::instrument(skip_all)]
    async fn load(&self, identifier: &str) -> Result<Loaded, AudioError> {
        let node = self
            .node_for_load(identifier)
            .await
            .ok_or(AudioError::Unavailable)?;
        let path = format!("/v4/loadtracks?identifier={}", urlencode(identifier));
        let (status, text) = self
            .request(&node, reqwest::Method::GET, &path, None)
            .await?;
        if !(200..300).contains(&status) {
            return Err(AudioError::Rejected(error_message(&text)));
        }
        read_answer(&node, "GET loadtracks", parse_load_result(&text))
    }

    #[tracing::instrument(skip_all, fields(guild = guild))]
    async fn update(&self, guild: GuildId, patch: PlayerPatch) -> Result<(), AudioError> {
        if !self.may_act() {
            return Err(AudioError::Unavailable); // Fenced off: another owner may be acting.
        }
        let placed = self
            .node_of(guild)
            .and_then(|i| self.inner.nodes.get(i).cloned());
        let node = match placed {
            Some(n) => n,
            None => self.least_loaded(None).ok_or(AudioError::Unavailable)?,
        };
        let session = Self::session_of(&node)?;
        let path = format!(
            "/v4/sessions/{session}/players/{guild}{}",
            if patch.no_replace {
                "?noReplace=true"
            } else {
                ""
            }
        );
        let body = patch_body(&patch);
        let (status, text) = self
            .request(&node, reqwest::Method::PATCH, &path, Some(&body))
            .await?;
        match status {
            200..=299 => {
                self.placement().insert(guild, node.index);
                Ok(())
            }
            404 => {
                tracing::warn!(node = %node.name, "Lavalink does not know our session");
                Err(AudioError::Unavailable)
            }
            _ => {
                let message = error_message(&text);
                tracing::warn!(node = %node.name, status, message, "Lavalink refused a player update");
                Err(AudioError::Rejected(message))
            }
        }
    }

    #[tracing::instrument(skip_all, fields(guild = guild))]
    async fn destroy(&self, guild: GuildId) -> Result<(), AudioError> {
        if !self.may_act() {
            return Err(AudioError::Unavailable);
        }
        let Some(index) = self.placement().remove(&guild) else {
            return Ok(());
        };
        let Some(node) = self.inner.nodes.get(index).cloned() else {
            return Ok(());
        };
        let Ok(session) = Self::session_of(&node) else {
            // Down: the player goes with the session, or is removed when the node is back.
            node.state().moved_away.insert(guild);
            return Ok(());
        };
        let path = format!("/v4/sessions/{session}/players/{guild}");
        let (status, text) = self
            .request(&node, reqwest::Method::DELETE, &path, None)
            .await?;
        if (200..300).contains(&status) || status == 404 {
            Ok(())
        } else {
            Err(AudioError::Rejected(error_message(&text)))
        }
    }

    async fn probe(&self, guild: GuildId) -> Result<Option<PlayerProbe>, AudioError> {
        let Some(node) = self
            .node_of(guild)
            .and_then(|i| self.inner.nodes.get(i).cloned())
        else {
            return Ok(None);
        };
        let session = Self::session_of(&node)?;
        let path = format!("/v4/sessions/{session}/players/{guild}");
        let (status, text) = self
            .request(&node, reqwest::Method::GET, &path, None)
            .await?;
        match status {
            200..=299 => read_answer(&node, "GET player", parse_player_probe(&text)).map(Some),
            404 => Ok(None),
            _ => Err(AudioError::Rejected(error_message(&text))),
        }
    }

    #[tracing::instrument(skip_all, fields(guild = guild))]
    async fn relocate(&self, guild: GuildId) -> Result<bool, AudioError> {
        let from = self.node_of(guild);
        let Some(to) = self.least_loaded(from) else {
            return Ok(false);
        };
        if from.is_some() {
            // Best effort: a node that does not answer loses the player with its session.
            if let Err(e) = self.destroy(guild).await {
                tracing::warn!(error = %e, "could not remove the player from its old node");
            }
        }
        tracing::info!(node = %to.name, "moving the player to another node");
        self.placement().insert(guild, to.index);
        Ok(true)
    }

    async fn lyrics(&self, encoded: &str) -> Result<Option<Lyrics>, AudioError> {
        self.fetch_lyrics(encoded).await
    }

    async fn node_infos(&self) -> Vec<NodeInfo> {
        self.infos().await
    }

    fn node_count(&self) -> usize {
        self.inner.nodes.len()
    }

    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<BackendEvent>> {
        self.inner.receiver.locked().take()
    }
}

pub(super) fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
