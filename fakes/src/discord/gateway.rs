//! The gateway websocket: HELLO, IDENTIFY/RESUME, heartbeats, voice state updates,
//! Discord's close codes and its send rate limit.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State as AxState};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc::{self, UnboundedSender};

use super::server::App;
use super::state::{schedule_voice_server, Outgoing};
use super::types::GatewaySent;

/// Discord: 120 gateway commands per connection per 60 seconds.
pub const SEND_LIMIT: usize = 120;
pub const SEND_WINDOW: Duration = Duration::from_secs(60);

pub(crate) async fn upgrade(
    AxState(app): AxState<App>,
    Query(query): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    // Discord closes with 4012 for an unknown version and 4002 for ETF it cannot
    // decode here; `compress` is ignored (payloads are sent uncompressed).
    let close = match (query.get("v").map(String::as_str), query.get("encoding")) {
        (Some(v), _) if v != "10" && v != "9" => Some((4012, "Invalid API version")),
        (_, Some(e)) if e != "json" => Some((4002, "Error while decoding payload")),
        _ => None,
    };
    ws.on_upgrade(move |socket| run(app, socket, close))
}

struct Conn {
    id: u64,
    tx: UnboundedSender<Outgoing>,
    session: Option<String>,
    shard: Option<[u64; 2]>,
    sent: VecDeque<Instant>,
    closing: bool,
}

impl Conn {
    fn close(&mut self, code: u16, reason: &str) {
        self.closing = true;
        let _ = self.tx.send(Outgoing::Close(code, reason.to_string()));
    }
}

/// Close codes after which Discord does not let the session be resumed.
fn invalidates(code: u16) -> bool {
    matches!(code, 4004 | 4007 | 4009 | 4010 | 4011 | 4012 | 4013 | 4014)
}

async fn run(app: App, mut socket: WebSocket, close: Option<(u16, &'static str)>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = app.lock().new_connection(tx.clone());
    let mut conn = Conn {
        id,
        tx: tx.clone(),
        session: None,
        shard: None,
        sent: VecDeque::new(),
        closing: false,
    };
    let hello = json!({"op": 10, "s": null, "t": null, "d": {"heartbeat_interval": app.heartbeat_interval_ms}});
    let _ = tx.send(Outgoing::Text(hello.to_string()));
    if let Some((code, reason)) = close {
        conn.close(code, reason);
    }
    let mut invalidate = false;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    invalidate = invalidate || invalidates(code);
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame { code, reason: reason.into() })))
                        .await;
                    break;
                }
                Some(Outgoing::Drop) | None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if !conn.closing {
                        handle(&app, &mut conn, text.as_str());
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    if !conn.closing {
                        conn.close(4002, "Error while decoding payload");
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    // A clean close (1000/1001) ends the session for good.
                    invalidate = frame.is_none_or(|f| f.code == 1000 || f.code == 1001);
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    app.lock().connection_closed(conn.id, invalidate);
}

fn handle(app: &App, conn: &mut Conn, text: &str) {
    let now = Instant::now();
    let payload: Option<Value> = serde_json::from_str(text).ok();
    {
        let mut st = app.lock();
        let received_at_us = now
            .saturating_duration_since(st.started)
            .as_micros()
            .min(u64::MAX as u128) as u64;
        st.gateway_sent.push(GatewaySent {
            connection: conn.id,
            session: conn.session.clone(),
            shard: conn.shard,
            received_at_us,
            payload: payload.clone().unwrap_or_else(|| json!({"raw": text})),
        });
    }
    while conn
        .sent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= SEND_WINDOW)
    {
        conn.sent.pop_front();
    }
    conn.sent.push_back(now);
    if conn.sent.len() > SEND_LIMIT {
        app.lock().rate_limit_closes += 1;
        conn.close(4008, "Rate limited");
        return;
    }
    let Some(payload) = payload.filter(Value::is_object) else {
        conn.close(4002, "Error while decoding payload");
        return;
    };
    let Some(op) = payload.get("op").and_then(Value::as_u64) else {
        conn.close(4002, "Error while decoding payload");
        return;
    };
    let d = payload.get("d").cloned().unwrap_or(Value::Null);
    match op {
        1 => {
            let _ = conn.tx.send(Outgoing::Text(
                json!({"op": 11, "s": null, "t": null, "d": null}).to_string(),
            ));
        }
        2 => identify(app, conn, &d),
        6 => resume(app, conn, &d),
        3 | 4 | 8 | 31 if conn.session.is_none() => conn.close(4003, "Not authenticated"),
        3 | 31 => {}
        4 => {
            // Discord ignores updates for guilds the bot is not in. The voice state
            // belongs to the gateway session that sent this.
            if let Some(s) = &conn.session {
                let pending = app.lock().bot_voice_update(s, &d);
                if let Ok(Some(p)) = pending {
                    schedule_voice_server(app, p);
                }
            }
        }
        8 => {
            if let Some(s) = &conn.session {
                app.lock().request_members(s, &d);
            }
        }
        _ => conn.close(4001, "Unknown opcode"),
    }
}

fn token_ok(app: &App, d: &Value) -> bool {
    d.get("token")
        .and_then(Value::as_str)
        .is_some_and(|t| app.lock().cfg.token_matches(t))
}

fn identify(app: &App, conn: &mut Conn, d: &Value) {
    if conn.session.is_some() {
        conn.close(4005, "Already authenticated");
        return;
    }
    if !d.is_object() {
        conn.close(4002, "Error while decoding payload");
        return;
    }
    if !token_ok(app, d) {
        conn.close(4004, "Authentication failed");
        return;
    }
    let shard = match d.get("shard") {
        None | Some(Value::Null) => Some([0, 1]),
        Some(Value::Array(a)) if a.len() == 2 => match (a[0].as_u64(), a[1].as_u64()) {
            (Some(i), Some(n)) if n > 0 && i < n => Some([i, n]),
            _ => None,
        },
        _ => None,
    };
    let Some(shard) = shard else {
        conn.close(4010, "Invalid shard");
        return;
    };
    let too_many = {
        let st = app.lock();
        st.guilds_in_shard(shard) > st.max_guilds_per_shard
    };
    if too_many {
        conn.close(4011, "Sharding required");
        return;
    }
    let Some(intents) = d.get("intents").and_then(Value::as_u64) else {
        conn.close(4013, "Invalid intent(s)");
        return;
    };
    if intents >= 1 << 26 {
        conn.close(4013, "Invalid intent(s)");
        return;
    }
    let session = app
        .lock()
        .identify(conn.id, conn.tx.clone(), shard, intents);
    conn.session = Some(session);
    conn.shard = Some(shard);
}

fn resume(app: &App, conn: &mut Conn, d: &Value) {
    if conn.session.is_some() {
        conn.close(4005, "Already authenticated");
        return;
    }
    if !token_ok(app, d) {
        conn.close(4004, "Authentication failed");
        return;
    }
    let session_id = d.get("session_id").and_then(Value::as_str).unwrap_or("");
    let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let resumed = app.lock().resume(conn.id, conn.tx.clone(), session_id, seq);
    match resumed {
        Some(shard) => {
            conn.session = Some(session_id.to_string());
            conn.shard = Some(shard);
        }
        None => {
            let _ = conn.tx.send(Outgoing::Text(
                json!({"op": 9, "s": null, "t": null, "d": false}).to_string(),
            ));
        }
    }
}
