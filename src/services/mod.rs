//! The running bot's shared parts, built once, in order, by [`crate::app::startup`] and handed to
//! every layer (the Discord front end, the lifecycle, the health listener). Nothing here knows
//! Discord's types: what only exists once the Discord client is built (its cache, its REST client,
//! songbird) travels separately as `discord::DiscordParts`.

mod configs;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use configs::Configs;

use crate::audio::lavalink::LavalinkBackend;
use crate::autosave::Autosave;
use crate::domain::restore::RestoreReport;
use crate::domain::{GuildConfig, GuildId};
use crate::lease::LeaseHandle;
use crate::player::PlayerService;
use crate::settings::{Settings, ShardPlan};
use crate::store::StateStore;
use crate::sync::LockExt;

/// What the settings say about restoring and idling, read once at start.
#[derive(Debug, Clone, Copy)]
pub struct RestoreSettings {
    /// `MUSIC_AUTO_RESUME`: a restored player plays (unless a server's own setting says otherwise).
    pub auto_resume: bool,
    /// `RESUME_MAX_AGE`: an older saved player is not restored.
    pub max_age: Duration,
}

/// The shared parts; cheap to clone (every field is a handle).
#[derive(Clone)]
pub struct Services {
    /// The store, timed for `/metrics`.
    pub store: Arc<dyn StateStore>,
    pub autosave: Autosave,
    /// This process's part in the lease (see [`crate::lease`]).
    pub lease: LeaseHandle,
    pub backend: LavalinkBackend,
    /// The players (see [`crate::player`]).
    pub service: PlayerService,
    /// Each guild's settings, loaded from the store on first use.
    pub configs: Configs,
    /// The bot's user id (from `GET /users/@me` at start).
    pub bot_id: u64,
    /// The shards this process runs.
    pub shards: ShardPlan,
    pub restore: RestoreSettings,
    /// `IDLE_TIMEOUT`.
    pub idle_timeout: Duration,
    /// When this process started, for `/status`.
    pub started: Instant,
    /// What the restore after start did, once it is done (for `/status`).
    pub last_restore: Arc<Mutex<Option<RestoreReport>>>,
}

impl RestoreSettings {
    pub fn from_settings(settings: &Settings) -> RestoreSettings {
        RestoreSettings {
            auto_resume: settings.music_auto_resume,
            max_age: settings.resume_max_age,
        }
    }
}

impl Services {
    /// The guild's settings: cached, else loaded from the store, else the defaults.
    pub async fn config(&self, guild: GuildId) -> GuildConfig {
        self.configs.get(self.store.as_ref(), guild).await
    }

    /// The last restore's counts, if one has finished.
    pub fn last_restore(&self) -> Option<RestoreReport> {
        self.last_restore.locked().clone()
    }
}
