//! Tracks that cannot be played, end to end through the fake Discord and the fake Lavalink
//! (whose "fails on play" tracks start, then throw, then end `loadFailed`, as lavaplayer does):
//! a broken playlist stops after three failures in a row with one summary, "now playing" is said
//! only for a track that is heard, and one guild's messages are posted in the order they happened.

use std::time::Duration;

use encore_fakes::lavalink::catalogue::FAILING_IDENTIFIER;
use encore_fakes::lavalink::NewTrack;
use serde_json::json;

use crate::harness::*;

const BROKEN_PLAYLIST: &str = "PLencoreBroken01";
const RICK: &str = "dQw4w9WgXcQ";
/// Discord's epoch (2015-01-01) in Unix ms: a snowflake's timestamp counts from it.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Six catalogue tracks that fail right after they start, as one playlist; returns its link.
fn broken_playlist(w: &World) -> String {
    let ids: Vec<String> = (1..=6).map(|i| format!("brokenTone{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        w.lavalink.add_track(NewTrack {
            title: format!("Broken Upload {}", i + 1),
            author: "Encore Fixtures".into(),
            length: 180_000,
            identifier: id.clone(),
            is_stream: false,
            uri: None,
            artwork_url: None,
            isrc: None,
            source_name: None,
            fails_on_play: true,
        });
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    w.lavalink
        .add_playlist(BROKEN_PLAYLIST, "Broken Mix", &ids)
        .unwrap();
    format!("https://www.youtube.com/playlist?list={BROKEN_PLAYLIST}")
}

/// What the bot posted in the text channel on its own (not replies), oldest first.
fn announcements(w: &World) -> Vec<String> {
    w.discord
        .messages(TEXT)
        .iter()
        .filter(|m| m["type"] == 0)
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect()
}

/// The identifiers of the tracks Lavalink was asked to play for the guild, in order.
fn track_starts(w: &World) -> Vec<String> {
    let player = format!("/players/{GUILD}");
    w.lavalink
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&player))
        .filter_map(|r| {
            let encoded = r.body.as_ref()?["track"]["encoded"].as_str()?.to_string();
            let decoded = encore_fakes::lavalink::codec::decode(&encoded).ok()?;
            Some(decoded.info.identifier)
        })
        .collect()
}

/// The message for broken track `n` that failed at once.
fn skipped(n: u32) -> String {
    format!(
        "Skipped [Broken Upload {n}](<https://www.youtube.com/watch?v=brokenTone{n}>) by Encore \
         Fixtures `3:00` because it could not be played: This video is unavailable"
    )
}

fn is_summary(text: &str) -> bool {
    text.contains("tracks in a row failed to play")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_playlist_stops_after_three_failures_with_one_summary_and_keeps_the_rest() {
    let w = world().await;
    let link = broken_playlist(&w);
    let (reply, _) = command(&w, BOB, "play", json!({"query": link})).await;
    assert!(reply.starts_with("Now playing playlist"), "{reply}");
    eventually("the summary", WAIT, || {
        announcements(&w)
            .iter()
            .any(|a| is_summary(a))
            .then_some(())
    })
    .await;
    // Nothing more comes: no fourth try, no "now playing", no end of the queue.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let said = announcements(&w);
    assert_eq!(
        said,
        [
            skipped(1),
            skipped(2),
            "3 tracks in a row failed to play (last error: This video is unavailable); I stopped \
             here. The rest of the queue (3 tracks) is kept — use /skip to try the next one."
                .to_string(),
        ],
        "{said:#?}"
    );
    assert_eq!(
        track_starts(&w),
        ["brokenTone1", "brokenTone2", "brokenTone3"]
    );
    let player = w.lavalink.player(&GUILD.to_string()).unwrap();
    assert!(player.track.is_none(), "{player:?}");

    // The rest is in /queue, and saved.
    let (queue, _) = command(&w, BOB, "queue", json!({})).await;
    assert!(queue.starts_with("Nothing is playing."), "{queue}");
    for n in 4..=6 {
        assert!(queue.contains(&format!("Broken Upload {n}")), "{queue}");
    }
    assert!(!queue.contains("Broken Upload 3"), "{queue}");
    let saved = eventually_async("the kept queue is saved", WAIT, || async {
        w.store
            .load(GUILD)
            .await
            .unwrap()
            .filter(|s| s.queue.current.is_none() && s.queue.upcoming.len() == 3)
    })
    .await;
    assert_eq!(saved.queue.upcoming[0].title, "Broken Upload 4");

    // /skip tries the next one; a new streak is counted from there.
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert!(reply.contains("Broken Upload 4"), "{reply}");
    eventually("the second summary", WAIT, || {
        (announcements(&w).iter().filter(|a| is_summary(a)).count() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let said = announcements(&w);
    assert_eq!(said.len(), 6, "{said:#?}");
    assert_eq!(said[3..5], [skipped(4), skipped(5)], "{said:#?}");
    assert!(
        said[5].ends_with("I stopped here. The queue has ended."),
        "{said:#?}"
    );
    assert!(
        !said.iter().any(|a| a.starts_with("Now playing")),
        "{said:#?}"
    );
    assert_eq!(track_starts(&w).len(), 6);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn now_playing_is_said_once_the_next_track_is_heard_not_when_it_is_asked_for() {
    let w = world().await;
    w.lavalink
        .add_playlist("PLencoreHalf01", "Half Broken", &[FAILING_IDENTIFIER, RICK])
        .unwrap();
    let link = "https://www.youtube.com/playlist?list=PLencoreHalf01";
    command(&w, BOB, "play", json!({"query": link})).await;
    let message = eventually("rick is announced", WAIT, || {
        w.discord.messages(TEXT).into_iter().find(|m| {
            m["type"] == 0
                && m["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("Now playing"))
        })
    })
    .await;
    let said = announcements(&w);
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        said[0].starts_with("Skipped [Encore Fixture - Unplayable Upload]"),
        "{said:#?}"
    );
    assert!(
        said[1].starts_with("Now playing [Rick Astley - Never Gonna Give You Up]"),
        "{said:#?}"
    );
    // Said when Lavalink reported it moving (its first playerUpdate after the start, 200 ms
    // here), not when Encore asked for it.
    let asked_ms = w
        .lavalink
        .requests()
        .into_iter()
        .rev()
        .find(|r| {
            r.method == "PATCH"
                && r.body
                    .as_ref()
                    .is_some_and(|b| b["track"]["encoded"].is_string())
        })
        .unwrap()
        .received_at_unix_us
        / 1000;
    let id: u64 = message["id"].as_str().unwrap().parse().unwrap();
    let said_ms = (id >> 22) + DISCORD_EPOCH_MS;
    assert!(
        said_ms >= asked_ms + 150,
        "said {} ms after it was asked for",
        said_ms as i64 - asked_ms as i64
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_guilds_messages_are_posted_one_after_another_in_the_order_they_happened() {
    let w = world().await;
    // Discord is slow with the first message: the next one is sent only once it is answered.
    w.discord.slow_messages(TEXT, Duration::from_millis(700), 1);
    let failing = format!("https://www.youtube.com/watch?v={FAILING_IDENTIFIER}");
    command(&w, BOB, "play", json!({"query": failing})).await;
    eventually("both messages", WAIT, || {
        (announcements(&w).len() >= 2).then_some(())
    })
    .await;
    let said = announcements(&w);
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        said[0].starts_with("Skipped [Encore Fixture - Unplayable Upload]"),
        "{said:#?}"
    );
    assert_eq!(said[1], "The queue has ended.");
    // They were sent in that order, the second only once the first was posted.
    let posts = format!("/api/v10/channels/{TEXT}/messages");
    let sent: Vec<(String, u64)> = w
        .discord
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == posts)
        .filter_map(|r| {
            let content = r.body.as_ref()?["content"].as_str()?.to_string();
            Some((content, r.received_at_unix_us / 1000))
        })
        .collect();
    let order: Vec<&str> = sent.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(order, said, "the order they were sent in");
    let first_posted_ms = w
        .discord
        .messages(TEXT)
        .iter()
        .find(|m| m["type"] == 0)
        .map(|m| (m["id"].as_str().unwrap().parse::<u64>().unwrap() >> 22) + DISCORD_EPOCH_MS)
        .unwrap();
    assert!(
        sent[1].1 >= first_posted_ms,
        "the second was sent {} ms before the first was posted",
        first_posted_ms - sent[1].1
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_stopped_after_failures_comes_back_stopped_after_a_restart_and_skip_goes_on() {
    let n = 31;
    let rig = Rig::new(vec![small_guild(n, 1)], None).await;
    let guild = small_guild_id(n);
    let (kept_1, kept_2) = (
        catalogue_track(&rig.lavalink, 60_000, 1),
        catalogue_track(&rig.lavalink, 60_000, 2),
    );
    let mut stopped = saved_small(n, &kept_1, vec![kept_2.clone()], 0, false);
    stopped.queue.upcoming.push_front(kept_1.clone());
    stopped.queue.current = None;
    seed(&rig, &[stopped], &[]).await;
    let _bot = rig.spawn(&[]);
    // Back in voice, nothing playing, the queue kept.
    let patch = restored(&rig, guild).await;
    assert!(patch.get("track").is_none(), "{patch}");
    assert_eq!(
        rig.discord.voice_channel_of(guild, BOT),
        Some(voice_of(guild))
    );
    let listener = 700_000_000_000_000_000 + n * 100;
    let id = rig
        .discord
        .inject_command(guild, text_of(guild), listener, "skip", json!({}))
        .unwrap()
        .id;
    let reply = eventually("the reply", WAIT, || {
        let r = rig.discord.interaction_responses(&id)?;
        let content = |m: &serde_json::Value| {
            m["content"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_string)
        };
        r.original
            .as_ref()
            .and_then(content)
            .or_else(|| content(&r.callback?["data"]))
    })
    .await;
    assert!(reply.contains(&kept_1.title), "{reply}");
    eventually("the kept track plays", WAIT, || {
        rig.player(guild)
            .and_then(|p| p.track)
            .filter(|t| t.info.title == kept_1.title)
    })
    .await;
    let saved = eventually_async("saved playing", WAIT, || async {
        rig.storage
            .open()
            .await
            .load(guild)
            .await
            .unwrap()
            .filter(|s| s.queue.current.is_some())
    })
    .await;
    assert_eq!(saved.queue.upcoming.len(), 1);
}
