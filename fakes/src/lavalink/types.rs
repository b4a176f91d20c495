//! The Lavalink v4 JSON shapes the fake produces, plus the fake's own snapshot types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `Track` of the REST API: `{encoded, info, pluginInfo, userData}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    pub encoded: String,
    pub info: TrackInfo,
    pub plugin_info: Value,
    pub user_data: Value,
}

/// `Track Info` of the REST API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    pub identifier: String,
    pub is_seekable: bool,
    pub author: String,
    pub length: u64,
    pub is_stream: bool,
    pub position: u64,
    pub title: String,
    pub uri: Option<String>,
    pub artwork_url: Option<String>,
    pub isrc: Option<String>,
    pub source_name: String,
}

/// Lavalink 4.2's voice state: all four fields are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceState {
    pub token: String,
    pub endpoint: String,
    pub session_id: String,
    pub channel_id: String,
}

/// `Player State`, as in `playerUpdate` and the player object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerState {
    pub time: u64,
    pub position: u64,
    pub connected: bool,
    pub ping: i64,
}

/// Live state of one player, position computed when the snapshot was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerSnapshot {
    pub session_id: String,
    pub guild_id: String,
    /// The playing track; `info.position` is the live position.
    pub track: Option<Track>,
    pub position: u64,
    pub paused: bool,
    pub volume: u32,
    /// Voice state present and not closed by an injected WebSocketClosedEvent.
    pub connected: bool,
    /// Position advancing right now (track, voice, not paused).
    pub playing: bool,
    pub voice: Option<VoiceState>,
    pub end_time: Option<u64>,
    pub filters: Value,
}

/// One websocket session of the fake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSnapshot {
    pub session_id: String,
    pub user_id: String,
    pub client_name: Option<String>,
    /// A websocket is attached right now.
    pub connected: bool,
    pub resuming: bool,
    /// Resume timeout in seconds.
    pub timeout: u64,
    /// Events waiting for a resuming client.
    pub queued_events: usize,
    pub players: Vec<String>,
}

/// A request the fake received (REST or websocket handshake; `/control/*` excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, if any (`identifier=ytsearch%3A...`).
    pub query: Option<String>,
    /// Header names lower-cased; the `authorization` value is recorded as sent.
    pub headers: BTreeMap<String, String>,
    /// The body, when it parsed as JSON.
    pub body: Option<Value>,
    /// When it arrived (Unix time, microseconds).
    #[serde(default)]
    pub received_at_unix_us: u64,
}

/// A track to add to the catalogue (`POST /control/tracks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTrack {
    pub title: String,
    pub author: String,
    /// Milliseconds; ignored for streams.
    #[serde(default)]
    pub length: u64,
    pub identifier: String,
    #[serde(default)]
    pub is_stream: bool,
    /// Defaults to `https://www.youtube.com/watch?v=<identifier>`.
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub artwork_url: Option<String>,
    #[serde(default)]
    pub isrc: Option<String>,
    /// Defaults to `youtube`.
    #[serde(default)]
    pub source_name: Option<String>,
    /// The track starts, then fails: TrackExceptionEvent + TrackEndEvent(loadFailed).
    #[serde(default)]
    pub fails_on_play: bool,
}

/// Exception severity of Lavalink's exception object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Common,
    Suspicious,
    Fault,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Common => "common",
            Severity::Suspicious => "suspicious",
            Severity::Fault => "fault",
        }
    }
}
