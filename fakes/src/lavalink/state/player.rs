//! A player and its playback clock: position, speed, the track it renders, its events.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::lavalink::catalogue::plugin_info;
use crate::lavalink::codec;
use crate::lavalink::types::{
    Cure, PlayerSnapshot, PlayerState, Track, TrackInfo, VoiceFault, VoiceState,
};

use super::unix_ms;

/// How long after its start a "fails on play" track fails.
const FAIL_AFTER: Duration = Duration::from_millis(50);

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
    /// The voice connection's fault (an injected WebSocketClosedEvent is
    /// `Disconnected { cure: AnyVoiceUpdate }`).
    pub fault: VoiceFault,
    /// The voice state the player had when `fault` was set: what
    /// [`Cure::NewVoiceSession`] compares a voice update with.
    pub fault_voice: Option<VoiceState>,
    pub track: Option<Playing>,
}

impl Player {
    pub(super) fn new(guild_id: &str) -> Self {
        Player {
            guild_id: guild_id.to_string(),
            volume: 100,
            paused: false,
            filters: json!({}),
            voice: None,
            fault: VoiceFault::None,
            fault_voice: None,
            track: None,
        }
    }

    /// Lavalink's `state.connected`: a voice state, and no `Disconnected` fault.
    pub fn connected(&self) -> bool {
        self.voice.is_some() && !matches!(self.fault, VoiceFault::Disconnected { .. })
    }

    /// The position advances: a track, connected, not paused, not `Frozen`.
    pub fn advancing(&self) -> bool {
        self.track.is_some()
            && self.connected()
            && !self.paused
            && !matches!(self.fault, VoiceFault::Frozen { .. })
    }

    /// Gives the player `fault` (None heals it); the clock stops or resumes where it is.
    pub(super) fn set_fault(&mut self, fault: VoiceFault, now: Instant) {
        self.rebase(now);
        self.fault = fault;
        self.fault_voice = match fault {
            VoiceFault::None => None,
            _ => self.voice.clone(),
        };
        self.rebase(now);
    }

    /// A PATCH delivered voice state `v`: stored, and the fault cured if its cure allows.
    /// Returns the WebSocketClosedEvent a `Disconnected` player that stays disconnected
    /// reports (Discord refusing the voice connect: 4006, by remote).
    pub(super) fn voice_update(&mut self, v: VoiceState, now: Instant) -> Option<Value> {
        self.rebase(now);
        let new_session = self
            .fault_voice
            .as_ref()
            .is_none_or(|old| old.token != v.token || old.session_id != v.session_id);
        self.voice = Some(v);
        let (cure, disconnected) = match self.fault {
            VoiceFault::None => return None,
            VoiceFault::Disconnected { cure } => (cure, true),
            VoiceFault::Frozen { cure } => (cure, false),
        };
        let cured = match cure {
            Cure::AnyVoiceUpdate => true,
            Cure::NewVoiceSession => new_session,
            Cure::Never => false,
        };
        if cured {
            self.fault = VoiceFault::None;
            self.fault_voice = None;
            self.rebase(now);
            return None;
        }
        disconnected.then(|| {
            json!({
                "op": "event", "type": "WebSocketClosedEvent", "guildId": self.guild_id,
                "code": 4006, "reason": "Session is no longer valid.", "byRemote": true,
            })
        })
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
    pub(super) fn rebase(&mut self, now: Instant) {
        let pos = self.position(now);
        let advancing = self.advancing();
        if let Some(t) = &mut self.track {
            t.base_pos = pos;
            t.base_at = advancing.then_some(now);
        }
    }

    pub(super) fn track_json(&self, now: Instant) -> Option<Track> {
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

    pub(super) fn update_msg(&self, now: Instant) -> Value {
        json!({"op": "playerUpdate", "guildId": self.guild_id, "state": self.state(now)})
    }

    pub(super) fn event(&self, kind: &str, track: &Track, extra: Value) -> Value {
        let mut m = json!({"op": "event", "type": kind, "guildId": self.guild_id, "track": track});
        if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), extra) {
            m.extend(extra);
        }
        m
    }

    /// Ends the current track; returns the TrackEndEvent.
    pub(super) fn end_track(&mut self, now: Instant, reason: &str) -> Option<Value> {
        let track = self.track_json(now)?;
        self.track = None;
        Some(self.event("TrackEndEvent", &track, json!({"reason": reason})))
    }

    /// Plays `playing`, replacing any current track. Returns the messages in Lavalink's
    /// order: TrackEndEvent(replaced), TrackStartEvent, playerUpdate.
    pub(super) fn play(
        &mut self,
        mut playing: Playing,
        fails_on_play: bool,
        now: Instant,
    ) -> Vec<Value> {
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

    pub(super) fn snapshot(&self, session_id: &str, now: Instant) -> PlayerSnapshot {
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
            voice_fault: self.fault,
        }
    }
}

/// A track object as Lavalink renders a playing track: re-encoded with its position.
fn track_at(t: &Playing, position: u64) -> Track {
    let mut info = t.info.clone();
    info.position = position;
    Track {
        encoded: codec::encode_with_source_bytes(&info, &t.source_bytes),
        plugin_info: plugin_info(&info, &t.source_bytes),
        info,
        user_data: t.user_data.clone(),
    }
}
