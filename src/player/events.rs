//! Reacting to the audio server's events: position updates, tracks that end or fail (moving on
//! to the next one), lost players and nodes that come back.

use crate::audio::{BackendEvent, EndKind, TrackRef};
use crate::domain::voice_health::Observation;
use crate::domain::{now_ms, EndReason, GuildId, VoiceFault, VoiceHealth};

use super::{Announcement, PlayerService};
use crate::sync::LockExt;

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
            BackendEvent::TrackStarted { .. } => {}
        }
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
