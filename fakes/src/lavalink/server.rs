//! HTTP side of the fake: Lavalink's REST API, its websocket, and the `/control` hooks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::catalogue::{decoded_object_bytes, plugin_info};
use super::codec;
use super::plugin_routes;
use super::plugins::{Node, MISSING_SOURCE_MESSAGE};
use super::shape::AnswerShape;
use super::state::{unix_ms, ApiError, ControlError, Outgoing, PlayerUpdate, State};
use super::types::{NewTrack, RecordedRequest, Severity, Track, VoiceFault};

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub password: String,
    pub version: String,
    pub build_time: u64,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) type App = Arc<Shared>;

pub(crate) fn router(shared: App) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/v4/info", get(info))
        .route("/v4/stats", get(stats))
        .route("/v4/loadtracks", get(load_tracks))
        .route("/v4/decodetrack", get(decode_track))
        .route("/v4/decodetracks", post(decode_tracks))
        .route("/v4/websocket", get(websocket))
        .route("/v4/loadsearch", get(plugin_routes::load_search))
        .route("/v4/lyrics", get(plugin_routes::lyrics_of_track))
        .route(
            "/v4/sessions/{session_id}/players/{guild_id}/track/lyrics",
            get(plugin_routes::lyrics_of_player),
        )
        .route("/v4/sessions/{session_id}", patch(update_session))
        .route("/v4/sessions/{session_id}/players", get(get_players))
        .route(
            "/v4/sessions/{session_id}/players/{guild_id}",
            get(get_player).patch(update_player).delete(delete_player),
        )
        .route("/control/restart", post(c_restart))
        .route("/control/drop-sockets", post(c_drop_sockets))
        .route("/control/refuse-connections", post(c_refuse))
        .route("/control/inject/exception", post(c_exception))
        .route("/control/inject/stuck", post(c_stuck))
        .route("/control/inject/websocket-closed", post(c_ws_closed))
        .route("/control/player-update-interval", post(c_interval))
        .route(
            "/control/requests",
            get(c_requests).delete(c_clear_requests),
        )
        .route("/control/players", get(c_players))
        .route("/control/sessions", get(c_sessions))
        .route("/control/tracks", get(c_tracks).post(c_add_track))
        .route("/control/playlists", post(c_add_playlist))
        .route("/control/send-raw", post(c_send_raw))
        .route("/control/voice-fault", post(c_voice_fault))
        .route("/control/voice-updates/{guild_id}", get(c_voice_updates))
        .route(
            "/control/plugins",
            get(plugin_routes::c_plugins).post(plugin_routes::c_set_plugins),
        )
        .route("/control/mixes", post(plugin_routes::c_set_mix))
        .route("/control/lyrics", post(plugin_routes::c_set_lyrics))
        .route(
            "/control/answer-shape",
            get(c_answer_shape).post(c_set_answer_shape),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Lavalink's error body (Spring's, with a millisecond timestamp).
pub(crate) fn error_response(status: u16, message: &str, path: &str, trace: bool) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({
        "timestamp": unix_ms(),
        "status": status,
        "error": code.canonical_reason().unwrap_or("Error"),
        "message": message,
        "path": path,
    });
    if trace {
        if let Some(m) = body.as_object_mut() {
            m.insert(
                "trace".into(),
                Value::String(format!(
                    "org.springframework.web.server.ResponseStatusException: {status} {message}\n\
                     \tat lavalink.server.fake.Handler.handle(FakeLavalink)\n"
                )),
            );
        }
    }
    (code, Json(body)).into_response()
}

pub(crate) fn wants_trace(uri: &Uri) -> bool {
    uri.query()
        .is_some_and(|q| q.split('&').any(|p| p.eq_ignore_ascii_case("trace=true")))
}

pub(crate) fn api_error(e: ApiError, uri: &Uri) -> Response {
    error_response(e.status, &e.message, uri.path(), wants_trace(uri))
}

/// Records the request, answers 503 while refusing, checks `Authorization`, and adds
/// the `Lavalink-Api-Version` header.
async fn gate(AxState(app): AxState<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/control/") {
        return next.run(req).await;
    }
    let (parts, bytes, headers) = crate::http::read_request(req).await;
    let trace = wants_trace(&parts.uri);
    {
        let mut st = app.lock();
        st.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            query: parts.uri.query().map(str::to_string),
            headers,
            body: serde_json::from_slice(&bytes).ok(),
            received_at_unix_us: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0),
        });
        if st.refusing(Instant::now()) {
            return error_response(503, "Service Unavailable", &path, trace);
        }
    }
    // The websocket handshake does its own checks (401 for any bad password).
    if path != "/version" && path != "/v4/websocket" {
        match parts.headers.get("authorization") {
            None => return error_response(401, "Unauthorized", &path, trace),
            Some(v) if v.as_bytes() != app.password.as_bytes() => {
                return error_response(403, "Forbidden", &path, trace)
            }
            Some(_) => {}
        }
    }
    let mut resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    resp.headers_mut()
        .insert("Lavalink-Api-Version", HeaderValue::from_static("4"));
    resp
}

async fn not_found(uri: Uri) -> Response {
    route_not_found(&uri)
}

/// Lavalink's 404 for a route it does not have (a plugin's route while it is off).
pub(crate) fn route_not_found(uri: &Uri) -> Response {
    error_response(404, "Not Found", uri.path(), wants_trace(uri))
}

async fn version(AxState(app): AxState<App>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        app.version.clone(),
    )
        .into_response()
}

async fn info(AxState(app): AxState<App>) -> Json<Value> {
    let node = app.lock().node();
    let (core, build) = match app.version.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (app.version.as_str(), None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let mut nums = core.split('.').map(|n| n.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (
        nums.next().unwrap_or(0),
        nums.next().unwrap_or(0),
        nums.next().unwrap_or(0),
    );
    Json(json!({
        "version": {
            "semver": app.version, "major": major, "minor": minor, "patch": patch,
            "preRelease": pre, "build": build,
        },
        "buildTime": app.build_time,
        "git": {"branch": "main", "commit": "f4ke11e", "commitTime": app.build_time},
        "jvm": "21.0.6",
        "lavaplayer": "2.2.4",
        "sourceManagers": node.source_managers(),
        "filters": ["volume", "equalizer", "karaoke", "timescale", "tremolo", "vibrato",
                    "distortion", "rotation", "channelMix", "lowPass"],
        "plugins": node.plugins.info_plugins(),
    }))
}

async fn stats(AxState(app): AxState<App>) -> Json<Value> {
    Json(app.lock().stats_json(Instant::now(), None))
}

async fn load_tracks(
    AxState(app): AxState<App>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(identifier) = q.get("identifier") else {
        return error_response(
            400,
            "Required request parameter 'identifier' for method parameter type String is not present",
            uri.path(),
            wants_trace(&uri),
        );
    };
    let st = app.lock();
    Json(st.shaped(st.catalogue.load(identifier, st.node()).to_json())).into_response()
}

/// `/v4/decodetrack(s)`: the track lavaplayer decodes from `encoded` (its `encoded` kept
/// as sent, `pluginInfo` from the decoded object). A source the node lacks (its plugin off)
/// is a 500, as lavaplayer decodes no track.
pub(crate) fn decoded_track(encoded: &str, node: Node) -> Result<Track, ApiError> {
    let d = codec::decode(encoded)
        .map_err(|e| ApiError::new(400, format!("Failed to decode track: {e}")))?;
    if !node.has_source(&d.info.source_name) {
        return Err(ApiError::new(500, MISSING_SOURCE_MESSAGE));
    }
    let object_bytes = decoded_object_bytes(&d.info.source_name, &d.source_bytes);
    let mut info = d.info;
    // A message older than version 3 has no artwork; the YouTube source derives it.
    if d.version < 3 && info.artwork_url.is_none() && info.source_name == "youtube" {
        info.artwork_url = Some(format!(
            "https://i.ytimg.com/vi/{}/maxresdefault.jpg",
            info.identifier
        ));
    }
    Ok(Track {
        encoded: encoded.to_string(),
        plugin_info: plugin_info(&info, &object_bytes),
        info,
        user_data: json!({}),
    })
}

async fn decode_track(
    AxState(app): AxState<App>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(encoded) = q.get("encodedTrack").or_else(|| q.get("track")) else {
        return api_error(ApiError::new(400, "No track to decode provided"), &uri);
    };
    let st = app.lock();
    match decoded_track(encoded, st.node()) {
        Ok(t) => Json(st.shaped(json!(t))).into_response(),
        Err(e) => api_error(e, &uri),
    }
}

async fn decode_tracks(AxState(app): AxState<App>, uri: Uri, body: Bytes) -> Response {
    let list: Vec<String> = match serde_json::from_slice(&body) {
        Ok(l) => l,
        Err(e) => {
            return api_error(
                ApiError::new(400, format!("Failed to read request body: {e}")),
                &uri,
            )
        }
    };
    if list.is_empty() {
        return api_error(ApiError::new(400, "No tracks to decode provided"), &uri);
    }
    let st = app.lock();
    match list
        .iter()
        .map(|e| decoded_track(e, st.node()))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(tracks) => Json(st.shaped(json!(tracks))).into_response(),
        Err(e) => api_error(e, &uri),
    }
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, format!("Failed to read request body: {e}")))
}

/// Lavalink binds `{guildId}` to a Long: anything else is a 400.
fn check_guild(guild_id: &str) -> Result<(), ApiError> {
    guild_id.parse::<i64>().map(|_| ()).map_err(|_| {
        ApiError::new(
            400,
            format!("Method parameter 'guildId': Failed to convert value of type 'java.lang.String' to required type 'long'; For input string: \"{guild_id}\""),
        )
    })
}

async fn update_session(
    AxState(app): AxState<App>,
    uri: Uri,
    Path(session_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = parse_json(&body).and_then(|b| app.lock().update_session(&session_id, &b));
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => api_error(e, &uri),
    }
}

async fn get_players(
    AxState(app): AxState<App>,
    uri: Uri,
    Path(session_id): Path<String>,
) -> Response {
    let st = app.lock();
    match st.get_players(&session_id) {
        Ok(v) => Json(st.shaped(v)).into_response(),
        Err(e) => api_error(e, &uri),
    }
}

async fn get_player(
    AxState(app): AxState<App>,
    uri: Uri,
    Path((session_id, guild_id)): Path<(String, String)>,
) -> Response {
    let st = app.lock();
    let result = check_guild(&guild_id).and_then(|_| st.get_player(&session_id, &guild_id));
    match result {
        Ok(v) => Json(st.shaped(v)).into_response(),
        Err(e) => api_error(e, &uri),
    }
}

async fn update_player(
    AxState(app): AxState<App>,
    uri: Uri,
    Path((session_id, guild_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let no_replace = q
        .get("noReplace")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut st = app.lock();
    let result = check_guild(&guild_id)
        .and_then(|_| parse_json(&body))
        .and_then(|b| PlayerUpdate::parse(&b))
        .and_then(|u| st.update_player(&session_id, &guild_id, u, no_replace));
    match result {
        Ok(v) => Json(st.shaped(v)).into_response(),
        Err(e) => api_error(e, &uri),
    }
}

async fn delete_player(
    AxState(app): AxState<App>,
    uri: Uri,
    Path((session_id, guild_id)): Path<(String, String)>,
) -> Response {
    let result =
        check_guild(&guild_id).and_then(|_| app.lock().delete_player(&session_id, &guild_id));
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => api_error(e, &uri),
    }
}

async fn websocket(
    AxState(app): AxState<App>,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let path = uri.path();
    if header("authorization").as_deref() != Some(app.password.as_str()) {
        return error_response(401, "Unauthorized", path, false);
    }
    let Some(user_id) = header("user-id").filter(|u| u.trim().parse::<u64>().is_ok()) else {
        return error_response(400, "Missing or invalid User-Id header", path, false);
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return error_response(400, &e.body_text(), path, false),
    };
    let client_name = header("client-name");
    let resume = header("session-id");
    let resumed = resume
        .as_deref()
        .is_some_and(|id| app.lock().can_resume(id));
    let mut resp =
        ws.on_upgrade(move |socket| run_socket(app, socket, user_id, client_name, resume));
    resp.headers_mut().insert(
        "Session-Resumed",
        HeaderValue::from_static(if resumed { "true" } else { "false" }),
    );
    resp.headers_mut()
        .insert("Lavalink-Major-Version", HeaderValue::from_static("4"));
    resp
}

async fn run_socket(
    app: App,
    mut socket: WebSocket,
    user_id: String,
    client_name: Option<String>,
    resume: Option<String>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (session_id, conn_id) = app
        .lock()
        .connect(&user_id, client_name, resume.as_deref(), tx);
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame { code, reason: reason.into() })))
                        .await;
                    break;
                }
                Some(Outgoing::Abort) | None => break,
            },
            incoming = socket.recv() => match incoming {
                // Lavalink v4 has no client ops; whatever a client sends is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    app.lock().disconnect(&session_id, conn_id);
    drop(socket);
}

// ---- control hooks ----

pub(crate) fn control_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

/// A control request's JSON body (empty = `{}`); the error is the 400's message.
pub(crate) fn control_body(body: &Bytes) -> Result<Value, String> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// The JSON body of a guild hook and its `guildId` (an error is a 400).
fn guild_request(body: &Bytes) -> Result<(Value, String), String> {
    let v = control_body(body)?;
    let guild = guild_of(&v)?;
    Ok((v, guild))
}

/// `{"ok": true}`, or 404 when the hook names no such player.
fn injected(result: Result<(), ControlError>) -> Response {
    match result {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => control_error(StatusCode::NOT_FOUND, e),
    }
}

fn guild_of(v: &Value) -> Result<String, String> {
    match v.get("guildId") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err("guildId is required".to_string()),
    }
}

async fn c_restart(AxState(app): AxState<App>) -> Json<Value> {
    app.lock().restart();
    Json(json!({"ok": true}))
}

async fn c_drop_sockets(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!({"dropped": app.lock().drop_sockets()}))
}

async fn c_refuse(AxState(app): AxState<App>, body: Bytes) -> Response {
    let v = match control_body(&body) {
        Ok(v) => v,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let Some(ms) = v.get("ms").and_then(Value::as_u64) else {
        return control_error(StatusCode::BAD_REQUEST, "ms is required");
    };
    app.lock().refuse_until = Some(Instant::now() + Duration::from_millis(ms));
    Json(json!({"ok": true, "ms": ms})).into_response()
}

async fn c_exception(AxState(app): AxState<App>, body: Bytes) -> Response {
    let (v, guild) = match guild_request(&body) {
        Ok(x) => x,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("Something broke while playing the track.");
    let severity = match v.get("severity").and_then(Value::as_str) {
        None | Some("fault") => Severity::Fault,
        Some("common") => Severity::Common,
        Some("suspicious") => Severity::Suspicious,
        Some(other) => {
            return control_error(StatusCode::BAD_REQUEST, format!("unknown severity {other}"))
        }
    };
    let cause = v.get("cause").and_then(Value::as_str);
    injected(
        app.lock()
            .inject_exception(&guild, message, severity, cause),
    )
}

async fn c_stuck(AxState(app): AxState<App>, body: Bytes) -> Response {
    let (v, guild) = match guild_request(&body) {
        Ok(x) => x,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let threshold = v
        .get("thresholdMs")
        .and_then(Value::as_u64)
        .unwrap_or(10_000);
    injected(app.lock().inject_stuck(&guild, threshold))
}

async fn c_ws_closed(AxState(app): AxState<App>, body: Bytes) -> Response {
    let (v, guild) = match guild_request(&body) {
        Ok(x) => x,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let code = v.get("code").and_then(Value::as_u64).unwrap_or(4006) as u16;
    let reason = v
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("Your session is no longer valid.");
    let by_remote = v.get("byRemote").and_then(Value::as_bool).unwrap_or(true);
    injected(
        app.lock()
            .inject_voice_closed(&guild, code, reason, by_remote),
    )
}

async fn c_interval(AxState(app): AxState<App>, body: Bytes) -> Response {
    let v = match control_body(&body) {
        Ok(v) => v,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    match v.get("ms").and_then(Value::as_u64) {
        Some(ms) if ms > 0 => {
            app.lock().player_update_interval = Duration::from_millis(ms);
            Json(json!({"ok": true, "ms": ms})).into_response()
        }
        _ => control_error(StatusCode::BAD_REQUEST, "ms (> 0) is required"),
    }
}

async fn c_requests(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!(app.lock().requests))
}

async fn c_clear_requests(AxState(app): AxState<App>) -> StatusCode {
    app.lock().requests.clear();
    StatusCode::NO_CONTENT
}

async fn c_players(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!(app.lock().players()))
}

async fn c_sessions(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!(app.lock().sessions()))
}

async fn c_tracks(AxState(app): AxState<App>) -> Json<Value> {
    let st = app.lock();
    let tracks: Vec<Value> = st
        .catalogue
        .entries()
        .iter()
        .map(|e| {
            let mut t = json!(e.track());
            if let Some(m) = t.as_object_mut() {
                m.insert("failsOnPlay".into(), Value::Bool(e.fails_on_play));
            }
            t
        })
        .collect();
    Json(Value::Array(tracks))
}

async fn c_add_track(AxState(app): AxState<App>, body: Bytes) -> Response {
    match serde_json::from_slice::<NewTrack>(&body) {
        Ok(spec) => Json(app.lock().catalogue.add(spec)).into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

/// `{"id", "name", "identifiers": [...]}` → `{"ok": true}`; 400 for a missing field or an
/// identifier the catalogue does not have.
async fn c_add_playlist(AxState(app): AxState<App>, body: Bytes) -> Response {
    let v = match control_body(&body) {
        Ok(v) => v,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    let identifiers: Option<Vec<&str>> = v
        .get("identifiers")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_str).collect());
    let (Some(id), Some(name), Some(identifiers)) = (text("id"), text("name"), identifiers) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "id, name and identifiers (strings) are required",
        );
    };
    match app.lock().catalogue.add_playlist(id, name, &identifiers) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn c_send_raw(AxState(app): AxState<App>, body: Bytes) -> Response {
    let v = match control_body(&body) {
        Ok(v) => v,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let Some(text) = v.get("text").and_then(Value::as_str) else {
        return control_error(StatusCode::BAD_REQUEST, "text is required");
    };
    Json(json!({"sent": app.lock().send_raw(text)})).into_response()
}

/// `{"guildId", "fault": "none" | "disconnected" | "frozen", "cure": "anyVoiceUpdate" |
/// "newVoiceSession" | "never"}` (`cure` with a fault) → `{"ok": true}`; 404 without a
/// player for the guild.
async fn c_voice_fault(AxState(app): AxState<App>, body: Bytes) -> Response {
    let (v, guild) = match guild_request(&body) {
        Ok(x) => x,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let fault: VoiceFault = match serde_json::from_value(v) {
        Ok(f) => f,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, format!("bad fault: {e}")),
    };
    injected(app.lock().set_voice_fault(&guild, fault))
}

/// The guild's voice updates: `[{"sessionId", "voice": {...}, "receivedAtUnixUs"}]`.
async fn c_voice_updates(AxState(app): AxState<App>, Path(guild): Path<String>) -> Json<Value> {
    Json(json!(app.lock().voice_updates(&guild)))
}

/// `{"shape": "lavalink" | "compat"}`: how every track object is shaped from now on (see
/// [`AnswerShape`]).
async fn c_set_answer_shape(AxState(app): AxState<App>, body: Bytes) -> Response {
    let v = match control_body(&body) {
        Ok(v) => v,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, e),
    };
    let shape: AnswerShape = match v.get("shape").map(|s| serde_json::from_value(s.clone())) {
        Some(Ok(shape)) => shape,
        Some(Err(e)) => return control_error(StatusCode::BAD_REQUEST, format!("bad shape: {e}")),
        None => return control_error(StatusCode::BAD_REQUEST, "shape is required"),
    };
    app.lock().set_answer_shape(shape);
    Json(json!({"ok": true, "shape": shape})).into_response()
}

async fn c_answer_shape(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!({"shape": app.lock().answer_shape}))
}
