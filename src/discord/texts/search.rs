//! `/search`: the menu of results, its closing, and the refusals of a pick.

use std::time::Duration;

use super::lyrics::cut;
use super::{escape, length};
use crate::domain::{Plugin, SearchSource, Track};

/// Discord's limit for a select menu option's label and description (characters).
const OPTION_CHARS: usize = 100;

pub const SEARCH_PLACEHOLDER: &str = "Pick a track to queue";
pub const SEARCH_EXPIRED: &str = "This search menu has closed: use /search again.";

/// A source's name as members know it.
pub fn source_name(source: SearchSource) -> &'static str {
    match source {
        SearchSource::YouTube => "YouTube",
        SearchSource::YouTubeMusic => "YouTube Music",
        SearchSource::SoundCloud => "SoundCloud",
        SearchSource::Spotify => "Spotify",
        SearchSource::AppleMusic => "Apple Music",
        SearchSource::Deezer => "Deezer",
    }
}

/// ` on <source>` when one was picked.
fn on(source: Option<SearchSource>) -> String {
    source
        .map(|s| format!(" on {}", source_name(s)))
        .unwrap_or_default()
}

/// Above the menu: what was searched, and when the menu closes.
pub fn search_prompt(query: &str, source: Option<SearchSource>, closes_in: Duration) -> String {
    format!(
        "Results for **{}**{}: pick one to queue it. This menu closes in {}.",
        escape(&cut(query, 200)),
        on(source),
        humantime::format_duration(Duration::from_secs(closes_in.as_secs().max(1)))
    )
}

/// The menu once it closed.
pub fn search_closed(query: &str, source: Option<SearchSource>) -> String {
    format!(
        "This search for **{}**{} has closed: use /search again.",
        escape(&cut(query, 200)),
        on(source)
    )
}

/// A result's label in the menu: its title (Discord shows it as is).
pub fn search_option_label(t: &Track) -> String {
    match t.title.trim() {
        "" => "Untitled track".into(),
        title => cut(title, OPTION_CHARS),
    }
}

/// A result's description in the menu: author and length.
pub fn search_option_description(t: &Track) -> String {
    let text = match t.author.trim() {
        "" => length(t),
        author => format!("{author} · {}", length(t)),
    };
    cut(&text, OPTION_CHARS)
}

/// A pick from a menu someone else opened.
pub fn search_not_yours(user: u64) -> String {
    format!("This menu is <@{user}>'s: use /search to pick from your own.")
}

/// When no node of the audio server has the source.
pub fn source_missing(source: SearchSource) -> String {
    let why = match source.plugin() {
        Some(Plugin::LavaSrc) => "it comes with the LavaSrc plugin, which the audio server does not have or has turned off",
        Some(_) => "it comes with the YouTube plugin, which the audio server does not have or has turned off",
        None => "the audio server has it turned off",
    };
    format!(
        "I can't search {} here: {why}. Pick another source.",
        source_name(source)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_fit_discords_limits() {
        let t = Track {
            encoded: "QAAA".into(),
            title: "T".repeat(150),
            author: "Band".into(),
            uri: None,
            length_ms: Some(212_000),
            is_stream: false,
            is_seekable: true,
            requester: None,
            start_ms: None,
            autoplay: false,
        };
        let label = search_option_label(&t);
        assert_eq!(label.chars().count(), 100);
        assert!(label.ends_with('…'));
        assert_eq!(search_option_description(&t), "Band · 3:32");
        assert_eq!(
            search_prompt("rick", Some(SearchSource::Deezer), Duration::from_secs(60)),
            "Results for **rick** on Deezer: pick one to queue it. This menu closes in 1m."
        );
    }
}
