//! The rules the commands, buttons, idle watch and restore share, read from the gateway cache:
//! who listens in a voice channel, and whether the bot may play in one.

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, ChannelType, Guild, UserId};

use crate::domain::restore::{ChannelAccess, VoicePermission};

/// People (not bots, not the bot itself) in `channel`. Voice states of GUILD_CREATE carry no
/// member, so a bot is also recognised by the guild's member list.
pub fn listeners(guild: &Guild, channel: u64, bot_id: u64) -> usize {
    listener_ids(guild, channel, bot_id).len()
}

/// The user ids of the people in `channel` (see [`listeners`]), in no particular order.
pub fn listener_ids(guild: &Guild, channel: u64, bot_id: u64) -> Vec<u64> {
    guild
        .voice_states
        .values()
        .filter(|v| v.channel_id.map(|c| c.get()) == Some(channel))
        .filter(|v| v.user_id.get() != bot_id)
        .filter(|v| !v.member.as_ref().is_some_and(|m| m.user.bot))
        .filter(|v| !guild.members.get(&v.user_id).is_some_and(|m| m.user.bot))
        .map(|v| v.user_id.get())
        .collect()
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

/// The user limit of `channel` when it is full for the bot: as many members as its limit are in
/// it (the bot not counted) and the bot lacks Move Members, which lets a member past the limit.
/// Discord ignores a join to such a channel without a word (Discord docs: channel `user_limit`).
pub fn channel_full(guild: &Guild, channel: u64, bot_id: u64) -> Option<u32> {
    let ch = guild.channels.get(&ChannelId::new(channel))?;
    let limit = ch.user_limit.filter(|l| *l > 0)?;
    let inside = guild
        .voice_states
        .values()
        .filter(|v| v.channel_id.map(|c| c.get()) == Some(channel))
        .filter(|v| v.user_id.get() != bot_id)
        .count();
    if inside < limit as usize {
        return None;
    }
    let may_pass = guild
        .members
        .get(&UserId::new(bot_id))
        .is_some_and(|m| guild.user_permissions_in(ch, m).move_members());
    (!may_pass).then_some(limit)
}

/// Where a member is, seen from the bot (parrot's "connection" idea), from the gateway cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceRelation {
    /// Both in this channel.
    Together(u64),
    /// The bot plays in this channel and the member is elsewhere or not in voice.
    BotElsewhere(u64),
    /// The bot is not in voice; the member is in this channel.
    BotIdle(u64),
    /// Neither is in voice.
    NobodyInVoice,
}

/// The relation of `user` to the bot in `guild`.
pub fn voice_relation(guild: &Guild, bot_id: u64, user: u64) -> VoiceRelation {
    match (
        voice_channel_of(guild, bot_id),
        voice_channel_of(guild, user),
    ) {
        (Some(b), Some(u)) if b == u => VoiceRelation::Together(b),
        (Some(b), _) => VoiceRelation::BotElsewhere(b),
        (None, Some(u)) => VoiceRelation::BotIdle(u),
        (None, None) => VoiceRelation::NobodyInVoice,
    }
}

/// Whether `member` counts as a DJ for skipping without a vote: the server's DJ role (when
/// set), or Manage Server.
pub fn is_dj(dj_role: Option<u64>, member: Option<&serenity::Member>) -> bool {
    member.is_some_and(|m| {
        dj_role.is_some_and(|role| m.roles.iter().any(|r| r.get() == role))
            || m.permissions.is_some_and(|p| p.manage_guild())
    })
}

/// The DJ rule: when the server set a DJ role (`dj_role`), player controls need that role or
/// Manage Server, except on the member's own track (`user == requester`). `Err(role)` names the
/// role that is missing.
pub fn dj_allows(
    dj_role: Option<u64>,
    member: Option<&serenity::Member>,
    user: u64,
    requester: Option<u64>,
) -> Result<(), u64> {
    let Some(role) = dj_role else {
        return Ok(());
    };
    if requester == Some(user) {
        return Ok(());
    }
    let is_dj = member.is_some_and(|m| {
        m.roles.iter().any(|r| r.get() == role) || m.permissions.is_some_and(|p| p.manage_guild())
    });
    if is_dj {
        Ok(())
    } else {
        Err(role)
    }
}
