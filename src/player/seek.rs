//! Moving within the current track: `/seek`, `/replay`, `/forward` and `/rewind` (and their
//! buttons). The rule for where a seek may go is [`crate::domain::Track::seek_target`].

use crate::audio::PlayerPatch;
use crate::domain::{GuildId, Track};

use super::{PlayerError, PlayerService};

impl PlayerService {
    /// Seeks to an absolute position (ms).
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn seek(&self, guild: GuildId, position_ms: u64) -> Result<u64, PlayerError> {
        let (position, _) = self.seek_with(guild, |_| position_ms as i64).await?;
        Ok(position)
    }

    /// Plays the current track again from its beginning; returns it.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn replay(&self, guild: GuildId) -> Result<Track, PlayerError> {
        let (_, track) = self.seek_with(guild, |_| 0).await?;
        Ok(track)
    }

    /// Seeks forward (positive) or back (negative) by `delta_ms`.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn seek_by(&self, guild: GuildId, delta_ms: i64) -> Result<u64, PlayerError> {
        let (position, _) = self.seek_with(guild, |now| now as i64 + delta_ms).await?;
        Ok(position)
    }

    /// `/forward` and `/rewind`: like [`PlayerService::seek_by`], but going back further than
    /// the start goes to the start.
    #[tracing::instrument(skip_all, fields(guild = guild))]
    pub async fn jump(&self, guild: GuildId, delta_ms: i64) -> Result<u64, PlayerError> {
        let (position, _) = self
            .seek_with(guild, |now| (now as i64 + delta_ms).max(0))
            .await?;
        Ok(position)
    }

    /// Seeks the current track to `target(position now)` (ms; refused outside the track);
    /// returns the position and the track.
    async fn seek_with(
        &self,
        guild: GuildId,
        target: impl FnOnce(u64) -> i64,
    ) -> Result<(u64, Track), PlayerError> {
        self.with_current(guild, async |me, g, current| {
            let wanted = target(g.position_now());
            let position = current.seek_target(wanted).map_err(PlayerError::Seek)?;
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
            Ok((position, current))
        })
        .await
    }
}
