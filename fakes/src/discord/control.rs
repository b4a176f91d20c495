//! `/control/...`: the library's methods over plain HTTP + JSON (no auth), so scripts in
//! any language can drive a scenario. Documented in `docs/testing-discord.md`.

#![allow(clippy::result_large_err)] // handlers return ready-made responses

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::server::{broadcast, control_error, control_result, parse_body, App};
use super::state::{schedule_voice_server, Outgoing};
use super::types::{id, GuildSpec, Injected, Overwrite, SentBy, VoiceServerMode};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/control/info", get(info))
        .route("/control/guilds", get(guilds).post(add_guild))
        .route("/control/voice", post(voice))
        .route("/control/move-bot", post(move_bot))
        .route("/control/guilds/{id}/bot-voice", get(bot_voice))
        .route("/control/delete-channel", post(delete_channel))
        .route("/control/channel-overwrites", post(channel_overwrites))
        .route("/control/inject/command", post(inject_command))
        .route("/control/inject/autocomplete", post(inject_autocomplete))
        .route("/control/inject/component", post(inject_component))
        .route("/control/dispatch", post(dispatch))
        .route("/control/interactions", get(interactions))
        .route("/control/interactions/{id}", get(interaction))
        .route("/control/channels/{id}/messages", get(messages))
        .route("/control/messages/{id}", get(message))
        .route(
            "/control/gateway-sent",
            get(gateway_sent).delete(clear_gateway_sent),
        )
        .route("/control/gateway-sent/max-in-window", get(max_in_window))
        .route("/control/commands", get(commands))
        .route("/control/requests", get(requests).delete(clear_requests))
        .route("/control/sessions", get(sessions))
        .route("/control/gateway/heartbeat", post(heartbeat))
        .route("/control/gateway/reconnect", post(reconnect))
        .route("/control/gateway/invalidate", post(invalidate))
        .route("/control/gateway/drop", post(drop_connections))
        .route("/control/gateway/close", post(close))
        .route("/control/gateway/send-raw", post(send_raw))
        .route("/control/gateway/rate-limit-closes", get(rate_limit_closes))
        .route("/control/outage", get(outage).post(go_down))
        .route("/control/slow-messages", post(slow_messages))
        .route("/control/reset-token", post(reset_token))
        .merge(voice_routes())
}

/// The voice channel limit and voice server hooks.
fn voice_routes() -> Router<App> {
    Router::new()
        .route("/control/user-limit", post(user_limit))
        .route("/control/voice-server-mode", post(voice_server_mode))
        .route(
            "/control/reallocate-voice-server",
            post(reallocate_voice_server),
        )
        .route("/control/guilds/{id}/voice-servers", get(voice_servers))
}

fn opt_id(v: Option<&Value>) -> Result<Option<u64>, Response> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(x) => id::parse(x)
            .map(Some)
            .ok_or_else(|| control_error(StatusCode::BAD_REQUEST, format!("not a snowflake: {x}"))),
    }
}

fn req_id(v: &Value, key: &str) -> Result<u64, Response> {
    opt_id(v.get(key))?
        .ok_or_else(|| control_error(StatusCode::BAD_REQUEST, format!("{key} is required")))
}

fn body(b: &Bytes) -> Result<Value, Response> {
    parse_body::<Value>(b)
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

async fn info(AxState(app): AxState<App>) -> Json<Value> {
    let st = app.lock();
    let base = st
        .cfg
        .gateway_url
        .replace("ws://", "http://")
        .trim_end_matches("/gateway")
        .to_string();
    Json(json!({
        "base_url": base,
        "api_url": format!("{base}/api/v10"),
        "gateway_url": st.cfg.gateway_url,
        "bot_user_id": st.cfg.bot_user_id.to_string(),
        "application_id": st.cfg.application_id.to_string(),
        "bot_name": st.cfg.bot_name,
        "shard_count": st.cfg.shard_count,
        "heartbeat_interval": st.cfg.heartbeat_interval_ms,
    }))
}

async fn guilds(AxState(app): AxState<App>) -> Json<Value> {
    let ids: Vec<String> = app.lock().guild_ids().iter().map(u64::to_string).collect();
    Json(json!(ids))
}

async fn add_guild(AxState(app): AxState<App>, b: Bytes) -> Response {
    let spec: GuildSpec = tri!(parse_body(&b));
    match app.lock().add_guild(spec) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn voice(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let guild = tri!(req_id(&v, "guild_id"));
    let user = tri!(req_id(&v, "user_id"));
    let channel = tri!(opt_id(v.get("channel_id")));
    let r = app.lock().set_user_voice(guild, user, channel);
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn move_bot(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let guild = tri!(req_id(&v, "guild_id"));
    let channel = tri!(opt_id(v.get("channel_id")));
    let r = app.lock().move_bot(guild, channel);
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn bot_voice(AxState(app): AxState<App>, Path(g): Path<String>) -> Response {
    let Ok(guild) = g.parse::<u64>() else {
        return control_error(StatusCode::BAD_REQUEST, format!("not a snowflake: {g}"));
    };
    let st = app.lock();
    let bot = st.cfg.bot_user_id;
    Json(json!({
        "channel_id": st.voice_channel_of(guild, bot).map(|c| c.to_string()),
        "owner_session_id": st.bot_voice_session_owner(guild),
    }))
    .into_response()
}

async fn delete_channel(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let guild = tri!(req_id(&v, "guild_id"));
    let channel = tri!(req_id(&v, "channel_id"));
    let r = app.lock().delete_channel(guild, channel);
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn channel_overwrites(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let guild = tri!(req_id(&v, "guild_id"));
    let channel = tri!(req_id(&v, "channel_id"));
    let overwrites: Vec<Overwrite> = match v.get("permission_overwrites") {
        Some(o) => match serde_json::from_value(o.clone()) {
            Ok(o) => o,
            Err(e) => {
                return control_error(
                    StatusCode::BAD_REQUEST,
                    format!("bad permission_overwrites: {e}"),
                )
            }
        },
        None => return control_error(StatusCode::BAD_REQUEST, "permission_overwrites is required"),
    };
    let r = app
        .lock()
        .set_channel_overwrites(guild, channel, overwrites);
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

fn inject(app: &App, b: &Bytes, autocomplete: bool) -> Response {
    let v = tri!(body(b));
    let guild = tri!(req_id(&v, "guild_id"));
    let channel = tri!(req_id(&v, "channel_id"));
    let user = tri!(req_id(&v, "user_id"));
    let Some(name) = v.get("name").and_then(Value::as_str) else {
        return control_error(StatusCode::BAD_REQUEST, "name is required");
    };
    let options = v.get("options").cloned().unwrap_or(json!([]));
    let r = app
        .lock()
        .inject_command(guild, channel, user, name, &options, autocomplete)
        .map(|(id, token)| Injected { id, token });
    control_result(r)
}

async fn inject_command(AxState(app): AxState<App>, b: Bytes) -> Response {
    inject(&app, &b, false)
}

async fn inject_autocomplete(AxState(app): AxState<App>, b: Bytes) -> Response {
    inject(&app, &b, true)
}

async fn inject_component(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let guild = tri!(req_id(&v, "guild_id"));
    let channel = tri!(req_id(&v, "channel_id"));
    let user = tri!(req_id(&v, "user_id"));
    let message = tri!(req_id(&v, "message_id"));
    let Some(custom_id) = v.get("custom_id").and_then(Value::as_str) else {
        return control_error(StatusCode::BAD_REQUEST, "custom_id is required");
    };
    let component_type = v.get("component_type").and_then(Value::as_u64).unwrap_or(2);
    let values = v.get("values").cloned();
    let r = app
        .lock()
        .inject_component(
            guild,
            channel,
            user,
            message,
            custom_id,
            component_type,
            values,
        )
        .map(|(id, token)| Injected { id, token });
    control_result(r)
}

async fn dispatch(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let guild = tri!(opt_id(v.get("guild_id")));
    let Some(t) = v.get("t").and_then(Value::as_str) else {
        return control_error(StatusCode::BAD_REQUEST, "t (event name) is required");
    };
    let d = v.get("d").cloned().unwrap_or(Value::Null);
    app.lock().dispatch(guild, t, d, None);
    StatusCode::NO_CONTENT.into_response()
}

async fn interactions(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!(app.lock().interactions()))
}

async fn interaction(AxState(app): AxState<App>, Path(id): Path<String>) -> Response {
    match app.lock().interaction(&id) {
        Some(r) => Json(json!(r)).into_response(),
        None => control_error(StatusCode::NOT_FOUND, format!("unknown interaction {id}")),
    }
}

async fn messages(AxState(app): AxState<App>, Path(c): Path<String>) -> Response {
    match c.parse::<u64>() {
        Ok(c) => Json(json!(app.lock().channel_messages(c))).into_response(),
        Err(_) => control_error(StatusCode::BAD_REQUEST, format!("not a snowflake: {c}")),
    }
}

async fn message(AxState(app): AxState<App>, Path(m): Path<String>) -> Response {
    match m.parse::<u64>().ok().and_then(|m| app.lock().message(m)) {
        Some(v) => Json(v).into_response(),
        None => control_error(StatusCode::NOT_FOUND, format!("unknown message {m}")),
    }
}

async fn gateway_sent(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!(app.lock().gateway_sent))
}

async fn clear_gateway_sent(AxState(app): AxState<App>) -> StatusCode {
    app.lock().gateway_sent.clear();
    StatusCode::NO_CONTENT
}

/// `?window_ms=60000` (default) and `connection=N` or `session=ID` (default: the busiest
/// connection) → `{"max": n}`.
async fn max_in_window(
    AxState(app): AxState<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let window_ms = match q.get("window_ms").map(|w| w.parse::<u64>()) {
        None => 60_000,
        Some(Ok(w)) => w,
        Some(Err(_)) => {
            return control_error(StatusCode::BAD_REQUEST, "window_ms must be an integer")
        }
    };
    let by = match (q.get("connection"), q.get("session")) {
        (Some(c), _) => match c.parse::<u64>() {
            Ok(c) => SentBy::Connection(c),
            Err(_) => {
                return control_error(StatusCode::BAD_REQUEST, "connection must be an integer")
            }
        },
        (None, Some(s)) => SentBy::Session(s.clone()),
        (None, None) => SentBy::AnyConnection,
    };
    let max = app
        .lock()
        .max_sent_in_any_window(&by, Duration::from_millis(window_ms));
    Json(json!({"max": max})).into_response()
}

async fn rate_limit_closes(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!({"closes": app.lock().rate_limit_closes}))
}

async fn commands(AxState(app): AxState<App>) -> Json<Value> {
    Json(app.lock().registered_commands())
}

async fn requests(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!(app.lock().requests))
}

async fn clear_requests(AxState(app): AxState<App>) -> StatusCode {
    app.lock().requests.clear();
    StatusCode::NO_CONTENT
}

async fn sessions(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!(app.lock().sessions_info()))
}

async fn heartbeat(AxState(app): AxState<App>) -> Json<Value> {
    let n = broadcast(&app, r#"{"op":1,"s":null,"t":null,"d":null}"#.into());
    Json(json!({"connections": n}))
}

async fn reconnect(AxState(app): AxState<App>) -> Json<Value> {
    let n = broadcast(&app, r#"{"op":7,"s":null,"t":null,"d":null}"#.into());
    Json(json!({"connections": n}))
}

async fn invalidate(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!({"sessions": app.lock().invalidate_sessions()}))
}

async fn drop_connections(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!({"connections": app.lock().broadcast(|| Outgoing::Drop)}))
}

#[derive(Deserialize)]
struct CloseBody {
    code: u16,
    #[serde(default)]
    reason: String,
}

async fn close(AxState(app): AxState<App>, b: Bytes) -> Response {
    let c: CloseBody = tri!(parse_body(&b));
    let n = app
        .lock()
        .broadcast(|| Outgoing::Close(c.code, c.reason.clone()));
    Json(json!({"connections": n})).into_response()
}

async fn send_raw(AxState(app): AxState<App>, b: Bytes) -> Response {
    let text = String::from_utf8_lossy(&b).into_owned();
    Json(json!({"connections": broadcast(&app, text)})).into_response()
}

// ----- voice channel limits and voice servers ---------------------------------------------

/// A non-negative integer field, or None when absent or null.
fn opt_u64(v: &Value, key: &str) -> Result<Option<u64>, Response> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x.as_u64().map(Some).ok_or_else(|| {
            control_error(
                StatusCode::BAD_REQUEST,
                format!("{key} must be a non-negative integer"),
            )
        }),
    }
}

/// `{"guild_id", "channel_id", "user_limit"}` → 204; CHANNEL_UPDATE is dispatched.
async fn user_limit(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let guild = tri!(req_id(&v, "guild_id"));
    let channel = tri!(req_id(&v, "channel_id"));
    let Some(limit) = tri!(opt_u64(&v, "user_limit")) else {
        return control_error(StatusCode::BAD_REQUEST, "user_limit is required");
    };
    let limit = u32::try_from(limit).unwrap_or(u32::MAX);
    match app.lock().set_user_limit(guild, channel, limit) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

/// `{"guild_id", "mode": "immediate" | "null_then" | "null_forever", "delay_ms"}`
/// (`delay_ms` required with `null_then`) → 204.
async fn voice_server_mode(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let guild = tri!(req_id(&v, "guild_id"));
    let delay = tri!(opt_u64(&v, "delay_ms"));
    let mode = match (v.get("mode").and_then(Value::as_str), delay) {
        (Some("immediate"), _) => VoiceServerMode::Immediate,
        (Some("null_then"), Some(ms)) => VoiceServerMode::NullThen(Duration::from_millis(ms)),
        (Some("null_then"), None) => {
            return control_error(StatusCode::BAD_REQUEST, "null_then needs delay_ms")
        }
        (Some("null_forever"), _) => VoiceServerMode::NullForever,
        _ => {
            return control_error(
                StatusCode::BAD_REQUEST,
                "mode must be immediate, null_then or null_forever",
            )
        }
    };
    match app.lock().set_voice_server_mode(guild, mode) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

/// `{"guild_id", "then_ms": N | null}` → 204: VOICE_SERVER_UPDATE `endpoint: null` now,
/// the new server after `then_ms` (never when absent or null).
async fn reallocate_voice_server(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let guild = tri!(req_id(&v, "guild_id"));
    let then = tri!(opt_u64(&v, "then_ms")).map(Duration::from_millis);
    let r = app.lock().reallocate_voice_server(guild, then);
    match r {
        Ok(pending) => {
            if let Some(p) = pending {
                schedule_voice_server(&app, p);
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

/// `[{"token", "endpoint": string | null, "sent_at_us"}]`, oldest first.
async fn voice_servers(AxState(app): AxState<App>, Path(g): Path<String>) -> Response {
    let Ok(guild) = g.parse::<u64>() else {
        return control_error(StatusCode::BAD_REQUEST, format!("not a snowflake: {g}"));
    };
    Json(json!(app.lock().voice_servers(guild))).into_response()
}

async fn outage(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!({"down": app.is_down()}))
}

async fn go_down(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let Some(ms) = v.get("ms").and_then(Value::as_u64) else {
        return control_error(StatusCode::BAD_REQUEST, "ms is required");
    };
    let dropped = super::server::go_down_for(&app, Duration::from_millis(ms));
    Json(json!({"ok": true, "ms": ms, "connections": dropped})).into_response()
}

/// `{"channelId", "ms", "count"}`: the channel's next `count` message creates take `ms`.
async fn slow_messages(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let channel = tri!(req_id(&v, "channelId"));
    let (Some(ms), Some(count)) = (
        v.get("ms").and_then(Value::as_u64),
        v.get("count").and_then(Value::as_u64),
    ) else {
        return control_error(StatusCode::BAD_REQUEST, "ms and count are required");
    };
    app.lock()
        .slow_messages(channel, Duration::from_millis(ms), count as usize);
    Json(json!({"ok": true})).into_response()
}

async fn reset_token(AxState(app): AxState<App>, b: Bytes) -> Response {
    let v = tri!(body(&b));
    let Some(token) = v
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return control_error(StatusCode::BAD_REQUEST, "token is required");
    };
    let closed = super::server::reset_token(&app, token);
    Json(json!({"connections": closed})).into_response()
}
