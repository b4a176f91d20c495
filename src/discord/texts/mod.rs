//! Every user-facing string of the Discord front end, and the rendering of tracks and players.

mod errors;
pub mod labels;
mod listening;
mod lyrics;
mod replies;
mod search;
mod status;

pub use errors::{
    audio_error, command_error, player_error, queue_error, seek_refused, unreadable_option,
};
pub use listening::*;
pub use lyrics::*;
pub use replies::*;
pub use search::*;
pub use status::{status, StatusFacts};

use crate::domain::{FilterPreset, LoopMode, PlayStart, Track};
use crate::player::{format_ms, PlayOutcome, PlayerView, VoiceEnd};

pub const NOT_IN_GUILD: &str = "This command works in a server only.";
pub const JOIN_VOICE_FIRST: &str = "Join a voice channel first, then ask again.";
pub const INTERNAL: &str = "Something went wrong on my side; please try again.";
pub const NOTHING_PLAYING: &str = "Nothing is playing.";
pub const RESTARTING: &str =
    "Encore is restarting and will be back in a few seconds; the music comes back by itself. \
     Please try again in a moment.";
pub const STOPPED: &str = "Stopped, cleared the queue and forgot this server's player.";
pub const LEFT: &str = "Left the voice channel.";
pub const PAUSED: &str = "Paused.";
pub const RESUMED: &str = "Resumed.";
pub const QUEUE_ENDED: &str = "The queue has ended.";

pub const NOT_ALLOWED: &str = "You are not allowed to do that here.";
pub const NEEDS_MANAGE_SERVER: &str = "You need the Manage Server permission for that.";

pub fn dj_only(role: u64) -> String {
    format!("Only members with the <@&{role}> role or Manage Server can do that here.")
}

pub fn left_idle(channel: u64, idle: std::time::Duration) -> String {
    format!(
        "Left <#{channel}>: nobody was listening for {}.",
        humantime::format_duration(idle)
    )
}

pub fn guild_settings(c: &crate::domain::GuildConfig) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    format!(
        "DJ role: {}\n24/7: {}\nDefault volume: {}%\nNow-playing messages: {}\nResume after restarts: {}\nAutoplay for new players: {}\nVote-skip: {}",
        c.dj_role_id
            .map(|r| format!("<@&{r}>"))
            .unwrap_or_else(|| "none (everyone may control the music)".into()),
        on(c.always_on),
        c.default_volume,
        on(c.announce_now_playing),
        match c.auto_resume {
            None => "as the bot's default".to_string(),
            Some(b) => on(b).to_string(),
        },
        on(c.autoplay),
        match c.vote_skip_percent {
            0 => "off (anyone may skip)".to_string(),
            p => format!("{p}% of the listeners"),
        }
    )
}

pub fn slow_down(wait: std::time::Duration) -> String {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    format!("Slow down a little: try again in {secs} s.")
}

pub fn missing_permission(channel: u64, permission: &str) -> String {
    format!("I can't join <#{channel}>: I'm missing the {permission} permission there.")
}

pub fn channel_full(channel: u64, limit: u32) -> String {
    format!(
        "I can't join <#{channel}>: it is full ({limit}/{limit}) and I can't go over its user limit. \
         Make room, or ask from another channel."
    )
}

pub const JOIN_NO_ANSWER: &str = "Discord did not let me into that voice channel in time \
     (it may be full, or voice may be having trouble). Please try again, or pick another channel.";

/// One short line for a music that ended without anyone asking (posted once to the text channel).
pub fn voice_ended(end: &VoiceEnd) -> String {
    let channel =
        |c: &Option<u64>| c.map_or_else(|| "the voice channel".to_string(), |c| format!("<#{c}>"));
    match end {
        VoiceEnd::Disconnected { channel: c } => format!(
            "I was disconnected from {}, so the music stopped and the queue was cleared.",
            channel(c)
        ),
        VoiceEnd::ChannelDeleted => {
            "My voice channel was deleted, so the music stopped and the queue was cleared.".into()
        }
        VoiceEnd::PermissionRemoved {
            channel: c,
            permission,
        } => format!(
            "I lost the {} permission in <#{c}>, so I left and the queue was cleared.",
            permission.as_str()
        ),
        VoiceEnd::GaveUp { channel: c } => format!(
            "I lost my voice connection in {} and could not get it back, so I paused. \
             Your queue is kept: use /resume to try again.",
            channel(c)
        ),
        VoiceEnd::RejoinFailed { channel: c } => format!(
            "After a restart I could not get back into <#{c}>, so the music did not come back. \
             The queue is still saved and returns with my next restart; /play starts afresh."
        ),
    }
}

pub fn join_my_channel(channel: u64) -> String {
    format!("Join my voice channel <#{channel}> to control the music.")
}

pub fn joined(channel: u64) -> String {
    format!("Joined <#{channel}>.")
}

/// `Title` by Author, linked when there is a link (an audio server may give neither).
pub fn track_line(t: &Track) -> String {
    let shown = match &t.uri {
        Some(uri) => format!("[{}](<{uri}>)", title(t)),
        None => format!("**{}**", title(t)),
    };
    let by = match t.author.trim() {
        "" => String::new(),
        author => format!(" by {}", escape(author)),
    };
    format!("{shown}{by} `{}`", length(t))
}

/// A track's title, escaped; `Untitled track` when the audio server gave none.
fn title(t: &Track) -> String {
    match t.title.trim() {
        "" => "Untitled track".into(),
        title => escape(title),
    }
}

/// A track's length as shown: `3:32`, `live` for a stream, `length unknown` when the audio
/// server did not say.
pub fn length(t: &Track) -> String {
    match t.known_length_ms() {
        Some(ms) => format_ms(ms),
        None if t.is_stream => "live".into(),
        None => "length unknown".into(),
    }
}

/// Escapes Discord markdown in text that comes from track metadata.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '_' | '`' | '~' | '|' | '[' | ']' | '>' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub fn played(out: &PlayOutcome) -> String {
    let what = match (&out.playlist, out.added) {
        (Some(name), n) => format!("playlist **{}** ({n} tracks)", escape(name)),
        (None, _) => track_line(&out.first),
    };
    let mut text = match (out.started, out.position, out.start) {
        (true, _, PlayStart::At(ms)) => {
            format!(
                "Now playing {what}, starting at {}.{}",
                format_ms(ms),
                loop_note(out.loop_mode)
            )
        }
        (true, _, _) => format!("Now playing {what}.{}", loop_note(out.loop_mode)),
        (false, Some(p), _) => format!("Queued {what} at position {p}."),
        (false, None, _) => format!("Queued {what}."),
    };
    match out.start {
        PlayStart::At(ms) if !out.started => {
            text.push_str(&format!(" It will start at {}.", format_ms(ms)));
        }
        PlayStart::IgnoredLive => {
            text.push_str(" It is a live stream, so it plays live: the start time does not apply.");
        }
        PlayStart::IgnoredNotSeekable => text.push_str(
            " The audio server cannot seek in this track, so it plays from the beginning.",
        ),
        PlayStart::IgnoredPlaylist => text.push_str(
            " A start time applies to a single track, so the playlist plays from the beginning.",
        ),
        _ => {}
    }
    if out.dropped > 0 {
        text.push_str(&format!(
            " The queue is full: {} track(s) were not added.",
            out.dropped
        ));
    }
    text
}

pub fn now_playing_announcement(t: &Track) -> String {
    let who = match t.requester {
        Some(r) => format!(" (asked for by <@{r}>)"),
        None if t.autoplay => " (picked by autoplay)".to_string(),
        None => String::new(),
    };
    format!("Now playing {}{who}.", track_line(t))
}

pub use crate::domain::PauseReason;

/// The notice after a restart: playing again, or restored paused (with a Resume button).
pub fn back_after_restart(t: &Track, position_ms: u64, paused: Option<PauseReason>) -> String {
    let at = format_ms(position_ms);
    let title = format!("**{}**", title(t));
    match paused {
        None => format!("Back after a restart — resumed {title} at {at}."),
        Some(why) => {
            let reason = match why {
                PauseReason::Member => "",
                PauseReason::AutoResumeOff => " (automatic resume is off here)",
                PauseReason::NobodyListening => {
                    " (nobody is in the voice channel; it plays again when someone joins)"
                }
                PauseReason::VoiceLost => " (the voice connection was lost)",
            };
            format!("Back after a restart — {title} is restored paused at {at}{reason}. Press Resume to go on.")
        }
    }
}

/// Why a saved player could not come back after a restart.
pub fn not_restored_channel_gone() -> String {
    "I could not come back after a restart: the voice channel I was playing in no longer exists. \
     The queue is cleared; use /play to start again."
        .to_string()
}

pub fn not_restored_permission(channel: u64, permission: &str) -> String {
    format!(
        "I could not come back after a restart: I'm missing the {permission} permission in \
         <#{channel}>. The queue is cleared; use /play once I may join again."
    )
}

/// A track skipped because it failed; `reason` is empty when the audio server gave none.
pub fn track_failed(t: &Track, reason: &str) -> String {
    if reason.is_empty() {
        return format!("Skipped {} because it could not be played.", track_line(t));
    }
    format!(
        "Skipped {} because it could not be played: {}",
        track_line(t),
        escape(reason)
    )
}

/// After `failures` tracks in a row failed right after they started: the player stopped, with
/// `kept` tracks still queued; `last_error` is Lavalink's message for the last one.
pub fn stopped_after_failures(failures: u32, last_error: Option<&str>, kept: usize) -> String {
    let error = last_error
        .map(|e| format!(" (last error: {})", escape(e)))
        .unwrap_or_default();
    let rest = match kept {
        0 => QUEUE_ENDED.to_string(),
        1 => "The rest of the queue (1 track) is kept — use /skip to try it.".to_string(),
        n => format!("The rest of the queue ({n} tracks) is kept — use /skip to try the next one."),
    };
    format!("{failures} tracks in a row failed to play{error}; I stopped here. {rest}")
}

pub fn loop_mode(mode: LoopMode) -> &'static str {
    match mode {
        LoopMode::Off => "Loop is off.",
        LoopMode::Track => "Looping the current track.",
        LoopMode::Queue => "Looping the queue.",
    }
}

pub fn filter_set(preset: FilterPreset) -> String {
    match preset {
        FilterPreset::Off => "Filters are off.".into(),
        p => format!("Filter set to **{}**.", p.as_str()),
    }
}

/// A 20-step progress bar: `▬▬▬🔘▬▬▬`.
pub fn progress_bar(position_ms: u64, length_ms: u64) -> String {
    const STEPS: u64 = 20;
    let at = (position_ms.min(length_ms) * STEPS)
        .checked_div(length_ms)
        .unwrap_or(0)
        .min(STEPS - 1);
    (0..STEPS)
        .map(|i| if i == at { "🔘" } else { "▬" })
        .collect()
}

pub fn now_playing(v: &PlayerView) -> String {
    let Some(t) = &v.current else {
        return NOTHING_PLAYING.to_string();
    };
    let time = match t.known_length_ms() {
        Some(length_ms) => format!(
            "{} `{} / {}`",
            progress_bar(v.position_ms, length_ms),
            format_ms(v.position_ms),
            format_ms(length_ms)
        ),
        None if t.is_stream => format!("`{}` (live)", format_ms(v.position_ms)),
        None => format!("`{} / ?` (length unknown)", format_ms(v.position_ms)),
    };
    let who = match t.requester {
        Some(r) => format!("Asked for by <@{r}>\n"),
        None if t.autoplay => "Picked by autoplay\n".to_string(),
        None => String::new(),
    };
    format!(
        "{}{}{}\n{time}\n{who}Volume {}% · Loop {} · Filter {} · Autoplay {}",
        if v.paused { "⏸ " } else { "▶ " },
        track_line(t),
        autoplay_mark(t),
        v.volume,
        v.loop_mode.as_str(),
        v.filters.as_str(),
        if v.autoplay { "on" } else { "off" }
    )
}

/// Tracks per queue page.
pub const PAGE_SIZE: usize = 10;

pub fn pages(upcoming: usize) -> usize {
    upcoming.div_ceil(PAGE_SIZE).max(1)
}

pub fn queue_page(v: &PlayerView, page: usize) -> String {
    let mut text = match &v.current {
        Some(t) => format!("Now: {}{}\n", track_line(t), autoplay_mark(t)),
        None => format!("{NOTHING_PLAYING}\n"),
    };
    if v.upcoming.is_empty() {
        text.push_str("The queue is empty.");
        return text;
    }
    let start = (page - 1) * PAGE_SIZE;
    for (i, t) in v.upcoming.iter().enumerate().skip(start).take(PAGE_SIZE) {
        text.push_str(&format!(
            "`{}.` {}{}\n",
            i + 1,
            track_line(t),
            autoplay_mark(t)
        ));
    }
    text.push_str(&format!(
        "Page {page} of {} · {} track(s) queued",
        pages(v.upcoming.len()),
        v.upcoming.len()
    ));
    text
}

pub fn page_out_of_range(pages: usize) -> String {
    format!("There is no such page: pick a page from 1 to {pages}.")
}

pub const BAD_SEEK: &str = "Give a time like `1:23`, `83` (seconds), `1m23s`, `+10` or `-15`.";
pub const BAD_START: &str =
    "Give the start as a time in the track, like `1:23`, `83` (seconds) or `1m23s`.";

pub fn help() -> String {
    [
        "**Encore** keeps playing through restarts.",
        "`/play <query> [next] [start]` play or queue a link or a search (from a time: `start`, or `t=` in the link)",
        "`/pause` `/resume` `/skip [to]` `/previous` `/stop` `/leave` `/join`",
        "`/queue [page]` `/nowplaying` `/seek <time>` `/volume <0-200>`",
        "`/loop <off|track|queue>` `/shuffle` `/remove <position>` `/move <from> <to>` `/clear`",
        "`/search <query> [source]` pick from the top results (YouTube, YouTube Music, SoundCloud, Spotify, Apple Music, Deezer)",
        "`/lyrics` the current track's lyrics",
        "`/filter <preset>` `/autoplay <on|off>` `/history [page]` `/replay` `/forward [seconds]` `/rewind [seconds]`",
        "`/skip` by a member who is neither DJ nor the requester counts a vote (see `/settings vote_skip`)",
        "`/settings` `/status` `/help`",
    ]
    .join("\n")
}

/// One line for `/status`: what the restore after start did.
pub fn restore_summary(r: &crate::domain::restore::RestoreReport) -> String {
    format!(
        "{} playing · {} paused · {} waiting for Lavalink · {} not restored · {} failed",
        r.playing,
        r.paused,
        r.pending,
        r.skipped + r.refused + r.unreadable,
        r.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_play_reply_says_where_it_starts() {
        let first = Track {
            encoded: "QAAA".into(),
            title: "Song".into(),
            author: "Band".into(),
            uri: None,
            length_ms: Some(212_000),
            is_stream: false,
            is_seekable: true,
            requester: None,
            start_ms: Some(103_000),
            autoplay: false,
        };
        let out = |started, playlist: Option<&str>, start| PlayOutcome {
            first: first.clone(),
            added: 1,
            dropped: 0,
            playlist: playlist.map(str::to_string),
            started,
            position: (!started).then_some(2),
            start,
            loop_mode: LoopMode::Off,
        };
        assert_eq!(
            played(&out(true, None, PlayStart::At(103_000))),
            "Now playing **Song** by Band `3:32`, starting at 1:43."
        );
        assert_eq!(
            played(&out(false, None, PlayStart::At(103_000))),
            "Queued **Song** by Band `3:32` at position 2. It will start at 1:43."
        );
        assert!(played(&out(true, Some("Mix"), PlayStart::IgnoredPlaylist))
            .ends_with("so the playlist plays from the beginning."));
        assert_eq!(
            played(&out(true, None, PlayStart::Beginning)),
            "Now playing **Song** by Band `3:32`."
        );
    }

    #[test]
    fn progress_bar_marks_the_position() {
        assert!(progress_bar(0, 1000).starts_with("🔘"));
        assert!(progress_bar(1000, 1000).ends_with("🔘"));
        assert_eq!(progress_bar(500, 1000).matches('🔘').count(), 1);
    }

    fn track(length_ms: Option<u64>, is_stream: bool) -> Track {
        Track {
            encoded: "QAAA".into(),
            title: "Song".into(),
            author: "Band".into(),
            uri: None,
            length_ms,
            is_stream,
            is_seekable: !is_stream,
            requester: None,
            start_ms: None,
            autoplay: false,
        }
    }

    fn view(t: Track) -> PlayerView {
        PlayerView {
            current: Some(t),
            position_ms: 83_000,
            paused: false,
            volume: 100,
            loop_mode: LoopMode::Off,
            filters: FilterPreset::Off,
            upcoming: vec![],
            text_channel_id: None,
            voice_channel_id: None,
            autoplay: false,
            play_id: 1,
        }
    }

    #[test]
    fn a_length_is_shown_known_live_or_unknown() {
        assert_eq!(
            track_line(&track(Some(212_000), false)),
            "**Song** by Band `3:32`"
        );
        assert_eq!(track_line(&track(None, true)), "**Song** by Band `live`");
        assert_eq!(
            track_line(&track(None, false)),
            "**Song** by Band `length unknown`"
        );
        let mut bare = track(None, false);
        bare.title.clear();
        bare.author.clear();
        assert_eq!(track_line(&bare), "**Untitled track** `length unknown`");
        let known = now_playing(&view(track(Some(212_000), false)));
        assert!(
            known.contains("▬ `1:23 / 3:32`") && known.contains('🔘'),
            "{known}"
        );
        let live = now_playing(&view(track(None, true)));
        assert!(live.contains("`1:23` (live)"), "{live}");
        let unknown = now_playing(&view(track(None, false)));
        assert!(
            unknown.contains("`1:23 / ?` (length unknown)") && !unknown.contains('🔘'),
            "{unknown}"
        );
    }

    #[test]
    fn the_summary_after_failures_says_what_is_kept() {
        assert_eq!(
            stopped_after_failures(3, Some("This video is *unavailable*"), 3),
            "3 tracks in a row failed to play (last error: This video is \\*unavailable\\*); \
             I stopped here. The rest of the queue (3 tracks) is kept — use /skip to try the next one."
        );
        assert_eq!(
            stopped_after_failures(3, None, 1),
            "3 tracks in a row failed to play; I stopped here. \
             The rest of the queue (1 track) is kept — use /skip to try it."
        );
        assert!(stopped_after_failures(3, None, 0).ends_with(QUEUE_ENDED));
    }

    #[test]
    fn markdown_in_titles_is_escaped() {
        assert_eq!(escape("a*b_c`d"), "a\\*b\\_c\\`d");
    }
}
