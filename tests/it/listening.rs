//! Listener features end to end (issue: a complete bot for listeners): vote-skip, quick seeks
//! and replay, the server's history, autoplay, each against the fakes with the real bot.

use std::time::Duration;

use serde_json::{json, Value};

use encore_fakes::lavalink::catalogue::{
    SHORT_1S, SHORT_2S, SHORT_3S, SHORT_5S, SPOTIFY_PLAYLIST_ID, SPOTIFY_TONE_3S,
};
use encore_fakes::lavalink::NewTrack;

use crate::harness::{
    answered, bob_command, choice, command, eventually, guild_spec, log_has, play_through_the_bot,
    world_with, Rig, ALICE, BOB, CAROL, DAN, ERIN, FRANK, GUILD, TEXT, VOICE, WAIT,
};

/// These tests send many commands as one member within seconds: above the default rate limit.
const MANY_COMMANDS: &[(&str, &str)] = &[("RATE_LIMIT_COMMANDS", "100")];

/// Moves `user` into `channel` (or out of voice) and gives the gateway event time to reach the
/// bot's cache.
async fn move_member(w: &crate::harness::World, user: u64, channel: Option<u64>) {
    w.discord.set_user_voice(GUILD, user, channel).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// The title of the track the fake Lavalink plays for the guild now.
fn playing_title(w: &crate::harness::World) -> String {
    w.lavalink
        .player(&GUILD.to_string())
        .and_then(|p| p.track)
        .map(|t| t.info.title)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn skip_votes_count_the_listeners_in_the_channel_with_one_two_three_and_five() {
    let w = world_with(MANY_COMMANDS).await;
    for query in [
        "despacito",
        "gangnam",
        "bohemian",
        "never gonna give",
        "despacito",
        "gangnam",
        "bohemian",
        "never gonna give",
    ] {
        command(&w, CAROL, "play", json!({ "query": query })).await;
    }
    // One listener (Bob; Carol left): Bob skips Carol's track at once.
    move_member(&w, CAROL, None).await;
    let before = playing_title(&w);
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert!(reply.starts_with("Skipped"), "{reply}");
    assert_ne!(playing_title(&w), before);

    // Two listeners: half is one vote, Bob's.
    move_member(&w, CAROL, Some(VOICE)).await;
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert!(reply.starts_with("1/1 votes. Skipped"), "{reply}");

    // Three listeners: two votes; a second vote of the same member does not count.
    move_member(&w, DAN, Some(VOICE)).await;
    let before = playing_title(&w);
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert_eq!(reply, "Vote to skip counted: 1/2 votes.");
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert_eq!(reply, "You already voted to skip this track: 1/2 votes.");
    assert_eq!(playing_title(&w), before, "not skipped yet");
    let (reply, _) = command(&w, DAN, "skip", json!({})).await;
    assert!(reply.starts_with("2/2 votes. Skipped"), "{reply}");
    assert_ne!(playing_title(&w), before);

    // Five listeners: three votes. Dan votes and leaves: four listeners need two, and his vote
    // no longer counts, so Erin's is the second.
    move_member(&w, ERIN, Some(VOICE)).await;
    move_member(&w, FRANK, Some(VOICE)).await;
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert_eq!(reply, "Vote to skip counted: 1/3 votes.");
    let (reply, _) = command(&w, DAN, "skip", json!({})).await;
    assert_eq!(reply, "Vote to skip counted: 2/3 votes.");
    move_member(&w, DAN, None).await;
    let (reply, _) = command(&w, ERIN, "skip", json!({})).await;
    assert!(reply.starts_with("2/2 votes. Skipped"), "{reply}");

    // Five again: the requester skips at once, and the votes reset with the new track.
    move_member(&w, DAN, Some(VOICE)).await;
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert_eq!(reply, "Vote to skip counted: 1/3 votes.");
    let (reply, _) = command(&w, CAROL, "skip", json!({})).await;
    assert!(reply.starts_with("Skipped"), "the requester's own: {reply}");
    let (reply, _) = command(&w, ERIN, "skip", json!({})).await;
    assert_eq!(reply, "Vote to skip counted: 1/3 votes.", "votes reset");

    // A DJ (Manage Server here) skips at once; so does anyone with voting off.
    move_member(&w, ALICE, Some(VOICE)).await;
    let (reply, _) = command(&w, ALICE, "skip", json!({})).await;
    assert!(reply.starts_with("Skipped"), "{reply}");
    let (reply, _) = command(&w, ALICE, "settings", json!({"vote_skip": 0})).await;
    assert!(reply.contains("Vote-skip: off"), "{reply}");
    let (reply, _) = command(&w, FRANK, "skip", json!({})).await;
    assert!(reply.starts_with("Skipped"), "{reply}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_rewind_and_replay_move_in_the_track_and_the_buttons_do_too() {
    let w = world_with(MANY_COMMANDS).await;
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    let position = || w.lavalink.player(&GUILD.to_string()).unwrap().position;
    let (reply, _) = command(&w, BOB, "forward", json!({"seconds": 90})).await;
    assert!(reply.starts_with("Forward 90s, now at 1:3"), "{reply}");
    assert!((90_000..95_000).contains(&position()), "{}", position());
    let (reply, _) = command(&w, BOB, "rewind", json!({})).await;
    assert!(reply.starts_with("Back 10s, now at 1:2"), "{reply}");
    assert!((80_000..85_000).contains(&position()), "{}", position());
    // Further back than the start goes to the start.
    let (reply, _) = command(&w, BOB, "rewind", json!({"seconds": 600})).await;
    assert_eq!(reply, "Back 600s, now at 0:00.");
    command(&w, BOB, "forward", json!({"seconds": 60})).await;
    let (reply, _) = command(&w, BOB, "replay", json!({})).await;
    assert!(reply.starts_with("Playing [Rick Astley"), "{reply}");
    assert!(position() < 5_000, "{}", position());
    // Past the end is refused, politely and only to the asker.
    let (reply, ephemeral) = command(&w, BOB, "forward", json!({"seconds": 3600})).await;
    assert!(ephemeral, "{reply}");

    // The now-playing buttons: -10s, Replay, +10s, Autoplay.
    let inj = w
        .discord
        .inject_command(GUILD, TEXT, BOB, "nowplaying", json!({}))
        .unwrap();
    let message = eventually("the now-playing message", WAIT, || {
        w.discord.interaction_responses(&inj.id)?.original
    })
    .await;
    let ids: Vec<String> = message["components"][1]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "encore:rewind",
            "encore:replay",
            "encore:forward",
            "encore:autoplay"
        ]
    );
    let message_id: u64 = message["id"].as_str().unwrap().parse().unwrap();
    let at = position();
    let a = click(&w, message_id, "encore:forward").await;
    assert!(
        a["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with("Forward 10s"),
        "{a}"
    );
    assert!(position() >= at + 9_000, "{} after {at}", position());
    let a = click(&w, message_id, "encore:autoplay").await;
    assert_eq!(
        a["data"]["content"],
        "Autoplay is on: when the queue runs out, I keep playing related tracks."
    );
    assert_eq!(
        a["data"]["components"][1]["components"][3]["label"],
        "Autoplay: on"
    );
    w.stop().await;
}

/// Bob clicks the button `custom_id` on `message_id`; returns the bot's answer (callback).
async fn click(w: &crate::harness::World, message_id: u64, custom_id: &str) -> Value {
    let id = w
        .discord
        .inject_component(GUILD, TEXT, BOB, message_id, custom_id)
        .unwrap()
        .id;
    eventually("the click is answered", WAIT, || {
        w.discord
            .interaction_responses(&id)
            .and_then(|r| r.callback)
    })
    .await
}

/// Bob's `/history` through the real binary: the listed page's text.
async fn history_text(rig: &Rig) -> String {
    let id = bob_command(rig, "history", json!({}));
    let a: Value = answered(rig, &id).await;
    a["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Whether a history page lists gangnam, despacito, rick, newest first.
fn lists_the_three(text: &str) -> bool {
    [
        "`1.` [PSY - GANGNAM STYLE",
        "`2.` [Luis Fonsi - Despacito",
        "`3.` [Rick Astley",
    ]
    .iter()
    .all(|line| text.contains(line))
}

/// `/history` through the real binary: what played is listed newest first, and it is still
/// there after the process is killed and another one started.
#[tokio::test(flavor = "multi_thread")]
async fn history_lists_what_the_server_played_and_survives_a_restart() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut first = rig.spawn(MANY_COMMANDS);
    play_through_the_bot(&rig, &first, "never gonna give").await;
    for query in ["despacito", "gangnam"] {
        let id = bob_command(&rig, "play", json!({ "query": query }));
        answered(&rig, &id).await;
    }
    for _ in 0..2 {
        let id = bob_command(&rig, "skip", json!({}));
        answered(&rig, &id).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let mut before = String::new();
    for _ in 0..20 {
        before = history_text(&rig).await;
        if lists_the_three(&before) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(lists_the_three(&before), "{before}");
    assert!(before.contains(&format!("<@{BOB}>")), "{before}");
    first.kill();
    let second = rig.spawn(MANY_COMMANDS);
    eventually("the second instance owns the lease", WAIT, || {
        log_has(&second, "this instance owns the lease").then_some(())
    })
    .await;
    let after = history_text(&rig).await;
    assert!(lists_the_three(&after), "{after}");
}

/// The identifier of the track the fake Lavalink plays for `guild` now.
fn playing_id(lavalink: &encore_fakes::lavalink::FakeLavalink) -> Option<String> {
    lavalink
        .player(&GUILD.to_string())
        .and_then(|p| p.track)
        .map(|t| t.info.identifier)
}

fn yt(id: &str) -> String {
    format!("https://www.youtube.com/watch?v={id}")
}

/// The mix autoplay draws from in these tests: the 3 s tone's related tracks, the 2 s tone
/// first (it will have just played: never picked again).
fn tone_mix(lavalink: &encore_fakes::lavalink::FakeLavalink) {
    lavalink
        .set_mix(SHORT_3S, [SHORT_2S, SHORT_5S, SHORT_1S])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn autoplay_keeps_playing_related_tracks_from_its_seed_and_never_a_recent_one() {
    let w = world_with(MANY_COMMANDS).await;
    tone_mix(&w.lavalink);
    command(&w, BOB, "play", json!({ "query": yt(SHORT_2S) })).await;
    command(&w, BOB, "play", json!({ "query": yt(SHORT_3S) })).await;
    let on = choice(&w.discord, "autoplay", "on");
    let (reply, _) = command(&w, BOB, "autoplay", json!({ "mode": on })).await;
    assert_eq!(
        reply,
        "Autoplay is on: when the queue runs out, I keep playing related tracks."
    );
    // The 3 s tone ends the queue: its mix's 2 s tone just played, so the 5 s tone comes.
    eventually("the 5 s tone autoplayed", WAIT, || {
        (playing_id(&w.lavalink).as_deref() == Some(SHORT_5S)).then_some(())
    })
    .await;
    let (reply, _) = command(&w, BOB, "nowplaying", json!({})).await;
    assert!(
        reply.contains("· *autoplay*") && reply.contains("Picked by autoplay"),
        "{reply}"
    );
    // It ends too: the seed is still the 3 s tone (autoplay played only its own pick), whose
    // next related track not played lately is the 1 s tone.
    eventually("the 1 s tone autoplayed", WAIT, || {
        (playing_id(&w.lavalink).as_deref() == Some(SHORT_1S)).then_some(())
    })
    .await;
    // Every track of the seed's mix has played now: autoplay goes on from the last track
    // (the 1 s tone's mix: the catalogue's YouTube tracks), skipping the tones it played.
    let next = eventually("a track after the seed's mix ran out", WAIT, || {
        playing_id(&w.lavalink).filter(|id| id != SHORT_1S)
    })
    .await;
    assert!(
        ![SHORT_1S, SHORT_2S, SHORT_3S, SHORT_5S].contains(&next.as_str()),
        "{next} played lately"
    );
    // Each was announced as autoplay's in the channel, and /history marks them.
    let posted = w.discord.messages(TEXT);
    assert!(
        posted
            .iter()
            .filter(|m| m["content"]
                .as_str()
                .is_some_and(|c| c.contains("(picked by autoplay)")))
            .count()
            >= 2,
        "{posted:?}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn autoplay_that_finds_nothing_new_ends_the_queue_with_one_message() {
    let w = world_with(MANY_COMMANDS).await;
    // A 2 s track by an artist of its own, whose mix holds only the track itself: neither the
    // mix nor a search by its author finds anything else.
    w.lavalink.add_track(NewTrack::youtube(
        "lonelySong1",
        "Lonely Song",
        "Solitary Quartet",
        2_000,
    ));
    w.lavalink
        .set_mix("lonelySong1", Vec::<String>::new())
        .unwrap();
    command(&w, BOB, "play", json!({ "query": yt("lonelySong1") })).await;
    let on = choice(&w.discord, "autoplay", "on");
    command(&w, BOB, "autoplay", json!({ "mode": on })).await;
    let said = eventually("autoplay's message", WAIT, || {
        w.discord
            .messages(TEXT)
            .into_iter()
            .filter_map(|m| m["content"].as_str().map(str::to_string))
            .find(|c| c.starts_with("Autoplay found nothing new"))
    })
    .await;
    assert!(said.contains("Lonely Song"), "{said}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ended = w
        .discord
        .messages(TEXT)
        .into_iter()
        .filter(|m| {
            m["content"]
                .as_str()
                .is_some_and(|c| c.contains("The queue has ended"))
        })
        .count();
    assert_eq!(ended, 1, "told once");
    w.stop().await;
}

/// A kill -9 while an autoplayed track plays: the next process restores it, and when it ends,
/// autoplay goes on from the same seed (saved with the player), not from the restored track.
#[tokio::test(flavor = "multi_thread")]
async fn autoplay_survives_a_kill_9_mid_track_and_continues_from_its_seed() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    tone_mix(&rig.lavalink);
    let mut first = rig.spawn(MANY_COMMANDS);
    play_through_the_bot(&rig, &first, &yt(SHORT_2S)).await;
    let id = bob_command(&rig, "play", json!({ "query": yt(SHORT_3S) }));
    answered(&rig, &id).await;
    let on = choice(&rig.discord, "autoplay", "on");
    let id = bob_command(&rig, "autoplay", json!({ "mode": on }));
    answered(&rig, &id).await;
    eventually("the 5 s tone autoplayed", WAIT, || {
        (playing_id(&rig.lavalink).as_deref() == Some(SHORT_5S)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    first.kill();
    let _second = rig.spawn(MANY_COMMANDS);
    // Without the saved seed, the 5 s tone's own mix (the catalogue's YouTube tracks) would
    // give another track.
    eventually("the 1 s tone autoplayed from the saved seed", WAIT, || {
        (playing_id(&rig.lavalink).as_deref() == Some(SHORT_1S)).then_some(())
    })
    .await;
}

/// The identifiers `/v4/loadtracks` was asked for, decoded, in order.
fn loaded(lavalink: &encore_fakes::lavalink::FakeLavalink) -> Vec<String> {
    lavalink
        .requests_to("/v4/loadtracks")
        .into_iter()
        .filter_map(|r| {
            let q = r.query?;
            let v = q.strip_prefix("identifier=")?;
            Some(
                url::form_urlencoded::parse(format!("x={v}").as_bytes())
                    .next()?
                    .1
                    .into_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn spotify_apple_music_and_deezer_links_reach_the_node_unchanged_and_autoplay_follows_them() {
    let w = world_with(MANY_COMMANDS).await;
    // A Spotify track link with a start time of Encore's own (`#t=`, on any host).
    let link = format!("https://open.spotify.com/track/{SPOTIFY_TONE_3S}?si=4f2e#t=0:01");
    let (reply, _) = command(&w, BOB, "play", json!({ "query": link })).await;
    assert!(reply.starts_with("Now playing"), "{reply}");
    assert!(
        loaded(&w.lavalink).contains(&link),
        "{:?}",
        loaded(&w.lavalink)
    );
    let p = w.lavalink.player(&GUILD.to_string()).unwrap();
    assert_eq!(p.track.as_ref().unwrap().info.source_name, "spotify");
    assert!(
        p.position >= 1_000,
        "started at its link's time: {}",
        p.position
    );
    // Autoplay after a Spotify track asks LavaSrc for its recommendations (the track has 2 s
    // left).
    let on = choice(&w.discord, "autoplay", "on");
    command(&w, BOB, "autoplay", json!({ "mode": on })).await;
    let next = eventually("a recommended track", WAIT, || {
        let t = w.lavalink.player(&GUILD.to_string())?.track?;
        (t.info.identifier != SPOTIFY_TONE_3S).then_some(t)
    })
    .await;
    assert!(
        loaded(&w.lavalink).contains(&format!("sprec:{SPOTIFY_TONE_3S}")),
        "{:?}",
        loaded(&w.lavalink)
    );
    assert_eq!(next.info.source_name, "spotify", "{next:?}");
    // A Spotify playlist, an Apple Music and a Deezer track are queued as they are.
    let playlist = format!("https://open.spotify.com/playlist/{SPOTIFY_PLAYLIST_ID}");
    let (reply, _) = command(&w, BOB, "play", json!({ "query": playlist })).await;
    assert!(reply.contains("(3 tracks)"), "{reply}");
    for link in [
        "https://music.apple.com/us/album/whenever-you-need-somebody/1558533890?i=1558533900",
        "https://www.deezer.com/track/3135556",
    ] {
        let (reply, ephemeral) = command(&w, BOB, "play", json!({ "query": link })).await;
        assert!(!ephemeral && reply.starts_with("Queued"), "{link}: {reply}");
        assert!(loaded(&w.lavalink).iter().any(|l| l == link));
    }
    w.stop().await;
}
