//! Voice faults against the fakes: involuntary ends told once, joins that cannot complete, and
//! voice that heals itself (Discord's voice close codes, a frozen position, a new voice server).

use std::time::Duration;

use encore_fakes::discord::{Overwrite, VoiceServerMode};
use encore_fakes::lavalink::{Cure, FakeLavalink, FakeLavalinkConfig, PlayerSnapshot, VoiceFault};
use serde_json::json;

use crate::harness::{
    catalogue_track, command, eventually, posted, saved_small, seed, small_guild, small_guild_id,
    text_of, voice_of, world, world_with, world_with_nodes, Rig, World, BOB, BOT, GUILD,
    OTHER_VOICE, TEXT, VOICE, WAIT,
};

/// The text channel's message contents, in order.
fn said(w: &World) -> Vec<String> {
    w.discord
        .messages(TEXT)
        .into_iter()
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect()
}

/// How many messages of the text channel contain `needle`.
fn count_said(w: &World, needle: &str) -> usize {
    said(w).iter().filter(|c| c.contains(needle)).count()
}

/// Waits for one message containing `needle`, then checks for 2 s that no second one comes.
async fn said_once(w: &World, needle: &str) -> String {
    let text = eventually(needle, WAIT, || {
        said(w).into_iter().find(|c| c.contains(needle))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count_said(w, needle), 1, "told once: {:?}", said(w));
    text
}

async fn playing(w: &World) {
    command(w, BOB, "play", json!({"query": "bohemian"})).await;
    eventually("the track plays", WAIT, || {
        w.lavalink.player(&GUILD.to_string()).filter(|p| p.playing)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kick_stops_the_music_and_says_so_once() {
    let w = world().await;
    playing(&w).await;
    w.discord.move_bot(GUILD, None).unwrap();
    let text = said_once(&w, "I was disconnected from").await;
    assert!(text.contains(&format!("<#{VOICE}>")), "{text}");
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    assert_eq!(w.store.load(GUILD).await.unwrap(), None);
    // A /leave is asked for: no notice of an involuntary end.
    playing(&w).await;
    command(&w, BOB, "leave", json!({})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count_said(&w, "I was disconnected"), 1, "{:?}", said(&w));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_voice_channel_is_named_as_the_reason() {
    let w = world().await;
    playing(&w).await;
    w.discord.delete_channel(GUILD, VOICE).unwrap();
    said_once(&w, "My voice channel was deleted").await;
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    assert!(!said(&w).iter().any(|c| c.contains("I was disconnected")));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_speak_while_playing_leaves_and_says_which_permission() {
    let w = world().await;
    playing(&w).await;
    w.discord
        .set_channel_overwrites(
            GUILD,
            VOICE,
            vec![Overwrite {
                id: BOT,
                kind: 1,
                allow: "0".into(),
                deny: (1u64 << 21).to_string(),
            }],
        )
        .unwrap();
    let text = said_once(&w, "I lost the Speak permission").await;
    assert!(text.contains(&format!("<#{VOICE}>")), "{text}");
    eventually("the bot left voice", WAIT, || {
        w.discord
            .voice_channel_of(GUILD, BOT)
            .is_none()
            .then_some(())
    })
    .await;
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_voice_server_is_healed_by_resending_the_voice_state_at_the_same_position() {
    let w = world().await;
    playing(&w).await;
    let g = GUILD.to_string();
    let token = w.lavalink.player(&g).unwrap().voice.unwrap().token;
    w.lavalink
        .inject_websocket_closed(&g, 4015, "Voice server crashed", true)
        .unwrap();
    let stopped_at = w.lavalink.player(&g).unwrap().position;
    let p = eventually("the audio is back", Duration::from_secs(3), || {
        w.lavalink.player(&g).filter(|p| p.playing)
    })
    .await;
    assert_eq!(
        p.voice.unwrap().token,
        token,
        "the same voice state, sent again"
    );
    assert!(
        p.position >= stopped_at && p.position < stopped_at + 1500,
        "went on from {stopped_at}: {}",
        p.position
    );
    assert!(said(&w).iter().all(|c| !c.contains("voice connection")));
    w.stop().await;
}

/// The tokens Lavalink was given for the guild, in order.
fn lavalink_tokens(w: &World) -> Vec<String> {
    w.lavalink
        .voice_updates(&GUILD.to_string())
        .into_iter()
        .map(|u| u.voice.token)
        .collect()
}

/// The voice state updates (op 4) the bot sent for the guild.
fn joins_sent(w: &World) -> usize {
    w.discord
        .gateway_sent()
        .iter()
        .map(|s| &s.payload)
        .filter(|p| {
            let g = &p["d"]["guild_id"];
            p["op"] == 4 && g.as_u64().or_else(|| g.as_str()?.parse().ok()) == Some(GUILD)
        })
        .filter(|p| !p["d"]["channel_id"].is_null())
        .count()
}

/// Makes the guild's voice on `node` disconnected, healed only as `cure` says (no event).
fn disconnect_voice(node: &FakeLavalink, cure: Cure) {
    node.set_voice_fault(&GUILD.to_string(), VoiceFault::Disconnected { cure })
        .unwrap();
}

/// Breaks the guild's voice on `node` (healed only as `cure` says) and closes Lavalink's voice
/// socket with `code`; returns where the audio stopped.
fn break_voice(node: &FakeLavalink, cure: Cure, code: u16) -> u64 {
    let g = GUILD.to_string();
    disconnect_voice(node, cure);
    node.inject_websocket_closed(&g, code, "voice fault", true)
        .unwrap();
    node.player(&g).unwrap().position
}

/// Waits up to `within` for `node` to play the guild again.
async fn audio_back(node: &FakeLavalink, within: Duration) -> PlayerSnapshot {
    let g = GUILD.to_string();
    eventually("the audio is back", within, || {
        node.player(&g).filter(|p| p.playing)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_voice_session_is_asked_for_again_and_lavalink_gets_the_fresh_token() {
    let w = world().await;
    playing(&w).await;
    let joins = joins_sent(&w);
    let old = lavalink_tokens(&w);
    let stopped_at = break_voice(&w.lavalink, Cure::NewVoiceSession, 4006);
    let p = audio_back(&w.lavalink, Duration::from_secs(3)).await;
    assert_eq!(joins_sent(&w), joins + 1, "one op 4 for the same channel");
    let tokens = lavalink_tokens(&w);
    assert_eq!(
        tokens.len(),
        old.len() + 1,
        "no resend of the spent session: {tokens:?}"
    );
    assert_ne!(tokens.last(), old.last());
    assert!(p.position >= stopped_at && p.position < stopped_at + 1500);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disconnect_close_while_discord_keeps_the_bot_in_its_channel_asks_for_voice_again() {
    let w = world().await;
    playing(&w).await;
    let joins = joins_sent(&w);
    break_voice(&w.lavalink, Cure::NewVoiceSession, 4014);
    audio_back(&w.lavalink, Duration::from_secs(5)).await;
    assert_eq!(joins_sent(&w), joins + 1);
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), Some(VOICE));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_position_is_healed_within_the_silence_timeout_and_one_step() {
    let w = world_with(&[("VOICE_SILENCE_TIMEOUT", "3s")]).await;
    playing(&w).await;
    let g = GUILD.to_string();
    w.lavalink
        .set_voice_fault(
            &g,
            VoiceFault::Frozen {
                cure: Cure::AnyVoiceUpdate,
            },
        )
        .unwrap();
    let frozen = w.lavalink.player(&g).unwrap();
    assert!(frozen.connected && !frozen.playing);
    let frozen_at = frozen.position;
    // 3 s of silence, one player update (200 ms here), one resend checked within a second.
    let p = eventually("the audio is back", Duration::from_millis(5500), || {
        w.lavalink.player(&g).filter(|p| p.playing)
    })
    .await;
    assert!(
        p.position >= frozen_at && p.position < frozen_at + 1500,
        "went on from {frozen_at}: {}",
        p.position
    );
    assert_eq!(p.voice_fault, VoiceFault::None);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_voice_server_is_awaited_and_the_interim_token_never_reaches_lavalink() {
    let w = world().await;
    playing(&w).await;
    w.discord
        .reallocate_voice_server(GUILD, Some(Duration::from_secs(1)))
        .unwrap();
    break_voice(&w.lavalink, Cure::NewVoiceSession, 4015);
    audio_back(&w.lavalink, Duration::from_secs(5)).await;
    let servers = w.discord.voice_servers(GUILD);
    let interim: Vec<&String> = servers
        .iter()
        .filter(|s| s.endpoint.is_none())
        .map(|s| &s.token)
        .collect();
    assert_eq!(interim.len(), 1, "{servers:?}");
    let tokens = lavalink_tokens(&w);
    assert!(!tokens.contains(interim[0]), "{tokens:?}");
    let real = servers.last().unwrap();
    assert!(real.endpoint.is_some());
    assert_eq!(tokens.last(), Some(&real.token));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_voice_server_that_never_comes_is_asked_for_again() {
    let w = world().await;
    playing(&w).await;
    let joins = joins_sent(&w);
    w.discord.reallocate_voice_server(GUILD, None).unwrap();
    break_voice(&w.lavalink, Cure::NewVoiceSession, 4015);
    // Waits 10 s for the new server, then asks Discord again.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(joins_sent(&w), joins, "still waiting for the new server");
    audio_back(&w.lavalink, Duration::from_secs(10)).await;
    assert_eq!(joins_sent(&w), joins + 1);
    let real = w.discord.voice_servers(GUILD).last().cloned().unwrap();
    assert!(real.endpoint.is_some());
    assert_eq!(lavalink_tokens(&w).last(), Some(&real.token));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_channel_is_refused_by_name_and_another_channel_then_plays() {
    let w = world().await;
    w.discord.set_user_limit(GUILD, VOICE, 2).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (reply, ephemeral) = command(&w, BOB, "play", json!({"query": "bohemian"})).await;
    assert!(ephemeral, "{reply}");
    assert!(reply.contains("it is full (2/2)"), "{reply}");
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), None);
    w.discord
        .set_user_voice(GUILD, BOB, Some(OTHER_VOICE))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (reply, _) = command(&w, BOB, "play", json!({"query": "bohemian"})).await;
    assert!(!reply.contains("wrong"), "{reply}");
    let p = eventually("it plays in the other channel", WAIT, || {
        w.lavalink.player(&GUILD.to_string()).filter(|p| p.playing)
    })
    .await;
    assert_eq!(p.voice.unwrap().channel_id, OTHER_VOICE.to_string());
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), Some(OTHER_VOICE));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healing_that_never_works_says_so_once_keeps_the_saved_player_and_stops_trying() {
    let w = world_with(&[("AUTOSAVE_INTERVAL", "1s")]).await;
    playing(&w).await;
    let stopped_at = break_voice(&w.lavalink, Cure::Never, 4015);
    // resend, ask again, rejoin: about 16 s with their checks.
    let text = eventually("the give-up notice", Duration::from_secs(30), || {
        said(&w)
            .into_iter()
            .find(|c| c.contains("could not get it back"))
    })
    .await;
    assert!(text.contains("/resume"), "{text}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let saved = w.store.load(GUILD).await.unwrap();
    let saved = saved.unwrap_or_else(|| panic!("still saved; said {:?}", said(&w)));
    assert!(saved.state.paused);
    assert!(
        saved.state.position_ms.abs_diff(stopped_at) < 1000,
        "saved at {} (the audio stopped at {stopped_at})",
        saved.state.position_ms
    );
    let updates = lavalink_tokens(&w).len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(lavalink_tokens(&w).len(), updates, "no more attempts");
    assert_eq!(count_said(&w, "could not get it back"), 1, "{:?}", said(&w));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_join_discord_never_completes_gets_its_own_reply_and_leaves_nothing_behind() {
    let w = world().await;
    // Discord answers the join with a voice server it is still allocating, and never the real
    // one: songbird never gets an endpoint.
    w.discord
        .set_voice_server_delay(GUILD, VoiceServerMode::NullForever)
        .unwrap();
    let (reply, ephemeral) = command(&w, BOB, "play", json!({"query": "bohemian"})).await;
    assert!(ephemeral, "{reply}");
    assert!(
        reply.contains("Discord did not let me into that voice channel in time"),
        "{reply}"
    );
    eventually("the half-made join is undone", WAIT, || {
        w.discord
            .voice_channel_of(GUILD, BOT)
            .is_none()
            .then_some(())
    })
    .await;
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    // Voice works again: the next /play joins and plays without a /join.
    w.discord
        .set_voice_server_delay(GUILD, VoiceServerMode::Immediate)
        .unwrap();
    command(&w, BOB, "play", json!({"query": "bohemian"})).await;
    let p = eventually("it plays", WAIT, || {
        w.lavalink.player(&GUILD.to_string()).filter(|p| p.playing)
    })
    .await;
    assert_eq!(p.voice.unwrap().channel_id, VOICE.to_string());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_cannot_speak_discords_protocol_hands_the_player_to_another_node() {
    let second = FakeLavalink::start(FakeLavalinkConfig {
        player_update_interval: Duration::from_millis(200),
        ..FakeLavalinkConfig::default()
    })
    .await
    .unwrap();
    // Both nodes share the default password.
    let w = world_with_nodes(&[], &[second.port()]).await;
    playing_on_either(&w, &second).await;
    let g = GUILD.to_string();
    let (from, to) = if w.lavalink.player(&g).is_some() {
        (&w.lavalink, &second)
    } else {
        (&second, &w.lavalink)
    };
    let stopped_at = break_voice(from, Cure::Never, 4016);
    let p = audio_back(to, Duration::from_secs(5)).await;
    assert!(
        p.position >= stopped_at && p.position < stopped_at + 1500,
        "went on from {stopped_at}: {}",
        p.position
    );
    assert!(
        from.player(&g).is_none(),
        "one player left, on the new node"
    );
    w.stop().await;
}

async fn playing_on_either(w: &World, second: &FakeLavalink) {
    command(w, BOB, "play", json!({"query": "bohemian"})).await;
    let g = GUILD.to_string();
    eventually("the track plays", WAIT, || {
        w.lavalink
            .player(&g)
            .or_else(|| second.player(&g))
            .filter(|p| p.playing)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_that_cannot_get_back_into_voice_says_so_once_and_keeps_the_saved_player() {
    let rig = Rig::new(vec![small_guild(31, 1)], None).await;
    let guild = small_guild_id(31);
    let track = catalogue_track(&rig.lavalink, 60_000, 0);
    seed(&rig, &[saved_small(31, &track, vec![], 7_000, false)], &[]).await;
    // Discord never finishes allocating a voice server for that guild.
    rig.discord
        .set_voice_server_delay(guild, VoiceServerMode::NullForever)
        .unwrap();
    let _bot = rig.spawn(&[]);
    // Three paced attempts of 5 s each, 1 s and 2 s apart.
    let notice = eventually("the notice", Duration::from_secs(40), || {
        posted(&rig, text_of(guild))
            .into_iter()
            .find(|c| c.contains("could not get back into"))
    })
    .await;
    assert!(
        notice.contains(&format!("<#{}>", voice_of(guild))),
        "{notice}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let notices = posted(&rig, text_of(guild));
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(!notices[0].contains("Back after"), "{notices:?}");
    let store = rig.storage.open().await;
    let kept = store
        .load(guild)
        .await
        .unwrap()
        .expect("the saved player is kept");
    assert_eq!(kept.state.position_ms, 7_000);
    assert!(rig.player(guild).filter(|p| p.playing).is_none());
}

/// The close-code classes not covered above: a protocol error is healed by a resend of the same
/// voice state; a rate limit waits 5 s, then asks Discord again.
#[tokio::test(flavor = "multi_thread")]
async fn protocol_errors_resend_and_rate_limits_wait_before_asking_again() {
    let w = world().await;
    playing(&w).await;
    // 4020 Bad request: the same voice state again.
    let tokens = lavalink_tokens(&w);
    break_voice(&w.lavalink, Cure::AnyVoiceUpdate, 4020);
    audio_back(&w.lavalink, Duration::from_secs(3)).await;
    let after = lavalink_tokens(&w);
    assert_eq!(after.len(), tokens.len() + 1);
    assert_eq!(after.last(), tokens.last(), "the same voice state");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 4021 Rate limited: nothing for 5 s, then a fresh session.
    let joins = joins_sent(&w);
    let t0 = std::time::Instant::now();
    break_voice(&w.lavalink, Cure::NewVoiceSession, 4021);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(joins_sent(&w), joins, "waits before asking again");
    audio_back(&w.lavalink, Duration::from_secs(5)).await;
    assert!(t0.elapsed() >= Duration::from_secs(5));
    assert_eq!(joins_sent(&w), joins + 1);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lavalink_saying_not_connected_without_a_close_event_is_healed() {
    let w = world().await;
    playing(&w).await;
    let tokens = lavalink_tokens(&w).len();
    disconnect_voice(&w.lavalink, Cure::AnyVoiceUpdate);
    // Two player updates (200 ms apart here) saying `connected: false`, then a resend.
    audio_back(&w.lavalink, Duration::from_secs(3)).await;
    assert_eq!(lavalink_tokens(&w).len(), tokens + 1);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kick_while_voice_is_healing_ends_the_music_and_the_bot_stays_out() {
    let w = world().await;
    playing(&w).await;
    let joins = joins_sent(&w);
    // A session Discord will not take back: healing asks again, then rejoins.
    break_voice(&w.lavalink, Cure::Never, 4006);
    eventually("healing asks Discord again", WAIT, || {
        (joins_sent(&w) > joins).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.discord.move_bot(GUILD, None).unwrap();
    said_once(&w, "I was disconnected from").await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(w.discord.voice_channel_of(GUILD, BOT), None, "stays out");
    assert!(w.lavalink.player(&GUILD.to_string()).is_none());
    assert!(
        said(&w)
            .iter()
            .all(|c| !c.contains("could not get it back")),
        "{:?}",
        said(&w)
    );
    assert_eq!(w.store.load(GUILD).await.unwrap(), None);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_during_healing_says_nothing_more_and_skip_after_a_give_up_sends_voice_again() {
    let w = world().await;
    playing(&w).await;
    command(&w, BOB, "play", json!({"query": "despacito"})).await;
    // Healing that cannot work, then a /skip once voice could work again.
    break_voice(&w.lavalink, Cure::Never, 4015);
    said_once(&w, "could not get it back").await;
    let tokens = lavalink_tokens(&w).len();
    disconnect_voice(&w.lavalink, Cure::AnyVoiceUpdate);
    let (reply, _) = command(&w, BOB, "skip", json!({})).await;
    assert!(reply.contains("Despacito"), "{reply}");
    let p = audio_back(&w.lavalink, Duration::from_secs(3)).await;
    assert!(p.track.unwrap().info.title.contains("Despacito"));
    assert!(
        lavalink_tokens(&w).len() > tokens,
        "the voice state went along"
    );

    // /stop while healing: no give-up notice for a player that plays nothing.
    break_voice(&w.lavalink, Cure::Never, 4015);
    tokio::time::sleep(Duration::from_millis(800)).await;
    command(&w, BOB, "stop", json!({})).await;
    tokio::time::sleep(Duration::from_secs(18)).await;
    assert_eq!(count_said(&w, "could not get it back"), 1, "{:?}", said(&w));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_back_notice_over_silence_after_a_restore_only_the_give_up() {
    let rig = Rig::new(vec![small_guild(32, 1)], None).await;
    let guild = small_guild_id(32);
    let track = catalogue_track(&rig.lavalink, 60_000, 0);
    seed(&rig, &[saved_small(32, &track, vec![], 7_000, false)], &[]).await;
    // This node cannot reach the guild's voice server, whatever it is given.
    rig.lavalink.fault_new_players(
        &guild.to_string(),
        VoiceFault::Disconnected { cure: Cure::Never },
    );
    let _bot = rig.spawn(&[]);
    let notice = eventually("the give-up notice", Duration::from_secs(45), || {
        posted(&rig, text_of(guild))
            .into_iter()
            .find(|c| c.contains("could not get it back"))
    })
    .await;
    assert!(notice.contains("/resume"), "{notice}");
    let all = posted(&rig, text_of(guild));
    assert_eq!(
        all.len(),
        1,
        "no 'back after a restart' over silence: {all:?}"
    );
    let store = rig.storage.open().await;
    assert!(store.load(guild).await.unwrap().is_some(), "kept");
}
