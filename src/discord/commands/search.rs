//! `/search`: the top results of a source in a menu (for the member who asked only), and a pick
//! from it, which queues the track by `/play`'s rules. The results are kept in
//! [`Data::searches`] under the command's interaction id until the menu closes
//! (`SEARCH_MENU_TIMEOUT`); the menu is then disabled.

use std::sync::Arc;

use poise::serenity_prelude::{
    ComponentInteraction, ComponentInteractionDataKind, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateSelectMenu, CreateSelectMenuKind,
    CreateSelectMenuOption, EditInteractionResponse,
};

use super::*;
use crate::domain::{SearchSource, Track};

/// Results in the menu at most.
pub const SEARCH_RESULTS: usize = 10;
/// Open menus kept at most (the oldest close first).
pub const SEARCH_MENUS_KEPT_AT_MOST: usize = 1000;

/// An open menu: who searched, for what, and the results in their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchMenu {
    pub user: u64,
    pub query: String,
    pub source: Option<SearchSource>,
    pub tracks: Vec<Track>,
}

/// Where the open menus are kept.
pub type KeptMenus = crate::discord::kept::Kept<Arc<SearchMenu>>;

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
enum SourceChoice {
    #[name = "YouTube"]
    YouTube,
    #[name = "YouTube Music"]
    YouTubeMusic,
    #[name = "SoundCloud"]
    SoundCloud,
    #[name = "Spotify"]
    Spotify,
    #[name = "Apple Music"]
    AppleMusic,
    #[name = "Deezer"]
    Deezer,
}

impl From<SourceChoice> for SearchSource {
    fn from(c: SourceChoice) -> Self {
        match c {
            SourceChoice::YouTube => SearchSource::YouTube,
            SourceChoice::YouTubeMusic => SearchSource::YouTubeMusic,
            SourceChoice::SoundCloud => SearchSource::SoundCloud,
            SourceChoice::Spotify => SearchSource::Spotify,
            SourceChoice::AppleMusic => SearchSource::AppleMusic,
            SourceChoice::Deezer => SearchSource::Deezer,
        }
    }
}

/// Searches for tracks and lets you pick one to play.
#[poise::command(slash_command, guild_only)]
pub(super) async fn search(
    ctx: Context<'_>,
    #[description = "Words to search for"]
    #[max_length = 500]
    query: String,
    #[description = "Where to search (default: the bot's usual source)"] source: Option<
        SourceChoice,
    >,
) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    // Searching may take longer than Discord waits for an answer.
    ctx.defer_ephemeral()
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    let data = ctx.data();
    let source = source.map(SearchSource::from);
    let tracks = data
        .service
        .search_in(source, &query, SEARCH_RESULTS)
        .await?;
    let key = ctx.id();
    let menu = Arc::new(SearchMenu {
        user: ctx.author().id.get(),
        query: query.trim().to_string(),
        source,
        tracks,
    });
    let closes_in = data.searches.ttl();
    data.searches.insert(key, menu.clone());
    let reply = CreateReply::default()
        .content(texts::search_prompt(&menu.query, source, closes_in))
        .components(vec![menu_row(key, &menu, false)])
        .ephemeral(true);
    send(ctx, reply).await?;
    if let poise::Context::Application(app) = ctx {
        let interaction = app.interaction.clone();
        let http = ctx.serenity_context().http.clone();
        let searches = data.searches.clone();
        tokio::spawn(async move {
            tokio::time::sleep(closes_in).await;
            // Still open (a restart forgets it): close it.
            if searches.remove(key).is_none() {
                return;
            }
            let edit = EditInteractionResponse::new()
                .content(texts::search_closed(&menu.query, menu.source))
                .components(vec![menu_row(key, &menu, true)]);
            if let Err(e) = interaction.edit_response(&http, edit).await {
                tracing::debug!(guild, error = %e, "could not close a search menu");
            }
        });
    }
    Ok(())
}

/// The menu of `menu`'s results (values: their indexes), kept under `key`.
fn menu_row(key: u64, menu: &SearchMenu, disabled: bool) -> serenity::CreateActionRow {
    let options = menu
        .tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            CreateSelectMenuOption::new(texts::search_option_label(t), i.to_string())
                .description(texts::search_option_description(t))
        })
        .collect();
    serenity::CreateActionRow::SelectMenu(
        CreateSelectMenu::new(
            format!("{}search:{key}", buttons::PREFIX),
            CreateSelectMenuKind::String { options },
        )
        .placeholder(texts::SEARCH_PLACEHOLDER)
        .disabled(disabled),
    )
}

/// What a pick queues: the track's link, else a search for its title and author on its source.
fn query_of(t: &Track, source: Option<SearchSource>) -> String {
    match &t.uri {
        Some(uri) if uri.starts_with("https://") || uri.starts_with("http://") => uri.clone(),
        _ => {
            let words = format!("{} {}", t.title.trim(), t.author.trim());
            match source {
                Some(s) => format!("{}:{}", s.prefix(), words.trim()),
                None => words.trim().to_string(),
            }
        }
    }
}

/// A pick from the menu kept under `key`: refused at once (ephemerally) when the menu closed,
/// is someone else's, or the member may not use the player; otherwise acknowledged, then the
/// track is queued as `/play` would and the confirmation follows, public.
pub(crate) async fn pick(
    ctx: &serenity::Context,
    data: &Data,
    click: &ComponentInteraction,
    key: &str,
) {
    let Some(guild) = click.guild_id.map(|g| g.get()) else {
        return;
    };
    let (track, source, join) = match picked(ctx, data, click, key).await {
        Ok(p) => p,
        Err(e) => {
            if let Err(e) = click
                .create_response(&ctx.http, buttons::refusal(guild, &e))
                .await
            {
                tracing::warn!(guild, error = %e, "could not answer a search pick");
            }
            return;
        }
    };
    // Loading the track may take longer than Discord waits for an answer.
    if let Err(e) = click
        .create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
        .await
    {
        tracing::warn!(guild, error = %e, "could not answer a search pick");
        return;
    }
    let user = click.user.id.get();
    let text_channel = click.channel_id.get();
    let played = async {
        if let Some(channel) = join {
            join_from(ctx, data, guild, channel, text_channel).await?;
        }
        data.service.set_text_channel(guild, text_channel).await;
        let out = data
            .service
            .play_from(guild, &query_of(&track, source), Some(user), false, None)
            .await?;
        Ok::<_, CommandError>(confirmed(data, guild, texts::played(&out)).await)
    }
    .await;
    let followup = match played {
        Ok(text) => CreateInteractionResponseFollowup::new()
            .content(text)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
        Err(e) => {
            if let CommandError::Internal(detail) = &e {
                tracing::error!(guild, detail, "search pick failed");
            }
            CreateInteractionResponseFollowup::new()
                .content(texts::command_error(&e))
                .ephemeral(true)
        }
    };
    if let Err(e) = click.create_followup(&ctx.http, followup).await {
        tracing::warn!(guild, error = %e, "could not answer a search pick");
    }
}

/// The picked track, its menu's source, and the voice channel to join first (if any); or why
/// the pick is refused.
async fn picked(
    ctx: &serenity::Context,
    data: &Data,
    click: &ComponentInteraction,
    key: &str,
) -> Result<(Track, Option<SearchSource>, Option<u64>), CommandError> {
    let closed = || CommandError::Refused(texts::SEARCH_EXPIRED.into());
    let guild = click.guild_id.map(|g| g.get()).ok_or_else(closed)?;
    let menu = key
        .parse()
        .ok()
        .and_then(|k| data.searches.get(k))
        .ok_or_else(closed)?;
    let user = click.user.id.get();
    if menu.user != user {
        return Err(CommandError::Refused(texts::search_not_yours(menu.user)));
    }
    let track = match &click.data.kind {
        ComponentInteractionDataKind::StringSelect { values } => values
            .first()
            .and_then(|v| v.parse::<usize>().ok())
            .and_then(|i| menu.tracks.get(i).cloned()),
        _ => None,
    }
    .ok_or_else(closed)?;
    let join = voice_target_of(ctx, data, guild, user, true).await?;
    Ok((track, menu.source, join))
}
