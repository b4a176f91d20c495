//! The Discord front end end to end: the real serenity/poise/songbird bot code, configured only
//! through its settings, against the fake Discord and the fake Lavalink on loopback.

use std::time::{Duration, Instant};

use encore_fakes::lavalink::AnswerShape;
use serde_json::json;

use crate::harness::{
    choice, command, command_in, eventually, world, world_with, ALICE, BOB, BOT, CAROL, DJ_ROLE,
    GUILD, LOCKED_TEXT, LOCKED_VOICE, MUTED_VOICE, OTHER_VOICE, TEXT, VOICE, WAIT,
};

#[tokio::test(flavor = "multi_thread")]
async fn play_joins_the_members_channel_and_the_fake_lavalink_plays() {
    let w = world().await;
    let (reply, ephemeral) = command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    assert!(!ephemeral);
    assert!(reply.starts_with("Now playing"), "{reply}");
    assert!(reply.contains("Rick Astley"), "{reply}");
    // The bot joined Bob's channel (op 4) and Lavalink got all four voice values.
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), Some(VOICE));
    let player = w.lavalink.player(&GUILD.to_string()).expect("a player");
    assert!(player.playing, "{player:?}");
    let voice = player.voice.unwrap();
    assert_eq!(voice.channel_id, VOICE.to_string());
    assert!(!voice.token.is_empty() && !voice.endpoint.is_empty() && !voice.session_id.is_empty());

    let (reply, _) = command(&w, BOB, "pause", json!({})).await;
    assert_eq!(reply, "Paused.");
    assert!(w.lavalink.player(&GUILD.to_string()).unwrap().paused);
    let (reply, _) = command(&w, BOB, "nowplaying", json!({})).await;
    assert!(
        reply.contains("Rick Astley") && reply.contains("🔘"),
        "{reply}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_and_wrong_channel_get_short_ephemeral_answers() {
    let w = world().await;
    // Alice is not in voice.
    let (reply, ephemeral) = command(&w, ALICE, "play", json!({"query": "despacito"})).await;
    assert!(ephemeral, "{reply}");
    assert!(reply.contains("Join a voice channel first"), "{reply}");
    command(&w, BOB, "play", json!({"query": "despacito"})).await;
    // Alice joins another channel than the bot's.
    w.discord
        .set_user_voice(GUILD, ALICE, Some(OTHER_VOICE))
        .unwrap();
    // The VOICE_STATE_UPDATE reaches the bot's cache over the gateway.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (reply, ephemeral) = command(&w, ALICE, "pause", json!({})).await;
    assert!(
        ephemeral && reply.contains(&format!("<#{VOICE}>")),
        "{reply}"
    );
    // Bounded inputs.
    let (reply, ephemeral) = command(&w, BOB, "seek", json!({"time": "soon"})).await;
    assert!(ephemeral && reply.contains("1:23"), "{reply}");
    let (reply, ephemeral) = command(&w, BOB, "remove", json!({"position": 9})).await;
    assert!(
        ephemeral && reply.contains("no track at position 9"),
        "{reply}"
    );
    let (reply, ephemeral) = command(&w, BOB, "queue", json!({"page": 5})).await;
    assert!(ephemeral && reply.contains("from 1 to 1"), "{reply}");
    let (reply, ephemeral) = command(&w, BOB, "play", json!({"query": "zzqqxx nothing"})).await;
    assert!(ephemeral && reply.starts_with("No results"), "{reply}");
    assert!(!reply.contains("Error") && !reply.contains("panicked"));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moderator_disconnect_stops_and_forgets_the_player() {
    let w = world().await;
    command(&w, BOB, "play", json!({"query": "bohemian"})).await;
    assert!(w.lavalink.player(&GUILD.to_string()).is_some());
    w.discord.move_bot(GUILD, None).unwrap();
    eventually("the player is removed", WAIT, || {
        w.lavalink
            .player(&GUILD.to_string())
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(w.store.load(GUILD).await.unwrap(), None);
    let (reply, _) = command(&w, BOB, "nowplaying", json!({})).await;
    assert_eq!(reply, "Nothing is playing.");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn announcements_go_to_the_text_channel_of_the_last_command() {
    let w = world().await;
    command(
        &w,
        BOB,
        "play",
        json!({"query": format!("https://www.youtube.com/watch?v={}", encore_fakes::lavalink::catalogue::SHORT_1S)}),
    )
    .await;
    command(&w, BOB, "play", json!({"query": "despacito"})).await;
    let text = eventually("the next track is announced", WAIT, || {
        w.discord
            .messages(TEXT)
            .into_iter()
            .filter_map(|m| m["content"].as_str().map(str::to_string))
            .find(|c| c.starts_with("Now playing") && c.contains("Despacito"))
    })
    .await;
    assert!(text.contains(&format!("<@{BOB}>")), "{text}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bot_checks_its_own_connect_and_speak_permissions_before_joining() {
    let w = world().await;
    w.discord
        .set_user_voice(GUILD, ALICE, Some(LOCKED_VOICE))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (reply, ephemeral) = command(&w, ALICE, "play", json!({"query": "despacito"})).await;
    assert!(ephemeral, "{reply}");
    assert!(reply.contains("missing the Connect permission"), "{reply}");
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), None);
    w.discord
        .set_user_voice(GUILD, ALICE, Some(MUTED_VOICE))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (reply, ephemeral) = command(&w, ALICE, "join", json!({})).await;
    assert!(ephemeral, "{reply}");
    assert!(reply.contains("missing the Speak permission"), "{reply}");
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), None);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_who_sends_too_many_commands_is_told_how_long_to_wait() {
    let w = world().await;
    for _ in 0..5 {
        let (reply, _) = command(&w, BOB, "help", json!({})).await;
        assert!(reply.contains("/play"), "{reply}");
    }
    let (reply, ephemeral) = command(&w, BOB, "help", json!({})).await;
    assert!(ephemeral && reply.starts_with("Slow down"), "{reply}");
    assert!(reply.contains("try again in"), "{reply}");
    // Others are not affected.
    let (reply, _) = command(&w, ALICE, "help", json!({})).await;
    assert!(reply.contains("/play"), "{reply}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_moved_the_bot_follows_and_lavalink_gets_the_new_channel() {
    let w = world().await;
    command(&w, BOB, "play", json!({"query": "gangnam"})).await;
    w.discord.move_bot(GUILD, Some(OTHER_VOICE)).unwrap();
    eventually("Lavalink has the new channel", WAIT, || {
        w.lavalink
            .player(&GUILD.to_string())
            .and_then(|p| p.voice)
            .filter(|v| v.channel_id == OTHER_VOICE.to_string())
    })
    .await;
    assert!(w.lavalink.player(&GUILD.to_string()).unwrap().playing);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn now_playing_buttons_control_the_player_and_queue_pages_turn() {
    let w = world().await;
    let playlist = format!(
        "https://www.youtube.com/playlist?list={}",
        encore_fakes::lavalink::catalogue::PLAYLIST_ID
    );
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    let inj = w
        .discord
        .inject_command(GUILD, TEXT, BOB, "nowplaying", json!({}))
        .unwrap();
    let message = eventually("/nowplaying answered", WAIT, || {
        w.discord
            .interaction_responses(&inj.id)
            .and_then(|r| r.original)
    })
    .await;
    let message_id: u64 = message["id"].as_str().unwrap().parse().unwrap();
    let ids: Vec<&str> = message["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["custom_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["encore:pause", "encore:skip", "encore:stop", "encore:loop"]
    );

    let click = w
        .discord
        .inject_component(GUILD, TEXT, BOB, message_id, "encore:pause")
        .unwrap();
    eventually("the click is answered", WAIT, || {
        w.discord
            .interaction_responses(&click.id)
            .and_then(|r| r.callback)
    })
    .await;
    assert!(w.lavalink.player(&GUILD.to_string()).unwrap().paused);
    let updated = w.discord.message(message_id).unwrap();
    assert_eq!(
        updated["components"][0]["components"][0]["custom_id"],
        "encore:resume"
    );
    // Someone outside the bot's channel is refused, ephemerally.
    let click = w
        .discord
        .inject_component(GUILD, TEXT, ALICE, message_id, "encore:stop")
        .unwrap();
    let answer = eventually("the refusal", WAIT, || {
        w.discord
            .interaction_responses(&click.id)
            .and_then(|r| r.callback)
    })
    .await;
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64);
    assert!(w
        .lavalink
        .player(&GUILD.to_string())
        .unwrap()
        .track
        .is_some());

    // Queue pages: Alice joins and queues the 3-track playlist four times (12 tracks, two
    // pages; the first track is paused, so nothing moves on), then Bob turns the page.
    w.discord.set_user_voice(GUILD, ALICE, Some(VOICE)).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..4 {
        let (reply, _) = command(&w, ALICE, "play", json!({"query": playlist})).await;
        assert!(reply.starts_with("Queued playlist"), "{reply}");
    }
    let inj = w
        .discord
        .inject_command(GUILD, TEXT, BOB, "queue", json!({}))
        .unwrap();
    let message = eventually("/queue answered", WAIT, || {
        w.discord
            .interaction_responses(&inj.id)
            .and_then(|r| r.original)
    })
    .await;
    let description = message["embeds"][0]["description"].as_str().unwrap();
    assert!(description.contains("Page 1 of 2"), "{description}");
    let message_id: u64 = message["id"].as_str().unwrap().parse().unwrap();
    let click = w
        .discord
        .inject_component(GUILD, TEXT, BOB, message_id, "encore:queue:2")
        .unwrap();
    eventually("page 2", WAIT, || {
        w.discord
            .interaction_responses(&click.id)
            .and_then(|r| r.callback)
    })
    .await;
    let page = w.discord.message(message_id).unwrap();
    let text = page["embeds"][0]["description"].as_str().unwrap();
    assert!(
        text.contains("Page 2 of 2") && text.contains("`11.`"),
        "{text}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn play_autocomplete_offers_the_top_search_results() {
    let w = world().await;
    let inj = w
        .discord
        .inject_autocomplete(GUILD, TEXT, BOB, "play", json!({"query": "rick astley"}))
        .unwrap();
    let answer = eventually("autocomplete answered", WAIT, || {
        w.discord
            .interaction_responses(&inj.id)
            .and_then(|r| r.callback)
    })
    .await;
    assert_eq!(answer["type"], 8);
    let choices = answer["data"]["choices"].as_array().unwrap();
    assert!(!choices.is_empty(), "{answer}");
    assert!(choices[0]["name"]
        .as_str()
        .unwrap()
        .contains("Never Gonna Give You Up"));
    assert_eq!(
        choices[0]["value"],
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_settings_a_dj_role_and_the_default_volume() {
    let w = world().await;
    let (reply, ephemeral) = command(&w, BOB, "settings", json!({"always_on": true})).await;
    assert!(ephemeral && reply.contains("Manage Server"), "{reply}");
    let (reply, ephemeral) = command(
        &w,
        ALICE,
        "settings",
        json!({"dj_role": DJ_ROLE.to_string(), "default_volume": 50}),
    )
    .await;
    assert!(
        !ephemeral && reply.starts_with("Settings saved."),
        "{reply}"
    );
    assert!(reply.contains(&format!("<@&{DJ_ROLE}>")), "{reply}");
    let saved = w.store.load_guild_config(GUILD).await.unwrap().unwrap();
    assert_eq!(
        (saved.dj_role_id, saved.default_volume),
        (Some(DJ_ROLE), 50)
    );

    // A new player starts at the server's default volume.
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    assert_eq!(w.lavalink.player(&GUILD.to_string()).unwrap().volume, 50);
    command(&w, CAROL, "play", json!({"query": "despacito"})).await;
    command(&w, CAROL, "play", json!({"query": "gangnam"})).await;
    // Bob skips his own track at once; Carol's by a vote (with two listeners, one vote is
    // half); DJ-only commands are refused.
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert!(reply.starts_with("Skipped"), "{reply}");
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert!(reply.starts_with("1/1 votes. Skipped"), "{reply}");
    let (reply, ephemeral) = command(&w, BOB, "volume", json!({"level": 120})).await;
    assert!(
        ephemeral && reply.contains(&format!("<@&{DJ_ROLE}>")),
        "{reply}"
    );
    let (reply, _) = command(&w, CAROL, "volume", json!({"level": 120})).await;
    assert_eq!(reply, "Volume set to 120%.");
    assert_eq!(w.lavalink.player(&GUILD.to_string()).unwrap().volume, 120);
    let (reply, _) = command(&w, ALICE, "settings", json!({})).await;
    assert!(
        reply.starts_with("Settings:") && reply.contains("Default volume: 50%"),
        "{reply}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_channel_is_left_after_the_idle_timeout() {
    let w = world_with(&[("IDLE_TIMEOUT", "10s")]).await;
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    w.discord.set_user_voice(GUILD, BOB, None).unwrap();
    w.discord.set_user_voice(GUILD, CAROL, None).unwrap();
    let left = Instant::now();
    eventually("the bot leaves", WAIT, || {
        w.discord
            .voice_channel_of(GUILD, BOT)
            .is_none()
            .then_some(())
    })
    .await;
    assert!(left.elapsed() >= Duration::from_secs(9), "left too early");
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    let notice = eventually("the notice", WAIT, || {
        w.discord
            .messages(TEXT)
            .into_iter()
            .filter_map(|m| m["content"].as_str().map(str::to_string))
            .find(|c| c.starts_with("Left"))
    })
    .await;
    assert!(notice.contains("nobody was listening"), "{notice}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_24_7_on_the_bot_stays_in_an_empty_channel() {
    let w = world_with(&[("IDLE_TIMEOUT", "10s")]).await;
    command(&w, ALICE, "settings", json!({"always_on": true})).await;
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    w.discord.set_user_voice(GUILD, BOB, None).unwrap();
    w.discord.set_user_voice(GUILD, CAROL, None).unwrap();
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), Some(VOICE));
    assert!(w.lavalink.player(&GUILD.to_string()).unwrap().playing);
    w.stop().await;
}

const ALL_COMMANDS: [&str; 28] = [
    "play",
    "pause",
    "resume",
    "skip",
    "previous",
    "stop",
    "leave",
    "join",
    "queue",
    "nowplaying",
    "seek",
    "volume",
    "loop",
    "shuffle",
    "remove",
    "move",
    "clear",
    "filter",
    "search",
    "lyrics",
    "autoplay",
    "history",
    "replay",
    "forward",
    "rewind",
    "settings",
    "status",
    "help",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_command_is_registered_with_its_options() {
    let w = world().await;
    let commands = w.discord.registered_commands()["global"].clone();
    let commands = commands.as_array().unwrap();
    let mut names: Vec<&str> = commands
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    let mut expected = ALL_COMMANDS.to_vec();
    expected.sort();
    assert_eq!(names, expected);
    let by_name = |n: &str| commands.iter().find(|c| c["name"] == n).unwrap().clone();
    for c in commands {
        assert!(!c["description"].as_str().unwrap().is_empty(), "{c}");
    }
    let play = by_name("play");
    assert_eq!(play["options"][0]["name"], "query");
    assert_eq!(play["options"][0]["required"], true);
    assert_eq!(play["options"][0]["autocomplete"], true);
    assert_eq!(play["options"][0]["max_length"], 500);
    assert_eq!(play["options"][1]["name"], "next");
    assert_eq!(play["options"][2]["name"], "start");
    assert_eq!(
        play["options"][2]["type"], 3,
        "a string, read like /seek's time"
    );
    assert_eq!(play["options"][2]["required"], false);
    let volume = by_name("volume");
    assert_eq!(volume["options"][0]["min_value"].as_f64(), Some(0.0));
    assert_eq!(volume["options"][0]["max_value"].as_f64(), Some(200.0));
    let looping = by_name("loop");
    let choices: Vec<&str> = looping["options"][0]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(choices, ["off", "track", "queue"]);
    let filter = by_name("filter");
    assert_eq!(filter["options"][0]["choices"].as_array().unwrap().len(), 6);
    assert_eq!(by_name("settings")["default_member_permissions"], "32");
    assert_eq!(by_name("move")["options"].as_array().unwrap().len(), 2);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_end_to_end_changes_the_lavalink_player() {
    let w = world_with(&[("RATE_LIMIT_COMMANDS", "1000")]).await;
    let g = GUILD.to_string();
    let player = || w.lavalink.player(&g).unwrap();
    let playing = || player().track.map(|t| t.info.title).unwrap_or_default();

    let (r, _) = command(&w, BOB, "join", json!({})).await;
    assert_eq!(r, format!("Joined <#{VOICE}>."));
    for q in ["never gonna give", "bohemian", "gangnam", "despacito"] {
        command(&w, BOB, "play", json!({"query": q})).await;
    }
    assert_eq!(playing(), "Rick Astley - Never Gonna Give You Up");
    command(&w, BOB, "seek", json!({"time": "1:00"})).await;
    assert!((60_000..61_000).contains(&player().position));
    command(&w, BOB, "seek", json!({"time": "-30"})).await;
    assert!((30_000..31_500).contains(&player().position));
    command(&w, BOB, "pause", json!({})).await;
    assert!(player().paused);
    command(&w, BOB, "resume", json!({})).await;
    assert!(!player().paused);
    command(&w, BOB, "skip", json!({})).await;
    assert!(playing().starts_with("Queen"));
    command(&w, BOB, "previous", json!({})).await;
    assert!(playing().starts_with("Rick Astley"));
    command(&w, BOB, "skip", json!({"to": 2})).await;
    assert!(playing().starts_with("PSY"));
    command(&w, BOB, "volume", json!({"level": 135})).await;
    assert_eq!(player().volume, 135);
    let nightcore = choice(&w.discord, "filter", "nightcore");
    let (r, _) = command(&w, BOB, "filter", json!({ "preset": nightcore })).await;
    assert_eq!(r, "Filter set to **nightcore**.");
    assert_eq!(player().filters["timescale"]["speed"], 1.2);
    let queue_mode = choice(&w.discord, "loop", "queue");
    let (r, _) = command(&w, BOB, "loop", json!({ "mode": queue_mode })).await;
    assert_eq!(r, "Looping the queue.");
    for q in ["bohemian", "never gonna give"] {
        command(&w, BOB, "play", json!({"query": q})).await;
    }
    let (r, _) = command(&w, BOB, "move", json!({"from": 3, "to": 1})).await;
    assert_eq!(r, "Moved the track at 3 to 1.");
    let (r, _) = command(&w, BOB, "remove", json!({"position": 1})).await;
    assert!(r.starts_with("Removed") && r.contains("Never Gonna"), "{r}");
    let (r, _) = command(&w, BOB, "shuffle", json!({})).await;
    assert!(r.starts_with("Shuffled"), "{r}");
    let (r, _) = command(&w, BOB, "queue", json!({})).await;
    assert!(r.contains("Page 1 of 1"), "{r}");
    let (r, _) = command(&w, BOB, "status", json!({})).await;
    assert!(
        r.contains("Store: memory (reachable)") && r.contains("node-1: up"),
        "{r}"
    );
    let (r, _) = command(&w, BOB, "clear", json!({})).await;
    assert!(r.starts_with("Cleared"), "{r}");
    assert!(!playing().is_empty(), "clear keeps the current track");
    command(&w, BOB, "stop", json!({})).await;
    assert!(player().track.is_none());
    command(&w, BOB, "play", json!({"query": "despacito"})).await;
    command(&w, BOB, "leave", json!({})).await;
    assert!(w.lavalink.player(&g).is_none());
    eventually("the bot left voice", WAIT, || {
        w.discord
            .voice_channel_of(GUILD, BOT)
            .is_none()
            .then_some(())
    })
    .await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_random_argument_sets_are_all_answered_without_a_panic() {
    use rand::{Rng, SeedableRng};
    let w = world_with(&[("RATE_LIMIT_COMMANDS", "10000")]).await;
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xE4C0);
    let strings = [
        "",
        " ",
        "1:23",
        "+10",
        "-15",
        "99:99:99",
        "abc",
        "🎵🎵",
        "'; DROP TABLE",
        "\\u0000",
        "https://www.youtube.com/watch?v=zzzzzzzzzzz",
        "ytsearch:",
        "-",
        "+",
        "1:2:3:4",
    ];
    let numbers = [0i64, 1, 2, 5, 200, 201, 999, -1, i32::MAX as i64];
    let mut pending = vec![];
    for i in 0..1000 {
        let name = ALL_COMMANDS[rng.gen_range(0..ALL_COMMANDS.len())];
        if matches!(name, "leave" | "stop" | "settings") {
            continue;
        }
        let s = strings[rng.gen_range(0..strings.len())].to_string();
        let n = numbers[rng.gen_range(0..numbers.len())];
        let options = match name {
            "play" => json!({"query": if s.is_empty() { "x".to_string() } else { s }}),
            "seek" => json!({"time": if s.is_empty() { "0".to_string() } else { s }}),
            "volume" => json!([{"name": "level", "type": 4, "value": n}]),
            "skip" => json!([{"name": "to", "type": 4, "value": n}]),
            "remove" => json!([{"name": "position", "type": 4, "value": n}]),
            "queue" => json!([{"name": "page", "type": 4, "value": n}]),
            "move" => json!([
                {"name": "from", "type": 4, "value": n},
                {"name": "to", "type": 4, "value": numbers[i % numbers.len()]}
            ]),
            "loop" => json!([{"name": "mode", "type": 4, "value": n}]),
            "filter" => json!([{"name": "preset", "type": 4, "value": n}]),
            _ => json!({}),
        };
        let user = [BOB, CAROL, ALICE][i % 3];
        let inj = w
            .discord
            .inject_command(GUILD, TEXT, user, name, options)
            .unwrap();
        pending.push((name, inj.id));
    }
    for (name, id) in &pending {
        eventually(&format!("/{name} ({id}) answered"), WAIT, || {
            let r = w.discord.interaction_responses(id)?;
            (r.callback.is_some()
                && (r.original.is_some()
                    || !r.followups.is_empty()
                    || r.callback.as_ref().is_some_and(|c| c["type"] != 5)))
            .then_some(())
        })
        .await;
    }
    // Still healthy, and the gateway send limit was never approached.
    let (reply, _) = command(&w, BOB, "status", json!({})).await;
    assert!(reply.contains("Store: memory"), "{reply}");
    let sent = w.discord.gateway_sent().len();
    assert!(sent < 60, "the bot sent {sent} gateway payloads");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn announcements_are_skipped_quietly_where_the_bot_may_not_post() {
    let w = world().await;
    let short = format!(
        "https://www.youtube.com/watch?v={}",
        encore_fakes::lavalink::catalogue::SHORT_1S
    );
    // Commands from the read-only channel: replies work (they are interaction responses).
    let (reply, _) = command_in(&w, LOCKED_TEXT, BOB, "play", json!({ "query": short })).await;
    assert!(reply.starts_with("Now playing"), "{reply}");
    let (reply, _) = command_in(&w, LOCKED_TEXT, BOB, "play", json!({"query": "despacito"})).await;
    assert!(reply.starts_with("Queued"), "{reply}");
    // The 1 s track ends; the next one starts; its announcement cannot be posted there.
    eventually("the next track plays", WAIT, || {
        w.lavalink
            .player(&GUILD.to_string())
            .and_then(|p| p.track)
            .filter(|t| t.info.title.contains("Despacito"))
    })
    .await;
    // The bot tried, Discord said 403 Missing Permissions, and nothing else happened.
    let path = format!("/api/v10/channels/{LOCKED_TEXT}/messages");
    let refused = eventually("the announcement attempt", WAIT, || {
        w.discord
            .requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.path == path)
    })
    .await;
    assert_eq!(refused.status, 403);
    assert!(!w.discord.messages(LOCKED_TEXT).iter().any(|m| m["content"]
        .as_str()
        .is_some_and(|c| c.starts_with("Now playing") && c.contains("Despacito"))));
    let (reply, _) = command(&w, BOB, "nowplaying", json!({})).await;
    assert!(reply.contains("Despacito"), "{reply}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_voice_server_is_handed_to_lavalink() {
    let w = world().await;
    command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    w.discord.dispatch(
        Some(GUILD),
        "VOICE_SERVER_UPDATE",
        json!({"token": "fresh-voice-token", "guild_id": GUILD.to_string(), "endpoint": "c-ams3.discord.media:443"}),
    );
    let voice = eventually("Lavalink got the new voice server", WAIT, || {
        w.lavalink
            .player(&GUILD.to_string())
            .and_then(|p| p.voice)
            .filter(|v| v.token == "fresh-voice-token")
    })
    .await;
    assert_eq!(voice.endpoint, "c-ams3.discord.media:443");
    assert_eq!(voice.channel_id, VOICE.to_string());
    assert!(!voice.session_id.is_empty());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_outside_a_server_are_refused() {
    let w = world().await;
    let inj = w
        .discord
        .inject_dm_command(BOB, "play", json!({"query": "despacito"}))
        .unwrap();
    let answer = eventually("the DM command answered", WAIT, || {
        w.discord.interaction_responses(&inj.id)?.callback
    })
    .await;
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64);
    assert_eq!(
        answer["data"]["content"],
        "This command works in a server only."
    );
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compatible_server_that_leaves_out_the_length_and_seeking_still_plays() {
    let w = world().await;
    w.lavalink.set_answer_shape(AnswerShape::Compat);
    let (reply, ephemeral) = command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    assert!(!ephemeral, "{reply}");
    assert!(
        reply.starts_with("Now playing") && reply.contains("`length unknown`"),
        "{reply}"
    );
    // Lavalink got the track to play, and plays it.
    let rick = w.lavalink.track("dQw4w9WgXcQ").unwrap().encoded;
    let played = w.lavalink.requests().into_iter().any(|r| {
        r.method == "PATCH"
            && r.path.ends_with(&format!("/players/{GUILD}"))
            && r.body
                .as_ref()
                .is_some_and(|b| b["track"]["encoded"] == rick)
    });
    assert!(played, "no PATCH with the track");
    let player = w.lavalink.player(&GUILD.to_string()).unwrap();
    assert!(player.playing, "{player:?}");

    let (reply, _) = command(&w, BOB, "nowplaying", json!({})).await;
    assert!(
        reply.contains("Rick Astley") && reply.contains(" / ?` (length unknown)"),
        "{reply}"
    );
    assert!(
        !reply.contains('🔘'),
        "no progress bar without a length: {reply}"
    );
    let (reply, ephemeral) = command(&w, BOB, "seek", json!({"time": "1:00"})).await;
    assert!(ephemeral, "{reply}");
    assert_eq!(
        reply,
        "The audio server cannot seek in this track, so it plays from start to end."
    );
    assert!(
        w.lavalink.player(&GUILD.to_string()).unwrap().position < 30_000,
        "no seek reached Lavalink"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_that_change_the_track_say_which_loop_mode_applies() {
    let w = world_with(&[("RATE_LIMIT_COMMANDS", "1000")]).await;
    let g = GUILD.to_string();
    let playing = || {
        w.lavalink
            .player(&g)
            .and_then(|p| p.track)
            .map(|t| t.info.title)
            .unwrap_or_default()
    };
    let mode = |name: &str| json!({ "mode": choice(&w.discord, "loop", name) });
    const TRACK: &str = " Still looping the current track (loop: track).";
    const QUEUE: &str = " Still looping the queue (loop: queue).";

    command(&w, BOB, "join", json!({})).await;
    command(&w, BOB, "loop", mode("track")).await;
    let (r, _) = command(&w, BOB, "play", json!({"query": "never gonna give"})).await;
    assert!(r.starts_with("Now playing") && r.ends_with(TRACK), "{r}");
    for q in ["bohemian", "gangnam"] {
        let (r, _) = command(&w, BOB, "play", json!({ "query": q })).await;
        assert!(r.starts_with("Queued") && !r.contains("looping"), "{r}");
    }
    let (r, _) = command(&w, BOB, "skip", json!({})).await;
    assert!(
        r.starts_with("Skipped [Rick Astley")
            && r.contains("Now playing [Queen")
            && r.ends_with(TRACK),
        "{r}"
    );
    assert!(playing().starts_with("Queen"));
    let (r, _) = command(&w, BOB, "previous", json!({})).await;
    assert!(
        r.starts_with("Back to [Rick Astley") && r.ends_with(TRACK),
        "{r}"
    );
    command(&w, BOB, "loop", mode("queue")).await;
    let (r, _) = command(&w, BOB, "skip", json!({"to": 2})).await;
    assert!(r.contains("Now playing [PSY") && r.ends_with(QUEUE), "{r}");
    assert!(playing().starts_with("PSY"));

    // The Skip button under /nowplaying says it too, above the embed.
    command(&w, BOB, "loop", mode("track")).await;
    let inj = w
        .discord
        .inject_command(GUILD, TEXT, BOB, "nowplaying", json!({}))
        .unwrap();
    let message = eventually("/nowplaying answered", WAIT, || {
        w.discord
            .interaction_responses(&inj.id)
            .and_then(|r| r.original)
    })
    .await;
    let message_id: u64 = message["id"].as_str().unwrap().parse().unwrap();
    let click = w
        .discord
        .inject_component(GUILD, TEXT, BOB, message_id, "encore:skip")
        .unwrap();
    eventually("the click is answered", WAIT, || {
        w.discord
            .interaction_responses(&click.id)
            .and_then(|r| r.callback)
    })
    .await;
    let updated = w.discord.message(message_id).unwrap();
    let said = updated["content"].as_str().unwrap_or_default();
    assert!(
        said.starts_with("Skipped [PSY") && said.ends_with(TRACK),
        "{updated}"
    );

    command(&w, BOB, "loop", mode("off")).await;
    let (r, _) = command(&w, BOB, "skip", json!({})).await;
    assert!(r.starts_with("Skipped") && !r.contains("looping"), "{r}");
    w.stop().await;
}
