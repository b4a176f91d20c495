//! The player service: the one place that decides what plays next.
//!
//! It owns each guild's state (the domain [`Queue`] and the small [`PlayerState`]), drives the
//! [`AudioBackend`], turns backend events into actions, and records every change with the
//! autosave. lavalink-rs/Lavalink are only the transport: their own queue is never used.

mod autoplay;
mod error;
mod events;
mod healing;
mod lookup;
mod operations;
mod pause;
mod recovery;
mod registry;
mod seek;
mod state;
mod view;
mod voice_link;

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};

use tokio::sync::Mutex;

pub use error::{format_ms, PlayerError};
pub use lookup::TrackLyrics;
pub use recovery::RestorePlan;
pub use view::{
    Announcement, Announcer, LiveTrack, LogAnnouncer, PlayOutcome, PlayerFigures, PlayerView,
    Switched, VoiceEnd,
};
pub use voice_link::{JoinError, VoiceLink};

use crate::audio::{AudioBackend, AudioError, BackendEvent};
use crate::autosave::Autosave;
use crate::domain::GuildId;
use events::event_guild;
use state::GuildPlayer;

/// Longest query a user may send.
pub const MAX_QUERY_LEN: usize = 500;
/// Volume bounds in percent (100 leaves the audio unchanged).
pub const MAX_VOLUME: u16 = 200;

#[derive(Debug, Clone)]
pub struct PlayerConfig {
    pub queue_max: usize,
    pub history_max: usize,
    /// Prefix for plain-text searches, e.g. `ytsearch`.
    pub search_prefix: String,
    /// "Connected but silent": how long a playing player's position may stand still before its
    /// voice is healed (`VOICE_SILENCE_TIMEOUT`, default 10 s).
    pub silence_timeout: std::time::Duration,
    /// How long to wait for a new voice server after Discord announced one (a null endpoint)
    /// before asking for voice again (default 10 s).
    pub voice_server_wait: std::time::Duration,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        PlayerConfig {
            queue_max: 1000,
            history_max: 50,
            search_prefix: "ytsearch".into(),
            silence_timeout: std::time::Duration::from_secs(10),
            voice_server_wait: std::time::Duration::from_secs(10),
        }
    }
}

struct Inner {
    backend: Arc<dyn AudioBackend>,
    autosave: Option<Autosave>,
    announcer: Arc<dyn Announcer>,
    config: PlayerConfig,
    guilds: StdMutex<HashMap<GuildId, Arc<Mutex<GuildPlayer>>>>,
    /// Players that could not be rebuilt (no node was up): retried when a node is ready.
    pending_rebuild: StdMutex<std::collections::HashSet<GuildId>>,
    /// Discord's side of voice healing, set once the Discord client exists.
    voice_link: std::sync::OnceLock<Arc<dyn VoiceLink>>,
}

/// The player service; cheap to clone.
#[derive(Clone)]
pub struct PlayerService {
    inner: Arc<Inner>,
}

impl PlayerService {
    pub fn new(
        backend: Arc<dyn AudioBackend>,
        autosave: Option<Autosave>,
        announcer: Arc<dyn Announcer>,
        config: PlayerConfig,
    ) -> Self {
        PlayerService {
            inner: Arc::new(Inner {
                backend,
                autosave,
                announcer,
                config,
                guilds: StdMutex::new(HashMap::new()),
                pending_rebuild: StdMutex::new(Default::default()),
                voice_link: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Gives the service Discord's side of voice healing (once; later calls are ignored).
    pub fn set_voice_link(&self, link: Arc<dyn VoiceLink>) {
        let _ = self.inner.voice_link.set(link);
    }

    /// Handles the backend's events until it closes. Spawn it once. Each guild's events are
    /// handled in order by a task of its own, so a slow request for one guild never holds up
    /// the others.
    pub fn spawn_event_loop(&self) -> Option<tokio::task::JoinHandle<()>> {
        let mut events = self.inner.backend.take_events()?;
        let me = self.clone();
        Some(tokio::spawn(async move {
            let mut workers: HashMap<GuildId, tokio::sync::mpsc::UnboundedSender<BackendEvent>> =
                HashMap::new();
            while let Some(event) = events.recv().await {
                let Some(guild) = event_guild(&event) else {
                    me.handle_event(event).await;
                    continue;
                };
                let worker = workers.entry(guild).or_insert_with(|| {
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                    let me = me.clone();
                    tokio::spawn(async move {
                        while let Some(e) = rx.recv().await {
                            me.handle_event(e).await;
                        }
                    });
                    tx
                });
                if let Err(unsent) = worker.send(event) {
                    me.handle_event(unsent.0).await;
                }
            }
        }))
    }

    /// The voice session id the guild's player uses, if it has one.
    pub async fn voice_session(&self, guild: GuildId) -> Option<String> {
        let g = self.existing(guild)?;
        let g = g.lock().await;
        g.voice.as_ref().map(|v| v.session_id.clone())
    }

    /// Whether an audio error means "try again later".
    pub fn is_unavailable(e: &PlayerError) -> bool {
        matches!(e, PlayerError::Audio(AudioError::Unavailable))
    }
}

#[cfg(test)]
mod tests;
