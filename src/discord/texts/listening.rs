//! What listeners read about autoplay, vote-skip, the server's history and quick seeks.

use super::{escape, track_line};
use crate::domain::vote::SkipVote;
use crate::domain::{Played, Track};
use crate::player::format_ms;

/// After `/autoplay on|off` (or its button).
pub fn autoplay_set(on: bool) -> &'static str {
    if on {
        "Autoplay is on: when the queue runs out, I keep playing related tracks."
    } else {
        "Autoplay is off: the music stops when the queue runs out."
    }
}

/// Told to the text channel once when autoplay found nothing new after `after`.
pub fn autoplay_found_nothing(after: &Track) -> String {
    format!(
        "Autoplay found nothing new to play after {}. The queue has ended.",
        track_line(after)
    )
}

/// The mark of a track autoplay queued (with a leading space), nothing for a member's.
pub fn autoplay_mark(t: &Track) -> &'static str {
    if t.autoplay {
        " · *autoplay*"
    } else {
        ""
    }
}

/// The reply to a `/skip` vote that did not skip yet.
pub fn skip_vote(vote: SkipVote) -> String {
    match vote {
        SkipVote::Counted { votes, needed } => {
            format!("Vote to skip counted: {votes}/{needed} votes.")
        }
        SkipVote::AlreadyVoted { votes, needed } => {
            format!("You already voted to skip this track: {votes}/{needed} votes.")
        }
        SkipVote::Skip { votes, needed } => format!("Skipping: {votes}/{needed} votes."),
    }
}

/// `/skip to` by a member who is not a DJ while vote-skip counts.
pub const SKIP_TO_NEEDS_DJ: &str = "While vote-skip is on, only a DJ may skip to a position in \
    the queue. `/skip` on its own counts your vote to skip the current track.";

/// The prefix of a skip's reply when votes decided it ("2/3 votes. "), else nothing.
pub fn skip_votes_note(vote: SkipVote) -> String {
    match vote {
        SkipVote::Skip { needed, votes } if needed > 0 => format!("{votes}/{needed} votes. "),
        _ => String::new(),
    }
}

/// Tracks per `/history` page.
pub const HISTORY_PAGE_SIZE: usize = 10;

/// One page (1-based) of what the server played, newest first; `now_ms` (Unix ms) dates them.
pub fn history_page(played: &[Played], page: usize, now_ms: u64) -> String {
    if played.is_empty() {
        return "Nothing has been played in this server yet.".to_string();
    }
    let pages = played.len().div_ceil(HISTORY_PAGE_SIZE).max(1);
    let mut text = String::from("**Recently played**\n");
    let start = (page - 1) * HISTORY_PAGE_SIZE;
    for (i, p) in played
        .iter()
        .enumerate()
        .skip(start)
        .take(HISTORY_PAGE_SIZE)
    {
        let who = match p.track.requester {
            Some(r) => format!(" · <@{r}>"),
            None if p.track.autoplay => " · *autoplay*".to_string(),
            None => String::new(),
        };
        text.push_str(&format!(
            "`{}.` {}{who} · {} ago\n",
            i + 1,
            track_line(&p.track),
            ago(now_ms.saturating_sub(p.played_at_ms))
        ));
    }
    text.push_str(&format!(
        "Page {page} of {pages} · {} track(s) kept",
        played.len()
    ));
    text
}

/// How long ago, coarsely: `12s`, `5m`, `3h`, `2d`.
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m", s / 60),
        3_600..86_400 => format!("{}h", s / 3_600),
        _ => format!("{}d", s / 86_400),
    }
}

/// How many `/history` pages `n` entries fill (at least one).
pub fn history_pages(n: usize) -> usize {
    n.div_ceil(HISTORY_PAGE_SIZE).max(1)
}

/// After `/replay` (or its button): the current track from its beginning.
pub fn replayed(t: &Track) -> String {
    format!("Playing {} again from the start.", track_line(t))
}

/// After `/forward` or `/rewind` (or their buttons): how far (s) and the new position (ms).
pub fn moved_by(seconds: i64, position_ms: u64) -> String {
    let way = if seconds >= 0 { "Forward" } else { "Back" };
    format!(
        "{way} {}s, now at {}.",
        seconds.unsigned_abs(),
        format_ms(position_ms)
    )
}

/// The track's title escaped, for short labels.
pub fn short_title(t: &Track) -> String {
    escape(&t.title.chars().take(80).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(title: &str, autoplay: bool, requester: Option<u64>) -> Track {
        Track {
            encoded: "QAAA".into(),
            title: title.into(),
            author: "Band".into(),
            uri: None,
            length_ms: Some(65_000),
            is_stream: false,
            is_seekable: true,
            requester,
            start_ms: None,
            autoplay,
        }
    }

    #[test]
    fn history_pages_list_newest_first_with_who_and_when() {
        let played: Vec<Played> = (0..12)
            .map(|i| Played {
                played_at_ms: 1_000_000 - i * 60_000,
                track: track(&format!("T{i}"), i % 2 == 1, (i % 2 == 0).then_some(7)),
            })
            .collect();
        let p1 = history_page(&played, 1, 1_000_000);
        assert!(p1.starts_with("**Recently played**\n`1.` **T0** by Band `1:05` · <@7> · 0s ago\n`2.` **T1** by Band `1:05` · *autoplay* · 1m ago\n"), "{p1}");
        assert!(p1.ends_with("Page 1 of 2 · 12 track(s) kept"), "{p1}");
        assert!(!p1.contains("T10"));
        let p2 = history_page(&played, 2, 1_000_000);
        assert!(
            p2.contains("`11.` **T10**") && p2.contains("`12.` **T11**"),
            "{p2}"
        );
        assert_eq!(history_pages(12), 2);
        assert_eq!(history_pages(0), 1);
        assert_eq!(
            history_page(&[], 1, 0),
            "Nothing has been played in this server yet."
        );
    }

    #[test]
    fn votes_read_as_counts() {
        assert_eq!(
            skip_vote(SkipVote::Counted {
                votes: 2,
                needed: 3
            }),
            "Vote to skip counted: 2/3 votes."
        );
        assert_eq!(
            skip_votes_note(SkipVote::Skip {
                votes: 3,
                needed: 3
            }),
            "3/3 votes. "
        );
        assert_eq!(
            skip_votes_note(SkipVote::Skip {
                votes: 0,
                needed: 0
            }),
            ""
        );
    }

    #[test]
    fn quick_seeks_say_where_they_went() {
        assert_eq!(moved_by(10, 75_000), "Forward 10s, now at 1:15.");
        assert_eq!(moved_by(-30, 0), "Back 30s, now at 0:00.");
    }
}
