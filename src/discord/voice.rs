//! The bot's own voice I/O through songbird (the voice gateway only; Lavalink sends the audio):
//! join a channel, paced under Discord's gateway limit, leave one, and Discord's side of voice
//! healing ([`SongbirdVoice`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use poise::serenity_prelude as serenity;
use serenity::{Cache, ChannelId, GuildId as SGuildId};
use songbird::Songbird;

use super::pacer::Pacer;
use crate::audio::VoiceConnection;
use crate::domain::{shard_of, GuildId};
use crate::player::{JoinError, VoiceLink};
use crate::sync::LockExt;

/// Leaves the bot sent on its own (the leave of a rejoin, a join given up): Discord's voice state
/// without a channel that answers one is not a moderator's disconnect. A mark counts for
/// [`OWN_LEAVE_WINDOW`] (Discord sends nothing when the bot was not in voice after all); cheap
/// to clone.
#[derive(Clone, Default)]
pub struct OwnLeaves(Arc<Mutex<HashMap<GuildId, Instant>>>);

/// How long a mark of [`OwnLeaves`] waits for Discord's answer.
pub const OWN_LEAVE_WINDOW: Duration = Duration::from_secs(5);

impl OwnLeaves {
    fn mark(&self, guild: GuildId) {
        self.0.locked().insert(guild, Instant::now());
    }

    /// Whether a channel-less voice state of the bot in `guild` answers a leave of its own (the
    /// mark is used up).
    pub fn take(&self, guild: GuildId) -> bool {
        self.0
            .locked()
            .remove(&guild)
            .is_some_and(|at| at.elapsed() < OWN_LEAVE_WINDOW)
    }
}

/// How long one join attempt may take (Discord answers op 4 within a second when it can).
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Joins `channel` through songbird: each attempt takes a gateway slot from the pacer and may
/// take [`JOIN_TIMEOUT`]; attempts back off 1 s, 2 s, …. Returns the four voice values Lavalink
/// needs, with the channel id. A join Discord never answered leaves nothing behind: songbird's
/// pending call is dropped (and Discord told to leave, should the join land late), so the next
/// join starts clean.
pub async fn join_paced(
    songbird: &Songbird,
    pacer: &Pacer,
    own_leaves: &OwnLeaves,
    shard_count: u32,
    guild: GuildId,
    channel: u64,
    attempts: u32,
) -> Result<VoiceConnection, JoinError> {
    let shard = shard_of(guild, shard_count);
    let mut last = JoinError::NoAnswer;
    for attempt in 0..attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        pacer.acquire(shard).await;
        let joined = tokio::time::timeout(
            JOIN_TIMEOUT,
            songbird.join_gateway(SGuildId::new(guild), ChannelId::new(channel)),
        )
        .await;
        match joined {
            Ok(Ok((info, _call))) => {
                return Ok(VoiceConnection {
                    token: info.token,
                    endpoint: info.endpoint,
                    session_id: info.session_id,
                    channel_id: info.channel_id.0.get(),
                })
            }
            // Discord's answer did not complete the join in time (`TimedOut`), or a voice state
            // cancelled the pending one (`Dropped`: a late leave of an old session): try again.
            Ok(Err(songbird::error::JoinError::TimedOut | songbird::error::JoinError::Dropped))
            | Err(_) => last = JoinError::NoAnswer,
            Ok(Err(e)) => last = JoinError::Failed(e.to_string()),
        }
        tracing::warn!(guild, attempt = attempt + 1, error = %last, "voice join attempt failed");
    }
    if last == JoinError::NoAnswer {
        // Nothing of the attempt stays: Discord is told to leave, should the join land late.
        pacer.acquire(shard).await;
        own_leaves.mark(guild);
        if let Err(e) = leave(songbird, guild).await {
            tracing::debug!(guild, error = %e, "no pending voice join to drop");
        }
    }
    Err(last)
}

/// Leaves voice in `guild` (songbird sends op 4 with no channel); an error when the bot was not
/// connected there.
pub async fn leave(songbird: &Songbird, guild: GuildId) -> Result<(), String> {
    songbird
        .remove(SGuildId::new(guild))
        .await
        .map_err(|e| e.to_string())
}

/// Joins `channel` for a member's command: the channel the command came from becomes the
/// player's text channel, and a new player gets the server's default volume.
pub(crate) async fn join(
    shard_count: u32,
    data: &super::Data,
    guild: GuildId,
    channel: u64,
    text_channel: u64,
) -> Result<(), super::CommandError> {
    // One join per guild at a time: songbird drops a pending join when a second starts, so two
    // members' commands at once would both fail. The second finds the bot there and goes on.
    let lock = data.joins.of(guild);
    let _joining = lock.lock().await;
    let there = data
        .service
        .view(guild)
        .await
        .is_some_and(|v| v.voice_channel_id == Some(channel));
    if there && data.service.voice_session(guild).await.is_some() {
        data.service.set_text_channel(guild, text_channel).await;
        return Ok(());
    }
    let voice = join_paced(
        &data.songbird,
        &data.pacer,
        &data.own_leaves,
        shard_count,
        guild,
        channel,
        1,
    )
    .await
    .map_err(|e| match e {
        JoinError::NoAnswer => {
            super::CommandError::Refused(super::texts::JOIN_NO_ANSWER.to_string())
        }
        JoinError::Failed(detail) => super::CommandError::Internal(detail),
    })?;
    let fresh = data.service.view(guild).await.is_none();
    data.service
        .connect(guild, voice, Some(text_channel))
        .await?;
    if fresh {
        let config = data.config(guild).await;
        data.service
            .set_volume(guild, config.default_volume)
            .await?;
        data.service.set_autoplay(guild, config.autoplay).await?;
    }
    Ok(())
}

/// A lock per guild for members' joins ([`join`]).
#[derive(Default)]
pub struct JoinLocks(
    std::sync::Mutex<std::collections::HashMap<GuildId, Arc<tokio::sync::Mutex<()>>>>,
);

impl JoinLocks {
    fn of(&self, guild: GuildId) -> Arc<tokio::sync::Mutex<()>> {
        use crate::sync::LockExt;
        self.0.locked().entry(guild).or_default().clone()
    }
}

/// How long a rejoin waits for Discord to confirm the leave before joining again.
const LEAVE_ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Discord's side of voice healing, through songbird and the gateway pacer.
pub struct SongbirdVoice {
    songbird: Arc<Songbird>,
    pacer: Pacer,
    cache: Arc<Cache>,
    own_leaves: OwnLeaves,
}

impl SongbirdVoice {
    pub fn new(parts: &super::DiscordParts) -> Self {
        SongbirdVoice {
            songbird: parts.songbird.clone(),
            pacer: parts.pacer.clone(),
            cache: parts.cache.clone(),
            own_leaves: parts.own_leaves.clone(),
        }
    }

    async fn join(&self, guild: GuildId, channel: u64) -> Result<VoiceConnection, JoinError> {
        let shards = self.cache.shard_count();
        join_paced(
            &self.songbird,
            &self.pacer,
            &self.own_leaves,
            shards,
            guild,
            channel,
            1,
        )
        .await
    }
}

#[async_trait]
impl VoiceLink for SongbirdVoice {
    async fn request_again(
        &self,
        guild: GuildId,
        channel: u64,
    ) -> Result<VoiceConnection, JoinError> {
        // songbird answers a join of the channel it is in from memory; forgetting the connection
        // locally (no gateway command) makes it send op 4 again and wait for Discord's answer.
        if let Some(call) = self.songbird.get(SGuildId::new(guild)) {
            call.lock()
                .await
                .update_state(String::new(), None::<ChannelId>);
        }
        self.join(guild, channel).await
    }

    async fn rejoin(&self, guild: GuildId, channel: u64) -> Result<VoiceConnection, JoinError> {
        self.leave(guild).await;
        // Discord's answer to the leave must come first: songbird would apply a late one to the
        // new join and drop it.
        let bot = self.cache.current_user().id;
        let deadline = tokio::time::Instant::now() + LEAVE_ANSWER_WITHIN;
        while tokio::time::Instant::now() < deadline {
            let still_in = self.cache.guild(SGuildId::new(guild)).is_some_and(|g| {
                g.voice_states
                    .get(&bot)
                    .is_some_and(|v| v.channel_id.is_some())
            });
            if !still_in {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.join(guild, channel).await
    }

    async fn leave(&self, guild: GuildId) {
        self.pacer
            .acquire(shard_of(guild, self.cache.shard_count()))
            .await;
        self.own_leaves.mark(guild);
        if let Err(e) = leave(&self.songbird, guild).await {
            tracing::debug!(guild, error = %e, "no voice connection to leave");
        }
    }
}
