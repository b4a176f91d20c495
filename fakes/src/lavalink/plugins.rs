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

    /// `/v4/info`'s `sourceManagers`, in Lavalink's registration order: built-in sources,
    /// then the plugins' sources, then http (registered last so plugins see links first).
    pub(crate) fn source_managers(self) -> Vec<&'static str> {
        let mut sources = vec!["soundcloud"];
        if self.youtube {
            sources.push("youtube");
        }
        if self.lavasrc {
            sources.extend(LAVASRC_SOURCES);
        }
        sources.push("http");
        sources
    }

    /// Whether a track of `source_name` decodes (its source manager is registered). Sources
    /// the fake does not know are taken as built-in.
    pub(crate) fn has_source(self, source_name: &str) -> bool {
        match source_name {
            "youtube" => self.youtube,
            s if LAVASRC_SOURCES.contains(&s) => self.lavasrc,
            _ => true,
        }
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
        assert_eq!(
            Plugins::all().source_managers(),
            [
                "soundcloud",
                "youtube",
                "spotify",
                "applemusic",
                "deezer",
                "http"
            ]
        );
        assert_eq!(Plugins::none().source_managers(), ["soundcloud", "http"]);
        assert!(!Plugins::none().has_source("spotify"));
        assert!(Plugins::none().has_source("soundcloud"));
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
