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
    /// Voice state present and no [`VoiceFault::Disconnected`] (which an injected
    /// WebSocketClosedEvent also sets): what `state.connected` reports.
    pub connected: bool,
    /// Position advancing right now (track, connected, not paused, not
    /// [`VoiceFault::Frozen`]).
    pub playing: bool,
    pub voice: Option<VoiceState>,
    pub end_time: Option<u64>,
    pub filters: Value,
    /// The voice fault the player has now ([`VoiceFault::None`] when healthy).
    #[serde(default)]
    pub voice_fault: VoiceFault,
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
    /// Defaults to the source's link: `https://www.youtube.com/watch?v=<identifier>`
    /// (youtube and others), `https://open.spotify.com/track/<identifier>`,
    /// `https://deezer.com/track/<identifier>`, `https://music.apple.com/us/song/<identifier>`.
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub artwork_url: Option<String>,
    #[serde(default)]
    pub isrc: Option<String>,
    /// Defaults to `youtube`. `spotify`, `applemusic` and `deezer` make a LavaSrc track
    /// (its `pluginInfo` fields null), which loads only by link and plays only with LavaSrc on.
    #[serde(default)]
    pub source_name: Option<String>,
    /// The track starts, then fails: TrackExceptionEvent + TrackEndEvent(loadFailed).
    #[serde(default)]
    pub fails_on_play: bool,
}

impl NewTrack {
    /// A YouTube track (`https://www.youtube.com/watch?v=<identifier>`) of `length` ms that
    /// plays; set the other fields on the result for anything else.
    pub fn youtube(identifier: &str, title: &str, author: &str, length: u64) -> NewTrack {
        NewTrack {
            title: title.to_string(),
            author: author.to_string(),
            length,
            identifier: identifier.to_string(),
            is_stream: false,
            uri: None,
            artwork_url: None,
            isrc: None,
            source_name: None,
            fails_on_play: false,
        }
    }
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

/// A misbehaving voice connection of one player, as a real Lavalink node reports it
/// (set with [`crate::lavalink::FakeLavalink::set_voice_fault`]).
///
/// Lavalink's websocket docs, Player State: `connected` is "Whether Lavalink is connected
/// to the voice gateway", `ping` "The ping of the node to the Discord voice server in
/// milliseconds (`-1` if not connected)".
///
/// JSON (control API): `{"fault": "none"}`, `{"fault": "disconnected", "cure": "..."}`,
/// `{"fault": "frozen", "cure": "..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "camelCase")]
pub enum VoiceFault {
    /// Healthy.
    #[default]
    None,
    /// The voice connection is down: `state.connected` false and `ping` -1 (in
    /// `playerUpdate` and in player objects), the position does not advance. Setting it
    /// sends no event (inject a WebSocketClosedEvent for that).
    Disconnected { cure: Cure },
    /// The player claims to play (`connected: true`, not paused, track present) but its
    /// position stands still from the moment the fault is set.
    Frozen { cure: Cure },
}

/// What ends a [`VoiceFault`]: a player PATCH carrying a `voice` object, judged against
/// the voice state the player had when the fault was set. Once cured the clock resumes
/// from where it stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Cure {
    /// Any voice update.
    AnyVoiceUpdate,
    /// A voice update whose `token` or `sessionId` differs from the stale voice state (a
    /// new Discord voice session or server). The same stale state leaves the fault; for
    /// [`VoiceFault::Disconnected`] it yields a WebSocketClosedEvent 4006 "Session is no
    /// longer valid." (`byRemote: true`), as when Discord refuses Lavalink's voice
    /// connect.
    NewVoiceSession,
    /// Nothing: every voice update of a [`VoiceFault::Disconnected`] player yields that
    /// WebSocketClosedEvent 4006 again.
    Never,
}

/// A `voice` object a player PATCH delivered (see
/// [`crate::lavalink::FakeLavalink::voice_updates`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceUpdate {
    /// The Lavalink session whose player got it.
    pub session_id: String,
    pub voice: VoiceState,
    /// When it arrived (Unix time, microseconds).
    pub received_at_unix_us: u64,
}
