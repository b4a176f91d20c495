//! `/lyrics` (LavaLyrics through the fake Lavalink: plain lyrics in pages, timed lyrics, none,
//! no plugin) and `/search` (a menu of results, a pick that queues by `/play`'s rules, the menu
//! closing), end to end against the fakes.

use std::time::{Duration, Instant};

use encore_fakes::discord::Injected;
use encore_fakes::lavalink::NewTrack;
use serde_json::{json, Value};

use crate::harness::{
    command, eventually, world, world_with, World, ALICE, BOB, BOT, GUILD, TEXT, VOICE, WAIT,
};

/// Discord's limit for answering an interaction.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// The interaction's first answer (its callback), which must come within Discord's 3 s.
async fn callback(w: &World, inj: &Injected, sent: Instant) -> Value {
    let answer = eventually("the interaction is answered", WAIT, || {
        w.discord.interaction_responses(&inj.id)?.callback
    })
    .await;
    assert!(
        sent.elapsed() < ANSWER_WITHIN,
        "answered after {:?}",
        sent.elapsed()
    );
    answer
}

/// The reply message of a command, once it has content or components (after a deferral).
async fn reply(w: &World, inj: &Injected) -> Value {
    eventually("the reply", WAIT, || {
        w.discord
            .interaction_responses(&inj.id)?
            .original
            .filter(|m| {
                m["content"].as_str().is_some_and(|c| !c.is_empty())
                    || m["embeds"].as_array().is_some_and(|e| !e.is_empty())
            })
    })
    .await
}

fn message_id(message: &Value) -> u64 {
    message["id"].as_str().unwrap().parse().unwrap()
}

/// Twelve tracks by one band, so a search finds more than a menu shows.
fn add_band(w: &World) {
    for i in 1..=12u64 {
        w.lavalink.add_track(NewTrack {
            title: format!("Searchable Song {i}"),
            author: "Searchable Band".into(),
            length: 200_000 + i * 1000,
            identifier: format!("searchable{i:02}"),
            is_stream: false,
            uri: None,
            artwork_url: None,
            isrc: None,
            source_name: None,
            fails_on_play: false,
        });
    }
}

/// `/search` as `user`: the ephemeral menu message, after a deferral within 3 s.
async fn search(w: &World, user: u64, options: Value) -> Value {
    let sent = Instant::now();
    let inj = w
        .discord
        .inject_command(GUILD, TEXT, user, "search", options)
        .unwrap();
    let answer = callback(w, &inj, sent).await;
    assert_eq!(answer["type"], 5, "deferred: {answer}");
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    reply(w, &inj).await
}

/// Picks option `value` of the menu on `menu` as `user`; returns the callback and the
/// interaction's record once it is answered.
async fn pick(w: &World, user: u64, menu: &Value, value: &str) -> (Value, Injected) {
    let custom_id = menu["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sent = Instant::now();
    let inj = w
        .discord
        .inject_select(
            GUILD,
            TEXT,
            user,
            message_id(menu),
            &custom_id,
            vec![value.to_string()],
        )
        .unwrap();
    (callback(w, &inj, sent).await, inj)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pick_from_the_search_menu_queues_that_track_for_a_member_in_voice() {
    let w = world_with(&[("RATE_LIMIT_COMMANDS", "100")]).await;
    add_band(&w);
    let menu = search(&w, BOB, json!({"query": "searchable band"})).await;
    assert_eq!(
        menu["content"],
        "Results for **searchable band**: pick one to queue it. This menu closes in 1m."
    );
    let select = &menu["components"][0]["components"][0];
    assert_eq!(select["type"], 3, "a string select: {select}");
    let options = select["options"].as_array().unwrap();
    assert_eq!(options.len(), 10, "ten results at most");
    assert_eq!(options[0]["label"], "Searchable Song 1");
    assert_eq!(options[0]["description"], "Searchable Band · 3:21");
    assert_eq!(options[6]["value"], "6");
    assert_eq!(options[9]["label"], "Searchable Song 10");

    // Someone else's menu.
    let (answer, _) = pick(&w, ALICE, &menu, "6").await;
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64);
    assert_eq!(
        answer["data"]["content"],
        format!("This menu is <@{BOB}>'s: use /search to pick from your own.")
    );
    // Bob, out of voice, may not queue.
    w.discord.set_user_voice(GUILD, BOB, None).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (answer, _) = pick(&w, BOB, &menu, "6").await;
    assert_eq!(
        (answer["type"].clone(), answer["data"]["flags"].clone()),
        (json!(4), json!(64))
    );
    assert_eq!(
        answer["data"]["content"],
        "Join a voice channel first, then ask again."
    );
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), None);

    // Back in voice, his pick joins him and plays the seventh result.
    w.discord.set_user_voice(GUILD, BOB, Some(VOICE)).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (answer, inj) = pick(&w, BOB, &menu, "6").await;
    assert_eq!(answer["type"], 6, "acknowledged, answered later: {answer}");
    let said = eventually("the confirmation", WAIT, || {
        w.discord
            .interaction_responses(&inj.id)?
            .followups
            .last()
            .cloned()
    })
    .await;
    assert_eq!(
        said["flags"].as_u64().unwrap_or(0) & 64,
        0,
        "public: {said}"
    );
    assert_eq!(
        said["content"],
        "Now playing [Searchable Song 7](<https://www.youtube.com/watch?v=searchable07>) \
         by Searchable Band `3:27`."
    );
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), Some(VOICE));
    let player = w.lavalink.player(&GUILD.to_string()).unwrap();
    assert_eq!(player.track.unwrap().info.title, "Searchable Song 7");

    // The menu stays open: a second pick queues behind.
    let (_, inj) = pick(&w, BOB, &menu, "0").await;
    let said = eventually("the second confirmation", WAIT, || {
        w.discord
            .interaction_responses(&inj.id)?
            .followups
            .last()
            .cloned()
    })
    .await;
    assert!(
        said["content"]
            .as_str()
            .unwrap()
            .starts_with("Queued [Searchable Song 1]"),
        "{said}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_search_menu_closes_after_its_timeout_and_a_late_pick_is_refused() {
    let w = world_with(&[("SEARCH_MENU_TIMEOUT", "5s")]).await;
    add_band(&w);
    let asked = Instant::now();
    let menu = search(&w, BOB, json!({"query": "searchable band", "source": 0})).await;
    assert_eq!(
        menu["content"],
        "Results for **searchable band** on YouTube: pick one to queue it. This menu closes in 5s."
    );
    let id = message_id(&menu);
    let closed = eventually("the menu closes", WAIT, || {
        w.discord
            .message(id)
            .filter(|m| m["components"][0]["components"][0]["disabled"] == true)
    })
    .await;
    assert!(
        asked.elapsed() >= Duration::from_secs(5),
        "closed after {:?}",
        asked.elapsed()
    );
    assert_eq!(
        closed["content"],
        "This search for **searchable band** on YouTube has closed: use /search again."
    );
    assert_eq!(
        closed["components"][0]["components"][0]["options"]
            .as_array()
            .unwrap()
            .len(),
        10,
        "the results stay readable"
    );
    let (answer, _) = pick(&w, BOB, &menu, "1").await;
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64);
    assert_eq!(
        answer["data"]["content"],
        "This search menu has closed: use /search again."
    );
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_search_that_finds_nothing_says_so() {
    let w = world().await;
    let (reply, ephemeral) = command(&w, BOB, "search", json!({"query": "zzqqxx nothing"})).await;
    assert!(ephemeral, "{reply}");
    assert_eq!(reply, "No results for `zzqqxx nothing`.");
    w.stop().await;
}
