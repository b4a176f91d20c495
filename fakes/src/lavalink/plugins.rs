//! Which Lavalink plugins the fake node runs, and what each adds to `/v4/info`.
//!
//! Encore's `config/lavalink/application.yml` ships four plugins; a test can switch each off
//! (at start with [`crate::lavalink::FakeLavalinkConfig::plugins`], at run time with
//! [`crate::lavalink::FakeLavalink::set_plugins`] or `POST /control/plugins`) to see what a
//! node without it answers: a plugin's routes become Lavalink's 404, its search prefixes
//! `empty`, its links go to lavaplayer's http source, and tracks of its sources no longer
//! decode.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The plugin names and versions `/v4/info` lists (each plugin's `lavalinkPlugin.name`; the
/// versions Encore's application.yml pins).
pub const YOUTUBE_PLUGIN: (&str, &str) = ("youtube-plugin", "1.18.1");
pub const LAVASRC_PLUGIN: (&str, &str) = ("lavasrc-plugin", "4.8.3");
pub const LAVASEARCH_PLUGIN: (&str, &str) = ("lavasearch-plugin", "1.0.0");
pub const LAVALYRICS_PLUGIN: (&str, &str) = ("lavalyrics-plugin", "1.0.0");

/// The source managers LavaSrc registers in Encore's config (with their credentials set).
pub const LAVASRC_SOURCES: [&str; 3] = ["spotify", "applemusic", "deezer"];

/// The plugins a fake node runs.
///
/// - `youtube` (youtube-source): the `youtube` source — YouTube links, bare video ids,
///   `ytsearch:`, `ytmsearch:`, mixes (`list=RD<id>`).
/// - `lavasrc` (LavaSrc): the `spotify`, `applemusic` and `deezer` sources (links,
///   `spsearch:`, `amsearch:`, `dzsearch:`, `dzisrc:`, `sprec:`, `dzrec:`), and the search and
///   lyrics sources LavaSearch and LavaLyrics ask.
/// - `lavasearch` (LavaSearch): `GET /v4/loadsearch`.
/// - `lavalyrics` (LavaLyrics): `GET /v4/lyrics` and
///   `GET /v4/sessions/{sessionId}/players/{guildId}/track/lyrics`.
///
/// JSON (control API): `{"youtube": true, "lavasrc": true, "lavasearch": true,
/// "lavalyrics": true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plugins {
    pub youtube: bool,
    pub lavasrc: bool,
    pub lavasearch: bool,
    pub lavalyrics: bool,
}

impl Plugins {
    /// Every plugin: what Encore ships.
    pub const fn all() -> Self {
        Plugins {
            youtube: true,
            lavasrc: true,
            lavasearch: true,
            lavalyrics: true,
        }
    }

    /// A plain Lavalink: built-in sources only (soundcloud, http).
    pub const fn none() -> Self {
        Plugins {
            youtube: false,
            lavasrc: false,
            lavasearch: false,
            lavalyrics: false,
        }
    }

    /// `/v4/info`'s `plugins`: `[{name, version}]`.
    pub(crate) fn info_plugins(self) -> Value {
        let on = [
            (self.youtube, YOUTUBE_PLUGIN),
            (self.lavasrc, LAVASRC_PLUGIN),
            (self.lavasearch, LAVASEARCH_PLUGIN),
            (self.lavalyrics, LAVALYRICS_PLUGIN),
        ];
        Value::Array(
            on.iter()
                .filter(|(enabled, _)| *enabled)
                .map(|(_, (name, version))| json!({"name": name, "version": version}))
                .collect(),
        )
    }

    /// `self` with the fields `v` (a JSON object) names; Err for a field that is no boolean.
    pub(crate) fn merged(self, v: &Value) -> Result<Plugins, String> {
        let mut out = self;
        for (name, field) in [
            ("youtube", &mut out.youtube),
            ("lavasrc", &mut out.lavasrc),
            ("lavasearch", &mut out.lavasearch),
            ("lavalyrics", &mut out.lavalyrics),
        ] {
            match v.get(name) {
                None => {}
                Some(Value::Bool(b)) => *field = *b,
                Some(_) => return Err(format!("{name} must be a boolean")),
            }
        }
        Ok(out)
    }
}

impl Default for Plugins {
    fn default() -> Self {
        Plugins::all()
    }
}

/// The LavaSrc sources that run while LavaSrc does. Encore's config switches each on only with
/// its credentials (`LAVASRC_SPOTIFY_ENABLED` ...); without them LavaSrc still serves LavaSearch
/// (YouTube suggestions) and LavaLyrics (YouTube, LRCLIB), but registers no Spotify, Apple
/// Music or Deezer source: their prefixes are `empty`, their links go to the http source, their
/// tracks do not decode, and LavaSearch answers their prefixes with 204.
///
/// JSON (control API, under `lavasrcSources`): `{"spotify": true, "applemusic": true,
/// "deezer": true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LavaSrcSources {
    pub spotify: bool,
    pub applemusic: bool,
    pub deezer: bool,
}

impl LavaSrcSources {
    /// All three, as with every credential set.
    pub const fn all() -> Self {
        LavaSrcSources {
            spotify: true,
            applemusic: true,
            deezer: true,
        }
    }

    /// None: Encore's config without credentials (its default).
    pub const fn none() -> Self {
        LavaSrcSources {
            spotify: false,
            applemusic: false,
            deezer: false,
        }
    }

    /// `self` with the fields `v` (a JSON object) names; Err for a field that is no boolean.
    pub(crate) fn merged(self, v: &Value) -> Result<LavaSrcSources, String> {
        let mut out = self;
        for (name, field) in [
            ("spotify", &mut out.spotify),
            ("applemusic", &mut out.applemusic),
            ("deezer", &mut out.deezer),
        ] {
            match v.get(name) {
                None => {}
                Some(Value::Bool(b)) => *field = *b,
                Some(_) => return Err(format!("lavasrcSources.{name} must be a boolean")),
            }
        }
        Ok(out)
    }
}

impl Default for LavaSrcSources {
    fn default() -> Self {
        LavaSrcSources::all()
    }
}

/// What the node runs: its plugins and, with LavaSrc, which of LavaSrc's sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub plugins: Plugins,
    pub lavasrc_sources: LavaSrcSources,
}

impl Node {
    /// Whether the LavaSrc source `name` (`spotify`, `applemusic`, `deezer`) is registered.
    pub fn lavasrc_source(self, name: &str) -> bool {
        self.plugins.lavasrc
            && match name {
                "spotify" => self.lavasrc_sources.spotify,
                "applemusic" => self.lavasrc_sources.applemusic,
                "deezer" => self.lavasrc_sources.deezer,
                _ => false,
            }
    }

    /// `/v4/info`'s `sourceManagers`, in Lavalink's registration order: built-in sources,
    /// then the plugins' sources, then http (registered last so plugins see links first).
    pub fn source_managers(self) -> Vec<&'static str> {
        let mut sources = vec!["soundcloud"];
        if self.plugins.youtube {
            sources.push("youtube");
        }
        sources.extend(
            LAVASRC_SOURCES
                .into_iter()
                .filter(|s| self.lavasrc_source(s)),
        );
        sources.push("http");
        sources
    }

    /// Whether a track of `source_name` decodes (its source manager is registered). Sources
    /// the fake does not know are taken as built-in.
    pub fn has_source(self, source_name: &str) -> bool {
        match source_name {
            "youtube" => self.plugins.youtube,
            s if LAVASRC_SOURCES.contains(&s) => self.lavasrc_source(s),
            _ => true,
        }
    }
}

/// lavaplayer's error when a track's source manager is not registered.
pub(crate) const MISSING_SOURCE_MESSAGE: &str =
    "Failed to decode track due to a mismatching version or missing source manager";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn info_lists_only_the_enabled_plugins_and_their_sources() {
        let names: Vec<Value> = Plugins::all()
            .info_plugins()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        assert_eq!(
            names,
            [
                "youtube-plugin",
                "lavasrc-plugin",
                "lavasearch-plugin",
                "lavalyrics-plugin"
            ]
        );
        assert_eq!(Plugins::none().info_plugins(), json!([]));
        let node = |plugins, lavasrc_sources| Node {
            plugins,
            lavasrc_sources,
        };
        let all = node(Plugins::all(), LavaSrcSources::all());
        assert_eq!(
            all.source_managers(),
            [
                "soundcloud",
                "youtube",
                "spotify",
                "applemusic",
                "deezer",
                "http"
            ]
        );
        let bare = node(Plugins::none(), LavaSrcSources::all());
        assert_eq!(bare.source_managers(), ["soundcloud", "http"]);
        assert!(!bare.has_source("spotify"));
        assert!(bare.has_source("soundcloud"));
        let deezer_only = LavaSrcSources {
            deezer: true,
            ..LavaSrcSources::none()
        };
        let no_credentials = node(Plugins::all(), deezer_only);
        assert_eq!(
            no_credentials.source_managers(),
            ["soundcloud", "youtube", "deezer", "http"]
        );
        assert!(!no_credentials.has_source("spotify"));
        assert!(no_credentials.has_source("deezer"));
    }

    #[test]
    fn merging_keeps_what_the_body_leaves_out() {
        let p = Plugins::all()
            .merged(&json!({"lavasrc": false, "other": 1}))
            .unwrap();
        assert_eq!(
            p,
            Plugins {
                lavasrc: false,
                ..Plugins::all()
            }
        );
        assert!(Plugins::all().merged(&json!({"youtube": "no"})).is_err());
    }
}
