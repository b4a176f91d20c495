//! The rules the commands, buttons, idle watch and restore share, read from the gateway cache:
//! who listens in a voice channel, and whether the bot may play in one.

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, ChannelType, Guild, UserId};

use crate::domain::restore::{ChannelAccess, VoicePermission};

/// People (not bots, not the bot itself) in `channel`.
pub fn listeners(guild: &Guild, channel: u64, bot_id: u64) -> usize {
    guild
        .voice_states
        .values()
        .filter(|v| v.channel_id.map(|c| c.get()) == Some(channel))
        .filter(|v| v.user_id.get() != bot_id)
        .filter(|v| !v.member.as_ref().is_some_and(|m| m.user.bot))
        .count()
}

/// The voice channel `user` is in.
pub fn voice_channel_of(guild: &Guild, user: u64) -> Option<u64> {
    guild
        .voice_states
        .get(&UserId::new(user))
        .and_then(|v| v.channel_id)
        .map(|c| c.get())
}

/// Whether the bot may play in `channel`: the channel is a voice or stage channel of the guild and
/// the bot has Connect and Speak there. When the bot's member is not cached, Discord decides
/// (`Open`).
pub fn channel_access(guild: &Guild, channel: u64, bot_id: u64) -> ChannelAccess {
    let Some(ch) = guild.channels.get(&ChannelId::new(channel)) else {
        return ChannelAccess::Gone;
    };
    if !matches!(ch.kind, ChannelType::Voice | ChannelType::Stage) {
        return ChannelAccess::Gone;
    }
    let Some(member) = guild.members.get(&UserId::new(bot_id)) else {
        return ChannelAccess::Open;
    };
    let perms = guild.user_permissions_in(ch, member);
    if !perms.connect() {
        ChannelAccess::Missing(VoicePermission::Connect)
    } else if !perms.speak() {
        ChannelAccess::Missing(VoicePermission::Speak)
    } else {
        ChannelAccess::Open
    }
}
