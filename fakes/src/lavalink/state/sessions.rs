//! Websocket sessions and the clock: connecting, resuming, disconnecting, ticking
//! (track ends, failures, playerUpdates, stats) and the stats object.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::{Outgoing, Session, Socket, State};

impl State {
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
                        answer_shape: self.answer_shape,
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
}
