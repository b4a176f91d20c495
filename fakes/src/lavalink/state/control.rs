//! Control hooks for tests: restarts, dropped sockets, raw messages, injected events and
//! snapshots of sessions and players.

use std::time::Instant;

use serde_json::json;

use crate::lavalink::types::{
    Cure, PlayerSnapshot, SessionSnapshot, Severity, VoiceFault, VoiceUpdate,
};

use super::{ControlError, Outgoing, State};

impl State {
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

    /// WebSocketClosedEvent for the guild's players; each becomes
    /// `Disconnected { cure: AnyVoiceUpdate }` unless already disconnected (a harder cure
    /// stays).
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
            if !matches!(p.fault, VoiceFault::Disconnected { .. }) {
                p.set_fault(
                    VoiceFault::Disconnected {
                        cure: Cure::AnyVoiceUpdate,
                    },
                    now,
                );
            }
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

    /// Gives the guild's players (in every session) `fault`; no event is sent.
    pub fn set_voice_fault(
        &mut self,
        guild_id: &str,
        fault: VoiceFault,
    ) -> Result<(), ControlError> {
        let now = Instant::now();
        let mut found = false;
        for s in self.sessions.values_mut() {
            if let Some(p) = s.players.get_mut(guild_id) {
                found = true;
                p.set_fault(fault, now);
            }
        }
        if found {
            Ok(())
        } else {
            Err(ControlError(format!("no player for guild {guild_id}")))
        }
    }

    /// The voice states player PATCHes delivered for the guild, in order.
    pub fn voice_updates(&self, guild_id: &str) -> Vec<VoiceUpdate> {
        self.voice_updates
            .get(guild_id)
            .cloned()
            .unwrap_or_default()
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
