//! The player service: the one place that decides what plays next.
//!
//! It owns each guild's state (the domain [`Queue`] and the small [`PlayerState`]), drives the
//! [`AudioBackend`], turns backend events into actions, and records every change with the
//! autosave. lavalink-rs/Lavalink are only the transport: their own queue is never used.

mod error;

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};

use tokio::sync::Mutex;

pub use error::{format_ms, PlayerError};

use crate::audio::{
    AudioBackend, AudioError, BackendEvent, EndKind, Loaded, PlayerPatch, TrackRef, VoiceConnection,
};
use crate::autosave::Autosave;
use crate::domain::{
    extrapolate_position, now_ms, EndReason, FilterPreset, GuildId, LoopMode, PlayerSnapshot,
    PlayerState, Queue, QueueSnapshot, Track,
};

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
}

impl Default for PlayerConfig {
    fn default() -> Self {
        PlayerConfig {
            queue_max: 1000,
            history_max: 50,
            search_prefix: "ytsearch".into(),
        }
    }
}

/// What the player tells a guild's text channel (the Discord layer renders and sends it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    NowPlaying(Track),
    /// A track could not be played and was skipped.
    TrackFailed {
        track: Track,
        reason: String,
    },
    QueueEnded,
}

/// Receives announcements for a guild's text channel.
pub trait Announcer: Send + Sync {
    fn announce(&self, guild: GuildId, text_channel: Option<u64>, announcement: Announcement);
}

/// An announcer that only logs (until a Discord layer provides one).
pub struct LogAnnouncer;

impl Announcer for LogAnnouncer {
    fn announce(&self, guild: GuildId, _text_channel: Option<u64>, announcement: Announcement) {
        tracing::info!(guild, ?announcement, "announcement");
    }
}

/// What `/play` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayOutcome {
    /// The first track added.
    pub first: Track,
    pub added: usize,
    /// Tracks that did not fit in the queue.
    pub dropped: usize,
    pub playlist: Option<String>,
    /// It started playing at once (nothing was playing).
    pub started: bool,
    /// 1-based position in the queue of the first track, when queued behind others.
    pub position: Option<usize>,
}

/// A read-only view of a guild's player, for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerView {
    pub current: Option<Track>,
    pub position_ms: u64,
    pub paused: bool,
    pub volume: u16,
    pub loop_mode: LoopMode,
    pub filters: FilterPreset,
    pub upcoming: Vec<Track>,
    pub text_channel_id: Option<u64>,
    pub voice_channel_id: Option<u64>,
}

/// Counts over every player of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayerFigures {
    pub playing: u64,
    pub paused: u64,
    /// Players with nothing loaded.
    pub idle: u64,
    pub queued_tracks: u64,
    pub longest_queue: u64,
}

/// How one saved player comes back (see [`PlayerService::restore`]).
#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub snapshot: PlayerSnapshot,
    pub voice: VoiceConnection,
    /// Where the current track goes on from.
    pub position_ms: u64,
    /// Whether it comes back paused.
    pub paused: bool,
    /// The audio server kept this player running (a resumed Lavalink session).
    pub live: Option<LiveTrack>,
}

/// A player the audio server kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveTrack {
    /// The play id it carries, so its events match.
    pub play_id: Option<u64>,
    /// Also move it to `position_ms` (voice stopped earlier than the server's clock says).
    pub seek: bool,
}

struct GuildPlayer {
    queue: Queue,
    state: PlayerState,
    voice: Option<VoiceConnection>,
    /// The audio server has this voice state already.
    voice_sent: bool,
    /// Identifies the current play of the current track in backend events.
    play_id: u64,
    snapshot: Arc<QueueSnapshot>,
    /// A restore the audio server could not take yet: rebuild from exactly this position (not
    /// one extrapolated over the time nothing was heard).
    resume_at: Option<u64>,
}

impl GuildPlayer {
    fn new(guild: GuildId, config: &PlayerConfig) -> Self {
        let queue = Queue::new(config.queue_max, config.history_max);
        GuildPlayer {
            snapshot: queue.shared(),
            queue,
            state: PlayerState::new(guild),
            voice: None,
            voice_sent: false,
            play_id: 0,
            resume_at: None,
        }
    }

    fn position_now(&self) -> u64 {
        extrapolate_position(
            self.state.position_ms,
            self.state.position_at_ms,
            now_ms(),
            self.state.paused,
            self.queue
                .current()
                .filter(|t| t.has_length())
                .map(|t| t.length_ms),
        )
    }

    /// Pins the position at `position` as of now.
    fn set_position(&mut self, position: u64) {
        self.state.position_ms = position;
        self.state.position_at_ms = now_ms();
    }

    /// The patch that (re)starts the current track from our own state, at `position`.
    fn play_patch(&self, position: u64, include_voice: bool) -> PlayerPatch {
        PlayerPatch {
            track: Some(self.queue.current().map(|t| t.encoded.clone())),
            position_ms: Some(position),
            paused: Some(self.state.paused),
            volume: Some(self.state.volume),
            filters: Some(self.state.filters),
            voice: if include_voice {
                self.voice.clone()
            } else {
                None
            },
            no_replace: false,
            play_id: Some(self.play_id),
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
            }),
        }
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

    fn guild(&self, guild: GuildId) -> Arc<Mutex<GuildPlayer>> {
        let mut map = self.inner.guilds.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(guild)
            .or_insert_with(|| Arc::new(Mutex::new(GuildPlayer::new(guild, &self.inner.config))))
            .clone()
    }

    fn existing(&self, guild: GuildId) -> Option<Arc<Mutex<GuildPlayer>>> {
        self.inner
            .guilds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&guild)
            .cloned()
    }

    /// Counts over every player (for the metrics).
    pub async fn figures(&self) -> PlayerFigures {
        let players: Vec<_> = self
            .inner
            .guilds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let mut f = PlayerFigures::default();
        for g in players {
            let g = g.lock().await;
            match (g.queue.current().is_some(), g.state.paused) {
                (false, _) => f.idle += 1,
                (true, true) => f.paused += 1,
                (true, false) => f.playing += 1,
            }
            let queued = g.queue.upcoming().len() as u64;
            f.queued_tracks += queued;
            f.longest_queue = f.longest_queue.max(queued);
        }
        f
    }

    /// Guilds with a player.
    pub fn guilds(&self) -> Vec<GuildId> {
        let mut v: Vec<GuildId> = self
            .inner
            .guilds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        v.sort();
        v
    }

    /// Records the guild's state with the autosave; `queue_changed` rebuilds the saved queue.
    /// A player with nothing to play (stopped, or its queue ran out) has nothing to resume: its
    /// saved state is forgotten, also when a late change (a voice update) comes after a /stop.
    fn save(&self, g: &mut GuildPlayer, queue_changed: bool) {
        if queue_changed {
            g.snapshot = g.queue.shared();
        }
        g.state.taken_at_ms = now_ms();
        if let Some(a) = &self.inner.autosave {
            if g.queue.current().is_none() {
                a.forget(g.state.guild_id);
            } else {
                a.record(g.state.clone(), g.snapshot.clone(), queue_changed);
            }
        }
    }

    async fn send(&self, g: &mut GuildPlayer, mut patch: PlayerPatch) -> Result<(), PlayerError> {
        if !g.voice_sent {
            patch.voice = g.voice.clone();
        }
        let had_voice = patch.voice.is_some();
        self.inner
            .backend
            .update(g.state.guild_id, patch)
            .await
            .map_err(PlayerError::Audio)?;
        if had_voice {
            g.voice_sent = true;
        }
        Ok(())
    }

    /// Starts the current track of `g` from `position` (or stops when there is none).
    async fn start_current(&self, g: &mut GuildPlayer, position: u64) -> Result<(), PlayerError> {
        g.play_id = next_play_id();
        let patch = g.play_patch(position, !g.voice_sent);
        self.send(g, patch).await?;
        g.set_position(position);
        Ok(())
    }

    /// The voice connection Discord gave us (and the text channel commands come from).
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn connect(
        &self,
        guild: GuildId,
        voice: VoiceConnection,
        text_channel: Option<u64>,
    ) -> Result<(), PlayerError> {
        let g = self.guild(guild);
        let mut g = g.lock().await;
        let changed = g.voice.as_ref() != Some(&voice);
        g.state.voice_channel_id = Some(voice.channel_id);
        if text_channel.is_some() {
            g.state.text_channel_id = text_channel;
        }
        g.voice = Some(voice.clone());
        if changed {
            g.voice_sent = false;
            if g.queue.current().is_some() {
                // A new voice server: hand it to the audio server right away.
                let patch = PlayerPatch {
                    voice: Some(voice),
                    ..PlayerPatch::default()
                };
                self.send(&mut g, patch).await?;
            }
        }
        self.save(&mut g, false);
        Ok(())
    }

    /// Changes part of a guild's known voice connection (a new voice server or session) and hands
    /// it to the audio server. Nothing happens for a guild without a voice connection.
    pub async fn update_voice(&self, guild: GuildId, change: impl FnOnce(&mut VoiceConnection)) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let current = g.lock().await.voice.clone();
        let Some(mut voice) = current else {
            return;
        };
        change(&mut voice);
        if let Err(e) = self.connect(guild, voice, None).await {
            tracing::warn!(guild, error = %e, "could not hand the new voice state to the audio server");
        }
    }

    /// Sets the text channel announcements go to.
    pub async fn set_text_channel(&self, guild: GuildId, channel: u64) {
        let g = self.guild(guild);
        let mut g = g.lock().await;
        if g.state.text_channel_id != Some(channel) {
            g.state.text_channel_id = Some(channel);
            self.save(&mut g, false);
        }
    }

    fn identifier(&self, query: &str) -> String {
        let q = query.trim();
        let has_prefix = q.split_once(':').is_some_and(|(p, _)| {
            p.ends_with("search") && p.chars().all(|c| c.is_ascii_lowercase())
        });
        if q.starts_with("http://") || q.starts_with("https://") || has_prefix {
            q.to_string()
        } else {
            format!("{}:{q}", self.inner.config.search_prefix)
        }
    }

    /// Resolves a query into tracks (a URL loads a track or a whole playlist; other text searches
    /// and takes the first hit).
    pub async fn resolve(&self, query: &str) -> Result<(Vec<Track>, Option<String>), PlayerError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(PlayerError::EmptyQuery);
        }
        if query.chars().count() > MAX_QUERY_LEN {
            return Err(PlayerError::QueryTooLong { max: MAX_QUERY_LEN });
        }
        match self
            .inner
            .backend
            .load(&self.identifier(query))
            .await
            .map_err(PlayerError::Audio)?
        {
            Loaded::Track(t) => Ok((vec![t], None)),
            Loaded::Playlist { name, tracks } if !tracks.is_empty() => Ok((tracks, Some(name))),
            Loaded::Search(mut list) if !list.is_empty() => {
                list.truncate(1);
                Ok((list, None))
            }
            Loaded::Failed { message } => Err(PlayerError::LoadFailed(message)),
            _ => Err(PlayerError::NoResults(query.to_string())),
        }
    }

    /// The top search results for a partial query (for autocomplete); empty on any problem.
    pub async fn search(&self, query: &str, limit: usize) -> Vec<Track> {
        let query = query.trim();
        if query.chars().count() < 2 || query.chars().count() > MAX_QUERY_LEN {
            return vec![];
        }
        match self.inner.backend.load(&self.identifier(query)).await {
            Ok(Loaded::Search(list)) => list.into_iter().take(limit).collect(),
            Ok(Loaded::Track(t)) => vec![t],
            Ok(Loaded::Playlist { tracks, .. }) => tracks.into_iter().take(limit).collect(),
            _ => vec![],
        }
    }

    /// Plays a query: appends (or inserts next) what it finds; starts playing if idle.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn play(
        &self,
        guild: GuildId,
        query: &str,
        requester: Option<u64>,
        next: bool,
    ) -> Result<PlayOutcome, PlayerError> {
        let (mut tracks, playlist) = self.resolve(query).await?;
        for t in &mut tracks {
            t.requester = requester;
        }
        let g = self.guild(guild);
        let mut g = g.lock().await;
        if g.voice.is_none() {
            return Err(PlayerError::NotConnected);
        }
        let total = tracks.len();
        let first = tracks[0].clone();
        let mut queue = g.queue.clone();
        let added = if next {
            queue.insert_next(tracks)
        } else {
            queue.append(tracks)
        }
        .map_err(PlayerError::Queue)?;
        let idle = queue.current().is_none();
        let position = if idle {
            None
        } else if next {
            Some(1)
        } else {
            Some(queue.len() + 1 - added)
        };
        if idle {
            queue.start();
            let previous = std::mem::replace(&mut g.queue, queue);
            g.state.paused = false;
            if let Err(e) = self.start_current(&mut g, 0).await {
                g.queue = previous;
                return Err(e);
            }
        } else {
            g.queue = queue;
        }
        self.save(&mut g, true);
        Ok(PlayOutcome {
            first,
            added,
            dropped: total - added,
            playlist,
            started: idle,
            position,
        })
    }

    async fn with_player<T>(
        &self,
        guild: GuildId,
        f: impl AsyncFnOnce(&Self, &mut GuildPlayer) -> Result<T, PlayerError>,
    ) -> Result<T, PlayerError> {
        let g = self.existing(guild).ok_or(PlayerError::NothingPlaying)?;
        let mut g = g.lock().await;
        f(self, &mut g).await
    }

    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn pause(&self, guild: GuildId) -> Result<(), PlayerError> {
        self.set_paused(guild, true).await
    }

    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn resume(&self, guild: GuildId) -> Result<(), PlayerError> {
        self.set_paused(guild, false).await
    }

    async fn set_paused(&self, guild: GuildId, paused: bool) -> Result<(), PlayerError> {
        self.with_player(guild, async |me, g| {
            if g.queue.current().is_none() {
                return Err(PlayerError::NothingPlaying);
            }
            if g.state.paused == paused {
                return Err(if paused {
                    PlayerError::AlreadyPaused
                } else {
                    PlayerError::NotPaused
                });
            }
            let position = g.position_now();
            me.send(
                g,
                PlayerPatch {
                    paused: Some(paused),
                    ..PlayerPatch::default()
                },
            )
            .await?;
            g.set_position(position);
            g.state.paused = paused;
            me.save(g, false);
            Ok(())
        })
        .await
    }

    /// Skips to the next track (or the `to`-th upcoming one). Returns the new current track.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn skip(
        &self,
        guild: GuildId,
        to: Option<usize>,
    ) -> Result<Option<Track>, PlayerError> {
        self.with_player(guild, async |me, g| {
            if g.queue.current().is_none() {
                return Err(PlayerError::NothingPlaying);
            }
            let mut queue = g.queue.clone();
            match to {
                Some(n) => {
                    queue
                        .skip_to(n, g.state.loop_mode)
                        .map_err(PlayerError::Queue)?;
                }
                None => {
                    queue.skip(g.state.loop_mode);
                }
            }
            me.switch_to(g, queue).await
        })
        .await
    }

    /// Goes back to the previous track.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn previous(&self, guild: GuildId) -> Result<Track, PlayerError> {
        self.with_player(guild, async |me, g| {
            let mut queue = g.queue.clone();
            queue
                .previous(g.state.loop_mode)
                .map_err(PlayerError::Queue)?;
            me.switch_to(g, queue)
                .await?
                .ok_or(PlayerError::NothingPlaying)
        })
        .await
    }

    /// Makes `queue` the guild's queue and plays its current track (or stops if none).
    async fn switch_to(
        &self,
        g: &mut GuildPlayer,
        queue: Queue,
    ) -> Result<Option<Track>, PlayerError> {
        let previous = std::mem::replace(&mut g.queue, queue);
        let was_paused = g.state.paused;
        g.state.paused = false;
        if let Err(e) = self.start_current(g, 0).await {
            g.queue = previous;
            g.state.paused = was_paused;
            return Err(e);
        }
        if g.queue.current().is_none() {
            self.inner.announcer.announce(
                g.state.guild_id,
                g.state.text_channel_id,
                Announcement::QueueEnded,
            );
        }
        self.save(g, true);
        Ok(g.queue.current().cloned())
    }

    /// Stops playback, clears the queue and forgets the saved state.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn stop(&self, guild: GuildId) -> Result<(), PlayerError> {
        self.with_player(guild, async |me, g| {
            me.send(
                g,
                PlayerPatch {
                    track: Some(None),
                    ..PlayerPatch::default()
                },
            )
            .await?;
            g.queue.stop();
            g.state.paused = false;
            g.set_position(0);
            g.snapshot = g.queue.shared();
            if let Some(a) = &me.inner.autosave {
                a.forget(g.state.guild_id);
            }
            Ok(())
        })
        .await
    }

    /// Leaves: stops, forgets the saved state and removes the player from the audio server.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn leave(&self, guild: GuildId) -> Result<(), PlayerError> {
        let removed = self
            .inner
            .guilds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&guild);
        if let Some(a) = &self.inner.autosave {
            a.forget(guild);
        }
        if removed.is_some() {
            self.inner
                .backend
                .destroy(guild)
                .await
                .map_err(PlayerError::Audio)?;
        }
        Ok(())
    }

    /// Seeks to an absolute position (ms).
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn seek(&self, guild: GuildId, position_ms: u64) -> Result<u64, PlayerError> {
        self.seek_with(guild, |_| Some(position_ms as i64)).await
    }

    /// Seeks forward (positive) or back (negative) by `delta_ms`.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn seek_by(&self, guild: GuildId, delta_ms: i64) -> Result<u64, PlayerError> {
        self.seek_with(guild, |now| Some(now as i64 + delta_ms))
            .await
    }

    async fn seek_with(
        &self,
        guild: GuildId,
        target: impl FnOnce(u64) -> Option<i64>,
    ) -> Result<u64, PlayerError> {
        self.with_player(guild, async |me, g| {
            let current = g
                .queue
                .current()
                .cloned()
                .ok_or(PlayerError::NothingPlaying)?;
            if !current.has_length() {
                return Err(PlayerError::NotSeekable);
            }
            let wanted = target(g.position_now()).unwrap_or(-1);
            if wanted < 0 || wanted as u64 > current.length_ms {
                return Err(PlayerError::SeekOutOfRange {
                    length_ms: current.length_ms,
                });
            }
            let position = wanted as u64;
            me.send(
                g,
                PlayerPatch {
                    position_ms: Some(position),
                    ..PlayerPatch::default()
                },
            )
            .await?;
            g.set_position(position);
            me.save(g, false);
            Ok(position)
        })
        .await
    }

    /// Sets the volume in percent (0–200).
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn set_volume(&self, guild: GuildId, volume: u16) -> Result<(), PlayerError> {
        if volume > MAX_VOLUME {
            return Err(PlayerError::VolumeOutOfRange { max: MAX_VOLUME });
        }
        let patch = PlayerPatch {
            volume: Some(volume),
            ..PlayerPatch::default()
        };
        self.apply(guild, patch, |s| s.volume = volume).await
    }

    /// Sets the filter preset.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn set_filters(
        &self,
        guild: GuildId,
        preset: FilterPreset,
    ) -> Result<(), PlayerError> {
        let patch = PlayerPatch {
            filters: Some(preset),
            ..PlayerPatch::default()
        };
        self.apply(guild, patch, |s| s.filters = preset).await
    }

    /// A setting kept in our state and, while a track is loaded, sent to the audio server first.
    async fn apply(
        &self,
        guild: GuildId,
        patch: PlayerPatch,
        set: impl FnOnce(&mut PlayerState),
    ) -> Result<(), PlayerError> {
        let g = self.guild(guild);
        let mut g = g.lock().await;
        if g.queue.current().is_some() {
            self.send(&mut g, patch).await?;
        }
        set(&mut g.state);
        self.save(&mut g, false);
        Ok(())
    }

    pub async fn set_loop(&self, guild: GuildId, mode: LoopMode) {
        let g = self.guild(guild);
        let mut g = g.lock().await;
        g.state.loop_mode = mode;
        self.save(&mut g, false);
    }

    pub async fn shuffle(&self, guild: GuildId) -> Result<usize, PlayerError> {
        self.edit_queue(guild, |q| {
            if q.is_empty() {
                return Err(PlayerError::Queue(crate::domain::QueueError::Empty));
            }
            q.shuffle(&mut rand::thread_rng());
            Ok(q.len())
        })
        .await
    }

    /// Removes the upcoming track at `position` (1-based).
    pub async fn remove(&self, guild: GuildId, position: usize) -> Result<Track, PlayerError> {
        self.edit_queue(guild, |q| q.remove(position).map_err(PlayerError::Queue))
            .await
    }

    /// Moves an upcoming track.
    pub async fn move_track(
        &self,
        guild: GuildId,
        from: usize,
        to: usize,
    ) -> Result<(), PlayerError> {
        self.edit_queue(guild, |q| {
            q.move_track(from, to).map_err(PlayerError::Queue)
        })
        .await
    }

    /// Empties the upcoming tracks; the current one keeps playing.
    pub async fn clear(&self, guild: GuildId) -> Result<usize, PlayerError> {
        self.edit_queue(guild, |q| Ok(q.clear())).await
    }

    async fn edit_queue<T>(
        &self,
        guild: GuildId,
        f: impl FnOnce(&mut Queue) -> Result<T, PlayerError>,
    ) -> Result<T, PlayerError> {
        let g = self
            .existing(guild)
            .ok_or(PlayerError::Queue(crate::domain::QueueError::Empty))?;
        let mut g = g.lock().await;
        let out = f(&mut g.queue)?;
        self.save(&mut g, true);
        Ok(out)
    }

    /// The guild's player as it is now (position extrapolated).
    pub async fn view(&self, guild: GuildId) -> Option<PlayerView> {
        let g = self.existing(guild)?;
        let g = g.lock().await;
        Some(PlayerView {
            current: g.queue.current().cloned(),
            position_ms: g.position_now(),
            paused: g.state.paused,
            volume: g.state.volume,
            loop_mode: g.state.loop_mode,
            filters: g.state.filters,
            upcoming: g.queue.upcoming().cloned().collect(),
            text_channel_id: g.state.text_channel_id,
            voice_channel_id: g.state.voice_channel_id,
        })
    }

    /// Reacts to what the audio server reports.
    pub async fn handle_event(&self, event: BackendEvent) {
        match event {
            BackendEvent::PlayerUpdate {
                guild,
                time_ms,
                position_ms,
                ..
            } => {
                if let Some(g) = self.existing(guild) {
                    let mut g = g.lock().await;
                    // An update older than the position we pinned (a seek, a new track) was
                    // sent before Lavalink applied it: it would move the position back.
                    if g.queue.current().is_some() && time_ms >= g.state.position_at_ms {
                        g.state.position_ms = position_ms;
                        g.state.position_at_ms = time_ms;
                        self.save(&mut g, false);
                    }
                }
            }
            BackendEvent::TrackEnded {
                guild,
                track,
                reason,
            } => {
                let reason = match reason {
                    EndKind::Finished => EndReason::Finished,
                    EndKind::LoadFailed => EndReason::Failed,
                    _ => return,
                };
                self.advance(guild, &track, reason, None).await;
            }
            BackendEvent::TrackException {
                guild,
                track,
                message,
            } => {
                self.advance(guild, &track, EndReason::Failed, Some(message))
                    .await;
            }
            BackendEvent::TrackStuck {
                guild,
                track,
                threshold_ms,
            } => {
                let reason = format!("it stopped sending audio for {} s", threshold_ms / 1000);
                self.advance(guild, &track, EndReason::Failed, Some(reason))
                    .await;
            }
            BackendEvent::PlayersLost { guilds } => {
                for guild in guilds {
                    let me = self.clone();
                    tokio::spawn(async move { me.rebuild(guild).await });
                }
            }
            BackendEvent::NodeReady { .. } => {
                let pending: Vec<GuildId> = self
                    .inner
                    .pending_rebuild
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .drain()
                    .collect();
                for guild in pending {
                    let me = self.clone();
                    tokio::spawn(async move { me.rebuild(guild).await });
                }
            }
            BackendEvent::VoiceClosed {
                guild,
                code,
                reason,
            } => {
                tracing::warn!(
                    guild,
                    code,
                    reason,
                    "the audio server's voice connection closed"
                );
            }
            BackendEvent::TrackStarted { .. } => {}
        }
    }

    /// Moves on after the current track (`encoded`) ended or failed.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    async fn advance(
        &self,
        guild: GuildId,
        track: &TrackRef,
        reason: EndReason,
        failure: Option<String>,
    ) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let mut g = g.lock().await;
        let Some(current) = g.queue.current().cloned() else {
            return;
        };
        if !track.is(&current.encoded, g.play_id) {
            return; // An event about a track we already moved past.
        }
        if let Some(reason) = failure {
            tracing::warn!(title = %current.title, reason, "track failed; skipping");
            self.inner.announcer.announce(
                guild,
                g.state.text_channel_id,
                Announcement::TrackFailed {
                    track: current.clone(),
                    reason,
                },
            );
        }
        let mode = g.state.loop_mode;
        let mut queue = g.queue.clone();
        queue.on_track_end(mode, reason);
        if queue.current().is_none() {
            g.queue = queue;
            g.set_position(0);
            self.inner
                .announcer
                .announce(guild, g.state.text_channel_id, Announcement::QueueEnded);
            self.save(&mut g, true);
            return;
        }
        match self.switch_to(&mut g, queue).await {
            // Started by itself: tell the channel (a command's own reply says it otherwise).
            Ok(Some(t)) => self.inner.announcer.announce(
                guild,
                g.state.text_channel_id,
                Announcement::NowPlaying(t),
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not start the next track"),
        }
    }

    /// Rebuilds a guild's player on the audio server from our own state, at its extrapolated
    /// position, with a single player update.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn rebuild(&self, guild: GuildId) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let mut g = g.lock().await;
        if g.queue.current().is_none() || g.voice.is_none() {
            g.voice_sent = false;
            return;
        }
        let position = g.resume_at.unwrap_or_else(|| g.position_now());
        g.play_id = next_play_id();
        let patch = g.play_patch(position, true);
        match self.inner.backend.update(guild, patch).await {
            Ok(()) => {
                self.inner
                    .pending_rebuild
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&guild);
                g.voice_sent = true;
                g.resume_at = None;
                g.set_position(position);
                tracing::info!(position, "player rebuilt on the audio server");
            }
            Err(e) => {
                g.voice_sent = false;
                self.inner
                    .pending_rebuild
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(guild);
                tracing::warn!(error = %e, "could not rebuild the player; will retry when a node is back");
            }
        }
    }

    /// Restores a saved player after a restart: its queue, loop mode, volume and filters, and
    /// the current track at `plan.position_ms`, playing or paused, in one player update. With
    /// `plan.live`, the audio server kept the player running: it keeps its track and gets the
    /// new voice state (and, if asked, the position) instead.
    #[tracing::instrument(skip_all, fields(guild = plan.snapshot.guild_id()))]
    pub async fn restore(&self, plan: RestorePlan) -> Result<(), PlayerError> {
        let RestorePlan {
            snapshot,
            voice,
            position_ms,
            paused,
            live,
        } = plan;
        let guild = snapshot.guild_id();
        let g = self.guild(guild);
        let mut g = g.lock().await;
        g.queue = snapshot
            .queue
            .into_queue(self.inner.config.queue_max, self.inner.config.history_max);
        g.state = snapshot.state;
        g.state.paused = paused;
        g.state.voice_channel_id = Some(voice.channel_id);
        g.voice = Some(voice);
        g.voice_sent = false;
        if g.queue.current().is_some() {
            let patch = match live {
                Some(live) => {
                    g.play_id = live.play_id.unwrap_or_else(next_play_id);
                    PlayerPatch {
                        position_ms: live.seek.then_some(position_ms),
                        paused: Some(paused),
                        voice: g.voice.clone(),
                        ..Default::default()
                    }
                }
                None => {
                    g.play_id = next_play_id();
                    g.play_patch(position_ms, true)
                }
            };
            if let Err(e) = self.send(&mut g, patch).await {
                if Self::is_unavailable(&e) {
                    // Kept, and rebuilt from this very position once a node is ready.
                    g.resume_at = Some(position_ms);
                    g.set_position(position_ms);
                    self.inner
                        .pending_rebuild
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(guild);
                    self.save(&mut g, true);
                }
                return Err(e);
            }
            g.set_position(position_ms);
        } else if let Some(voice) = g.voice.clone() {
            // Nothing to play: the audio server still learns the voice state.
            let patch = PlayerPatch {
                voice: Some(voice),
                ..Default::default()
            };
            self.send(&mut g, patch).await?;
        }
        self.save(&mut g, true);
        Ok(())
    }

    /// The voice session id the guild's player uses, if it has one.
    pub async fn voice_session(&self, guild: GuildId) -> Option<String> {
        let g = self.existing(guild)?;
        let g = g.lock().await;
        g.voice.as_ref().map(|v| v.session_id.clone())
    }

    /// Forgets every player here without touching the audio server or the store (after handing
    /// them over to another instance).
    pub async fn forget_all(&self) {
        self.inner
            .guilds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        if let Some(a) = &self.inner.autosave {
            a.release_all().await;
        }
    }

    /// Whether an audio error means "try again later".
    pub fn is_unavailable(e: &PlayerError) -> bool {
        matches!(e, PlayerError::Audio(AudioError::Unavailable))
    }
}

/// A new id for one play of a track (unique in this process).
fn next_play_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The guild an event is about, if it is about one.
fn event_guild(event: &BackendEvent) -> Option<GuildId> {
    match event {
        BackendEvent::TrackStarted { guild, .. }
        | BackendEvent::TrackEnded { guild, .. }
        | BackendEvent::TrackException { guild, .. }
        | BackendEvent::TrackStuck { guild, .. }
        | BackendEvent::PlayerUpdate { guild, .. }
        | BackendEvent::VoiceClosed { guild, .. } => Some(*guild),
        BackendEvent::NodeReady { .. } | BackendEvent::PlayersLost { .. } => None,
    }
}

#[cfg(test)]
mod tests;
