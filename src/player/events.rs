//! Reacting to the audio server's events: position updates, tracks that start (announced once
//! heard), end or fail (moving on to the next one, or stopping after quick failures in a row),
//! lost players and nodes that come back.

use std::time::Duration;

use crate::audio::{BackendEvent, EndKind, PlayerPatch, TrackRef};
use crate::domain::voice_health::Observation;
use crate::domain::{now_ms, AfterFailure, EndReason, GuildId, Track, VoiceFault, VoiceHealth};

use super::state::GuildPlayer;
use super::{Announcement, PlayerService};
use crate::sync::LockExt;

/// How long after Lavalink's TrackStartEvent a track the queue moved on to is taken as heard
/// and announced, unless a `playerUpdate` shows it moving sooner. lavaplayer starts a track
/// before it loads it, so a track that cannot be played fails within moments of its start: it
/// is reported once, as failed, never as "now playing".
pub const NOW_PLAYING_GRACE: Duration = Duration::from_secs(2);

impl PlayerService {
    /// Reacts to what the audio server reports.
    pub async fn handle_event(&self, event: BackendEvent) {
        match event {
            BackendEvent::PlayerUpdate {
                guild,
                time_ms,
                position_ms,
                connected,
            } => {
                self.player_update(guild, time_ms, position_ms, connected)
                    .await
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
            BackendEvent::NodeLost { guilds } => {
                for guild in guilds {
                    if let Some(g) = self.existing(guild) {
                        let mut g = g.lock().await;
                        let heard = g.position_now();
                        g.stall(heard);
                        g.node_lost = true;
                        self.save(&mut g, false);
                    }
                }
            }
            BackendEvent::NodeReady { .. } => {
                let pending: Vec<GuildId> = self.inner.pending_rebuild.locked().drain().collect();
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
                if let Some(g) = self.existing(guild) {
                    let mut g = g.lock().await;
                    let heard = g.position_now();
                    self.suspect(&mut g, VoiceFault::Closed(code), heard);
                }
            }
            BackendEvent::TrackStarted { guild, track } => self.track_started(guild, &track).await,
        }
    }

    /// Lavalink started the play `track`: a start of a play we left (skipped, replaced) is
    /// ignored. A track the queue moved on to is announced once it is heard
    /// ([`PlayerService::confirm_now_playing`]).
    async fn track_started(&self, guild: GuildId, track: &TrackRef) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let mut g = g.lock().await;
        let Some(current) = g.queue.current() else {
            return;
        };
        if !track.is(&current.encoded, g.play_id) || g.play.started_at_ms.is_some() {
            return;
        }
        g.play.started_at_ms = Some(now_ms());
        if g.now_playing_due || g.play.fresh {
            let (me, play_id) = (self.clone(), g.play_id);
            tokio::spawn(async move {
                tokio::time::sleep(NOW_PLAYING_GRACE).await;
                me.confirm_heard(guild, play_id).await;
            });
        }
    }

    /// The play `play_id` started [`NOW_PLAYING_GRACE`] ago: unless it failed, was left or was
    /// announced meanwhile, it is heard now.
    async fn confirm_heard(&self, guild: GuildId, play_id: u64) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let mut g = g.lock().await;
        if g.play_id == play_id {
            self.heard(&mut g);
        }
    }

    /// The current play is heard: "now playing" is posted if it is due, and a new play is kept
    /// in what the guild played (once; a track that fails as it starts is never kept).
    fn heard(&self, g: &mut GuildPlayer) {
        self.announce_now_playing(g);
        let current = g.queue.current().cloned();
        self.keep_played(g, current.as_ref());
    }

    /// Keeps `track`, the current play's track, in what the guild played if the play is new
    /// and started (once).
    pub(super) fn keep_played(&self, g: &mut GuildPlayer, track: Option<&Track>) {
        let Some(started) = g.play.started_at_ms else {
            return;
        };
        if let Some(track) = track.filter(|_| std::mem::take(&mut g.play.fresh)) {
            self.record_played(g.state.guild_id, track, started);
        }
    }

    /// Posts "now playing" for the current play if it is due and the play has started.
    fn announce_now_playing(&self, g: &mut GuildPlayer) {
        if !g.now_playing_due || g.play.started_at_ms.is_none() {
            return;
        }
        let Some(current) = g.queue.current().cloned() else {
            return;
        };
        g.now_playing_due = false;
        self.inner.announcer.announce(
            g.state.guild_id,
            g.state.text_channel_id,
            Announcement::NowPlaying(current),
        );
    }

    /// The audio server's position of a guild's track (`position_ms` as of `time_ms`), and
    /// whether its voice is `connected`: fed to the silence watch.
    async fn player_update(&self, guild: GuildId, time_ms: u64, position_ms: u64, connected: bool) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let mut g = g.lock().await;
        // An update older than the position we pinned (a seek, a new track) was
        // sent before Lavalink applied it: it would move the position back.
        if g.queue.current().is_none() || time_ms < g.state.position_at_ms {
            return;
        }
        if g.node_lost {
            // The node answers again (its session resumed, its players kept playing):
            // Lavalink's position is the truth again, unless the voice itself is broken.
            g.node_lost = false;
            if matches!(g.health, VoiceHealth::Connected) {
                g.state.stalled = false;
            }
        }
        if !g.state.stalled {
            g.state.position_ms = position_ms;
            g.state.position_at_ms = time_ms;
            self.save(&mut g, false);
        }
        if position_ms > g.play.from_ms {
            // The started play moves: it is heard.
            self.heard(&mut g);
        }
        if g.voice_sent && g.health.accepts_fault() {
            let expect_motion = !g.state.paused;
            let timeout = self.inner.config.silence_timeout.as_millis() as u64;
            if let Observation::Fault(fault) =
                g.silence
                    .observe(position_ms, connected, expect_motion, now_ms(), timeout)
            {
                self.suspect(&mut g, fault, position_ms);
            }
        }
    }

    /// Moves on after the current track (`encoded`) ended or failed; a failure may end a
    /// [`crate::domain::FailureStreak`] with [`PlayerService::stop_after_failures`].
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
        g.now_playing_due = false;
        if reason == EndReason::Failed {
            // Not heard (it failed before it was): never kept as played.
            g.play.fresh = false;
            let played_ms = g.play.played_ms(now_ms());
            if let AfterFailure::Stop { failures } = g.failures.failed(played_ms) {
                tracing::warn!(title = %current.title, reason = ?failure, failures, "tracks keep failing right after they start; stopping");
                self.stop_after_failures(&mut g, failures, failure).await;
                return;
            }
        } else {
            g.failures.reset();
            // A track shorter than the grace was heard to its end.
            if reason == EndReason::Finished {
                self.heard(&mut g);
            }
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
            if g.state.autoplay.on {
                // Saved once autoplay picked (or found nothing): a crash meanwhile restores
                // the track that ended, which ends again and autoplay looks again.
                drop(g);
                self.autoplay_after(guild, current).await;
                return;
            }
            self.inner
                .announcer
                .announce(guild, g.state.text_channel_id, Announcement::QueueEnded);
            self.save(&mut g, true);
            return;
        }
        match self.switch_to(&mut g, queue).await {
            // Started by itself: the channel is told once it is heard (a command's own reply
            // says it otherwise).
            Ok(Some(_)) => g.now_playing_due = true,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not start the next track"),
        }
    }

    /// Tracks failed `failures` times in a row right after they started: the player stops
    /// (the failed track is set aside, Lavalink plays nothing), the upcoming tracks stay queued
    /// and saved for `/skip` or `/play`, and the channel gets one summary with `last_error`.
    async fn stop_after_failures(
        &self,
        g: &mut GuildPlayer,
        failures: u32,
        last_error: Option<String>,
    ) {
        let guild = g.state.guild_id;
        // A stuck track is still loaded (Lavalink leaves that to the client).
        let stop = PlayerPatch {
            track: Some(None),
            ..PlayerPatch::default()
        };
        if let Err(e) = self.send(g, stop).await {
            tracing::warn!(guild, error = %e, "could not stop the failing track");
        }
        let kept = g.queue.halt();
        g.set_position(0);
        self.inner.announcer.announce(
            guild,
            g.state.text_channel_id,
            Announcement::StoppedAfterFailures {
                failures,
                last_error,
                kept,
            },
        );
        self.save(g, true);
    }
}

/// The guild an event is about, if it is about one.
pub(super) fn event_guild(event: &BackendEvent) -> Option<GuildId> {
    match event {
        BackendEvent::TrackStarted { guild, .. }
        | BackendEvent::TrackEnded { guild, .. }
        | BackendEvent::TrackException { guild, .. }
        | BackendEvent::TrackStuck { guild, .. }
        | BackendEvent::PlayerUpdate { guild, .. }
        | BackendEvent::VoiceClosed { guild, .. } => Some(*guild),
        BackendEvent::NodeReady { .. }
        | BackendEvent::PlayersLost { .. }
        | BackendEvent::NodeLost { .. } => None,
    }
}
