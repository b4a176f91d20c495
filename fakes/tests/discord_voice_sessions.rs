//! The fake Discord's voice-session rule (the bot's voice state belongs to the gateway
//! session that sent the op 4 and ends with it), the channel hooks and the send-rate
//! read-backs, driven by a raw websocket client speaking gateway v10; and, with the fake
//! Lavalink, what listeners hear when a voice session ends (`encore_fakes::listeners`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    after_hello, auth, bot_overwrite, channel, close_code, eventually, fake, flood, get_json,
    members, post_message, ready, recv, recv_event, resume, send, Ws, ALICE, BOB, BOT, GUILD, TEXT,
    VOICE, VOICE_2, WAIT,
};
use encore_fakes::discord::permissions::{ADMINISTRATOR, MOVE_MEMBERS};
use encore_fakes::discord::{
    ChannelKind, FakeDiscord, GuildSpec, RoleSpec, SentBy, VoiceServerMode, SEND_LIMIT, SEND_WINDOW,
};
use encore_fakes::lavalink::{Cure, FakeLavalink, FakeLavalinkConfig, VoiceFault};
use encore_fakes::listeners::{close_ended_voice, heard, VOICE_DISCONNECTED};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

const SEND_MESSAGES: u64 = 1 << 11;
/// GUILDS, GUILD_VOICE_STATES and GUILD_MESSAGES.
const INTENTS: u64 = (1 << 0) | (1 << 7) | (1 << 9);

fn guild() -> GuildSpec {
    GuildSpec {
        id: GUILD,
        name: "Encore HQ".into(),
        owner_id: ALICE,
        channels: vec![
            channel(TEXT, "general", ChannelKind::Text),
            channel(VOICE, "Music", ChannelKind::Voice),
            channel(VOICE_2, "Lounge", ChannelKind::Voice),
        ],
        roles: vec![],
        members: members(vec![]),
        voice_states: vec![(BOB, VOICE)],
    }
}

/// A started fake with [`guild`] added.
async fn setup() -> FakeDiscord {
    let fake = fake().await;
    fake.add_guild(guild()).unwrap();
    fake
}

/// HELLO, IDENTIFY (shard 0 of 1), READY, GUILD_CREATE; returns (socket, gateway
/// session id, GUILD_CREATE payload).
async fn session(fake: &FakeDiscord) -> (Ws, String, Value) {
    let (mut ws, ready_p) = ready(fake, [0, 1], INTENTS).await;
    let id = ready_p["d"]["session_id"].as_str().unwrap().to_string();
    let gc = recv_event(&mut ws, "GUILD_CREATE").await;
    (ws, id, gc)
}

fn op4(channel: Option<u64>) -> Value {
    json!({"op": 4, "d": {
        "guild_id": GUILD.to_string(),
        "channel_id": channel.map(|c| c.to_string()),
        "self_mute": false,
        "self_deaf": true,
    }})
}

/// Sends op 4 to `channel`; asserts VOICE_STATE_UPDATE then VOICE_SERVER_UPDATE come
/// back on `ws`; returns the voice state.
async fn join(ws: &mut Ws, channel: u64) -> Value {
    send(ws, op4(Some(channel))).await;
    let vs = recv(ws).await;
    assert_eq!(vs["t"], "VOICE_STATE_UPDATE");
    assert_eq!(vs["d"]["user_id"], BOT.to_string());
    assert_eq!(vs["d"]["channel_id"], channel.to_string());
    assert_eq!(recv(ws).await["t"], "VOICE_SERVER_UPDATE");
    vs["d"].clone()
}

/// Closes the client side with `code` (1000: the session ends for good).
async fn close_with(mut ws: Ws, code: CloseCode) {
    ws.close(Some(CloseFrame {
        code,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    // Drain until the server is done with it.
    let _ = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
}

/// Nothing is queued on `ws`: a heartbeat's ACK is the next payload.
async fn nothing_pending(ws: &mut Ws) {
    send(ws, json!({"op": 1, "d": null})).await;
    let next = recv(ws).await;
    assert_eq!(next["op"], 11, "unexpected payload: {next}");
}

/// `vs` is the bot's VOICE_STATE_UPDATE leaving voice: channel null, voice session
/// `session_id`.
fn assert_left(vs: &Value, session_id: &str) {
    assert_eq!(vs["t"], "VOICE_STATE_UPDATE");
    assert!(vs["d"]["channel_id"].is_null());
    assert_eq!(vs["d"]["session_id"], session_id);
}

/// `p` is dispatch `t` about the guild's channel `id` (of Discord channel type `kind`,
/// named `name`); returns its data.
fn channel_event<'a>(p: &'a Value, t: &str, id: u64, kind: u64, name: &str) -> &'a Value {
    assert_eq!(p["t"], t);
    let d = &p["d"];
    assert_eq!(d["id"], id.to_string());
    assert_eq!(d["guild_id"], GUILD.to_string());
    assert_eq!(d["type"], kind);
    assert_eq!(d["name"], name);
    d
}

/// A snowflake written as a string, like Discord does.
fn snowflake(v: &Value) -> Option<u64> {
    v.as_str()?.parse().ok()
}

fn bot_voice_states(gc: &Value) -> Vec<Value> {
    gc["d"]["voice_states"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| snowflake(&v["user_id"]) == Some(BOT))
        .cloned()
        .collect()
}

#[tokio::test]
async fn voice_session_id_is_the_sending_gateway_session() {
    let fake = setup().await;
    let (mut a, a_id, _) = session(&fake).await;

    let vs = join(&mut a, VOICE).await;
    assert_eq!(vs["session_id"], a_id);
    assert_eq!(vs["guild_id"], GUILD.to_string());
    assert_eq!(vs["self_deaf"], true);
    assert_eq!(fake.bot_voice_session_owner(GUILD), Some(a_id.clone()));

    // Moving from the same session keeps it.
    let moved = join(&mut a, VOICE_2).await;
    assert_eq!(moved["session_id"], a_id);
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE_2));

    // The same channel again (a rejoin) still answers both events.
    let again = join(&mut a, VOICE_2).await;
    assert_eq!(again["session_id"], a_id);

    // A moderator move keeps the voice session and its owner.
    fake.move_bot(GUILD, Some(VOICE)).unwrap();
    let m = recv_event(&mut a, "VOICE_STATE_UPDATE").await;
    assert_eq!(m["d"]["session_id"], a_id);
    assert_eq!(fake.bot_voice_session_owner(GUILD), Some(a_id.clone()));

    // Leaving: channel null, the voice session id it had, no owner any more.
    send(&mut a, op4(None)).await;
    assert_left(&recv(&mut a).await, &a_id);
    assert_eq!(fake.bot_voice_session_owner(GUILD), None);
    nothing_pending(&mut a).await;
}

/// (a) The owning session closes cleanly: the voice state goes, the other session hears.
#[tokio::test]
async fn clean_close_of_the_owning_session_removes_the_bot_from_voice() {
    let fake = setup().await;
    let (mut a, a_id, _) = session(&fake).await;
    let (mut b, b_id, _) = session(&fake).await;
    assert_ne!(a_id, b_id);

    let joined = join(&mut a, VOICE).await;
    // B, on the same shard, sees the join too.
    let seen = recv(&mut b).await;
    assert_eq!(seen["t"], "VOICE_STATE_UPDATE");
    assert_eq!(seen["d"], joined);
    assert_eq!(recv(&mut b).await["t"], "VOICE_SERVER_UPDATE");

    close_with(a, CloseCode::Normal).await;
    let null = recv(&mut b).await;
    assert_eq!(null["t"], "VOICE_STATE_UPDATE");
    let d = &null["d"];
    assert!(d["channel_id"].is_null());
    assert_eq!(d["user_id"], BOT.to_string());
    assert_eq!(d["guild_id"], GUILD.to_string());
    assert_eq!(d["session_id"], a_id);
    assert_eq!(d["member"]["user"]["id"], BOT.to_string());
    for key in ["deaf", "mute", "self_deaf", "self_mute", "suppress"] {
        assert!(d[key].is_boolean(), "{key} missing in {d}");
    }
    assert_eq!(fake.voice_channel_of(GUILD, BOT), None);
    assert_eq!(fake.bot_voice_session_owner(GUILD), None);
    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].session_id, b_id);
    // Only the bot's voice state went; bob is still in voice.
    assert_eq!(fake.voice_channel_of(GUILD, BOB), Some(VOICE));
    nothing_pending(&mut b).await;
}

/// 1001 (going away) ends the session too; a close with another code leaves it resumable
/// and the voice state stays.
#[tokio::test]
async fn only_clean_close_codes_end_the_voice_state() {
    let fake = setup().await;
    let (mut a, a_id, _) = session(&fake).await;
    join(&mut a, VOICE).await;
    close_with(a, CloseCode::Library(4000)).await;
    // The fake handles a closed socket asynchronously.
    eventually("A disconnected", WAIT, || {
        fake.sessions().iter().all(|s| !s.connected).then_some(())
    })
    .await;
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE));
    assert_eq!(fake.bot_voice_session_owner(GUILD), Some(a_id.clone()));

    // Resume A, then leave with 1001.
    let mut a = after_hello(&fake).await;
    send(&mut a, resume(&a_id, 0)).await;
    recv_event(&mut a, "RESUMED").await;
    let (mut b, _, _) = session(&fake).await;
    close_with(a, CloseCode::Away).await;
    assert_left(&recv_event(&mut b, "VOICE_STATE_UPDATE").await, &a_id);
    assert_eq!(fake.voice_channel_of(GUILD, BOT), None);
}

/// (b) Another session took the voice state over: the old session's end does not touch it.
#[tokio::test]
async fn a_voice_state_taken_over_by_another_session_survives_the_old_one() {
    let fake = setup().await;
    let (mut a, a_id, _) = session(&fake).await;
    let (mut b, b_id, _) = session(&fake).await;

    let first = join(&mut a, VOICE).await;
    assert_eq!(first["session_id"], a_id);
    recv_event(&mut b, "VOICE_SERVER_UPDATE").await;

    // B (a new process, say) sends op 4 to the same channel: both events, B's id.
    let taken = join(&mut b, VOICE).await;
    assert_eq!(taken["session_id"], b_id);
    assert_eq!(fake.bot_voice_session_owner(GUILD), Some(b_id.clone()));

    close_with(a, CloseCode::Normal).await;
    eventually("A ended", WAIT, || {
        (fake.sessions().len() == 1).then_some(())
    })
    .await;
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE));
    assert_eq!(fake.bot_voice_session_owner(GUILD), Some(b_id.clone()));
    // No null update reached B.
    nothing_pending(&mut b).await;

    // B's own end does remove it.
    let (mut c, _, _) = session(&fake).await;
    close_with(b, CloseCode::Normal).await;
    assert_left(&recv_event(&mut c, "VOICE_STATE_UPDATE").await, &b_id);
}

/// (c) A drops its TCP connection (resumable); a fresh IDENTIFY of the shard supersedes it.
#[tokio::test]
async fn a_superseded_session_takes_its_voice_state_along() {
    let fake = setup().await;
    let (mut a, a_id, _) = session(&fake).await;
    let (mut b, _, _) = session(&fake).await;
    join(&mut a, VOICE).await;
    recv_event(&mut b, "VOICE_SERVER_UPDATE").await;

    // No close frame: the session stays (resumable) and so does the voice state.
    drop(a);
    eventually("A disconnected", WAIT, || {
        fake.sessions()
            .iter()
            .any(|s| s.session_id == a_id && !s.connected)
            .then_some(())
    })
    .await;
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE));

    // A new process identifies: A is superseded.
    let (mut c, c_id, gc) = session(&fake).await;
    assert!(
        bot_voice_states(&gc).is_empty(),
        "GUILD_CREATE still lists the bot in voice: {gc}"
    );
    assert_eq!(gc["d"]["voice_states"][0]["user_id"], BOB.to_string());
    assert_eq!(fake.voice_channel_of(GUILD, BOT), None);
    assert!(fake.sessions().iter().all(|s| s.session_id != a_id));
    // B, still connected, was told; the new session was not.
    assert_left(&recv(&mut b).await, &a_id);
    nothing_pending(&mut c).await;

    // C joins with its own id.
    let vs = join(&mut c, VOICE).await;
    assert_eq!(vs["session_id"], c_id);
}

#[tokio::test]
async fn invalidated_sessions_take_their_voice_states_along() {
    let fake = setup().await;
    let (mut a, _, _) = session(&fake).await;
    join(&mut a, VOICE).await;
    assert_eq!(fake.invalidate_sessions(), 1);
    let inv = recv(&mut a).await;
    assert_eq!(inv["op"], 9);
    assert_eq!(fake.voice_channel_of(GUILD, BOT), None);
    let (_, _, gc) = session(&fake).await;
    assert!(bot_voice_states(&gc).is_empty());
}

/// (d) CHANNEL_DELETE and CHANNEL_UPDATE with Discord's shapes.
#[tokio::test]
async fn delete_channel_and_overwrites_dispatch_channel_events() {
    let fake = setup().await;
    let (mut a, _, gc) = session(&fake).await;
    let listed = gc["d"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| snowflake(&c["id"]) == Some(VOICE))
        .cloned()
        .unwrap();
    join(&mut a, VOICE).await;

    fake.delete_channel(GUILD, VOICE).unwrap();
    let del = recv(&mut a).await;
    assert_eq!(del["op"], 0);
    let d = channel_event(&del, "CHANNEL_DELETE", VOICE, 2, "Music");
    assert!(d["permission_overwrites"].is_array());
    assert_eq!(d["bitrate"], listed["bitrate"]);
    // Everyone who was in it leaves (users in id order: bob, then the bot).
    for user in [BOB, BOT] {
        let vs = recv(&mut a).await;
        assert_eq!(vs["t"], "VOICE_STATE_UPDATE");
        assert_eq!(vs["d"]["user_id"], user.to_string());
        assert!(vs["d"]["channel_id"].is_null());
        assert_eq!(vs["d"]["guild_id"], GUILD.to_string());
        assert_eq!(fake.voice_channel_of(GUILD, user), None);
    }
    nothing_pending(&mut a).await;
    assert!(fake.delete_channel(GUILD, VOICE).is_err());
    let c = reqwest::Client::new();
    let r = c
        .get(format!("{}/api/v10/channels/{VOICE}", fake.base_url()))
        .header("authorization", auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 10003);
    // A join to the deleted channel is ignored.
    send(&mut a, op4(Some(VOICE))).await;
    nothing_pending(&mut a).await;

    // The bot may no longer send messages in the text channel.
    let deny = bot_overwrite("0", &SEND_MESSAGES.to_string());
    fake.set_channel_overwrites(GUILD, TEXT, vec![deny])
        .unwrap();
    let upd = recv(&mut a).await;
    let d = channel_event(&upd, "CHANNEL_UPDATE", TEXT, 0, "general");
    assert_eq!(
        d["permission_overwrites"],
        json!([{"id": BOT.to_string(), "type": 1, "allow": "0", "deny": SEND_MESSAGES.to_string()}])
    );
    let r = post_message(&c, &fake, TEXT, json!({"content": "hi"})).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 50013);
    let bad = bot_overwrite("lots", "0");
    assert!(fake.set_channel_overwrites(GUILD, TEXT, vec![bad]).is_err());
    assert!(fake.set_channel_overwrites(GUILD, 42, vec![]).is_err());

    // The same over the control API.
    let ctl = format!("{}/control", fake.base_url());
    let r = c
        .post(format!("{ctl}/channel-overwrites"))
        .json(&json!({"guild_id": GUILD.to_string(), "channel_id": TEXT.to_string(), "permission_overwrites": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let upd = recv(&mut a).await;
    assert_eq!(upd["t"], "CHANNEL_UPDATE");
    assert_eq!(upd["d"]["permission_overwrites"], json!([]));
    join(&mut a, VOICE_2).await;
    let bv = get_json(&c, format!("{ctl}/guilds/{GUILD}/bot-voice")).await;
    assert_eq!(bv["channel_id"], VOICE_2.to_string());
    assert_eq!(
        bv["owner_session_id"],
        json!(fake.bot_voice_session_owner(GUILD).unwrap())
    );
    let r = c
        .post(format!("{ctl}/delete-channel"))
        .json(&json!({"guild_id": GUILD, "channel_id": VOICE_2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(recv(&mut a).await["t"], "CHANNEL_DELETE");
    assert!(recv(&mut a).await["d"]["channel_id"].is_null());
    let bv = get_json(&c, format!("{ctl}/guilds/{GUILD}/bot-voice")).await;
    assert_eq!(bv, json!({"channel_id": null, "owner_session_id": null}));
}

/// (e) Records name their connection and session; the fake counts its 4008 closes.
#[tokio::test]
async fn gateway_sent_records_and_rate_limit_counter() {
    let fake = setup().await;
    assert_eq!(fake.rate_limit_closes(), 0);

    let (mut a, a_id, _) = session(&fake).await;
    for _ in 0..5 {
        nothing_pending(&mut a).await;
    }
    let a_conn = fake.sessions()[0].connection.unwrap();
    let sent = fake.gateway_sent();
    assert_eq!(sent.len(), 6);
    assert!(sent.iter().all(|s| s.connection == a_conn));
    assert_eq!(sent[0].payload["op"], 2);
    assert_eq!(sent[0].session, None);
    assert!(sent[1..]
        .iter()
        .all(|s| s.session.as_deref() == Some(&a_id)));
    assert!(sent
        .windows(2)
        .all(|w| w[0].received_at_us <= w[1].received_at_us));
    assert_eq!(
        fake.max_sent_in_any_window(&SentBy::Connection(a_conn), SEND_WINDOW),
        6
    );
    assert_eq!(
        fake.max_sent_in_any_window(&SentBy::Session(a_id.clone()), SEND_WINDOW),
        5
    );
    assert_eq!(
        fake.max_sent_in_any_window(&SentBy::Connection(a_conn), Duration::ZERO),
        0
    );

    // Another connection floods: closed with 4008 and counted.
    let mut flooder = after_hello(&fake).await;
    flood(&mut flooder).await;
    assert_eq!(close_code(&mut flooder).await, 4008);
    assert_eq!(fake.rate_limit_closes(), 1);
    let flood_conn = fake.gateway_sent().last().unwrap().connection;
    assert_ne!(flood_conn, a_conn);
    assert_eq!(
        fake.max_sent_in_any_window(&SentBy::Connection(flood_conn), SEND_WINDOW),
        SEND_LIMIT + 1
    );
    assert_eq!(
        fake.max_sent_in_any_window(&SentBy::AnyConnection, SEND_WINDOW),
        SEND_LIMIT + 1
    );
    // The well-behaved connection stays under the limit.
    assert!(fake.max_sent_in_any_window(&SentBy::Connection(a_conn), SEND_WINDOW) <= SEND_LIMIT);

    // Over HTTP.
    let c = reqwest::Client::new();
    let ctl = format!("{}/control", fake.base_url());
    let get = |url: String| get_json(&c, url);
    assert_eq!(
        get(format!("{ctl}/gateway/rate-limit-closes")).await,
        json!({"closes": 1})
    );
    assert_eq!(
        get(format!("{ctl}/gateway-sent/max-in-window")).await,
        json!({"max": SEND_LIMIT + 1})
    );
    assert_eq!(
        get(format!(
            "{ctl}/gateway-sent/max-in-window?connection={a_conn}&window_ms=60000"
        ))
        .await,
        json!({"max": 6})
    );
    assert_eq!(
        get(format!("{ctl}/gateway-sent/max-in-window?session={a_id}")).await,
        json!({"max": 5})
    );
    let sent = get(format!("{ctl}/gateway-sent")).await;
    assert_eq!(sent[1]["session"], a_id);
    assert_eq!(sent[1]["connection"], a_conn);
    assert!(sent[1]["received_at_us"].is_u64());

    // Clearing the record forgets the counts (not the close counter).
    fake.clear_gateway_sent();
    assert_eq!(
        fake.max_sent_in_any_window(&SentBy::AnyConnection, SEND_WINDOW),
        0
    );
    assert_eq!(fake.rate_limit_closes(), 1);
}

// ----- voice channel user limits ----------------------------------------------------------

const ADMINS: u64 = 700_000_000_000_000_001;

/// [`guild`] with a user limit of 1 on Music (bob is in it: full) and 2 on Lounge (empty).
fn limited_guild() -> GuildSpec {
    let mut g = guild();
    g.channels[1].user_limit = 1;
    g.channels[2].user_limit = 2;
    g
}

/// The channel object of `id` in a GUILD_CREATE payload.
fn channel_in(gc: &Value, id: u64) -> &Value {
    gc["d"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| snowflake(&c["id"]) == Some(id))
        .unwrap()
}

#[tokio::test]
async fn a_full_voice_channel_ignores_the_bots_join_without_move_members() {
    let fake = fake().await;
    fake.add_guild(limited_guild()).unwrap();
    let (mut a, a_id, gc) = session(&fake).await;
    // The channel objects carry the limits (0 = none would be written as 0).
    assert_eq!(channel_in(&gc, VOICE)["user_limit"], 1);
    assert_eq!(channel_in(&gc, VOICE_2)["user_limit"], 2);
    assert!(channel_in(&gc, TEXT).get("user_limit").is_none());
    let http = reqwest::Client::new();
    let rest = http
        .get(format!("{}/api/v10/channels/{VOICE}", fake.base_url()))
        .header("authorization", auth())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(rest["user_limit"], 1);

    // Music is full (bob, limit 1): the op 4 is silently ignored.
    send(&mut a, op4(Some(VOICE))).await;
    nothing_pending(&mut a).await;
    assert_eq!(fake.voice_channel_of(GUILD, BOT), None);
    assert!(fake.voice_servers(GUILD).is_empty());

    // Lounge has room (0 of 2).
    let vs = join(&mut a, VOICE_2).await;
    assert_eq!(vs["session_id"], a_id);

    // A move into the full channel is ignored too: the bot stays where it is.
    send(&mut a, op4(Some(VOICE))).await;
    nothing_pending(&mut a).await;
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE_2));
    assert_eq!(fake.voice_servers(GUILD).len(), 1);

    // Alice joins Lounge: 1 other user of 2, the bot itself not counted, so a rejoin of
    // its own channel still works.
    fake.set_user_voice(GUILD, ALICE, Some(VOICE_2)).unwrap();
    recv_event(&mut a, "VOICE_STATE_UPDATE").await;
    join(&mut a, VOICE_2).await;

    // Raising Music's limit: CHANNEL_UPDATE with the whole channel, then the join works.
    fake.set_user_limit(GUILD, VOICE, 2).unwrap();
    let up = recv(&mut a).await;
    let d = channel_event(&up, "CHANNEL_UPDATE", VOICE, 2, "Music");
    assert_eq!(d["user_limit"], 2);
    assert_eq!(d["bitrate"], 64000);
    join(&mut a, VOICE).await;
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE));

    // 0 means no limit.
    fake.set_user_limit(GUILD, VOICE_2, 0).unwrap();
    assert_eq!(recv(&mut a).await["d"]["user_limit"], 0);

    // Discord's bounds: voice channels only, at most 99.
    assert!(fake.set_user_limit(GUILD, TEXT, 5).is_err());
    assert!(fake.set_user_limit(GUILD, VOICE, 100).is_err());
    assert!(fake.set_user_limit(GUILD, 42, 5).is_err());
    let mut bad = guild();
    bad.id = GUILD + 1;
    bad.channels[1].user_limit = 100;
    assert!(fake.add_guild(bad).is_err());
    nothing_pending(&mut a).await;
}

#[tokio::test]
async fn move_members_or_administrator_lets_the_bot_into_a_full_channel() {
    assert_eq!(MOVE_MEMBERS, 1 << 24);
    let fake = fake().await;
    let mut g = limited_guild();
    // MOVE_MEMBERS for the bot on Music only.
    g.channels[1].permission_overwrites = vec![bot_overwrite(&MOVE_MEMBERS.to_string(), "0")];
    fake.add_guild(g).unwrap();
    let (mut a, _, _) = session(&fake).await;
    join(&mut a, VOICE).await;
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE));

    // Without VIEW_CHANNEL + CONNECT the old rule still holds, limit or not.
    fake.set_channel_overwrites(
        GUILD,
        VOICE_2,
        vec![bot_overwrite("0", &(1u64 << 20).to_string())],
    )
    .unwrap();
    recv_event(&mut a, "CHANNEL_UPDATE").await;
    send(&mut a, op4(Some(VOICE_2))).await;
    nothing_pending(&mut a).await;
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE));

    // ADMINISTRATOR implies MOVE_MEMBERS.
    let fake = fake_admin().await;
    let (mut a, _, _) = session(&fake).await;
    join(&mut a, VOICE).await;
}

/// A fake whose guild has Music full and the bot in an ADMINISTRATOR role.
async fn fake_admin() -> FakeDiscord {
    let fake = fake().await;
    let mut g = limited_guild();
    g.roles = vec![RoleSpec {
        id: ADMINS,
        name: "admins".into(),
        permissions: ADMINISTRATOR.to_string(),
    }];
    g.members.push(encore_fakes::discord::MemberSpec {
        user_id: BOT,
        username: "Encore".into(),
        roles: vec![ADMINS],
    });
    fake.add_guild(g).unwrap();
    fake
}

// ----- voice server reallocation (endpoint: null) -----------------------------------------

/// `p` is a VOICE_SERVER_UPDATE for the guild; returns (token, endpoint or None).
fn voice_server(p: &Value) -> (String, Option<String>) {
    assert_eq!(p["t"], "VOICE_SERVER_UPDATE", "{p}");
    let d = p["d"].as_object().unwrap();
    assert_eq!(d["guild_id"], GUILD.to_string());
    // `endpoint` is present even when null, as Discord sends it.
    assert!(d.contains_key("endpoint"), "{p}");
    let token = d["token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    (token, d["endpoint"].as_str().map(str::to_string))
}

#[tokio::test]
async fn null_endpoint_first_then_the_real_voice_server_after_the_delay() {
    let fake = setup().await;
    let (mut a, _, _) = session(&fake).await;
    fake.set_voice_server_delay(GUILD, VoiceServerMode::NullThen(Duration::from_millis(300)))
        .unwrap();

    send(&mut a, op4(Some(VOICE))).await;
    assert_eq!(recv(&mut a).await["t"], "VOICE_STATE_UPDATE");
    let (interim, none) = voice_server(&recv(&mut a).await);
    assert_eq!(none, None);
    let (token, endpoint) = voice_server(&recv(&mut a).await);
    assert_ne!(token, interim);
    let endpoint = endpoint.unwrap();
    assert!(endpoint.ends_with(".discord.media:443"), "{endpoint}");

    let sent = fake.voice_servers(GUILD);
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0].token.as_str(), sent[0].endpoint.as_deref()),
        (interim.as_str(), None)
    );
    assert_eq!(sent[1].token, token);
    assert_eq!(sent[1].endpoint.as_deref(), Some(endpoint.as_str()));
    let gap = sent[1].sent_at_us - sent[0].sent_at_us;
    assert!(gap >= 300_000, "real server after {gap} µs");
    nothing_pending(&mut a).await;

    // Leaving before the real server arrives: it never comes.
    send(&mut a, op4(Some(VOICE_2))).await;
    assert_eq!(recv(&mut a).await["t"], "VOICE_STATE_UPDATE");
    assert_eq!(voice_server(&recv(&mut a).await).1, None);
    send(&mut a, op4(None)).await;
    assert_eq!(recv(&mut a).await["t"], "VOICE_STATE_UPDATE");
    tokio::time::sleep(Duration::from_millis(500)).await;
    nothing_pending(&mut a).await;
    assert_eq!(fake.voice_servers(GUILD).len(), 3);

    // Back to immediate: one VOICE_SERVER_UPDATE with an endpoint.
    fake.set_voice_server_delay(GUILD, VoiceServerMode::Immediate)
        .unwrap();
    send(&mut a, op4(Some(VOICE))).await;
    assert_eq!(recv(&mut a).await["t"], "VOICE_STATE_UPDATE");
    assert!(voice_server(&recv(&mut a).await).1.is_some());
    assert!(fake
        .set_voice_server_delay(GUILD + 1, VoiceServerMode::NullForever)
        .is_err());
}

#[tokio::test]
async fn null_forever_sends_only_the_null_endpoint() {
    let fake = setup().await;
    let (mut a, _, _) = session(&fake).await;
    fake.set_voice_server_delay(GUILD, VoiceServerMode::NullForever)
        .unwrap();
    send(&mut a, op4(Some(VOICE))).await;
    let vs = recv(&mut a).await;
    assert_eq!(vs["t"], "VOICE_STATE_UPDATE");
    assert_eq!(vs["d"]["channel_id"], VOICE.to_string());
    let (token, endpoint) = voice_server(&recv(&mut a).await);
    assert_eq!(endpoint, None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    nothing_pending(&mut a).await;
    let sent = fake.voice_servers(GUILD);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].token, token);
    assert_eq!(sent[0].endpoint, None);
    // The bot is in the channel all the same.
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE));
}

#[tokio::test]
async fn reallocating_the_voice_server_of_a_connected_bot() {
    let fake = setup().await;
    let (mut a, a_id, _) = session(&fake).await;
    // Not in voice: an error, nothing sent.
    assert!(fake
        .reallocate_voice_server(GUILD, Some(Duration::from_millis(10)))
        .is_err());
    join(&mut a, VOICE).await;
    let first = fake.voice_servers(GUILD)[0].clone();
    let first_endpoint = first.endpoint.clone().unwrap();

    fake.reallocate_voice_server(GUILD, Some(Duration::from_millis(200)))
        .unwrap();
    let (interim, none) = voice_server(&recv(&mut a).await);
    assert_eq!(none, None);
    assert_ne!(interim, first.token);
    let (token, endpoint) = voice_server(&recv(&mut a).await);
    assert_ne!(token, interim);
    assert_ne!(token, first.token);
    assert_ne!(endpoint.as_deref(), Some(first_endpoint.as_str()));
    assert!(endpoint.is_some());
    // The voice state did not change (no VOICE_STATE_UPDATE came).
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(VOICE));
    assert_eq!(fake.bot_voice_session_owner(GUILD), Some(a_id));
    let sent = fake.voice_servers(GUILD);
    assert_eq!(sent.len(), 3);
    assert!(sent[2].sent_at_us - sent[1].sent_at_us >= 200_000);

    // Without `then` only the null one.
    fake.reallocate_voice_server(GUILD, None).unwrap();
    assert_eq!(voice_server(&recv(&mut a).await).1, None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    nothing_pending(&mut a).await;

    // A reallocation superseded by a new join: only the join's server comes.
    fake.reallocate_voice_server(GUILD, Some(Duration::from_millis(300)))
        .unwrap();
    assert_eq!(voice_server(&recv(&mut a).await).1, None);
    join(&mut a, VOICE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    nothing_pending(&mut a).await;
    assert_eq!(fake.voice_servers(GUILD).len(), 6);
}

#[tokio::test]
async fn voice_limit_and_voice_server_control_routes() {
    let fake = setup().await;
    let (mut a, _, _) = session(&fake).await;
    let http = reqwest::Client::new();
    let base = fake.base_url();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}/control/{path}"))
            .body(body.to_string())
            .send()
    };

    let r = post(
        "user-limit",
        json!({"guild_id": GUILD.to_string(), "channel_id": VOICE.to_string(), "user_limit": 1}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(recv(&mut a).await["d"]["user_limit"], 1);
    let r = post(
        "user-limit",
        json!({"guild_id": GUILD.to_string(), "channel_id": TEXT.to_string(), "user_limit": 1}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    // Full now (bob): ignored.
    send(&mut a, op4(Some(VOICE))).await;
    nothing_pending(&mut a).await;

    let r = post(
        "voice-server-mode",
        json!({"guild_id": GUILD.to_string(), "mode": "null_then", "delay_ms": 100}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    for bad in [
        json!({"guild_id": GUILD.to_string(), "mode": "null_then"}),
        json!({"guild_id": GUILD.to_string(), "mode": "later"}),
    ] {
        assert_eq!(post("voice-server-mode", bad).await.unwrap().status(), 400);
    }
    send(&mut a, op4(Some(VOICE_2))).await;
    assert_eq!(recv(&mut a).await["t"], "VOICE_STATE_UPDATE");
    assert_eq!(voice_server(&recv(&mut a).await).1, None);
    assert!(voice_server(&recv(&mut a).await).1.is_some());

    let r = post(
        "reallocate-voice-server",
        json!({"guild_id": GUILD.to_string(), "then_ms": 50}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(voice_server(&recv(&mut a).await).1, None);
    assert!(voice_server(&recv(&mut a).await).1.is_some());

    let list = get_json(
        &http,
        format!("{base}/control/guilds/{GUILD}/voice-servers"),
    )
    .await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert!(list[0]["endpoint"].is_null());
    assert!(list[0]["token"].is_string());
    assert!(list[1]["endpoint"].is_string());
    assert!(list[1]["sent_at_us"].is_u64());

    send(&mut a, op4(None)).await;
    recv(&mut a).await;
    let r = post(
        "reallocate-voice-server",
        json!({"guild_id": GUILD.to_string()}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
}

// ----- with the fake Lavalink: what listeners hear (encore_fakes::listeners) -------------

/// A Lavalink client of `lavalink` after its `ready`: the websocket and the session id.
async fn lavalink_client(lavalink: &FakeLavalink) -> (Ws, String) {
    let mut req = lavalink.websocket_url().into_client_request().unwrap();
    let headers = req.headers_mut();
    headers.insert("Authorization", lavalink.password().parse().unwrap());
    headers.insert("User-Id", BOT.to_string().parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let ready = recv(&mut ws).await;
    assert_eq!(ready["op"], "ready");
    let session = ready["sessionId"].as_str().unwrap().to_string();
    (ws, session)
}

/// `PATCH /v4/sessions/{session}/players/{GUILD}` with `body`.
async fn patch_player(lavalink: &FakeLavalink, session: &str, body: Value) {
    let url = format!(
        "{}/v4/sessions/{session}/players/{GUILD}",
        lavalink.base_url()
    );
    let r = reqwest::Client::new()
        .patch(url)
        .header("Authorization", lavalink.password())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The `voice` object a bot gives Lavalink for its voice state `vs` and the guild's last
/// voice server.
fn lavalink_voice(discord: &FakeDiscord, vs: &Value) -> Value {
    let server = discord.voice_servers(GUILD).pop().unwrap();
    json!({
        "token": server.token,
        "endpoint": server.endpoint,
        "sessionId": vs["session_id"],
        "channelId": vs["channel_id"],
    })
}

#[tokio::test]
async fn listeners_hear_the_player_on_the_bots_voice_session_until_discord_ends_it() {
    let discord = setup().await;
    let lavalink = FakeLavalink::start(FakeLavalinkConfig::default())
        .await
        .unwrap();
    let (mut a, _, _) = session(&discord).await;
    let vs = join(&mut a, VOICE).await;
    let (mut node, node_session) = lavalink_client(&lavalink).await;
    assert_eq!(heard(&discord, &lavalink, GUILD), None, "nothing plays yet");

    let rick = lavalink.track("dQw4w9WgXcQ").unwrap();
    let voice = lavalink_voice(&discord, &vs);
    patch_player(
        &lavalink,
        &node_session,
        json!({"track": {"encoded": rick.encoded}, "voice": voice}),
    )
    .await;
    let h = heard(&discord, &lavalink, GUILD).expect("the player is heard");
    assert_eq!(h.title, rick.info.title);
    assert_eq!(h.lavalink_session, node_session);
    assert!(!close_ended_voice(&discord, &lavalink, GUILD));
    // Paused: silence.
    patch_player(&lavalink, &node_session, json!({"paused": true})).await;
    assert_eq!(heard(&discord, &lavalink, GUILD), None);
    patch_player(&lavalink, &node_session, json!({"paused": false})).await;
    assert!(heard(&discord, &lavalink, GUILD).is_some());

    // The gateway session that owns the voice state closes for good: Discord ends the voice
    // session. The fake Lavalink alone would play on; nobody hears it.
    close_with(a, CloseCode::Normal).await;
    assert_eq!(heard(&discord, &lavalink, GUILD), None);
    assert!(lavalink.player(&GUILD.to_string()).unwrap().playing);
    // Discord closes Lavalink's voice connection: 4014, once; the position stands still.
    assert!(close_ended_voice(&discord, &lavalink, GUILD));
    let p = lavalink.player(&GUILD.to_string()).unwrap();
    assert_eq!(
        p.voice_fault,
        VoiceFault::Disconnected {
            cure: Cure::NewVoiceSession
        }
    );
    assert!(!p.playing && !p.connected);
    let stopped = p.position;
    let closed = loop {
        let m = recv(&mut node).await;
        if m["type"] == "WebSocketClosedEvent" {
            break m;
        }
    };
    assert_eq!(closed["code"], VOICE_DISCONNECTED);
    assert_eq!(closed["byRemote"], true);
    assert_eq!(closed["guildId"], GUILD.to_string());
    assert!(
        !close_ended_voice(&discord, &lavalink, GUILD),
        "closed once"
    );

    // A new gateway session joins again: silent until Lavalink gets the new voice state, then
    // heard from where the music stopped.
    let (mut b, b_id, _) = session(&discord).await;
    let vs = join(&mut b, VOICE).await;
    assert_eq!(vs["session_id"], b_id);
    assert_eq!(heard(&discord, &lavalink, GUILD), None);
    assert!(!close_ended_voice(&discord, &lavalink, GUILD));
    let voice = lavalink_voice(&discord, &vs);
    patch_player(&lavalink, &node_session, json!({"voice": voice})).await;
    let back = heard(&discord, &lavalink, GUILD).expect("heard again");
    assert!(
        back.position_ms >= stopped && back.position_ms < stopped + 200,
        "back at {} after stopping at {stopped}",
        back.position_ms
    );
}
