//! Sessions, players and their playback clock. Everything lives behind one mutex; the
//! websocket tasks only forward what is queued for them here.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::catalogue::{Catalogue, LoadResult};
use super::codec;
use super::types::{
    PlayerSnapshot, PlayerState, RecordedRequest, SessionSnapshot, Severity, Track, TrackInfo,
    VoiceState,
};

/// How long after its start a "fails on play" track fails.
const FAIL_AFTER: Duration = Duration::from_millis(50);

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
}

impl Session {
    /// Sends a message on the socket; with no socket, events are kept for a resuming
    /// client and everything else is dropped.
    fn emit(&mut self, msg: &Value) {
        let is_event = msg.get("op").and_then(Value::as_str) == Some("event");
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

#[derive(Debug, Clone)]
pub(crate) struct Playing {
    pub info: TrackInfo,
    pub source_bytes: Vec<u8>,
    pub user_data: Value,
    pub base_pos: u64,
    pub base_at: Option<Instant>,
    pub end_time: Option<u64>,
    pub fail_at: Option<Instant>,
    pub last_update: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct Player {
    pub guild_id: String,
    pub volume: u32,
    pub paused: bool,
    pub filters: Value,
    pub voice: Option<VoiceState>,
    /// False after an injected WebSocketClosedEvent, until the next voice update.
    pub voice_open: bool,
    pub track: Option<Playing>,
}

impl Player {
    fn new(guild_id: &str) -> Self {
        Player {
            guild_id: guild_id.to_string(),
            volume: 100,
            paused: false,
            filters: json!({}),
            voice: None,
            voice_open: false,
            track: None,
        }
    }

    pub fn connected(&self) -> bool {
        self.voice.is_some() && self.voice_open
    }

    pub fn advancing(&self) -> bool {
        self.track.is_some() && self.connected() && !self.paused
    }

    /// Track time per wall-clock time: timescale speed × rate.
    fn speed(&self) -> f64 {
        let ts = self.filters.get("timescale");
        let get = |k: &str| {
            ts.and_then(|t| t.get(k))
                .and_then(Value::as_f64)
                .filter(|v| *v > 0.0)
                .unwrap_or(1.0)
        };
        get("speed") * get("rate")
    }

    pub fn position(&self, now: Instant) -> u64 {
        let Some(t) = &self.track else { return 0 };
        let pos = match t.base_at {
            Some(at) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64() * 1000.0;
                t.base_pos.saturating_add((elapsed * self.speed()) as u64)
            }
            None => t.base_pos,
        };
        if t.info.is_stream {
            pos
        } else {
            pos.min(t.info.length)
        }
    }

    /// Freezes the position at `now` and restarts the clock according to the current
    /// state. Call before and after any change that affects the clock.
    fn rebase(&mut self, now: Instant) {
        let pos = self.position(now);
        let advancing = self.advancing();
        if let Some(t) = &mut self.track {
            t.base_pos = pos;
            t.base_at = advancing.then_some(now);
        }
    }

    fn track_json(&self, now: Instant) -> Option<Track> {
        let t = self.track.as_ref()?;
        Some(track_at(t, self.position(now)))
    }

    pub fn state(&self, now: Instant) -> PlayerState {
        PlayerState {
            time: unix_ms(),
            position: self.position(now),
            connected: self.connected(),
            ping: if self.connected() { 0 } else { -1 },
        }
    }

    pub fn to_json(&self, now: Instant) -> Value {
        // Lavalink answers the voice state it holds for the Discord voice connection,
        // which does not keep the channel: `channelId` is null in player objects (as
        // lavalink-rs documents: "will be none on get players"). Control snapshots keep it.
        let voice = match &self.voice {
            Some(v) => json!({
                "token": v.token, "endpoint": v.endpoint,
                "sessionId": v.session_id, "channelId": null,
            }),
            None => json!({"token": "", "endpoint": "", "sessionId": "", "channelId": null}),
        };
        json!({
            "guildId": self.guild_id,
            "track": self.track_json(now),
            "volume": self.volume,
            "paused": self.paused,
            "state": self.state(now),
            "voice": voice,
            "filters": self.filters,
        })
    }

    fn update_msg(&self, now: Instant) -> Value {
        json!({"op": "playerUpdate", "guildId": self.guild_id, "state": self.state(now)})
    }

    fn event(&self, kind: &str, track: &Track, extra: Value) -> Value {
        let mut m = json!({"op": "event", "type": kind, "guildId": self.guild_id, "track": track});
        if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), extra) {
            m.extend(extra);
        }
        m
    }

    /// Ends the current track; returns the TrackEndEvent.
    fn end_track(&mut self, now: Instant, reason: &str) -> Option<Value> {
        let track = self.track_json(now)?;
        self.track = None;
        Some(self.event("TrackEndEvent", &track, json!({"reason": reason})))
    }

    /// Plays `playing`, replacing any current track. Returns the messages in Lavalink's
    /// order: TrackEndEvent(replaced), TrackStartEvent, playerUpdate.
    fn play(&mut self, mut playing: Playing, fails_on_play: bool, now: Instant) -> Vec<Value> {
        let mut out = Vec::new();
        out.extend(self.end_track(now, "replaced"));
        playing.fail_at = fails_on_play.then(|| now + FAIL_AFTER);
        playing.last_update = now;
        self.track = Some(playing);
        self.rebase(now);
        if let Some(t) = self.track_json(now) {
            out.push(self.event("TrackStartEvent", &t, json!({})));
        }
        out.push(self.update_msg(now));
        out
    }

    fn snapshot(&self, session_id: &str, now: Instant) -> PlayerSnapshot {
        PlayerSnapshot {
            session_id: session_id.to_string(),
            guild_id: self.guild_id.clone(),
            track: self.track_json(now),
            position: self.position(now),
            paused: self.paused,
            volume: self.volume,
            connected: self.connected(),
            playing: self.advancing(),
            voice: self.voice.clone(),
            end_time: self.track.as_ref().and_then(|t| t.end_time),
            filters: self.filters.clone(),
        }
    }
}

/// A track object as Lavalink renders a playing track: re-encoded with its position.
fn track_at(t: &Playing, position: u64) -> Track {
    let mut info = t.info.clone();
    info.position = position;
    Track {
        encoded: codec::encode_with_source_bytes(&info, &t.source_bytes),
        info,
        plugin_info: json!({}),
        user_data: t.user_data.clone(),
    }
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

/// The omissible fields of a player update, type-checked.
#[derive(Debug, Default)]
pub(crate) struct PlayerUpdate {
    /// Outer None: omitted; inner None: `null` (stop).
    encoded: Option<Option<String>>,
    identifier: Option<String>,
    user_data: Option<Value>,
    position: Option<u64>,
    end_time: Option<Option<i64>>,
    volume: Option<i64>,
    paused: Option<bool>,
    filters: Option<Value>,
    voice: Option<VoiceState>,
}

fn bad_field(name: &str, expected: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Failed to read request body: field '{name}' must be {expected}"
    ))
}

impl PlayerUpdate {
    /// Parses a PATCH body the way Lavalink's deserializer does: wrong types, a missing
    /// voice field and both `track` and `encodedTrack`/`identifier` are 400s.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let obj = body.as_object().ok_or_else(|| {
            ApiError::bad_request("Failed to read request body: expected an object")
        })?;
        let mut u = PlayerUpdate::default();
        let str_or_null = |name: &str, v: &Value| -> Result<Option<String>, ApiError> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                _ => Err(bad_field(name, "a string or null")),
            }
        };
        let track = obj.get("track");
        let legacy = obj.contains_key("encodedTrack") || obj.contains_key("identifier");
        if track.is_some() && legacy {
            return Err(ApiError::bad_request(
                "Cannot specify both track and encodedTrack/identifier",
            ));
        }
        let track_fields: Option<&Map<String, Value>> = match track {
            Some(Value::Object(t)) => Some(t),
            Some(_) => return Err(bad_field("track", "an object")),
            None => Some(obj),
        };
        if let Some(t) = track_fields {
            let (enc_key, id_key) = if track.is_some() {
                ("encoded", "identifier")
            } else {
                ("encodedTrack", "identifier")
            };
            if let Some(v) = t.get(enc_key) {
                u.encoded = Some(str_or_null(enc_key, v)?);
            }
            if let Some(v) = t.get(id_key) {
                u.identifier = Some(
                    v.as_str()
                        .ok_or_else(|| bad_field(id_key, "a string"))?
                        .to_string(),
                );
            }
            if track.is_some() {
                if let Some(v) = t.get("userData") {
                    if !v.is_object() {
                        return Err(bad_field("userData", "an object"));
                    }
                    u.user_data = Some(v.clone());
                }
            }
        }
        if let Some(v) = obj.get("position") {
            let p = v
                .as_i64()
                .ok_or_else(|| bad_field("position", "an integer"))?;
            u.position = Some(p.max(0) as u64);
        }
        if let Some(v) = obj.get("endTime") {
            u.end_time = Some(match v {
                Value::Null => None,
                v => Some(
                    v.as_i64()
                        .ok_or_else(|| bad_field("endTime", "an integer or null"))?,
                ),
            });
        }
        if let Some(v) = obj.get("volume") {
            u.volume = Some(
                v.as_i64()
                    .ok_or_else(|| bad_field("volume", "an integer"))?,
            );
        }
        if let Some(v) = obj.get("paused") {
            u.paused = Some(
                v.as_bool()
                    .ok_or_else(|| bad_field("paused", "a boolean"))?,
            );
        }
        if let Some(v) = obj.get("filters") {
            if !v.is_object() {
                return Err(bad_field("filters", "an object"));
            }
            u.filters = Some(v.clone());
        }
        if let Some(v) = obj.get("voice") {
            let v = v
                .as_object()
                .ok_or_else(|| bad_field("voice", "an object"))?;
            let get = |k: &str| -> Result<String, ApiError> {
                match v.get(k) {
                    Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(ApiError::bad_request(format!(
                        "Partial Lavalink voice state: field '{k}' is required \
                         (token, endpoint, sessionId and channelId)"
                    ))),
                }
            };
            u.voice = Some(VoiceState {
                token: get("token")?,
                endpoint: get("endpoint")?,
                session_id: get("sessionId")?,
                channel_id: get("channelId")?,
            });
        }
        Ok(u)
    }

    fn new_track(&self) -> bool {
        self.encoded.is_some() || self.identifier.is_some()
    }
}

fn validate_filters(f: &Value) -> Result<(), ApiError> {
    let num = |v: Option<&Value>| v.and_then(Value::as_f64);
    if let Some(v) = f.get("volume") {
        match v.as_f64() {
            Some(x) if (0.0..=5.0).contains(&x) => {}
            _ => {
                return Err(ApiError::bad_request(
                    "Filter volume must be between 0.0 and 5.0",
                ))
            }
        }
    }
    if let Some(eq) = f.get("equalizer") {
        let bands = eq
            .as_array()
            .ok_or_else(|| ApiError::bad_request("Filter equalizer must be an array"))?;
        for b in bands {
            match b.get("band").and_then(Value::as_i64) {
                Some(0..=14) => {}
                _ => {
                    return Err(ApiError::bad_request(
                        "Equalizer band must be between 0 and 14",
                    ))
                }
            }
            match num(b.get("gain")) {
                Some(g) if (-0.25..=1.0).contains(&g) => {}
                _ => {
                    return Err(ApiError::bad_request(
                        "Equalizer gain must be between -0.25 and 1.0",
                    ))
                }
            }
        }
    }
    for key in [
        "karaoke",
        "timescale",
        "tremolo",
        "vibrato",
        "rotation",
        "distortion",
        "channelMix",
        "lowPass",
        "pluginFilters",
    ] {
        if let Some(v) = f.get(key) {
            if !v.is_object() {
                return Err(ApiError::bad_request(format!(
                    "Filter {key} must be an object"
                )));
            }
        }
    }
    if let Some(ts) = f.get("timescale") {
        for k in ["speed", "pitch", "rate"] {
            if let Some(x) = ts.get(k) {
                if !x.as_f64().is_some_and(|x| x >= 0.0) {
                    return Err(ApiError::bad_request(format!(
                        "Timescale {k} must be >= 0.0"
                    )));
                }
            }
        }
    }
    Ok(())
}

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
}

impl State {
    pub fn new(player_update_interval: Duration, stats_interval: Duration) -> Self {
        State {
            started: Instant::now(),
            sessions: HashMap::new(),
            catalogue: Catalogue::new(),
            requests: Vec::new(),
            refuse_until: None,
            player_update_interval,
            stats_interval,
            next_conn_id: 1,
        }
    }

    pub fn refusing(&self, now: Instant) -> bool {
        self.refuse_until.is_some_and(|t| now < t)
    }

    fn new_session_id(&self) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::thread_rng();
        loop {
            let id: String = (0..16)
                .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
                .collect();
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// A kept session a client may resume right now.
    pub fn can_resume(&self, session_id: &str) -> bool {
        self.sessions
            .get(session_id)
            .is_some_and(|s| s.socket.is_none() && s.resuming)
    }

    /// Attaches a websocket: resumes `resume` if it can, else opens a new session. Queues
    /// ready (+ replayed events + a playerUpdate per player when resumed) and stats.
    pub fn connect(
        &mut self,
        user_id: &str,
        client_name: Option<String>,
        resume: Option<&str>,
        tx: UnboundedSender<Outgoing>,
    ) -> (String, u64) {
        let now = Instant::now();
        let conn_id = self.next_conn_id;
        self.next_conn_id += 1;
        let resumable = resume.filter(|id| self.can_resume(id)).map(str::to_string);
        let id = match resumable {
            Some(id) => id,
            None => {
                let id = self.new_session_id();
                self.sessions.insert(
                    id.clone(),
                    Session {
                        id: id.clone(),
                        user_id: user_id.to_string(),
                        client_name: client_name.clone(),
                        resuming: false,
                        timeout_secs: 60,
                        socket: None,
                        disconnected_at: None,
                        queue: Vec::new(),
                        players: BTreeMap::new(),
                        last_stats: now,
                    },
                );
                id
            }
        };
        let stats = self.stats_json(now, Some(&id));
        let Some(s) = self.sessions.get_mut(&id) else {
            return (id, conn_id);
        };
        let resumed = s.disconnected_at.is_some();
        let send = |m: &Value| {
            let _ = tx.send(Outgoing::Text(m.to_string()));
        };
        send(&json!({"op": "ready", "resumed": resumed, "sessionId": id}));
        if resumed {
            for text in s.queue.drain(..) {
                let _ = tx.send(Outgoing::Text(text));
            }
            for p in s.players.values() {
                send(&p.update_msg(now));
            }
        }
        send(&stats);
        s.client_name = client_name.or(s.client_name.take());
        s.disconnected_at = None;
        s.last_stats = now;
        s.socket = Some(Socket { conn_id, tx });
        (id, conn_id)
    }

    /// A websocket ended: keep the session for a resuming client, else destroy it.
    pub fn disconnect(&mut self, session_id: &str, conn_id: u64) {
        let Some(s) = self.sessions.get_mut(session_id) else {
            return;
        };
        if s.socket.as_ref().map(|s| s.conn_id) != Some(conn_id) {
            return;
        }
        s.socket = None;
        if s.resuming {
            s.disconnected_at = Some(Instant::now());
        } else {
            self.sessions.remove(session_id);
        }
    }

    /// Advances every clock: ends tracks, fails failing ones, sends playerUpdates and
    /// stats when due, expires kept sessions.
    pub fn tick(&mut self, now: Instant) {
        let interval = self.player_update_interval;
        let stats_due: Vec<String> = self
            .sessions
            .values()
            .filter(|s| {
                s.socket.is_some() && now.duration_since(s.last_stats) >= self.stats_interval
            })
            .map(|s| s.id.clone())
            .collect();
        for id in stats_due {
            let stats = self.stats_json(now, Some(&id));
            if let Some(s) = self.sessions.get_mut(&id) {
                s.last_stats = now;
                s.emit(&stats);
            }
        }
        self.sessions.retain(|_, s| match s.disconnected_at {
            Some(at) => now.duration_since(at) < Duration::from_secs(s.timeout_secs),
            None => true,
        });
        for s in self.sessions.values_mut() {
            let mut out = Vec::new();
            let connected = s.socket.is_some();
            for p in s.players.values_mut() {
                let Some(t) = &p.track else { continue };
                if t.fail_at.is_some_and(|at| now >= at) {
                    if let Some(track) = p.track_json(now) {
                        out.push(p.event(
                            "TrackExceptionEvent",
                            &track,
                            json!({"exception": {
                                "message": "This video is unavailable",
                                "severity": "common",
                                "cause": "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: This video is unavailable",
                                "causeStackTrace": "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: This video is unavailable\n\tat encore.fake.Lavalink.play(Fake)\n",
                            }}),
                        ));
                    }
                    out.extend(p.end_track(now, "loadFailed"));
                    continue;
                }
                let limit = match (t.info.is_stream, t.end_time) {
                    (true, Some(end)) => Some(end),
                    (true, None) => None,
                    (false, Some(end)) => Some(end.min(t.info.length)),
                    (false, None) => Some(t.info.length),
                };
                if let Some(limit) = limit {
                    if p.position(now) >= limit {
                        if let Some(tr) = &mut p.track {
                            tr.base_pos = limit;
                            tr.base_at = None;
                        }
                        out.extend(p.end_track(now, "finished"));
                        continue;
                    }
                }
                if now.duration_since(t.last_update) >= interval {
                    if let Some(t) = &mut p.track {
                        t.last_update = now;
                    }
                    if connected {
                        out.push(p.update_msg(now));
                    }
                }
            }
            s.emit_all(out);
        }
    }

    /// The stats object; with `frames_for` (a session id) the websocket `stats` message
    /// with that session's `frameStats`, without it the `/v4/stats` body.
    pub fn stats_json(&self, now: Instant, frames_for: Option<&str>) -> Value {
        let players = self
            .sessions
            .values()
            .map(|s| s.players.len())
            .sum::<usize>();
        let playing = self
            .sessions
            .values()
            .flat_map(|s| s.players.values())
            .filter(|p| p.track.is_some() && !p.paused)
            .count();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut stats = json!({
            "players": players,
            "playingPlayers": playing,
            "uptime": now.duration_since(self.started).as_millis() as u64,
            "memory": {
                "free": 201_326_592u64,
                "used": 67_108_864u64,
                "allocated": 268_435_456u64,
                "reservable": 4_294_967_296u64,
            },
            "cpu": {"cores": cores, "systemLoad": 0.05, "lavalinkLoad": 0.01},
        });
        if let (Some(id), Some(m)) = (frames_for, stats.as_object_mut()) {
            let frame_stats = match self.sessions.get(id) {
                Some(s) if !s.players.is_empty() => {
                    let sending = s.players.values().filter(|p| p.advancing()).count() as u64;
                    json!({"sent": sending * 3000, "nulled": 0, "deficit": 0})
                }
                _ => Value::Null,
            };
            m.insert("frameStats".into(), frame_stats);
            m.insert("op".into(), Value::String("stats".into()));
        }
        stats
    }

    fn session_mut(&mut self, id: &str) -> Result<&mut Session, ApiError> {
        self.sessions
            .get_mut(id)
            .ok_or_else(ApiError::session_not_found)
    }

    pub fn get_players(&self, session_id: &str) -> Result<Value, ApiError> {
        let now = Instant::now();
        let s = self
            .sessions
            .get(session_id)
            .ok_or_else(ApiError::session_not_found)?;
        Ok(Value::Array(
            s.players.values().map(|p| p.to_json(now)).collect(),
        ))
    }

    pub fn get_player(&self, session_id: &str, guild_id: &str) -> Result<Value, ApiError> {
        let s = self
            .sessions
            .get(session_id)
            .ok_or_else(ApiError::session_not_found)?;
        s.players
            .get(guild_id)
            .map(|p| p.to_json(Instant::now()))
            .ok_or_else(|| ApiError::new(404, "Player not found"))
    }

    pub fn delete_player(&mut self, session_id: &str, guild_id: &str) -> Result<(), ApiError> {
        let s = self.session_mut(session_id)?;
        s.players.remove(guild_id);
        Ok(())
    }

    pub fn update_session(&mut self, session_id: &str, body: &Value) -> Result<Value, ApiError> {
        let obj = body.as_object().ok_or_else(|| {
            ApiError::bad_request("Failed to read request body: expected an object")
        })?;
        let resuming = match obj.get("resuming") {
            None => None,
            Some(v) => Some(
                v.as_bool()
                    .ok_or_else(|| bad_field("resuming", "a boolean"))?,
            ),
        };
        let timeout = match obj.get("timeout") {
            None => None,
            Some(v) => {
                let t = v
                    .as_i64()
                    .ok_or_else(|| bad_field("timeout", "an integer"))?;
                if t < 0 {
                    return Err(ApiError::bad_request("Resume timeout must be >= 0"));
                }
                Some(t as u64)
            }
        };
        let s = self.session_mut(session_id)?;
        if let Some(r) = resuming {
            s.resuming = r;
        }
        if let Some(t) = timeout {
            s.timeout_secs = t;
        }
        Ok(json!({"resuming": s.resuming, "timeout": s.timeout_secs}))
    }

    /// `PATCH /v4/sessions/{sessionId}/players/{guildId}`, in Lavalink's order.
    pub fn update_player(
        &mut self,
        session_id: &str,
        guild_id: &str,
        update: PlayerUpdate,
        no_replace: bool,
    ) -> Result<Value, ApiError> {
        let now = Instant::now();
        if !self.sessions.contains_key(session_id) {
            return Err(ApiError::session_not_found());
        }
        if update.encoded.is_some() && update.identifier.is_some() {
            return Err(ApiError::bad_request(
                "Cannot specify both encodedTrack and identifier",
            ));
        }
        if let Some(f) = &update.filters {
            validate_filters(f)?;
        }
        if let Some(Some(end)) = update.end_time {
            if end <= 0 {
                return Err(ApiError::bad_request("End time must be greater than 0"));
            }
        }
        if let Some(v) = update.volume {
            if !(0..=1000).contains(&v) {
                return Err(ApiError::bad_request("Volume must be between 0 and 1000"));
            }
        }
        // Resolve the new track before touching the player (the real server answers the
        // same errors; it just applies the other fields first).
        let new_track = if update.new_track() {
            Some(self.resolve_track(&update)?)
        } else {
            None
        };

        let s = self.session_mut(session_id)?;
        let mut out = Vec::new();
        let p = s
            .players
            .entry(guild_id.to_string())
            .or_insert_with(|| Player::new(guild_id));
        p.rebase(now);
        if let Some(v) = update.voice.clone() {
            p.voice = Some(v);
            p.voice_open = true;
        }
        if !update.new_track() {
            if let Some(paused) = update.paused {
                p.paused = paused;
            }
            if let (Some(ud), Some(t)) = (update.user_data.clone(), p.track.as_mut()) {
                t.user_data = ud;
            }
        }
        if let Some(v) = update.volume {
            p.volume = v as u32;
        }
        if !update.new_track() {
            if let (Some(pos), Some(t)) = (update.position, p.track.as_mut()) {
                t.base_pos = if t.info.is_stream {
                    pos
                } else {
                    pos.min(t.info.length)
                };
                t.base_at = None;
                p.rebase(now);
                out.push(p.update_msg(now));
            }
            if let (Some(end), Some(t)) = (update.end_time, p.track.as_mut()) {
                t.end_time = end.map(|e| e as u64);
            }
        }
        if let Some(f) = update.filters.clone() {
            p.rebase(now);
            p.filters = f;
            p.rebase(now);
            out.push(p.update_msg(now));
        }
        p.rebase(now);
        if let Some(resolved) = new_track {
            if no_replace && p.track.is_some() {
                let player = p.to_json(now);
                s.emit_all(out);
                return Ok(player);
            }
            p.paused = update.paused.unwrap_or(false);
            match resolved {
                Some((info, source_bytes, fails)) => {
                    let start = update.position.unwrap_or(info.position);
                    let playing = Playing {
                        base_pos: start,
                        info,
                        source_bytes,
                        user_data: update.user_data.clone().unwrap_or_else(|| json!({})),
                        base_at: None,
                        end_time: update.end_time.flatten().map(|e| e as u64),
                        fail_at: None,
                        last_update: now,
                    };
                    out.extend(p.play(playing, fails, now));
                }
                None => out.extend(p.end_track(now, "stopped")),
            }
        }
        let player = p.to_json(now);
        s.emit_all(out);
        Ok(player)
    }

    /// The track a PATCH names: `Some((info, sourceBytes, failsOnPlay))`, `None` to stop.
    #[allow(clippy::type_complexity)]
    fn resolve_track(
        &self,
        update: &PlayerUpdate,
    ) -> Result<Option<(TrackInfo, Vec<u8>, bool)>, ApiError> {
        if let Some(encoded) = &update.encoded {
            let Some(encoded) = encoded else {
                return Ok(None);
            };
            let d = codec::decode(encoded)
                .map_err(|e| ApiError::bad_request(format!("Failed to decode track: {e}")))?;
            let fails = self
                .catalogue
                .by_identifier(&d.info.identifier)
                .is_some_and(|e| e.fails_on_play);
            return Ok(Some((d.info, d.source_bytes, fails)));
        }
        let identifier = update.identifier.as_deref().unwrap_or_default();
        match self.catalogue.load(identifier) {
            LoadResult::Track(t) => {
                let fails = self
                    .catalogue
                    .by_identifier(&t.info.identifier)
                    .is_some_and(|e| e.fails_on_play);
                Ok(Some((t.info, Vec::new(), fails)))
            }
            LoadResult::Playlist { .. } | LoadResult::Search(_) => Err(ApiError::bad_request(
                "Cannot play a playlist or search result",
            )),
            LoadResult::Empty => Err(ApiError::bad_request("No matches found for identifier")),
            LoadResult::Error { message, .. } => Err(ApiError::new(500, message)),
        }
    }

    // ---- control hooks ----

    pub fn restart(&mut self) {
        for s in self.sessions.values() {
            if let Some(sock) = &s.socket {
                let _ = sock.tx.send(Outgoing::Close(1001, "Shutting down".into()));
            }
        }
        self.sessions.clear();
        self.started = Instant::now();
    }

    pub fn drop_sockets(&mut self) -> usize {
        let mut n = 0;
        for s in self.sessions.values() {
            if let Some(sock) = &s.socket {
                let _ = sock.tx.send(Outgoing::Abort);
                n += 1;
            }
        }
        n
    }

    pub fn send_raw(&self, text: &str) -> usize {
        self.sessions
            .values()
            .filter_map(|s| s.socket.as_ref())
            .filter(|sock| sock.tx.send(Outgoing::Text(text.to_string())).is_ok())
            .count()
    }

    fn players_with_track(
        &mut self,
        guild_id: &str,
    ) -> Result<Vec<(String, String)>, ControlError> {
        let found: Vec<(String, String)> = self
            .sessions
            .values()
            .filter(|s| s.players.get(guild_id).is_some_and(|p| p.track.is_some()))
            .map(|s| (s.id.clone(), guild_id.to_string()))
            .collect();
        if found.is_empty() {
            return Err(ControlError(format!(
                "no player with a track for guild {guild_id}"
            )));
        }
        Ok(found)
    }

    pub fn inject_exception(
        &mut self,
        guild_id: &str,
        message: &str,
        severity: Severity,
        cause: Option<&str>,
    ) -> Result<(), ControlError> {
        let now = Instant::now();
        for (sid, gid) in self.players_with_track(guild_id)? {
            let Some(s) = self.sessions.get_mut(&sid) else {
                continue;
            };
            let Some(p) = s.players.get_mut(&gid) else {
                continue;
            };
            let mut out = Vec::new();
            let cause = cause
                .map(str::to_string)
                .unwrap_or_else(|| format!("java.lang.RuntimeException: {message}"));
            if let Some(track) = p.track_json(now) {
                out.push(p.event(
                    "TrackExceptionEvent",
                    &track,
                    json!({"exception": {
                        "message": message,
                        "severity": severity.as_str(),
                        "cause": cause,
                        "causeStackTrace": format!("{cause}\n\tat encore.fake.Lavalink.inject(Fake)\n"),
                    }}),
                ));
            }
            out.extend(p.end_track(now, "loadFailed"));
            s.emit_all(out);
        }
        Ok(())
    }

    pub fn inject_stuck(&mut self, guild_id: &str, threshold_ms: u64) -> Result<(), ControlError> {
        let now = Instant::now();
        for (sid, gid) in self.players_with_track(guild_id)? {
            let Some(s) = self.sessions.get_mut(&sid) else {
                continue;
            };
            let Some(p) = s.players.get(&gid) else {
                continue;
            };
            let Some(track) = p.track_json(now) else {
                continue;
            };
            let ev = p.event(
                "TrackStuckEvent",
                &track,
                json!({"thresholdMs": threshold_ms}),
            );
            s.emit(&ev);
        }
        Ok(())
    }

    pub fn inject_voice_closed(
        &mut self,
        guild_id: &str,
        code: u16,
        reason: &str,
        by_remote: bool,
    ) -> Result<(), ControlError> {
        let now = Instant::now();
        let mut found = false;
        for s in self.sessions.values_mut() {
            let Some(p) = s.players.get_mut(guild_id) else {
                continue;
            };
            found = true;
            p.rebase(now);
            p.voice_open = false;
            p.rebase(now);
            let ev = json!({
                "op": "event", "type": "WebSocketClosedEvent", "guildId": guild_id,
                "code": code, "reason": reason, "byRemote": by_remote,
            });
            s.emit(&ev);
        }
        if found {
            Ok(())
        } else {
            Err(ControlError(format!("no player for guild {guild_id}")))
        }
    }

    pub fn players(&self) -> Vec<PlayerSnapshot> {
        let now = Instant::now();
        let mut ids: Vec<&String> = self.sessions.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| self.sessions.get(id))
            .flat_map(|s| s.players.values().map(move |p| p.snapshot(&s.id, now)))
            .collect()
    }

    pub fn sessions(&self) -> Vec<SessionSnapshot> {
        let mut v: Vec<SessionSnapshot> = self
            .sessions
            .values()
            .map(|s| SessionSnapshot {
                session_id: s.id.clone(),
                user_id: s.user_id.clone(),
                client_name: s.client_name.clone(),
                connected: s.socket.is_some(),
                resuming: s.resuming,
                timeout: s.timeout_secs,
                queued_events: s.queue.len(),
                players: s.players.keys().cloned().collect(),
            })
            .collect();
        v.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        v
    }
}
