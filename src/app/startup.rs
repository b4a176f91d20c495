//! The composition root: [`Application::build`] makes every part of the running bot in one visible
//! order, and [`Application::run_until_stopped`] runs it until the shutdown signal, then stops it
//! gracefully ([`crate::lifecycle::shutdown`]).
//!
//! Order: the bot user over REST → the store (timed) → autosave → the lease (built, not yet taking
//! part) → the Lavalink backend → the player service → [`Services`] → the Discord client (built,
//! not connected) → the health listener → the idle watch and the lifecycle → the Discord
//! connection. The lease takes part from the first READY (`lifecycle::spawn`). Discord being
//! unreachable is waited out with backoff (at step 1 and by the client's supervisor); Discord
//! refusing the bot ends [`Application::run_until_stopped`] through the graceful stop.

use std::future::Future;
use std::sync::Arc;

use super::{new_lease, start_backups, AppError};
use crate::audio::lavalink::{LavalinkBackend, LavalinkOptions};
use crate::autosave::{Autosave, AutosaveConfig, AutosaveTask};
use crate::discord::{self, Bot, ChannelAnnouncer};
use crate::health::Probe;
use crate::player::{PlayerConfig, PlayerService};
use crate::services::{Configs, RestoreSettings, Services};
use crate::settings::{Settings, StorageKind};
use crate::store::{self, TimedStore};

/// The running bot, built.
pub struct Application {
    settings: Settings,
    services: Services,
    bot: Bot,
    autosave: AutosaveTask,
    probe: Probe,
    /// The SQLite backups, stopped first at exit.
    backups: Option<tokio::task::JoinHandle<()>>,
    /// Background tasks stopped at exit: the health listener, the lifecycle.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Builds and starts every part, in order; the Discord shards connect last.
    pub async fn build(settings: Settings) -> Result<Application, AppError> {
        settings.require_bot_credentials()?;
        log_start(&settings);
        // 1. Who the bot is: Discord's REST API says before any shard connects (asked again with
        //    backoff while Discord cannot be reached; a refused token stops here).
        let rest = Arc::new(discord::rest_client(&settings).map_err(discord_error)?);
        let link = discord::Link::new(settings.discord_api_base.as_deref());
        let bot_user = discord::current_user(&rest, &link)
            .await
            .map_err(discord_error)?;
        let bot_id = bot_user.id.get();
        // 2. The store; every call is timed for /metrics.
        let store = TimedStore::wrap(store::open_from_settings(&settings).await?);
        tracing::info!(backend = store.backend(), "player store opened");
        if settings.storage == StorageKind::Memory {
            tracing::warn!("STORAGE=memory: saved players do not survive a restart");
        }
        let backups = start_backups(&settings);
        let mut tasks = Vec::new();
        // 3. Autosave and the lease (the lease decides when this instance acts: see lifecycle). The
        //    lease takes part only from the first READY, once start-up can no longer fail.
        let autosave = Autosave::new(
            store.clone(),
            AutosaveConfig::new(settings.autosave_interval),
        );
        let autosave_task = autosave.spawn();
        let lease = new_lease(&settings, store.clone());
        autosave.set_fence(lease.clone());
        // 4. Playback: the Lavalink backend (connected once this instance owns the lease) and the
        //    player service.
        let backend = LavalinkBackend::new(
            &settings.lavalink_nodes,
            LavalinkOptions::new(bot_id, settings.lavalink_resume_timeout),
        )
        .map_err(|e| AppError::Discord(format!("cannot set up the Lavalink nodes: {e}")))?;
        backend.set_fence(lease.clone());
        let configs = Configs::default();
        let service = PlayerService::new(
            Arc::new(backend.clone()),
            Some(autosave.clone()),
            Arc::new(ChannelAnnouncer::new(rest, configs.clone())),
            player_config(&settings),
        );
        service.spawn_event_loop();
        // 5. Everything shared, in one value.
        let services = Services {
            store,
            autosave,
            lease,
            backend,
            service,
            configs,
            bot_id,
            shards: settings.shards,
            restore: RestoreSettings::from_settings(&settings),
            idle_timeout: settings.idle_timeout,
            started: std::time::Instant::now(),
            last_restore: Arc::default(),
        };
        // 6. The Discord client, built around them (not connected yet).
        let mut client = discord::Client::build(&settings, services.clone(), link)
            .await
            .map_err(discord_error)?;
        //    The player service heals voice through it.
        services
            .service
            .set_voice_link(Arc::new(discord::SongbirdVoice::new(client.parts())));
        // 7. The health listener, with every part it reads.
        let probe = Probe::new(services.clone(), client.parts().clone());
        if let Some(port) = settings.health_port {
            tasks.push(crate::health::serve(port, probe.clone()).await?);
        }
        // 8. What follows Discord: the idle watch and the lifecycle (restore, take-over,
        //    hand-over), then the connection itself.
        discord::spawn_idle_watch(services.clone(), client.parts().clone());
        if let Some(readies) = client.take_readies() {
            let parts = client.parts().clone();
            tasks.push(crate::lifecycle::spawn(services.clone(), parts, readies));
        }
        // 9. Connect, under a supervisor that retries while Discord is unreachable. The lifecycle
        //    starts the lease at the first READY: only an instance that reached Discord's gateway
        //    ever asks the running owner to hand over.
        let bot = client.start();
        tracing::info!("Encore is running; SIGTERM or Ctrl-C stops it");
        Ok(Application {
            settings,
            services,
            bot,
            autosave: autosave_task,
            probe,
            backups,
            tasks,
        })
    }

    /// The shared parts (tests read the store and the players through them).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Runs until `shutdown` completes or Discord refuses the bot for good, then stops
    /// gracefully (saved state flushed, never deleted). Errors with the reason in the second case.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), AppError> {
        let refused = tokio::select! {
            () = shutdown => None,
            f = self.bot.fatal() => Some(f),
        };
        self.stop().await;
        match refused {
            Some(f) => Err(AppError::Discord(f.to_string())),
            None => Ok(()),
        }
    }

    /// The graceful stop: `/readyz` says so, then [`crate::lifecycle::shutdown::graceful`]
    /// within `SHUTDOWN_TIMEOUT`.
    pub async fn stop(self) {
        let deadline = self.settings.shutdown_timeout;
        tracing::info!(timeout = %humantime::format_duration(deadline), "shutting down: flushing player state");
        self.probe.stopping();
        if let Some(b) = &self.backups {
            b.abort();
        }
        crate::lifecycle::shutdown::graceful(&self.services, self.bot, self.autosave, deadline)
            .await;
        for task in self.tasks {
            task.abort();
        }
    }
}

fn player_config(settings: &Settings) -> PlayerConfig {
    PlayerConfig {
        queue_max: settings.queue_max_length,
        history_max: settings.history_max_length,
        search_prefix: settings.search_prefix.clone(),
        silence_timeout: settings.voice_silence_timeout,
        ..PlayerConfig::default()
    }
}

fn discord_error(e: discord::StartError) -> AppError {
    AppError::Discord(e.to_string())
}

fn log_start(settings: &Settings) {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        storage = settings.storage.as_str(),
        lavalink_nodes = settings.lavalink_nodes.len(),
        autosave_interval = %humantime::format_duration(settings.autosave_interval),
        music_auto_resume = settings.music_auto_resume,
        shards = %settings.shards,
        "starting Encore"
    );
    if settings.shards.is_partial() && settings.storage != StorageKind::Mongodb {
        tracing::warn!(
            storage = settings.storage.as_str(),
            "SHARD_IDS runs part of the bot here: the other processes must share this store, which MongoDB does across hosts and SQLite does not"
        );
    }
}

/// Runs the bot until SIGTERM/SIGINT (or until Discord refuses it), then stops it gracefully. A
/// signal while start-up still waits for Discord ends it at once: nothing ran yet.
pub async fn run(settings: Settings) -> Result<(), AppError> {
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let app = tokio::select! {
        app = Application::build(settings) => app?,
        () = &mut shutdown => {
            tracing::info!("stopped before start-up finished");
            return Ok(());
        }
    };
    app.run_until_stopped(shutdown).await
}

/// SIGTERM (what Docker, Compose and Render send) or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops Encore");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
