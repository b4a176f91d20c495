//! The audio backend: what the player service needs from Lavalink, in our own terms.
//!
//! [`AudioBackend`] is the seam: the real one ([`lavalink::LavalinkBackend`]) speaks Lavalink v4
//! to one or more nodes; the player service only sees tracks, patches and events.

pub mod filters;
pub mod lavalink;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::domain::{FilterPreset, GuildId, Lyrics, Plugin, Track};

/// What Discord told us about a guild's voice connection; Lavalink needs all four.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceConnection {
    pub token: String,
    pub endpoint: String,
    pub session_id: String,
    pub channel_id: u64,
}

/// The result of loading a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// One track (a URL of a track).
    Track(Track),
    /// A whole playlist (a URL of a playlist).
    Playlist { name: String, tracks: Vec<Track> },
    /// Search results, best first.
    Search(Vec<Track>),
    /// Nothing matched.
    Empty,
    /// The source could not load it; the message, when the audio server gave one (Lavalink's
    /// `message` is nullable), is safe to show.
    Failed { message: Option<String> },
}

/// A change to a guild's player on the audio server. `None` fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayerPatch {
    /// `Some(Some(t))` plays `t`, `Some(None)` stops.
    pub track: Option<Option<String>>,
    pub position_ms: Option<u64>,
    pub paused: Option<bool>,
    /// Lavalink's volume: 100 leaves the audio unchanged.
    pub volume: Option<u16>,
    pub filters: Option<FilterPreset>,
    pub voice: Option<VoiceConnection>,
    /// Keep a playing track instead of replacing it.
    pub no_replace: bool,
    /// Sent with the track as `userData`, and echoed in its events.
    pub play_id: Option<u64>,
}

/// Which play of which track an event is about. Lavalink re-encodes a track with its current
/// position in events, so the encoded string alone does not match the one we sent; the play id we
/// send as `userData` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    pub encoded: String,
    pub play_id: Option<u64>,
}

impl TrackRef {
    /// Whether this is the play `play_id` of the track `encoded`.
    pub fn is(&self, encoded: &str, play_id: u64) -> bool {
        match self.play_id {
            Some(id) => id == play_id,
            None => same_track(&self.encoded, encoded),
        }
    }
}

/// Whether two encoded tracks are the same track, whatever position each carries (lavaplayer's
/// message ends with the position as 8 bytes).
pub fn same_track(a: &str, b: &str) -> bool {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    match (engine.decode(a), engine.decode(b)) {
        (Ok(x), Ok(y)) if x.len() == y.len() && x.len() > 8 => x[..x.len() - 8] == y[..y.len() - 8],
        _ => a == b,
    }
}

/// Why a track ended, as the audio server says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndKind {
    Finished,
    LoadFailed,
    Stopped,
    Replaced,
    Cleanup,
}

/// Something that happened on the audio server.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendEvent {
    TrackStarted {
        guild: GuildId,
        track: TrackRef,
    },
    TrackEnded {
        guild: GuildId,
        track: TrackRef,
        reason: EndKind,
    },
    TrackException {
        guild: GuildId,
        track: TrackRef,
        /// Safe to show; empty when the audio server gave no message.
        message: String,
    },
    TrackStuck {
        guild: GuildId,
        track: TrackRef,
        threshold_ms: u64,
    },
    /// Position observed by the server at its wall-clock `time_ms`.
    PlayerUpdate {
        guild: GuildId,
        time_ms: u64,
        position_ms: u64,
        connected: bool,
    },
    VoiceClosed {
        guild: GuildId,
        code: u16,
        reason: String,
    },
    /// A node (re)connected; `resumed` when its session, and so its players, survived.
    NodeReady {
        node: usize,
        resumed: bool,
        session_id: String,
    },
    /// These guilds' players are gone from the audio server (it restarted, or its node is down
    /// and another must take over): rebuild them from our own state.
    PlayersLost {
        guilds: Vec<GuildId>,
    },
    /// The connection to the node playing these guilds closed: until it answers again (its
    /// session resumed) or they are rebuilt, nobody can tell they are heard, so their positions
    /// stand still.
    NodeLost {
        guilds: Vec<GuildId>,
    },
}

/// A player as the audio server sees it right now (`GET /v4/sessions/{id}/players/{guild}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayerProbe {
    /// Lavalink's `state.connected`: its voice socket to Discord is up.
    pub connected: bool,
    pub position_ms: u64,
    pub paused: bool,
    /// A track is loaded.
    pub has_track: bool,
}

/// What a node says about itself (`GET /v4/info`), the parts Encore uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// The node's name (as in `LAVALINK_NODES`).
    pub node: String,
    /// Lavalink's version (`version.semver`); `unknown` when it did not say.
    pub version: String,
    /// Its source managers (`youtube`, `soundcloud`, `spotify`, …), as it lists them.
    pub source_managers: Vec<String>,
    /// Its plugins, as it lists them.
    pub plugins: Vec<PluginInfo>,
}

/// One plugin of a node: its name and version as the node reports them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
}

impl NodeInfo {
    /// Whether the node lists the source manager `name` (`spotify`, …).
    pub fn has_source(&self, name: &str) -> bool {
        self.source_managers
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name))
    }

    /// The plugin as the node lists it, if it has it.
    pub fn plugin(&self, plugin: Plugin) -> Option<&PluginInfo> {
        self.plugins.iter().find(|p| plugin.is(&p.name))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    #[error("unavailable")]
    Unavailable,
    /// No connected node has the plugin the request needs (its route answered 404).
    #[error("no node has the {} plugin", .0.name())]
    PluginMissing(Plugin),
    #[error("refused the request: {0}")]
    Rejected(String),
    #[error("sent an answer that could not be read: {0}")]
    BadResponse(String),
}

/// What the player service needs from the audio server.
#[async_trait]
pub trait AudioBackend: Send + Sync {
    /// Resolves a URL or a prefixed search (`ytsearch:…`).
    async fn load(&self, identifier: &str) -> Result<Loaded, AudioError>;

    /// Creates or changes a guild's player (placing a new one on the least-loaded healthy node).
    async fn update(&self, guild: GuildId, patch: PlayerPatch) -> Result<(), AudioError>;

    /// Removes a guild's player from the audio server.
    async fn destroy(&self, guild: GuildId) -> Result<(), AudioError>;

    /// The guild's player as the audio server sees it now; `None` when it holds none.
    async fn probe(&self, guild: GuildId) -> Result<Option<PlayerProbe>, AudioError>;

    /// Moves the guild's player to another node: removes it from the node it is on and places
    /// it on the least-loaded other healthy node (the next [`AudioBackend::update`] creates it
    /// there). `Ok(false)` when there is no other node to go to.
    async fn relocate(&self, guild: GuildId) -> Result<bool, AudioError>;

    /// The lyrics of a track (`encoded`, as Lavalink gave it) from the LavaLyrics plugin
    /// (`GET /v4/lyrics?track=…&skipTrackSource=false`, again with `true` when the track's own
    /// source refuses); `Ok(None)` when it found none (204).
    /// Errors: [`AudioError::PluginMissing`] when no connected node has the plugin (the route
    /// answers 404 on each), [`AudioError::Unavailable`] when no node answers. By default, a
    /// backend without plugins: `PluginMissing`.
    async fn lyrics(&self, _encoded: &str) -> Result<Option<Lyrics>, AudioError> {
        Err(AudioError::PluginMissing(Plugin::LavaLyrics))
    }

    /// What the connected nodes say about themselves (`GET /v4/info`, asked once per node
    /// session); nodes that do not answer are left out, so the list may be empty (the default:
    /// a backend that says nothing).
    async fn node_infos(&self) -> Vec<NodeInfo> {
        vec![]
    }

    /// How many nodes this backend may place players on.
    fn node_count(&self) -> usize;

    /// The events of every node; call once.
    fn take_events(&self) -> Option<mpsc::UnboundedReceiver<BackendEvent>>;
}
