//! Pausing and playing on: a member's pause and resume, and the end of a pause Encore made
//! because nobody listened when a person joins the channel. Why a player is paused is kept with
//! it ([`PauseReason`]).

use crate::audio::PlayerPatch;
use crate::domain::{GuildId, PauseReason};

use super::state::GuildPlayer;
use super::{PlayerError, PlayerService};

impl PlayerService {
    /// A member's pause (`/pause`, the button). A player Encore paused (nobody listening, resume
    /// off, voice lost) becomes a member's pause, which only a member ends.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn pause(&self, guild: GuildId) -> Result<(), PlayerError> {
        self.with_current(guild, async |me, g, _| match g.state.why_paused() {
            Some(PauseReason::Member) => Err(PlayerError::AlreadyPaused),
            Some(_) => {
                g.state.pause(PauseReason::Member);
                me.save(g, false);
                Ok(())
            }
            None => me.set_paused(g, true).await,
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn resume(&self, guild: GuildId) -> Result<(), PlayerError> {
        self.with_current(guild, async |me, g, _| {
            if !g.state.paused {
                return Err(PlayerError::NotPaused);
            }
            me.set_paused(g, false).await
        })
        .await
    }

    /// A person is now in voice channel `channel`: when it is the player's and the player was
    /// paused because nobody listened, it plays again. Returns whether it did.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn listener_joined(&self, guild: GuildId, channel: u64) -> Result<bool, PlayerError> {
        if self.existing(guild).is_none() {
            return Ok(false);
        }
        self.with_current(guild, async |me, g, _| {
            if g.state.voice_channel_id != Some(channel)
                || g.state.why_paused() != Some(PauseReason::NobodyListening)
            {
                return Ok(false);
            }
            me.set_paused(g, false).await?;
            tracing::info!(guild, "a listener joined: playing again");
            Ok(true)
        })
        .await
    }

    /// Pauses (for a member) or plays `g` on the audio server, then records it.
    async fn set_paused(&self, g: &mut GuildPlayer, paused: bool) -> Result<(), PlayerError> {
        let position = g.position_now();
        if !paused {
            // A member tries again after healing gave up: the voice state goes along.
            Self::rearm(g);
        }
        self.send(
            g,
            PlayerPatch {
                paused: Some(paused),
                ..PlayerPatch::default()
            },
        )
        .await?;
        g.set_position(position);
        g.state.set_paused(paused, PauseReason::Member);
        self.save(g, false);
        Ok(())
    }
}
