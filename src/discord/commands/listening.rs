//! Listener commands: /autoplay, /history, /replay, /forward, /rewind.

use super::*;

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
enum OnOff {
    #[name = "on"]
    On,
    #[name = "off"]
    Off,
}

/// Keeps playing related tracks when the queue runs out, or stops doing so.
#[poise::command(slash_command, guild_only)]
pub(super) async fn autoplay(
    ctx: Context<'_>,
    #[description = "on or off"] mode: OnOff,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    let on = matches!(mode, OnOff::On);
    ctx.data().service.set_autoplay(guild, on).await?;
    confirm(ctx, guild, texts::autoplay_set(on)).await
}

/// Lists what this server played lately, newest first.
#[poise::command(slash_command, guild_only)]
pub(super) async fn history(
    ctx: Context<'_>,
    #[description = "Page number"]
    #[min = 1]
    page: Option<usize>,
) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let data = ctx.data();
    let played = data.service.played(guild, data.service.history_max()).await;
    let pages = texts::history_pages(played.len());
    let page = page.unwrap_or(1);
    if page > pages {
        return Err(CommandError::Refused(texts::page_out_of_range(pages)));
    }
    let reply = CreateReply::default()
        .embed(buttons::history_embed(&played, page))
        .components(buttons::page_buttons("history", page, pages))
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    send(ctx, reply).await
}

/// Plays the current track again from the start.
#[poise::command(slash_command, guild_only)]
pub(super) async fn replay(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let track = ctx.data().service.replay(guild).await?;
    say(ctx, texts::replayed(&track)).await
}

/// Jumps forward in the track (10 seconds unless you say).
#[poise::command(slash_command, guild_only)]
pub(super) async fn forward(
    ctx: Context<'_>,
    #[description = "Seconds to jump forward (10 if left out)"]
    #[min = 1]
    #[max = 86400]
    seconds: Option<u32>,
) -> Result<(), Error> {
    jump(ctx, i64::from(seconds.unwrap_or(10))).await
}

/// Jumps back in the track (10 seconds unless you say).
#[poise::command(slash_command, guild_only)]
pub(super) async fn rewind(
    ctx: Context<'_>,
    #[description = "Seconds to jump back (10 if left out)"]
    #[min = 1]
    #[max = 86400]
    seconds: Option<u32>,
) -> Result<(), Error> {
    jump(ctx, -i64::from(seconds.unwrap_or(10))).await
}

async fn jump(ctx: Context<'_>, seconds: i64) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let at = ctx.data().service.jump(guild, seconds * 1000).await?;
    say(ctx, texts::moved_by(seconds, at)).await
}
