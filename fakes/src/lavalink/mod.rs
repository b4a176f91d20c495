//! A fake Lavalink v4 node (Lavalink >= 4.2 behaviour) on loopback.
//!
//! It speaks the published protocol: the `/v4/websocket` handshake and its `ready`,
//! `playerUpdate`, `stats` and `event` messages, the REST API (tracks, players,
//! sessions, info, stats, version) with Lavalink's status codes and error bodies, and
//! lavaplayer's track encoding. Playback is a clock: a player with a track and a full
//! voice state advances in real time and ends its track at its length or `endTime`.
//! It runs the plugins Encore's Lavalink runs — youtube-source, LavaSrc, LavaSearch and
//! LavaLyrics — each switchable ([`Plugins`], `docs/testing-plugins.md`).
//!
//! Tests drive failures through the methods of [`FakeLavalink`]; other processes use
//! the same hooks over HTTP under `/control/` (see `docs/testing.md`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), std::io::Error> {
//! use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig};
//! let fake = FakeLavalink::start(FakeLavalinkConfig::default()).await?;
//! println!("Lavalink at {}", fake.base_url());
//! # Ok(()) }
//! ```

pub mod catalogue;
pub mod codec;
mod lyrics;
mod plugin_routes;
mod plugins;
mod search;
mod server;
pub mod shape;
mod state;
pub mod types;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use lyrics::FakeLyrics;
pub use plugins::{LavaSrcSources, Plugins};
pub use shape::AnswerShape;
pub use state::ControlError;
pub use types::{
    Cure, NewTrack, PlayerSnapshot, PlayerState, RecordedRequest, SessionSnapshot, Severity, Track,
    TrackInfo, VoiceFault, VoiceState, VoiceUpdate,
};

use server::Shared;
use state::State;

/// Default password of a Lavalink node.
pub const DEFAULT_PASSWORD: &str = "youshallnotpass";

/// How the fake is started.
#[derive(Debug, Clone)]
pub struct FakeLavalinkConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// `Authorization` value required on the websocket and REST API.
    pub password: String,
    /// How often a player with a track sends `playerUpdate` (Lavalink: 5 s).
    pub player_update_interval: Duration,
    /// How often `stats` is sent (Lavalink: 60 s); once right after `ready` too.
    pub stats_interval: Duration,
    /// What `/version` and `/v4/info` report.
    pub version: String,
    /// The plugins the node runs (default: all four, as Encore's Lavalink config ships).
    pub plugins: Plugins,
    /// LavaSrc's sources, while LavaSrc runs (default: all three, as with their credentials
    /// set; [`LavaSrcSources::none`] is Encore's config without credentials).
    pub lavasrc_sources: LavaSrcSources,
}

impl Default for FakeLavalinkConfig {
    fn default() -> Self {
        FakeLavalinkConfig {
            port: 0,
            password: DEFAULT_PASSWORD.to_string(),
            player_update_interval: Duration::from_secs(5),
            stats_interval: Duration::from_secs(60),
            version: "4.2.0".to_string(),
            plugins: Plugins::all(),
            lavasrc_sources: LavaSrcSources::all(),
        }
    }
}

/// A running fake Lavalink node; stops when dropped or on [`FakeLavalink::shutdown`].
pub struct FakeLavalink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeLavalink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeLavalink")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Resolution of the playback clock.
const TICK: Duration = Duration::from_millis(10);

impl FakeLavalink {
    /// Binds 127.0.0.1:`config.port` and serves until dropped.
    pub async fn start(config: FakeLavalinkConfig) -> Result<FakeLavalink, std::io::Error> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(
                config.player_update_interval,
                config.stats_interval,
                config.plugins,
                config.lavasrc_sources,
            )),
            password: config.password,
            version: config.version,
            build_time: state::unix_ms(),
        });
        let (stop, mut stopped) = watch::channel(false);

        let app = server::router(shared.clone());
        let mut stopped_serve = stopped.clone();
        let serve = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped_serve.wait_for(|s| *s).await;
                })
                .await;
        });

        let ticker_shared = shared.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = interval.tick() => ticker_shared.lock().tick(Instant::now()),
                    _ = stopped.wait_for(|s| *s) => break,
                }
            }
        });

        Ok(FakeLavalink {
            addr,
            shared,
            stop,
            tasks: vec![serve, ticker],
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/v4/websocket`
    pub fn websocket_url(&self) -> String {
        format!("ws://{}/v4/websocket", self.addr)
    }

    pub fn password(&self) -> &str {
        &self.shared.password
    }

    /// Stops serving: closes every websocket abruptly and the listener.
    pub async fn shutdown(mut self) {
        self.stop_now();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    fn stop_now(&self) {
        self.shared.lock().drop_sockets();
        let _ = self.stop.send(true);
    }

    /// Like a node restart: every session and player is lost, every websocket is closed
    /// (close code 1001); clients get new session ids and resuming fails.
    pub fn restart(&self) {
        self.shared.lock().restart();
    }

    /// Closes every websocket without a close frame. Sessions with resuming enabled are
    /// kept (their players keep playing, events are queued) for their timeout.
    pub fn drop_sockets(&self) -> usize {
        self.shared.lock().drop_sockets()
    }

    /// For `d`, every websocket upgrade and REST request (not `/control`) gets a 503.
    /// Connected websockets are left alone (combine with [`Self::drop_sockets`]).
    pub fn refuse_connections_for(&self, d: Duration) {
        self.shared.lock().refuse_until = Some(Instant::now() + d);
    }

    /// The guild's playing track throws: TrackExceptionEvent then TrackEndEvent
    /// `loadFailed`, as lavaplayer does for a playback exception.
    pub fn inject_exception(
        &self,
        guild_id: &str,
        message: &str,
        severity: Severity,
    ) -> Result<(), ControlError> {
        self.shared
            .lock()
            .inject_exception(guild_id, message, severity, None)
    }

    /// TrackStuckEvent for the guild's playing track. Like Lavalink, the track is not
    /// ended: the client decides.
    pub fn inject_stuck(&self, guild_id: &str, threshold_ms: u64) -> Result<(), ControlError> {
        self.shared.lock().inject_stuck(guild_id, threshold_ms)
    }

    /// WebSocketClosedEvent for the guild (Discord voice connection closed): the player
    /// reports `connected: false` and stops advancing until its next voice update (it
    /// gets [`VoiceFault::Disconnected`] with [`Cure::AnyVoiceUpdate`], unless it already
    /// had a `Disconnected` fault, whose cure stays).
    pub fn inject_websocket_closed(
        &self,
        guild_id: &str,
        code: u16,
        reason: &str,
        by_remote: bool,
    ) -> Result<(), ControlError> {
        self.shared
            .lock()
            .inject_voice_closed(guild_id, code, reason, by_remote)
    }

    /// Gives the guild's player (in every session that has one) a voice fault, or heals
    /// it with [`VoiceFault::None`]: [`VoiceFault::Disconnected`] (`state.connected`
    /// false, `ping` -1, position still) or [`VoiceFault::Frozen`] (`connected` true,
    /// position still), each until its [`Cure`] — judged on later PATCHes with a `voice`
    /// object against the voice state the player has now. The clock freezes now and
    /// resumes from the same position when cured. No event is sent (see
    /// [`Self::inject_websocket_closed`]). A deleted player takes its fault with it. Err
    /// when no session has a player for the guild.
    pub fn set_voice_fault(&self, guild_id: &str, fault: VoiceFault) -> Result<(), ControlError> {
        self.shared.lock().set_voice_fault(guild_id, fault)
    }

    /// Every player created for the guild from now on (on any session) starts with `fault`, as
    /// when this node cannot reach the guild's voice server; [`VoiceFault::None`] ends that.
    /// Players that exist keep their state.
    pub fn fault_new_players(&self, guild_id: &str, fault: VoiceFault) {
        let mut state = self.shared.lock();
        if fault == VoiceFault::None {
            state.new_player_faults.remove(guild_id);
        } else {
            state.new_player_faults.insert(guild_id.to_string(), fault);
        }
    }

    /// Every `voice` object player PATCHes for the guild delivered (valid ones, in
    /// order): the Lavalink session, the voice state (`token`, `endpoint`, `sessionId`,
    /// `channelId`) and when it arrived. Kept across [`Self::restart`].
    pub fn voice_updates(&self, guild_id: &str) -> Vec<VoiceUpdate> {
        self.shared.lock().voice_updates(guild_id)
    }

    /// Sends `text` verbatim on every connected websocket; returns how many.
    pub fn send_raw(&self, text: &str) -> usize {
        self.shared.lock().send_raw(text)
    }

    /// Every request received (REST and websocket handshakes, not `/control`), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The recorded requests to `path` (e.g. `/v4/loadtracks`), in order.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Every player of every session, positions computed now.
    pub fn players(&self) -> Vec<PlayerSnapshot> {
        self.shared.lock().players()
    }

    /// The player of `guild_id` (first session that has one).
    pub fn player(&self, guild_id: &str) -> Option<PlayerSnapshot> {
        self.players().into_iter().find(|p| p.guild_id == guild_id)
    }

    pub fn sessions(&self) -> Vec<SessionSnapshot> {
        self.shared.lock().sessions()
    }

    /// Adds a track to the catalogue (replacing one with the same identifier).
    pub fn add_track(&self, track: NewTrack) -> Track {
        self.shared.lock().catalogue.add(track)
    }

    /// Adds (or replaces) a playlist `id` of catalogue tracks (by identifier, in order):
    /// `/v4/loadtracks` answers a link with `list=<id>` (e.g.
    /// `https://www.youtube.com/playlist?list=<id>`) with `loadType: "playlist"`. Err names an
    /// identifier the catalogue does not have (add it with [`Self::add_track`] first).
    pub fn add_playlist(
        &self,
        id: &str,
        name: &str,
        identifiers: &[&str],
    ) -> Result<(), ControlError> {
        self.shared
            .lock()
            .catalogue
            .add_playlist(id, name, identifiers)
            .map_err(ControlError)
    }

    /// The catalogue's tracks.
    pub fn tracks(&self) -> Vec<Track> {
        self.shared
            .lock()
            .catalogue
            .entries()
            .iter()
            .map(|e| e.track())
            .collect()
    }

    /// The catalogue track with this identifier.
    pub fn track(&self, identifier: &str) -> Option<Track> {
        self.shared
            .lock()
            .catalogue
            .by_identifier(identifier)
            .map(|e| e.track())
    }

    /// Shapes every track object sent from now on — `/v4/loadtracks` answers of every
    /// `loadType`, decoded tracks, player objects and events — as `shape` says
    /// ([`AnswerShape::Compat`]: as some Lavalink-compatible servers answer).
    pub fn set_answer_shape(&self, shape: AnswerShape) {
        self.shared.lock().set_answer_shape(shape);
    }

    /// Switches plugins on or off from now on (see [`Plugins`] for what each brings).
    /// Sessions, players and the catalogue stay.
    pub fn set_plugins(&self, plugins: Plugins) {
        self.shared.lock().plugins = plugins;
    }

    /// The plugins the node runs now.
    pub fn plugins(&self) -> Plugins {
        self.shared.lock().plugins
    }

    /// Registers LavaSrc's Spotify, Apple Music and Deezer sources or not from now on (see
    /// [`LavaSrcSources`]); they run only while LavaSrc does.
    pub fn set_lavasrc_sources(&self, sources: LavaSrcSources) {
        self.shared.lock().lavasrc_sources = sources;
    }

    /// LavaSrc's sources as set now.
    pub fn lavasrc_sources(&self) -> LavaSrcSources {
        self.shared.lock().lavasrc_sources
    }

    /// The related tracks (catalogue identifiers, in order) that mixes and recommendations
    /// seeded by the catalogue track `seed` answer from now on, instead of the source's
    /// other catalogue tracks: a YouTube mix (`list=RD<seed>`) is the seed then these, a
    /// Deezer `dzrec:<seed>` too, a Spotify `sprec:<seed>` only these. An empty list leaves
    /// only what the source adds itself. Err names an identifier (seed included) the
    /// catalogue does not have.
    pub fn set_mix<I, S>(&self, seed: &str, related: I) -> Result<(), ControlError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.shared
            .lock()
            .catalogue
            .set_mix(seed, related.into_iter().map(Into::into).collect())
            .map_err(ControlError)
    }

    /// What LavaLyrics answers for the track with this identifier (any identifier, in the
    /// catalogue or not): [`FakeLyrics::None`] makes it 204. Replaces the default lyrics of
    /// [`catalogue::PLAIN_LYRICS_IDENTIFIER`] and [`catalogue::SYNCED_LYRICS_IDENTIFIER`].
    pub fn set_lyrics(&self, identifier: &str, lyrics: FakeLyrics) {
        self.shared.lock().catalogue.set_lyrics(identifier, lyrics);
    }

    pub fn set_player_update_interval(&self, d: Duration) {
        self.shared.lock().player_update_interval = d;
    }
}

impl Drop for FakeLavalink {
    fn drop(&mut self) {
        self.stop_now();
    }
}
