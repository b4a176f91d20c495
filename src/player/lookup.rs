//! What members look up on the audio server without changing a player: search results from a
//! source they pick (`/search`), and the current track's lyrics (`/lyrics`).

use crate::audio::Loaded;
use crate::domain::{GuildId, Lyrics, SearchSource, Track};

use super::operations::checked_query;
use super::{PlayerError, PlayerService};

/// The current track's lyrics, and where the player is in the track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackLyrics {
    pub track: Track,
    /// The player's position (ms) once the lyrics arrived.
    pub position_ms: u64,
    /// `None` when the lyrics plugin found none.
    pub lyrics: Option<Lyrics>,
}

impl PlayerService {
    /// Up to `limit` results for `query` from `source` (`None`: where plain-text queries go,
    /// `SEARCH_PREFIX`), best first. Errors: [`PlayerError::EmptyQuery`],
    /// [`PlayerError::QueryTooLong`], [`PlayerError::SourceMissing`] when the connected nodes say
    /// what they have and none has the source, [`PlayerError::NoResults`],
    /// [`PlayerError::LoadFailed`] and [`PlayerError::Audio`].
    pub async fn search_in(
        &self,
        source: Option<SearchSource>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Track>, PlayerError> {
        let query = checked_query(query)?;
        let identifier = match source {
            Some(source) => {
                let infos = self.inner.backend.node_infos().await;
                if !infos.is_empty() && !infos.iter().any(|i| i.has_source(source.source_manager()))
                {
                    return Err(PlayerError::SourceMissing(source));
                }
                format!("{}:{query}", source.prefix())
            }
            None => self.identifier(query),
        };
        let tracks = match self
            .inner
            .backend
            .load(&identifier)
            .await
            .map_err(PlayerError::Audio)?
        {
            Loaded::Search(list) => list,
            Loaded::Track(t) => vec![t],
            Loaded::Playlist { tracks, .. } => tracks,
            Loaded::Failed { message } => return Err(PlayerError::LoadFailed(message)),
            Loaded::Empty => vec![],
        };
        if tracks.is_empty() {
            return Err(PlayerError::NoResults(query.to_string()));
        }
        Ok(tracks.into_iter().take(limit).collect())
    }

    /// The lyrics of the guild's current track. Errors: [`PlayerError::NothingPlaying`], and
    /// [`PlayerError::Audio`] ([`crate::audio::AudioError::PluginMissing`] when no node has
    /// LavaLyrics).
    pub async fn lyrics(&self, guild: GuildId) -> Result<TrackLyrics, PlayerError> {
        let asked = self.view(guild).await;
        let (track, position_ms) = asked
            .and_then(|v| Some((v.current?, v.position_ms)))
            .ok_or(PlayerError::NothingPlaying)?;
        let asked_at = std::time::Instant::now();
        let lyrics = self
            .inner
            .backend
            .lyrics(&track.encoded)
            .await
            .map_err(PlayerError::Audio)?;
        // Where the player is now, while the same track plays.
        let position_ms = match self.view(guild).await {
            Some(v) if v.current.as_ref() == Some(&track) => v.position_ms,
            _ => position_ms + asked_at.elapsed().as_millis() as u64,
        };
        Ok(TrackLyrics {
            track,
            position_ms,
            lyrics,
        })
    }
}
