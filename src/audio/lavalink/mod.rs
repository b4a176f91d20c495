//! The real audio backend: Lavalink v4 nodes, spoken to with lavalink-rs's protocol model.
//!
//! lavalink-rs 0.15 provides the wire types (events, players, tracks, filters, voice state);
//! the connection handling is ours, because its client reconnects every 15 s without backoff,
//! does not rebuild players after a non-resumed `ready`, panics on malformed messages, and
//! mis-reads Lavalink's `empty` load result. Here each node has one task that keeps its websocket
//! up with exponential backoff and jitter, enables session resuming, and reports players that were
//! lost so the player service can rebuild them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lavalink_rs::model::events;
use lavalink_rs::model::http::UpdatePlayer;
use lavalink_rs::model::player::ConnectionInfo;
use lavalink_rs::model::track::{PlaylistData, TrackData, TrackError};
use lavalink_rs::model::ChannelId;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::filters::lavalink_filters;
use super::{AudioBackend, AudioError, BackendEvent, EndKind, Loaded, PlayerPatch, TrackRef};
use crate::domain::{GuildId, Track};
use crate::settings::LavalinkNode;

/// How the backend behaves; the defaults suit production.
#[derive(Debug, Clone)]
pub struct LavalinkOptions {
    /// The bot's user id (Lavalink's `User-Id`).
    pub user_id: u64,
    /// Lavalink keeps a disconnected session's players this long.
    pub resume_timeout: Duration,
    /// After a node has been unreachable this long, its players move to another node.
    pub takeover_after: Duration,
    /// First reconnect delay; doubles per failure up to `max_backoff`, with ±25 % jitter.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
}

impl LavalinkOptions {
    pub fn new(user_id: u64, resume_timeout: Duration) -> Self {
        LavalinkOptions {
            user_id,
            resume_timeout,
            takeover_after: Duration::from_secs(5),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// The reconnect delay after `failures` failed attempts: exponential, capped, with jitter.
pub fn backoff_delay(failures: u32, min: Duration, max: Duration) -> Duration {
    let base = min.saturating_mul(1u32 << failures.min(16)).min(max);
    let jitter = rand::thread_rng().gen_range(0.75..1.25);
    base.mul_f64(jitter).min(max)
}

#[derive(Default)]
struct NodeState {
    session_id: Option<String>,
    connected: bool,
    /// The last `ready` resumed the session (its players kept playing).
    resumed: bool,
    /// When the node was last seen unreachable (None while connected).
    down_since: Option<Instant>,
    /// Players on the node as its last `stats` said.
    playing: u64,
    /// The node's last `stats`.
    load: Option<NodeLoad>,
    /// Guilds moved to another node while this one was down: removed from it when it is back.
    moved_away: HashSet<GuildId>,
}

struct Node {
    index: usize,
    name: String,
    http_base: String,
    ws_url: String,
    password: SecretString,
    state: Mutex<NodeState>,
}

impl Node {
    fn state(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Inner {
    nodes: Vec<Arc<Node>>,
    /// Which node holds each guild's player.
    placement: Mutex<HashMap<GuildId, usize>>,
    events: mpsc::UnboundedSender<BackendEvent>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<BackendEvent>>>,
    http: reqwest::Client,
    options: LavalinkOptions,
    /// Whether the node tasks were started.
    connected: std::sync::atomic::AtomicBool,
}

/// The Lavalink backend; cheap to clone. Node tasks stop when every clone is dropped.
#[derive(Clone)]
pub struct LavalinkBackend {
    inner: Arc<Inner>,
}

#[derive(Debug, thiserror::Error)]
enum WsError {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("closed")]
    Closed,
}

impl LavalinkBackend {
    /// Starts one connection task per node. Nodes without a password use an empty one (and will
    /// be refused by the server, which is logged).
    pub fn start(nodes: &[LavalinkNode], options: LavalinkOptions) -> Result<Self, AudioError> {
        let backend = Self::new(nodes, options)?;
        backend.connect(&BTreeMap::new());
        Ok(backend)
    }

    /// The backend, not yet connected: every request answers `Unavailable` until [`connect`].
    ///
    /// [`connect`]: LavalinkBackend::connect
    pub fn new(nodes: &[LavalinkNode], options: LavalinkOptions) -> Result<Self, AudioError> {
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .build()
            .map_err(|e| AudioError::BadResponse(e.to_string()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let nodes = nodes
            .iter()
            .enumerate()
            .map(|(index, n)| {
                let scheme = if n.tls { "wss" } else { "ws" };
                let host = if n.host.contains(':') {
                    format!("[{}]", n.host)
                } else {
                    n.host.clone()
                };
                Arc::new(Node {
                    index,
                    name: n.name.clone(),
                    http_base: n.http_base(),
                    ws_url: format!("{scheme}://{host}:{}/v4/websocket", n.port),
                    password: n
                        .password
                        .clone()
                        .unwrap_or_else(|| SecretString::from(String::new())),
                    state: Mutex::new(NodeState::default()),
                })
            })
            .collect();
        let backend = LavalinkBackend {
            inner: Arc::new(Inner {
                nodes,
                placement: Mutex::new(HashMap::new()),
                events: tx,
                receiver: Mutex::new(Some(rx)),
                http,
                options,
                connected: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        Ok(backend)
    }

    /// Connects every node (once; later calls do nothing), resuming the Lavalink session named
    /// for it in `sessions` (node name → session id) if the node still keeps it.
    pub fn connect(&self, sessions: &BTreeMap<String, String>) {
        if self
            .inner
            .connected
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        for node in &self.inner.nodes {
            if let Some(id) = sessions.get(&node.name) {
                node.state().session_id = Some(id.clone());
            }
            let weak = Arc::downgrade(&self.inner);
            let node = node.clone();
            tokio::spawn(async move { run_node(weak, node).await });
        }
    }

    /// Per node: `None` until it is connected, then whether its session was resumed.
    pub fn readiness(&self) -> Vec<Option<bool>> {
        self.inner
            .nodes
            .iter()
            .map(|n| {
                let s = n.state();
                (s.connected && s.session_id.is_some()).then_some(s.resumed)
            })
            .collect()
    }

    /// Each node's name and current session id (to be resumed by the next instance).
    pub fn session_ids(&self) -> Vec<(String, String)> {
        self.inner
            .nodes
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.state().session_id.clone()?)))
            .collect()
    }

    /// The name of node `index` (as in `LAVALINK_NODES`).
    pub fn node_name(&self, index: usize) -> Option<String> {
        self.inner.nodes.get(index).map(|n| n.name.clone())
    }

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
        parse_live_players(&text, index)
    }

    /// Takes over a live player on node `index` (found with [`live_players`]) as this guild's.
    ///
    /// [`live_players`]: LavalinkBackend::live_players
    pub fn adopt(&self, guild: GuildId, index: usize) {
        self.placement().insert(guild, index);
    }

    fn placement(&self) -> MutexGuard<'_, HashMap<GuildId, usize>> {
        self.inner
            .placement
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Names and health of the nodes, for `/status`.
    pub fn node_status(&self) -> Vec<(String, bool, u64)> {
        let placement = self.placement();
        self.inner
            .nodes
            .iter()
            .map(|n| {
                let ours = placement.values().filter(|i| **i == n.index).count() as u64;
                (n.name.clone(), n.state().connected, ours)
            })
            .collect()
    }

    /// Each node: up or not, and its last stats.
    pub fn node_reports(&self) -> Vec<NodeReport> {
        self.inner
            .nodes
            .iter()
            .map(|n| {
                let s = n.state();
                NodeReport {
                    name: n.name.clone(),
                    up: s.connected && s.session_id.is_some(),
                    load: s.load,
                }
            })
            .collect()
    }

    /// The node a guild's player is on, if any.
    pub fn node_of(&self, guild: GuildId) -> Option<usize> {
        self.placement().get(&guild).copied()
    }

    /// The connected node with the fewest players (ours, or as its stats say).
    fn least_loaded(&self) -> Option<Arc<Node>> {
        let placement = self.placement();
        self.inner
            .nodes
            .iter()
            .filter(|n| {
                let s = n.state();
                s.connected && s.session_id.is_some()
            })
            .min_by_key(|n| {
                let ours = placement.values().filter(|i| **i == n.index).count() as u64;
                (ours.max(n.state().playing), n.index)
            })
            .cloned()
    }

    fn session_of(node: &Node) -> Result<String, AudioError> {
        let s = node.state();
        match (&s.session_id, s.connected) {
            (Some(id), true) => Ok(id.clone()),
            _ => Err(AudioError::Unavailable),
        }
    }

    async fn request(
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

/// The message of a Lavalink error body, for logs.
fn error_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.chars().take(200).collect())
}

pub(crate) fn track_from(data: &TrackData) -> Track {
    Track {
        encoded: data.encoded.clone(),
        title: data.info.title.clone(),
        author: data.info.author.clone(),
        uri: data.info.uri.clone(),
        length_ms: data.info.length,
        is_stream: data.info.is_stream,
        requester: None,
    }
}

/// Reads a `/v4/loadtracks` answer by its `loadType` (lavalink-rs's untagged enum cannot read
/// the `empty` result, `{"loadType":"empty","data":{}}`).
pub fn parse_load_result(text: &str) -> Result<Loaded, AudioError> {
    let bad = |e: serde_json::Error| AudioError::BadResponse(e.to_string());
    let v: serde_json::Value = serde_json::from_str(text).map_err(bad)?;
    let data = v.get("data").cloned().unwrap_or(serde_json::Value::Null);
    Ok(match v.get("loadType").and_then(|t| t.as_str()) {
        Some("track") => Loaded::Track(track_from(
            &serde_json::from_value::<TrackData>(data).map_err(bad)?,
        )),
        Some("playlist") => {
            let p: PlaylistData = serde_json::from_value(data).map_err(bad)?;
            Loaded::Playlist {
                name: p.info.name,
                tracks: p.tracks.iter().map(track_from).collect(),
            }
        }
        Some("search") => {
            let list: Vec<TrackData> = serde_json::from_value(data).map_err(bad)?;
            if list.is_empty() {
                Loaded::Empty
            } else {
                Loaded::Search(list.iter().map(track_from).collect())
            }
        }
        Some("empty") => Loaded::Empty,
        Some("error") => {
            let e: TrackError = serde_json::from_value(data).map_err(bad)?;
            Loaded::Failed { message: e.message }
        }
        other => {
            return Err(AudioError::BadResponse(format!(
                "unknown loadType {other:?}"
            )))
        }
    })
}

/// The `userData` key carrying our play id.
const USER_DATA_PLAY_ID: &str = "encorePlayId";

fn track_ref(t: &TrackData) -> TrackRef {
    TrackRef {
        encoded: t.encoded.clone(),
        play_id: t
            .user_data
            .as_ref()
            .and_then(|u| u.get(USER_DATA_PLAY_ID))
            .and_then(|v| v.as_u64()),
    }
}

/// A player the audio server holds, as `GET /v4/sessions/{id}/players` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePlayer {
    pub guild: GuildId,
    pub node: usize,
    /// The playing track (encoded) and the play id we gave it, if any.
    pub track: Option<TrackRef>,
    pub position_ms: u64,
    /// The server's clock when `position_ms` was observed.
    pub time_ms: u64,
    pub paused: bool,
    pub volume: u16,
}

/// Reads a `GET /v4/sessions/{id}/players` answer.
pub fn parse_live_players(text: &str, node: usize) -> Result<Vec<LivePlayer>, AudioError> {
    let bad = |e: String| AudioError::BadResponse(e);
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let list = v
        .as_array()
        .ok_or_else(|| bad("not a list of players".into()))?;
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let Some(guild) = p
            .get("guildId")
            .and_then(|g| g.as_str())
            .and_then(|g| g.parse::<u64>().ok())
        else {
            continue;
        };
        let track = p.get("track").filter(|t| !t.is_null()).and_then(|t| {
            let encoded = t.get("encoded")?.as_str()?.to_string();
            let play_id = t
                .get("userData")
                .and_then(|u| u.get(USER_DATA_PLAY_ID))
                .and_then(|id| id.as_u64());
            Some(TrackRef { encoded, play_id })
        });
        let state = p.get("state");
        let num = |v: Option<&serde_json::Value>| v.and_then(|x| x.as_u64()).unwrap_or(0);
        out.push(LivePlayer {
            guild,
            node,
            track,
            position_ms: num(state.and_then(|s| s.get("position"))),
            time_ms: num(state.and_then(|s| s.get("time"))),
            paused: p.get("paused").and_then(|x| x.as_bool()).unwrap_or(false),
            volume: num(p.get("volume")).min(1000) as u16,
        });
    }
    Ok(out)
}

/// The JSON body of a player PATCH.
pub fn patch_body(patch: &PlayerPatch) -> serde_json::Value {
    let update = UpdatePlayer {
        track: None,
        end_time: None,
        volume: patch.volume,
        position: patch.position_ms,
        paused: patch.paused,
        filters: patch.filters.map(lavalink_filters),
        voice: patch.voice.as_ref().map(|v| ConnectionInfo {
            endpoint: v.endpoint.clone(),
            token: v.token.clone(),
            session_id: v.session_id.clone(),
            channel_id: Some(ChannelId(v.channel_id)),
        }),
    };
    let mut body = serde_json::to_value(update).unwrap_or_else(|_| serde_json::json!({}));
    if let (Some(track), Some(map)) = (&patch.track, body.as_object_mut()) {
        let mut t = serde_json::json!({ "encoded": track });
        if let (Some(id), Some(_)) = (patch.play_id, track) {
            t["userData"] = serde_json::json!({ USER_DATA_PLAY_ID: id });
        }
        map.insert("track".into(), t);
    }
    body
}

#[async_trait]
impl AudioBackend for LavalinkBackend {
    #[tracing::instrument(skip_all)]
    async fn load(&self, identifier: &str) -> Result<Loaded, AudioError> {
        let node = self.least_loaded().ok_or(AudioError::Unavailable)?;
        let path = format!("/v4/loadtracks?identifier={}", urlencode(identifier));
        let (status, text) = self
            .request(&node, reqwest::Method::GET, &path, None)
            .await?;
        if !(200..300).contains(&status) {
            return Err(AudioError::Rejected(error_message(&text)));
        }
        parse_load_result(&text)
    }

    #[tracing::instrument(skip_all, fields(guild = guild))]
    async fn update(&self, guild: GuildId, patch: PlayerPatch) -> Result<(), AudioError> {
        let placed = self
            .node_of(guild)
            .and_then(|i| self.inner.nodes.get(i).cloned());
        let node = match placed {
            Some(n) => n,
            None => self.least_loaded().ok_or(AudioError::Unavailable)?,
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

    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<BackendEvent>> {
        self.inner
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

fn urlencode(text: &str) -> String {
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

/// Keeps one node connected for as long as the backend lives.
async fn run_node(weak: std::sync::Weak<Inner>, node: Arc<Node>) {
    let mut failures: u32 = 0;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let backend = LavalinkBackend { inner };
        let result = connect_and_serve(&backend, &node).await;
        {
            let mut s = node.state();
            s.connected = false;
            if s.down_since.is_none() {
                s.down_since = Some(Instant::now());
            }
        }
        match result {
            Err(WsError::Connect(e)) => {
                if failures == 0 {
                    tracing::warn!(node = %node.name, error = %e, "cannot reach Lavalink; retrying with backoff");
                }
                failures = failures.saturating_add(1);
            }
            Err(WsError::Closed) | Ok(()) => {
                tracing::warn!(node = %node.name, "Lavalink connection closed; reconnecting");
                failures = 0;
            }
        }
        backend.take_over_if_down(&node);
        let opts = &backend.inner.options;
        let delay = if failures == 0 {
            opts.min_backoff
                .mul_f64(rand::thread_rng().gen_range(0.5..1.0))
        } else {
            backoff_delay(failures - 1, opts.min_backoff, opts.max_backoff)
        };
        drop(backend);
        // Wake up early to move players off a node that stays down.
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250).min(delay)).await;
            let Some(inner) = weak.upgrade() else { return };
            LavalinkBackend { inner }.take_over_if_down(&node);
        }
    }
}

impl LavalinkBackend {
    /// When `node` has been down for `takeover_after` and another node is up, its players are
    /// reported lost so they are rebuilt elsewhere.
    fn take_over_if_down(&self, node: &Node) {
        let down_long = node
            .state()
            .down_since
            .is_some_and(|t| t.elapsed() >= self.inner.options.takeover_after);
        if !down_long {
            return;
        }
        let other_up = self
            .inner
            .nodes
            .iter()
            .any(|n| n.index != node.index && n.state().connected);
        if !other_up {
            return;
        }
        let guilds = self.release_node(node.index);
        if guilds.is_empty() {
            return;
        }
        node.state().moved_away.extend(guilds.iter().copied());
        tracing::warn!(node = %node.name, players = guilds.len(), "Lavalink node is down; moving its players to another node");
        let _ = self.inner.events.send(BackendEvent::PlayersLost { guilds });
    }

    /// Forgets which guilds were placed on node `index`, and returns them.
    fn release_node(&self, index: usize) -> Vec<GuildId> {
        let mut placement = self.placement();
        let guilds: Vec<GuildId> = placement
            .iter()
            .filter(|(_, i)| **i == index)
            .map(|(g, _)| *g)
            .collect();
        for g in &guilds {
            placement.remove(g);
        }
        guilds
    }

    fn emit(&self, event: BackendEvent) {
        let _ = self.inner.events.send(event);
    }

    async fn on_ready(&self, node: &Node, session_id: String, resumed: bool) {
        let moved_away = {
            let mut s = node.state();
            s.session_id = Some(session_id.clone());
            s.connected = true;
            s.resumed = resumed;
            s.down_since = None;
            std::mem::take(&mut s.moved_away)
        };
        tracing::info!(node = %node.name, resumed, "Lavalink session ready");
        // Keep players alive across our own reconnects.
        let body = serde_json::json!({
            "resuming": true,
            "timeout": self.inner.options.resume_timeout.as_secs(),
        });
        let path = format!("/v4/sessions/{session_id}");
        match self
            .request(node, reqwest::Method::PATCH, &path, Some(&body))
            .await
        {
            Ok((200..=299, _)) => {}
            Ok((status, text)) => {
                tracing::warn!(node = %node.name, status, message = %error_message(&text), "could not enable session resuming");
            }
            Err(_) => {}
        }
        self.emit(BackendEvent::NodeReady {
            node: node.index,
            resumed,
            session_id: session_id.clone(),
        });
        if resumed {
            // Players moved elsewhere while this node was away must not play twice.
            for guild in moved_away {
                if self.node_of(guild) != Some(node.index) {
                    let path = format!("/v4/sessions/{session_id}/players/{guild}");
                    let _ = self
                        .request(node, reqwest::Method::DELETE, &path, None)
                        .await;
                }
            }
            return;
        }
        let lost = self.release_node(node.index);
        if !lost.is_empty() {
            tracing::warn!(node = %node.name, players = lost.len(), "Lavalink lost its session; rebuilding its players");
            self.emit(BackendEvent::PlayersLost { guilds: lost });
        }
    }

    fn on_message(&self, node: &Node, text: &str) -> Option<(String, bool)> {
        match decode_message(text) {
            Ok(Inbound::Ready {
                session_id,
                resumed,
            }) => return Some((session_id, resumed)),
            Ok(Inbound::Event(e)) => self.emit(e),
            Ok(Inbound::Stats(load)) => {
                let mut st = node.state();
                st.playing = load.playing_players;
                st.load = Some(load);
            }
            Ok(Inbound::Ignored(what)) => {
                tracing::debug!(node = %node.name, what, "ignoring an unknown Lavalink message");
            }
            Err(e) => {
                tracing::warn!(node = %node.name, error = %e, "ignoring an unreadable Lavalink message");
            }
        }
        None
    }
}

/// What a node's last `stats` message said.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeLoad {
    pub players: u64,
    pub playing_players: u64,
    /// CPU load of the Lavalink process and of its host, 0-1.
    pub lavalink_load: f64,
    pub system_load: f64,
    pub memory_used: u64,
}

/// One node, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    pub name: String,
    /// Connected with a session.
    pub up: bool,
    pub load: Option<NodeLoad>,
}

/// One message from a Lavalink websocket, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Ready {
        session_id: String,
        resumed: bool,
    },
    Event(BackendEvent),
    Stats(NodeLoad),
    /// A message or event type this client does not use.
    Ignored(String),
}

/// Reads one websocket message with lavalink-rs's wire types. Malformed input is an error for
/// the caller to log, never a panic.
pub fn decode_message(text: &str) -> Result<Inbound, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
    let op = v
        .get("op")
        .and_then(|o| o.as_str())
        .unwrap_or_default()
        .to_string();
    Ok(match op.as_str() {
        "ready" => {
            let r: events::Ready = parse(v)?;
            Inbound::Ready {
                session_id: r.session_id,
                resumed: r.resumed,
            }
        }
        "playerUpdate" => {
            let u: events::PlayerUpdate = parse(v)?;
            Inbound::Event(BackendEvent::PlayerUpdate {
                guild: u.guild_id.0,
                time_ms: u.state.time,
                position_ms: u.state.position,
                connected: u.state.connected,
            })
        }
        "stats" => {
            let s: events::Stats = parse(v)?;
            Inbound::Stats(NodeLoad {
                players: s.players,
                playing_players: s.playing_players,
                lavalink_load: s.cpu.lavalink_load,
                system_load: s.cpu.system_load,
                memory_used: s.memory.used,
            })
        }
        "event" => {
            let kind = v
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_string();
            match kind.as_str() {
                "TrackStartEvent" => {
                    let e: events::TrackStart = parse(v)?;
                    Inbound::Event(BackendEvent::TrackStarted {
                        guild: e.guild_id.0,
                        track: track_ref(&e.track),
                    })
                }
                "TrackEndEvent" => {
                    let e: events::TrackEnd = parse(v)?;
                    use events::TrackEndReason as R;
                    let reason = match e.reason {
                        R::Finished => EndKind::Finished,
                        R::LoadFailed => EndKind::LoadFailed,
                        R::Stopped => EndKind::Stopped,
                        R::Replaced => EndKind::Replaced,
                        R::Cleanup => EndKind::Cleanup,
                    };
                    Inbound::Event(BackendEvent::TrackEnded {
                        guild: e.guild_id.0,
                        track: track_ref(&e.track),
                        reason,
                    })
                }
                "TrackExceptionEvent" => {
                    let e: events::TrackException = parse(v)?;
                    Inbound::Event(BackendEvent::TrackException {
                        guild: e.guild_id.0,
                        track: track_ref(&e.track),
                        message: e.exception.message,
                    })
                }
                "TrackStuckEvent" => {
                    let e: events::TrackStuck = parse(v)?;
                    Inbound::Event(BackendEvent::TrackStuck {
                        guild: e.guild_id.0,
                        track: track_ref(&e.track),
                        threshold_ms: e.threshold_ms,
                    })
                }
                "WebSocketClosedEvent" => {
                    let e: events::WebSocketClosed = parse(v)?;
                    Inbound::Event(BackendEvent::VoiceClosed {
                        guild: e.guild_id.0,
                        code: e.code,
                        reason: e.reason,
                    })
                }
                _ => Inbound::Ignored(format!("event {kind}")),
            }
        }
        _ => Inbound::Ignored(format!("op {op}")),
    })
}

async fn connect_and_serve(backend: &LavalinkBackend, node: &Node) -> Result<(), WsError> {
    let opts = &backend.inner.options;
    let mut request = node
        .ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| WsError::Connect(e.to_string()))?;
    let headers = request.headers_mut();
    let header = |v: &str| {
        v.parse::<tokio_tungstenite::tungstenite::http::HeaderValue>()
            .map_err(|_| WsError::Connect("a header value is not valid".into()))
    };
    headers.insert("Authorization", header(node.password.expose_secret())?);
    headers.insert("User-Id", header(&opts.user_id.to_string())?);
    headers.insert(
        "Client-Name",
        header(&format!("Encore/{}", env!("CARGO_PKG_VERSION")))?,
    );
    if let Some(session) = node.state().session_id.clone() {
        headers.insert("Session-Id", header(&session)?);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| WsError::Connect(e.to_string()))?;
    while let Some(message) = ws.next().await {
        match message {
            Ok(Message::Text(text)) => {
                if let Some((session, resumed)) = backend.on_message(node, text.as_str()) {
                    backend.on_ready(node, session, resumed).await;
                }
            }
            Ok(Message::Close(_)) => return Err(WsError::Closed),
            Ok(_) => {}
            Err(_) => return Err(WsError::Closed),
        }
    }
    Err(WsError::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::VoiceConnection;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let min = Duration::from_millis(500);
        let max = Duration::from_secs(30);
        for failures in 0..20 {
            let d = backoff_delay(failures, min, max);
            let base = min.saturating_mul(1 << failures.min(16)).min(max);
            assert!(d <= max);
            assert!(d >= base.mul_f64(0.74), "{failures}: {d:?} vs {base:?}");
        }
        assert!(backoff_delay(10, min, max) >= Duration::from_secs(22));
    }

    #[test]
    fn empty_and_error_results_are_read_by_load_type() {
        assert_eq!(
            parse_load_result(r#"{"loadType":"empty","data":{}}"#).unwrap(),
            Loaded::Empty
        );
        let failed = parse_load_result(
            r#"{"loadType":"error","data":{"message":"This video is unavailable","severity":"common","cause":"x"}}"#,
        )
        .unwrap();
        assert_eq!(
            failed,
            Loaded::Failed {
                message: "This video is unavailable".into()
            }
        );
        assert!(parse_load_result(r#"{"loadType":"weird","data":{}}"#).is_err());
    }

    #[test]
    fn a_patch_carries_the_four_voice_fields_and_a_stop_is_a_null_track() {
        let patch = PlayerPatch {
            track: Some(None),
            voice: Some(VoiceConnection {
                token: "t".into(),
                endpoint: "e".into(),
                session_id: "s".into(),
                channel_id: 42,
            }),
            volume: Some(150),
            ..PlayerPatch::default()
        };
        let body = patch_body(&patch);
        assert_eq!(body["track"], serde_json::json!({"encoded": null}));
        let play = patch_body(&PlayerPatch {
            track: Some(Some("QAAA".into())),
            play_id: Some(7),
            ..PlayerPatch::default()
        });
        assert_eq!(
            play["track"],
            serde_json::json!({"encoded": "QAAA", "userData": {"encorePlayId": 7}})
        );
        assert_eq!(body["voice"]["channelId"], "42");
        assert_eq!(body["voice"]["sessionId"], "s");
        assert_eq!(body["volume"], 150);
        assert!(body.get("position").is_none());
    }

    #[test]
    fn messages_are_read_and_malformed_ones_are_errors_not_panics() {
        let ready = decode_message(r#"{"op":"ready","resumed":false,"sessionId":"abc"}"#).unwrap();
        assert_eq!(
            ready,
            Inbound::Ready {
                session_id: "abc".into(),
                resumed: false
            }
        );
        let update = decode_message(
            r#"{"op":"playerUpdate","guildId":"123","state":{"time":1500,"position":6000,"connected":true,"ping":12}}"#,
        )
        .unwrap();
        assert_eq!(
            update,
            Inbound::Event(BackendEvent::PlayerUpdate {
                guild: 123,
                time_ms: 1500,
                position_ms: 6000,
                connected: true
            })
        );
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"op":"playerUpdate","guildId":"x"}"#,
            r#"{"op":"event","type":"TrackEndEvent","guildId":"1"}"#,
            r#"{"op":"ready"}"#,
        ] {
            assert!(decode_message(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            decode_message(r#"{"op":"somethingNew"}"#),
            Ok(Inbound::Ignored(_))
        ));
        assert!(matches!(
            decode_message(r#"{"op":"event","type":"FutureEvent","guildId":"1"}"#),
            Ok(Inbound::Ignored(_))
        ));
    }

    #[test]
    fn identifiers_are_url_encoded() {
        assert_eq!(urlencode("ytsearch:a b&c"), "ytsearch%3Aa%20b%26c");
    }
}
