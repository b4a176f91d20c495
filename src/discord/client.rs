//! Building and starting the serenity client: REST first (the bot user), then the client with
//! poise behind the lease gate, whose `setup` only registers the commands.

use std::sync::Arc;
use std::time::Duration;

use poise::serenity_prelude as serenity;
use secrecy::ExposeSecret;
use serenity::{ClientBuilder, GatewayIntents, Http, HttpBuilder};
use songbird::serenity::SerenityInit;
use songbird::Songbird;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{
    commands, events, gate, limits, pacer, CommandError, Data, DiscordParts, Error, ShardReady,
};
use crate::domain::now_ms;
use crate::services::Services;
use crate::settings::{redact_userinfo, Settings, ShardPlan};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("DISCORD_TOKEN is not set")]
    NoToken,
    #[error("cannot start the Discord client: {0}")]
    Client(String),
    #[error(
        "Discord refused DISCORD_TOKEN (GET /users/@me answered HTTP {0}): check the bot token"
    )]
    TokenRefused(u16),
    #[error("cannot reach Discord's API at {base} (GET /users/@me): {reason}; check DISCORD_API_BASE and the network")]
    Unreachable { base: String, reason: String },
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

/// The bot's own user (`GET /users/@me`), which Discord gives before any shard connects.
/// Errors: [`StartError::TokenRefused`] on 401/403, else [`StartError::Unreachable`] naming the
/// API base (`DISCORD_API_BASE`, default `https://discord.com`).
pub async fn current_user(
    http: &Http,
    settings: &Settings,
) -> Result<serenity::CurrentUser, StartError> {
    use serenity::{Error, HttpError};
    http.get_current_user().await.map_err(|e| {
        let reason = match &e {
            Error::Http(HttpError::UnsuccessfulRequest(r)) => {
                let status = r.status_code.as_u16();
                if matches!(status, 401 | 403) {
                    return StartError::TokenRefused(status);
                }
                format!("HTTP {status}")
            }
            // Why the request failed, from its causes: not its own text, which repeats the URL.
            Error::Http(HttpError::Request(r)) => {
                let mut causes = Vec::new();
                let mut source = std::error::Error::source(r);
                while let Some(s) = source {
                    causes.push(s.to_string());
                    source = s.source();
                }
                if causes.is_empty() {
                    "the request failed".to_string()
                } else {
                    causes.join(": ")
                }
            }
            other => other.to_string(),
        };
        let base = settings.discord_api_base.as_deref();
        StartError::Unreachable {
            base: redact_userinfo(base.unwrap_or("https://discord.com")),
            reason: redact_userinfo(&reason),
        }
    })
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
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Builds the client around `services`: songbird, the gateway pacer, the lease gate (with its
    /// stand-by answers), poise with every command.
    pub async fn build(settings: &Settings, services: Services) -> Result<Client, StartError> {
        let http = rest_client(settings)?;
        let songbird = Songbird::serenity_from_config(
            songbird::Config::default().gateway_timeout(Some(Duration::from_secs(5))),
        );
        let gate = gate::Gate::default();
        gate.spawn_standby_answers(services.lease.clone());
        let pacer = pacer::Pacer::default();
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
            client_stopped: Arc::default(),
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

    /// Connects this process's shards (`SHARD_COUNT`/`SHARD_IDS`).
    pub fn start(self) -> Bot {
        let Client {
            mut client,
            parts,
            shards,
            ..
        } = self;
        let stopped = parts.client_stopped.clone();
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
            let _ = stopped.set(why);
        });
        Bot { parts, task }
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

    /// Closes the gateway connections.
    pub async fn shutdown(self) {
        self.parts.shard_manager.shutdown_all().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
