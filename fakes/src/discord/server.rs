//! HTTP side of the fake: Discord's REST API under `/api/v10`, the gateway upgrade at
//! `/gateway`, and the `/control` hooks.

#![allow(clippy::result_large_err)] // handlers return ready-made responses

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::gateway;
use super::state::{unix_us, ApiError, Outgoing, State};
use super::types::{id, ControlError, GuildSpec, RecordedRequest};

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub heartbeat_interval_ms: u64,
    /// Until when Discord is unreachable (see [`go_down_for`]).
    pub outage_until: Mutex<Option<Instant>>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an outage is under way.
    pub fn is_down(&self) -> bool {
        let until = self.outage_until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| Instant::now() < t)
    }
}

/// Cloudflare's page for an origin it cannot reach, as Discord's edge answers during an outage.
const CLOUDFLARE_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";

/// What every REST call and gateway upgrade gets during an outage: `502 Bad Gateway` from
/// Cloudflare, an HTML page without Discord's rate-limit headers.
fn outage_response() -> Response {
    let mut resp = (StatusCode::BAD_GATEWAY, CLOUDFLARE_502).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    h.insert("server", HeaderValue::from_static("cloudflare"));
    resp
}

/// Discord becomes unreachable for `d`: REST and gateway upgrades answer 502 and every
/// gateway connection is dropped without a close frame (sessions stay resumable). Returns
/// how many connections were dropped.
pub(crate) fn go_down_for(app: &App, d: Duration) -> usize {
    *app.outage_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + d);
    app.lock().broadcast(|| Outgoing::Drop)
}

/// The bot token is reset (in the developer portal, or by Discord after a leak): REST refuses
/// the old one with 401 from now on, and every gateway connection is closed with 4004
/// "Authentication failed". Returns how many connections were closed.
pub(crate) fn reset_token(app: &App, token: &str) -> usize {
    let mut st = app.lock();
    st.cfg.token = token.to_string();
    st.broadcast(|| Outgoing::Close(4004, "Authentication failed".to_string()))
}

pub(crate) type App = Arc<Shared>;

pub(crate) fn router(shared: App) -> Router {
    let api = Router::new()
        .route("/gateway", get(gateway_info))
        .route("/gateway/bot", get(gateway_bot))
        .route("/users/@me", get(current_user))
        .route("/applications/@me", get(current_application))
        .route("/oauth2/applications/@me", get(current_application))
        .route(
            "/applications/{app}/commands",
            get(list_global).put(put_global).post(post_global),
        )
        .route(
            "/applications/{app}/guilds/{guild}/commands",
            get(list_guild).put(put_guild).post(post_guild),
        )
        .route("/interactions/{id}/{token}/callback", post(callback))
        .route("/webhooks/{app}/{token}", post(followup))
        .route(
            "/webhooks/{app}/{token}/messages/{message}",
            get(get_webhook_message)
                .patch(edit_webhook_message)
                .delete(delete_webhook_message),
        )
        .route("/channels/{id}", get(get_channel))
        .route(
            "/channels/{id}/messages",
            get(list_messages).post(create_message),
        )
        .route(
            "/channels/{id}/messages/{message}",
            get(get_message).patch(edit_message),
        )
        .route("/guilds/{id}", get(get_guild))
        .route("/guilds/{id}/channels", get(get_guild_channels))
        .route("/guilds/{id}/roles", get(get_guild_roles))
        .route("/guilds/{id}/members/{user}", get(get_member));
    Router::new()
        .nest("/api/v10", api)
        .route("/gateway", get(gateway::upgrade))
        .merge(super::control::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

pub(crate) fn api_error(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(e.body())).into_response()
}

fn reply(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => api_error(e),
    }
}

fn no_content(r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => api_error(e),
    }
}

async fn not_found() -> Response {
    api_error(ApiError::not_found())
}

async fn method_not_allowed() -> Response {
    api_error(ApiError::new(405, 0, "405: Method Not Allowed"))
}

/// Records REST requests and checks `Authorization: Bot <token>` like Discord (the
/// interaction callback and webhook routes are authenticated by their token instead).
async fn gate(AxState(app): AxState<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/control/") {
        return next.run(req).await;
    }
    if !path.starts_with("/api/") {
        // The gateway upgrade: refused with Cloudflare's 502 during an outage.
        return if app.is_down() {
            outage_response()
        } else {
            next.run(req).await
        };
    }
    let (parts, bytes, headers) = crate::http::read_request(req).await;
    let index = {
        let mut st = app.lock();
        st.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            query: parts.uri.query().map(str::to_string),
            headers: headers.clone(),
            body: serde_json::from_slice(&bytes).ok(),
            status: 0,
            received_at_unix_us: unix_us(),
        });
        st.requests.len() - 1
    };
    let open = path == "/api/v10/gateway"
        || path.starts_with("/api/v10/interactions/")
        || path.starts_with("/api/v10/webhooks/");
    let authorized = open
        || headers.get("authorization").is_some_and(|a| {
            a.strip_prefix("Bot ")
                .is_some_and(|t| app.lock().cfg.token_matches(t))
        });
    if app.is_down() {
        if let Some(r) = app.lock().requests.get_mut(index) {
            r.status = StatusCode::BAD_GATEWAY.as_u16();
        }
        return outage_response();
    }
    let json_body = !bytes.is_empty()
        && headers
            .get("content-type")
            .is_some_and(|c| c.starts_with("application/json"));
    let mut resp = if !authorized {
        api_error(ApiError::unauthorized())
    } else if json_body && serde_json::from_slice::<Value>(&bytes).is_err() {
        api_error(ApiError::new(
            400,
            50109,
            "The request body contains invalid JSON.",
        ))
    } else {
        next.run(Request::from_parts(parts, Body::from(bytes)))
            .await
    };
    let status = resp.status().as_u16();
    if let Some(r) = app.lock().requests.get_mut(index) {
        r.status = status;
    }
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from_static("50"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("49"));
    h.insert("x-ratelimit-reset-after", HeaderValue::from_static("1.000"));
    h.insert(
        "x-ratelimit-bucket",
        HeaderValue::from_static("f4ked15c0rdb0cke7"),
    );
    resp
}

fn snowflake(field: &str, raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().map_err(|_| {
        ApiError::invalid_form(
            &[field],
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{raw}\" is not snowflake."),
        )
    })
}

fn body_json(body: &Bytes) -> Value {
    if body.is_empty() {
        return json!({});
    }
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

async fn gateway_info(AxState(app): AxState<App>) -> Json<Value> {
    Json(json!({"url": app.lock().cfg.gateway_url}))
}

async fn gateway_bot(AxState(app): AxState<App>) -> Json<Value> {
    let st = app.lock();
    Json(json!({
        "url": st.cfg.gateway_url,
        "shards": st.cfg.shard_count,
        "session_start_limit": {
            "total": 1000,
            "remaining": 999,
            "reset_after": 86_400_000,
            "max_concurrency": 1,
        },
    }))
}

async fn current_user(AxState(app): AxState<App>) -> Json<Value> {
    Json(app.lock().bot_user_json())
}

async fn current_application(AxState(app): AxState<App>) -> Json<Value> {
    let st = app.lock();
    let owner = json!({
        "id": "1",
        "username": "fake-owner",
        "discriminator": "0",
        "global_name": "fake-owner",
        "avatar": null,
        "public_flags": 0,
        "flags": 0,
    });
    Json(json!({
        "id": st.cfg.application_id.to_string(),
        "name": st.cfg.bot_name,
        "icon": null,
        "description": "",
        "summary": "",
        "type": null,
        "hook": true,
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0000000000000000000000000000000000000000000000000000000000000000",
        "owner": owner,
        "team": null,
        "flags": 0,
        "tags": [],
        "install_params": null,
        "integration_types_config": {"0": {}},
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "approximate_guild_count": st.guild_ids().len(),
        "bot": st.bot_user_json(),
    }))
}

async fn list_global(AxState(app): AxState<App>, Path(a): Path<String>) -> Response {
    reply(snowflake("application_id", &a).and_then(|a| app.lock().list_commands(a, None)))
}

async fn put_global(AxState(app): AxState<App>, Path(a): Path<String>, body: Bytes) -> Response {
    reply(
        snowflake("application_id", &a)
            .and_then(|a| app.lock().overwrite_commands(a, None, &body_json(&body))),
    )
}

async fn post_global(AxState(app): AxState<App>, Path(a): Path<String>, body: Bytes) -> Response {
    reply(
        snowflake("application_id", &a)
            .and_then(|a| app.lock().create_command(a, None, &body_json(&body))),
    )
}

async fn list_guild(AxState(app): AxState<App>, Path((a, g)): Path<(String, String)>) -> Response {
    reply((|| {
        let a = snowflake("application_id", &a)?;
        let g = snowflake("guild_id", &g)?;
        app.lock().list_commands(a, Some(g))
    })())
}

async fn put_guild(
    AxState(app): AxState<App>,
    Path((a, g)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    reply((|| {
        let a = snowflake("application_id", &a)?;
        let g = snowflake("guild_id", &g)?;
        app.lock().overwrite_commands(a, Some(g), &body_json(&body))
    })())
}

async fn post_guild(
    AxState(app): AxState<App>,
    Path((a, g)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    reply((|| {
        let a = snowflake("application_id", &a)?;
        let g = snowflake("guild_id", &g)?;
        app.lock().create_command(a, Some(g), &body_json(&body))
    })())
}

async fn callback(
    AxState(app): AxState<App>,
    Path((id, token)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let with_response = query.get("with_response").is_some_and(|v| v == "true");
    match app.lock().callback(&id, &token, &body_json(&body)) {
        Ok(v) if with_response => Json(v).into_response(),
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => api_error(e),
    }
}

async fn followup(
    AxState(app): AxState<App>,
    Path((a, token)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    reply(
        snowflake("webhook_id", &a).and_then(|a| app.lock().followup(a, &token, &body_json(&body))),
    )
}

async fn get_webhook_message(
    AxState(app): AxState<App>,
    Path((a, token, message)): Path<(String, String, String)>,
) -> Response {
    reply((|| {
        let a = snowflake("webhook_id", &a)?;
        if message == "@original" {
            return app.lock().get_original(a, &token);
        }
        let m = snowflake("message_id", &message)?;
        app.lock().get_followup(a, &token, m)
    })())
}

async fn edit_webhook_message(
    AxState(app): AxState<App>,
    Path((a, token, message)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    reply((|| {
        let a = snowflake("webhook_id", &a)?;
        let body = body_json(&body);
        if message == "@original" {
            return app.lock().edit_original(a, &token, &body);
        }
        let m = snowflake("message_id", &message)?;
        app.lock().edit_followup(a, &token, m, &body)
    })())
}

async fn delete_webhook_message(
    AxState(app): AxState<App>,
    Path((a, token, message)): Path<(String, String, String)>,
) -> Response {
    no_content((|| {
        let a = snowflake("webhook_id", &a)?;
        if message == "@original" {
            return app.lock().delete_original(a, &token);
        }
        let m = snowflake("message_id", &message)?;
        app.lock().delete_followup(a, &token, m)
    })())
}

async fn get_channel(AxState(app): AxState<App>, Path(c): Path<String>) -> Response {
    reply(snowflake("channel_id", &c).and_then(|c| app.lock().rest_channel(c)))
}

async fn list_messages(AxState(app): AxState<App>, Path(c): Path<String>) -> Response {
    reply((|| {
        let c = snowflake("channel_id", &c)?;
        let st = app.lock();
        st.rest_channel(c)?;
        let mut list = st.channel_messages(c);
        list.reverse();
        list.truncate(50);
        Ok(Value::Array(list))
    })())
}

async fn create_message(
    AxState(app): AxState<App>,
    Path(c): Path<String>,
    body: Bytes,
) -> Response {
    // A slow channel (see `FakeDiscord::slow_messages`): the message is created, and gets its
    // id, only after the delay, like a request Discord is slow to handle.
    let delay = snowflake("channel_id", &c)
        .ok()
        .and_then(|c| app.lock().take_message_delay(c));
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    reply(
        snowflake("channel_id", &c)
            .and_then(|c| app.lock().create_channel_message(c, &body_json(&body))),
    )
}

async fn get_message(AxState(app): AxState<App>, Path((c, m)): Path<(String, String)>) -> Response {
    reply((|| {
        let c = snowflake("channel_id", &c)?;
        let m = snowflake("message_id", &m)?;
        let st = app.lock();
        st.rest_channel(c)?;
        st.message(m)
            .filter(|v| v.get("channel_id").and_then(id::parse) == Some(c))
            .ok_or_else(ApiError::unknown_message)
    })())
}

async fn edit_message(
    AxState(app): AxState<App>,
    Path((c, m)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    reply((|| {
        let c = snowflake("channel_id", &c)?;
        let m = snowflake("message_id", &m)?;
        app.lock().edit_channel_message(c, m, &body_json(&body))
    })())
}

async fn get_guild(AxState(app): AxState<App>, Path(g): Path<String>) -> Response {
    reply(snowflake("guild_id", &g).and_then(|g| app.lock().rest_guild(g)))
}

async fn get_guild_channels(AxState(app): AxState<App>, Path(g): Path<String>) -> Response {
    reply(snowflake("guild_id", &g).and_then(|g| app.lock().rest_guild_channels(g)))
}

async fn get_guild_roles(AxState(app): AxState<App>, Path(g): Path<String>) -> Response {
    reply(snowflake("guild_id", &g).and_then(|g| app.lock().rest_guild_roles(g)))
}

async fn get_member(AxState(app): AxState<App>, Path((g, u)): Path<(String, String)>) -> Response {
    reply((|| {
        let g = snowflake("guild_id", &g)?;
        let u = snowflake("user_id", &u)?;
        app.lock().rest_member(g, u)
    })())
}

// ----- shared by the control API ------------------------------------------------------

pub(crate) fn control_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

pub(crate) fn control_result<T: serde::Serialize>(r: Result<T, ControlError>) -> Response {
    match r {
        Ok(v) => Json(json!(v)).into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

pub(crate) fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| control_error(StatusCode::BAD_REQUEST, format!("bad body: {e}")))
}

pub(crate) fn add_guild(app: &App, spec: GuildSpec) -> Result<(), ControlError> {
    app.lock().add_guild(spec)
}

pub(crate) fn broadcast(app: &App, text: String) -> usize {
    app.lock().broadcast(|| Outgoing::Text(text.clone()))
}
