//! The startup restore: once this instance owns the lease and its shards' guilds have arrived,
//! every saved player of those shards is restored on its own — a failure in one guild is logged
//! with its id and never stops the others.
//!
//! For each guild this module only gathers facts (the snapshot, Lavalink's live player, the
//! channel's access and listeners from the gateway cache, the server's settings) and carries out
//! the decision [`crate::domain::restore::plan`] makes: rejoin (paced under Discord's gateway
//! limit, guilds with listeners first), give Lavalink the whole player in one update (or only the
//! new voice state when its session kept the player), post a notice.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use poise::serenity_prelude as serenity;
use serenity::{ButtonStyle, CreateActionRow, CreateButton, CreateMessage, GuildId as SGuildId};

use crate::audio::lavalink::LivePlayer;
use crate::audio::same_track;
use crate::discord::{buttons, policy, post::post, texts, voice, DiscordParts};
use crate::domain::restore::{
    self, AudioStop, ChannelAccess, LivePosition, Refusal, RestoreFacts, RestoreReport,
};
use crate::domain::{now_ms, restorable, GuildId, NotRestored, PlayerSnapshot};
use crate::lease::Exit;
use crate::player::{LiveTrack, PlayerService, RestorePlan, VoiceEnd};
use crate::services::Services;
use crate::store::LoadFilter;
use crate::sync::LockExt;

/// Join attempts per guild.
pub(super) const JOIN_ATTEMPTS: u32 = 3;
/// How long a restored player has to be heard before its "back after a restart" notice.
const BACK_WITHIN: Duration = Duration::from_secs(5);
/// Guilds restored at once (their voice joins still go through the pacer one by one).
pub(super) const CONCURRENCY: usize = 32;
/// How long to wait for the guilds of the READY, and for the Lavalink nodes.
const GUILDS_WAIT: Duration = Duration::from_secs(15);
const NODES_WAIT: Duration = Duration::from_secs(5);

/// How one guild's restore ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
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

/// What restoring needs: the shared services and the Discord client's parts.
#[derive(Clone)]
pub struct Restorer {
    pub services: Services,
    pub discord: DiscordParts,
}

impl Restorer {
    fn service(&self) -> &PlayerService {
        &self.services.service
    }

    /// Joins `channel` through songbird, paced, with up to [`JOIN_ATTEMPTS`] attempts.
    pub(super) async fn join(
        &self,
        guild: GuildId,
        channel: u64,
    ) -> Result<crate::audio::VoiceConnection, crate::player::JoinError> {
        let d = &self.discord;
        let shards = d.cache.shard_count();
        voice::join_paced(
            &d.songbird,
            &d.pacer,
            &d.own_leaves,
            shards,
            guild,
            channel,
            JOIN_ATTEMPTS,
        )
        .await
    }

    /// Waits (up to `limit`) for the guilds of the READY to arrive.
    pub(super) async fn wait_for_guilds(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if self.discord.cache.unavailable_guilds().len() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to `limit`) for every Lavalink node, then returns the players the resumed ones
    /// kept, by guild.
    async fn live_players(&self, limit: Duration) -> HashMap<GuildId, LivePlayer> {
        let backend = &self.services.backend;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ready = backend.readiness();
            if ready.iter().all(Option::is_some) || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut live = HashMap::new();
        for (node, state) in backend.readiness().into_iter().enumerate() {
            if state != Some(true) {
                continue;
            }
            match backend.live_players(node).await {
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

    /// The saved players of this process's shards worth restoring; stale ones are deleted.
    async fn load(&self, report: &mut RestoreReport, now: u64) -> Option<Vec<PlayerSnapshot>> {
        let shard_count = self.discord.cache.shard_count().max(1);
        let filter = LoadFilter::Shards {
            shard_ids: self.services.shards.ids(shard_count).collect(),
            shard_count,
        };
        let loaded = match self.services.store.load_all(&filter).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "could not load the saved players; nothing is restored");
                return None;
            }
        };
        report.unreadable = loaded.skipped.len();
        let max_age = self.services.restore.max_age.as_millis() as u64;
        let mut todo = Vec::new();
        for snapshot in loaded.snapshots {
            let guild = snapshot.guild_id();
            match restorable(&snapshot, now, max_age) {
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
        Some(todo)
    }

    /// Live players nobody saved any more (stopped on purpose, or stale) must not play on.
    async fn destroy_unsaved(&self, live: &HashMap<GuildId, LivePlayer>, todo: &[PlayerSnapshot]) {
        let saved: HashSet<GuildId> = todo.iter().map(PlayerSnapshot::guild_id).collect();
        let backend = &self.services.backend;
        for (guild, p) in live.iter().filter(|(g, _)| !saved.contains(g)) {
            backend.adopt(*guild, p.node);
            if let Err(e) = crate::audio::AudioBackend::destroy(backend, *guild).await {
                tracing::warn!(guild, error = %e, "could not remove a player nobody saved");
            }
        }
    }

    /// Every guild's settings in one read, not one read per guild.
    async fn preload_configs(&self) {
        match self.services.store.load_guild_configs().await {
            Ok(all) => {
                for c in all {
                    if self.services.configs.cached(c.guild_id).is_none() {
                        self.services.configs.put(c);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load the servers' settings; reading them one by one")
            }
        }
    }

    /// Restores every saved player of this process's shards. `exit` says how the previous owner
    /// left; after a crash (`None`), `last_seen_ms` is its last lease renewal (Unix ms), up to
    /// which a playing player's saved position is carried forward when Lavalink did not keep it.
    /// Interactions become ours once the saved players are loaded; those of a guild being
    /// restored wait for it (`Gate::restoring_guilds`).
    #[tracing::instrument(skip_all)]
    pub async fn run(&self, exit: Option<Exit>, last_seen_ms: Option<u64>) -> RestoreReport {
        let gate = &self.discord.gate;
        let cut = match exit {
            Some(Exit::Handover { cut_ms, .. }) => Some(cut_ms),
            _ => None,
        };
        self.wait_for_guilds(GUILDS_WAIT).await;
        let mut report = RestoreReport::default();
        // The age limit is judged once, at load: a long paced restore does not drop the last ones.
        let loaded_at = now_ms();
        let Some(mut todo) = self.load(&mut report, loaded_at).await else {
            gate.become_owner(cut).await;
            return report;
        };
        // Interactions are ours from now on; those of the guilds coming back wait for them.
        gate.restoring_guilds(todo.iter().map(PlayerSnapshot::guild_id));
        gate.become_owner(cut).await;
        let mut live = self.live_players(NODES_WAIT).await;
        self.destroy_unsaved(&live, &todo).await;
        self.preload_configs().await;
        // Guilds with people listening first.
        todo.sort_by_key(|s| std::cmp::Reverse(self.listeners(s)));
        tracing::info!(guilds = todo.len(), live = live.len(), exit = ?exit, "restoring saved players");
        let stop = match exit {
            Some(Exit::Shutdown { at_ms }) => AudioStop::At(at_ms),
            Some(Exit::Handover { .. }) => AudioStop::Continued,
            None => last_seen_ms.map_or(AudioStop::Unknown, AudioStop::LastSeen),
        };
        let jobs = todo.into_iter().map(|s| {
            let live = live.remove(&s.guild_id());
            let me = self.clone();
            async move {
                let guild = s.guild_id();
                let outcome = me.restore_one(s, live, stop, loaded_at).await;
                me.discord.gate.guild_restored(guild).await;
                (guild, outcome)
            }
        });
        let mut results = futures::stream::iter(jobs).buffer_unordered(CONCURRENCY);
        while let Some((guild, outcome)) = results.next().await {
            count(&mut report, guild, &outcome);
        }
        gate.restore_done().await;
        tracing::info!(?report, "restore finished");
        let restores = &crate::metrics::metrics().restores;
        for (outcome, n) in report.by_outcome() {
            restores
                .get_or_create(&crate::metrics::OutcomeLabel { outcome })
                .inc_by(n as u64);
        }
        *self.services.last_restore.locked() = Some(report.clone());
        report
    }

    /// People (not bots) in the saved voice channel.
    fn listeners(&self, s: &PlayerSnapshot) -> usize {
        let Some(channel) = s.state.voice_channel_id else {
            return 0;
        };
        let Some(g) = self.discord.cache.guild(SGuildId::new(s.guild_id())) else {
            return 0;
        };
        policy::listeners(&g, channel, self.services.bot_id)
    }

    /// The channel's access as the cache says; `None` when the guild is not cached.
    fn access(&self, guild: GuildId, channel: u64) -> Option<ChannelAccess> {
        let g = self.discord.cache.guild(SGuildId::new(guild))?;
        Some(policy::channel_access(&g, channel, self.services.bot_id))
    }

    async fn forget(&self, guild: GuildId) {
        self.services.autosave.forget(guild);
        if let Err(e) = self.services.store.delete(guild).await {
            tracing::warn!(guild, error = %e, "could not delete the saved player");
        }
    }

    /// Lavalink's live player, when it plays the saved current track (it is ours from now on).
    fn live_position(
        &self,
        snapshot: &PlayerSnapshot,
        live: &Option<LivePlayer>,
    ) -> Option<LivePosition> {
        let l = live.as_ref()?;
        self.services.backend.adopt(snapshot.guild_id(), l.node);
        let (t, c) = (l.track.as_ref()?, snapshot.queue.current.as_ref()?);
        same_track(&t.encoded, &c.encoded).then_some(LivePosition {
            position_ms: l.position_ms,
            time_ms: l.time_ms,
            paused: l.paused,
        })
    }

    #[tracing::instrument(skip_all, fields(guild = snapshot.guild_id()))]
    async fn restore_one(
        &self,
        snapshot: PlayerSnapshot,
        live: Option<LivePlayer>,
        stop: AudioStop,
        loaded_at: u64,
    ) -> Outcome {
        let guild = snapshot.guild_id();
        let channel = snapshot.state.voice_channel_id.unwrap_or_default();
        let Some(access) = self.access(guild, channel) else {
            return Outcome::Skipped("the server is not available");
        };
        if self.service().view(guild).await.is_some() {
            return Outcome::Skipped("a new player started there meanwhile");
        }
        let config = self.services.config(guild).await;
        let facts = RestoreFacts {
            snapshot: &snapshot,
            live: match access {
                ChannelAccess::Open => self.live_position(&snapshot, &live),
                _ => None,
            },
            stop,
            access,
            auto_resume: config
                .auto_resume
                .unwrap_or(self.services.restore.auto_resume),
            always_on: config.always_on,
            listeners: self.listeners(&snapshot),
            max_age_ms: self.services.restore.max_age.as_millis() as u64,
            now_ms: loaded_at,
        };
        let decision = match restore::plan(&facts) {
            Ok(p) => p,
            Err(refusal) => return self.refuse(&snapshot, refusal).await,
        };
        let voice = match self.join(guild, decision.voice_channel_id).await {
            Ok(v) => v,
            Err(e) => {
                // The saved state stays for the next start; the channel hears why not now.
                let end = VoiceEnd::RejoinFailed {
                    channel: decision.voice_channel_id,
                };
                let message = CreateMessage::new().content(texts::voice_ended(&end));
                self.restart_notice(guild, snapshot.state.text_channel_id, message)
                    .await;
                return Outcome::Failed(e.to_string());
            }
        };
        let position_ms = decision.position_ms(&snapshot, now_ms());
        let text_channel = snapshot.state.text_channel_id;
        let current = snapshot.queue.current.clone();
        // A queue stopped after failures comes back stopped: nothing plays.
        let plays = decision.plays() && current.is_some();
        let plan = RestorePlan {
            snapshot,
            voice,
            position_ms,
            paused: decision.paused_because,
            live: decision.keep_live.map(|seek| LiveTrack {
                play_id: live
                    .as_ref()
                    .and_then(|l| l.track.as_ref())
                    .and_then(|t| t.play_id),
                seek,
            }),
        };
        if let Err(e) = self.service().restore(plan).await {
            if PlayerService::is_unavailable(&e) {
                return Outcome::Pending;
            }
            return Outcome::Failed(e.to_string());
        }
        // A hand-over is no restart for listeners: the music went on, nothing to announce.
        let handed_over = stop == AudioStop::Continued;
        if let (true, false, Some(track)) = (config.announce_now_playing, handed_over, current) {
            // "Back" only once listeners hear it: a voice that does not come back is healed,
            // and a give-up says so instead.
            let me = self.clone();
            let why = decision.paused_because;
            tokio::spawn(async move {
                if me.service().audio_is_back(guild, BACK_WITHIN).await {
                    me.post_back_notice(guild, text_channel, &track, position_ms, why)
                        .await;
                } else {
                    tracing::info!(guild, "no audio yet after the restore: no back notice");
                }
            });
        }
        if plays {
            Outcome::Playing
        } else {
            Outcome::Paused
        }
    }

    /// "Back after a restart", with a Resume button when it came back paused.
    async fn post_back_notice(
        &self,
        guild: GuildId,
        text_channel: Option<u64>,
        track: &crate::domain::Track,
        position_ms: u64,
        why: Option<crate::domain::PauseReason>,
    ) {
        let mut message =
            CreateMessage::new().content(texts::back_after_restart(track, position_ms, why));
        if why.is_some() {
            message = message.components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                buttons::RESUME_ID,
            )
            .label(texts::labels::RESUME)
            .style(ButtonStyle::Primary)])]);
        }
        self.restart_notice(guild, text_channel, message).await;
    }

    /// Posts a notice of the restore to the saved text channel.
    async fn restart_notice(
        &self,
        guild: GuildId,
        text_channel: Option<u64>,
        message: CreateMessage,
    ) {
        post(
            &self.discord.http,
            guild,
            text_channel,
            message,
            "restart notice",
        )
        .await;
    }

    /// Not restored: the saved state is deleted when it can never come back, and the text
    /// channel is told when the channel refused the bot.
    async fn refuse(&self, snapshot: &PlayerSnapshot, refusal: Refusal) -> Outcome {
        let guild = snapshot.guild_id();
        if !refusal.forgets_saved_state() {
            return Outcome::Skipped(refusal.reason());
        }
        self.forget(guild).await;
        let channel = snapshot.state.voice_channel_id.unwrap_or_default();
        let notice = match refusal {
            Refusal::ChannelGone => texts::not_restored_channel_gone(),
            Refusal::MissingPermission(p) => texts::not_restored_permission(channel, p.as_str()),
            Refusal::NotRestorable(_) => return Outcome::Skipped(refusal.reason()),
        };
        let message = CreateMessage::new().content(notice);
        self.restart_notice(guild, snapshot.state.text_channel_id, message)
            .await;
        Outcome::Refused(refusal.reason())
    }
}

/// Adds one guild's outcome to the report, with a log line naming the guild.
fn count(report: &mut RestoreReport, guild: GuildId, outcome: &Outcome) {
    match outcome {
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
