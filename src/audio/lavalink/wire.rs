//! The wire format: reading load results, live players and websocket messages with lavalink-rs's
//! types, and writing player PATCH bodies. Malformed input is an error, never a panic.

use lavalink_rs::model::events;
use lavalink_rs::model::http::UpdatePlayer;
use lavalink_rs::model::player::ConnectionInfo;
use lavalink_rs::model::track::{PlaylistData, TrackData, TrackError};
use lavalink_rs::model::ChannelId;

use super::super::filters::lavalink_filters;
use super::NodeLoad;
use crate::audio::{AudioError, BackendEvent, EndKind, Loaded, PlayerPatch, PlayerProbe, TrackRef};
use crate::domain::{GuildId, Track};

pub(crate) fn track_from(data: &TrackData) -> Track {
    Track {
        encoded: data.encoded.clone(),
        title: data.info.title.clone(),
        author: data.info.author.clone(),
        uri: data.info.uri.clone(),
        length_ms: data.info.length,
        is_stream: data.info.is_stream,
        requester: None,
        start_ms: None,
    }
}

/// Reads a `/v4/loadtracks` answer by its `loadType` (lavalink-rs's untagged enum cannot read
/// the `empty` result, `{"loadType":"empty","data":{}}`).
pub fn parse_load_result(text: &str) -> Result<Loaded, AudioError> {
    let bad = |e: serde_json::Error| AudioError::BadResponse(e.to_string());
    let v: serde_json::Value = serde_json::from_str(text).map_err(bad)?;
    let data = v.get("data").cloned().unwrap_or(serde_json::Value::Null);
    Ok(match v.get("loadType").and_then(|t| t.as_str()) {
        Some("track") => Loaded::Track(track_from(
            &serde_json::from_value::<TrackData>(data).map_err(bad)?,
        )),
        Some("playlist") => {
            let p: PlaylistData = serde_json::from_value(data).map_err(bad)?;
            Loaded::Playlist {
                name: p.info.name,
                tracks: p.tracks.iter().map(track_from).collect(),
            }
        }
        Some("search") => {
            let list: Vec<TrackData> = serde_json::from_value(data).map_err(bad)?;
            if list.is_empty() {
                Loaded::Empty
            } else {
                Loaded::Search(list.iter().map(track_from).collect())
            }
        }
        Some("empty") => Loaded::Empty,
        Some("error") => {
            let e: TrackError = serde_json::from_value(data).map_err(bad)?;
            Loaded::Failed { message: e.message }
        }
        other => {
            return Err(AudioError::BadResponse(format!(
                "unknown loadType {other:?}"
            )))
        }
    })
}

/// The `userData` key carrying our play id.
const USER_DATA_PLAY_ID: &str = "encorePlayId";

fn track_ref(t: &TrackData) -> TrackRef {
    TrackRef {
        encoded: t.encoded.clone(),
        play_id: t
            .user_data
            .as_ref()
            .and_then(|u| u.get(USER_DATA_PLAY_ID))
            .and_then(|v| v.as_u64()),
    }
}

/// A player the audio server holds, as `GET /v4/sessions/{id}/players` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePlayer {
    pub guild: GuildId,
    pub node: usize,
    /// The playing track (encoded) and the play id we gave it, if any.
    pub track: Option<TrackRef>,
    pub position_ms: u64,
    /// The server's clock when `position_ms` was observed.
    pub time_ms: u64,
    pub paused: bool,
    pub volume: u16,
}

/// Reads a `GET /v4/sessions/{id}/players/{guildId}` answer (Lavalink v4 REST: a player
/// object); missing fields read as their neutral value.
pub fn parse_player_probe(text: &str) -> Result<PlayerProbe, AudioError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| AudioError::BadResponse(e.to_string()))?;
    if !v.is_object() {
        return Err(AudioError::BadResponse("not a player object".into()));
    }
    let state = v.get("state");
    Ok(PlayerProbe {
        connected: state
            .and_then(|s| s.get("connected"))
            .and_then(|c| c.as_bool())
            .unwrap_or(false),
        position_ms: state
            .and_then(|s| s.get("position"))
            .and_then(|p| p.as_u64())
            .unwrap_or(0),
        paused: v.get("paused").and_then(|p| p.as_bool()).unwrap_or(false),
        has_track: v.get("track").is_some_and(|t| !t.is_null()),
    })
}

/// Reads a `GET /v4/sessions/{id}/players` answer.
pub fn parse_live_players(text: &str, node: usize) -> Result<Vec<LivePlayer>, AudioError> {
    let bad = |e: String| AudioError::BadResponse(e);
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let list = v
        .as_array()
        .ok_or_else(|| bad("not a list of players".into()))?;
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let Some(guild) = p
            .get("guildId")
            .and_then(|g| g.as_str())
            .and_then(|g| g.parse::<u64>().ok())
        else {
            continue;
        };
        let track = p.get("track").filter(|t| !t.is_null()).and_then(|t| {
            let encoded = t.get("encoded")?.as_str()?.to_string();
            let play_id = t
                .get("userData")
                .and_then(|u| u.get(USER_DATA_PLAY_ID))
                .and_then(|id| id.as_u64());
            Some(TrackRef { encoded, play_id })
        });
        let state = p.get("state");
        let num = |v: Option<&serde_json::Value>| v.and_then(|x| x.as_u64()).unwrap_or(0);
        out.push(LivePlayer {
            guild,
            node,
            track,
            position_ms: num(state.and_then(|s| s.get("position"))),
            time_ms: num(state.and_then(|s| s.get("time"))),
            paused: p.get("paused").and_then(|x| x.as_bool()).unwrap_or(false),
            volume: num(p.get("volume")).min(1000) as u16,
        });
    }
    Ok(out)
}

/// The JSON body of a player PATCH.
pub fn patch_body(patch: &PlayerPatch) -> serde_json::Value {
    let update = UpdatePlayer {
        track: None,
        end_time: None,
        volume: patch.volume,
        position: patch.position_ms,
        paused: patch.paused,
        filters: patch.filters.map(lavalink_filters),
        voice: patch.voice.as_ref().map(|v| ConnectionInfo {
            endpoint: v.endpoint.clone(),
            token: v.token.clone(),
            session_id: v.session_id.clone(),
            channel_id: Some(ChannelId(v.channel_id)),
        }),
    };
    let mut body = serde_json::to_value(update).unwrap_or_else(|_| serde_json::json!({}));
    if let (Some(track), Some(map)) = (&patch.track, body.as_object_mut()) {
        let mut t = serde_json::json!({ "encoded": track });
        if let (Some(id), Some(_)) = (patch.play_id, track) {
            t["userData"] = serde_json::json!({ USER_DATA_PLAY_ID: id });
        }
        map.insert("track".into(), t);
    }
    body
}

/// One message from a Lavalink websocket, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Ready {
        session_id: String,
        resumed: bool,
    },
    Event(BackendEvent),
    Stats(NodeLoad),
    /// A message or event type this client does not use.
    Ignored(String),
}

/// Reads one websocket message with lavalink-rs's wire types. Malformed input is an error for
/// the caller to log, never a panic.
pub fn decode_message(text: &str) -> Result<Inbound, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let op = v
        .get("op")
        .and_then(|o| o.as_str())
        .unwrap_or_default()
        .to_string();
    Ok(match op.as_str() {
        "ready" => {
            let r: events::Ready = parse(v)?;
            Inbound::Ready {
                session_id: r.session_id,
                resumed: r.resumed,
            }
        }
        "playerUpdate" => {
            let u: events::PlayerUpdate = parse(v)?;
            Inbound::Event(BackendEvent::PlayerUpdate {
                guild: u.guild_id.0,
                time_ms: u.state.time,
                position_ms: u.state.position,
                connected: u.state.connected,
            })
        }
        "stats" => {
            let s: events::Stats = parse(v)?;
            Inbound::Stats(NodeLoad {
                players: s.players,
                playing_players: s.playing_players,
                lavalink_load: s.cpu.lavalink_load,
                system_load: s.cpu.system_load,
                memory_used: s.memory.used,
            })
        }
        "event" => decode_event(v)?,
        _ => Inbound::Ignored(format!("op {op}")),
    })
}

fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// Reads an `event` message by its `type`.
fn decode_event(v: serde_json::Value) -> Result<Inbound, String> {
    let kind = v
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    Ok(match kind.as_str() {
        "TrackStartEvent" => {
            let e: events::TrackStart = parse(v)?;
            Inbound::Event(BackendEvent::TrackStarted {
                guild: e.guild_id.0,
                track: track_ref(&e.track),
            })
        }
        "TrackEndEvent" => {
            let e: events::TrackEnd = parse(v)?;
            use events::TrackEndReason as R;
            let reason = match e.reason {
                R::Finished => EndKind::Finished,
                R::LoadFailed => EndKind::LoadFailed,
                R::Stopped => EndKind::Stopped,
                R::Replaced => EndKind::Replaced,
                R::Cleanup => EndKind::Cleanup,
            };
            Inbound::Event(BackendEvent::TrackEnded {
                guild: e.guild_id.0,
                track: track_ref(&e.track),
                reason,
            })
        }
        "TrackExceptionEvent" => {
            let e: events::TrackException = parse(v)?;
            Inbound::Event(BackendEvent::TrackException {
                guild: e.guild_id.0,
                track: track_ref(&e.track),
                message: e.exception.message,
            })
        }
        "TrackStuckEvent" => {
            let e: events::TrackStuck = parse(v)?;
            Inbound::Event(BackendEvent::TrackStuck {
                guild: e.guild_id.0,
                track: track_ref(&e.track),
                threshold_ms: e.threshold_ms,
            })
        }
        "WebSocketClosedEvent" => {
            let e: events::WebSocketClosed = parse(v)?;
            Inbound::Event(BackendEvent::VoiceClosed {
                guild: e.guild_id.0,
                code: e.code,
                reason: e.reason,
            })
        }
        _ => Inbound::Ignored(format!("event {kind}")),
    })
}
