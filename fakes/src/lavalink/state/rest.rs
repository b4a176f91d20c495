//! The REST API on sessions and players: parsing a player update (type-checked like
//! Lavalink), reading, updating and deleting players, updating a session.

use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::lavalink::catalogue::{decoded_object_bytes, LoadResult};
use crate::lavalink::codec;
use crate::lavalink::plugins::MISSING_SOURCE_MESSAGE;
use crate::lavalink::types::{TrackInfo, VoiceState, VoiceUpdate};

use super::player::{Player, Playing};
use super::{unix_us, ApiError, Session, State};

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

impl State {
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

    /// The info of the track the guild's player plays, for LavaLyrics: 404 "Session not
    /// found" / "Player not found", and a 500 for a guild id that is no number (LavaLyrics
    /// takes it as a string and calls `toLong()`). `Ok(None)` without a track.
    pub fn playing_track_info(
        &self,
        session_id: &str,
        guild_id: &str,
    ) -> Result<Option<TrackInfo>, ApiError> {
        let s = self
            .sessions
            .get(session_id)
            .ok_or_else(ApiError::session_not_found)?;
        if guild_id.parse::<i64>().is_err() {
            return Err(ApiError::new(
                500,
                format!("For input string: \"{guild_id}\""),
            ));
        }
        let p = s
            .players
            .get(guild_id)
            .ok_or_else(|| ApiError::new(404, "Player not found"))?;
        Ok(p.track.as_ref().map(|t| t.info.clone()))
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

        if let Some(v) = &update.voice {
            self.voice_updates
                .entry(guild_id.to_string())
                .or_default()
                .push(VoiceUpdate {
                    session_id: session_id.to_string(),
                    voice: v.clone(),
                    received_at_unix_us: unix_us(),
                });
        }
        let new_fault = self.new_player_faults.get(guild_id).copied();
        let s = self.session_mut(session_id)?;
        let mut out = Vec::new();
        let created = !s.players.contains_key(guild_id);
        let p = s
            .players
            .entry(guild_id.to_string())
            .or_insert_with(|| Player::new(guild_id));
        if let (true, Some(fault)) = (created, new_fault) {
            p.set_fault(fault, now);
        }
        p.rebase(now);
        if let Some(v) = update.voice.clone() {
            out.extend(p.voice_update(v, now));
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
            // A player without a track has no position to report (Lavalink sends player
            // updates for players with a track); a new track's start reports its own.
            if p.track.is_some() {
                out.push(p.update_msg(now));
            }
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
    /// `sourceBytes` are the track object's (LavaSrc's decoding shuffles its fields); a track
    /// whose source the node lacks (its plugin off) fails to decode with a 500, as
    /// lavaplayer's decoder returns no track.
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
            if !self.node().has_source(&d.info.source_name) {
                return Err(ApiError::new(500, MISSING_SOURCE_MESSAGE));
            }
            let fails = self
                .catalogue
                .by_identifier(&d.info.identifier)
                .is_some_and(|e| e.fails_on_play);
            let bytes = decoded_object_bytes(&d.info.source_name, &d.source_bytes);
            return Ok(Some((d.info, bytes, fails)));
        }
        let identifier = update.identifier.as_deref().unwrap_or_default();
        match self.catalogue.load(identifier, self.node()) {
            LoadResult::Track(t) => {
                let entry = self.catalogue.by_identifier(&t.info.identifier);
                let fails = entry.is_some_and(|e| e.fails_on_play);
                let bytes = entry.map(|e| e.source_bytes.clone()).unwrap_or_default();
                Ok(Some((t.info, bytes, fails)))
            }
            LoadResult::Playlist { .. } | LoadResult::Search(_) => Err(ApiError::bad_request(
                "Cannot play a playlist or search result",
            )),
            LoadResult::Empty => Err(ApiError::bad_request("No matches found for identifier")),
            LoadResult::Error { message, .. } => Err(ApiError::new(500, message)),
        }
    }
}
