//! Messages Encore posts on its own (not replies): never with mentions, and a channel the bot may
//! not post in is skipped quietly.

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, CreateAllowedMentions, CreateMessage, Http};

/// Posts `message` in `guild`'s `channel` without pinging anyone; `what` names it in the debug log
/// when it cannot be posted.
pub async fn post(
    http: &Http,
    guild: u64,
    channel: Option<u64>,
    message: CreateMessage,
    what: &str,
) {
    let Some(channel) = channel.filter(|c| *c != 0) else {
        return;
    };
    let message = message.allowed_mentions(CreateAllowedMentions::new());
    if let Err(e) = ChannelId::new(channel).send_message(http, message).await {
        tracing::debug!(guild, channel, error = %e, "{what} not posted");
    }
}
