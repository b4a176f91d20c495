//! Restores the saved players after a restart (the "ResumePlanner" of the design).
//!
//! Once this instance owns the lease and its shards' guilds have arrived, every saved player of
//! those shards is restored on its own — a failure in one guild is logged with its id and never
//! stops the others: check the voice channel and the bot's permissions, rejoin (paced under
//! Discord's gateway limit, guilds with listeners first), give Lavalink the whole player in one
//! update (or only the new voice state when its session kept the player), post a notice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use poise::serenity_prelude as serenity;
use serenity::{
    ButtonStyle, ChannelId, ChannelType, CreateActionRow, CreateAllowedMentions, CreateButton,
    CreateMessage, GuildId as SGuildId, UserId,
};
use songbird::Songbird;

use super::pacer::Pacer;
use super::texts::{self, PausedBecause};
use super::Configs;
use crate::audio::lavalink::{LavalinkBackend, LivePlayer};
use crate::audio::{same_track, VoiceConnection};
use crate::autosave::Autosave;
use crate::domain::{
    now_ms, restorable, resume_plays, resume_position, shard_of, AudioStop, GuildId, NotRestored,
    PlayerSnapshot,
};
use crate::lease::Exit;
use crate::player::{LiveTrack, PlayerService, RestorePlan};
use crate::settings::ShardPlan;
use crate::store::{LoadFilter, StateStore};

/// Join attempts per guild, and how long each may take.
const JOIN_ATTEMPTS: u32 = 3;
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Guilds restored at once (their voice joins still go through the pacer one by one).
const CONCURRENCY: usize = 32;

/// What restoring needs; cloned from the bot's shared data.
#[derive(Clone)]
pub struct Restorer {
    pub ctx: serenity::Context,
    pub service: PlayerService,
    pub backend: LavalinkBackend,
    pub songbird: Arc<Songbird>,
    pub pacer: Pacer,
    pub store: Arc<dyn StateStore>,
    pub autosave: Autosave,
    pub configs: Configs,
    pub bot_id: u64,
    pub auto_resume: bool,
    pub max_age: Duration,
    /// The shards this process runs: only their guilds are restored.
    pub shards: ShardPlan,
    /// What the restore after start did, once it is done (for `/status`).
    pub last: Arc<std::sync::Mutex<Option<Report>>>,
}

/// How one guild's restore ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Playing,
    Paused,
    /// Not restored, and its saved state is kept (stale ones are deleted).
    Skipped(&'static str),
    /// Not restored: the channel is gone or closed to the bot; its saved state is deleted.
    Refused(&'static str),
    /// Rejoined, but no Lavalink node is up yet: the player is rebuilt when one is.
    Pending,
    Failed(String),
}

/// Counts per outcome, for the log and `/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub playing: usize,
    pub paused: usize,
    pub skipped: usize,
    pub refused: usize,
    pub pending: usize,
    pub failed: usize,
    pub unreadable: usize,
}

impl Report {
    /// Adds the outcomes to `encore_restores_total`.
    fn count_in_metrics(&self) {
        let restores = &crate::metrics::metrics().restores;
        for (outcome, n) in [
            ("playing", self.playing),
            ("paused", self.paused),
            ("skipped", self.skipped),
            ("refused", self.refused),
            ("pending", self.pending),
            ("failed", self.failed),
            ("unreadable", self.unreadable),
        ] {
            restores
                .get_or_create(&crate::metrics::OutcomeLabel { outcome })
                .inc_by(n as u64);
        }
    }

    /// One line for `/status`.
    pub fn summary(&self) -> String {
        format!(
            "{} playing · {} paused · {} waiting for Lavalink · {} not restored · {} failed",
            self.playing,
            self.paused,
            self.pending,
            self.skipped + self.refused + self.unreadable,
            self.failed
        )
    }
}

/// Why the bot may not play in a channel.
enum Blocked {
    Gone,
    Missing(&'static str),
}

impl Restorer {
    /// Joins `channel` through songbird, paced, with up to three attempts.
    pub async fn join(&self, guild: GuildId, channel: u64) -> Result<VoiceConnection, String> {
        join_paced(
            &self.songbird,
            &self.pacer,
            &self.ctx,
            guild,
            channel,
            JOIN_ATTEMPTS,
        )
        .await
    }

    /// Rejoins voice for every player of `shard` (after a fresh gateway session, whose READY
    /// ended the voice sessions of the old one) and hands Lavalink the new voice states.
    #[tracing::instrument(skip_all, fields(shard))]
    pub async fn rejoin_all(&self, shard: u32) {
        self.wait_for_guilds(Duration::from_secs(15)).await;
        let count = self.ctx.cache.shard_count();
        let guilds: Vec<GuildId> = self
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
            async move {
                let Some(channel) = me
                    .service
                    .view(guild)
                    .await
                    .and_then(|v| v.voice_channel_id)
                else {
                    return;
                };
                // songbird still holds the dead connection (and would hand it back as is):
                // drop it first (that is a gateway command too).
                me.pacer
                    .acquire(shard_of(guild, me.ctx.cache.shard_count()))
                    .await;
                if let Err(e) = me.songbird.remove(SGuildId::new(guild)).await {
                    tracing::debug!(guild, error = %e, "no old voice connection to drop");
                }
                let result = match me.join(guild, channel).await {
                    Ok(voice) => me
                        .service
                        .connect(guild, voice, None)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    tracing::warn!(guild, error = %e, "could not rejoin voice");
                }
            }
        });
        futures::stream::iter(jobs)
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<()>>()
            .await;
    }

    /// Waits (up to `limit`) for the guilds of the READY to arrive.
    async fn wait_for_guilds(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if self.ctx.cache.unavailable_guilds().len() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to `limit`) for every Lavalink node, then returns the players the resumed ones
    /// kept, by guild.
    async fn live_players(&self, limit: Duration) -> HashMap<GuildId, LivePlayer> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ready = self.backend.readiness();
            if ready.iter().all(Option::is_some) || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut live = HashMap::new();
        for (node, state) in self.backend.readiness().into_iter().enumerate() {
            if state != Some(true) {
                continue;
            }
            match self.backend.live_players(node).await {
                Ok(players) => {
                    tracing::info!(
                        node,
                        players = players.len(),
                        "Lavalink kept our session; its players are resumed live"
                    );
                    live.extend(players.into_iter().map(|p| (p.guild, p)));
                }
                Err(e) => {
                    tracing::warn!(node, error = %e, "could not list the resumed session's players")
                }
            }
        }
        live
    }

    /// Restores every saved player of this process's shards.
    #[tracing::instrument(skip_all)]
    pub async fn run(&self, exit: Option<Exit>) -> Report {
        self.wait_for_guilds(Duration::from_secs(15)).await;
        let mut live = self.live_players(Duration::from_secs(5)).await;
        let shard_count = self.ctx.cache.shard_count().max(1);
        let filter = LoadFilter::Shards {
            shard_ids: self.shards.ids(shard_count).collect(),
            shard_count,
        };
        let mut report = Report::default();
        let loaded = match self.store.load_all(&filter).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "could not load the saved players; nothing is restored");
                return report;
            }
        };
        report.unreadable = loaded.skipped.len();
        let now = now_ms();
        let mut todo = Vec::new();
        for snapshot in loaded.snapshots {
            let guild = snapshot.guild_id();
            match restorable(&snapshot, now, self.max_age.as_millis() as u64) {
                Ok(()) => todo.push(snapshot),
                Err(why) => {
                    report.skipped += 1;
                    tracing::info!(guild, reason = ?why, "saved player not restored");
                    if why == NotRestored::TooOld {
                        self.forget(guild).await;
                    }
                }
            }
        }
        // Live players nobody saved any more (stopped on purpose, or stale) must not play on.
        let saved: std::collections::HashSet<GuildId> =
            todo.iter().map(PlayerSnapshot::guild_id).collect();
        for (guild, p) in live.iter().filter(|(g, _)| !saved.contains(g)) {
            self.backend.adopt(*guild, p.node);
            if let Err(e) = crate::audio::AudioBackend::destroy(&self.backend, *guild).await {
                tracing::warn!(guild, error = %e, "could not remove a player nobody saved");
            }
        }
        // Every guild's settings in one read, not one read per guild.
        match self.store.load_guild_configs().await {
            Ok(all) => {
                for c in all {
                    if self.configs.cached(c.guild_id).is_none() {
                        self.configs.put(c);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load the servers' settings; reading them one by one")
            }
        }
        // Guilds with people listening first.
        todo.sort_by_key(|s| std::cmp::Reverse(self.listeners(s)));
        tracing::info!(
            guilds = todo.len(),
            live = live.len(),
            exit = ?exit,
            "restoring saved players"
        );
        let stop = match exit {
            Some(Exit::Shutdown { at_ms }) => AudioStop::At(at_ms),
            Some(Exit::Handover { .. }) => AudioStop::Continued,
            None => AudioStop::Unknown,
        };
        let jobs = todo.into_iter().map(|s| {
            let live = live.remove(&s.guild_id());
            let me = self.clone();
            async move {
                let guild = s.guild_id();
                let outcome = me.restore_one(s, live, stop).await;
                (guild, outcome)
            }
        });
        let mut results = futures::stream::iter(jobs).buffer_unordered(CONCURRENCY);
        while let Some((guild, outcome)) = results.next().await {
            match &outcome {
                Outcome::Playing => {
                    report.playing += 1;
                    tracing::debug!(guild, paused = false, "saved player restored");
                }
                Outcome::Paused => {
                    report.paused += 1;
                    tracing::debug!(guild, paused = true, "saved player restored");
                }
                Outcome::Skipped(why) => {
                    report.skipped += 1;
                    tracing::info!(guild, reason = why, "saved player not restored");
                }
                Outcome::Refused(why) => {
                    report.refused += 1;
                    tracing::warn!(
                        guild,
                        reason = why,
                        "saved player not restored; its saved state is deleted"
                    );
                }
                Outcome::Pending => {
                    report.pending += 1;
                    tracing::warn!(
                        guild,
                        "no Lavalink node is up yet; the player is rebuilt when one is"
                    );
                }
                Outcome::Failed(e) => {
                    report.failed += 1;
                    tracing::error!(guild, error = %e, "could not restore the saved player");
                }
            }
        }
        tracing::info!(?report, "restore finished");
        report.count_in_metrics();
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        report
    }

    /// People (not bots) in the saved voice channel.
    fn listeners(&self, s: &PlayerSnapshot) -> usize {
        let Some(channel) = s.state.voice_channel_id else {
            return 0;
        };
        let Some(g) = self.ctx.cache.guild(SGuildId::new(s.guild_id())) else {
            return 0;
        };
        g.voice_states
            .values()
            .filter(|v| v.channel_id.map(|c| c.get()) == Some(channel))
            .filter(|v| v.user_id.get() != self.bot_id)
            .filter(|v| !v.member.as_ref().is_some_and(|m| m.user.bot))
            .count()
    }

    fn blocked(&self, guild: GuildId, channel: u64) -> Option<Blocked> {
        let g = self.ctx.cache.guild(SGuildId::new(guild))?;
        let Some(ch) = g.channels.get(&ChannelId::new(channel)) else {
            return Some(Blocked::Gone);
        };
        if !matches!(ch.kind, ChannelType::Voice | ChannelType::Stage) {
            return Some(Blocked::Gone);
        }
        let member = g.members.get(&UserId::new(self.bot_id))?;
        let perms = g.user_permissions_in(ch, member);
        if !perms.connect() {
            return Some(Blocked::Missing("Connect"));
        }
        if !perms.speak() {
            return Some(Blocked::Missing("Speak"));
        }
        None
    }

    async fn forget(&self, guild: GuildId) {
        self.autosave.forget(guild);
        if let Err(e) = self.store.delete(guild).await {
            tracing::warn!(guild, error = %e, "could not delete the saved player");
        }
    }

    async fn post(&self, channel: Option<u64>, message: CreateMessage) {
        let Some(channel) = channel else { return };
        let message = message.allowed_mentions(CreateAllowedMentions::new());
        if let Err(e) = ChannelId::new(channel)
            .send_message(&self.ctx.http, message)
            .await
        {
            tracing::debug!(channel, error = %e, "restart notice not posted");
        }
    }

    #[tracing::instrument(skip_all, fields(guild = snapshot.guild_id()))]
    async fn restore_one(
        &self,
        snapshot: PlayerSnapshot,
        live: Option<LivePlayer>,
        stop: AudioStop,
    ) -> Outcome {
        let guild = snapshot.guild_id();
        let Some(channel) = snapshot.state.voice_channel_id else {
            return Outcome::Skipped("no voice channel saved");
        };
        if self.ctx.cache.guild(SGuildId::new(guild)).is_none() {
            return Outcome::Skipped("the server is not available");
        }
        if self.service.view(guild).await.is_some() {
            return Outcome::Skipped("a new player started there meanwhile");
        }
        let text_channel = snapshot.state.text_channel_id;
        if let Some(blocked) = self.blocked(guild, channel) {
            let (why, notice) = match blocked {
                Blocked::Gone => (
                    "the voice channel is gone",
                    texts::not_restored_channel_gone(),
                ),
                Blocked::Missing(p) => (
                    if p == "Connect" {
                        "missing the Connect permission"
                    } else {
                        "missing the Speak permission"
                    },
                    texts::not_restored_permission(channel, p),
                ),
            };
            self.forget(guild).await;
            self.post(text_channel, CreateMessage::new().content(notice))
                .await;
            return Outcome::Refused(why);
        }
        let config = self.configs.get(self.store.as_ref(), guild).await;
        let auto = config.auto_resume.unwrap_or(self.auto_resume);
        let listeners = self.listeners(&snapshot);
        let plays = resume_plays(snapshot.state.paused, auto, listeners, config.always_on);
        let voice = match self.join(guild, channel).await {
            Ok(v) => v,
            Err(e) => return Outcome::Failed(e),
        };
        let now = now_ms();
        let current = snapshot.queue.current.clone();
        let live = live.filter(|l| {
            self.backend.adopt(guild, l.node);
            match (&l.track, &current) {
                (Some(t), Some(c)) => same_track(&t.encoded, &c.encoded),
                _ => false,
            }
        });
        let (position_ms, live_track) = match &live {
            Some(l) => {
                let lavalink_now = if l.paused {
                    l.position_ms
                } else {
                    l.position_ms + now.saturating_sub(l.time_ms)
                };
                match stop {
                    // Voice stopped when the old instance closed its gateway: go back there.
                    AudioStop::At(_) => (resume_position(&snapshot, stop, now), true),
                    _ => (lavalink_now, false),
                }
            }
            None => (resume_position(&snapshot, stop, now), false),
        };
        let plan = RestorePlan {
            snapshot,
            voice,
            position_ms,
            paused: !plays,
            live: live.as_ref().map(|l| LiveTrack {
                play_id: l.track.as_ref().and_then(|t| t.play_id),
                seek: live_track,
            }),
        };
        let was_paused = plan.snapshot.state.paused;
        if let Err(e) = self.service.restore(plan).await {
            if PlayerService::is_unavailable(&e) {
                return Outcome::Pending;
            }
            return Outcome::Failed(e.to_string());
        }
        if config.announce_now_playing {
            if let Some(track) = &current {
                let why = (!plays).then_some(if was_paused {
                    PausedBecause::PersonPaused
                } else if !auto {
                    PausedBecause::AutoResumeOff
                } else {
                    PausedBecause::NobodyListening
                });
                let mut message = CreateMessage::new().content(texts::back_after_restart(
                    track,
                    position_ms,
                    why,
                ));
                if why.is_some() {
                    message = message.components(vec![CreateActionRow::Buttons(vec![
                        CreateButton::new(super::buttons::RESUME_ID)
                            .label("Resume")
                            .style(ButtonStyle::Primary),
                    ])]);
                }
                self.post(text_channel, message).await;
            }
        }
        if plays {
            Outcome::Playing
        } else {
            Outcome::Paused
        }
    }
}

/// Joins `channel` through songbird: each attempt takes a gateway slot from the pacer and may
/// take [`JOIN_TIMEOUT`]; attempts back off 1 s, 2 s, ….
pub(crate) async fn join_paced(
    songbird: &Songbird,
    pacer: &Pacer,
    ctx: &serenity::Context,
    guild: GuildId,
    channel: u64,
    attempts: u32,
) -> Result<VoiceConnection, String> {
    let shard = shard_of(guild, ctx.cache.shard_count());
    let mut last = String::new();
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
            Ok(Err(e)) => last = format!("joining voice failed: {e}"),
            Err(_) => last = format!("joining voice took longer than {JOIN_TIMEOUT:?}"),
        }
        tracing::warn!(guild, attempt = attempt + 1, error = %last, "voice join attempt failed");
    }
    Err(last)
}
