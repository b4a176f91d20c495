//! Server commands: /settings, /status, /help.

use super::*;

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
enum ResumeChoice {
    #[name = "as the bot's default"]
    Default,
    #[name = "on"]
    On,
    #[name = "off"]
    Off,
}

/// Server settings: DJ role, 24/7, volume, announcements, resume, autoplay, vote-skip.
#[poise::command(
    slash_command,
    guild_only,
    required_permissions = "MANAGE_GUILD",
    default_member_permissions = "MANAGE_GUILD"
)]
#[allow(clippy::too_many_arguments)]
pub(super) async fn settings(
    ctx: Context<'_>,
    #[description = "Role that may stop, clear, skip others' tracks, set volume, loop and filters"]
    dj_role: Option<serenity::Role>,
    #[description = "Remove the DJ role: everyone controls the music"] clear_dj_role: Option<bool>,
    #[description = "24/7: stay in voice when nobody listens"] always_on: Option<bool>,
    #[description = "Volume a new player starts at"]
    #[min = 0]
    #[max = 200]
    default_volume: Option<u16>,
    #[description = "Post a message when a new track starts"] announce: Option<bool>,
    #[description = "Resume the music after a restart"] auto_resume: Option<ResumeChoice>,
    #[description = "Autoplay related tracks when the queue runs out (new players)"]
    autoplay: Option<bool>,
    #[description = "Share of listeners whose votes skip a track, in % (0 = anyone skips)"]
    #[min = 0]
    #[max = 100]
    vote_skip: Option<u8>,
) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let data = ctx.data();
    let mut config = data.config(guild).await;
    let before = config.clone();
    if let Some(role) = dj_role {
        config.dj_role_id = Some(role.id.get());
    }
    if clear_dj_role == Some(true) {
        config.dj_role_id = None;
    }
    if let Some(b) = always_on {
        config.always_on = b;
    }
    if let Some(v) = default_volume {
        config.default_volume = v;
    }
    if let Some(b) = announce {
        config.announce_now_playing = b;
    }
    if let Some(r) = auto_resume {
        config.auto_resume = match r {
            ResumeChoice::Default => None,
            ResumeChoice::On => Some(true),
            ResumeChoice::Off => Some(false),
        };
    }
    if let Some(b) = autoplay {
        config.autoplay = b;
    }
    if let Some(p) = vote_skip {
        config.vote_skip_percent = p;
    }
    if config != before {
        config.updated_at_ms = crate::domain::now_ms();
        data.store
            .save_guild_config(&config)
            .await
            .map_err(|e| CommandError::Internal(format!("saving settings: {e}")))?;
        data.configs.put(config.clone());
    }
    let title = texts::settings_title(config != before);
    say(ctx, format!("{title}\n{}", texts::guild_settings(&config))).await
}

/// Shows the bot's health: store, last save, saved players, audio nodes, uptime, version.
#[poise::command(slash_command)]
pub(super) async fn status(ctx: Context<'_>) -> Result<(), Error> {
    let data = ctx.data();
    let health = data.store.health().await;
    let stats = data.autosave.stats();
    let facts = texts::StatusFacts {
        store: health.backend,
        store_reachable: health.reachable,
        last_save_ago_s: stats
            .last_success_at_ms
            .map(|t| crate::domain::now_ms().saturating_sub(t) / 1000),
        saved_players: health.saved_players,
        restored: data.last_restore().map(|r| texts::restore_summary(&r)),
        nodes: data.backend.node_status(),
        shard: ctx.serenity_context().shard_id.0,
        shard_count: ctx.serenity_context().cache.shard_count(),
        shards: data.shards.to_string(),
        uptime: data.started.elapsed(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let text = texts::status(&facts);
    say(ctx, text).await
}

/// Lists the commands.
#[poise::command(slash_command)]
pub(super) async fn help(ctx: Context<'_>) -> Result<(), Error> {
    reply_ephemeral(ctx, texts::help()).await;
    Ok(())
}
