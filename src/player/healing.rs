//! Healing a guild's voice: a fault (a closed voice socket, `connected: false`, a position that
//! stands still, a voice server that never came) starts the ladder of
//! [`crate::domain::voice_health::heal_ladder`], one step at a time, each checked against what
//! Lavalink reports; when every step failed the player is paused, kept (and saved), and the text
//! channel is told once.
//!
//! The position is kept exactly: from the fault on it stays where listeners stopped hearing
//! ([`GuildPlayer::stall`]), a step that keeps the Lavalink player (resend, re-request, rejoin)
//! lets it go on from there, and a move to another node starts the track there.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::state::{next_play_id, GuildPlayer};
use super::{Announcement, PlayerService, VoiceEnd};
use crate::audio::PlayerPatch;
use crate::domain::voice_health::heal_ladder;
use crate::domain::{now_ms, GuildId, HealStep, PauseReason, VoiceFault, VoiceHealth};

/// How long a step has to bring the audio back (Lavalink connects a voice socket in well under a
/// second when Discord's voice server answers).
const VERIFY_WITHIN: Duration = Duration::from_secs(4);
/// How often Lavalink is asked while checking.
const PROBE_EVERY: Duration = Duration::from_millis(200);
/// Before a step: how long to watch for audio that came back by itself.
const PRECHECK_WITHIN: Duration = Duration::from_millis(450);

/// What Lavalink says about a guild's audio.
enum Audio {
    /// Connected, and the position moves (or nothing should move): at this position (ms).
    Back(u64),
    Broken,
    /// The player is gone from the service (left, kicked): nothing to heal.
    Gone,
}

impl PlayerService {
    /// A voice fault seen for `g`: marks it suspect, pins the position at `heard_ms` (where the
    /// audio stopped) and starts healing in the background, unless it is already healing, gave
    /// up, or has no voice to heal.
    pub(super) fn suspect(&self, g: &mut GuildPlayer, fault: VoiceFault, heard_ms: u64) {
        if !fault.needs_healing() || !g.health.accepts_fault() || g.voice.is_none() {
            return;
        }
        let guild = g.state.guild_id;
        tracing::warn!(
            guild,
            fault = fault.as_str(),
            "voice looks broken; healing it"
        );
        g.health = VoiceHealth::Suspect { fault };
        g.stall(heard_ms);
        self.save(g, false);
        let me = self.clone();
        tokio::spawn(async move { me.heal(guild, fault).await });
    }

    /// Discord announced a new voice server for `guild` (a `VOICE_SERVER_UPDATE` whose endpoint
    /// is null): wait for the real one, up to `voice_server_wait`, then heal.
    pub async fn voice_server_pending(&self, guild: GuildId) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let since = now_ms();
        {
            let mut g = g.lock().await;
            if g.voice.is_none() {
                return;
            }
            g.server_pending_since = Some(since);
        }
        tracing::info!(
            guild,
            "Discord is moving the voice connection to a new server"
        );
        let me = self.clone();
        let wait = self.inner.config.voice_server_wait;
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(g) = me.existing(guild) else {
                return;
            };
            let mut g = g.lock().await;
            if g.server_pending_since == Some(since) {
                g.server_pending_since = None;
                let heard = g.position_now();
                me.suspect(&mut g, VoiceFault::ServerNotAllocated, heard);
            }
        });
    }

    /// The ladder for `fault`, step by step; see the module docs.
    #[tracing::instrument(skip_all, fields(guild = guild, fault = fault.as_str()))]
    async fn heal(&self, guild: GuildId, fault: VoiceFault) {
        let started = Instant::now();
        for (step, wait) in heal_ladder(fault, self.inner.backend.node_count()) {
            tokio::time::sleep(wait).await;
            self.wait_for_voice_server(guild).await;
            match self.audio(guild, PRECHECK_WITHIN, true).await {
                Audio::Gone => return,
                Audio::Back(position) => {
                    self.healed(guild, None, started, position).await;
                    return;
                }
                Audio::Broken => {}
            }
            if !self.set_healing(guild, fault, step).await {
                return;
            }
            let result = match self.run_step(guild, step).await {
                Ok(()) => self.audio(guild, VERIFY_WITHIN, false).await,
                Err(e) => {
                    tracing::warn!(step = step.as_str(), error = %e, "voice healing step failed");
                    Audio::Broken
                }
            };
            match result {
                Audio::Gone => return,
                Audio::Back(position) => {
                    self.healed(guild, Some(step), started, position).await;
                    return;
                }
                Audio::Broken => crate::metrics::metrics().voice_heal(step.as_str(), "failed"),
            }
        }
        self.give_up(guild, fault).await;
    }

    async fn set_healing(&self, guild: GuildId, fault: VoiceFault, step: HealStep) -> bool {
        let Some(g) = self.existing(guild) else {
            return false;
        };
        g.lock().await.health = VoiceHealth::Healing { fault, step };
        tracing::info!(step = step.as_str(), "healing voice");
        true
    }

    /// Waits while Discord allocates a new voice server (bounded by `voice_server_wait`).
    async fn wait_for_voice_server(&self, guild: GuildId) {
        let wait_ms = self.inner.config.voice_server_wait.as_millis() as u64;
        loop {
            let pending = match self.existing(guild) {
                Some(g) => g.lock().await.server_pending_since,
                None => None,
            };
            match pending {
                Some(since) if now_ms() < since + wait_ms => {
                    tokio::time::sleep(PROBE_EVERY).await;
                }
                _ => return,
            }
        }
    }

    /// Carries out one step.
    async fn run_step(&self, guild: GuildId, step: HealStep) -> Result<(), String> {
        let g = self.existing(guild).ok_or("the player is gone")?;
        match step {
            HealStep::Resend => {
                let mut g = g.lock().await;
                g.voice.as_ref().ok_or("no voice state to send")?;
                self.send_voice_again(&mut g).await?;
            }
            HealStep::Rerequest | HealStep::Rejoin => {
                let link = self
                    .inner
                    .voice_link
                    .get()
                    .cloned()
                    .ok_or("Discord is not connected")?;
                let channel = g
                    .lock()
                    .await
                    .state
                    .voice_channel_id
                    .ok_or("no voice channel")?;
                // Not holding the player: Discord's answers reach it through `update_voice`.
                let voice = if step == HealStep::Rerequest {
                    link.request_again(guild, channel).await
                } else {
                    link.rejoin(guild, channel).await
                }
                .map_err(|e| e.to_string())?;
                // The player ended while Discord answered (a kick, /leave): the bot must not stay.
                if !self
                    .existing(guild)
                    .is_some_and(|now| Arc::ptr_eq(&now, &g))
                {
                    link.leave(guild).await;
                    return Err("the player ended while joining".into());
                }
                let mut g = g.lock().await;
                // Discord's answer may have reached Lavalink already (`update_voice`).
                if g.voice.as_ref() == Some(&voice) && g.voice_sent {
                    g.silence.reset();
                    return Ok(());
                }
                g.state.voice_channel_id = Some(voice.channel_id);
                g.voice = Some(voice);
                self.send_voice_again(&mut g).await?;
            }
            HealStep::MoveNode => {
                if !self
                    .inner
                    .backend
                    .relocate(guild)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Err("no other node is up".into());
                }
                let mut g = g.lock().await;
                g.silence.reset();
                g.voice_sent = false;
                // The whole player, on the new node, from where the audio stopped.
                let position = g.state.position_ms;
                g.begin_play(next_play_id(), position);
                let patch = if g.queue.current().is_some() {
                    g.play_patch(position, true)
                } else {
                    PlayerPatch {
                        volume: Some(g.state.volume),
                        filters: Some(g.state.filters),
                        ..PlayerPatch::default()
                    }
                };
                self.send(&mut g, patch).await.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Hands Lavalink the player's voice state (again).
    async fn send_voice_again(&self, g: &mut GuildPlayer) -> Result<(), String> {
        g.silence.reset();
        g.voice_sent = false;
        self.send(g, PlayerPatch::default())
            .await
            .map_err(|e| e.to_string())
    }

    /// Whether Lavalink plays the guild's audio within `within` (connected, and the position
    /// moving unless paused): what a "back" notice may claim.
    pub async fn audio_is_back(&self, guild: GuildId, within: Duration) -> bool {
        matches!(self.audio(guild, within, false).await, Audio::Back(_))
    }

    /// Asks Lavalink, every [`PROBE_EVERY`] for up to `within`, whether the audio is back:
    /// connected, and (for a player that plays) the position moving. With `quick`, a first
    /// answer of "not connected" is final.
    async fn audio(&self, guild: GuildId, within: Duration, quick: bool) -> Audio {
        let deadline = Instant::now() + within;
        let mut first_position: Option<u64> = None;
        loop {
            let expect_motion = match self.existing(guild) {
                Some(g) => {
                    let g = g.lock().await;
                    if g.voice.is_none() {
                        return Audio::Gone;
                    }
                    g.queue.current().is_some() && !g.state.paused
                }
                None => return Audio::Gone,
            };
            match self.inner.backend.probe(guild).await {
                Ok(Some(p)) if p.connected => {
                    if !expect_motion {
                        return Audio::Back(p.position_ms);
                    }
                    match first_position {
                        Some(first) if p.position_ms != first => return Audio::Back(p.position_ms),
                        Some(_) => {}
                        None => first_position = Some(p.position_ms),
                    }
                }
                Ok(_) if quick && first_position.is_none() => return Audio::Broken,
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "could not ask Lavalink about the player"),
            }
            if Instant::now() + PROBE_EVERY > deadline {
                return Audio::Broken;
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// The audio is back (after `step`, or by itself): the position follows Lavalink's again.
    async fn healed(
        &self,
        guild: GuildId,
        step: Option<HealStep>,
        started: Instant,
        position: u64,
    ) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let mut g = g.lock().await;
        g.health = VoiceHealth::Connected;
        g.silence.reset();
        g.unstall(position);
        self.save(&mut g, false);
        let took = started.elapsed();
        let step = step.map_or("none", HealStep::as_str);
        let m = crate::metrics::metrics();
        m.voice_heal(step, "healed");
        m.voice_heal_seconds.observe(took.as_secs_f64());
        tracing::info!(
            step,
            took_ms = took.as_millis() as u64,
            position,
            "voice healed"
        );
    }

    /// Every step failed: pause, keep the player and its saved state, and say so once (when
    /// something was playing: a player with nothing loaded lost no music).
    async fn give_up(&self, guild: GuildId, fault: VoiceFault) {
        let Some(g) = self.existing(guild) else {
            return;
        };
        let mut g = g.lock().await;
        g.health = VoiceHealth::GivenUp { fault };
        crate::metrics::metrics().voice_heal("all", "given_up");
        tracing::error!(
            guild,
            fault = fault.as_str(),
            "voice could not be healed; the player is paused and kept"
        );
        if g.queue.current().is_none() {
            return;
        }
        if !g.state.paused {
            g.state.pause(PauseReason::VoiceLost);
            let patch = PlayerPatch {
                paused: Some(true),
                ..PlayerPatch::default()
            };
            if let Err(e) = self.inner.backend.update(guild, patch).await {
                tracing::debug!(guild, error = %e, "could not pause the silent player");
            }
        }
        self.save(&mut g, false);
        let channel = g.state.voice_channel_id;
        self.inner.announcer.announce(
            guild,
            g.state.text_channel_id,
            Announcement::VoiceEnded(VoiceEnd::GaveUp { channel }),
        );
    }

    /// A member starts audio (a track, a resume) after healing gave up: heal afresh, and hand
    /// Lavalink the voice state with the next update.
    pub(super) fn rearm(g: &mut GuildPlayer) {
        if matches!(g.health, VoiceHealth::GivenUp { .. }) {
            Self::clear_given_up(g);
            g.voice_sent = false;
        }
    }

    /// A member acted after healing gave up (a join, a resume): start afresh.
    pub(super) fn clear_given_up(g: &mut GuildPlayer) {
        if matches!(g.health, VoiceHealth::GivenUp { .. }) {
            g.health = VoiceHealth::Connected;
            let position = g.position_now();
            g.unstall(position);
            g.silence.reset();
        }
    }
}
