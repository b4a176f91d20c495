//! Voice channel commands: /join and /leave.

use super::*;

/// Leaves the voice channel and forgets this server's player.
#[poise::command(slash_command, guild_only)]
pub(super) async fn leave(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let data = ctx.data();
    data.service.leave(guild).await?;
    voice::leave(&data.songbird, guild)
        .await
        .map_err(CommandError::Internal)?;
    confirm(ctx, guild, texts::LEFT).await
}

/// Joins your voice channel.
#[poise::command(slash_command, guild_only, rename = "join")]
pub(super) async fn join_cmd(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let Some(channel) = voice_channel_of(ctx, ctx.author().id) else {
        return Err(CommandError::Refused(texts::JOIN_VOICE_FIRST.into()));
    };
    check_can_join(ctx.serenity_context(), ctx.data(), guild, channel)?;
    join_here(ctx, guild, channel).await?;
    say(ctx, texts::joined(channel)).await
}
