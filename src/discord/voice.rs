//! The bot's own voice I/O through songbird (the voice gateway only; Lavalink sends the audio):
//! join a channel, paced under Discord's gateway limit, and leave one.

use std::time::Duration;

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, GuildId as SGuildId};
use songbird::Songbird;

use super::pacer::Pacer;
use crate::audio::VoiceConnection;
use crate::domain::{shard_of, GuildId};

/// How long one join attempt may take (Discord answers op 4 within a second when it can).
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Joins `channel` through songbird: each attempt takes a gateway slot from the pacer and may
/// take [`JOIN_TIMEOUT`]; attempts back off 1 s, 2 s, …. Returns the four voice values Lavalink
/// needs, with the channel id.
pub async fn join_paced(
    songbird: &Songbird,
    pacer: &Pacer,
    shard_count: u32,
    guild: GuildId,
    channel: u64,
    attempts: u32,
) -> Result<VoiceConnection, String> {
    let shard = shard_of(guild, shard_count);
    let mut last = String::new();
    for attempt in 0..attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        pacer.acquire(shard).await;
        let joined = tokio::time::timeout(
            JOIN_TIMEOUT,
            songbird.join_gateway(SGuildId::new(guild), ChannelId::new(channel)),
        )
        .await;
        match joined {
            Ok(Ok((info, _call))) => {
                return Ok(VoiceConnection {
                    token: info.token,
                    endpoint: info.endpoint,
                    session_id: info.session_id,
                    channel_id: info.channel_id.0.get(),
                })
            }
            Ok(Err(e)) => last = format!("joining voice failed: {e}"),
            Err(_) => last = format!("joining voice took longer than {JOIN_TIMEOUT:?}"),
        }
        tracing::warn!(guild, attempt = attempt + 1, error = %last, "voice join attempt failed");
    }
    Err(last)
}

/// Leaves voice in `guild` (songbird sends op 4 with no channel); an error when the bot was not
/// connected there.
pub async fn leave(songbird: &Songbird, guild: GuildId) -> Result<(), String> {
    songbird
        .remove(SGuildId::new(guild))
        .await
        .map_err(|e| e.to_string())
}

/// Joins `channel` for a member's command: the channel the command came from becomes the
/// player's text channel, and a new player gets the server's default volume.
pub(crate) async fn join(
    shard_count: u32,
    data: &super::Data,
    guild: GuildId,
    channel: u64,
    text_channel: u64,
) -> Result<(), super::CommandError> {
    let voice = join_paced(&data.songbird, &data.pacer, shard_count, guild, channel, 1)
        .await
        .map_err(super::CommandError::Internal)?;
    let fresh = data.service.view(guild).await.is_none();
    data.service
        .connect(guild, voice, Some(text_channel))
        .await?;
    if fresh {
        let volume = data.config(guild).await.default_volume;
        data.service.set_volume(guild, volume).await?;
    }
    Ok(())
}
