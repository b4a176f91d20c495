//! poise's hooks: the rate limit check, the one error handler (every failure gets a polite
//! ephemeral answer), and the gateway events Encore follows (READY, the bot's own voice state
//! and voice server, button clicks).

use std::time::Instant;

use poise::serenity_prelude as serenity;
use serenity::FullEvent;

use super::{buttons, commands, policy, texts, voice, CommandError, Context, Data, Error};
use crate::domain::restore::ChannelAccess;
use crate::player::VoiceEnd;

pub(super) async fn rate_limit(ctx: Context<'_>) -> Result<bool, Error> {
    match ctx
        .data()
        .limiter
        .check(ctx.author().id.get(), Instant::now())
    {
        Ok(()) => Ok(true),
        Err(wait) => Err(CommandError::Refused(texts::slow_down(wait))),
    }
}

pub(super) async fn on_error(error: poise::FrameworkError<'_, Data, Error>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => {
            if let CommandError::Internal(detail) = &error {
                tracing::error!(
                    guild = ctx.guild_id().map(|g| g.get()),
                    command = %ctx.command().name,
                    detail,
                    "command failed"
                );
            }
            commands::reply_ephemeral(ctx, texts::command_error(&error)).await;
        }
        poise::FrameworkError::CommandCheckFailed { error, ctx, .. } => {
            let text = error
                .map(|e| texts::command_error(&e))
                .unwrap_or_else(|| texts::NOT_ALLOWED.to_string());
            commands::reply_ephemeral(ctx, text).await;
        }
        poise::FrameworkError::MissingUserPermissions { ctx, .. } => {
            commands::reply_ephemeral(ctx, texts::NEEDS_MANAGE_SERVER.to_string()).await;
        }
        poise::FrameworkError::GuildOnly { ctx, .. } => {
            commands::reply_ephemeral(ctx, texts::NOT_IN_GUILD.to_string()).await;
        }
        poise::FrameworkError::ArgumentParse { ctx, input, .. } => {
            commands::reply_ephemeral(ctx, texts::unreadable_option(input.as_deref())).await;
        }
        other => {
            // Whatever else went wrong, the person who asked still gets an answer.
            if let Some(ctx) = other.ctx() {
                tracing::error!(
                    guild = ctx.guild_id().map(|g| g.get()),
                    command = %ctx.command().name,
                    error = %other,
                    "command could not run"
                );
                commands::reply_ephemeral(ctx, texts::INTERNAL.to_string()).await;
            } else if let Err(e) = poise::builtins::on_error(other).await {
                tracing::warn!(error = %e, "error while handling an error");
            }
        }
    }
}

/// Voice changes of the bot itself, forwarded to the player service.
pub(super) async fn on_event(
    ctx: poise::FrameworkContext<'_, Data, Error>,
    event: &FullEvent,
) -> Result<(), Error> {
    let data = ctx.user_data;
    match event {
        FullEvent::Ready { .. } => data.shard_ready(ctx.serenity_context.shard_id.0),
        FullEvent::VoiceStateUpdate { new, .. } if new.user_id.get() == data.bot_id => {
            let Some(guild) = new.guild_id.map(|g| g.get()) else {
                return Ok(());
            };
            match new.channel_id {
                // The end of a voice session we no longer use (or one of a previous process,
                // before its guild is restored) is not a disconnect of ours.
                None if data.service.voice_session(guild).await.as_deref()
                    != Some(new.session_id.as_str()) =>
                {
                    tracing::debug!(guild, "an old voice session ended");
                }
                // The answer to a leave of our own (a rejoin that heals voice, a join given up).
                None if data.own_leaves.take(guild) => {
                    tracing::debug!(guild, "left voice on our own");
                }
                None => {
                    // Disconnected by a moderator, or the channel was deleted: stop, forget, and
                    // say so once.
                    let channel = data
                        .service
                        .view(guild)
                        .await
                        .and_then(|v| v.voice_channel_id);
                    let deleted = channel.is_some_and(|c| {
                        ctx.serenity_context
                            .cache
                            .guild(serenity::GuildId::new(guild))
                            .is_some_and(|g| !g.channels.contains_key(&serenity::ChannelId::new(c)))
                    });
                    let end = if deleted {
                        VoiceEnd::ChannelDeleted
                    } else {
                        VoiceEnd::Disconnected { channel }
                    };
                    end_music(data, guild, end).await;
                }
                Some(channel) => {
                    data.service
                        .update_voice(guild, |v| {
                            v.channel_id = channel.get();
                            v.session_id = new.session_id.clone();
                        })
                        .await;
                }
            }
        }
        FullEvent::VoiceStateUpdate { new, .. }
            if !new.member.as_ref().is_some_and(|m| m.user.bot) =>
        {
            listener_moved(data, new).await;
        }
        FullEvent::InteractionCreate {
            interaction: serenity::Interaction::Component(click),
        } => {
            buttons::handle(ctx.serenity_context, data, click).await;
        }
        FullEvent::VoiceServerUpdate { event } => {
            let Some(guild) = event.guild_id else {
                return Ok(());
            };
            let Some(endpoint) = event.endpoint.clone() else {
                // Discord is allocating a new voice server; its token is of no use until then.
                data.service.voice_server_pending(guild.get()).await;
                return Ok(());
            };
            data.service
                .update_voice(guild.get(), |v| {
                    v.endpoint = endpoint;
                    v.token = event.token.clone();
                })
                .await;
        }
        FullEvent::ChannelUpdate { new, .. } => {
            check_voice_permissions(ctx.serenity_context, data, new.guild_id.get()).await;
        }
        FullEvent::GuildRoleUpdate { new, .. } => {
            check_voice_permissions(ctx.serenity_context, data, new.guild_id.get()).await;
        }
        FullEvent::GuildMemberUpdate { event: update, .. }
            if update.user.id.get() == data.bot_id =>
        {
            check_voice_permissions(ctx.serenity_context, data, update.guild_id.get()).await;
        }
        _ => {}
    }
    Ok(())
}

/// A person's voice state: one who joins the bot's channel ends a pause made because nobody was
/// listening.
async fn listener_moved(data: &Data, new: &serenity::VoiceState) {
    let (Some(guild), Some(channel)) = (new.guild_id.map(|g| g.get()), new.channel_id) else {
        return;
    };
    if let Err(e) = data.service.listener_joined(guild, channel.get()).await {
        tracing::debug!(guild, error = %e, "could not play for the listener who joined");
    }
}

/// After a change of channels, roles or the bot's member: a bot that lost Connect or Speak in the
/// channel it plays in leaves it (Discord keeps it there, silent) and says why.
async fn check_voice_permissions(ctx: &serenity::Context, data: &Data, guild: u64) {
    if data.service.voice_session(guild).await.is_none() {
        return;
    }
    let missing = ctx
        .cache
        .guild(serenity::GuildId::new(guild))
        .and_then(|g| {
            let channel = policy::voice_channel_of(&g, data.bot_id)?;
            match policy::channel_access(&g, channel, data.bot_id) {
                ChannelAccess::Missing(p) => Some((channel, p)),
                ChannelAccess::Open | ChannelAccess::Gone => None,
            }
        });
    if let Some((channel, permission)) = missing {
        end_music(
            data,
            guild,
            VoiceEnd::PermissionRemoved {
                channel,
                permission,
            },
        )
        .await;
    }
}

/// Ends a guild's music that nobody asked to end: the player goes (told once), then the voice
/// connection.
async fn end_music(data: &Data, guild: u64, end: VoiceEnd) {
    if let Err(e) = data.service.end(guild, end).await {
        tracing::warn!(guild, error = %e, "could not remove the player");
    }
    if let Err(e) = voice::leave(&data.songbird, guild).await {
        tracing::debug!(guild, error = %e, "no voice connection to leave");
    }
}
