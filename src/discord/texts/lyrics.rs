//! `/lyrics`: plain lyrics cut into pages that fit an embed, timed lyrics around the line being
//! sung, and what a member reads when there are none.

use super::{escape, title};
use crate::domain::{LinePosition, Lyrics, LyricsLine, Plugin, Track};
use crate::player::format_ms;

/// Discord's limit for an embed's description (characters): one page of lyrics.
pub const LYRICS_PAGE_CHARS: usize = 4096;
/// Discord's limit for an embed's title (characters).
const EMBED_TITLE_CHARS: usize = 256;
/// Timed lines shown after the one being sung.
pub const LYRICS_NEXT_LINES: usize = 5;
/// A timed line longer than this is cut (characters).
const LYRICS_LINE_CHARS: usize = 300;

pub const LYRICS_PAGES_EXPIRED: &str =
    "These lyrics pages are no longer kept: use /lyrics again to turn them.";

/// When the lyrics plugin found nothing for `t`.
pub fn no_lyrics(t: &Track) -> String {
    format!("No lyrics found for **{}**.", title(t))
}

/// When a request needs a plugin the audio server does not have.
pub fn plugin_missing(plugin: Plugin) -> String {
    match plugin {
        Plugin::LavaLyrics => "Lyrics need the LavaLyrics plugin on the audio server (Lavalink), \
             and it does not have it. Ask the bot's operator to add it."
            .into(),
        other => format!(
            "That needs the {} plugin on the audio server (Lavalink), and it does not have it.",
            other.name()
        ),
    }
}

/// The embed title: `Lyrics: <title> by <author>`, within Discord's limit.
pub fn lyrics_title(t: &Track) -> String {
    let by = match t.author.trim() {
        "" => String::new(),
        author => format!(" by {author}"),
    };
    let text = format!("Lyrics: {}{by}", t.title.trim());
    cut(&text, EMBED_TITLE_CHARS)
}

/// Plain lyrics in pages of at most [`LYRICS_PAGE_CHARS`] characters, markdown escaped, each cut
/// at a line break (blank lines at a page's start or end dropped); a line longer than a page is
/// cut where it must.
pub fn lyrics_pages(text: &str) -> Vec<String> {
    let mut pages = vec![];
    let mut page = String::new();
    let mut len = 0;
    for raw in text.trim().lines() {
        for piece in fitting_pieces(raw.trim_end()) {
            let n = piece.chars().count();
            if !page.is_empty() && len + 1 + n > LYRICS_PAGE_CHARS {
                push_page(&mut pages, std::mem::take(&mut page));
                len = 0;
            }
            if !page.is_empty() {
                page.push('\n');
                len += 1;
            }
            page.push_str(&piece);
            len += n;
        }
    }
    push_page(&mut pages, page);
    pages
}

/// A line, escaped, in pieces that each fit a page (escaping at most doubles a piece of half a
/// page).
fn fitting_pieces(line: &str) -> Vec<String> {
    let escaped = escape(line);
    if escaped.chars().count() <= LYRICS_PAGE_CHARS {
        return vec![escaped];
    }
    let chars: Vec<char> = line.chars().collect();
    chars
        .chunks(LYRICS_PAGE_CHARS / 2)
        .map(|c| escape(&c.iter().collect::<String>()))
        .collect()
}

fn push_page(pages: &mut Vec<String>, page: String) {
    let page = page.trim_matches('\n');
    if !page.trim().is_empty() {
        pages.push(page.to_string());
    }
}

/// Timed lyrics around `at`: the line before, the one being sung in bold (`♪` between lines),
/// and the next [`LYRICS_NEXT_LINES`], each with its time.
pub fn synced_lyrics(lines: &[LyricsLine], at: LinePosition) -> String {
    let shown = |l: &LyricsLine| format!("`{}` {}", format_ms(l.timestamp_ms), words(&l.text));
    let mut out = vec![];
    let before = at.current.unwrap_or(at.next).checked_sub(1);
    if let Some(l) = before.and_then(|i| lines.get(i)) {
        out.push(shown(l));
    }
    match at.current.and_then(|i| lines.get(i)) {
        Some(l) => out.push(format!("**▶ {}**", shown(l))),
        None => out.push("▶ ♪".into()),
    }
    for l in lines.iter().skip(at.next).take(LYRICS_NEXT_LINES) {
        out.push(shown(l));
    }
    out.join("\n")
}

fn words(text: &str) -> String {
    match text.trim() {
        "" => "♪".into(),
        t => escape(&cut(t, LYRICS_LINE_CHARS)),
    }
}

/// The footer under a page of plain lyrics.
pub fn lyrics_page_footer(l: &Lyrics, page: usize, pages: usize) -> String {
    format!("Page {page} of {pages}{}", from(l))
}

/// The footer under timed lyrics: where the player is (ms).
pub fn synced_lyrics_footer(l: &Lyrics, position_ms: u64) -> String {
    format!("At {}{}", format_ms(position_ms), from(l))
}

/// ` · lyrics from <source> (<provider>)`, as far as they are known.
fn from(l: &Lyrics) -> String {
    match (l.source.trim(), l.provider.trim()) {
        ("", "") => String::new(),
        (source, "") => format!(" · lyrics from {source}"),
        ("", provider) => format!(" · lyrics from {provider}"),
        (source, provider) => format!(" · lyrics from {source} ({provider})"),
    }
}

/// At most `max` characters of `text`, ending in `…` when cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::line_at;

    #[test]
    fn pages_fill_up_to_the_limit_and_break_between_lines() {
        // 99 characters a line: 40 lines take 40 * 99 + 39 = 3999 characters, 41 would take 4099.
        let lines: Vec<String> = (1..=100)
            .map(|i| format!("{i:03}{}", "a".repeat(96)))
            .collect();
        let pages = lyrics_pages(&lines.join("\n"));
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0], lines[..40].join("\n"));
        assert_eq!(pages[1], lines[40..80].join("\n"));
        assert_eq!(pages[2], lines[80..].join("\n"));
        assert!(pages.iter().all(|p| p.chars().count() <= LYRICS_PAGE_CHARS));
    }

    #[test]
    fn escaping_counts_and_a_giant_line_is_cut() {
        let pages = lyrics_pages(&"*".repeat(5000));
        assert!(pages.iter().all(|p| p.chars().count() <= LYRICS_PAGE_CHARS));
        let joined: String = pages.concat().replace('\n', "");
        assert_eq!(joined, "\\*".repeat(5000));
        assert_eq!(lyrics_pages("\n\n  \n"), Vec::<String>::new());
        assert_eq!(lyrics_pages("a\n\nb\n"), vec!["a\n\nb".to_string()]);
    }

    #[test]
    fn timed_lyrics_show_the_line_being_sung() {
        let line = |ms, text: &str| LyricsLine {
            timestamp_ms: ms,
            duration_ms: None,
            text: text.into(),
        };
        let lines: Vec<_> = (0..10u64)
            .map(|i| line(i * 5000 + 1000, &format!("line {i}")))
            .collect();
        let text = synced_lyrics(&lines, line_at(&lines, 12_000));
        assert_eq!(
            text,
            "`0:06` line 1\n**▶ `0:11` line 2**\n`0:16` line 3\n`0:21` line 4\n`0:26` line 5\n`0:31` line 6\n`0:36` line 7"
        );
        let early = synced_lyrics(&lines, line_at(&lines, 0));
        assert!(early.starts_with("▶ ♪\n`0:01` line 0"), "{early}");
    }
}
