//! Leaves a voice channel that has had no listeners for `IDLE_TIMEOUT`, unless 24/7 is on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;
use serenity::{Cache, ChannelId, CreateAllowedMentions, CreateMessage, GuildId, Http, UserId};
use songbird::Songbird;

use super::{texts, Configs};
use crate::player::PlayerService;
use crate::store::StateStore;

pub struct IdleWatch {
    pub cache: Arc<Cache>,
    pub http: Arc<Http>,
    pub service: PlayerService,
    pub songbird: Arc<Songbird>,
    pub configs: Configs,
    pub store: Arc<dyn StateStore>,
    pub bot_id: u64,
    pub timeout: Duration,
}

/// The bot's voice channel in `guild` and how many people (not bots) are in it.
fn listeners(cache: &Cache, guild: u64, bot: u64) -> Option<(u64, usize)> {
    let g = cache.guild(GuildId::new(guild))?;
    let channel = g
        .voice_states
        .get(&UserId::new(bot))
        .and_then(|v| v.channel_id)?;
    let people = g
        .voice_states
        .values()
        .filter(|v| v.channel_id == Some(channel) && v.user_id.get() != bot)
        .filter(|v| !v.member.as_ref().is_some_and(|m| m.user.bot))
        .count();
    Some((channel.get(), people))
}

pub fn spawn(w: IdleWatch) {
    tokio::spawn(async move {
        let period = (w.timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
        let mut empty_since: HashMap<u64, Instant> = HashMap::new();
        loop {
            tokio::time::sleep(period).await;
            for guild in w.service.guilds() {
                let Some((channel, people)) = listeners(&w.cache, guild, w.bot_id) else {
                    empty_since.remove(&guild);
                    continue;
                };
                let always_on = w.configs.get(w.store.as_ref(), guild).await.always_on;
                if people > 0 || always_on {
                    empty_since.remove(&guild);
                    continue;
                }
                let since = *empty_since.entry(guild).or_insert_with(Instant::now);
                if since.elapsed() < w.timeout {
                    continue;
                }
                empty_since.remove(&guild);
                let text_channel = w.service.view(guild).await.and_then(|v| v.text_channel_id);
                tracing::info!(guild, "leaving an empty voice channel");
                if let Err(e) = w.service.leave(guild).await {
                    tracing::warn!(guild, error = %e, "could not remove the player");
                }
                if let Err(e) = w.songbird.remove(GuildId::new(guild)).await {
                    tracing::warn!(guild, error = %e, "could not leave voice");
                }
                if let Some(tc) = text_channel {
                    let message = CreateMessage::new()
                        .content(texts::left_idle(channel, w.timeout))
                        .allowed_mentions(CreateAllowedMentions::new());
                    if let Err(e) = ChannelId::new(tc).send_message(&w.http, message).await {
                        tracing::debug!(guild, error = %e, "idle notice not posted");
                    }
                }
            }
        }
    });
}
