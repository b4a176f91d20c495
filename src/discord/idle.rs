//! Leaves a voice channel that has had no listeners for `IDLE_TIMEOUT`, unless 24/7 is on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;
use serenity::{Cache, CreateMessage, GuildId};

use super::post::post;
use super::{policy, texts, voice, DiscordParts};
use crate::services::Services;

/// The bot's voice channel in `guild` and how many people (not bots) are in it.
fn bot_channel_listeners(cache: &Cache, guild: u64, bot: u64) -> Option<(u64, usize)> {
    let g = cache.guild(GuildId::new(guild))?;
    let channel = policy::voice_channel_of(&g, bot)?;
    Some((channel, policy::listeners(&g, channel, bot)))
}

/// Starts the watch: every quarter of `IDLE_TIMEOUT` (1 s to 30 s) it looks at every player.
pub fn spawn(services: Services, discord: DiscordParts) {
    tokio::spawn(async move {
        let timeout = services.idle_timeout;
        let period = (timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
        let mut empty_since: HashMap<u64, Instant> = HashMap::new();
        loop {
            tokio::time::sleep(period).await;
            for guild in services.service.guilds() {
                let Some((channel, people)) =
                    bot_channel_listeners(&discord.cache, guild, services.bot_id)
                else {
                    empty_since.remove(&guild);
                    continue;
                };
                let always_on = services.config(guild).await.always_on;
                if people > 0 || always_on {
                    empty_since.remove(&guild);
                    continue;
                }
                let since = *empty_since.entry(guild).or_insert_with(Instant::now);
                if since.elapsed() < timeout {
                    continue;
                }
                empty_since.remove(&guild);
                let text_channel = services
                    .service
                    .view(guild)
                    .await
                    .and_then(|v| v.text_channel_id);
                tracing::info!(guild, "leaving an empty voice channel");
                if let Err(e) = services.service.leave(guild).await {
                    tracing::warn!(guild, error = %e, "could not remove the player");
                }
                if let Err(e) = voice::leave(&discord.songbird, guild).await {
                    tracing::warn!(guild, error = %e, "could not leave voice");
                }
                let notice = CreateMessage::new().content(texts::left_idle(channel, timeout));
                post(&discord.http, guild, text_channel, notice, "idle notice").await;
            }
        }
    });
}
