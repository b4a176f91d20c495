//! The wire format: reading load results, players and websocket messages (Lavalink's shapes,
//! read leniently by [`super::schema`]) into our terms, and writing player PATCH bodies with
//! lavalink-rs's types. Malformed input is an error naming the field, never a panic.

use lavalink_rs::model::http::UpdatePlayer;
use lavalink_rs::model::player::ConnectionInfo;
use lavalink_rs::model::ChannelId;
use serde_json::Value;

use super::super::filters::lavalink_filters;
use super::schema::{
    read, read_value, EventJson, ExceptionJson, InfoJson, LyricsJson, PlayerJson, PlayerUpdateJson,
    PlaylistJson, ReadyJson, StatsJson, TrackEndJson, TrackExceptionJson, TrackJson,
    TrackStartJson, TrackStuckJson, WebSocketClosedJson,
};
use super::NodeLoad;
use crate::audio::{
    AudioError, BackendEvent, EndKind, Loaded, NodeInfo, PlayerPatch, PlayerProbe, PluginInfo,
    TrackRef,
};
use crate::domain::{GuildId, Lyrics, LyricsLine};

/// Reads a `/v4/loadtracks` answer by its `loadType`: `track`, `playlist`, `search`, `empty`
/// or `error`. An unknown `loadType`, or data that is not the shape its type says, is a
/// [`AudioError::BadResponse`] whose text names the field.
pub fn parse_load_result(text: &str) -> Result<Loaded, AudioError> {
    load_result(text).map_err(|e| AudioError::BadResponse(format!("loadtracks: {e}")))
}

fn load_result(text: &str) -> Result<Loaded, String> {
    let v: Value = read(text)?;
    let data = v.get("data").unwrap_or(&Value::Null);
    Ok(match v.get("loadType").and_then(Value::as_str) {
        Some("track") => Loaded::Track(read_value::<TrackJson>(data, "data")?.to_track()),
        Some("playlist") => {
            let p: PlaylistJson = read_value(data, "data")?;
            Loaded::Playlist {
                name: p.info.name,
                tracks: p.tracks.iter().map(TrackJson::to_track).collect(),
            }
        }
        Some("search") => {
            let list: Option<Vec<TrackJson>> = read_value(data, "data")?;
            match list.unwrap_or_default() {
                list if list.is_empty() => Loaded::Empty,
                list => Loaded::Search(list.iter().map(TrackJson::to_track).collect()),
            }
        }
        Some("empty") => Loaded::Empty,
        Some("error") => {
            let e: Option<ExceptionJson> = read_value(data, "data")?;
            Loaded::Failed {
                message: e.and_then(|e| e.message).filter(|m| !m.trim().is_empty()),
            }
        }
        other => return Err(format!("unknown loadType {other:?}")),
    })
}

/// Reads a `GET /v4/info` answer of the node `node`; a missing version reads as `unknown`,
/// missing lists as empty.
pub fn parse_info(text: &str, node: &str) -> Result<NodeInfo, AudioError> {
    let info: InfoJson = read(text).map_err(|e| AudioError::BadResponse(format!("info: {e}")))?;
    Ok(NodeInfo {
        node: node.to_string(),
        version: info
            .version
            .semver
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "unknown".into()),
        source_managers: info.source_managers,
        plugins: info
            .plugins
            .into_iter()
            .map(|p| PluginInfo {
                name: p.name,
                version: p.version,
            })
            .collect(),
    })
}

/// Reads a 200 answer of LavaLyrics' `GET /v4/lyrics` (see [`Lyrics::from_parts`]); `None`
/// when it holds no words.
pub fn parse_lyrics(text: &str) -> Result<Option<Lyrics>, AudioError> {
    let l: LyricsJson = read(text).map_err(|e| AudioError::BadResponse(format!("lyrics: {e}")))?;
    let lines = l
        .lines
        .into_iter()
        .map(|line| LyricsLine {
            timestamp_ms: line.timestamp,
            duration_ms: line.duration,
            text: line.line,
        })
        .collect();
    Ok(Lyrics::from_parts(l.source_name, l.provider, l.text, lines))
}

/// The `userData` key carrying our play id.
const USER_DATA_PLAY_ID: &str = "encorePlayId";

fn track_ref(t: &TrackJson) -> TrackRef {
    TrackRef {
        encoded: t.encoded.clone(),
        play_id: t.user_data.get(USER_DATA_PLAY_ID).and_then(Value::as_u64),
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
/// object); missing fields read as their neutral value (a missing `connected` as true).
pub fn parse_player_probe(text: &str) -> Result<PlayerProbe, AudioError> {
    let p: PlayerJson = read(text).map_err(|e| AudioError::BadResponse(format!("player: {e}")))?;
    Ok(PlayerProbe {
        connected: p.state.connected(),
        position_ms: p.state.position.unwrap_or(0),
        paused: p.paused,
        has_track: p.track.is_some(),
    })
}

/// Reads a `GET /v4/sessions/{id}/players` answer (a list of player objects; one without a
/// `guildId` is skipped).
pub fn parse_live_players(text: &str, node: usize) -> Result<Vec<LivePlayer>, AudioError> {
    let list: Vec<PlayerJson> =
        read(text).map_err(|e| AudioError::BadResponse(format!("players: {e}")))?;
    Ok(list
        .into_iter()
        .filter_map(|p| {
            Some(LivePlayer {
                guild: p.guild_id?,
                node,
                track: p.track.as_ref().map(track_ref),
                position_ms: p.state.position.unwrap_or(0),
                time_ms: p.state.time,
                paused: p.paused,
                volume: p.volume,
            })
        })
        .collect())
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
    /// A message, event type or end reason this client does not use (or a `playerUpdate`
    /// without a position).
    Ignored(String),
}

/// Reads one websocket message (`ready`, `playerUpdate`, `stats`, `event`). Malformed input
/// is an error naming the field, for the caller to log, never a panic.
pub fn decode_message(text: &str) -> Result<Inbound, String> {
    let v: Value = read(text)?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let op = v.get("op").and_then(Value::as_str).unwrap_or_default();
    Ok(match op {
        "ready" => {
            let r: ReadyJson = read_value(&v, "ready")?;
            Inbound::Ready {
                session_id: r.session_id,
                resumed: r.resumed,
            }
        }
        "playerUpdate" => {
            let u: PlayerUpdateJson = read_value(&v, "playerUpdate")?;
            let Some(position_ms) = u.state.position else {
                return Ok(Inbound::Ignored("playerUpdate without a position".into()));
            };
            Inbound::Event(BackendEvent::PlayerUpdate {
                guild: u.guild_id,
                time_ms: u.state.time,
                position_ms,
                connected: u.state.connected(),
            })
        }
        "stats" => {
            let s: StatsJson = read_value(&v, "stats")?;
            Inbound::Stats(NodeLoad {
                players: s.players,
                playing_players: s.playing_players,
                lavalink_load: s.cpu.lavalink_load,
                system_load: s.cpu.system_load,
                memory_used: s.memory.used,
            })
        }
        "event" => decode_event(&v)?,
        _ => Inbound::Ignored(format!("op {op}")),
    })
}

/// Reads an `event` message by its `type`.
fn decode_event(v: &Value) -> Result<Inbound, String> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    let guild = || read_value::<EventJson>(v, kind).map(|e| e.guild_id);
    Ok(Inbound::Event(match kind {
        "TrackStartEvent" => {
            let e: TrackStartJson = read_value(v, kind)?;
            BackendEvent::TrackStarted {
                guild: guild()?,
                track: track_ref(&e.track),
            }
        }
        "TrackEndEvent" => {
            let e: TrackEndJson = read_value(v, kind)?;
            let reason = match e.reason.as_str() {
                "finished" => EndKind::Finished,
                "loadFailed" => EndKind::LoadFailed,
                "stopped" => EndKind::Stopped,
                "replaced" => EndKind::Replaced,
                "cleanup" => EndKind::Cleanup,
                other => return Ok(Inbound::Ignored(format!("{kind} reason {other:?}"))),
            };
            BackendEvent::TrackEnded {
                guild: guild()?,
                track: track_ref(&e.track),
                reason,
            }
        }
        "TrackExceptionEvent" => {
            let e: TrackExceptionJson = read_value(v, kind)?;
            BackendEvent::TrackException {
                guild: guild()?,
                track: track_ref(&e.track),
                message: e.exception.message.unwrap_or_default(),
            }
        }
        "TrackStuckEvent" => {
            let e: TrackStuckJson = read_value(v, kind)?;
            BackendEvent::TrackStuck {
                guild: guild()?,
                track: track_ref(&e.track),
                threshold_ms: e.threshold_ms,
            }
        }
        "WebSocketClosedEvent" => {
            let e: WebSocketClosedJson = read_value(v, kind)?;
            BackendEvent::VoiceClosed {
                guild: guild()?,
                code: e.code,
                reason: e.reason,
            }
        }
        _ => return Ok(Inbound::Ignored(format!("event {kind}"))),
    }))
}
