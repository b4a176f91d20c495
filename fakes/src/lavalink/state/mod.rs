//! Sessions, players and their playback clock. Everything lives behind one mutex; the
//! websocket tasks only forward what is queued for them here.

mod control;
mod player;
mod rest;
mod sessions;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::catalogue::Catalogue;
use super::plugins::{LavaSrcSources, Node, Plugins};
use super::shape::AnswerShape;
use super::types::{RecordedRequest, VoiceUpdate};

use player::Player;
pub(crate) use rest::PlayerUpdate;

/// What a websocket task is told to do.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    /// Send a close frame, then end.
    Close(u16, String),
    /// End without a close frame (the TCP connection just goes away).
    Abort,
}

#[derive(Debug)]
pub(crate) struct Socket {
    pub conn_id: u64,
    pub tx: UnboundedSender<Outgoing>,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub id: String,
    pub user_id: String,
    pub client_name: Option<String>,
    pub resuming: bool,
    pub timeout_secs: u64,
    pub socket: Option<Socket>,
    pub disconnected_at: Option<Instant>,
    pub queue: Vec<String>,
    pub players: BTreeMap<String, Player>,
    pub last_stats: Instant,
    /// The shape of the track objects in its events (the fake's, see `State::answer_shape`).
    pub answer_shape: AnswerShape,
}

impl Session {
    /// Sends a message on the socket; with no socket, events are kept for a resuming
    /// client and everything else is dropped.
    fn emit(&mut self, msg: &Value) {
        let is_event = msg.get("op").and_then(Value::as_str) == Some("event");
        let mut msg = msg.clone();
        self.answer_shape.apply(&mut msg);
        let text = msg.to_string();
        match &self.socket {
            Some(s) => {
                let _ = s.tx.send(Outgoing::Text(text));
            }
            None if is_event && self.resuming => self.queue.push(text),
            None => {}
        }
    }

    fn emit_all(&mut self, msgs: Vec<Value>) {
        for m in msgs {
            self.emit(&m);
        }
    }
}

pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An error answered with Lavalink's error body.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    fn session_not_found() -> Self {
        Self::new(404, "Session not found")
    }
}

/// Why a control hook could not act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError(pub String);

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ControlError {}

/// The fake's whole state.
#[derive(Debug)]
pub(crate) struct State {
    pub started: Instant,
    pub sessions: HashMap<String, Session>,
    pub catalogue: Catalogue,
    pub requests: Vec<RecordedRequest>,
    pub refuse_until: Option<Instant>,
    pub player_update_interval: Duration,
    pub stats_interval: Duration,
    next_conn_id: u64,
    /// Per guild: every voice state a player PATCH delivered, in order (kept across
    /// restarts, like `requests`).
    pub voice_updates: BTreeMap<String, Vec<VoiceUpdate>>,
    /// Per guild: the voice fault a player gets when it is created (see
    /// `FakeLavalink::fault_new_players`).
    pub new_player_faults: HashMap<String, crate::lavalink::VoiceFault>,
    /// The shape of every track object the fake sends (REST answers and events).
    pub answer_shape: AnswerShape,
    /// The plugins the node runs now.
    pub plugins: Plugins,
    /// The LavaSrc sources registered while LavaSrc runs.
    pub lavasrc_sources: LavaSrcSources,
}

impl State {
    pub fn new(
        player_update_interval: Duration,
        stats_interval: Duration,
        plugins: Plugins,
        lavasrc_sources: LavaSrcSources,
    ) -> Self {
        State {
            started: Instant::now(),
            sessions: HashMap::new(),
            catalogue: Catalogue::new(),
            requests: Vec::new(),
            refuse_until: None,
            player_update_interval,
            stats_interval,
            next_conn_id: 1,
            voice_updates: BTreeMap::new(),
            new_player_faults: HashMap::new(),
            answer_shape: AnswerShape::default(),
            plugins,
            lavasrc_sources,
        }
    }

    /// Shapes every track object sent from now on (REST answers and the events of every
    /// session) as `shape` says.
    pub fn set_answer_shape(&mut self, shape: AnswerShape) {
        self.answer_shape = shape;
        for s in self.sessions.values_mut() {
            s.answer_shape = shape;
        }
    }

    /// `v` (a REST answer) in the fake's answer shape.
    pub fn shaped(&self, mut v: Value) -> Value {
        self.answer_shape.apply(&mut v);
        v
    }

    /// What the node runs now.
    pub fn node(&self) -> Node {
        Node {
            plugins: self.plugins,
            lavasrc_sources: self.lavasrc_sources,
        }
    }

    pub fn refusing(&self, now: Instant) -> bool {
        self.refuse_until.is_some_and(|t| now < t)
    }
}
