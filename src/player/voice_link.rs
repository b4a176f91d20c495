//! Discord's side of a guild's voice connection, as the player service needs it to heal voice:
//! asking for voice again and rejoining. The Discord layer implements it (songbird and the
//! gateway pacer); the service only sees [`VoiceConnection`]s.

use async_trait::async_trait;

use crate::audio::VoiceConnection;
use crate::domain::GuildId;

/// Why Discord did not give the bot a voice connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// Discord did not answer the voice state update (op 4) in time: a full channel, a missing
    /// permission the cache did not show, or an outage. Nothing of the attempt is kept.
    #[error("Discord did not answer the voice join in time")]
    NoAnswer,
    /// The gateway would not take the request (the shard is not connected).
    #[error("the voice join could not be sent: {0}")]
    Failed(String),
}

/// Asks Discord for voice on the player service's behalf.
#[async_trait]
pub trait VoiceLink: Send + Sync {
    /// Asks for voice in `channel` again (op 4 for the channel the bot is in), which gives a
    /// fresh voice session, token and endpoint.
    async fn request_again(
        &self,
        guild: GuildId,
        channel: u64,
    ) -> Result<VoiceConnection, JoinError>;

    /// Leaves voice in `guild` and joins `channel` again.
    async fn rejoin(&self, guild: GuildId, channel: u64) -> Result<VoiceConnection, JoinError>;

    /// Leaves voice in `guild` (the player ended while a step was joining).
    async fn leave(&self, guild: GuildId);
}
