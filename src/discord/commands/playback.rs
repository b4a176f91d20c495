//! Playback commands: /play (with autocomplete), /pause, /resume, /skip, /previous, /stop, /seek,
//! /volume, /loop, /filter.

use super::*;
use crate::domain::vote::SkipVote;
use crate::domain::{parse_seek, parse_time, SeekTo};

/// The top search results while typing a `/play` query: each choice plays that exact track.
pub(super) async fn autocomplete_query(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let choices = if partial.starts_with("http://") || partial.starts_with("https://") {
        vec![]
    } else {
        ctx.data()
            .service
            .search(partial, 5)
            .await
            .into_iter()
            .filter_map(|t| {
                let value = t.uri.clone().filter(|u| u.chars().count() <= 100)?;
                let name: String = format!("{} — {}", t.title, t.author)
                    .chars()
                    .take(100)
                    .collect();
                Some(serenity::AutocompleteChoice::new(name, value))
            })
            .collect()
    };
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// Plays a song or playlist, or adds it to the queue.
#[poise::command(slash_command, guild_only)]
pub(super) async fn play(
    ctx: Context<'_>,
    #[description = "A link, or words to search for"]
    #[max_length = 500]
    #[autocomplete = "autocomplete_query"]
    query: String,
    #[description = "Play it right after the current track"] next: Option<bool>,
    #[description = "Start at this time: 1:23, 83 (seconds) or 1m23s (overrides t= in a link)"]
    #[max_length = 12]
    start: Option<String>,
) -> Result<(), Error> {
    if query.chars().count() > MAX_QUERY_LEN {
        return Err(crate::player::PlayerError::QueryTooLong { max: MAX_QUERY_LEN }.into());
    }
    let start_ms = start
        .map(|s| parse_time(&s).ok_or_else(|| CommandError::Refused(texts::BAD_START.into())))
        .transpose()?;
    // Refuse at once (ephemerally) when the member cannot use the player; loading may take a
    // moment, so defer before joining and searching.
    let target = voice_target(ctx, true).await?;
    ctx.defer()
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    let guild = enter_voice(ctx, target).await?;
    let data = ctx.data();
    data.service
        .set_text_channel(guild, ctx.channel_id().get())
        .await;
    let out = data
        .service
        .play_from(
            guild,
            &query,
            Some(ctx.author().id.get()),
            next.unwrap_or(false),
            start_ms,
        )
        .await?;
    confirm(ctx, guild, texts::played(&out)).await
}

/// Pauses the music.
#[poise::command(slash_command, guild_only)]
pub(super) async fn pause(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    ctx.data().service.pause(guild).await?;
    confirm(ctx, guild, texts::PAUSED).await
}

/// Resumes the music.
#[poise::command(slash_command, guild_only)]
pub(super) async fn resume(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    ctx.data().service.resume(guild).await?;
    confirm(ctx, guild, texts::RESUMED).await
}

/// Skips to the next track, or to a position in the queue.
#[poise::command(slash_command, guild_only)]
pub(super) async fn skip(
    ctx: Context<'_>,
    #[description = "Queue position to skip to"]
    #[min = 1]
    to: Option<usize>,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let member = ctx.author_member().await;
    if to.is_some() {
        // Skipping over others' tracks is the DJ's; while vote-skip counts, a member's skip
        // is a vote for the current track only.
        require_dj(ctx, None).await?;
        let at_once = crate::discord::votes::skips_at_once(
            ctx.serenity_context().cache.as_ref(),
            ctx.data(),
            guild,
            member.as_deref(),
        )
        .await;
        if !at_once {
            return Err(CommandError::Refused(texts::SKIP_TO_NEEDS_DJ.into()));
        }
        let switched = ctx.data().service.skip(guild, to).await?;
        return confirm(ctx, guild, texts::skipped(&switched)).await;
    }
    let vote = crate::discord::votes::skip_vote(
        ctx.serenity_context().cache.as_ref(),
        ctx.data(),
        guild,
        member.as_deref(),
        ctx.author().id.get(),
    )
    .await?;
    if !matches!(vote, SkipVote::Skip { .. }) {
        return say(ctx, texts::skip_vote(vote)).await;
    }
    let switched = ctx.data().service.skip(guild, None).await?;
    let text = format!(
        "{}{}",
        texts::skip_votes_note(vote),
        texts::skipped(&switched)
    );
    confirm(ctx, guild, text).await
}

/// Goes back to the previous track.
#[poise::command(slash_command, guild_only)]
pub(super) async fn previous(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let switched = ctx.data().service.previous(guild).await?;
    confirm(ctx, guild, texts::back_to(&switched)).await
}

/// Stops the music, clears the queue and forgets this server's player.
#[poise::command(slash_command, guild_only)]
pub(super) async fn stop(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    ctx.data().service.stop(guild).await?;
    confirm(ctx, guild, texts::STOPPED).await
}

/// Jumps to a time in the track: 1:23, 83, 1m23s, +10 or -15.
#[poise::command(slash_command, guild_only)]
pub(super) async fn seek(
    ctx: Context<'_>,
    #[description = "1:23, 83 (seconds), 1m23s, +10 or -15"]
    #[max_length = 12]
    time: String,
) -> Result<(), Error> {
    let to = parse_seek(&time).ok_or_else(|| CommandError::Refused(texts::BAD_SEEK.into()))?;
    let guild = in_voice(ctx, false).await?;
    let service = &ctx.data().service;
    let at = match to {
        SeekTo::By(ms) => service.seek_by(guild, ms).await?,
        SeekTo::At(ms) => service.seek(guild, ms).await?,
    };
    say(ctx, texts::jumped_to(at)).await
}

/// Sets the volume, from 0 to 200 (100 is unchanged).
#[poise::command(slash_command, guild_only)]
pub(super) async fn volume(
    ctx: Context<'_>,
    #[description = "0 to 200"]
    #[min = 0]
    #[max = 200]
    level: u16,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    ctx.data().service.set_volume(guild, level).await?;
    confirm(ctx, guild, texts::volume_set(level)).await
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
enum LoopChoice {
    #[name = "off"]
    Off,
    #[name = "track"]
    Track,
    #[name = "queue"]
    Queue,
}

/// Repeats the track or the queue, or stops repeating.
#[poise::command(slash_command, guild_only, rename = "loop")]
pub(super) async fn loop_cmd(
    ctx: Context<'_>,
    #[description = "off, track or queue"] mode: LoopChoice,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    let mode = match mode {
        LoopChoice::Off => LoopMode::Off,
        LoopChoice::Track => LoopMode::Track,
        LoopChoice::Queue => LoopMode::Queue,
    };
    ctx.data().service.set_loop(guild, mode).await;
    confirm(ctx, guild, texts::loop_mode(mode)).await
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
enum FilterChoice {
    #[name = "off"]
    Off,
    #[name = "bassboost"]
    Bassboost,
    #[name = "nightcore"]
    Nightcore,
    #[name = "vaporwave"]
    Vaporwave,
    #[name = "8d"]
    EightD,
    #[name = "karaoke"]
    Karaoke,
}

/// Applies an audio filter.
#[poise::command(slash_command, guild_only)]
pub(super) async fn filter(
    ctx: Context<'_>,
    #[description = "The filter"] preset: FilterChoice,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    let preset = match preset {
        FilterChoice::Off => FilterPreset::Off,
        FilterChoice::Bassboost => FilterPreset::Bassboost,
        FilterChoice::Nightcore => FilterPreset::Nightcore,
        FilterChoice::Vaporwave => FilterPreset::Vaporwave,
        FilterChoice::EightD => FilterPreset::EightD,
        FilterChoice::Karaoke => FilterPreset::Karaoke,
    };
    ctx.data().service.set_filters(guild, preset).await?;
    confirm(ctx, guild, texts::filter_set(preset)).await
}
