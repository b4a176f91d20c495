//! The slash commands, one function each and thin (parse → policy → player service → render),
//! grouped by topic; this file lists them and holds the rules they share.

mod channel;
mod listening;
mod lyrics;
mod playback;
mod queue;
mod search;
mod server;

use channel::{join_cmd, leave};
use listening::{autoplay, forward, history, replay, rewind};
use lyrics::lyrics;
use playback::{filter, loop_cmd, pause, play, previous, resume, seek, skip, stop, volume};
use queue::{clear, move_cmd, nowplaying, queue, remove, shuffle};
use search::search;
use server::{help, settings, status};

pub(super) use search::{pick as pick_search_result, KeptMenus, SEARCH_MENUS_KEPT_AT_MOST};

use poise::serenity_prelude as serenity;
use poise::CreateReply;

use super::policy::VoiceRelation;
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
        search(),
        lyrics(),
        autoplay(),
        history(),
        replay(),
        forward(),
        rewind(),
        settings(),
        status(),
        help(),
    ]
}

/// When the server set a DJ role, the command needs that role or Manage Server; a member may
/// always act on their own track (`owner`).
async fn require_dj(ctx: Context<'_>, owner: Option<u64>) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let dj_role = ctx.data().config(guild).await.dj_role_id;
    if dj_role.is_none() {
        return Ok(());
    }
    let member = ctx.author_member().await;
    policy::dj_allows(dj_role, member.as_deref(), ctx.author().id.get(), owner)
        .map_err(|role| CommandError::Refused(texts::dj_only(role)))
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
    send(ctx, reply).await
}

/// Sends `reply` (the first answer, or the edit of a deferral); a failure is internal.
async fn send(ctx: Context<'_>, reply: CreateReply) -> Result<(), Error> {
    ctx.send(reply)
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    Ok(())
}

/// Replies with `text` once the member's change is saved ([`crate::player::PlayerService::commit`]),
/// so what a member was told survives a crash. When the store cannot take it now, the change
/// stands (it is saved as soon as the store answers again) and the reply says it is not saved yet.
async fn confirm(ctx: Context<'_>, guild: u64, text: impl Into<String>) -> Result<(), Error> {
    say(ctx, confirmed(ctx.data(), guild, text.into()).await).await
}

/// `text` once the member's change is saved, or with the note that it is not saved yet (see
/// [`confirm`]).
async fn confirmed(data: &Data, guild: u64, text: String) -> String {
    match data.service.commit(guild).await {
        Ok(()) => text,
        Err(_) => texts::not_saved_yet(&text),
    }
}

fn guild_of(ctx: Context<'_>) -> Result<u64, Error> {
    ctx.guild_id()
        .map(|g| g.get())
        .ok_or_else(|| CommandError::Refused(texts::NOT_IN_GUILD.into()))
}

/// The voice channel a user is in, from the gateway cache.
fn voice_channel_of(ctx: Context<'_>, user: serenity::UserId) -> Option<u64> {
    voice_channel_in(ctx.serenity_context(), ctx.guild_id()?.get(), user.get())
}

fn voice_channel_in(ctx: &serenity::Context, guild: u64, user: u64) -> Option<u64> {
    policy::voice_channel_of(&*ctx.cache.guild(serenity::GuildId::new(guild))?, user)
}

/// Playback commands need the member in the bot's voice channel; when the bot is idle (not in
/// voice) and `may_join`, it joins the member's channel. Returns the guild and the channel to
/// join, if any, without joining yet. A bot that Discord shows in a channel without a player
/// behind it (a join that landed after it timed out) counts as idle for a join.
async fn voice_target(ctx: Context<'_>, may_join: bool) -> Result<(u64, Option<u64>), Error> {
    let guild = guild_of(ctx)?;
    let user = ctx.author().id.get();
    let join = voice_target_of(ctx.serenity_context(), ctx.data(), guild, user, may_join).await?;
    Ok((guild, join))
}

/// [`voice_target`]'s rules for `user` in `guild`, for a command or a component: the channel to
/// join, if any.
async fn voice_target_of(
    ctx: &serenity::Context,
    data: &Data,
    guild: u64,
    user: u64,
    may_join: bool,
) -> Result<Option<u64>, Error> {
    let relation = match ctx.cache.guild(serenity::GuildId::new(guild)) {
        Some(g) => policy::voice_relation(&g, data.bot_id, user),
        None => VoiceRelation::NobodyInVoice,
    };
    let relation = match relation {
        VoiceRelation::Together(_) | VoiceRelation::BotElsewhere(_)
            if may_join && data.service.voice_session(guild).await.is_none() =>
        {
            match voice_channel_in(ctx, guild, user) {
                Some(u) => VoiceRelation::BotIdle(u),
                None => VoiceRelation::NobodyInVoice,
            }
        }
        other => other,
    };
    match relation {
        VoiceRelation::Together(_) => Ok(None),
        VoiceRelation::BotElsewhere(b) => Err(CommandError::Refused(texts::join_my_channel(b))),
        VoiceRelation::NobodyInVoice => Err(CommandError::Refused(texts::JOIN_VOICE_FIRST.into())),
        VoiceRelation::BotIdle(u) if may_join => {
            check_can_join(ctx, data, guild, u)?;
            Ok(Some(u))
        }
        VoiceRelation::BotIdle(_) => Err(CommandError::Player(
            crate::player::PlayerError::NothingPlaying,
        )),
    }
}

/// What the cache says about joining `channel`: the bot's own Connect and Speak permissions, and
/// room under its user limit (not cached: Discord decides).
fn check_can_join(
    ctx: &serenity::Context,
    data: &Data,
    guild: u64,
    channel: u64,
) -> Result<(), Error> {
    let (access, full) = match ctx.cache.guild(serenity::GuildId::new(guild)) {
        Some(guild) => {
            let bot = data.bot_id;
            (
                policy::channel_access(&guild, channel, bot),
                policy::channel_full(&guild, channel, bot),
            )
        }
        None => (ChannelAccess::Open, None),
    };
    if let ChannelAccess::Missing(p) = access {
        return Err(CommandError::Refused(texts::missing_permission(
            channel,
            p.as_str(),
        )));
    }
    match full {
        Some(limit) => Err(CommandError::Refused(texts::channel_full(channel, limit))),
        None => Ok(()),
    }
}

/// Joins `channel`; the channel the command came from becomes the player's text channel.
async fn join_here(ctx: Context<'_>, guild: u64, channel: u64) -> Result<(), Error> {
    join_from(
        ctx.serenity_context(),
        ctx.data(),
        guild,
        channel,
        ctx.channel_id().get(),
    )
    .await
}

/// Joins `channel`; `text_channel` becomes the player's text channel.
async fn join_from(
    ctx: &serenity::Context,
    data: &Data,
    guild: u64,
    channel: u64,
    text_channel: u64,
) -> Result<(), Error> {
    voice::join(ctx.cache.shard_count(), data, guild, channel, text_channel).await
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
    let target = voice_target(ctx, may_join).await?;
    enter_voice(ctx, target).await
}
