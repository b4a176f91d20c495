//! What autoplay loads: YouTube mixes (youtube-source) and Spotify and Deezer
//! recommendations (LavaSrc), each seeded by a catalogue track. The related tracks are the
//! override `FakeLavalink::set_mix` set for the seed, else the source's other catalogue
//! tracks in catalogue order.

use serde_json::json;

use super::lavasrc::{collection_plugin_info, CollectionKind};
use super::{url_param, Catalogue, Entry, LoadResult, FRIENDLY};
use crate::lavalink::plugins::YOUTUBE_PLUGIN;
use crate::lavalink::types::Track;

/// The tracks of a YouTube mix's first page (youtube-source loads what the watch page's
/// playlist panel lists).
const MIX_LENGTH: usize = 25;
/// Spotify's recommendations endpoint is asked for `limit=20`.
const SPOTIFY_RECOMMENDATIONS: usize = 20;

impl Catalogue {
    /// The related tracks of `seed`: the override, or the entries `default` accepts (the
    /// seed left out).
    fn related(&self, seed: &str, default: impl Fn(&Entry) -> bool) -> Vec<Track> {
        match self.mixes.get(seed) {
            Some(ids) => self.tracks_of(ids),
            None => self
                .entries
                .iter()
                .filter(|e| e.info.identifier != seed && default(e))
                .map(Entry::track)
                .collect(),
        }
    }

    /// A YouTube mix link (`watch?v=<id>&list=RD<seed>` or `playlist?list=RD<seed>`, also on
    /// music.youtube.com): youtube-source's `loadMix` — a playlist named as YouTube titles the
    /// mix ("Mix – <seed title>"), the seed first, `selectedTrack` the index of the link's
    /// video (the seed for a `playlist?list=RD<seed>` link). Default related tracks: the
    /// YouTube catalogue tracks that are neither streams nor failing. A seed YouTube does not
    /// know fails in every client, which Lavalink reports as a lookup failure.
    pub(super) fn youtube_mix(&self, link: &str, seed: &str) -> LoadResult {
        let Some(seed_entry) = self
            .by_identifier(seed)
            .filter(|e| e.info.source_name == "youtube")
        else {
            let version = YOUTUBE_PLUGIN.1;
            let failed =
                |client: &str| format!("Client [{client}] failed: Could not find tracks from mix.");
            return LoadResult::lookup_failed(
                "dev.lavalink.youtube.AllClientsFailedException",
                &format!(
                    "(yts.version: {version}) All clients failed to load the item.\n\n{}\n\n{}",
                    failed("ANDROID_VR"),
                    failed("WEB")
                ),
                "dev.lavalink.youtube.YoutubeAudioSourceManager.loadItemOnce(YoutubeAudioSourceManager.java:270)",
            );
        };
        let mut tracks = vec![seed_entry.track()];
        tracks.extend(
            self.related(seed, |e| {
                e.info.source_name == "youtube"
                    && !e.info.is_stream
                    && !e.fails_on_play
                    && e.info.identifier != super::LOAD_ERROR_IDENTIFIER
            })
            .into_iter()
            .filter(|t| t.info.identifier != seed),
        );
        tracks.truncate(MIX_LENGTH);
        let selected_video = url_param(link, "v")
            .map(|v| v.get(..11).unwrap_or(v))
            .unwrap_or(seed);
        let selected = tracks
            .iter()
            .position(|t| t.info.identifier == selected_video)
            .map_or(-1, |i| i as i64);
        LoadResult::Playlist {
            name: format!("Mix – {}", seed_entry.info.title),
            selected,
            plugin_info: json!({}),
            tracks,
        }
    }

    /// `sprec:<trackId>` (LavaSrc 4.8's form): "Spotify Recommendations", a LavaSrc playlist
    /// of type `recommendations` (url, artworkUrl and author null, totalTracks the count),
    /// without the seed; `empty` for a seed Spotify has no recommendations for.
    /// `sprec:mix:<track|artist|album|isrc>:<id>` loads Spotify's generated "inspired by"
    /// playlist, which LavaSrc refuses without its partner API: a lookup failure. Any other
    /// query (`seed_tracks=...` of older READMEs) is sent to Spotify as a track id, which
    /// Spotify answers with an error.
    pub(super) fn spotify_recommendations(&self, query: &str) -> LoadResult {
        if query.starts_with("mix:") {
            return LoadResult::lookup_failed(
                FRIENDLY,
                "Spotify generated playlists are no longer accessible via anonymous tokens.",
                "com.github.topi314.lavasrc.spotify.SpotifySourceManager.getPlaylist(SpotifySourceManager.java:489)",
            );
        }
        if query.is_empty() || !query.chars().all(|c| c.is_ascii_alphanumeric()) {
            return LoadResult::lookup_failed(
                FRIENDLY,
                "Server responded with an error.",
                "com.github.topi314.lavasrc.LavaSrcTools.fetchResponseAsJson(LavaSrcTools.java:38)",
            );
        }
        if self.of_source("spotify", query).is_none() {
            return LoadResult::Empty;
        }
        let mut tracks = self.related(query, |e| e.info.source_name == "spotify");
        tracks.truncate(SPOTIFY_RECOMMENDATIONS);
        recommendations("Spotify Recommendations", tracks)
    }

    /// `dzrec:<trackId>` or `dzrec:track=<trackId>`: Deezer's track mix ("Deezer
    /// Recommendations", type `recommendations`), which starts with the seed.
    /// `dzrec:artist=<id>` (artist radio) is not modelled: `empty`, as for an unknown seed.
    pub(super) fn deezer_recommendations(&self, query: &str) -> LoadResult {
        let seed = query.strip_prefix("track=").unwrap_or(query);
        let Some(seed_entry) = self.of_source("deezer", seed) else {
            return LoadResult::Empty;
        };
        let mut tracks = vec![seed_entry.track()];
        tracks.extend(
            self.related(seed, |e| e.info.source_name == "deezer")
                .into_iter()
                .filter(|t| t.info.identifier != seed),
        );
        recommendations("Deezer Recommendations", tracks)
    }
}

fn recommendations(name: &str, tracks: Vec<Track>) -> LoadResult {
    if tracks.is_empty() {
        return LoadResult::Empty;
    }
    LoadResult::Playlist {
        name: name.to_string(),
        selected: -1,
        plugin_info: collection_plugin_info(
            CollectionKind::Recommendations,
            None,
            None,
            None,
            Some(tracks.len()),
        ),
        tracks,
    }
}
