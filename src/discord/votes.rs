//! Vote-skip's Discord side: the guild's votes (the rule is [`crate::domain::vote`]), who
//! listens, and who may skip without a vote. Shared by `/skip` and the Skip button.

use std::collections::HashMap;
use std::sync::Mutex;

use poise::serenity_prelude as serenity;

use super::{policy, CommandError, Data};
use crate::domain::vote::{votes_needed, SkipVote, SkipVotes};
use crate::sync::LockExt;

/// Every guild's skip votes.
#[derive(Default)]
pub struct Votes(Mutex<HashMap<u64, SkipVotes>>);

/// Whether `member` may skip without a vote whatever the track: a DJ (the server's DJ role
/// or Manage Server), or anyone when the server turned voting off or their vote alone would
/// skip (they listen alone, or with one other at 50 %) (`/skip to`, which skips others'
/// tracks too).
pub async fn skips_at_once(
    cache: &serenity::Cache,
    data: &Data,
    guild: u64,
    member: Option<&serenity::Member>,
) -> bool {
    let config = data.config(guild).await;
    if config.vote_skip_percent == 0 || policy::is_dj(config.dj_role_id, member) {
        return true;
    }
    let listeners = listeners(cache, data, guild).await.len();
    listeners <= 1 || votes_needed(listeners, config.vote_skip_percent) <= 1
}

/// The people in the bot's voice channel in `guild` (none known: empty).
async fn listeners(cache: &serenity::Cache, data: &Data, guild: u64) -> Vec<u64> {
    let Some(channel) = data
        .service
        .view(guild)
        .await
        .and_then(|v| v.voice_channel_id)
    else {
        return vec![];
    };
    cache
        .guild(serenity::GuildId::new(guild))
        .map(|g| policy::listener_ids(&g, channel, data.bot_id))
        .unwrap_or_default()
}

/// A member's `/skip` of the current track in `guild`: skip now, or a vote counted. The DJ
/// (the server's DJ role or Manage Server), the track's requester, a lone listener, and
/// anyone when the server turned voting off skip at once. Errors: nothing is playing.
pub async fn skip_vote(
    cache: &serenity::Cache,
    data: &Data,
    guild: u64,
    member: Option<&serenity::Member>,
    user: u64,
) -> Result<SkipVote, CommandError> {
    let view = data.service.view(guild).await.ok_or(CommandError::Player(
        crate::player::PlayerError::NothingPlaying,
    ))?;
    let Some(current) = &view.current else {
        // A queue stopped after failures goes on: no vote about a track that is not playing.
        return Ok(SkipVote::Skip {
            votes: 0,
            needed: 0,
        });
    };
    let config = data.config(guild).await;
    let listeners = listeners(cache, data, guild).await;
    let may_skip = current.requester == Some(user) || policy::is_dj(config.dj_role_id, member);
    let play = view.play_id.to_string();
    let vote = data.votes.0.locked().entry(guild).or_default().vote(
        &play,
        user,
        may_skip,
        &listeners,
        config.vote_skip_percent,
    );
    Ok(vote)
}
