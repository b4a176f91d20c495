//! `/lyrics`: the current track's lyrics, from the LavaLyrics plugin of the audio server.

use std::sync::Arc;

use super::*;
use crate::discord::lyrics::{synced_embed, LyricsPages};
use crate::domain::LyricsBody;
use crate::player::PlayerError;

/// Shows the lyrics of the current track.
#[poise::command(slash_command, guild_only)]
pub(super) async fn lyrics(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_of(ctx)?;
    let data = ctx.data();
    if data
        .service
        .view(guild)
        .await
        .and_then(|v| v.current)
        .is_none()
    {
        return Err(PlayerError::NothingPlaying.into());
    }
    // The plugin asks its providers, which may take longer than Discord waits for an answer.
    ctx.defer()
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    let found = data.service.lyrics(guild).await?;
    let Some(lyrics) = &found.lyrics else {
        return Err(CommandError::Refused(texts::no_lyrics(&found.track)));
    };
    let reply = match &lyrics.body {
        LyricsBody::Plain(text) => {
            let pages = LyricsPages::new(&found.track, lyrics, text);
            let key = ctx.id();
            let reply = CreateReply::default()
                .embed(pages.embed(1))
                .components(pages.buttons(key, 1));
            if pages.count() > 1 {
                data.lyrics_pages.insert(key, Arc::new(pages));
            }
            reply
        }
        LyricsBody::Synced(lines) => CreateReply::default().embed(synced_embed(
            &found.track,
            lyrics,
            lines,
            found.position_ms,
        )),
    };
    send(ctx, reply).await
}
