//! What users ask of a guild's player: voice and text channel, resolve and search, play,
//! skip/previous, stop/leave, seek, volume, filters, loop and queue edits.

use crate::audio::{Loaded, PlayerPatch, VoiceConnection};
use crate::domain::{
    start_for, start_from_link, FilterPreset, GuildId, LoopMode, PlayerState, Queue, SearchSource,
    Track,
};

use super::state::GuildPlayer;
use super::{
    Announcement, PlayOutcome, PlayerError, PlayerService, Switched, VoiceEnd, MAX_QUERY_LEN,
    MAX_VOLUME,
};
use crate::sync::LockExt;

impl PlayerService {
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
        if text_channel.is_some() {
            g.state.text_channel_id = text_channel;
        }
        self.connect_locked(&mut g, voice).await
    }

    /// Takes `voice` as the guild's voice connection and, when it changed and a track is loaded,
    /// hands it to the audio server at once.
    async fn connect_locked(
        &self,
        g: &mut GuildPlayer,
        voice: VoiceConnection,
    ) -> Result<(), PlayerError> {
        let changed = g.voice.as_ref() != Some(&voice);
        if changed {
            Self::clear_given_up(g);
        }
        g.server_pending_since = None;
        g.state.voice_channel_id = Some(voice.channel_id);
        g.voice = Some(voice.clone());
        if changed {
            g.voice_sent = false;
            if g.queue.current().is_some() {
                let patch = PlayerPatch {
                    voice: Some(voice),
                    ..PlayerPatch::default()
                };
                self.send(g, patch).await?;
            }
        }
        self.save(g, false);
        Ok(())
    }

    /// Changes part of a guild's known voice connection (a new voice server or session) and hands
    /// it to the audio server. Nothing happens for a guild without a voice connection. The
    /// change is made under the player's lock: Discord's voice state and voice server updates,
    /// handled at the same time, never undo each other.
    pub async fn update_voice(&self, guild: GuildId, change: impl FnOnce(&mut VoiceConnection)) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let mut g = g.lock().await;
        let Some(mut voice) = g.voice.clone() else {
            return;
        };
        change(&mut voice);
        if let Err(e) = self.connect_locked(&mut g, voice).await {
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

    pub(super) fn identifier(&self, query: &str) -> String {
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
        let query = checked_query(query)?;
        let loaded = self
            .inner
            .backend
            .load(&self.identifier(query))
            .await
            .map_err(PlayerError::Audio)?;
        if matches!(loaded, Loaded::Failed { .. } | Loaded::Empty) {
            // A link of a source no node has (Spotify without LavaSrc's Spotify source, …)
            // fails in the node's http source: say what is missing instead.
            if let Some(source) = SearchSource::of_link(query) {
                let infos = self.inner.backend.node_infos().await;
                if !infos.is_empty() && !infos.iter().any(|i| i.has_source(source.source_manager()))
                {
                    return Err(PlayerError::SourceMissing(source));
                }
            }
        }
        match loaded {
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

    /// Plays a query: appends (or inserts next) what it finds; starts playing if idle. A link's
    /// start time (`t=`, `start=`, `#t=`) applies as in [`PlayerService::play_from`].
    pub async fn play(
        &self,
        guild: GuildId,
        query: &str,
        requester: Option<u64>,
        next: bool,
    ) -> Result<PlayOutcome, PlayerError> {
        self.play_from(guild, query, requester, next, None).await
    }

    /// Like [`PlayerService::play`], the first track starting at `start_ms` (ms; `None`: the
    /// link's own start time, if any). The query goes to the audio server as given. The start
    /// is kept with the track, so one queued behind others starts there when it becomes
    /// current; the rule is [`crate::domain::start_for`]. Errors: [`PlayerError::Start`] when
    /// the track ends at or before the start (nothing is queued), and those of loading and
    /// queueing.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn play_from(
        &self,
        guild: GuildId,
        query: &str,
        requester: Option<u64>,
        next: bool,
        start_ms: Option<u64>,
    ) -> Result<PlayOutcome, PlayerError> {
        let (mut tracks, playlist) = self.resolve(query).await?;
        let start = start_for(
            &tracks[0],
            playlist.is_some(),
            start_ms.or_else(|| start_from_link(query)),
        )
        .map_err(PlayerError::Start)?;
        tracks[0].start_ms = start.ms();
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
        // Nothing playing: what the member asks for plays now, before any tracks kept from a
        // queue that stopped after failures.
        let idle = queue.current().is_none();
        let added = if next || idle {
            queue.insert_next(tracks)
        } else {
            queue.append(tracks)
        }
        .map_err(PlayerError::Queue)?;
        g.failures.reset();
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
            if let Err(e) = self.start_current(&mut g).await {
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
            start,
            loop_mode: g.state.loop_mode,
        })
    }

    pub(super) async fn with_player<T>(
        &self,
        guild: GuildId,
        f: impl AsyncFnOnce(&Self, &mut GuildPlayer) -> Result<T, PlayerError>,
    ) -> Result<T, PlayerError> {
        let g = self.existing(guild).ok_or(PlayerError::NothingPlaying)?;
        let mut g = g.lock().await;
        f(self, &mut g).await
    }

    /// The one rule for "no player": an operation on the current track needs a player with one;
    /// otherwise it is [`PlayerError::NothingPlaying`]. `f` gets the current track.
    pub(super) async fn with_current<T>(
        &self,
        guild: GuildId,
        f: impl AsyncFnOnce(&Self, &mut GuildPlayer, Track) -> Result<T, PlayerError>,
    ) -> Result<T, PlayerError> {
        self.with_player(guild, async |me, g| {
            let current = g
                .queue
                .current()
                .cloned()
                .ok_or(PlayerError::NothingPlaying)?;
            f(me, g, current).await
        })
        .await
    }

    /// Skips to the next track (or the `to`-th upcoming one): the skipped track, the new
    /// current one (`None` when the queue ended) and the loop mode. A queue that stopped after
    /// failures goes on with its next track. Errors: [`PlayerError::NothingPlaying`] with no
    /// current and no upcoming track.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn skip(&self, guild: GuildId, to: Option<usize>) -> Result<Switched, PlayerError> {
        let switched = self
            .with_player(guild, async |me, g| {
                if g.queue.is_done() {
                    return Err(PlayerError::NothingPlaying);
                }
                g.failures.reset();
                let from = g.queue.current().cloned();
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
                let autoplay = queue.current().is_none() && g.state.autoplay.on;
                let now = if autoplay {
                    // The last track was skipped: autoplay goes on as if it had ended, looking
                    // for a related track in the background (the reply says so).
                    me.switch_quietly(g, queue).await?
                } else {
                    me.switch_to(g, queue).await?
                };
                Ok(Switched {
                    from,
                    now,
                    loop_mode: g.state.loop_mode,
                    autoplay,
                })
            })
            .await?;
        if switched.autoplay {
            if let Some(skipped) = switched.from.clone() {
                let me = self.clone();
                tokio::spawn(async move { me.autoplay_after(guild, skipped).await });
            }
        }
        Ok(switched)
    }

    /// Goes back to the previous track: the track that was current, the previous one (now
    /// current) and the loop mode.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn previous(&self, guild: GuildId) -> Result<Switched, PlayerError> {
        self.with_player(guild, async |me, g| {
            let from = g.queue.current().cloned();
            let mut queue = g.queue.clone();
            queue
                .previous(g.state.loop_mode)
                .map_err(PlayerError::Queue)?;
            g.failures.reset();
            let now = me
                .switch_to(g, queue)
                .await?
                .ok_or(PlayerError::NothingPlaying)?;
            Ok(Switched {
                from,
                now: Some(now),
                loop_mode: g.state.loop_mode,
                autoplay: false,
            })
        })
        .await
    }

    /// Makes `queue` the guild's queue and plays its current track (or stops if none, and
    /// tells the channel the queue ended).
    pub(super) async fn switch_to(
        &self,
        g: &mut GuildPlayer,
        queue: Queue,
    ) -> Result<Option<Track>, PlayerError> {
        let now = self.switch_quietly(g, queue).await?;
        if now.is_none() {
            self.inner.announcer.announce(
                g.state.guild_id,
                g.state.text_channel_id,
                Announcement::QueueEnded,
            );
        }
        Ok(now)
    }

    /// Like [`PlayerService::switch_to`], without telling the channel when the queue ended
    /// (autoplay goes on).
    pub(super) async fn switch_quietly(
        &self,
        g: &mut GuildPlayer,
        queue: Queue,
    ) -> Result<Option<Track>, PlayerError> {
        let previous = std::mem::replace(&mut g.queue, queue);
        // A play left before it was heard (a skip soon after it started) was still played.
        self.keep_played(g, previous.current());
        let was_paused = g.state.paused;
        g.state.paused = false;
        if let Err(e) = self.start_current(g).await {
            g.queue = previous;
            g.state.paused = was_paused;
            return Err(e);
        }
        self.save(g, true);
        Ok(g.queue.current().cloned())
    }

    /// Stops playback, clears the queue and forgets the saved state.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn stop(&self, guild: GuildId) -> Result<(), PlayerError> {
        self.with_player(guild, async |me, g| {
            // A track stopped soon after it started was still played.
            let current = g.queue.current().cloned();
            me.keep_played(g, current.as_ref());
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
        // Under the player's lock: whatever is changing it (autoplay starting a track) finishes
        // first, and nothing changes it after.
        let held = match self.existing(guild) {
            Some(g) => Some(g.lock_owned().await),
            None => None,
        };
        let removed = self.inner.guilds.locked().remove(&guild);
        drop(held);
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

    /// The music ended without anyone asking (`end` says why): like [`PlayerService::leave`], and
    /// the text channel is told once. Nothing happens (and nothing is said) for a guild without
    /// a player, so a second report of the same end stays silent.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn end(&self, guild: GuildId, end: VoiceEnd) -> Result<(), PlayerError> {
        let Some(g) = self.existing(guild) else {
            return Ok(());
        };
        let held = g.lock_owned().await;
        let text_channel = held.state.text_channel_id;
        let removed = self.inner.guilds.locked().remove(&guild);
        drop(held);
        if removed.is_none() {
            return Ok(());
        }
        tracing::info!(?end, "the music ended involuntarily");
        self.inner
            .announcer
            .announce(guild, text_channel, Announcement::VoiceEnded(end));
        if let Some(a) = &self.inner.autosave {
            a.forget(guild);
        }
        // Told to the channel: a crash now must not bring the music back. (A failure is logged;
        // the delete stays pending.)
        let _ = self.commit(guild).await;
        self.inner
            .backend
            .destroy(guild)
            .await
            .map_err(PlayerError::Audio)
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
}

/// A member's query, trimmed; refused when empty or longer than [`MAX_QUERY_LEN`] characters.
pub(super) fn checked_query(query: &str) -> Result<&str, PlayerError> {
    let query = query.trim();
    if query.is_empty() {
        return Err(PlayerError::EmptyQuery);
    }
    if query.chars().count() > MAX_QUERY_LEN {
        return Err(PlayerError::QueryTooLong { max: MAX_QUERY_LEN });
    }
    Ok(query)
}
