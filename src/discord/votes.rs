//! Vote-skip's Discord side: the guild's votes (the rule is [`crate::domain::vote`]), who
//! listens, and who may skip without a vote. Shared by `/skip` and the Skip button.

use std::collections::HashMap;
use std::sync::Mutex;

use poise::serenity_prelude as serenity;

use super::{policy, CommandError, Data};
use crate::domain::vote::{SkipVote, SkipVotes};
use crate::sync::LockExt;

/// Every guild's skip votes.
#[derive(Default)]
pub struct Votes(Mutex<HashMap<u64, SkipVotes>>);

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
    let listeners = view
        .voice_channel_id
        .and_then(|channel| {
            let g = cache.guild(serenity::GuildId::new(guild))?;
            Some(policy::listener_ids(&g, channel, data.bot_id))
        })
        .unwrap_or_default();
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
