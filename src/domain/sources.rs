//! Where the audio server searches, and the Lavalink plugins that provide sources and lyrics, by
//! the names Lavalink uses (search prefixes, `sourceManagers` and `plugins` of `GET /v4/info`).

/// A place `/search` can look in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchSource {
    YouTube,
    YouTubeMusic,
    SoundCloud,
    Spotify,
    AppleMusic,
    Deezer,
}

impl SearchSource {
    pub const ALL: [SearchSource; 6] = [
        SearchSource::YouTube,
        SearchSource::YouTubeMusic,
        SearchSource::SoundCloud,
        SearchSource::Spotify,
        SearchSource::AppleMusic,
        SearchSource::Deezer,
    ];

    /// The search prefix of a `/v4/loadtracks` identifier (`ytsearch:words`).
    pub fn prefix(self) -> &'static str {
        match self {
            SearchSource::YouTube => "ytsearch",
            SearchSource::YouTubeMusic => "ytmsearch",
            SearchSource::SoundCloud => "scsearch",
            SearchSource::Spotify => "spsearch",
            SearchSource::AppleMusic => "amsearch",
            SearchSource::Deezer => "dzsearch",
        }
    }

    /// The source whose links `url` is by its host: YouTube (`youtube.com`, `youtu.be`,
    /// `music.youtube.com`), SoundCloud, Spotify (`open.spotify.com`), Apple Music
    /// (`music.apple.com`), Deezer (`deezer.com`, `deezer.page.link`). `None` for other text.
    pub fn of_link(url: &str) -> Option<SearchSource> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))?;
        let host = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
        let host = host.strip_prefix("www.").unwrap_or(&host);
        let host = host.strip_prefix("m.").unwrap_or(host);
        Some(match host {
            "youtube.com" | "youtu.be" => SearchSource::YouTube,
            "music.youtube.com" => SearchSource::YouTubeMusic,
            "soundcloud.com" | "on.soundcloud.com" => SearchSource::SoundCloud,
            "open.spotify.com" | "spotify.link" => SearchSource::Spotify,
            "music.apple.com" => SearchSource::AppleMusic,
            "deezer.com" | "deezer.page.link" | "link.deezer.com" => SearchSource::Deezer,
            _ => return None,
        })
    }

    /// The source of a prefixed identifier (`ytmsearch:words` → YouTube Music).
    pub fn of_identifier(identifier: &str) -> Option<SearchSource> {
        let (prefix, _) = identifier.split_once(':')?;
        SearchSource::ALL.into_iter().find(|s| s.prefix() == prefix)
    }

    /// The source manager an identifier needs: a search's (`dzsearch:…`), or that of a
    /// LavaSrc recommendation (`sprec:…` Spotify, `dzrec:…` Deezer).
    pub fn source_manager_of(identifier: &str) -> Option<&'static str> {
        if let Some(source) = SearchSource::of_link(identifier) {
            return Some(source.source_manager());
        }
        match identifier.split_once(':')?.0 {
            "sprec" => Some("spotify"),
            "dzrec" => Some("deezer"),
            _ => Some(SearchSource::of_identifier(identifier)?.source_manager()),
        }
    }

    /// The source manager that answers its searches, as `GET /v4/info` lists it in
    /// `sourceManagers` (YouTube Music is searched by the YouTube source).
    pub fn source_manager(self) -> &'static str {
        match self {
            SearchSource::YouTube | SearchSource::YouTubeMusic => "youtube",
            SearchSource::SoundCloud => "soundcloud",
            SearchSource::Spotify => "spotify",
            SearchSource::AppleMusic => "applemusic",
            SearchSource::Deezer => "deezer",
        }
    }

    /// The plugin that brings the source (`None`: built into Lavalink).
    pub fn plugin(self) -> Option<Plugin> {
        match self {
            SearchSource::YouTube | SearchSource::YouTubeMusic => Some(Plugin::YouTube),
            SearchSource::SoundCloud => None,
            SearchSource::Spotify | SearchSource::AppleMusic | SearchSource::Deezer => {
                Some(Plugin::LavaSrc)
            }
        }
    }
}

/// A Lavalink plugin Encore has a use for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plugin {
    /// dev.lavalink.youtube's youtube-plugin: YouTube and YouTube Music.
    YouTube,
    /// topi314's LavaSrc: Spotify, Apple Music, Deezer and more, and their recommendations.
    LavaSrc,
    /// topi314's LavaSearch: searches for albums, artists and playlists.
    LavaSearch,
    /// topi314's LavaLyrics: lyrics.
    LavaLyrics,
}

impl Plugin {
    pub const ALL: [Plugin; 4] = [
        Plugin::YouTube,
        Plugin::LavaSrc,
        Plugin::LavaSearch,
        Plugin::LavaLyrics,
    ];

    /// Its name in `GET /v4/info`'s `plugins`.
    pub fn name(self) -> &'static str {
        match self {
            Plugin::YouTube => "youtube-plugin",
            Plugin::LavaSrc => "lavasrc-plugin",
            Plugin::LavaSearch => "lavasearch-plugin",
            Plugin::LavaLyrics => "lavalyrics-plugin",
        }
    }

    /// Whether a plugin name a node reports is this plugin (case aside, with or without the
    /// `-plugin` ending).
    pub fn is(self, reported: &str) -> bool {
        let reported = reported.trim().to_ascii_lowercase();
        let name = self.name();
        reported == name || Some(reported.as_str()) == name.strip_suffix("-plugin")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_name_their_source() {
        for s in SearchSource::ALL {
            let id = format!("{}:never gonna", s.prefix());
            assert_eq!(SearchSource::of_identifier(&id), Some(s));
        }
        assert_eq!(SearchSource::of_identifier("https://example.com/a:b"), None);
        assert_eq!(SearchSource::of_identifier("ytsearch"), None);
        assert_eq!(SearchSource::Spotify.plugin(), Some(Plugin::LavaSrc));
        assert_eq!(SearchSource::YouTubeMusic.source_manager(), "youtube");
        assert_eq!(
            SearchSource::source_manager_of("sprec:seed_tracks=X"),
            Some("spotify")
        );
        assert_eq!(
            SearchSource::source_manager_of("dzsearch:a"),
            Some("deezer")
        );
        assert_eq!(SearchSource::source_manager_of("https://x.y/z"), None);
    }

    #[test]
    fn plugin_names_match_loosely() {
        assert!(Plugin::LavaLyrics.is("lavalyrics-plugin"));
        assert!(Plugin::LavaLyrics.is("LavaLyrics"));
        assert!(!Plugin::LavaLyrics.is("lavasrc-plugin"));
        assert!(Plugin::YouTube.is("youtube-plugin"));
    }

    #[test]
    fn links_name_the_source_that_loads_them() {
        let of = SearchSource::of_link;
        assert_eq!(
            of("https://open.spotify.com/playlist/x"),
            Some(SearchSource::Spotify)
        );
        assert_eq!(
            of("https://www.deezer.com/en/track/1"),
            Some(SearchSource::Deezer)
        );
        assert_eq!(
            of("https://music.apple.com/us/album/a/1?i=2"),
            Some(SearchSource::AppleMusic)
        );
        assert_eq!(of("https://youtu.be/abc"), Some(SearchSource::YouTube));
        assert_eq!(
            of("https://music.youtube.com/watch?v=a"),
            Some(SearchSource::YouTubeMusic)
        );
        assert_eq!(of("https://example.com/a.mp3"), None);
        assert_eq!(of("spsearch:x"), None);
        assert_eq!(
            SearchSource::source_manager_of("https://www.youtube.com/watch?v=a&list=RDa"),
            Some("youtube")
        );
        assert_eq!(
            SearchSource::source_manager_of("https://open.spotify.com/track/x"),
            Some("spotify")
        );
    }
}
