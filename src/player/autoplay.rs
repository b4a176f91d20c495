//! Autoplay: when the queue runs out, a track related to what played is queued and plays
//! (the rules are [`crate::domain::autoplay`]); and what a guild played (`/history`, and the
//! tracks autoplay never picks again), kept in the store apart from the player.

use std::collections::HashSet;
use std::sync::Arc;

use crate::audio::Loaded;
use crate::domain::autoplay::{identity, pick, queries, seed_after, Seed};
use crate::domain::{GuildId, Played, Track};

use super::{Announcement, PlayerError, PlayerService};

impl PlayerService {
    /// Turns autoplay on or off for the guild's player (saved with it). Errors:
    /// [`PlayerError::NotConnected`] without a player.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn set_autoplay(&self, guild: GuildId, on: bool) -> Result<(), PlayerError> {
        let g = self.existing(guild).ok_or(PlayerError::NotConnected)?;
        let mut g = g.lock().await;
        g.state.autoplay.on = on;
        self.save(&mut g, false);
        Ok(())
    }

    /// The queue ran out after `finished` with autoplay on: finds a related track and plays
    /// it, marked as autoplayed, keeping the seed it came from in the player's state; or tells
    /// the channel once that nothing new was found. The node is asked without holding the
    /// guild's player, so commands are answered meanwhile; the pick is dropped when anything
    /// happened to the player in between (a new play, a `/stop`, `/leave`, autoplay turned off).
    pub(super) async fn autoplay_after(&self, guild: GuildId, finished: Track) {
        let Some(player) = self.existing(guild) else {
            return;
        };
        let (seeds, mut recent, play_id) = {
            let g = player.lock().await;
            if !g.state.autoplay.on || g.queue.current().is_some() {
                return;
            }
            let saved = seed_after(&finished, g.state.autoplay.seed.as_ref());
            let mut seeds = vec![saved.clone()];
            if saved != Seed::of(&finished) {
                // The saved seed's related tracks may all be played: then go on from the last.
                seeds.push(Seed::of(&finished));
            }
            let mut recent: HashSet<String> = g.queue.history().map(identity).collect();
            recent.insert(identity(&finished));
            (seeds, recent, g.play_id)
        };
        for p in self.played(guild, self.inner.config.history_max).await {
            recent.insert(identity(&p.track));
        }
        let found = self.related(guild, &seeds, &recent).await;
        let mut g = player.lock().await;
        // Still the guild's player (a /leave or an end removes it under its lock).
        let current = self
            .existing(guild)
            .is_some_and(|p| Arc::ptr_eq(&p, &player));
        let unchanged = current
            && g.play_id == play_id
            && g.queue.current().is_none()
            && g.state.autoplay.on
            && g.voice.is_some();
        if !unchanged {
            tracing::debug!(
                guild,
                "the player changed while autoplay looked; its pick is dropped"
            );
            if current && g.play_id == play_id && g.queue.current().is_none() {
                // Only autoplay was turned off meanwhile: the queue ended as it would have.
                self.inner.announcer.announce(
                    guild,
                    g.state.text_channel_id,
                    Announcement::QueueEnded,
                );
                self.save(&mut g, true);
            }
            return;
        }
        let Some((next, seed)) = found else {
            tracing::info!(guild, after = %finished.title, "autoplay found nothing new to play");
            self.inner.announcer.announce(
                guild,
                g.state.text_channel_id,
                Announcement::AutoplayFoundNothing { after: finished },
            );
            self.save(&mut g, true);
            return;
        };
        let mut queue = g.queue.clone();
        if queue.append(vec![next]).is_err() {
            return;
        }
        queue.start();
        tracing::info!(guild, title = %queue.current().map_or("", |t| t.title.as_str()), seed = %seed.title, "autoplay queued a related track");
        g.state.autoplay.seed = Some(seed);
        match self.switch_to(&mut g, queue).await {
            // Started by itself: the channel is told once it is heard.
            Ok(Some(_)) => g.now_playing_due = true,
            Ok(None) => {}
            Err(e) => tracing::warn!(guild, error = %e, "could not start autoplay's track"),
        }
    }

    /// The first track related to one of `seeds` (in order) that autoplay may play, marked as
    /// autoplayed, and the seed it came from.
    async fn related(
        &self,
        guild: GuildId,
        seeds: &[Seed],
        recent: &HashSet<String>,
    ) -> Option<(Track, Seed)> {
        for seed in seeds {
            for query in queries(seed, &self.inner.config.search_prefix) {
                let found = match self.inner.backend.load(&query).await {
                    Ok(Loaded::Playlist { tracks, .. } | Loaded::Search(tracks)) => tracks,
                    Ok(Loaded::Track(t)) => vec![t],
                    Ok(Loaded::Empty | Loaded::Failed { .. }) => continue,
                    Err(e) => {
                        tracing::warn!(guild, query, error = %e, "autoplay could not load related tracks");
                        continue;
                    }
                };
                if let Some(next) = pick(&found, seed, recent) {
                    let mut next = next.clone();
                    next.autoplay = true;
                    next.requester = None;
                    next.start_ms = None;
                    return Some((next, seed.clone()));
                }
            }
        }
        None
    }

    /// How many played tracks are kept per guild (`HISTORY_MAX_LENGTH`): what `/history`
    /// lists and autoplay never repeats.
    pub fn history_max(&self) -> usize {
        self.inner.config.history_max
    }

    /// What the guild played, newest first, at most `limit` (empty without a store or when it
    /// cannot be read: logged).
    pub async fn played(&self, guild: GuildId, limit: usize) -> Vec<Played> {
        let Some(a) = &self.inner.autosave else {
            return vec![];
        };
        match a.store().load_played(guild, limit).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(guild, error = %e, "could not read what the guild played");
                vec![]
            }
        }
    }

    /// Keeps that `track` started playing in `guild` at `started_at_ms` (Unix ms), in the
    /// background (a failure is logged). Called once per new play that was heard (not for a
    /// restore, rebuild or heal of one already kept, nor a track that failed as it started).
    /// Nothing is written while this instance may not act (its lease is fenced).
    pub(super) fn record_played(&self, guild: GuildId, track: &Track, started_at_ms: u64) {
        let Some(a) = &self.inner.autosave else {
            return;
        };
        if !a.may_write() {
            return;
        }
        let store = a.store().clone();
        let keep = self.inner.config.history_max.max(1);
        let mut track = track.clone();
        track.start_ms = None;
        let played = Played {
            played_at_ms: started_at_ms,
            track,
        };
        tokio::spawn(async move {
            if let Err(e) = store.record_played(guild, &played, keep).await {
                tracing::warn!(guild, error = %e, "could not keep what the guild played");
            }
        });
    }

    /// After a restore: keeps `track` (started at `started_at_ms`) in what the guild played
    /// unless it is already the newest entry there (the previous owner kept it).
    pub(super) fn keep_played_if_missing(&self, guild: GuildId, track: &Track, started_at_ms: u64) {
        let Some(a) = &self.inner.autosave else {
            return;
        };
        let (store, me, track) = (a.store().clone(), self.clone(), track.clone());
        tokio::spawn(async move {
            match store.load_played(guild, 1).await {
                Ok(newest)
                    if newest
                        .first()
                        .is_some_and(|p| identity(&p.track) == identity(&track)) => {}
                Ok(_) => me.record_played(guild, &track, started_at_ms),
                Err(e) => tracing::warn!(guild, error = %e, "could not read what the guild played"),
            }
        });
    }
}
