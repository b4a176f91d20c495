//! Queue commands: /queue, /nowplaying, /shuffle, /remove, /move, /clear.

use super::*;

/// Shows the queue.
#[poise::command(slash_command, guild_only)]
pub(super) async fn queue(
    ctx: Context<'_>,
    #[description = "Page number"]
    #[min = 1]
    page: Option<usize>,
) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let Some(view) = ctx.data().service.view(guild).await else {
        return say(ctx, texts::NOTHING_PLAYING).await;
    };
    let pages = texts::pages(view.upcoming.len());
    let page = page.unwrap_or(1);
    if page > pages {
        return Err(CommandError::Refused(texts::page_out_of_range(pages)));
    }
    let reply = CreateReply::default()
        .embed(buttons::queue_embed(&view, page))
        .components(buttons::queue_buttons(page, pages));
    send(ctx, reply).await
}

/// Shows what is playing.
#[poise::command(slash_command, guild_only)]
pub(super) async fn nowplaying(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let view = ctx.data().service.view(guild).await;
    let Some(view) = view.filter(|v| v.current.is_some()) else {
        return say(ctx, texts::NOTHING_PLAYING).await;
    };
    let reply = CreateReply::default()
        .embed(buttons::now_playing_embed(&view))
        .components(buttons::now_playing_buttons(&view));
    send(ctx, reply).await
}

/// Shuffles the queue.
#[poise::command(slash_command, guild_only)]
pub(super) async fn shuffle(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let n = ctx.data().service.shuffle(guild).await?;
    confirm(ctx, guild, texts::shuffled(n)).await
}

/// Removes a track from the queue.
#[poise::command(slash_command, guild_only)]
pub(super) async fn remove(
    ctx: Context<'_>,
    #[description = "Queue position"]
    #[min = 1]
    position: usize,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, requester_of(ctx, guild, Some(position)).await).await?;
    let t = ctx.data().service.remove(guild, position).await?;
    confirm(ctx, guild, texts::removed(&t)).await
}

/// Moves a track in the queue.
#[poise::command(slash_command, guild_only, rename = "move")]
pub(super) async fn move_cmd(
    ctx: Context<'_>,
    #[description = "Position of the track"]
    #[min = 1]
    from: usize,
    #[description = "Where it goes"]
    #[min = 1]
    to: usize,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    ctx.data().service.move_track(guild, from, to).await?;
    confirm(ctx, guild, texts::moved(from, to)).await
}

/// Empties the queue (the current track keeps playing).
#[poise::command(slash_command, guild_only)]
pub(super) async fn clear(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    let n = ctx.data().service.clear(guild).await?;
    confirm(ctx, guild, texts::cleared(n)).await
}
