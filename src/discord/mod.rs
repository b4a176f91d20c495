//! The Discord front end: serenity + poise slash commands, songbird as the voice gateway only.
//!
//! Commands are thin (parse → call the [`PlayerService`] → render with [`texts`]). Voice: the
//! bot joins with songbird's `join_gateway` and hands Lavalink the four voice values plus the
//! channel id; later voice server/state changes are forwarded to the player service.

mod announcer;
mod buttons;
mod commands;
pub mod gate;
mod idle;
pub mod limits;
pub mod pacer;
pub mod resume;
pub mod texts;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use poise::serenity_prelude as serenity;
use secrecy::ExposeSecret;
use serenity::{ClientBuilder, FullEvent, GatewayIntents, HttpBuilder};
use songbird::serenity::SerenityInit;
use songbird::Songbird;

use crate::audio::lavalink::{LavalinkBackend, LavalinkOptions};
use crate::autosave::Autosave;
use crate::domain::{now_ms, GuildConfig, GuildId};
use crate::lease::{Exit, LeaseHandle, Role};
use crate::player::{PlayerConfig, PlayerError, PlayerService};
use crate::settings::{Settings, ShardPlan};
use crate::store::StateStore;

pub use announcer::ChannelAnnouncer;

/// What a command can fail with; the text is what the user sees (ephemerally).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Player(#[from] PlayerError),
    #[error("{0}")]
    Refused(String),
    /// Details go to the log with the guild id, not to the user.
    #[error("{}", texts::INTERNAL)]
    Internal(String),
}

pub type Error = CommandError;
pub type Context<'a> = poise::Context<'a, Data, Error>;

/// Shared state of the bot, available to every command.
pub struct Data {
    pub service: PlayerService,
    pub backend: LavalinkBackend,
    pub songbird: Arc<Songbird>,
    pub store: Arc<dyn StateStore>,
    pub autosave: Autosave,
    pub bot_id: u64,
    pub started: Instant,
    pub limiter: limits::RateLimiter,
    /// Each guild's settings, loaded from the store on first use.
    pub configs: Configs,
    /// Paces the bot's own voice joins under Discord's gateway limit.
    pub pacer: pacer::Pacer,
    pub restorer: resume::Restorer,
    pub gate: gate::Gate,
    /// Shards that had a READY: a later one means a new gateway session, so new voice sessions.
    pub readies: std::sync::Mutex<std::collections::HashSet<u32>>,
}

/// The per-guild settings cache, shared with the announcer and the idle watch.
#[derive(Clone, Default)]
pub struct Configs(Arc<RwLock<HashMap<GuildId, GuildConfig>>>);

impl Configs {
    pub fn cached(&self, guild: GuildId) -> Option<GuildConfig> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&guild)
            .cloned()
    }

    pub fn put(&self, config: GuildConfig) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(config.guild_id, config);
    }

    /// The guild's settings: cached, else loaded from the store, else the defaults.
    pub async fn get(&self, store: &dyn StateStore, guild: GuildId) -> GuildConfig {
        if let Some(c) = self.cached(guild) {
            return c;
        }
        let config = match store.load_guild_config(guild).await {
            Ok(Some(c)) => c,
            Ok(None) => GuildConfig::new(guild),
            Err(e) => {
                tracing::warn!(guild, error = %e, "could not load the server's settings; using the defaults");
                return GuildConfig::new(guild);
            }
        };
        self.put(config.clone());
        config
    }
}

impl Data {
    pub async fn config(&self, guild: GuildId) -> GuildConfig {
        self.configs.get(self.store.as_ref(), guild).await
    }
}

/// What the health listener reads once Discord's first READY has set the bot up.
pub struct Running {
    pub service: PlayerService,
    pub backend: LavalinkBackend,
    pub cache: Arc<serenity::Cache>,
}

/// The running bot.
pub struct Bot {
    pub shard_manager: Arc<serenity::ShardManager>,
    pub gate: gate::Gate,
    /// Set once the bot is set up (after the first READY).
    pub running: Arc<std::sync::OnceLock<Running>>,
    /// Why the gateway client stopped, once it has (every shard is then gone for good).
    pub stopped: Arc<std::sync::OnceLock<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Bot {
    /// Stops answering interactions (those created from now on are left to the next owner).
    pub fn stop_answering(&self) {
        self.gate.retire(now_ms());
    }

    /// Closes the gateway connections.
    pub async fn shutdown(self) {
        self.shard_manager.shutdown_all().await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("DISCORD_TOKEN is not set")]
    NoToken,
    #[error("cannot start the Discord client: {0}")]
    Client(String),
}

/// Connects to Discord and serves the slash commands until shut down.
pub async fn start(
    settings: &Settings,
    store: Arc<dyn StateStore>,
    autosave: Autosave,
    lease: LeaseHandle,
) -> Result<Bot, StartError> {
    let token = settings
        .discord_token
        .as_ref()
        .ok_or(StartError::NoToken)?
        .expose_secret()
        .to_string();
    let mut http = HttpBuilder::new(&token);
    if let Some(base) = &settings.discord_api_base {
        http = http.proxy(base.clone()).ratelimiter_disabled(true);
    }
    let http = http.build();
    let songbird = Songbird::serenity_from_config(
        songbird::Config::default().gateway_timeout(Some(std::time::Duration::from_secs(5))),
    );
    let gate = gate::Gate::default();
    gate.spawn_standby_answers(lease.clone());
    let gate_for_setup = gate.clone();
    let pacer = pacer::Pacer::default();
    let (auto_resume, max_age) = (settings.music_auto_resume, settings.resume_max_age);
    let nodes = settings.lavalink_nodes.clone();
    let shards = settings.shards;
    let resume_timeout = settings.lavalink_resume_timeout;
    let player_config = PlayerConfig {
        queue_max: settings.queue_max_length,
        history_max: settings.history_max_length,
        search_prefix: settings.search_prefix.clone(),
    };
    let songbird_for_setup = songbird.clone();
    let running = Arc::new(std::sync::OnceLock::new());
    let running_for_setup = running.clone();
    let idle_timeout = settings.idle_timeout;
    let (rate_max, rate_window) = (settings.rate_limit_commands, settings.rate_limit_window);
    let framework = poise::Framework::<Data, Error>::builder()
        .options(poise::FrameworkOptions {
            commands: commands::all(),
            on_error: |e| Box::pin(on_error(e)),
            event_handler: |ctx, event| Box::pin(on_event(ctx, event)),
            command_check: Some(|ctx| Box::pin(rate_limit(ctx))),
            initialize_owners: false,
            ..Default::default()
        })
        .setup(move |ctx, ready, framework| {
            Box::pin(async move {
                // One process registers the commands: the one that runs shard 0.
                if shards.runs(0) {
                    poise::builtins::register_globally(ctx, &framework.options().commands)
                        .await
                        .map_err(|e| CommandError::Internal(e.to_string()))?;
                }
                let bot_id = ready.user.id.get();
                // Connected once this instance owns the lease (it may resume the last owner's
                // Lavalink sessions).
                let backend =
                    LavalinkBackend::new(&nodes, LavalinkOptions::new(bot_id, resume_timeout))
                        .map_err(|e| CommandError::Internal(e.to_string()))?;
                let configs = Configs::default();
                let service = PlayerService::new(
                    Arc::new(backend.clone()),
                    Some(autosave.clone()),
                    Arc::new(ChannelAnnouncer::new(ctx.http.clone(), configs.clone())),
                    player_config,
                );
                service.spawn_event_loop();
                idle::spawn(idle::IdleWatch {
                    cache: ctx.cache.clone(),
                    http: ctx.http.clone(),
                    service: service.clone(),
                    songbird: songbird_for_setup.clone(),
                    configs: configs.clone(),
                    store: store.clone(),
                    bot_id,
                    timeout: idle_timeout,
                });
                tracing::info!(bot = bot_id, user = %ready.user.name, "connected to Discord");
                let restorer = resume::Restorer {
                    ctx: ctx.clone(),
                    service: service.clone(),
                    backend: backend.clone(),
                    songbird: songbird_for_setup.clone(),
                    pacer: pacer.clone(),
                    store: store.clone(),
                    autosave: autosave.clone(),
                    configs: configs.clone(),
                    bot_id,
                    auto_resume,
                    max_age,
                    shards,
                    last: Default::default(),
                };
                tokio::spawn(drive(restorer.clone(), gate_for_setup.clone(), lease));
                let _ = running_for_setup.set(Running {
                    service: service.clone(),
                    backend: backend.clone(),
                    cache: ctx.cache.clone(),
                });
                Ok(Data {
                    service,
                    backend,
                    songbird: songbird_for_setup,
                    store,
                    autosave,
                    bot_id,
                    started: Instant::now(),
                    limiter: limits::RateLimiter::new(rate_max, rate_window),
                    configs,
                    pacer,
                    restorer,
                    gate: gate_for_setup,
                    readies: Default::default(),
                })
            })
        })
        .build();
    let intents = GatewayIntents::GUILDS | GatewayIntents::GUILD_VOICE_STATES;
    let mut client = ClientBuilder::new_with_http(http, intents)
        .framework(gate::GatedFramework::new(framework, gate.clone()))
        .register_songbird_with(songbird)
        .await
        .map_err(|e| StartError::Client(e.to_string()))?;
    let shard_manager = client.shard_manager.clone();
    let stopped = Arc::new(std::sync::OnceLock::new());
    let stopped_for_task = stopped.clone();
    let task = tokio::spawn(async move {
        let started = match shards {
            ShardPlan::Auto => client.start_autosharded().await,
            // serenity 0.12 runs `range.start` through `range.end` inclusive.
            ShardPlan::Range { first, last, count } => {
                client.start_shard_range(first..last, count).await
            }
        };
        let why = match started {
            Ok(()) => "closed".to_string(),
            Err(e) => {
                tracing::error!(error = %e, "the Discord client stopped");
                e.to_string()
            }
        };
        let _ = stopped_for_task.set(why);
    });
    Ok(Bot {
        shard_manager,
        gate,
        running,
        stopped,
        task,
    })
}

/// Follows this instance's part in the lease: on taking it, answers what was held back, connects
/// Lavalink (resuming the last owner's sessions) and restores the saved players; when a newer
/// instance asks for it, stops answering, flushes the exact positions and hands it over.
async fn drive(restorer: resume::Restorer, gate: gate::Gate, lease: LeaseHandle) {
    let mut roles = lease.watch();
    let mut owned = false;
    loop {
        let role = roles.borrow_and_update().clone();
        match role {
            Role::Standby => {}
            Role::Owner {
                exit,
                lavalink_sessions,
                ..
            } if !owned => {
                owned = true;
                let cut = match exit {
                    Some(Exit::Handover { cut_ms, .. }) => Some(cut_ms),
                    _ => None,
                };
                gate.become_owner(cut).await;
                restorer.backend.connect(&lavalink_sessions);
                let (backend, l) = (restorer.backend.clone(), lease.clone());
                tokio::spawn(async move {
                    // The sessions go into the lease, for the next owner to resume.
                    loop {
                        for (node, session) in backend.session_ids() {
                            l.set_lavalink_session(&node, &session);
                        }
                        if matches!(l.role(), Role::Retired) {
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                });
                let r = restorer.clone();
                tokio::spawn(async move {
                    r.run(exit).await;
                });
            }
            Role::Owner { .. } => {}
            Role::HandOverTo(to) => {
                let cut = now_ms();
                gate.retire(cut);
                // Let interactions created before the cut finish, then save exact positions.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                match restorer.autosave.flush_all().await {
                    Ok(w) => tracing::info!(written = w.ops, "positions flushed for the hand-over"),
                    Err(e) => tracing::error!(error = %e, "could not flush before the hand-over"),
                }
                restorer.service.forget_all().await;
                let exit = Exit::Handover {
                    at_ms: now_ms(),
                    cut_ms: cut,
                };
                match lease.release(exit, Some(to.clone())).await {
                    Ok(()) => tracing::info!(to = %to.id, "handed over to the newer instance"),
                    Err(e) => tracing::warn!(error = %e, "could not hand the lease over"),
                }
                return;
            }
            Role::Retired => {
                // Taken from us (we could not renew in time): stop acting at once.
                gate.retire(now_ms());
                restorer.service.forget_all().await;
                return;
            }
        }
        if roles.changed().await.is_err() {
            return;
        }
    }
}

async fn rate_limit(ctx: Context<'_>) -> Result<bool, Error> {
    match ctx
        .data()
        .limiter
        .check(ctx.author().id.get(), Instant::now())
    {
        Ok(()) => Ok(true),
        Err(wait) => Err(CommandError::Refused(texts::slow_down(wait))),
    }
}

async fn on_error(error: poise::FrameworkError<'_, Data, Error>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => {
            if let CommandError::Internal(detail) = &error {
                tracing::error!(
                    guild = ctx.guild_id().map(|g| g.get()),
                    command = %ctx.command().name,
                    detail,
                    "command failed"
                );
            }
            commands::reply_ephemeral(ctx, error.to_string()).await;
        }
        poise::FrameworkError::CommandCheckFailed { error, ctx, .. } => {
            let text = error
                .map(|e| e.to_string())
                .unwrap_or_else(|| texts::NOT_ALLOWED.to_string());
            commands::reply_ephemeral(ctx, text).await;
        }
        poise::FrameworkError::MissingUserPermissions { ctx, .. } => {
            commands::reply_ephemeral(ctx, texts::NEEDS_MANAGE_SERVER.to_string()).await;
        }
        poise::FrameworkError::GuildOnly { ctx, .. } => {
            commands::reply_ephemeral(ctx, texts::NOT_IN_GUILD.to_string()).await;
        }
        poise::FrameworkError::ArgumentParse { ctx, input, .. } => {
            let text = match input {
                Some(i) => format!("I could not read `{}`.", texts::escape(&i)),
                None => "Some options were missing or invalid.".to_string(),
            };
            commands::reply_ephemeral(ctx, text).await;
        }
        other => {
            // Whatever else went wrong, the person who asked still gets an answer.
            if let Some(ctx) = other.ctx() {
                tracing::error!(
                    guild = ctx.guild_id().map(|g| g.get()),
                    command = %ctx.command().name,
                    error = %other,
                    "command could not run"
                );
                commands::reply_ephemeral(ctx, texts::INTERNAL.to_string()).await;
            } else if let Err(e) = poise::builtins::on_error(other).await {
                tracing::warn!(error = %e, "error while handling an error");
            }
        }
    }
}

/// Voice changes of the bot itself, forwarded to the player service.
async fn on_event(
    ctx: poise::FrameworkContext<'_, Data, Error>,
    event: &FullEvent,
) -> Result<(), Error> {
    let data = ctx.user_data;
    match event {
        FullEvent::Ready { .. } => {
            let shard = ctx.serenity_context.shard_id.0;
            let again = !data
                .readies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(shard);
            if again && data.gate.is_owner() {
                // A fresh gateway session ends the voice sessions of the old one: rejoin.
                let r = data.restorer.clone();
                tokio::spawn(async move { r.rejoin_all(shard).await });
            }
        }
        FullEvent::VoiceStateUpdate { new, .. } if new.user_id.get() == data.bot_id => {
            let Some(guild) = new.guild_id.map(|g| g.get()) else {
                return Ok(());
            };
            match new.channel_id {
                // The end of a voice session we no longer use (or one of a previous process,
                // before its guild is restored) is not a disconnect of ours.
                None if data.service.voice_session(guild).await.as_deref()
                    != Some(new.session_id.as_str()) =>
                {
                    tracing::debug!(guild, "an old voice session ended");
                }
                None => {
                    // Disconnected by a moderator (or by /leave): stop and forget.
                    tracing::info!(guild, "the bot left its voice channel");
                    let _ = data.songbird.remove(serenity::GuildId::new(guild)).await;
                    if let Err(e) = data.service.leave(guild).await {
                        tracing::warn!(guild, error = %e, "could not remove the player");
                    }
                }
                Some(channel) => {
                    data.service
                        .update_voice(guild, |v| {
                            v.channel_id = channel.get();
                            v.session_id = new.session_id.clone();
                        })
                        .await;
                }
            }
        }
        FullEvent::InteractionCreate {
            interaction: serenity::Interaction::Component(click),
        } => {
            buttons::handle(ctx.serenity_context, data, click).await;
        }
        FullEvent::VoiceServerUpdate { event } => {
            let (Some(guild), Some(endpoint)) = (event.guild_id, event.endpoint.clone()) else {
                return Ok(());
            };
            data.service
                .update_voice(guild.get(), |v| {
                    v.endpoint = endpoint;
                    v.token = event.token.clone();
                })
                .await;
        }
        _ => {}
    }
    Ok(())
}

/// Joins `channel` through songbird and hands the voice state to the player service.
pub(crate) async fn join(
    ctx: &serenity::Context,
    data: &Data,
    guild: u64,
    channel: u64,
    text_channel: u64,
) -> Result<(), CommandError> {
    let voice = resume::join_paced(&data.songbird, &data.pacer, ctx, guild, channel, 1)
        .await
        .map_err(CommandError::Internal)?;
    let fresh = data.service.view(guild).await.is_none();
    data.service
        .connect(guild, voice, Some(text_channel))
        .await?;
    if fresh {
        let volume = data.config(guild).await.default_volume;
        data.service.set_volume(guild, volume).await?;
    }
    Ok(())
}
