//! Gateway sessions: connections, IDENTIFY/RESUME, dispatches and member requests.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::discord::types::{id, SentBy, SessionInfo};

use super::{random_hex, Outgoing, Session, State, INTENT_GUILDS};

impl State {
    pub fn shard_of(guild: u64, count: u64) -> u64 {
        (guild >> 22) % count.max(1)
    }

    pub fn new_connection(&mut self, tx: UnboundedSender<Outgoing>) -> u64 {
        self.next_conn += 1;
        self.connections.insert(self.next_conn, tx);
        self.next_conn
    }

    pub fn connection_closed(&mut self, conn: u64, invalidate: bool) {
        self.connections.remove(&conn);
        let mut dead = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            if s.conn.as_ref().is_some_and(|(c, _)| *c == conn) {
                s.conn = None;
                if invalidate {
                    dead.push(id.clone());
                }
            }
        }
        for id in &dead {
            self.sessions.remove(id);
        }
        for id in &dead {
            self.session_ended(id);
        }
    }

    /// Sends a dispatch to every session of the guild's shard (buffered for resuming).
    pub fn dispatch(&mut self, guild: Option<u64>, t: &str, d: Value, intent: Option<u64>) {
        for s in self.sessions.values_mut() {
            let shard = guild.map_or(0, |g| Self::shard_of(g, s.shard[1]));
            if shard != s.shard[0] {
                continue;
            }
            if intent.is_some_and(|i| s.intents & i == 0) {
                continue;
            }
            s.seq += 1;
            let text = json!({"op": 0, "t": t, "s": s.seq, "d": d}).to_string();
            s.events.push((s.seq, text.clone()));
            if let Some((_, tx)) = &s.conn {
                let _ = tx.send(Outgoing::Text(text));
            }
        }
    }

    /// How many of the fake's guilds belong to `shard` (`[id, count]`).
    pub fn guilds_in_shard(&self, shard: [u64; 2]) -> usize {
        self.guilds
            .keys()
            .filter(|g| Self::shard_of(**g, shard[1]) == shard[0])
            .count()
    }

    /// IDENTIFY accepted: a new session with READY then GUILD_CREATE for its guilds.
    pub fn identify(
        &mut self,
        conn: u64,
        tx: UnboundedSender<Outgoing>,
        shard: [u64; 2],
        intents: u64,
    ) -> String {
        // Disconnected sessions of the same shard are superseded; the voice states they
        // own end with them before the new session exists (it learns the state from its
        // GUILD_CREATE, not from a VOICE_STATE_UPDATE).
        let superseded: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.shard == shard && s.conn.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &superseded {
            self.sessions.remove(id);
        }
        for id in &superseded {
            self.session_ended(id);
        }
        let session_id = random_hex(32);
        self.sessions.insert(
            session_id.clone(),
            Session {
                shard,
                seq: 0,
                events: Vec::new(),
                conn: Some((conn, tx)),
                intents,
            },
        );
        let guilds: Vec<u64> = self
            .guilds
            .keys()
            .copied()
            .filter(|g| Self::shard_of(*g, shard[1]) == shard[0])
            .collect();
        let ready = json!({
            "v": 10,
            "user_settings": {},
            "user": self.bot_user_json(),
            "private_channels": [],
            "guilds": guilds.iter().map(|g| json!({"id": g.to_string(), "unavailable": true})).collect::<Vec<_>>(),
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["rotterdam", "frankfurt", "london"],
            "session_type": "normal",
            "session_id": session_id,
            "resume_gateway_url": self.cfg.gateway_url,
            "shard": shard,
            "application": {"id": self.cfg.application_id.to_string(), "flags": 0},
            "auth": {},
            "_trace": ["[\"fake-discord-gateway\",{\"micros\":0}]"],
        });
        self.send_session(&session_id, "READY", ready);
        for g in guilds {
            let payload = match self.guilds.get(&g) {
                Some(guild) => self.guild_create_json(guild),
                None => continue,
            };
            if intents & INTENT_GUILDS != 0 {
                self.send_session(&session_id, "GUILD_CREATE", payload);
            }
        }
        session_id
    }

    fn send_session(&mut self, session_id: &str, t: &str, d: Value) {
        if let Some(s) = self.sessions.get_mut(session_id) {
            s.seq += 1;
            let text = json!({"op": 0, "t": t, "s": s.seq, "d": d}).to_string();
            s.events.push((s.seq, text.clone()));
            if let Some((_, tx)) = &s.conn {
                let _ = tx.send(Outgoing::Text(text));
            }
        }
    }

    /// RESUME: replays what the session missed after `seq`, then RESUMED.
    pub fn resume(
        &mut self,
        conn: u64,
        tx: UnboundedSender<Outgoing>,
        session_id: &str,
        seq: u64,
    ) -> Option<[u64; 2]> {
        let s = self.sessions.get_mut(session_id)?;
        if seq > s.seq {
            return None;
        }
        if let Some((old, old_tx)) = s.conn.take() {
            if old != conn {
                let _ = old_tx.send(Outgoing::Close(4009, "Session timed out".into()));
            }
        }
        for (n, text) in &s.events {
            if *n > seq {
                let _ = tx.send(Outgoing::Text(text.clone()));
            }
        }
        s.conn = Some((conn, tx));
        let shard = s.shard;
        self.send_session(session_id, "RESUMED", Value::Null);
        Some(shard)
    }

    pub fn sessions_info(&self) -> Vec<SessionInfo> {
        let mut v: Vec<SessionInfo> = self
            .sessions
            .iter()
            .map(|(id, s)| SessionInfo {
                session_id: id.clone(),
                shard: s.shard,
                seq: s.seq,
                connected: s.conn.is_some(),
                connection: s.conn.as_ref().map(|(c, _)| *c),
                intents: s.intents,
            })
            .collect();
        v.sort_by(|a, b| a.shard.cmp(&b.shard).then(a.session_id.cmp(&b.session_id)));
        v
    }

    pub fn invalidate_sessions(&mut self) -> usize {
        let n = self.sessions.len();
        for s in self.sessions.values() {
            if let Some((_, tx)) = &s.conn {
                let _ = tx.send(Outgoing::Text(
                    json!({"op": 9, "s": null, "t": null, "d": false}).to_string(),
                ));
            }
        }
        let ended: Vec<String> = self.sessions.drain().map(|(id, _)| id).collect();
        for id in &ended {
            self.session_ended(id);
        }
        n
    }

    /// The most gateway commands `by` sent within any `window` (a record at time t
    /// counts those in `(t - window, t]`, the rule the 4008 limit uses), over what
    /// `gateway_sent` still holds.
    pub fn max_sent_in_any_window(&self, by: &SentBy, window: Duration) -> usize {
        let window_us = window.as_micros().min(u64::MAX as u128) as u64;
        let max_in = |times: &[u64]| {
            let (mut best, mut start) = (0, 0);
            for (i, t) in times.iter().enumerate() {
                while start <= i && t.saturating_sub(times[start]) >= window_us {
                    start += 1;
                }
                best = best.max(i + 1 - start);
            }
            best
        };
        let mut per: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for r in &self.gateway_sent {
            let (key, hit) = match by {
                SentBy::AnyConnection => (r.connection, true),
                SentBy::Connection(c) => (0, r.connection == *c),
                SentBy::Session(s) => (0, r.session.as_deref() == Some(s.as_str())),
            };
            if hit {
                per.entry(key).or_default().push(r.received_at_us);
            }
        }
        per.values_mut()
            .map(|times| {
                times.sort_unstable();
                max_in(times)
            })
            .max()
            .unwrap_or(0)
    }

    /// op 8: GUILD_MEMBERS_CHUNK with the members matching `query` / `user_ids`.
    pub fn request_members(&mut self, session_id: &str, d: &Value) {
        let Some(guild) = d.get("guild_id").and_then(id::parse) else {
            return;
        };
        let Some(g) = self.guilds.get(&guild) else {
            return;
        };
        let query = d.get("query").and_then(Value::as_str).unwrap_or("");
        let limit = d.get("limit").and_then(Value::as_u64).unwrap_or(0);
        let ids: Option<Vec<u64>> = match d.get("user_ids") {
            Some(Value::Array(a)) => Some(a.iter().filter_map(id::parse).collect()),
            Some(v) => id::parse(v).map(|x| vec![x]),
            None => None,
        };
        let mut members: Vec<Value> = g
            .spec
            .members
            .iter()
            .filter(|m| match &ids {
                Some(ids) => ids.contains(&m.user_id),
                None => m.username.starts_with(query),
            })
            .map(|m| self.member_json(g, m, true))
            .collect();
        if limit > 0 {
            members.truncate(limit as usize);
        }
        let mut chunk = json!({
            "guild_id": guild.to_string(),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
        });
        if let (Some(n), Some(o)) = (d.get("nonce"), chunk.as_object_mut()) {
            o.insert("nonce".into(), n.clone());
        }
        self.send_session(session_id, "GUILD_MEMBERS_CHUNK", chunk);
    }

    /// Sends a raw payload to every connection; returns how many.
    pub fn broadcast(&mut self, out: impl Fn() -> Outgoing) -> usize {
        self.connections
            .values()
            .filter(|tx| tx.send(out()).is_ok())
            .count()
    }
}
