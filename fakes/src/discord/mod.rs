//! A fake Discord (API v10 and gateway v10, JSON encoding) on loopback.
//!
//! The bot's real serenity/poise/songbird stack runs against it through ordinary
//! settings: serenity's HTTP client pointed at [`FakeDiscord::base_url`]
//! (`HttpBuilder::new(token).proxy(base).ratelimiter_disabled(true)`), and the gateway
//! URL that `GET /api/v10/gateway/bot` returns. Tests set up guilds and inject
//! interactions through the methods of [`FakeDiscord`]; other processes use the same
//! hooks over HTTP under `/control/` (see `docs/testing-discord.md`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), std::io::Error> {
//! use encore_fakes::discord::{FakeDiscord, FakeDiscordConfig};
//! let fake = FakeDiscord::start(FakeDiscordConfig::default()).await?;
//! println!("REST at {}/api/v10, gateway at {}", fake.base_url(), fake.gateway_url());
//! # Ok(()) }
//! ```

mod control;
mod gateway;
mod server;
mod state;
pub mod types;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use gateway::{SEND_LIMIT, SEND_WINDOW};
pub use types::{
    ChannelKind, ChannelSpec, ControlError, GatewaySent, GuildSpec, Injected, InteractionRecord,
    MemberSpec, Overwrite, RecordedRequest, RoleSpec, SentBy, SessionInfo, VoiceServerMode,
    VoiceServerSent, MAX_VOICE_USER_LIMIT,
};

use server::Shared;
use state::{Config, Outgoing, State};

/// Permission bits, for specs and assertions.
pub mod permissions {
    pub use super::state::{
        ADMINISTRATOR, ALL_PERMISSIONS, CONNECT, DEFAULT_EVERYONE, EMBED_LINKS, MOVE_MEMBERS,
        READ_MESSAGE_HISTORY, SEND_MESSAGES, SPEAK, USE_APPLICATION_COMMANDS, VIEW_CHANNEL,
    };
}

/// Message flags.
pub use state::{EPHEMERAL, LOADING, MAX_GUILDS_PER_SHARD};

/// How the fake is started.
#[derive(Debug, Clone)]
pub struct FakeDiscordConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The bot token it accepts (with or without the `Bot ` prefix).
    pub token: String,
    pub bot_user_id: u64,
    pub application_id: u64,
    pub bot_name: String,
    /// What `GET /gateway/bot` recommends.
    pub shard_count: u64,
    /// Sent in HELLO (Discord: 41250 ms).
    pub heartbeat_interval: Duration,
}

impl Default for FakeDiscordConfig {
    fn default() -> Self {
        FakeDiscordConfig {
            port: 0,
            token: "fake.bot.token".to_string(),
            bot_user_id: 1_100_000_000_000_000_001,
            application_id: 1_100_000_000_000_000_001,
            bot_name: "Encore".to_string(),
            shard_count: 1,
            heartbeat_interval: Duration::from_millis(41_250),
        }
    }
}

/// A running fake Discord; stops when dropped or on [`FakeDiscord::shutdown`].
pub struct FakeDiscord {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeDiscord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDiscord")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeDiscord {
    /// Binds 127.0.0.1:`config.port` and serves until dropped.
    pub async fn start(config: FakeDiscordConfig) -> Result<FakeDiscord, std::io::Error> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let heartbeat_interval_ms = config.heartbeat_interval.as_millis().max(1) as u64;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(Config {
                token: config.token,
                bot_user_id: config.bot_user_id,
                application_id: config.application_id,
                bot_name: config.bot_name,
                shard_count: config.shard_count.max(1),
                heartbeat_interval_ms,
                gateway_url: format!("ws://{addr}/gateway"),
            })),
            heartbeat_interval_ms,
            outage_until: Default::default(),
        });
        let (stop, mut stopped) = watch::channel(false);
        let app = server::router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(FakeDiscord {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` — what serenity's `HttpBuilder::proxy` takes; the REST
    /// API is under `{base_url}/api/v10`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/gateway`
    pub fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.addr)
    }

    pub fn token(&self) -> String {
        self.shared.lock().cfg.token.clone()
    }

    pub fn bot_user_id(&self) -> u64 {
        self.shared.lock().cfg.bot_user_id
    }

    pub fn application_id(&self) -> u64 {
        self.shared.lock().cfg.application_id
    }

    /// Stops serving: drops every websocket and closes the listener.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    fn stop_now(&self) {
        self.shared.lock().broadcast(|| Outgoing::Drop);
        let _ = self.stop.send(true);
    }

    // ----- state setup -------------------------------------------------------------

    /// Adds a guild the bot is in; a connected shard gets GUILD_CREATE, a later
    /// IDENTIFY gets it after READY.
    pub fn add_guild(&self, spec: GuildSpec) -> Result<(), ControlError> {
        server::add_guild(&self.shared, spec)
    }

    /// A member joins, moves or (None) leaves voice: VOICE_STATE_UPDATE.
    pub fn set_user_voice(
        &self,
        guild: u64,
        user: u64,
        channel: Option<u64>,
    ) -> Result<(), ControlError> {
        self.shared.lock().set_user_voice(guild, user, channel)
    }

    /// A moderator moves the bot (or disconnects it with None): VOICE_STATE_UPDATE.
    pub fn move_bot(&self, guild: u64, channel: Option<u64>) -> Result<(), ControlError> {
        self.shared.lock().move_bot(guild, channel)
    }

    /// The voice channel `user` is connected to in `guild`.
    pub fn voice_channel_of(&self, guild: u64, user: u64) -> Option<u64> {
        self.shared.lock().voice_channel_of(guild, user)
    }

    /// The gateway session id that owns the bot's voice state in `guild`: the session
    /// whose op 4 put the bot in (or last moved it to) its channel. The voice state ends
    /// with that session. None when the bot is not in voice there (or was placed by a
    /// `GuildSpec` rather than an op 4).
    pub fn bot_voice_session_owner(&self, guild: u64) -> Option<String> {
        self.shared.lock().bot_voice_session_owner(guild)
    }

    /// Deletes a channel: CHANNEL_DELETE (the channel object with `guild_id`), then
    /// VOICE_STATE_UPDATE with `channel_id: null` for each user who was in it.
    pub fn delete_channel(&self, guild: u64, channel: u64) -> Result<(), ControlError> {
        self.shared.lock().delete_channel(guild, channel)
    }

    /// Replaces a channel's permission overwrites: CHANNEL_UPDATE with the full channel.
    pub fn set_channel_overwrites(
        &self,
        guild: u64,
        channel: u64,
        overwrites: Vec<Overwrite>,
    ) -> Result<(), ControlError> {
        self.shared
            .lock()
            .set_channel_overwrites(guild, channel, overwrites)
    }

    // ----- injection -----------------------------------------------------------------

    /// INTERACTION_CREATE type 2 for a registered chat input command. `options` is
    /// Discord's array (`[{"name","type","value"}]`) or an object `{"name": value}`.
    pub fn inject_command(
        &self,
        guild: u64,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> Result<Injected, ControlError> {
        self.shared
            .lock()
            .inject_command(guild, channel, user, name, &options, false)
            .map(|(id, token)| Injected { id, token })
    }

    /// INTERACTION_CREATE for a global slash command used in a DM with the bot.
    pub fn inject_dm_command(
        &self,
        user: u64,
        name: &str,
        options: Value,
    ) -> Result<Injected, ControlError> {
        self.shared
            .lock()
            .inject_dm_command(user, name, &options)
            .map(|(id, token)| Injected { id, token })
    }

    /// INTERACTION_CREATE type 4; the first option is `focused` unless one is.
    pub fn inject_autocomplete(
        &self,
        guild: u64,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> Result<Injected, ControlError> {
        self.shared
            .lock()
            .inject_command(guild, channel, user, name, &options, true)
            .map(|(id, token)| Injected { id, token })
    }

    /// INTERACTION_CREATE type 3: a button (`component_type` 2) on a message of the bot.
    pub fn inject_component(
        &self,
        guild: u64,
        channel: u64,
        user: u64,
        message_id: u64,
        custom_id: &str,
    ) -> Result<Injected, ControlError> {
        self.shared
            .lock()
            .inject_component(guild, channel, user, message_id, custom_id, 2, None)
            .map(|(id, token)| Injected { id, token })
    }

    /// INTERACTION_CREATE type 3 for a string select (`component_type` 3) with `values`.
    pub fn inject_select(
        &self,
        guild: u64,
        channel: u64,
        user: u64,
        message_id: u64,
        custom_id: &str,
        values: Vec<String>,
    ) -> Result<Injected, ControlError> {
        self.shared
            .lock()
            .inject_component(
                guild,
                channel,
                user,
                message_id,
                custom_id,
                3,
                Some(Value::from(values)),
            )
            .map(|(id, token)| Injected { id, token })
    }

    /// Sends any dispatch event to the sessions of the guild's shard (shard 0 for None).
    pub fn dispatch(&self, guild: Option<u64>, event: &str, data: Value) {
        self.shared.lock().dispatch(guild, event, data, None);
    }

    // ----- read-back -----------------------------------------------------------------

    /// The interaction's callback, original response, follow-ups and call log.
    pub fn interaction_responses(&self, interaction_id: &str) -> Option<InteractionRecord> {
        self.shared.lock().interaction(interaction_id)
    }

    pub fn interactions(&self) -> Vec<InteractionRecord> {
        self.shared.lock().interactions()
    }

    /// Messages visible in the channel (oldest first): created through the REST API or
    /// as non-ephemeral interaction responses, as they are now.
    pub fn messages(&self, channel: u64) -> Vec<Value> {
        self.shared.lock().channel_messages(channel)
    }

    /// Any message the bot created (ephemeral ones too) by id.
    pub fn message(&self, message_id: u64) -> Option<Value> {
        self.shared.lock().message(message_id)
    }

    /// Every payload clients sent on the gateway, in order.
    pub fn gateway_sent(&self) -> Vec<GatewaySent> {
        self.shared.lock().gateway_sent.clone()
    }

    pub fn clear_gateway_sent(&self) {
        self.shared.lock().gateway_sent.clear();
    }

    /// The most gateway commands `by` sent within any `window` (e.g. [`SEND_WINDOW`]),
    /// counted over what [`FakeDiscord::gateway_sent`] holds (clearing it forgets them).
    /// With [`SentBy::AnyConnection`]: the busiest connection's count, to compare with
    /// [`SEND_LIMIT`].
    pub fn max_sent_in_any_window(&self, by: &SentBy, window: Duration) -> usize {
        self.shared.lock().max_sent_in_any_window(by, window)
    }

    /// How many connections the fake closed with 4008 "Rate limited" (more than
    /// [`SEND_LIMIT`] commands within [`SEND_WINDOW`]).
    pub fn rate_limit_closes(&self) -> usize {
        self.shared.lock().rate_limit_closes
    }

    /// `{"global": [...], "guilds": {"<guild id>": [...]}}`
    pub fn registered_commands(&self) -> Value {
        self.shared.lock().registered_commands()
    }

    /// Every REST request (under `/api/`), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.lock().sessions_info()
    }

    // ----- gateway failures ------------------------------------------------------------

    /// op 1: asks every connection for an immediate heartbeat.
    pub fn request_heartbeat(&self) -> usize {
        server::broadcast(
            &self.shared,
            r#"{"op":1,"s":null,"t":null,"d":null}"#.into(),
        )
    }

    /// op 7 RECONNECT on every connection (sessions stay resumable).
    pub fn request_reconnect(&self) -> usize {
        server::broadcast(
            &self.shared,
            r#"{"op":7,"s":null,"t":null,"d":null}"#.into(),
        )
    }

    /// op 9 INVALID_SESSION (false) on every session; none can be resumed.
    pub fn invalidate_sessions(&self) -> usize {
        self.shared.lock().invalidate_sessions()
    }

    /// Ends every websocket without a close frame; sessions stay resumable.
    pub fn drop_connections(&self) -> usize {
        self.shared.lock().broadcast(|| Outgoing::Drop)
    }

    /// Closes every websocket with `code` (4000 unknown error, 4009 session timed out…).
    pub fn close_connections(&self, code: u16, reason: &str) -> usize {
        self.shared
            .lock()
            .broadcast(|| Outgoing::Close(code, reason.to_string()))
    }

    /// Sends `text` verbatim on every connection.
    pub fn send_raw(&self, text: &str) -> usize {
        server::broadcast(&self.shared, text.to_string())
    }

    // ----- outages and token resets --------------------------------------------------------

    /// Discord is unreachable for `d`, as during an outage behind Cloudflare: every REST call
    /// (the `/control/` hooks excepted) and every gateway websocket upgrade is answered
    /// `502 Bad Gateway` with Cloudflare's HTML page, and every gateway connection is dropped
    /// without a close frame (sessions stay resumable). Afterwards everything answers as
    /// before. Returns how many connections were dropped.
    pub fn go_down_for(&self, d: Duration) -> usize {
        server::go_down_for(&self.shared, d)
    }

    /// The next `count` messages the bot sends to `channel` (`POST /channels/{id}/messages`)
    /// are handled only `delay` after they arrive, as when Discord is slow to answer: each is
    /// created (and gets its id and place in the channel) after its delay, so one sent later
    /// that is not slow lands before it. A zero `count` or `delay` ends it.
    pub fn slow_messages(&self, channel: u64, delay: Duration, count: usize) {
        self.shared.lock().slow_messages(channel, delay, count);
    }

    /// Whether an outage started by [`FakeDiscord::go_down_for`] is under way.
    pub fn is_down(&self) -> bool {
        self.shared.is_down()
    }

    /// Sets how many guilds one gateway session may hold (default
    /// [`MAX_GUILDS_PER_SHARD`], Discord's 2,500): an IDENTIFY whose shard would hold more is
    /// closed with 4011 "Sharding required".
    pub fn set_max_guilds_per_shard(&self, max: usize) {
        self.shared.lock().max_guilds_per_shard = max;
    }

    /// The bot token is reset to `token` (in the developer portal, or by Discord after a leak):
    /// REST answers the old one 401, IDENTIFY and RESUME with it are closed with 4004, and
    /// every gateway connection is closed now with 4004 "Authentication failed". Returns how
    /// many connections were closed.
    pub fn reset_token(&self, token: &str) -> usize {
        server::reset_token(&self.shared, token)
    }
}

// ----- voice channel limits and voice servers ------------------------------------------

impl FakeDiscord {
    /// Sets a voice channel's `user_limit` (Discord's channel object field: 0 = no limit,
    /// 1 to 99 a limit) and dispatches CHANNEL_UPDATE with the whole channel. From then
    /// on an op 4 of the bot to that channel is ignored (no event, voice state unchanged)
    /// while `limit` or more users other than the bot are in it, unless the bot has
    /// MOVE_MEMBERS there ([`permissions::MOVE_MEMBERS`]; ADMINISTRATOR implies it).
    /// Members already inside stay. Err for an unknown guild or channel, a text
    /// channel, or a limit above [`MAX_VOICE_USER_LIMIT`].
    pub fn set_user_limit(&self, guild: u64, channel: u64, limit: u32) -> Result<(), ControlError> {
        self.shared.lock().set_user_limit(guild, channel, limit)
    }

    /// How the bot's later joins (op 4 to a channel) in `guild` get their voice server:
    /// [`VoiceServerMode::Immediate`] (Discord's usual VOICE_SERVER_UPDATE with a token
    /// and an endpoint), [`VoiceServerMode::NullThen`] (first `endpoint: null`, the
    /// server being allocated, then a fresh token and an endpoint after the delay) or
    /// [`VoiceServerMode::NullForever`] (only the `endpoint: null` one). Err for an
    /// unknown guild.
    pub fn set_voice_server_delay(
        &self,
        guild: u64,
        mode: VoiceServerMode,
    ) -> Result<(), ControlError> {
        self.shared.lock().set_voice_server_mode(guild, mode)
    }

    /// The bot's voice server in `guild` goes away (Discord: "A null endpoint means that
    /// the voice server allocated has gone away and is trying to be reallocated"):
    /// VOICE_SERVER_UPDATE `{token, guild_id, endpoint: null}` now, to the sessions of
    /// the guild's shard; with `then = Some(d)`, d later a VOICE_SERVER_UPDATE with a
    /// fresh token and a new endpoint (dropped if the bot left voice or joined again
    /// meanwhile). The voice state is unchanged. Err when the bot is not in voice there.
    pub fn reallocate_voice_server(
        &self,
        guild: u64,
        then: Option<Duration>,
    ) -> Result<(), ControlError> {
        let pending = self.shared.lock().reallocate_voice_server(guild, then)?;
        if let Some(p) = pending {
            state::schedule_voice_server(&self.shared, p);
        }
        Ok(())
    }

    /// Every VOICE_SERVER_UPDATE dispatched for `guild`, oldest first: its token,
    /// endpoint (None for `endpoint: null`) and when (µs since the fake started).
    pub fn voice_servers(&self, guild: u64) -> Vec<VoiceServerSent> {
        self.shared.lock().voice_servers(guild)
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.stop_now();
    }
}
