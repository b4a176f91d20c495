//! Lavalink v4's published JSON shapes (the REST API's and the websocket's), as Encore reads
//! them: leniently, so that a Lavalink-compatible server that differs from the reference in
//! what it leaves out still works.
//!
//! The rules, field by field below:
//! - a field Encore does without, or that the schema marks optional or nullable, reads as its
//!   default when it is missing or `null` (`pluginInfo` and `userData` included);
//! - unknown fields are ignored, and so are the ones Encore has no use for (`identifier`,
//!   `sourceName`, `artworkUrl`, `isrc`, `frameStats`, …);
//! - a track's `length` of 0, a negative one, or lavaplayer's `Long.MAX_VALUE` (what a stream
//!   reports) is an unknown length;
//! - a missing `isSeekable` is lavaplayer's rule: seekable unless it is a stream; a missing
//!   `connected` is not taken as a voice fault (true);
//! - durations and positions may be any JSON number; a negative one reads as 0;
//! - what Encore cannot do without is required: a track's `encoded`, an event's `guildId`, a
//!   `ready`'s `sessionId`, a `WebSocketClosedEvent`'s `code`. A value of the wrong type is an
//!   error too: the server is broken, and the error names the field.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::domain::{GuildId, Track};

/// `Track`: `{encoded, info, pluginInfo, userData}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TrackJson {
    pub encoded: String,
    #[serde(default, deserialize_with = "or_default")]
    pub info: TrackInfoJson,
    /// Whatever object the client sent with the track (Lavalink echoes it in events).
    #[serde(default, deserialize_with = "or_default")]
    pub user_data: Value,
}

/// `Track Info`, the fields Encore uses.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TrackInfoJson {
    #[serde(default, deserialize_with = "or_default")]
    pub title: String,
    #[serde(default, deserialize_with = "or_default")]
    pub author: String,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default, deserialize_with = "length")]
    pub length: Option<u64>,
    #[serde(default)]
    pub is_stream: Option<bool>,
    #[serde(default)]
    pub is_seekable: Option<bool>,
}

impl TrackJson {
    /// The track in our terms.
    pub fn to_track(&self) -> Track {
        let info = &self.info;
        let is_stream = info.is_stream.unwrap_or(false);
        Track {
            encoded: self.encoded.clone(),
            title: info.title.clone(),
            author: info.author.clone(),
            uri: info.uri.clone(),
            length_ms: if is_stream { None } else { info.length },
            is_stream,
            is_seekable: info.is_seekable.unwrap_or(!is_stream),
            requester: None,
            start_ms: None,
            autoplay: false,
        }
    }
}

/// `Playlist`'s data: `{info: {name, selectedTrack}, pluginInfo, tracks}`.
#[derive(Debug, Deserialize)]
pub(super) struct PlaylistJson {
    #[serde(default, deserialize_with = "or_default")]
    pub info: PlaylistInfoJson,
    #[serde(default, deserialize_with = "or_default")]
    pub tracks: Vec<TrackJson>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PlaylistInfoJson {
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
}

/// `Exception`: `{message (nullable), severity, cause}`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ExceptionJson {
    #[serde(default)]
    pub message: Option<String>,
}

/// `Player State`: `{time, position, connected, ping}`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PlayerStateJson {
    #[serde(default, deserialize_with = "millis")]
    pub time: u64,
    #[serde(default, deserialize_with = "opt_millis")]
    pub position: Option<u64>,
    #[serde(default)]
    pub connected: Option<bool>,
}

impl PlayerStateJson {
    pub fn connected(&self) -> bool {
        self.connected.unwrap_or(true)
    }
}

/// `Player` of the REST API: `{guildId, track, volume, paused, state, voice, filters}`.
#[derive(Debug, Deserialize)]
pub(super) struct PlayerJson {
    #[serde(default, rename = "guildId", deserialize_with = "opt_guild_id")]
    pub guild_id: Option<GuildId>,
    #[serde(default)]
    pub track: Option<TrackJson>,
    #[serde(default = "full_volume", deserialize_with = "volume")]
    pub volume: u16,
    #[serde(default, deserialize_with = "or_default")]
    pub paused: bool,
    #[serde(default, deserialize_with = "or_default")]
    pub state: PlayerStateJson,
}

fn full_volume() -> u16 {
    100
}

/// The `ready` op.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReadyJson {
    pub session_id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub resumed: bool,
}

/// The `playerUpdate` op.
#[derive(Debug, Deserialize)]
pub(super) struct PlayerUpdateJson {
    #[serde(rename = "guildId", deserialize_with = "guild_id")]
    pub guild_id: GuildId,
    #[serde(default, deserialize_with = "or_default")]
    pub state: PlayerStateJson,
}

/// The `stats` op (and `GET /v4/stats`), the fields Encore uses.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatsJson {
    #[serde(default, deserialize_with = "or_default")]
    pub players: u64,
    #[serde(default, deserialize_with = "or_default")]
    pub playing_players: u64,
    #[serde(default, deserialize_with = "or_default")]
    pub memory: MemoryJson,
    #[serde(default, deserialize_with = "or_default")]
    pub cpu: CpuJson,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct MemoryJson {
    #[serde(default, deserialize_with = "or_default")]
    pub used: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CpuJson {
    #[serde(default, deserialize_with = "or_default")]
    pub system_load: f64,
    #[serde(default, deserialize_with = "or_default")]
    pub lavalink_load: f64,
}

/// What every `event` op carries.
#[derive(Debug, Deserialize)]
pub(super) struct EventJson {
    #[serde(rename = "guildId", deserialize_with = "guild_id")]
    pub guild_id: GuildId,
}

/// `TrackStartEvent`.
#[derive(Debug, Deserialize)]
pub(super) struct TrackStartJson {
    pub track: TrackJson,
}

/// `TrackEndEvent`; `reason` is one of `finished`, `loadFailed`, `stopped`, `replaced`,
/// `cleanup` (read by the caller, so that a new one is ignored, not an error).
#[derive(Debug, Deserialize)]
pub(super) struct TrackEndJson {
    pub track: TrackJson,
    #[serde(default, deserialize_with = "or_default")]
    pub reason: String,
}

/// `TrackExceptionEvent`.
#[derive(Debug, Deserialize)]
pub(super) struct TrackExceptionJson {
    pub track: TrackJson,
    #[serde(default, deserialize_with = "or_default")]
    pub exception: ExceptionJson,
}

/// `TrackStuckEvent`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TrackStuckJson {
    pub track: TrackJson,
    #[serde(default, deserialize_with = "millis")]
    pub threshold_ms: u64,
}

/// `WebSocketClosedEvent`: `{code, reason, byRemote}`.
#[derive(Debug, Deserialize)]
pub(super) struct WebSocketClosedJson {
    pub code: u16,
    #[serde(default, deserialize_with = "or_default")]
    pub reason: String,
}

/// `GET /v4/info`: `{version: {semver, major, minor, patch, preRelease, build}, buildTime,
/// git, jvm, lavaplayer, sourceManagers, filters, plugins: [{name, version}]}`, the fields Encore
/// uses.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InfoJson {
    #[serde(default, deserialize_with = "or_default")]
    pub version: VersionJson,
    #[serde(default, deserialize_with = "or_default")]
    pub source_managers: Vec<String>,
    #[serde(default, deserialize_with = "or_default")]
    pub plugins: Vec<PluginJson>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct VersionJson {
    #[serde(default)]
    pub semver: Option<String>,
}

/// `Plugin`: `{name, version}`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PluginJson {
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    #[serde(default, deserialize_with = "or_default")]
    pub version: String,
}

/// LavaLyrics' `Lyrics Object`: `{sourceName, provider, text (nullable), lines, plugin}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LyricsJson {
    #[serde(default, deserialize_with = "or_default")]
    pub source_name: String,
    #[serde(default, deserialize_with = "or_default")]
    pub provider: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "or_default")]
    pub lines: Vec<LyricsLineJson>,
}

/// LavaLyrics' `Lyrics Line`: `{timestamp, duration (nullable), line, plugin}`, times in ms.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LyricsLineJson {
    #[serde(default, deserialize_with = "millis")]
    pub timestamp: u64,
    #[serde(default, deserialize_with = "opt_millis")]
    pub duration: Option<u64>,
    #[serde(default, deserialize_with = "or_default")]
    pub line: String,
}

/// Reads `text` as `T`; the error names the field at fault (`data.info.title: invalid type…`).
pub(super) fn read<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(describe)
}

/// Reads `value` as `T`; like [`read`], with `at` (where `value` sits) before the field's path.
pub(super) fn read_value<T: serde::de::DeserializeOwned>(
    value: &Value,
    at: &str,
) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            "." => format!("{at}: {inner}"),
            _ => format!("{at}.{path}: {inner}"),
        }
    })
}

fn describe(e: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.into_inner();
    match path.as_str() {
        "." => inner.to_string(),
        _ => format!("{path}: {inner}"),
    }
}

/// `null` reads as the default, like a missing field.
fn or_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Any JSON number as whole milliseconds, `None` for `null`; negative reads as 0.
fn opt_millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<serde_json::Number>::deserialize(d)?.map(|n| {
        if let Some(v) = n.as_u64() {
            v
        } else if let Some(v) = n.as_i64() {
            v.max(0) as u64
        } else {
            n.as_f64().map_or(0, |v| v.max(0.0).round() as u64)
        }
    }))
}

fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(opt_millis(d)?.unwrap_or(0))
}

/// A track's length: unknown when 0, negative, or lavaplayer's `Long.MAX_VALUE`.
fn length<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(opt_millis(d)?.filter(|ms| *ms > 0 && *ms < i64::MAX as u64))
}

/// Lavalink's volume, 0–1000.
fn volume<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    Ok(opt_millis(d)?.map_or(100, |v| v.min(1000) as u16))
}

/// A snowflake as Lavalink sends it (a string), or as a number.
fn guild_id<'de, D: Deserializer<'de>>(d: D) -> Result<GuildId, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    match Id::deserialize(d)? {
        Id::Number(n) => Ok(n),
        Id::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("not a guild id: {s:?}"))),
    }
}

fn opt_guild_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GuildId>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "guild_id")] GuildId);
    Ok(Option::<Wrapped>::deserialize(d)?.map(|w| w.0))
}
