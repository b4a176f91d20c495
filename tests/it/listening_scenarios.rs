//! A tester's scenarios for the listener features (autoplay, vote-skip, history, quick seeks,
//! search, lyrics), tried as members and operators would, against the fakes. The first group
//! each kept a fault the tester found (fixed since); the rest are regression tests.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use encore::domain::{PauseReason, Played};
use encore_fakes::lavalink::catalogue::{SHORT_1S, SHORT_2S, SHORT_3S, SHORT_5S};
use encore_fakes::lavalink::NewTrack;

use crate::harness::{
    answered, backends, bob_command, catalogue_track, choice, command, eventually, guild_spec,
    restored, saved, seed, track, world_behind_proxy, world_with, Rig, World, ALICE, BOB, CAROL,
    DAN, DJ_ROLE, GUILD, TEXT, VOICE, WAIT,
};

/// These tests send many commands as one member within seconds: above the default rate limit.
const MANY_COMMANDS: &[(&str, &str)] = &[("RATE_LIMIT_COMMANDS", "100")];

/// Discord's limit for the first answer to an interaction.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// The request a slow node is slow at: loading tracks (a YouTube mix takes seconds).
const LOADTRACKS: &str = "GET /v4/loadtracks";

async fn move_member(w: &World, user: u64, channel: Option<u64>) {
    w.discord.set_user_voice(GUILD, user, channel).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
}

fn playing_id(w: &World) -> Option<String> {
    w.lavalink
        .player(&GUILD.to_string())
        .and_then(|p| p.track)
        .map(|t| t.info.identifier)
}

fn yt(id: &str) -> String {
    format!("https://www.youtube.com/watch?v={id}")
}

/// A track of its own artist whose mix holds only itself: autoplay asks the node twice (its
/// mix, then a search by its author) and finds nothing new.
fn add_lonely(w: &World, identifier: &str, length: u64) {
    w.lavalink.add_track(NewTrack::youtube(
        identifier,
        &format!("Lonely Song {identifier}"),
        &format!("Solitary Quartet {identifier}"),
        length,
    ));
    w.lavalink
        .set_mix(identifier, Vec::<String>::new())
        .unwrap();
}

/// The bot's first answer (callback) to the interaction `id`, and how long after `sent` it
/// came.
async fn first_answer(w: &World, id: &str, sent: Instant) -> (Value, Duration) {
    let answer = eventually("the interaction is answered", WAIT, || {
        w.discord.interaction_responses(id)?.callback
    })
    .await;
    (answer, sent.elapsed())
}

/// The now-playing message posted for Bob's `/nowplaying`.
async fn now_playing_message(w: &World) -> Value {
    let inj = w
        .discord
        .inject_command(GUILD, TEXT, BOB, "nowplaying", json!({}))
        .unwrap();
    eventually("the now-playing message", WAIT, || {
        w.discord.interaction_responses(&inj.id)?.original
    })
    .await
}

fn message_id(message: &Value) -> u64 {
    message["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until the node has been asked to load a track whose identifier contains `needle`
/// (URL-encoded as sent).
async fn node_asked_to_load(proxy: &crate::harness::Proxy, needle: &str) {
    eventually("the node is asked to load", WAIT, || {
        proxy
            .connections()
            .iter()
            .any(|c| {
                c.sent
                    .iter()
                    .any(|(_, line)| line.starts_with(LOADTRACKS) && line.contains(needle))
            })
            .then_some(())
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

/// `/skip to:1` skips the current track as `/skip` does: while vote-skip counts, a member who is
/// not a DJ is refused (with no DJ role set, the default, it once skipped at once, bypassing
/// the vote).
#[tokio::test(flavor = "multi_thread")]
async fn skip_to_the_next_position_needs_the_votes_a_skip_needs() {
    let w = world_with(MANY_COMMANDS).await;
    for query in ["despacito", "gangnam", "bohemian"] {
        command(&w, CAROL, "play", json!({ "query": query })).await;
    }
    // Three listeners (Bob, Carol, Dan): skipping Carol's track takes two votes.
    move_member(&w, DAN, Some(VOICE)).await;
    let before = playing_id(&w);
    let (reply, _) = command(&w, DAN, "skip", json!({})).await;
    assert_eq!(reply, "Vote to skip counted: 1/2 votes.");
    let (reply, _) = command(&w, BOB, "skip", json!({ "to": 1 })).await;
    assert_eq!(
        playing_id(&w),
        before,
        "Bob (neither DJ nor requester) skipped Carol's track without the votes: {reply}"
    );
    w.stop().await;
}

/// The Skip button on the last track with autoplay on is answered within Discord's 3 s on a
/// node that takes 2 s per load: autoplay looks for a related track after the answer.
#[tokio::test(flavor = "multi_thread")]
async fn the_skip_button_on_the_last_track_with_autoplay_is_answered_within_3_s() {
    let (w, proxy) = world_behind_proxy(MANY_COMMANDS).await;
    add_lonely(&w, "lonelyLong1", 200_000);
    command(&w, BOB, "play", json!({ "query": yt("lonelyLong1") })).await;
    let on = choice(&w.discord, "autoplay", "on");
    command(&w, BOB, "autoplay", json!({ "mode": on })).await;
    let message = now_playing_message(&w).await;
    proxy.delay_requests(Some((LOADTRACKS, Duration::from_secs(2))));
    let sent = Instant::now();
    let id = w
        .discord
        .inject_component(GUILD, TEXT, BOB, message_id(&message), "encore:skip")
        .unwrap()
        .id;
    let (answer, after) = first_answer(&w, &id, sent).await;
    assert!(
        after < ANSWER_WITHIN,
        "the Skip button was answered after {after:?}: {answer}"
    );
    proxy.delay_requests(None);
    w.stop().await;
}

/// While autoplay asks the node for a related track (2.5 s per load: a mix, then a search by
/// the author), a plain `/nowplaying` is answered within 3 s: the loads do not hold the guild's
/// player.
#[tokio::test(flavor = "multi_thread")]
async fn a_command_while_autoplay_looks_for_a_track_is_answered_within_3_s() {
    let (w, proxy) = world_behind_proxy(MANY_COMMANDS).await;
    add_lonely(&w, "lonelyShort1", 2_000);
    command(&w, BOB, "play", json!({ "query": yt("lonelyShort1") })).await;
    let on = choice(&w.discord, "autoplay", "on");
    command(&w, BOB, "autoplay", json!({ "mode": on })).await;
    proxy.delay_requests(Some((LOADTRACKS, Duration::from_millis(2_500))));
    // The track ends; autoplay asks for its mix.
    node_asked_to_load(&proxy, "list%3DRDlonelyShort1").await;
    let sent = Instant::now();
    let id = w
        .discord
        .inject_command(GUILD, TEXT, BOB, "nowplaying", json!({}))
        .unwrap()
        .id;
    let (answer, after) = first_answer(&w, &id, sent).await;
    assert!(
        after < ANSWER_WITHIN,
        "/nowplaying was answered after {after:?}: {answer}"
    );
    proxy.delay_requests(None);
    w.stop().await;
}

/// `/leave` while autoplay is looking for the next track (the queue just ran out): autoplay's
/// pick is dropped; nothing plays on the node and no player is saved (a restart would rejoin
/// and play after the member said leave).
#[tokio::test(flavor = "multi_thread")]
async fn a_leave_while_autoplay_looks_for_a_track_leaves_nothing_behind() {
    let (w, proxy) = world_behind_proxy(MANY_COMMANDS).await;
    w.lavalink
        .set_mix(SHORT_3S, [SHORT_2S, SHORT_5S, SHORT_1S])
        .unwrap();
    command(&w, BOB, "play", json!({ "query": yt(SHORT_3S) })).await;
    let on = choice(&w.discord, "autoplay", "on");
    command(&w, BOB, "autoplay", json!({ "mode": on })).await;
    proxy.delay_requests(Some((LOADTRACKS, Duration::from_secs(2))));
    node_asked_to_load(&proxy, "list%3DRDshortTone3s").await;
    let (reply, _) = command(&w, BOB, "leave", json!({})).await;
    assert!(!reply.is_empty());
    eventually("the bot left voice", WAIT, || {
        w.discord
            .voice_channel_of(GUILD, crate::harness::BOT)
            .is_none()
            .then_some(())
    })
    .await;
    // Autoplay's load comes back meanwhile.
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.delay_requests(None);
    let node_player = w
        .lavalink
        .player(&GUILD.to_string())
        .and_then(|p| p.track)
        .map(|t| t.info.identifier);
    let saved = w.store.load(GUILD).await.unwrap();
    assert!(
        node_player.is_none() && saved.is_none(),
        "after /leave: the node plays {node_player:?}; the store holds a player to restore: {:?}",
        saved.map(|s| s.queue.current.map(|t| t.title))
    );
    w.stop().await;
}

/// `/autoplay off` while autoplay is looking for the next track: its pick is dropped, and the
/// channel is told once that the queue ended, as with autoplay off; nothing is left saved.
#[tokio::test(flavor = "multi_thread")]
async fn autoplay_turned_off_while_it_looks_ends_the_queue_once() {
    let (w, proxy) = world_behind_proxy(MANY_COMMANDS).await;
    w.lavalink
        .set_mix(SHORT_3S, [SHORT_2S, SHORT_5S, SHORT_1S])
        .unwrap();
    command(&w, BOB, "play", json!({ "query": yt(SHORT_3S) })).await;
    let on = choice(&w.discord, "autoplay", "on");
    command(&w, BOB, "autoplay", json!({ "mode": on })).await;
    proxy.delay_requests(Some((LOADTRACKS, Duration::from_secs(2))));
    node_asked_to_load(&proxy, "list%3DRDshortTone3s").await;
    let off = choice(&w.discord, "autoplay", "off");
    let (reply, _) = command(&w, BOB, "autoplay", json!({ "mode": off })).await;
    assert!(reply.starts_with("Autoplay is off"), "{reply}");
    let ended = || {
        w.discord
            .messages(TEXT)
            .into_iter()
            .filter(|m| m["content"] == "The queue has ended.")
            .count()
    };
    eventually("the queue ended", WAIT, || (ended() == 1).then_some(())).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.delay_requests(None);
    assert_eq!(ended(), 1, "told once");
    let node_track = w
        .lavalink
        .player(&GUILD.to_string())
        .and_then(|p| p.track)
        .map(|t| t.info.identifier);
    assert_eq!(node_track, None, "nothing autoplayed");
    assert!(
        w.store.load(GUILD).await.unwrap().is_none(),
        "nothing saved"
    );
    w.stop().await;
}

/// A track restored after the bot was down a while (Lavalink lost its session: the restore
/// starts the track again) is listed once in `/history`. Here the track (3:33) started 5
/// minutes ago and was paused at 1:00 by a member.
#[tokio::test(flavor = "multi_thread")]
async fn a_track_restored_long_after_it_started_is_listed_once_in_history() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let rick = catalogue_track(&rig.lavalink, 200_000, 0);
    assert!(rick.title.contains("Never Gonna"), "{}", rick.title);
    let mut player = saved(GUILD, VOICE, TEXT, rick.clone(), vec![], 60_000, true);
    player.state.pause_reason = Some(PauseReason::Member);
    seed(&rig, &[player], &[]).await;
    let store = rig.storage.open().await;
    store
        .record_played(
            GUILD,
            &Played {
                played_at_ms: encore::domain::now_ms() - 5 * 60_000,
                track: rick.clone(),
            },
            50,
        )
        .await
        .unwrap();
    drop(store);
    let _bot = rig.spawn(MANY_COMMANDS);
    restored(&rig, GUILD).await;
    // The restore's TrackStartEvent is what `/history` records.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let id = bob_command(&rig, "history", json!({}));
    let a = answered(&rig, &id).await;
    let text = a["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        text.matches("Never Gonna Give You Up").count(),
        1,
        "one play, restored once:\n{text}"
    );
}

/// `HISTORY_MAX_LENGTH=0` asks `load_played(guild, 0)`: every backend gives nothing (MongoDB's
/// `limit(0)` would mean "no limit").
#[tokio::test]
async fn no_backend_lists_played_tracks_when_asked_for_none() {
    for b in backends().await {
        let g = crate::harness::guild(120);
        for i in 0..3u32 {
            let p = Played {
                played_at_ms: 1_700_000_000_000 + u64::from(i),
                track: track(i, 3),
            };
            b.store.record_played(g, &p, 1).await.unwrap();
        }
        let none = b.store.load_played(g, 0).await.unwrap();
        assert!(
            none.is_empty(),
            "backend {}: load_played(_, 0) gave {} track(s)",
            b.name,
            none.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios that pass (regression tests)
// ---------------------------------------------------------------------------------------------

/// `/history` pages through what was kept (12 tracks: two pages), with its buttons, and
/// refuses a page past the end; `/stop` keeps it.
#[tokio::test(flavor = "multi_thread")]
async fn history_pages_turn_with_buttons_and_outlive_a_stop() {
    let w = world_with(MANY_COMMANDS).await;
    let now = encore::domain::now_ms();
    for i in 0..12u32 {
        let mut t = track(i, 1);
        t.title = format!("Kept Song {i:02}");
        t.requester = Some(BOB);
        let p = Played {
            played_at_ms: now - 60_000 + u64::from(i) * 1000,
            track: t,
        };
        w.store.record_played(GUILD, &p, 50).await.unwrap();
    }
    command(&w, BOB, "play", json!({"query": "despacito"})).await;
    command(&w, BOB, "stop", json!({})).await;
    let inj = w
        .discord
        .inject_command(GUILD, TEXT, BOB, "history", json!({}))
        .unwrap();
    let message = eventually("the history", WAIT, || {
        w.discord.interaction_responses(&inj.id)?.original
    })
    .await;
    let text = message["embeds"][0]["description"].as_str().unwrap();
    assert!(text.contains("`1.` [Luis Fonsi - Despacito"), "{text}");
    assert!(text.contains("`2.` [Kept Song 11]"), "{text}");
    assert!(text.ends_with("Page 1 of 2 · 13 track(s) kept"), "{text}");
    let next = message["components"][0]["components"][1]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(next, "encore:history:2");
    let click = w
        .discord
        .inject_component(GUILD, TEXT, ALICE, message_id(&message), &next)
        .unwrap();
    let (answer, _) = first_answer(&w, &click.id, Instant::now()).await;
    let page2 = answer["data"]["embeds"][0]["description"].as_str().unwrap();
    assert!(
        page2.contains("`11.` [Kept Song 02]") && page2.contains("`13.` [Kept Song 00]"),
        "{page2}"
    );
    let (reply, ephemeral) = command(&w, BOB, "history", json!({"page": 3})).await;
    assert!(ephemeral, "{reply}");
    assert_eq!(reply, "There is no such page: pick a page from 1 to 2.");
    w.stop().await;
}

/// With a DJ role set, its members skip at once and others vote; at 100 % every listener
/// must vote; the Skip button counts votes like `/skip` and tells only the voter.
#[tokio::test(flavor = "multi_thread")]
async fn a_dj_skips_at_once_others_vote_and_a_hundred_percent_needs_everyone() {
    let w = world_with(MANY_COMMANDS).await;
    for query in ["despacito", "gangnam", "bohemian", "never gonna give"] {
        command(&w, BOB, "play", json!({ "query": query })).await;
    }
    let dj = json!(DJ_ROLE.to_string());
    let (reply, _) = command(
        &w,
        ALICE,
        "settings",
        json!({"dj_role": dj, "vote_skip": 100}),
    )
    .await;
    assert!(reply.contains("100"), "{reply}");
    move_member(&w, DAN, Some(VOICE)).await;
    // Bob's own track: he skips it. Carol is DJ: she skips Bob's.
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert!(reply.starts_with("Skipped"), "{reply}");
    let (reply, _) = command(&w, CAROL, "skip", json!({})).await;
    assert!(reply.starts_with("Skipped"), "{reply}");
    // Dan votes with the button: 1 of 3 (100 % of Bob, Carol, Dan), told to him only.
    let message = now_playing_message(&w).await;
    let before = playing_id(&w);
    let click = w
        .discord
        .inject_component(GUILD, TEXT, DAN, message_id(&message), "encore:skip")
        .unwrap();
    let (answer, _) = first_answer(&w, &click.id, Instant::now()).await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert_eq!(
        answer["data"]["content"],
        "Vote to skip counted: 1/3 votes."
    );
    assert_eq!(playing_id(&w), before);
    // `/skip to` is the DJ's when a DJ role is set.
    let (reply, ephemeral) = command(&w, DAN, "skip", json!({"to": 1})).await;
    assert!(ephemeral, "{reply}");
    assert_eq!(playing_id(&w), before);
    w.stop().await;
}

/// After `/stop` with autoplay on nothing more plays: the stopped track's end is no queue
/// running out.
#[tokio::test(flavor = "multi_thread")]
async fn autoplay_plays_nothing_after_a_stop() {
    let w = world_with(MANY_COMMANDS).await;
    command(&w, BOB, "play", json!({ "query": yt(SHORT_3S) })).await;
    let on = choice(&w.discord, "autoplay", "on");
    command(&w, BOB, "autoplay", json!({ "mode": on })).await;
    let (reply, _) = command(&w, BOB, "stop", json!({})).await;
    assert!(!reply.is_empty());
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(playing_id(&w), None);
    let loads = w.lavalink.requests_to("/v4/loadtracks").len();
    assert_eq!(loads, 1, "only /play's load");
    w.stop().await;
}

/// `/replay` of a live stream is refused politely (a stream has no start to go back to), and
/// `/rewind` at 0:00 stays at 0:00.
#[tokio::test(flavor = "multi_thread")]
async fn replay_of_a_stream_is_refused_and_rewind_at_the_start_stays_there() {
    let w = world_with(MANY_COMMANDS).await;
    command(
        &w,
        BOB,
        "play",
        json!({ "query": yt(encore_fakes::lavalink::catalogue::STREAM_IDENTIFIER) }),
    )
    .await;
    let (reply, ephemeral) = command(&w, BOB, "replay", json!({})).await;
    assert!(ephemeral, "{reply}");
    command(
        &w,
        BOB,
        "play",
        json!({ "query": "never gonna give", "next": true }),
    )
    .await;
    command(&w, BOB, "skip", json!({})).await;
    command(&w, BOB, "pause", json!({})).await;
    command(&w, BOB, "seek", json!({"time": "0"})).await;
    let (reply, _) = command(&w, BOB, "rewind", json!({})).await;
    assert_eq!(reply, "Back 10s, now at 0:00.");
    w.stop().await;
}

/// `/lyrics` of a Spotify track: LavaSrc's Spotify source, without the optional
/// `SPOTIFY_SP_DC` (the shipped config's default), fails the whole request (LavaLyrics 1.0.0
/// does not catch it: a 500); the bot then asks the node's other lyrics sources (YouTube,
/// LRCLIB) with `skipTrackSource=true`, and the member reads the lyrics.
#[tokio::test(flavor = "multi_thread")]
async fn lyrics_of_a_spotify_track_come_from_the_nodes_other_lyrics_sources() {
    use encore_fakes::lavalink::catalogue::SPOTIFY_RICK;
    use encore_fakes::lavalink::FakeLyrics;
    let w = world_with(MANY_COMMANDS).await;
    w.lavalink.set_lyrics(
        SPOTIFY_RICK,
        FakeLyrics::Plain("We're no strangers to love\nYou know the rules".into()),
    );
    let link = format!("https://open.spotify.com/track/{SPOTIFY_RICK}");
    let (reply, _) = command(&w, BOB, "play", json!({ "query": link })).await;
    assert!(reply.starts_with("Now playing"), "{reply}");
    let (reply, ephemeral) = command(&w, BOB, "lyrics", json!({})).await;
    assert!(
        !ephemeral && reply.starts_with("We're no strangers to love"),
        "{reply}"
    );
    // Asked first of the track's own source, then of the others.
    let asked: Vec<String> = w
        .lavalink
        .requests_to("/v4/lyrics")
        .into_iter()
        .filter_map(|r| r.query)
        .map(|q| q.rsplit('&').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(asked, ["skipTrackSource=false", "skipTrackSource=true"]);
    w.stop().await;
}

/// Bob's `/search` menu for `query` on the source named `source`.
async fn menu_of(w: &World, query: &str, source: &str) -> Value {
    let source = crate::harness::choice_of(&w.discord, "search", "source", source);
    let inj = w
        .discord
        .inject_command(
            GUILD,
            TEXT,
            BOB,
            "search",
            json!({"query": query, "source": source}),
        )
        .unwrap();
    eventually("the menu", WAIT, || {
        w.discord
            .interaction_responses(&inj.id)?
            .original
            .filter(|m| m["components"].as_array().is_some_and(|c| !c.is_empty()))
    })
    .await
}

/// Bob picks option `value` of `menu`; returns the interaction id.
fn pick(w: &World, menu: &Value, value: &str) -> String {
    w.discord
        .inject_select(
            GUILD,
            TEXT,
            BOB,
            message_id(menu),
            menu["components"][0]["components"][0]["custom_id"]
                .as_str()
                .unwrap(),
            vec![value.to_string()],
        )
        .unwrap()
        .id
}

/// What the bot said to the command `id`: its last follow-up, else its reply.
async fn said(w: &World, id: &str) -> String {
    eventually("the answer", WAIT, || {
        let r = w.discord.interaction_responses(id)?;
        r.followups
            .into_iter()
            .rev()
            .chain(r.original)
            .filter_map(|m| m["content"].as_str().map(str::to_string))
            .find(|c| !c.is_empty())
    })
    .await
}

/// What the bot said after the search pick `id` (acknowledged at once): its follow-up.
async fn pick_said(w: &World, id: &str) -> String {
    eventually("the pick's follow-up", WAIT, || {
        w.discord
            .interaction_responses(id)?
            .followups
            .last()
            .and_then(|m| m["content"].as_str().map(str::to_string))
    })
    .await
}

/// Picks from `/search` menus of Deezer and YouTube Music results play the picked track (their
/// links load as they are).
#[tokio::test(flavor = "multi_thread")]
async fn picks_from_deezer_and_youtube_music_menus_play_the_picked_tracks() {
    let w = world_with(MANY_COMMANDS).await;
    let deezer = menu_of(&w, "rick astley", "Deezer").await;
    let music = menu_of(&w, "despacito", "YouTube Music").await;
    let first = pick_said(&w, &pick(&w, &deezer, "0")).await;
    assert!(
        first.starts_with("Now playing [Never Gonna Give You Up]"),
        "{first}"
    );
    let track = w
        .lavalink
        .player(&GUILD.to_string())
        .unwrap()
        .track
        .unwrap();
    assert_eq!(track.info.source_name, "deezer");
    let second = pick_said(&w, &pick(&w, &music, "0")).await;
    assert!(second.starts_with("Queued [Luis Fonsi"), "{second}");
    w.stop().await;
}

/// Two picks from `/search` menus at the same moment while the bot is idle: the bot joins once
/// and both play (songbird drops a pending join when a second starts, so members' joins of a
/// guild wait for each other).
#[tokio::test(flavor = "multi_thread")]
async fn two_search_picks_at_once_while_idle_join_once_and_both_play() {
    let w = world_with(MANY_COMMANDS).await;
    let deezer = menu_of(&w, "rick astley", "Deezer").await;
    let music = menu_of(&w, "despacito", "YouTube Music").await;
    let (a, b) = (pick(&w, &deezer, "0"), pick(&w, &music, "0"));
    let (first, second) = (pick_said(&w, &a).await, pick_said(&w, &b).await);
    // Either may join first: one plays, the other is queued behind it.
    let (played, queued) = if first.starts_with("Now playing") {
        (&first, &second)
    } else {
        (&second, &first)
    };
    assert!(
        played.starts_with("Now playing") && queued.starts_with("Queued"),
        "{first}\n{second}\nbot in {:?}, node plays {:?}",
        w.discord.voice_channel_of(GUILD, crate::harness::BOT),
        playing_id(&w)
    );
    w.stop().await;
}

/// Two members' `/play` at the same moment while the bot is idle (as two picks at once,
/// through `/play`): the bot joins once and both tracks are queued.
#[tokio::test(flavor = "multi_thread")]
async fn two_plays_at_once_while_idle_join_once_and_both_play() {
    let w = world_with(MANY_COMMANDS).await;
    let a = w
        .discord
        .inject_command(GUILD, TEXT, BOB, "play", json!({"query": "despacito"}))
        .unwrap();
    let b = w
        .discord
        .inject_command(GUILD, TEXT, CAROL, "play", json!({"query": "gangnam"}))
        .unwrap();
    let (first, second) = (said(&w, &a.id).await, said(&w, &b.id).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (queue, _) = command(&w, BOB, "queue", json!({})).await;
    assert!(
        queue.contains("Despacito") && queue.contains("GANGNAM"),
        "{first}\n{second}\n{queue}"
    );
    assert!(playing_id(&w).is_some());
    w.stop().await;
}

/// `/skip` of the last track with autoplay on, when autoplay finds nothing new: the member and
/// the channel learn that autoplay found nothing (the issue: "failure to find anything ends the
/// queue with one message"), as when the track ends by itself — not a bare "the queue has
/// ended".
#[tokio::test(flavor = "multi_thread")]
async fn a_skip_of_the_last_track_when_autoplay_finds_nothing_says_so_once() {
    let w = world_with(MANY_COMMANDS).await;
    add_lonely(&w, "lonelyLong2", 200_000);
    command(&w, BOB, "play", json!({ "query": yt("lonelyLong2") })).await;
    let on = choice(&w.discord, "autoplay", "on");
    command(&w, BOB, "autoplay", json!({ "mode": on })).await;
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let posted: Vec<String> = w
        .discord
        .messages(TEXT)
        .into_iter()
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect();
    let told: Vec<&String> = posted
        .iter()
        .chain(std::iter::once(&reply))
        .filter(|c| c.contains("Autoplay found nothing new"))
        .collect();
    assert_eq!(told.len(), 1, "reply: {reply}\nchannel: {posted:?}");
    w.stop().await;
}

/// SIGTERM while an autoplayed track plays: the next process goes on from the saved seed and
/// never repeats a track played before the restart.
#[tokio::test(flavor = "multi_thread")]
async fn autoplay_goes_on_from_its_seed_after_a_graceful_restart() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    rig.lavalink
        .set_mix(SHORT_3S, [SHORT_2S, SHORT_5S, SHORT_1S])
        .unwrap();
    let mut first = rig.spawn(MANY_COMMANDS);
    crate::harness::play_through_the_bot(&rig, &first, &yt(SHORT_2S)).await;
    let id = bob_command(&rig, "play", json!({ "query": yt(SHORT_3S) }));
    answered(&rig, &id).await;
    let on = choice(&rig.discord, "autoplay", "on");
    let id = bob_command(&rig, "autoplay", json!({ "mode": on }));
    answered(&rig, &id).await;
    let playing = |rig: &Rig| {
        rig.player(GUILD)
            .and_then(|p| p.track)
            .map(|t| t.info.identifier)
    };
    eventually("the 5 s tone autoplayed", WAIT, || {
        (playing(&rig).as_deref() == Some(SHORT_5S)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(first.terminate(), Some(0));
    let second = rig.spawn(MANY_COMMANDS);
    eventually("the 1 s tone autoplayed from the saved seed", WAIT, || {
        (playing(&rig).as_deref() == Some(SHORT_1S)).then_some(())
    })
    .await;
    // Nothing secret in either log (debug level).
    for log in [first.log_text(), second.log_text()] {
        assert!(log.contains("autoplay queued a related track"), "{log}");
        for secret in [crate::harness::TOKEN, rig.lavalink.password()] {
            assert!(!log.contains(secret), "a secret in the log");
        }
    }
}

/// A member queues the same short track twice in a row: it plays twice, and `/history` lists
/// both plays (only a restore's start of a play is not kept again).
#[tokio::test(flavor = "multi_thread")]
async fn a_track_played_twice_in_a_row_is_listed_twice_in_history() {
    let w = world_with(MANY_COMMANDS).await;
    command(&w, BOB, "play", json!({ "query": yt(SHORT_2S) })).await;
    command(&w, BOB, "play", json!({ "query": yt(SHORT_2S) })).await;
    command(&w, BOB, "play", json!({ "query": yt(SHORT_3S) })).await;
    eventually("the 3 s tone plays", WAIT, || {
        (playing_id(&w).as_deref() == Some(SHORT_3S)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let played = w.store.load_played(GUILD, 50).await.unwrap();
    let titles: Vec<&str> = played.iter().map(|p| p.track.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Encore Fixture - Test Tone (3 s)",
            "Encore Fixture - Test Tone (2 s)",
            "Encore Fixture - Test Tone (2 s)"
        ]
    );
    w.stop().await;
}

/// The shipped Lavalink runs LavaSrc without its Spotify source until credentials are set.
/// `/play` of a Spotify link then says, as `/search` on Spotify does, that Spotify is not
/// available on this bot's audio server (not "Something went wrong while looking up the
/// track.").
#[tokio::test(flavor = "multi_thread")]
async fn a_spotify_link_on_a_node_without_spotify_says_why_like_search_does() {
    use encore_fakes::lavalink::catalogue::SPOTIFY_RICK;
    use encore_fakes::lavalink::LavaSrcSources;
    let w = world_with(MANY_COMMANDS).await;
    w.lavalink.set_lavasrc_sources(LavaSrcSources::none());
    let spotify = crate::harness::choice_of(&w.discord, "search", "source", "Spotify");
    let (searched, _) = command(
        &w,
        BOB,
        "search",
        json!({"query": "rick astley", "source": spotify}),
    )
    .await;
    assert!(
        searched.contains("I can't search Spotify here"),
        "{searched}"
    );
    let link = format!("https://open.spotify.com/track/{SPOTIFY_RICK}");
    let (played, ephemeral) = command(&w, BOB, "play", json!({ "query": link })).await;
    assert!(ephemeral, "{played}");
    assert!(
        played.contains("Spotify") && played.contains("LavaSrc"),
        "/play of a Spotify link: {played}"
    );
    w.stop().await;
}

/// A hand-over to a newer instance while an autoplayed track plays: the new owner goes on from
/// the saved seed; every track plays once (what the server played has no repeat, and the
/// autoplayed track is not queued twice).
#[tokio::test(flavor = "multi_thread")]
async fn autoplay_goes_on_from_its_seed_after_a_hand_over_and_repeats_nothing() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    rig.lavalink
        .set_mix(SHORT_3S, [SHORT_2S, SHORT_5S, SHORT_1S])
        .unwrap();
    let first = rig.spawn(MANY_COMMANDS);
    crate::harness::play_through_the_bot(&rig, &first, &yt(SHORT_2S)).await;
    let id = bob_command(&rig, "play", json!({ "query": yt(SHORT_3S) }));
    answered(&rig, &id).await;
    let on = choice(&rig.discord, "autoplay", "on");
    let id = bob_command(&rig, "autoplay", json!({ "mode": on }));
    answered(&rig, &id).await;
    let playing = |rig: &Rig| {
        rig.player(GUILD)
            .and_then(|p| p.track)
            .map(|t| t.info.identifier)
    };
    eventually("the 5 s tone autoplayed", WAIT, || {
        (playing(&rig).as_deref() == Some(SHORT_5S)).then_some(())
    })
    .await;
    let second = rig.spawn(MANY_COMMANDS);
    eventually("the first instance handed over", WAIT, || {
        crate::harness::log_has(&first, "handed over to the newer instance").then_some(())
    })
    .await;
    eventually("the 1 s tone autoplayed from the saved seed", WAIT, || {
        (playing(&rig).as_deref() == Some(SHORT_1S)).then_some(())
    })
    .await;
    let next = eventually("a track after the 1 s tone", WAIT, || {
        playing(&rig).filter(|id| id != SHORT_1S)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store = rig.storage.open().await;
    let played: Vec<String> = store
        .load_played(GUILD, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.track.uri.unwrap_or_default())
        .collect();
    let mut unique = played.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), played.len(), "a repeat: {played:?}");
    let tones: Vec<String> = [SHORT_1S, SHORT_5S, SHORT_3S, SHORT_2S]
        .iter()
        .map(|id| yt(id))
        .collect();
    assert!(played.ends_with(&tones), "{played:?} (then {next})");
    let id = bob_command(&rig, "queue", json!({}));
    let q = answered(&rig, &id).await;
    let text = q["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(text.contains("The queue is empty."), "{text}");
    drop(second);
}

/// A track that cannot be played (lavaplayer starts it, then it fails at once: "Skipped …
/// because it could not be played") is not something the server played: `/history` does not
/// list it, as the channel is never told it is "now playing".
#[tokio::test(flavor = "multi_thread")]
async fn a_track_that_could_not_be_played_is_not_listed_in_history() {
    use encore_fakes::lavalink::catalogue::FAILING_IDENTIFIER;
    let w = world_with(MANY_COMMANDS).await;
    command(&w, BOB, "play", json!({ "query": yt(SHORT_2S) })).await;
    command(&w, BOB, "play", json!({ "query": yt(FAILING_IDENTIFIER) })).await;
    command(&w, BOB, "play", json!({ "query": yt(SHORT_3S) })).await;
    eventually("the 3 s tone plays", WAIT, || {
        (playing_id(&w).as_deref() == Some(SHORT_3S)).then_some(())
    })
    .await;
    let failed = eventually("the failure is told", WAIT, || {
        w.discord
            .messages(TEXT)
            .into_iter()
            .filter_map(|m| m["content"].as_str().map(str::to_string))
            .find(|c| c.contains("could not be played"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let played: Vec<String> = w
        .store
        .load_played(GUILD, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.track.uri.unwrap_or_default())
        .collect();
    assert_eq!(
        played,
        [yt(SHORT_3S), yt(SHORT_2S)],
        "after the channel read: {failed}"
    );
    w.stop().await;
}

/// A mixed cluster (the second node has no LavaSrc, as `encore check` warns): a Spotify
/// *link*, like searches and recommendations, is loaded on a node with its source, not on the
/// least loaded node, which cannot load it.
#[tokio::test(flavor = "multi_thread")]
async fn in_a_mixed_cluster_a_spotify_link_is_loaded_where_spotify_is() {
    use encore_fakes::lavalink::catalogue::SPOTIFY_RICK;
    use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig, Plugins};
    let second = FakeLavalink::start(FakeLavalinkConfig {
        player_update_interval: Duration::from_millis(200),
        plugins: Plugins {
            lavasrc: false,
            ..Plugins::all()
        },
        ..FakeLavalinkConfig::default()
    })
    .await
    .unwrap();
    let w = crate::harness::world_with_nodes(MANY_COMMANDS, &[second.port()]).await;
    eventually("the second node is connected", WAIT, || {
        second.sessions().iter().any(|s| s.connected).then_some(())
    })
    .await;
    // The guild's player goes to the first node (it has LavaSrc).
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    assert!(w.lavalink.player(&GUILD.to_string()).is_some());
    let link = format!("https://open.spotify.com/track/{SPOTIFY_RICK}");
    let (reply, _) = command(&w, BOB, "play", json!({ "query": link })).await;
    assert!(reply.starts_with("Queued"), "{reply}");
    w.stop().await;
}
