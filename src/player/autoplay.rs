//! Autoplay: when the queue runs out, a track related to what played is queued and plays
//! (the rules are [`crate::domain::autoplay`]); and what a guild played (`/history`, and the
//! tracks autoplay never picks again), kept in the store apart from the player.

use std::collections::HashSet;

use crate::audio::Loaded;
use crate::domain::autoplay::{identity, pick, queries, seed_after, Seed};
use crate::domain::{now_ms, GuildId, Played, Queue, Track};

use super::state::GuildPlayer;
use super::{PlayerError, PlayerService};

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

    /// With autoplay on, the queue `queue` (which ran out after `finished`) with a related
    /// track queued and current, marked as autoplayed; the seed it came from is kept in the
    /// player's state. `None` when autoplay is off or found nothing new.
    pub(super) async fn autoplay_queue(
        &self,
        g: &mut GuildPlayer,
        queue: &Queue,
        finished: &Track,
    ) -> Option<Queue> {
        if !g.state.autoplay.on {
            return None;
        }
        let guild = g.state.guild_id;
        let saved = seed_after(finished, g.state.autoplay.seed.as_ref());
        let mut seeds = vec![saved.clone()];
        if saved != Seed::of(finished) {
            // The saved seed's related tracks are all played: go on from the last track.
            seeds.push(Seed::of(finished));
        }
        let recent = self.recent_keys(guild, queue, finished).await;
        for seed in seeds {
            for query in queries(&seed, &self.inner.config.search_prefix) {
                let found = match self.inner.backend.load(&query).await {
                    Ok(Loaded::Playlist { tracks, .. } | Loaded::Search(tracks)) => tracks,
                    Ok(Loaded::Track(t)) => vec![t],
                    Ok(Loaded::Empty | Loaded::Failed { .. }) => continue,
                    Err(e) => {
                        tracing::warn!(guild, query, error = %e, "autoplay could not load related tracks");
                        continue;
                    }
                };
                let Some(next) = pick(&found, &seed, &recent) else {
                    continue;
                };
                let mut next = next.clone();
                next.autoplay = true;
                next.requester = None;
                next.start_ms = None;
                let mut out = queue.clone();
                if out.append(vec![next]).is_err() {
                    return None;
                }
                out.start();
                tracing::info!(guild, title = %out.current().map_or("", |t| t.title.as_str()), seed = %seed.title, "autoplay queued a related track");
                g.state.autoplay.seed = Some(seed);
                return Some(out);
            }
        }
        tracing::info!(guild, after = %finished.title, "autoplay found nothing new to play");
        None
    }

    /// The [`identity`] keys of what the guild played lately (the store's last
    /// `HISTORY_MAX_LENGTH`), of the queue's own history and of `finished`.
    async fn recent_keys(
        &self,
        guild: GuildId,
        queue: &Queue,
        finished: &Track,
    ) -> HashSet<String> {
        let mut keys: HashSet<String> = queue.history().map(identity).collect();
        keys.insert(identity(finished));
        for p in self.played(guild, self.inner.config.history_max).await {
            keys.insert(identity(&p.track));
        }
        keys
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

    /// Keeps that `track` started playing in `guild`, in the background (a failure is
    /// logged). A play of the track that was kept last, within its length, is the same play
    /// started again (a restore) and is not kept twice. Nothing is written while this
    /// instance may not act (its lease is fenced).
    pub(super) fn record_played(&self, guild: GuildId, track: &Track) {
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
        let now = now_ms();
        tokio::spawn(async move {
            if let Ok(last) = store.load_played(guild, 1).await {
                let same_play = last.first().is_some_and(|p| {
                    identity(&p.track) == identity(&track)
                        && now.saturating_sub(p.played_at_ms)
                            < track.known_length_ms().unwrap_or(0) + 60_000
                });
                if same_play {
                    return;
                }
            }
            let played = Played {
                played_at_ms: now,
                track,
            };
            if let Err(e) = store.record_played(guild, &played, keep).await {
                tracing::warn!(guild, error = %e, "could not keep what the guild played");
            }
        });
    }
}
