//! Building and starting the serenity client: REST first (the bot user), then the client with
//! poise behind the lease gate, whose `setup` only registers the commands; the client runs under
//! a supervisor that retries while Discord is unreachable and stops when Discord refuses the bot
//! (see [`super::connection`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;
use secrecy::ExposeSecret;
use serenity::{ClientBuilder, GatewayIntents, Http, HttpBuilder};
use songbird::serenity::SerenityInit;
use songbird::Songbird;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;

use super::connection::{self, Failure, Fatal, Link};
use super::{
    commands, events, gate, kept, limits, lyrics, pacer, CommandError, Data, DiscordParts, Error,
    ShardReady,
};
use crate::domain::now_ms;
use crate::services::Services;
use crate::settings::{Settings, ShardPlan};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("DISCORD_TOKEN is not set")]
    NoToken,
    #[error("cannot start the Discord client: {0}")]
    Client(String),
    /// Discord refuses this bot (the token, say): no retry mends it.
    #[error(transparent)]
    Refused(#[from] Fatal),
}

/// A REST client for `DISCORD_TOKEN` (and `DISCORD_API_BASE`, with serenity's rate limiter off
/// as for REST proxies).
pub fn rest_client(settings: &Settings) -> Result<Http, StartError> {
    let token = settings
        .discord_token
        .as_ref()
        .ok_or(StartError::NoToken)?
        .expose_secret();
    let mut http = HttpBuilder::new(token);
    if let Some(base) = &settings.discord_api_base {
        http = http.proxy(base.clone()).ratelimiter_disabled(true);
    }
    Ok(http.build())
}

/// The bot's own user (`GET /users/@me`), which Discord gives before any shard connects. While
/// Discord cannot be reached it asks again with backoff (`link` logs the outage once); it fails
/// only with [`StartError::Refused`] (401/403: the token is refused).
pub async fn current_user(http: &Http, link: &Link) -> Result<serenity::CurrentUser, StartError> {
    let mut failures = 0;
    loop {
        match connection::call("GET /users/@me", http.get_current_user()).await {
            Ok(user) => {
                link.up();
                return Ok(user);
            }
            Err(Failure::Fatal(f)) => return Err(f.into()),
            Err(Failure::Transient(reason)) => {
                link.down(&reason);
                tokio::time::sleep(connection::retry_delay(failures)).await;
                failures = failures.saturating_add(1);
            }
        }
    }
}

/// The client, built but not connected.
pub struct Client {
    client: serenity::Client,
    parts: DiscordParts,
    readies: Option<UnboundedReceiver<ShardReady>>,
    shards: ShardPlan,
}

/// The running bot.
pub struct Bot {
    parts: DiscordParts,
    /// The supervisor (see [`Client::start`]).
    task: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
    /// Set once when Discord refuses this bot for good.
    fatal: watch::Receiver<Option<Fatal>>,
}

impl Client {
    /// Builds the client around `services`: songbird, the gateway pacer, the lease gate (with its
    /// stand-by answers), poise with every command.
    pub async fn build(
        settings: &Settings,
        services: Services,
        link: Link,
    ) -> Result<Client, StartError> {
        let http = rest_client(settings)?;
        let songbird = Songbird::serenity_from_config(
            songbird::Config::default().gateway_timeout(Some(Duration::from_secs(5))),
        );
        let gate = gate::Gate::default();
        gate.spawn_held_answers(services.lease.clone());
        let pacer = pacer::Pacer::default();
        let own_leaves = super::voice::OwnLeaves::default();
        let (ready_tx, readies) = tokio::sync::mpsc::unbounded_channel();
        let shards = settings.shards;
        let data = Data {
            services,
            songbird: songbird.clone(),
            pacer: pacer.clone(),
            gate: gate.clone(),
            limiter: limits::RateLimiter::new(
                settings.rate_limit_commands,
                settings.rate_limit_window,
            ),
            own_leaves: own_leaves.clone(),
            lyrics_pages: kept::Kept::new(lyrics::PAGES_KEPT_FOR, lyrics::PAGES_KEPT_AT_MOST),
            searches: kept::Kept::new(
                settings.search_menu_timeout,
                commands::SEARCH_MENUS_KEPT_AT_MOST,
            ),
            votes: Default::default(),
            joins: Default::default(),
            readies: Default::default(),
            ready_tx,
        };
        let framework = poise::Framework::<Data, Error>::builder()
            .options(poise::FrameworkOptions {
                commands: commands::all(),
                on_error: |e| Box::pin(events::on_error(e)),
                event_handler: |ctx, event| Box::pin(events::on_event(ctx, event)),
                command_check: Some(|ctx| Box::pin(events::rate_limit(ctx))),
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
                    tracing::info!(bot = ready.user.id.get(), user = %ready.user.name, "connected to Discord");
                    Ok(data)
                })
            })
            .build();
        let intents = GatewayIntents::GUILDS | GatewayIntents::GUILD_VOICE_STATES;
        let client = ClientBuilder::new_with_http(http, intents)
            .framework(gate::GatedFramework::new(framework, gate.clone()))
            .register_songbird_with(songbird.clone())
            .await
            .map_err(|e| StartError::Client(e.to_string()))?;
        let parts = DiscordParts {
            cache: client.cache.clone(),
            http: client.http.clone(),
            shard_manager: client.shard_manager.clone(),
            songbird,
            pacer,
            gate,
            own_leaves,
            client_stopped: Arc::default(),
            link,
        };
        Ok(Client {
            client,
            parts,
            readies: Some(readies),
            shards,
        })
    }

    pub fn parts(&self) -> &DiscordParts {
        &self.parts
    }

    /// The READYs of this process's shards, in order (taken once, by the lifecycle).
    pub fn take_readies(&mut self) -> Option<UnboundedReceiver<ShardReady>> {
        self.readies.take()
    }

    /// Connects this process's shards (`SHARD_COUNT`/`SHARD_IDS`) under a supervisor task, which
    /// retries with backoff while Discord cannot be reached and ends only when Discord refuses
    /// the bot ([`Bot::fatal`]) or at [`Bot::shutdown`].
    ///
    /// serenity 0.12's `Client::start_shard_range` borrows the client and returns only (a) an
    /// HTTP error before any shard is started (songbird's `GET /users/@me`), after which the same
    /// client starts again; (b) a fatal close of the gateway (4004, 4013, 4014); (c) `Ok` after
    /// `shutdown_all`. A connection lost later never returns: serenity's shard queuer reconnects
    /// by itself, and the supervisor only watches the shards' stages to log the outage once. So
    /// one client (one cache, shard manager and songbird, shared through [`DiscordParts`]) lives
    /// as long as the process.
    pub fn start(self) -> Bot {
        let Client {
            client,
            parts,
            shards,
            ..
        } = self;
        let (stop, mut stopped) = watch::channel(false);
        let (fatal_tx, fatal) = watch::channel(None);
        let supervised = parts.clone();
        let task = tokio::spawn(async move {
            let refused = tokio::select! {
                biased;
                _ = stopped.wait_for(|s| *s) => None,
                f = supervise(client, &supervised, shards) => Some(f),
                () = watch_shards(&supervised) => None,
            };
            if let Some(f) = refused {
                tracing::error!(reason = %f, "the Discord client stopped for good");
                let _ = supervised.client_stopped.set(f.to_string());
                let _ = fatal_tx.send(Some(f));
            }
        });
        Bot {
            parts,
            task,
            stop,
            fatal,
        }
    }
}

/// Starts the client again and again while Discord cannot be reached; returns why it stopped
/// for good.
async fn supervise(mut client: serenity::Client, parts: &DiscordParts, shards: ShardPlan) -> Fatal {
    let mut failures = 0;
    loop {
        let reason = match start_once(&mut client, &parts.link, shards).await {
            Ok(()) => return Fatal::Stopped("every gateway connection was closed".into()),
            Err(Failure::Fatal(f)) => return f,
            Err(Failure::Transient(reason)) => reason,
        };
        parts.link.down(&reason);
        tokio::time::sleep(connection::retry_delay(failures)).await;
        failures = failures.saturating_add(1);
    }
}

/// One start: the gateway's URL and shard count (`GET /gateway/bot`), then the shards, until
/// they stop.
async fn start_once(
    client: &mut serenity::Client,
    link: &Link,
    shards: ShardPlan,
) -> Result<(), Failure> {
    let gateway = connection::call("GET /gateway/bot", client.http.get_bot_gateway()).await?;
    link.up();
    // serenity asked `GET /gateway` once when it was built, and took Discord's public gateway
    // if that failed: the URL Discord gives now is the one to use.
    *client.ws_url.lock().await = gateway.url;
    let (first, last, count) = match shards {
        ShardPlan::Auto => {
            let count = gateway.shards.max(1);
            (0, count - 1, count)
        }
        ShardPlan::Range { first, last, count } => (first, last, count),
    };
    // serenity 0.12 runs `range.start` through `range.end` inclusive.
    client
        .start_shard_range(first..last, count)
        .await
        .map_err(|e| connection::failure(&e, "GET /users/@me"))
}

/// Watches the shards' stages once a second: when a shard serenity started (or, at start, any
/// shard) stays disconnected, asks Discord's REST API why and tells `link`, which logs once; when
/// every shard is connected again, tells `link` so. Never returns.
async fn watch_shards(parts: &DiscordParts) {
    /// Longer than a resume; a fresh session (op 9) may take longer, so the REST API decides.
    const GRACE: Duration = Duration::from_secs(3);
    /// A gateway that takes no connection while the REST API answers.
    const GATEWAY_GRACE: Duration = Duration::from_secs(30);
    const PROBE_EVERY: Duration = Duration::from_secs(5);
    let started = Instant::now();
    // Shards serenity has started (a runner exists once its websocket is open), and when one of
    // them was first seen not connected.
    let mut seen: HashSet<u32> = HashSet::new();
    let mut lost_since: Option<Instant> = None;
    let mut last_probe: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let connected: HashSet<u32> = {
            let runners = parts.shard_manager.runners.lock().await;
            seen.extend(runners.keys().map(|id| id.0));
            runners
                .iter()
                .filter(|(_, r)| r.stage == serenity::ConnectionStage::Connected)
                .map(|(id, _)| id.0)
                .collect()
        };
        let lost = seen.iter().copied().find(|id| !connected.contains(id));
        let since = match lost {
            Some(_) => *lost_since.get_or_insert_with(Instant::now),
            None if seen.is_empty() && started.elapsed() >= GATEWAY_GRACE => started,
            None => {
                lost_since = None;
                if !seen.is_empty() {
                    parts.link.up();
                }
                continue;
            }
        };
        if parts.link.down_reason().is_some()
            || since.elapsed() < GRACE
            || last_probe.is_some_and(|p| p.elapsed() < PROBE_EVERY)
        {
            continue;
        }
        last_probe = Some(Instant::now());
        match connection::call("GET /gateway/bot", parts.http.get_bot_gateway()).await {
            Err(Failure::Transient(reason)) => parts.link.down(&reason),
            Ok(_) if since.elapsed() >= GATEWAY_GRACE => {
                let shard = lost.unwrap_or_default();
                parts.link.down(&format!(
                    "the gateway has not taken the connection of shard {shard} for {} s",
                    since.elapsed().as_secs()
                ));
            }
            // A new session on its way; or the token refused, which the gateway's 4004 reports.
            _ => {}
        }
    }
}

impl Bot {
    pub fn parts(&self) -> &DiscordParts {
        &self.parts
    }

    /// Stops answering interactions (those created from now on are left to the next owner).
    pub fn stop_answering(&self) {
        self.parts.gate.retire(now_ms());
    }

    /// Resolves when Discord refuses this bot for good (the token, the intents, the shards): the
    /// process should stop. Pending forever otherwise.
    pub async fn fatal(&self) -> Fatal {
        let mut fatal = self.fatal.clone();
        let returned = async {
            if let Ok(f) = fatal.wait_for(Option::is_some).await {
                if let Some(f) = f.clone() {
                    return f;
                }
            }
            std::future::pending().await
        };
        tokio::select! {
            f = returned => f,
            // 4010/4011, which serenity only logs (see `shard_refusals`).
            f = super::shard_refusals::refused() => {
                tracing::error!(reason = %f, "the Discord client stopped for good");
                let _ = self.parts.client_stopped.set(f.to_string());
                f
            }
        }
    }

    /// Closes the gateway connections (none are left when Discord refused the bot).
    pub async fn shutdown(self) {
        let refused = self.fatal.borrow().is_some();
        let _ = self.stop.send(true);
        if !refused {
            self.parts.shard_manager.shutdown_all().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
