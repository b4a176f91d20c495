//! Rejoining voice after a fresh gateway session: its READY ended the voice sessions of the old
//! one (Discord closes them with 4006/4014), so every player of that shard joins again and
//! Lavalink gets the new voice state — without restarting the tracks.

use std::time::Duration;

use futures::StreamExt;

use super::restore::{Restorer, CONCURRENCY};
use crate::discord::voice;
use crate::domain::{shard_of, GuildId};

impl Restorer {
    /// Rejoins voice for every player of `shard` and hands Lavalink the new voice states.
    #[tracing::instrument(skip_all, fields(shard))]
    pub async fn rejoin_all(&self, shard: u32) {
        self.wait_for_guilds(Duration::from_secs(15)).await;
        let count = self.discord.cache.shard_count();
        let guilds: Vec<GuildId> = self
            .services
            .service
            .guilds()
            .into_iter()
            .filter(|g| shard_of(*g, count) == shard)
            .collect();
        tracing::info!(
            players = guilds.len(),
            "new gateway session: rejoining voice"
        );
        let jobs = guilds.into_iter().map(|guild| {
            let me = self.clone();
            async move { me.rejoin(guild, shard).await }
        });
        futures::stream::iter(jobs)
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<()>>()
            .await;
    }

    async fn rejoin(&self, guild: GuildId, shard: u32) {
        let service = &self.services.service;
        let Some(channel) = service.view(guild).await.and_then(|v| v.voice_channel_id) else {
            return;
        };
        // songbird still holds the dead connection (and would hand it back as is): drop it
        // first (that is a gateway command too).
        self.discord.pacer.acquire(shard).await;
        if let Err(e) = voice::leave(&self.discord.songbird, guild).await {
            tracing::debug!(guild, error = %e, "no old voice connection to drop");
        }
        let result = match self.join(guild, channel).await {
            Ok(v) => service
                .connect(guild, v, None)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(guild, error = %e, "could not rejoin voice");
        }
    }
}
