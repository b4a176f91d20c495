//! Buttons under `/nowplaying` (pause/resume, skip, stop, loop; -10 s, replay, +10 s,
//! autoplay), `/queue`, `/history` and `/lyrics` (pages), and the `/search` menu: every
//! component of ours comes in here (`encore:…` custom ids).

use poise::serenity_prelude as serenity;
use serenity::{
    ButtonStyle, ComponentInteraction, CreateActionRow, CreateButton, CreateEmbed,
    CreateInteractionResponse, CreateInteractionResponseMessage,
};

use super::policy::{self, VoiceRelation};
use super::texts::{self, labels};
use super::{commands, lyrics, CommandError, Data};
use crate::domain::vote::SkipVote;
use crate::domain::{now_ms, LoopMode, Played};
use crate::player::PlayerView;

/// The start of our components' custom ids.
pub const PREFIX: &str = "encore:";
/// The Resume button (also under the notice of a player restored paused).
pub const RESUME_ID: &str = "encore:resume";

pub fn now_playing_embed(view: &PlayerView) -> CreateEmbed {
    CreateEmbed::new()
        .title(labels::NOW_PLAYING)
        .description(texts::now_playing(view))
}

pub fn now_playing_buttons(view: &PlayerView) -> Vec<CreateActionRow> {
    let pause = if view.paused {
        CreateButton::new(RESUME_ID).label(labels::RESUME)
    } else {
        CreateButton::new(format!("{PREFIX}pause")).label(labels::PAUSE)
    };
    vec![
        CreateActionRow::Buttons(vec![
            pause.style(ButtonStyle::Primary),
            CreateButton::new(format!("{PREFIX}skip"))
                .label(labels::SKIP)
                .style(ButtonStyle::Secondary),
            CreateButton::new(format!("{PREFIX}stop"))
                .label(labels::STOP)
                .style(ButtonStyle::Danger),
            CreateButton::new(format!("{PREFIX}loop"))
                .label(labels::loop_mode(view.loop_mode))
                .style(ButtonStyle::Secondary),
        ]),
        CreateActionRow::Buttons(vec![
            CreateButton::new(format!("{PREFIX}rewind"))
                .label(labels::REWIND)
                .style(ButtonStyle::Secondary),
            CreateButton::new(format!("{PREFIX}replay"))
                .label(labels::REPLAY)
                .style(ButtonStyle::Secondary),
            CreateButton::new(format!("{PREFIX}forward"))
                .label(labels::FORWARD)
                .style(ButtonStyle::Secondary),
            CreateButton::new(format!("{PREFIX}autoplay"))
                .label(labels::autoplay(view.autoplay))
                .style(if view.autoplay {
                    ButtonStyle::Success
                } else {
                    ButtonStyle::Secondary
                }),
        ]),
    ]
}

/// How far the -10 s and +10 s buttons jump, in ms.
const QUICK_SEEK_MS: i64 = 10_000;

pub fn queue_embed(view: &PlayerView, page: usize) -> CreateEmbed {
    CreateEmbed::new()
        .title(labels::QUEUE)
        .description(texts::queue_page(view, page))
}

pub fn queue_buttons(page: usize, pages: usize) -> Vec<CreateActionRow> {
    page_buttons("queue", page, pages)
}

pub fn history_embed(played: &[Played], page: usize) -> CreateEmbed {
    CreateEmbed::new()
        .title(labels::HISTORY)
        .description(texts::history_page(played, page, now_ms()))
}

/// Previous and Next page buttons of a paged list (`list`: `queue`, `history` or
/// `lyrics:<key>`); none for a
/// single page.
pub fn page_buttons(list: &str, page: usize, pages: usize) -> Vec<CreateActionRow> {
    if pages <= 1 {
        return vec![];
    }
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(format!("{PREFIX}{list}:{}", page.saturating_sub(1).max(1)))
            .label(labels::PREVIOUS_PAGE)
            .style(ButtonStyle::Secondary)
            .disabled(page <= 1),
        CreateButton::new(format!("{PREFIX}{list}:{}", (page + 1).min(pages)))
            .label(labels::NEXT_PAGE)
            .style(ButtonStyle::Secondary)
            .disabled(page >= pages),
    ])]
}

/// A history page button: what the server played, at that page.
async fn turn_history_page(data: &Data, guild: u64, page: &str) -> CreateInteractionResponse {
    let played = data.service.played(guild, data.service.history_max()).await;
    let pages = texts::history_pages(played.len());
    let page = page.parse().unwrap_or(1).clamp(1, pages);
    CreateInteractionResponse::UpdateMessage(
        CreateInteractionResponseMessage::new()
            .embed(history_embed(&played, page))
            .components(page_buttons("history", page, pages)),
    )
}

fn next_loop(mode: LoopMode) -> LoopMode {
    match mode {
        LoopMode::Off => LoopMode::Track,
        LoopMode::Track => LoopMode::Queue,
        LoopMode::Queue => LoopMode::Off,
    }
}

/// Handles a click on one of our buttons; others are ignored.
pub async fn handle(ctx: &serenity::Context, data: &Data, click: &ComponentInteraction) {
    let Some(action) = click.data.custom_id.strip_prefix(PREFIX) else {
        return;
    };
    let Some(guild_id) = click.guild_id else {
        return;
    };
    let guild = guild_id.get();
    let response = match data
        .limiter
        .check(click.user.id.get(), std::time::Instant::now())
    {
        Err(wait) => Err(CommandError::Refused(texts::slow_down(wait))),
        Ok(()) => match action.strip_prefix("search:") {
            // A pick answers by itself: it loads the track, which may take a while.
            Some(key) => return commands::pick_search_result(ctx, data, click, key).await,
            None => run(ctx, data, click, guild_id, action).await,
        },
    };
    let response = response.unwrap_or_else(|e| refusal(guild, &e));
    if let Err(e) = click.create_response(&ctx.http, response).await {
        tracing::warn!(guild, error = %e, "could not answer a button");
    }
}

/// The ephemeral answer to a component whose action failed (an internal failure is logged).
pub(super) fn refusal(guild: u64, e: &CommandError) -> CreateInteractionResponse {
    if let CommandError::Internal(detail) = e {
        tracing::error!(guild, detail, "component failed");
    }
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(texts::command_error(e))
            .ephemeral(true),
    )
}

/// A queue page button: the queue at that page.
async fn turn_queue_page(
    data: &Data,
    guild: u64,
    page: &str,
) -> Result<CreateInteractionResponse, CommandError> {
    let page: usize = page.parse().unwrap_or(1);
    let view = data
        .service
        .view(guild)
        .await
        .ok_or(CommandError::Refused(texts::NOTHING_PLAYING.into()))?;
    let pages = texts::pages(view.upcoming.len());
    let page = page.clamp(1, pages);
    Ok(CreateInteractionResponse::UpdateMessage(
        CreateInteractionResponseMessage::new()
            .embed(queue_embed(&view, page))
            .components(queue_buttons(page, pages)),
    ))
}

/// Player buttons need the member in the bot's voice channel, and the DJ rule for skip (except
/// one's own track), stop and loop.
async fn may_use_player_button(
    ctx: &serenity::Context,
    data: &Data,
    click: &ComponentInteraction,
    guild_id: serenity::GuildId,
    action: &str,
) -> Result<(), CommandError> {
    let guild = guild_id.get();
    let relation = match ctx.cache.guild(guild_id) {
        Some(g) => policy::voice_relation(&g, data.bot_id, click.user.id.get()),
        None => VoiceRelation::NobodyInVoice,
    };
    match relation {
        VoiceRelation::Together(_) => {}
        VoiceRelation::BotElsewhere(b) => {
            return Err(CommandError::Refused(texts::join_my_channel(b)))
        }
        VoiceRelation::BotIdle(_) | VoiceRelation::NobodyInVoice => {
            return Err(CommandError::Refused(texts::NOTHING_PLAYING.into()))
        }
    }
    // DJ-only buttons (Skip goes by votes instead: see `votes`).
    if matches!(action, "stop" | "loop" | "autoplay") {
        let dj_role = data.config(guild).await.dj_role_id;
        policy::dj_allows(dj_role, click.member.as_ref(), click.user.id.get(), None)
            .map_err(|role| CommandError::Refused(texts::dj_only(role)))?;
    }
    Ok(())
}

async fn run(
    ctx: &serenity::Context,
    data: &Data,
    click: &ComponentInteraction,
    guild_id: serenity::GuildId,
    action: &str,
) -> Result<CreateInteractionResponse, CommandError> {
    let guild = guild_id.get();
    if let Some(page) = action.strip_prefix("queue:") {
        return turn_queue_page(data, guild, page).await;
    }
    if let Some(what) = action.strip_prefix("lyrics:") {
        return lyrics::turn_page(data, what);
    }
    if let Some(page) = action.strip_prefix("history:") {
        return Ok(turn_history_page(data, guild, page).await);
    }
    may_use_player_button(ctx, data, click, guild_id, action).await?;
    let service = &data.service;
    // What the click did, above the now-playing embed (empty: nothing to say).
    let mut said = String::new();
    match action {
        "pause" => service.pause(guild).await?,
        "resume" => service.resume(guild).await?,
        "skip" => {
            let vote = super::votes::skip_vote(
                &ctx.cache,
                data,
                guild,
                click.member.as_ref(),
                click.user.id.get(),
            )
            .await?;
            if !matches!(vote, SkipVote::Skip { .. }) {
                // Only the voter reads the count; the now-playing message stays as it is.
                return Ok(CreateInteractionResponse::Message(
                    CreateInteractionResponseMessage::new()
                        .content(texts::skip_vote(vote))
                        .ephemeral(true),
                ));
            }
            let skipped = texts::skipped(&service.skip(guild, None).await?);
            said = format!("{}{skipped}", texts::skip_votes_note(vote));
        }
        "rewind" | "forward" => {
            let delta = if action == "rewind" {
                -QUICK_SEEK_MS
            } else {
                QUICK_SEEK_MS
            };
            let at = service.jump(guild, delta).await?;
            said = texts::moved_by(delta / 1000, at);
        }
        "replay" => said = texts::replayed(&service.replay(guild).await?),
        "autoplay" => {
            let on = !service.view(guild).await.is_some_and(|v| v.autoplay);
            service.set_autoplay(guild, on).await?;
            said = texts::autoplay_set(on).to_string();
        }
        "stop" => service.stop(guild).await?,
        "loop" => {
            let mode = service
                .view(guild)
                .await
                .map(|v| next_loop(v.loop_mode))
                .unwrap_or(LoopMode::Off);
            service.set_loop(guild, mode).await;
        }
        _ => return Err(CommandError::Refused(texts::NOT_ALLOWED.into())),
    }
    // Saved before the answer, as a command's confirmation is (see `commands::confirm`).
    let note = match service.commit(guild).await {
        Ok(()) => "",
        Err(_) => texts::NOT_SAVED_YET,
    };
    let said = match (said.is_empty(), note.is_empty()) {
        (_, true) => said,
        (true, false) => note.to_string(),
        (false, false) => format!("{said}\n{note}"),
    };
    let view = service.view(guild).await;
    Ok(CreateInteractionResponse::UpdateMessage(match view {
        Some(v) if v.current.is_some() => CreateInteractionResponseMessage::new()
            .content(said.clone())
            .embed(now_playing_embed(&v))
            .components(now_playing_buttons(&v)),
        _ if !said.is_empty() => CreateInteractionResponseMessage::new()
            .content(said)
            .embeds(vec![])
            .components(vec![]),
        _ => CreateInteractionResponseMessage::new()
            .content(format!("{}\n{note}", texts::NOTHING_PLAYING).trim_end())
            .embeds(vec![])
            .components(vec![]),
    }))
}
