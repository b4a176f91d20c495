//! `/lyrics` (LavaLyrics through the fake Lavalink: plain lyrics in pages, timed lyrics, none,
//! no plugin) and `/search` (a menu of results, a pick that queues by `/play`'s rules, the menu
//! closing), end to end against the fakes.

use std::time::{Duration, Instant};

use encore_fakes::discord::Injected;
use encore_fakes::lavalink::{FakeLavalink, FakeLavalinkConfig, FakeLyrics, NewTrack, Plugins};
use serde_json::{json, Value};

use crate::harness::{
    choice_of, command, eventually, world, world_with, world_with_nodes, World, ALICE, BOB, BOT,
    GUILD, TEXT, VOICE, WAIT,
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
        w.lavalink.add_track(NewTrack::youtube(
            &format!("searchable{i:02}"),
            &format!("Searchable Song {i}"),
            "Searchable Band",
            200_000 + i * 1000,
        ));
    }
}

/// `/search` as `user`: the ephemeral menu message, after a deferral within 3 s.
/// The bot's last follow-up to the interaction `inj`, once it comes (`what` names it).
async fn followup(w: &World, inj: &Injected, what: &str) -> Value {
    eventually(what, WAIT, || {
        w.discord
            .interaction_responses(&inj.id)?
            .followups
            .last()
            .cloned()
    })
    .await
}

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
    let said = followup(&w, &inj, "the confirmation").await;
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
    let said = followup(&w, &inj, "the second confirmation").await;
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

/// `/lyrics` as `user`: the reply, after a deferral within 3 s.
async fn lyrics(w: &World, user: u64) -> (Value, Injected) {
    let sent = Instant::now();
    let inj = w
        .discord
        .inject_command(GUILD, TEXT, user, "lyrics", json!({}))
        .unwrap();
    let answer = callback(w, &inj, sent).await;
    assert_eq!(answer["type"], 5, "deferred: {answer}");
    (reply(w, &inj).await, inj)
}

fn button_ids(message: &Value) -> Vec<(String, bool)> {
    message["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["custom_id"].as_str().unwrap().to_string(),
                b["disabled"] == true,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_lyrics_come_in_pages_that_fill_an_embed_and_turn_with_buttons() {
    let w = world().await;
    // 100 lines of 99 characters: 40 fill a page (40 * 99 + 39 = 3999 characters; 41 would
    // take 4099, over Discord's 4096).
    let lines: Vec<String> = (1..=100)
        .map(|i| format!("Line {i:03} {}", "la".repeat(45)))
        .collect();
    assert!(lines.iter().all(|l| l.chars().count() == 99));
    w.lavalink
        .set_lyrics("dQw4w9WgXcQ", FakeLyrics::Plain(lines.join("\n")));
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;

    // Alice reads them without being in voice.
    let (message, inj) = lyrics(&w, ALICE).await;
    let embed = &message["embeds"][0];
    assert_eq!(
        embed["title"],
        "Lyrics: Rick Astley - Never Gonna Give You Up by RickAstleyVEVO"
    );
    assert_eq!(embed["description"], lines[..40].join("\n"));
    assert_eq!(
        embed["footer"]["text"],
        "Page 1 of 3 · lyrics from youtube (Source: LyricFind)"
    );
    assert_eq!(message["flags"].as_u64().unwrap_or(0) & 64, 0, "public");
    let key = &inj.id;
    assert_eq!(
        button_ids(&message),
        [
            (format!("encore:lyrics:{key}:1"), true),
            (format!("encore:lyrics:{key}:2"), false)
        ]
    );

    // Next: page 2, in place.
    let id = message_id(&message);
    let click = w
        .discord
        .inject_component(GUILD, TEXT, BOB, id, &format!("encore:lyrics:{key}:2"))
        .unwrap();
    let answer = callback(&w, &click, Instant::now()).await;
    assert_eq!(answer["type"], 7, "{answer}");
    let page = w.discord.message(id).unwrap();
    assert_eq!(page["embeds"][0]["description"], lines[40..80].join("\n"));
    assert_eq!(
        page["embeds"][0]["footer"]["text"],
        "Page 2 of 3 · lyrics from youtube (Source: LyricFind)"
    );
    assert_eq!(
        button_ids(&page),
        [
            (format!("encore:lyrics:{key}:1"), false),
            (format!("encore:lyrics:{key}:3"), false)
        ]
    );

    // Pages no longer kept (a restart, or a reply long gone): a polite word, nothing changed.
    let click = w
        .discord
        .inject_component(GUILD, TEXT, BOB, id, "encore:lyrics:12345:3")
        .unwrap();
    let answer = callback(&w, &click, Instant::now()).await;
    assert_eq!(
        (answer["type"].clone(), answer["data"]["flags"].clone()),
        (json!(4), json!(64))
    );
    assert_eq!(
        answer["data"]["content"],
        "These lyrics pages are no longer kept: use /lyrics again to turn them."
    );
    assert_eq!(
        w.discord.message(id).unwrap()["embeds"][0]["description"],
        lines[40..80].join("\n")
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timed_lyrics_show_the_line_at_the_players_position() {
    let w = world().await;
    // Bohemian Rhapsody has timed lines: one every 11 s from 5 s, each lasting 10 s.
    command(&w, BOB, "play", json!({"query": "bohemian"})).await;
    command(&w, BOB, "pause", json!({})).await;
    let (r, _) = command(&w, BOB, "seek", json!({"time": "0:30"})).await;
    assert_eq!(r, "Jumped to 0:30.");
    let (message, _) = lyrics(&w, BOB).await;
    let embed = &message["embeds"][0];
    let line =
        |n: u32, at: &str| format!("`{at}` Timed fixture line {n}: the tone rises and falls");
    let expected = [
        line(2, "0:16"),
        format!("**▶ {}**", line(3, "0:27")),
        line(4, "0:38"),
        line(5, "0:49"),
        line(6, "1:00"),
        line(7, "1:11"),
        line(8, "1:22"),
    ]
    .join("\n");
    assert_eq!(embed["description"], expected);
    assert_eq!(
        embed["footer"]["text"],
        "At 0:30 · lyrics from youtube (Source: LyricFind)"
    );
    assert!(
        message["components"]
            .as_array()
            .is_none_or(|c| c.is_empty()),
        "no pages: {message}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_lyrics_or_without_the_plugin_lyrics_are_refused_politely() {
    let w = world().await;
    let (reply, ephemeral) = command(&w, BOB, "lyrics", json!({})).await;
    assert!(ephemeral);
    assert_eq!(reply, "Nothing is playing.");

    w.lavalink.set_lyrics("dQw4w9WgXcQ", FakeLyrics::None);
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    let (reply, ephemeral) = command(&w, BOB, "lyrics", json!({})).await;
    assert!(ephemeral, "{reply}");
    assert_eq!(
        reply,
        "No lyrics found for **Rick Astley - Never Gonna Give You Up**."
    );

    w.lavalink.set_plugins(Plugins {
        lavalyrics: false,
        ..Plugins::all()
    });
    let (reply, ephemeral) = command(&w, BOB, "lyrics", json!({})).await;
    assert!(ephemeral, "{reply}");
    assert_eq!(
        reply,
        "Lyrics need the LavaLyrics plugin on the audio server (Lavalink), and it does not \
         have it. Ask the bot's operator to add it."
    );
    let asked = w.lavalink.requests_to("/v4/lyrics").len();
    assert_eq!(asked, 2, "one request per /lyrics with a track");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spotify_search_needs_lavasrc_on_the_node() {
    let spotify = |w: &World| choice_of(&w.discord, "search", "source", "Spotify");
    // With LavaSrc: Spotify's results, and a pick plays the Spotify track.
    let w = world().await;
    let menu = search(
        &w,
        BOB,
        json!({"query": "rick astley", "source": spotify(&w)}),
    )
    .await;
    let options = menu["components"][0]["components"][0]["options"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(options[0]["label"], "Never Gonna Give You Up");
    assert_eq!(options[0]["description"], "Rick Astley · 3:33");
    let (_, inj) = pick(&w, BOB, &menu, "0").await;
    let said = followup(&w, &inj, "the confirmation").await;
    assert!(
        said["content"]
            .as_str()
            .unwrap()
            .starts_with("Now playing [Never Gonna Give You Up](<https://open.spotify.com/track/4PTG3Z6ehGkBFwjybzWkR8>)"),
        "{said}"
    );
    let track = w
        .lavalink
        .player(&GUILD.to_string())
        .unwrap()
        .track
        .unwrap();
    assert_eq!(track.info.source_name, "spotify");
    w.stop().await;

    // Without: refused before searching, saying why.
    let w = world().await;
    w.lavalink.set_plugins(Plugins {
        lavasrc: false,
        ..Plugins::all()
    });
    let (reply, ephemeral) = command(
        &w,
        BOB,
        "search",
        json!({"query": "rick astley", "source": spotify(&w)}),
    )
    .await;
    assert!(ephemeral, "{reply}");
    assert_eq!(
        reply,
        "I can't search Spotify here: it comes with the LavaSrc plugin, which the audio server \
         does not have or has turned off. Pick another source."
    );
    assert!(!w
        .lavalink
        .requests()
        .iter()
        .any(|r| r.path == "/v4/loadtracks"));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_mixed_cluster_lyrics_and_searches_go_to_the_node_with_the_plugin() {
    // The second node has neither LavaSrc nor LavaLyrics; both share the default password.
    let second = FakeLavalink::start(FakeLavalinkConfig {
        player_update_interval: Duration::from_millis(200),
        plugins: Plugins {
            lavasrc: false,
            lavalyrics: false,
            ..Plugins::all()
        },
        ..FakeLavalinkConfig::default()
    })
    .await
    .unwrap();
    let w = world_with_nodes(&[], &[second.port()]).await;
    eventually("the second node is connected", WAIT, || {
        second.sessions().iter().any(|s| s.connected).then_some(())
    })
    .await;
    // The player goes to the first node, so the second is the least loaded from then on.
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    assert!(w.lavalink.player(&GUILD.to_string()).is_some());
    let lyrics_asked = |node: &FakeLavalink| node.requests_to("/v4/lyrics").len();
    // The search of /play asked both nodes what they have (it goes to one with YouTube): the
    // lyrics go straight to the node with LavaLyrics, though it is the busier one.
    let (message, _) = lyrics(&w, BOB).await;
    assert!(
        message["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .starts_with("Stanza 1, line  1:"),
        "{message}"
    );
    assert_eq!((lyrics_asked(&w.lavalink), lyrics_asked(&second)), (1, 0));

    // A Spotify search goes to the node with Spotify, though it is the busier one.
    let spotify = choice_of(&w.discord, "search", "source", "Spotify");
    let menu = search(&w, BOB, json!({"query": "rick astley", "source": spotify})).await;
    assert_eq!(
        menu["components"][0]["components"][0]["options"][0]["label"],
        "Never Gonna Give You Up"
    );
    let searched = |node: &FakeLavalink| {
        node.requests().iter().any(|r| {
            r.path == "/v4/loadtracks" && r.query.as_deref().is_some_and(|q| q.contains("spsearch"))
        })
    };
    assert!(searched(&w.lavalink) && !searched(&second));
    lyrics(&w, BOB).await;
    assert_eq!((lyrics_asked(&w.lavalink), lyrics_asked(&second)), (2, 0));
    w.stop().await;
}
