//! The `/lyrics` reply: plain lyrics in pages turned by Previous/Next (the pages kept in
//! [`Data::lyrics_pages`] under the command's interaction id while the message is in use), and
//! timed lyrics around the line being sung.

use std::sync::Arc;
use std::time::Duration;

use poise::serenity_prelude as serenity;
use serenity::{CreateActionRow, CreateEmbed, CreateEmbedFooter, CreateInteractionResponse};

use super::buttons::page_buttons;
use super::kept::Kept;
use super::texts;
use super::{CommandError, Data};
use crate::domain::{line_at, Lyrics, LyricsLine, Track};

/// How long the pages of a `/lyrics` reply can be turned (Discord lets the bot edit its reply for
/// as long).
pub const PAGES_KEPT_FOR: Duration = Duration::from_secs(15 * 60);
/// How many replies' pages are kept at most.
pub const PAGES_KEPT_AT_MOST: usize = 1000;

/// The pages of one reply with plain lyrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LyricsPages {
    title: String,
    lyrics: Lyrics,
    pages: Vec<String>,
}

/// Where the pages of the replies are kept.
pub type KeptPages = Kept<Arc<LyricsPages>>;

impl LyricsPages {
    /// `text` (the plain lyrics of `lyrics`) in pages; at least one.
    pub fn new(track: &Track, lyrics: &Lyrics, text: &str) -> Self {
        let mut pages = texts::lyrics_pages(text);
        if pages.is_empty() {
            pages.push(texts::no_lyrics(track));
        }
        LyricsPages {
            title: texts::lyrics_title(track),
            lyrics: lyrics.clone(),
            pages,
        }
    }

    pub fn count(&self) -> usize {
        self.pages.len()
    }

    /// Page `page` (1-based, clamped).
    pub fn embed(&self, page: usize) -> CreateEmbed {
        let page = page.clamp(1, self.count());
        CreateEmbed::new()
            .title(&self.title)
            .description(&self.pages[page - 1])
            .footer(CreateEmbedFooter::new(texts::lyrics_page_footer(
                &self.lyrics,
                page,
                self.count(),
            )))
    }

    /// Previous/Next under page `page` of the reply kept under `key` (none for one page).
    pub fn buttons(&self, key: u64, page: usize) -> Vec<CreateActionRow> {
        page_buttons(&custom_id_base(key), page, self.count())
    }
}

/// The list a page button turns (its custom id is `encore:lyrics:<key>:<page>`).
fn custom_id_base(key: u64) -> String {
    format!("lyrics:{key}")
}

/// Timed lyrics around the player's position (ms).
pub fn synced_embed(
    track: &Track,
    lyrics: &Lyrics,
    lines: &[LyricsLine],
    position_ms: u64,
) -> CreateEmbed {
    CreateEmbed::new()
        .title(texts::lyrics_title(track))
        .description(texts::synced_lyrics(lines, line_at(lines, position_ms)))
        .footer(CreateEmbedFooter::new(texts::synced_lyrics_footer(
            lyrics,
            position_ms,
        )))
}

/// A page button (`<key>:<page>` after `encore:lyrics:`): that page of the kept reply.
pub fn turn_page(data: &Data, what: &str) -> Result<CreateInteractionResponse, CommandError> {
    let expired = || CommandError::Refused(texts::LYRICS_PAGES_EXPIRED.into());
    let (key, page) = what.split_once(':').ok_or_else(expired)?;
    let key: u64 = key.parse().map_err(|_| expired())?;
    let page: usize = page.parse().unwrap_or(1);
    let pages = data.lyrics_pages.get(key).ok_or_else(expired)?;
    let page = page.clamp(1, pages.count());
    Ok(CreateInteractionResponse::UpdateMessage(
        serenity::CreateInteractionResponseMessage::new()
            .embed(pages.embed(page))
            .components(pages.buttons(key, page)),
    ))
}
