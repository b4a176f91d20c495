//! The real audio backend: Lavalink v4 nodes, with our own transport and a lenient reader.
//!
//! lavalink-rs 0.15 provides the types Encore writes (player updates, filters, voice state);
//! what Encore reads is read by its own lenient schema (`schema`), because lavalink-rs's types
//! refuse answers of Lavalink-compatible servers that leave out or change what Encore can do
//! without (a length of -1, a missing `userData`, a `null` exception message). The connection
//! handling is ours too, because its client reconnects every 15 s without backoff, does not
//! rebuild players after a non-resumed `ready`, panics on malformed messages, and mis-reads
//! Lavalink's `empty` load result. Here each node has one task that keeps its websocket
//! up with exponential backoff and jitter, enables session resuming, and reports players that were
//! lost so the player service can rebuild them.
//!
//! Each concern has its own file: `options` (settings and backoff), `node` (placement and node
//! health), `rest` (the REST client and the `AudioBackend` calls), `session` (the websocket and
//! reconnecting), `failover` (moving players off a node that stays down), `plugins` (what each
//! node says it has, and the plugins' routes: LavaLyrics), `schema` (Lavalink's
//! JSON shapes, read leniently) and `wire` (reading them into our terms, writing updates); this
//! one holds the backend's shared state and its set-up.

mod failover;
mod node;
mod options;
mod plugins;
mod rest;
mod schema;
mod session;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use node::{NodeLoad, NodeReport};
pub use options::{backoff_delay, LavalinkOptions};
pub use wire::{
    decode_message, parse_info, parse_live_players, parse_load_result, parse_lyrics, patch_body,
    Inbound, LivePlayer,
};

use session::run_node;

use super::{AudioError, BackendEvent};
use crate::domain::GuildId;
use crate::settings::LavalinkNode;
use crate::sync::LockExt;

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
    /// What the node said about itself (`GET /v4/info`) in this session, once asked.
    info: Option<super::NodeInfo>,
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
        self.state.locked()
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
    /// Whether the websockets are wanted open ([`LavalinkBackend::suspend`],
    /// [`LavalinkBackend::release`]).
    link: tokio::sync::watch::Sender<Link>,
    /// This instance's lease: requests that change players are made only while it may act.
    fence: std::sync::OnceLock<crate::lease::LeaseHandle>,
    /// Sockets that resumed another instance's session (`probe_resume`), by node index, with
    /// the session id: the node's task goes on with them.
    probed: Mutex<HashMap<usize, (String, Socket)>>,
    /// Held while a stand-by probes and decides ([`LavalinkBackend::probing`]).
    probing: tokio::sync::Mutex<()>,
}

/// A websocket to a node.
pub(super) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Whether the websockets are wanted open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    Open,
    /// Closed for now (this instance was fenced off); reopened, resuming, by `connect`.
    Suspended,
    /// Closed for good (handed over or retired).
    Released,
}

/// The Lavalink backend; cheap to clone. Node tasks stop when every clone is dropped.
#[derive(Clone)]
pub struct LavalinkBackend {
    inner: Arc<Inner>,
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
                link: tokio::sync::watch::Sender::new(Link::Open),
                fence: std::sync::OnceLock::new(),
                probed: Mutex::new(HashMap::new()),
                probing: tokio::sync::Mutex::new(()),
            }),
        };
        Ok(backend)
    }

    /// Makes requests that change players (PATCH, DELETE) only while `lease` says this
    /// instance may act, and confirms the lease before rebuilding players Lavalink lost. Set once,
    /// at start-up.
    pub fn set_fence(&self, lease: crate::lease::LeaseHandle) {
        let _ = self.inner.fence.set(lease);
    }

    /// Whether this instance may change players now (always, without a fence).
    pub(super) fn may_act(&self) -> bool {
        self.inner.fence.get().is_none_or(|l| l.may_act())
    }

    /// Connects every node (once), resuming the Lavalink session named for it in `sessions`
    /// (node name → session id) if the node still keeps it, or going on with the socket
    /// [`Self::probe_resume`] kept for it. After [`Self::suspend`], reopens the websockets
    /// resuming our own sessions (`sessions` is then not read).
    pub fn connect(&self, sessions: &BTreeMap<String, String>) {
        self.inner.link.send_if_modified(|l| {
            let reopen = *l == Link::Suspended;
            if reopen {
                *l = Link::Open;
            }
            reopen
        });
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

    /// Hands the Lavalink sessions over to the next owner: closes every websocket (close code
    /// 1000) and does not reconnect. Lavalink keeps each session and its players playing for the
    /// resume timeout, and lets a client resume it only once its socket is gone (Lavalink v4,
    /// "Resuming"), so the next instance takes the very players over by the ids in the lease.
    /// Returns once every socket is closed, or after `limit`.
    pub async fn release(&self, limit: std::time::Duration) {
        self.inner.link.send_replace(Link::Released);
        self.wait_closed(limit).await;
    }

    /// Closes every websocket (close code 1000) until [`Self::connect`] reopens them: a fenced
    /// instance must not drive players, and its sessions become free for the instance that
    /// takes over to resume. Players keep playing for the resume timeout meanwhile.
    pub async fn suspend(&self, limit: std::time::Duration) {
        self.inner.link.send_if_modified(|l| {
            let suspend = *l == Link::Open;
            if suspend {
                *l = Link::Suspended;
            }
            suspend
        });
        self.wait_closed(limit).await;
    }

    /// Leaves for good, taking our players with us: turns resuming off for each session still
    /// connected (Lavalink then destroys it and its players once its socket closes), then closes
    /// the websockets. For an instance whose lease was taken while it still held sessions:
    /// another owner plays those guilds, so players left on ours would be strays.
    pub async fn abandon(&self, limit: std::time::Duration) {
        for node in &self.inner.nodes {
            let Ok(session) = Self::session_of(node) else {
                continue;
            };
            let body = serde_json::json!({ "resuming": false });
            let path = format!("/v4/sessions/{session}");
            let _ = self
                .request(node, reqwest::Method::PATCH, &path, Some(&body))
                .await;
        }
        self.release(limit).await;
    }

    async fn wait_closed(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.inner.nodes.iter().any(|n| n.state().connected)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
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
}
