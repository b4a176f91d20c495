//! The slash commands: one function each, thin (parse → player service → render).

use poise::serenity_prelude as serenity;
use poise::CreateReply;

use super::{buttons, policy, texts, voice, CommandError, Context, Data, Error};
use crate::domain::restore::ChannelAccess;
use crate::domain::{FilterPreset, LoopMode};
use crate::player::MAX_QUERY_LEN;

pub fn all() -> Vec<poise::Command<Data, Error>> {
    vec![
        play(),
        pause(),
        resume(),
        skip(),
        previous(),
        stop(),
        leave(),
        join_cmd(),
        queue(),
        nowplaying(),
        seek(),
        volume(),
        loop_cmd(),
        shuffle(),
        remove(),
        move_cmd(),
        clear(),
        filter(),
        settings(),
        status(),
        help(),
    ]
}

/// When the server set a DJ role, the command needs that role or Manage Server; a member may
/// always act on their own track (`owner`).
async fn require_dj(ctx: Context<'_>, owner: Option<u64>) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let Some(role) = ctx.data().config(guild).await.dj_role_id else {
        return Ok(());
    };
    if owner == Some(ctx.author().id.get()) {
        return Ok(());
    }
    if let Some(member) = ctx.author_member().await {
        if member.roles.iter().any(|r| r.get() == role)
            || member.permissions.is_some_and(|p| p.manage_guild())
        {
            return Ok(());
        }
    }
    Err(CommandError::Refused(texts::dj_only(role)))
}

/// Who asked for the current track, or for the upcoming one at `position`.
async fn requester_of(ctx: Context<'_>, guild: u64, position: Option<usize>) -> Option<u64> {
    let view = ctx.data().service.view(guild).await?;
    match position {
        None => view.current.and_then(|t| t.requester),
        Some(p) => view
            .upcoming
            .get(p.checked_sub(1)?)
            .and_then(|t| t.requester),
    }
}

/// Replies only to the person who asked; failures to reply are logged.
pub(crate) async fn reply_ephemeral(ctx: Context<'_>, text: String) {
    // After a (public) deferral the answer would be public: remove the "thinking…" message and
    // answer with an ephemeral follow-up instead.
    if let poise::Context::Application(app) = ctx {
        if app
            .has_sent_initial_response
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            if let Err(e) = app.interaction.delete_response(ctx.http()).await {
                tracing::debug!(error = %e, "could not remove the deferred response");
            }
        }
    }
    let reply = CreateReply::default().content(text).ephemeral(true);
    if let Err(e) = ctx.send(reply).await {
        tracing::warn!(guild = ctx.guild_id().map(|g| g.get()), error = %e, "could not reply");
    }
}

async fn say(ctx: Context<'_>, text: impl Into<String>) -> Result<(), Error> {
    let reply = CreateReply::default()
        .content(text.into())
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    ctx.send(reply)
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    Ok(())
}

fn guild_of(ctx: Context<'_>) -> Result<u64, Error> {
    ctx.guild_id()
        .map(|g| g.get())
        .ok_or_else(|| CommandError::Refused(texts::NOT_IN_GUILD.into()))
}

/// The voice channel a user is in, from the gateway cache.
fn voice_channel_of(ctx: Context<'_>, user: serenity::UserId) -> Option<u64> {
    policy::voice_channel_of(&*ctx.guild()?, user.get())
}

/// Playback commands need the member in the bot's voice channel; when the bot is idle (not in
/// voice) and `may_join`, it joins the member's channel. Returns the guild and the channel to
/// join, if any, without joining yet.
fn voice_target(ctx: Context<'_>, may_join: bool) -> Result<(u64, Option<u64>), Error> {
    let guild = guild_of(ctx)?;
    let user_channel = voice_channel_of(ctx, ctx.author().id);
    let bot_channel = voice_channel_of(ctx, serenity::UserId::new(ctx.data().bot_id));
    match (bot_channel, user_channel) {
        (Some(b), Some(u)) if b == u => Ok((guild, None)),
        (Some(b), _) => Err(CommandError::Refused(texts::join_my_channel(b))),
        (None, None) => Err(CommandError::Refused(texts::JOIN_VOICE_FIRST.into())),
        (None, Some(u)) if may_join => {
            check_can_join(ctx, u)?;
            Ok((guild, Some(u)))
        }
        (None, Some(_)) => Err(CommandError::Player(
            crate::player::PlayerError::NothingPlaying,
        )),
    }
}

/// The bot's own Connect and Speak permissions in `channel`, from the cache (not cached: Discord
/// decides).
fn check_can_join(ctx: Context<'_>, channel: u64) -> Result<(), Error> {
    let access = match ctx.guild() {
        Some(guild) => policy::channel_access(&guild, channel, ctx.data().bot_id),
        None => ChannelAccess::Open,
    };
    match access {
        ChannelAccess::Missing(p) => Err(CommandError::Refused(texts::missing_permission(
            channel,
            p.as_str(),
        ))),
        ChannelAccess::Open | ChannelAccess::Gone => Ok(()),
    }
}

/// Joins `channel`; the channel the command came from becomes the player's text channel.
async fn join_here(ctx: Context<'_>, guild: u64, channel: u64) -> Result<(), Error> {
    voice::join(
        ctx.serenity_context().cache.shard_count(),
        ctx.data(),
        guild,
        channel,
        ctx.channel_id().get(),
    )
    .await
}

async fn enter_voice(
    ctx: Context<'_>,
    (guild, join_channel): (u64, Option<u64>),
) -> Result<u64, Error> {
    if let Some(channel) = join_channel {
        join_here(ctx, guild, channel).await?;
    }
    Ok(guild)
}

async fn in_voice(ctx: Context<'_>, may_join: bool) -> Result<u64, Error> {
    let target = voice_target(ctx, may_join)?;
    enter_voice(ctx, target).await
}

/// The top search results while typing a `/play` query: each choice plays that exact track.
async fn autocomplete_query(
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
async fn play(
    ctx: Context<'_>,
    #[description = "A link, or words to search for"]
    #[max_length = 500]
    #[autocomplete = "autocomplete_query"]
    query: String,
    #[description = "Play it right after the current track"] next: Option<bool>,
) -> Result<(), Error> {
    if query.chars().count() > MAX_QUERY_LEN {
        return Err(crate::player::PlayerError::QueryTooLong { max: MAX_QUERY_LEN }.into());
    }
    // Refuse at once (ephemerally) when the member cannot use the player; loading may take a
    // moment, so defer before joining and searching.
    let target = voice_target(ctx, true)?;
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
        .play(
            guild,
            &query,
            Some(ctx.author().id.get()),
            next.unwrap_or(false),
        )
        .await?;
    say(ctx, texts::played(&out)).await
}

/// Pauses the music.
#[poise::command(slash_command, guild_only)]
async fn pause(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    ctx.data().service.pause(guild).await?;
    say(ctx, texts::PAUSED).await
}

/// Resumes the music.
#[poise::command(slash_command, guild_only)]
async fn resume(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    ctx.data().service.resume(guild).await?;
    say(ctx, texts::RESUMED).await
}

/// Skips to the next track, or to a position in the queue.
#[poise::command(slash_command, guild_only)]
async fn skip(
    ctx: Context<'_>,
    #[description = "Queue position to skip to"]
    #[min = 1]
    to: Option<usize>,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let owner = match to {
        None => requester_of(ctx, guild, None).await,
        Some(_) => None,
    };
    require_dj(ctx, owner).await?;
    match ctx.data().service.skip(guild, to).await? {
        Some(t) => {
            say(
                ctx,
                format!("Skipped. Now playing {}.", texts::track_line(&t)),
            )
            .await
        }
        None => say(ctx, format!("Skipped. {}", texts::QUEUE_ENDED)).await,
    }
}

/// Goes back to the previous track.
#[poise::command(slash_command, guild_only)]
async fn previous(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let t = ctx.data().service.previous(guild).await?;
    say(ctx, format!("Back to {}.", texts::track_line(&t))).await
}

/// Stops the music, clears the queue and forgets this server's player.
#[poise::command(slash_command, guild_only)]
async fn stop(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    ctx.data().service.stop(guild).await?;
    say(ctx, texts::STOPPED).await
}

/// Leaves the voice channel and forgets this server's player.
#[poise::command(slash_command, guild_only)]
async fn leave(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let data = ctx.data();
    data.service.leave(guild).await?;
    voice::leave(&data.songbird, guild)
        .await
        .map_err(CommandError::Internal)?;
    say(ctx, texts::LEFT).await
}

/// Joins your voice channel.
#[poise::command(slash_command, guild_only, rename = "join")]
async fn join_cmd(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let Some(channel) = voice_channel_of(ctx, ctx.author().id) else {
        return Err(CommandError::Refused(texts::JOIN_VOICE_FIRST.into()));
    };
    check_can_join(ctx, channel)?;
    join_here(ctx, guild, channel).await?;
    say(ctx, texts::joined(channel)).await
}

/// Shows the queue.
#[poise::command(slash_command, guild_only)]
async fn queue(
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
    ctx.send(reply)
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    Ok(())
}

/// Shows what is playing.
#[poise::command(slash_command, guild_only)]
async fn nowplaying(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let view = ctx.data().service.view(guild).await;
    let Some(view) = view.filter(|v| v.current.is_some()) else {
        return say(ctx, texts::NOTHING_PLAYING).await;
    };
    let reply = CreateReply::default()
        .embed(buttons::now_playing_embed(&view))
        .components(buttons::now_playing_buttons(&view));
    ctx.send(reply)
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    Ok(())
}

/// Jumps to a time in the track: 1:23, 83, +10 or -15.
#[poise::command(slash_command, guild_only)]
async fn seek(
    ctx: Context<'_>,
    #[description = "1:23, 83 (seconds), +10 or -15"]
    #[max_length = 12]
    time: String,
) -> Result<(), Error> {
    let (relative, ms) =
        texts::parse_seek(&time).ok_or_else(|| CommandError::Refused(texts::BAD_SEEK.into()))?;
    let guild = in_voice(ctx, false).await?;
    let service = &ctx.data().service;
    let at = if relative {
        service.seek_by(guild, ms).await?
    } else {
        service.seek(guild, ms.max(0) as u64).await?
    };
    say(ctx, format!("Jumped to {}.", crate::player::format_ms(at))).await
}

/// Sets the volume, from 0 to 200 (100 is unchanged).
#[poise::command(slash_command, guild_only)]
async fn volume(
    ctx: Context<'_>,
    #[description = "0 to 200"]
    #[min = 0]
    #[max = 200]
    level: u16,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    ctx.data().service.set_volume(guild, level).await?;
    say(ctx, format!("Volume set to {level}%.")).await
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
async fn loop_cmd(
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
    say(ctx, texts::loop_mode(mode)).await
}

/// Shuffles the queue.
#[poise::command(slash_command, guild_only)]
async fn shuffle(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    let n = ctx.data().service.shuffle(guild).await?;
    say(ctx, format!("Shuffled {n} track(s).")).await
}

/// Removes a track from the queue.
#[poise::command(slash_command, guild_only)]
async fn remove(
    ctx: Context<'_>,
    #[description = "Queue position"]
    #[min = 1]
    position: usize,
) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, requester_of(ctx, guild, Some(position)).await).await?;
    let t = ctx.data().service.remove(guild, position).await?;
    say(ctx, format!("Removed {}.", texts::track_line(&t))).await
}

/// Moves a track in the queue.
#[poise::command(slash_command, guild_only, rename = "move")]
async fn move_cmd(
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
    say(ctx, format!("Moved the track at {from} to {to}.")).await
}

/// Empties the queue (the current track keeps playing).
#[poise::command(slash_command, guild_only)]
async fn clear(ctx: Context<'_>) -> Result<(), Error> {
    let guild = in_voice(ctx, false).await?;
    require_dj(ctx, None).await?;
    let n = ctx.data().service.clear(guild).await?;
    say(ctx, format!("Cleared {n} track(s) from the queue.")).await
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
async fn filter(
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
    say(ctx, texts::filter_set(preset)).await
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
enum ResumeChoice {
    #[name = "as the bot's default"]
    Default,
    #[name = "on"]
    On,
    #[name = "off"]
    Off,
}

/// Server settings: DJ role, 24/7, default volume, now-playing messages, resume after restarts.
#[poise::command(
    slash_command,
    guild_only,
    required_permissions = "MANAGE_GUILD",
    default_member_permissions = "MANAGE_GUILD"
)]
#[allow(clippy::too_many_arguments)]
async fn settings(
    ctx: Context<'_>,
    #[description = "Role that may stop, clear, skip others' tracks, set volume, loop and filters"]
    dj_role: Option<serenity::Role>,
    #[description = "Remove the DJ role: everyone controls the music"] clear_dj_role: Option<bool>,
    #[description = "24/7: stay in voice when nobody listens"] always_on: Option<bool>,
    #[description = "Volume a new player starts at"]
    #[min = 0]
    #[max = 200]
    default_volume: Option<u16>,
    #[description = "Post a message when a new track starts"] announce: Option<bool>,
    #[description = "Resume the music after a restart"] auto_resume: Option<ResumeChoice>,
) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let data = ctx.data();
    let mut config = data.config(guild).await;
    let before = config.clone();
    if let Some(role) = dj_role {
        config.dj_role_id = Some(role.id.get());
    }
    if clear_dj_role == Some(true) {
        config.dj_role_id = None;
    }
    if let Some(b) = always_on {
        config.always_on = b;
    }
    if let Some(v) = default_volume {
        config.default_volume = v;
    }
    if let Some(b) = announce {
        config.announce_now_playing = b;
    }
    if let Some(r) = auto_resume {
        config.auto_resume = match r {
            ResumeChoice::Default => None,
            ResumeChoice::On => Some(true),
            ResumeChoice::Off => Some(false),
        };
    }
    if config != before {
        config.updated_at_ms = crate::domain::now_ms();
        data.store
            .save_guild_config(&config)
            .await
            .map_err(|e| CommandError::Internal(format!("saving settings: {e}")))?;
        data.configs.put(config.clone());
    }
    let title = if config != before {
        "Settings saved."
    } else {
        "Settings:"
    };
    say(ctx, format!("{title}\n{}", texts::guild_settings(&config))).await
}

/// Shows the bot's health: store, last save, saved players, audio nodes, uptime, version.
#[poise::command(slash_command)]
async fn status(ctx: Context<'_>) -> Result<(), Error> {
    let data = ctx.data();
    let health = data.store.health().await;
    let stats = data.autosave.stats();
    let nodes: Vec<String> = data
        .backend
        .node_status()
        .into_iter()
        .map(|(name, up, players)| {
            format!(
                "{name}: {} · {players} player(s)",
                if up { "up" } else { "down" }
            )
        })
        .collect();
    let last_save = stats
        .last_success_at_ms
        .map(|t| format!("{} s ago", crate::domain::now_ms().saturating_sub(t) / 1000))
        .unwrap_or_else(|| "not yet".into());
    let restored = data
        .last_restore()
        .map(|r| texts::restore_summary(&r))
        .unwrap_or_else(|| "in progress".into());
    let text = format!(
        "Store: {} ({})\nLast save: {last_save}\nSaved players: {}\nRestored after start: {restored}\nAudio nodes:\n{}\nShard: {} of {} (this process runs {})\nUptime: {}\nVersion: {}",
        health.backend,
        if health.reachable { "reachable" } else { "unreachable" },
        health
            .saved_players
            .map(|n| n.to_string())
            .unwrap_or_else(|| "unknown".into()),
        nodes.join("\n"),
        ctx.serenity_context().shard_id.0,
        ctx.serenity_context().cache.shard_count(),
        data.shards,
        humantime::format_duration(std::time::Duration::from_secs(
            data.started.elapsed().as_secs()
        )),
        env!("CARGO_PKG_VERSION"),
    );
    say(ctx, text).await
}

/// Lists the commands.
#[poise::command(slash_command)]
async fn help(ctx: Context<'_>) -> Result<(), Error> {
    reply_ephemeral(ctx, texts::help()).await;
    Ok(())
}
