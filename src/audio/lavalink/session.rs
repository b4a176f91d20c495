//! The websocket session of each node: one task per node keeps it connected (reconnecting with
//! backoff), reads its messages, and handles `ready` (resuming, or reporting lost players).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use secrecy::ExposeSecret;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::options::backoff_delay;
use super::rest::error_message;
use super::wire::{decode_message, Inbound};
use super::{Inner, LavalinkBackend, Link, Node};
use crate::audio::BackendEvent;
use crate::sync::LockExt;

#[derive(Debug, thiserror::Error)]
enum WsError {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("closed")]
    Closed,
}

/// Keeps one node connected for as long as the backend lives.
pub(super) async fn run_node(weak: std::sync::Weak<Inner>, node: Arc<Node>) {
    // A stand-by's probe may hold a socket that resumed this node's session: wait for it.
    if let Some(inner) = weak.upgrade() {
        drop(LavalinkBackend { inner }.probing().await);
    }
    let mut failures: u32 = 0;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let mut link = inner.link.subscribe();
        drop(inner);
        // Suspended (fenced): wait until reopened or released.
        let Ok(state) = link.wait_for(|l| *l != Link::Suspended).await.map(|l| *l) else {
            return;
        };
        if state == Link::Released {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        let backend = LavalinkBackend { inner };
        let result = connect_and_serve(&backend, &node).await;
        let was_connected = {
            let mut s = node.state();
            if s.down_since.is_none() {
                s.down_since = Some(Instant::now());
            }
            std::mem::replace(&mut s.connected, false)
        };
        match *backend.inner.link.borrow() {
            Link::Released => {
                tracing::info!(node = %node.name, "Lavalink session handed over");
                return;
            }
            Link::Suspended => {
                // Lavalink keeps the session playing; it is resumed when the fence lifts.
                tracing::info!(node = %node.name, "Lavalink session closed while this instance may not act");
                continue;
            }
            Link::Open => {}
        }
        if was_connected {
            let guilds = backend.guilds_on(node.index);
            if !guilds.is_empty() {
                backend.emit(BackendEvent::NodeLost { guilds });
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
            // A new session may be a restarted node with other plugins: asked again when needed.
            s.info = None;
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
        // Our session was not resumed: perhaps Lavalink restarted, perhaps a stand-by resumed it
        // because it took us for dead. Only a confirmed owner rebuilds.
        if !lost.is_empty() && !self.confirm_lease().await {
            tracing::warn!(node = %node.name, players = lost.len(), "Lavalink did not resume our session and the lease is no longer ours: not rebuilding");
            return;
        }
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

/// The websocket request to `node`, resuming `session` if given (Lavalink v4 headers).
fn ws_request(
    backend: &LavalinkBackend,
    node: &Node,
    session: Option<&str>,
) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, WsError> {
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
    if let Some(session) = session {
        headers.insert("Session-Id", header(session)?);
    }
    Ok(request)
}

async fn connect_and_serve(backend: &LavalinkBackend, node: &Node) -> Result<(), WsError> {
    let mut link = backend.inner.link.subscribe();
    if *link.borrow_and_update() != Link::Open {
        return Ok(());
    }
    // A socket our take-over resumed already (see `probe_resume`): its `ready` was read, and
    // what Lavalink sent after it is still to be read.
    let adopted = backend.inner.probed.locked().remove(&node.index);
    let mut ws = match adopted {
        Some((session, ws)) => {
            node.state().session_id = Some(session.clone());
            backend.on_ready(node, session, true).await;
            ws
        }
        None => {
            let session = node.state().session_id.clone();
            let request = ws_request(backend, node, session.as_deref())?;
            tokio_tungstenite::connect_async(request)
                .await
                .map_err(|e| WsError::Connect(e.to_string()))?
                .0
        }
    };
    loop {
        let message = tokio::select! {
            m = ws.next() => m,
            changed = link.changed() => {
                if changed.is_ok() && *link.borrow_and_update() == Link::Open {
                    continue;
                }
                close_for_hand_over(&mut ws).await;
                return Ok(());
            }
        };
        let Some(message) = message else { break };
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

impl LavalinkBackend {
    /// Tries to resume each session in `sessions` (node name → session id; another instance's,
    /// from the lease). Returns the nodes whose session resumed: Lavalink resumes a session only
    /// once its own socket is gone (Lavalink v4 docs, "Resuming"), so the instance that held it
    /// has lost its connection. A resumed socket is kept as it is, for [`Self::connect`] to go
    /// on with (nothing Lavalink sent after `ready` is lost, and no other client can resume the
    /// session in between), until [`Self::close_probed`]. A session that does not resume leaves
    /// nothing behind (the new session has resuming off and ends with its socket). Each node gets
    /// at most `limit`.
    pub async fn probe_resume(
        &self,
        sessions: &std::collections::BTreeMap<String, String>,
        limit: Duration,
    ) -> Vec<String> {
        let probes = self.inner.nodes.iter().filter_map(|node| {
            let session = sessions.get(&node.name)?.clone();
            let request = ws_request(self, node, Some(&session)).ok()?;
            Some(async move {
                let probe = async {
                    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.ok()?;
                    while let Some(Ok(message)) = ws.next().await {
                        let Message::Text(text) = message else {
                            continue;
                        };
                        if let Ok(Inbound::Ready { resumed, .. }) = decode_message(&text) {
                            if resumed {
                                return Some(ws);
                            }
                            break;
                        }
                    }
                    close_for_hand_over(&mut ws).await;
                    None
                };
                let ws = tokio::time::timeout(limit, probe).await.ok().flatten()?;
                Some((node.index, node.name.clone(), session, ws))
            })
        });
        let resumed: Vec<_> = futures::future::join_all(probes)
            .await
            .into_iter()
            .flatten()
            .collect();
        let mut probed = self.inner.probed.locked();
        resumed
            .into_iter()
            .map(|(index, name, session, ws)| {
                probed.insert(index, (session, ws));
                name
            })
            .collect()
    }

    /// Held by a stand-by from its [`Self::probe_resume`] until it has decided what to do with
    /// the sockets kept (go on with them as the owner, or [`Self::close_probed`]). The node
    /// tasks wait for it before their first connection, so a take-over that happens meanwhile
    /// (the lease expiring) goes on with those sockets instead of racing them for the session.
    pub async fn probing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.probing.lock().await
    }

    /// Closes the sockets [`Self::probe_resume`] kept (1000), when the lease was not taken
    /// after all: their sessions stay resumable for the instance that does take it.
    pub async fn close_probed(&self) {
        let kept: Vec<_> = self.inner.probed.locked().drain().collect();
        for (_, (_, mut ws)) in kept {
            close_for_hand_over(&mut ws).await;
        }
    }

    /// Whether we may rebuild players: the lease confirms it (always, without a lease).
    async fn confirm_lease(&self) -> bool {
        match self.inner.fence.get() {
            Some(lease) => lease.confirm().await,
            None => true,
        }
    }
}

/// Closes the socket normally (1000) and waits (up to a second) for Lavalink's answering close,
/// after which the session is free to be resumed.
async fn close_for_hand_over<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "handed over".into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let drain = async { while let Some(Ok(_)) = ws.next().await {} };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}
