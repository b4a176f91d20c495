//! Resume after restart: the real `encore` binary against the fake Discord and fake Lavalink.

use std::time::{Duration, Instant};

use encore::domain::{now_ms, FilterPreset, GuildConfig, LoopMode, PauseReason, PlayerSnapshot};
use encore_fakes::discord::{ChannelKind, GuildSpec, Overwrite, SentBy};
use serde_json::{json, Value};

use crate::harness::{
    answered, bob_command, callbacks, catalogue_track, choice, eventually, eventually_async,
    every_guild_playing, guild_spec, log_has, play_through_the_bot, posted, restored, saved_small,
    seed, small_guild, small_guild_id, text_of, voice_of, voice_senders, Rig, Storage, BOB, BOT,
    CAROL, GUILD, TEXT, VOICE,
};

/// `user`'s `/name` in `channel` of `guild`; returns the bot's reply once it comes (after a
/// deferral too), checking it is the confirmation that starts with `says`, saved.
async fn confirmed(
    rig: &Rig,
    (guild, channel, user): (u64, u64, u64),
    (name, options): (&str, Value),
    says: &str,
) -> String {
    let id = rig
        .discord
        .inject_command(guild, channel, user, name, options)
        .unwrap()
        .id;
    let text = |m: &Value| {
        m["content"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
    };
    let reply = eventually(
        &format!("the /{name} reply"),
        Duration::from_secs(20),
        || {
            let r = rig.discord.interaction_responses(&id)?;
            r.original
                .as_ref()
                .and_then(text)
                .or_else(|| r.followups.last().and_then(text))
        },
    )
    .await;
    assert!(
        reply.starts_with(says) && !reply.contains("Not saved yet"),
        "/{name}: {reply}"
    );
    reply
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_restart_resumes_mid_track_with_everything_as_it_was() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut first = rig.spawn(&[]);
    play_through_the_bot(&rig, &first, "never gonna give").await;
    for (name, options) in [
        ("play", json!({"query": "bohemian"})),
        ("volume", json!({"level": 70})),
        (
            "loop",
            json!({"mode": choice(&rig.discord, "loop", "queue")}),
        ),
        (
            "filter",
            json!({"preset": choice(&rig.discord, "filter", "nightcore")}),
        ),
    ] {
        let id = bob_command(&rig, name, options);
        answered(&rig, &id).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at_term = rig.player(GUILD).unwrap().position;
    assert_eq!(first.terminate(), Some(0), "{}", first.log_text());
    let saved = rig.storage.open().await.load(GUILD).await.unwrap().unwrap();
    let sessions_before = rig.lavalink.sessions().len();
    rig.lavalink.clear_requests();

    let second = rig.spawn(&[]);
    let patch = restored(&rig, GUILD).await;
    // Lavalink kept its session: the player is resumed live, moved back to where the music
    // stopped (when the old instance closed its gateway), with the new voice state — one update,
    // and the track is not started again.
    assert_eq!(
        rig.lavalink.sessions().len(),
        sessions_before,
        "session resumed, not new"
    );
    assert!(patch.get("track").is_none(), "not restarted: {patch}");
    let position = patch["position"]
        .as_u64()
        .expect("moved to the saved position");
    assert!(
        position.abs_diff(at_term) <= 500,
        "resumed at {position}, was {at_term} at SIGTERM"
    );
    assert_eq!(patch["paused"], false);
    assert_eq!(patch["voice"]["channelId"], VOICE.to_string());
    let p = rig.player(GUILD).unwrap();
    assert!(p.playing && p.volume == 70, "{p:?}");
    assert_eq!(p.filters["timescale"]["speed"], 1.2);
    // The queue, loop mode, volume and filters as they were.
    let store = rig.storage.open().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let now = loop {
        let s = store.load(GUILD).await.unwrap().unwrap();
        if s.state.taken_at_ms > saved.state.taken_at_ms {
            break s;
        }
        assert!(Instant::now() < deadline, "not saved after the restore");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(now.queue.current, saved.queue.current);
    assert_eq!(now.queue.upcoming, saved.queue.upcoming);
    assert_eq!(now.state.loop_mode, LoopMode::Queue);
    assert_eq!(now.state.volume, 70);
    assert_eq!(now.state.filters, FilterPreset::Nightcore);
    assert!(!now.state.paused);
    let notice = eventually("the restart notice", Duration::from_secs(10), || {
        posted(&rig, TEXT)
            .into_iter()
            .find(|m| m.starts_with("Back after a restart"))
    })
    .await;
    assert!(notice.contains("resumed **Rick Astley"), "{notice}");
    drop(second);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_the_live_lavalink_session_is_resumed() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut first = rig.spawn(&[]);
    play_through_the_bot(&rig, &first, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let before = rig.player(GUILD).unwrap();
    first.kill();
    let killed_at = Instant::now();
    let at_kill = rig.lavalink.player(&GUILD.to_string()).unwrap().position;
    rig.lavalink.clear_requests();
    let _second = rig.spawn(&[]);
    let patch = restored(&rig, GUILD).await;
    let patched_after = killed_at.elapsed().as_millis() as u64;
    // Only the new voice state: no new track, no seek; the position is Lavalink's own.
    assert!(
        patch.get("track").is_none() && patch.get("position").is_none(),
        "{patch}"
    );
    let p = rig.player(GUILD).expect("the resumed session's player");
    assert_eq!(p.session_id, before.session_id, "the same Lavalink session");
    assert!(p.playing);
    let expected = at_kill + patched_after;
    assert!(
        p.position.abs_diff(expected) <= 1000,
        "position {} vs {expected} expected",
        p.position
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_and_a_lavalink_restart_the_last_autosave_is_restored() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut first = rig.spawn(&[("AUTOSAVE_INTERVAL", "2s")]);
    play_through_the_bot(&rig, &first, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let at_kill = rig.player(GUILD).unwrap().position;
    first.kill();
    rig.lavalink.restart();
    rig.lavalink.clear_requests();
    let _second = rig.spawn(&[("AUTOSAVE_INTERVAL", "2s")]);
    let patch = eventually("the rebuilt player", Duration::from_secs(20), || {
        rig.patches(GUILD)
            .into_iter()
            .find(|b| b.get("track").is_some())
    })
    .await;
    // One update with the track, the position, the voice: no start at 0 then a seek.
    assert!(
        patch.get("voice").is_some() && patch.get("paused").is_some(),
        "{patch}"
    );
    let position = patch["position"].as_u64().unwrap();
    assert!(position <= at_kill, "never ahead of what was heard");
    assert!(
        at_kill - position <= 2000 + 1000,
        "restored at {position}, killed at {at_kill}"
    );
    assert_eq!(rig.patches(GUILD).len(), 1, "a single player update");
    eventually("playing again", Duration::from_secs(5), || {
        rig.player(GUILD).filter(|p| p.playing).map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_resume_the_server_setting_and_a_persons_pause_decide_playing_or_paused() {
    for global in [true, false] {
        let guilds: Vec<GuildSpec> = (1..=4).map(|n| small_guild(n, 1)).collect();
        let rig = Rig::new(guilds, None).await;
        let track = catalogue_track(&rig.lavalink, 60_000, 0);
        let id = small_guild_id;
        let s = |n, paused| saved_small(n, &track, vec![], 20_000, paused);
        // 1: was playing; 2: a person paused it; 3: playing, the server overrides the global
        // setting; 4: a person paused it and the server says resume.
        let mut flip3 = GuildConfig::new(id(3));
        flip3.auto_resume = Some(!global);
        let mut on4 = GuildConfig::new(id(4));
        on4.auto_resume = Some(true);
        seed(
            &rig,
            &[s(1, false), s(2, true), s(3, false), s(4, true)],
            &[flip3, on4],
        )
        .await;
        let _bot = rig.spawn(&[("MUSIC_AUTO_RESUME", if global { "true" } else { "false" })]);
        for n in 1..=4u64 {
            let patch = restored(&rig, id(n)).await;
            let expect_paused = match n {
                1 => !global,
                3 => global,
                _ => true,
            };
            assert_eq!(
                patch["paused"], expect_paused,
                "guild {n}, MUSIC_AUTO_RESUME={global}: {patch}"
            );
            let position = patch["position"].as_u64().unwrap();
            assert!((20_000..21_500).contains(&position), "{position}");
            let notice = eventually("notice", Duration::from_secs(10), || {
                rig.discord.messages(text_of(id(n))).into_iter().find(|m| {
                    m["content"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("Back after"))
                })
            })
            .await;
            let has_button =
                notice["components"][0]["components"][0]["custom_id"] == "encore:resume";
            assert_eq!(has_button, expect_paused, "guild {n}: {notice}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_channel_comes_back_paused_unless_24_7() {
    let guilds = vec![small_guild(11, 0), small_guild(12, 0)];
    let rig = Rig::new(guilds, None).await;
    let track = catalogue_track(&rig.lavalink, 60_000, 1);
    let id = small_guild_id;
    let s = |n| saved_small(n, &track, vec![], 5_000, false);
    let mut always = GuildConfig::new(id(12));
    always.always_on = true;
    always.announce_now_playing = false;
    seed(&rig, &[s(11), s(12)], &[always]).await;
    let _bot = rig.spawn(&[("IDLE_TIMEOUT", "10s")]);
    for (n, paused) in [(11, true), (12, false)] {
        let patch = restored(&rig, id(n)).await;
        assert_eq!(patch["paused"], paused, "guild {n}");
    }
    let notice = eventually("the notice", Duration::from_secs(10), || {
        posted(&rig, text_of(id(11))).into_iter().next()
    })
    .await;
    assert!(
        notice.contains("nobody is in the voice channel"),
        "{notice}"
    );
    // The idle timer applies to the empty one: it leaves; 24/7 stays.
    eventually("the idle leave", Duration::from_secs(20), || {
        (rig.discord.voice_channel_of(id(11), BOT).is_none()).then_some(())
    })
    .await;
    assert_eq!(
        rig.discord.voice_channel_of(id(12), BOT),
        Some(voice_of(id(12)))
    );
    // Announcements are off there: no notice.
    assert!(posted(&rig, text_of(id(12))).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pause_for_an_empty_channel_ends_with_a_listener_and_a_restart_then_plays() {
    // 31: the case. Saved playing with nobody in the channel → restored paused because
    // nobody listens; the member comes back → it plays; kill -9 → it comes back playing.
    // 32: saved paused because nobody listened, a listener present at the restart → plays.
    let mut empty = small_guild(31, 1);
    empty.voice_states.clear();
    let member = empty.members[0].user_id;
    let rig = Rig::new(vec![empty, small_guild(32, 1)], None).await;
    let track = catalogue_track(&rig.lavalink, 120_000, 0);
    let (g31, g32) = (small_guild_id(31), small_guild_id(32));
    let mut nobody = saved_small(32, &track, vec![], 30_000, false);
    nobody.state.pause(PauseReason::NobodyListening);
    seed(
        &rig,
        &[saved_small(31, &track, vec![], 20_000, false), nobody],
        &[],
    )
    .await;
    let mut first = rig.spawn(&[]);
    assert_eq!(restored(&rig, g31).await["paused"], true);
    assert_eq!(
        restored(&rig, g32).await["paused"],
        false,
        "a listener is there"
    );
    let notice = eventually("the notice", Duration::from_secs(10), || {
        posted(&rig, text_of(g31)).into_iter().next()
    })
    .await;
    assert!(
        notice.contains("it plays again when someone joins"),
        "{notice}"
    );
    // The member comes back: it plays, from where it was paused.
    rig.discord
        .set_user_voice(g31, member, Some(voice_of(g31)))
        .unwrap();
    let p = eventually("playing for the listener", Duration::from_secs(10), || {
        rig.player(g31).filter(|p| p.playing)
    })
    .await;
    assert!((20_000..22_000).contains(&p.position), "{}", p.position);
    // The next restart (a crash, Lavalink alive) plays too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.kill();
    rig.lavalink.clear_requests();
    let _second = rig.spawn(&[]);
    let patch = restored(&rig, g31).await;
    assert_eq!(patch["paused"], false, "{patch}");
    eventually("still playing", Duration::from_secs(10), || {
        rig.player(g31).filter(|p| p.playing)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unrestorable_players_are_skipped_and_the_others_restored() {
    // 21: fine; 22: its voice channel was deleted; 23: the bot may no longer connect;
    // 24: a corrupt record; 25: older than RESUME_MAX_AGE; 26: stopped with /stop before the restart.
    let mut guilds: Vec<GuildSpec> = (21..=26).map(|n| small_guild(n, 1)).collect();
    let id = small_guild_id;
    guilds[1].channels.retain(|c| c.kind != ChannelKind::Voice);
    guilds[1].voice_states.clear();
    guilds[2].channels[1].permission_overwrites = vec![Overwrite {
        id: BOT,
        kind: 1,
        allow: "0".into(),
        deny: (1u64 << 20).to_string(),
    }];
    guilds[2].voice_states.clear();
    let rig = Rig::new(guilds, None).await;
    let track = catalogue_track(&rig.lavalink, 60_000, 0);
    let s = |n| saved_small(n, &track, vec![track.clone()], 9_000, false);
    let mut old = s(25);
    old.state.taken_at_ms = now_ms() - 2 * 3_600_000;
    old.state.position_at_ms = old.state.taken_at_ms;
    seed(&rig, &[s(21), s(22), s(23), s(24), old, s(26)], &[]).await;
    let Storage::Sqlite(path) = &rig.storage else {
        unreachable!()
    };
    rusqlite::Connection::open(path)
        .unwrap()
        .execute(
            "UPDATE queues SET current = '{not json' WHERE guild_id = ?1",
            [id(24) as i64],
        )
        .unwrap();

    let mut first = rig.spawn(&[]);
    for n in [21, 26] {
        eventually("restored", Duration::from_secs(20), || {
            rig.player(id(n)).filter(|p| p.playing).map(|_| ())
        })
        .await;
    }
    // /stop in 26 (a listener asks), then a restart.
    let listener = 700_000_000_000_000_000 + 26 * 100;
    let stop = rig
        .discord
        .inject_command(id(26), text_of(id(26)), listener, "stop", json!({}))
        .unwrap();
    answered(&rig, &stop.id).await;
    eventually("first run done", Duration::from_secs(10), || {
        log_has(&first, "restore finished").then_some(())
    })
    .await;
    assert_eq!(first.terminate(), Some(0));
    let store = rig.storage.open().await;
    for n in [22, 23, 25, 26] {
        assert_eq!(
            store.load(id(n)).await.unwrap(),
            None,
            "guild {n} forgotten"
        );
    }
    assert!(posted(&rig, text_of(id(22)))[0].contains("no longer exists"));
    assert!(posted(&rig, text_of(id(23)))[0].contains("Connect permission"));
    rig.lavalink.clear_requests();

    let second = rig.spawn(&[]);
    eventually("second run done", Duration::from_secs(20), || {
        log_has(&second, "restore finished").then_some(())
    })
    .await;
    assert!(
        !rig.patches(id(21)).is_empty(),
        "the good one is restored again"
    );
    for n in [22, 23, 24, 25, 26] {
        assert!(
            rig.patches(id(n)).is_empty(),
            "guild {n} must not come back"
        );
    }
    assert!(rig.player(id(26)).is_none_or(|p| !p.playing));
    // The corrupt one was reported, never deleted.
    assert!(log_has(&second, &id(24).to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_overlapping_answer_each_interaction_once_and_never_rewind() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut old = rig.spawn(&[]);
    play_through_the_bot(&rig, &old, "never gonna give").await;
    let old_conn = *voice_senders(&rig)
        .last()
        .expect("the old instance joined voice");
    let old_session = rig.player(GUILD).unwrap().session_id;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let new = rig.spawn(&[]);
    let store = rig.storage.open().await;
    let users = [BOB, CAROL];
    let commands = ["nowplaying", "queue", "status"];
    let mut sent = Vec::new();
    let mut last_position = 0u64;
    let start = Instant::now();
    let mut i = 0usize;
    while start.elapsed() < Duration::from_secs(60) {
        let id = rig
            .discord
            .inject_command(GUILD, TEXT, users[i % 2], commands[i % 3], json!({}))
            .unwrap()
            .id;
        sent.push(id);
        i += 1;
        // The saved position only ever moves forward.
        if let Some(s) = store.load(GUILD).await.unwrap() {
            let p = s.position_at(s.state.taken_at_ms);
            assert!(
                p + 300 >= last_position,
                "the saved position went back from {last_position} to {p}"
            );
            last_position = last_position.max(p);
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert!(
        log_has(&old, "handed over to the newer instance"),
        "{}",
        old.log_text()
    );
    assert!(log_has(&new, "this instance owns the lease"));
    // Then the platform stops the old one.
    assert_eq!(old.terminate(), Some(0));
    // Each interaction was answered, exactly once.
    for id in &sent {
        answered(&rig, id).await;
    }
    for id in &sent {
        assert_eq!(callbacks(&rig, id), 1, "interaction {id}");
    }
    // One voice owner at a time: after the new instance's first op 4, the old one sent none.
    let senders = voice_senders(&rig);
    let first_new = senders
        .iter()
        .position(|c| *c != old_conn)
        .expect("the new instance joined voice");
    assert!(
        senders[first_new..].iter().all(|c| *c != old_conn),
        "{senders:?}"
    );
    // The new instance plays on the very player the old one had (its session, resumed).
    let players = guild_players(&rig, GUILD);
    assert_eq!(players.len(), 1, "{players:?}");
    let p = &players[0];
    assert_eq!(
        p.session_id, old_session,
        "the old session's player, taken over"
    );
    assert!(p.playing && p.position >= 60_000, "{p:?}");
    drop(new);
}

/// Every player the fake Lavalink holds for `guild`, on any session.
fn guild_players(rig: &Rig, guild: u64) -> Vec<encore_fakes::lavalink::PlayerSnapshot> {
    rig.lavalink
        .players()
        .into_iter()
        .filter(|p| p.guild_id == guild.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_over_leaves_exactly_one_player_where_it_was_and_says_nothing() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut old = rig.spawn(&[]);
    play_through_the_bot(&rig, &old, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let old_session = rig.player(GUILD).unwrap().session_id;
    let messages_before = posted(&rig, TEXT).len();
    let updates_before = rig.lavalink.voice_updates(&GUILD.to_string()).len();
    let new = rig.spawn(&[]);
    // From the newer instance's start until it gave Lavalink its voice state: never two players.
    let start = Instant::now();
    let mut handed = None;
    loop {
        assert!(start.elapsed() < Duration::from_secs(20), "no hand-over");
        let players = guild_players(&rig, GUILD);
        assert!(
            players.len() <= 1,
            "two players during the overlap: {players:?}"
        );
        if handed.is_none() && log_has(&new, "this instance owns the lease") {
            handed = Some((
                rig.lavalink.player(&GUILD.to_string()).unwrap(),
                Instant::now(),
            ));
        }
        let updates = rig.lavalink.voice_updates(&GUILD.to_string()).len();
        if handed.is_some() && updates > updates_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (at_hand_over, taken_at) = handed.unwrap();
    assert_eq!(old.terminate(), Some(0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let players = guild_players(&rig, GUILD);
    assert_eq!(players.len(), 1, "{players:?}");
    let p = &players[0];
    assert_eq!(
        p.session_id, old_session,
        "the old session, resumed by the newer instance"
    );
    assert!(
        rig.lavalink
            .sessions()
            .iter()
            .any(|s| s.session_id == old_session && s.connected),
        "owned by a connected client: the newer instance"
    );
    assert!(p.playing, "{p:?}");
    // The music went on: where it was at the hand-over, plus the time since (±1 s).
    let expected = at_hand_over.position + taken_at.elapsed().as_millis() as u64;
    assert!(
        p.position.abs_diff(expected) <= 1000,
        "{} vs {expected}",
        p.position
    );
    // No "back after a restart": listeners heard none.
    let said: Vec<String> = posted(&rig, TEXT).split_off(messages_before);
    assert!(
        said.iter().all(|m| !m.contains("Back after a restart")),
        "{said:?}"
    );
    drop(new);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_rounds_of_kill_9_alternating_sqlite_and_mongodb_lose_nothing() {
    use rand::Rng;
    let ids: Vec<u64> = (31..=33).map(small_guild_id).collect();
    let mut rigs = Vec::new();
    // Without a MongoDB server (only outside scripts/test.sh) both rigs use SQLite.
    for storage in [None, Rig::mongo_storage()] {
        let rig = Rig::new((31..=33).map(|n| small_guild(n, 1)).collect(), storage).await;
        let long = catalogue_track(&rig.lavalink, 180_000, 0);
        let next = catalogue_track(&rig.lavalink, 60_000, 1);
        let players: Vec<PlayerSnapshot> = (31..=33)
            .map(|n| saved_small(n, &long, vec![next.clone(); 3], 1_000, false))
            .collect();
        seed(&rig, &players, &[]).await;
        rigs.push(rig);
    }
    // What each rig's store must hold for each guild: the volume and the number of upcoming
    // tracks the members were last told about.
    let mut expected: Vec<std::collections::HashMap<u64, (u16, usize)>> = (0..2)
        .map(|_| ids.iter().map(|g| (*g, (100, 3))).collect())
        .collect();
    let check = |rig: &Rig, expected: &std::collections::HashMap<u64, (u16, usize)>, round| {
        let storage = rig.storage.clone();
        let expected = expected.clone();
        async move {
            let store = storage.open().await;
            for (g, (volume, len)) in expected {
                let s = store.load(g).await.unwrap().expect("still saved");
                assert_eq!(s.queue.upcoming.len(), len, "round {round}: queue of {g}");
                assert_eq!(s.state.volume, volume, "round {round}: volume of {g}");
                assert!(s.queue.current.is_some());
            }
        }
    };
    let env = [("LEASE_TTL", "2s"), ("AUTOSAVE_INTERVAL", "1s")];
    let mut rng = rand::thread_rng();
    for round in 0..50 {
        let rig = &rigs[round % 2];
        let mut bot = rig.spawn(&env);
        every_guild_playing(rig, &ids, Duration::from_secs(30)).await;
        eventually("the restore finished", Duration::from_secs(30), || {
            log_has(&bot, "restore finished").then_some(())
        })
        .await;
        check(rig, &expected[round % 2], round).await;
        // A member changes one guild; once the bot confirmed it, it must survive the kill.
        let n = 31 + (round as u64 / 2) % 3;
        let g = small_guild_id(n);
        let member = (g, text_of(g), 700_000_000_000_000_000 + n * 100);
        let (volume, len) = expected[round % 2][&g];
        let volume = (volume + 7) % 150 + 10;
        let set = ("volume", json!({ "level": volume }));
        confirmed(rig, member, set, "Volume set").await;
        let len = if len == 3 {
            let play = ("play", json!({ "query": "bohemian" }));
            confirmed(rig, member, play, "Queued").await;
            4
        } else {
            let remove = ("remove", json!({ "position": 4 }));
            confirmed(rig, member, remove, "Removed").await;
            3
        };
        expected[round % 2].insert(g, (volume, len));
        // Kill at a random moment of playback and autosave; now and then Lavalink restarts too.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1500))).await;
        bot.kill();
        if rng.gen_range(0..4) == 0 {
            rig.lavalink.restart();
        }
    }
    for (i, rig) in rigs.iter().enumerate() {
        check(rig, &expected[i], 50).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_confirmed_change_survives_a_kill_9_right_after_its_reply() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    // Only a commit can have saved what is checked: the autosave would wait a minute.
    let env = [
        ("LEASE_TTL", "2s"),
        ("AUTOSAVE_INTERVAL", "60s"),
        ("RATE_LIMIT_COMMANDS", "50"),
    ];
    let bob = (GUILD, TEXT, BOB);
    let mut upcoming: Vec<&str> = vec![];
    for round in 0..2u16 {
        let mut bot = rig.spawn(&env);
        if round == 0 {
            play_through_the_bot(&rig, &bot, "never gonna give").await;
        } else {
            // The restart restores what the last burst confirmed.
            eventually("restored", Duration::from_secs(30), || {
                log_has(&bot, "restore finished").then_some(())
            })
            .await;
            let p = rig.player(GUILD).expect("a restored player");
            assert!(p.playing && p.volume == 20, "{p:?}");
        }
        // A burst of changes, each confirmed; the kill comes right after the last reply.
        for query in ["bohemian", "gangnam", "despacito"] {
            confirmed(&rig, bob, ("play", json!({ "query": query })), "Queued").await;
            upcoming.push(query);
        }
        let last = upcoming.len();
        let moving = ("move", json!({ "from": last, "to": 1 }));
        confirmed(&rig, bob, moving, "Moved").await;
        let moved = upcoming.remove(last - 1);
        upcoming.insert(0, moved);
        confirmed(&rig, bob, ("remove", json!({ "position": 2 })), "Removed").await;
        upcoming.remove(1);
        let level = ("volume", json!({ "level": 20 + round }));
        confirmed(&rig, bob, level, "Volume set").await;
        let mode = ["queue", "track"][usize::from(round)];
        let looping = (
            "loop",
            json!({ "mode": choice(&rig.discord, "loop", mode) }),
        );
        confirmed(&rig, bob, looping, "").await;
        bot.kill();
        let saved = rig.storage.open().await.load(GUILD).await.unwrap();
        let saved = saved.expect("the player is saved");
        let titles: Vec<String> = saved
            .queue
            .upcoming
            .iter()
            .map(|t| t.title.to_lowercase())
            .collect();
        assert_eq!(titles.len(), upcoming.len(), "round {round}: {titles:?}");
        for (title, query) in titles.iter().zip(&upcoming) {
            assert!(
                title.contains(query),
                "round {round}: {titles:?} vs {upcoming:?}"
            );
        }
        assert_eq!(saved.state.volume, 20 + round);
        let mode = [LoopMode::Queue, LoopMode::Track][usize::from(round)];
        assert_eq!(saved.state.loop_mode, mode);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hundred_guilds_on_one_shard_all_restore_under_the_gateway_limit() {
    const N: u64 = 300;
    // Half have listeners, half are empty (those come back paused).
    let guilds: Vec<GuildSpec> = (0..N)
        .map(|n| small_guild(1000 + n, (n % 2) as usize))
        .collect();
    let rig = Rig::new(guilds, None).await;
    let track = catalogue_track(&rig.lavalink, 180_000, 0);
    let ids: Vec<u64> = (0..N).map(|n| small_guild_id(1000 + n)).collect();
    let players: Vec<PlayerSnapshot> = (0..N)
        .map(|n| saved_small(1000 + n, &track, vec![], 3_000, false))
        .collect();
    seed(&rig, &players, &[]).await;
    let bot = rig.spawn(&[]);
    let restored_at = |g: u64| rig.patches(g).iter().any(|b| b.get("voice").is_some());
    eventually("all 300 restored", Duration::from_secs(240), || {
        ids.iter().all(|g| restored_at(*g)).then_some(())
    })
    .await;
    assert!(log_has(&bot, "restore finished"));
    // Discord's limit is 120 commands per 60 s per connection: never reached, never closed.
    assert_eq!(rig.discord.rate_limit_closes(), 0);
    let most = rig
        .discord
        .max_sent_in_any_window(&SentBy::AnyConnection, Duration::from_secs(60));
    assert!(most <= 120, "{most} commands in one 60 s window");
    assert!(most >= 108, "paced within 10 % of the limit: {most}");
    // Guilds with listeners went first.
    let order: Vec<u64> = rig
        .discord
        .gateway_sent()
        .into_iter()
        .filter(|s| s.payload["op"] == 4)
        .filter_map(|s| {
            let g = &s.payload["d"]["guild_id"];
            g.as_u64().or_else(|| g.as_str()?.parse().ok())
        })
        .collect();
    let has_listeners = |g: &u64| ids.iter().position(|i| i == g).unwrap() % 2 == 1;
    assert_eq!(order.len(), N as usize, "one join each");
    assert!(order[..100].iter().all(has_listeners), "listeners first");
    assert!(
        !order[200..].iter().any(has_listeners),
        "empty channels last"
    );
    let playing = ids
        .iter()
        .filter(|g| rig.player(**g).is_some_and(|p| p.playing))
        .count();
    assert_eq!(playing, (N / 2) as usize);
}

/// Another process's exclusive transaction on the rig's SQLite file: every write waits until it
/// rolls back.
fn hold_the_database(rig: &Rig) -> rusqlite::Connection {
    let Storage::Sqlite(path) = &rig.storage else {
        unreachable!()
    };
    let blocker = rusqlite::Connection::open(path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    blocker
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_store_cannot_hold_the_exit_past_shutdown_timeout() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut bot = rig.spawn(&[("SHUTDOWN_TIMEOUT", "2s")]);
    play_through_the_bot(&rig, &bot, "never gonna give").await;
    // Another process holds the database: every write waits.
    let blocker = hold_the_database(&rig);
    let asked = Instant::now();
    assert_eq!(bot.terminate(), Some(0));
    let took = asked.elapsed();
    assert!(
        took < Duration::from_millis(3500),
        "exited after {took:?} with SHUTDOWN_TIMEOUT=2s"
    );
    assert!(bot.log_text().contains("longer than SHUTDOWN_TIMEOUT"));
    blocker.execute_batch("ROLLBACK").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_the_store_cannot_take_now_is_made_said_unsaved_and_saved_once_it_can() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let bot = rig.spawn(&[("AUTOSAVE_INTERVAL", "60s")]);
    play_through_the_bot(&rig, &bot, "never gonna give").await;
    // Another process holds the database: every write waits, longer than a reply may.
    let blocker = hold_the_database(&rig);
    let asked = Instant::now();
    let id = bob_command(&rig, "volume", json!({ "level": 33 }));
    let reply = eventually("the /volume reply", Duration::from_secs(10), || {
        let r = rig.discord.interaction_responses(&id)?;
        r.original?["content"].as_str().map(str::to_string)
    })
    .await;
    assert!(asked.elapsed() < Duration::from_secs(3), "a reply in time");
    assert!(
        reply.starts_with("Volume set to 33%") && reply.contains("Not saved yet"),
        "{reply}"
    );
    // (Any session: a store stalled this long fences the owner off, which closes its socket.)
    let player = rig.lavalink.player(&GUILD.to_string()).unwrap();
    assert_eq!(player.volume, 33, "the change is made");
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    let store = rig.storage.open().await;
    eventually_async(
        "saved once the store answers",
        Duration::from_secs(20),
        || {
            let store = store.clone();
            async move {
                let s = store.load(GUILD).await.ok()??;
                (s.state.volume == 33).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_gateway_session_rejoins_voice_without_restarting_the_track() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let bot = rig.spawn(&[]);
    play_through_the_bot(&rig, &bot, "never gonna give").await;
    let before = rig.discord.bot_voice_session_owner(GUILD).unwrap();
    rig.lavalink.clear_requests();
    // Discord invalidates the session: the bot identifies afresh, and its voice session is gone.
    assert!(rig.discord.invalidate_sessions() > 0);
    let patch = restored(&rig, GUILD).await;
    assert!(patch.get("track").is_none(), "the track goes on: {patch}");
    assert_ne!(patch["voice"]["sessionId"], before.as_str());
    assert_eq!(rig.discord.voice_channel_of(GUILD, BOT), Some(VOICE));
    assert!(rig.player(GUILD).unwrap().playing);
    assert!(log_has(&bot, "new gateway session: rejoining voice"));
}

#[tokio::test(flavor = "multi_thread")]
async fn while_a_crashed_owners_lease_runs_out_commands_get_a_restarting_note() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let ttl = [("LEASE_TTL", "10s")];
    let mut first = rig.spawn(&ttl);
    play_through_the_bot(&rig, &first, "never gonna give").await;
    tokio::time::sleep(Duration::from_secs(2)).await; // saved, and the Lavalink session noted
    first.kill();
    // Lavalink restarts too: the dead owner's session cannot be resumed, so there is no evidence
    // that it is gone (with Lavalink alive the new instance takes over at once: crash_takeover.rs).
    rig.lavalink.restart();
    rig.lavalink.clear_requests();
    let second = rig.spawn(&ttl);
    eventually(
        "the new instance is connected",
        Duration::from_secs(20),
        || log_has(&second, "connected to Discord").then_some(()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !log_has(&second, "this instance owns the lease"),
        "too late to test"
    );
    let id = bob_command(&rig, "nowplaying", json!({}));
    let reply = answered(&rig, &id).await;
    assert_eq!(reply["data"]["flags"], 64, "ephemeral: {reply}");
    assert!(
        reply["data"]["content"]
            .as_str()
            .unwrap()
            .contains("restarting"),
        "{reply}"
    );
    // Then the lease expires, the new instance takes over and the music comes back.
    restored(&rig, GUILD).await;
    assert!(log_has(&second, "this instance owns the lease"));
    assert_eq!(callbacks(&rig, &id), 1, "answered once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_while_lavalink_is_down_plays_from_the_saved_position_once_it_is_up() {
    let rig = Rig::new(vec![small_guild(41, 1)], None).await;
    let track = catalogue_track(&rig.lavalink, 60_000, 0);
    seed(&rig, &[saved_small(41, &track, vec![], 30_000, false)], &[]).await;
    rig.lavalink.refuse_connections_for(Duration::from_secs(8));
    let bot = rig.spawn(&[]);
    eventually(
        "the restore gave up waiting",
        Duration::from_secs(30),
        || log_has(&bot, "the player is rebuilt when one is").then_some(()),
    )
    .await;
    let patch = eventually("the rebuilt player", Duration::from_secs(30), || {
        rig.patches(small_guild_id(41))
            .into_iter()
            .find(|b| b.get("track").is_some())
    })
    .await;
    // From the saved position, not one extrapolated over the seconds nothing was heard.
    let position = patch["position"].as_u64().unwrap();
    assert!((30_000..30_500).contains(&position), "{position}");
    assert!(patch.get("voice").is_some());
    eventually("playing", Duration::from_secs(5), || {
        rig.player(small_guild_id(41))
            .filter(|p| p.playing)
            .map(|_| ())
    })
    .await;
}
