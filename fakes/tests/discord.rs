//! The fake Discord against the published API v10 / gateway v10, over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    after_hello, auth, bot_overwrite, channel, close_code, connect, eventually, fake, fake_with,
    flood, get_json, identify, members, post_message, ready, recv, recv_event, resume, send,
    send_as_bot, ALICE, APP, BOB, BOT, GUILD, TEXT, TOKEN, VOICE, VOICE_2, WAIT,
};
use encore_fakes::discord::{
    ChannelKind, ChannelSpec, FakeDiscord, GuildSpec, Overwrite, RoleSpec, EPHEMERAL,
};
use futures::StreamExt;
use serde_json::{json, Value};

// Guild ids chosen so that (id >> 22) % 2 differs: GUILD on shard 0 and GUILD_B on
// shard 1 of 2.
const GUILD_B: u64 = GUILD + (1 << 22);
const LOCKED: u64 = 900_000_000_000_000_003;
const DJ_ROLE: u64 = 600_000_000_000_000_001;
/// GUILDS, GUILD_VOICE_STATES, GUILD_MESSAGES and MESSAGE_CONTENT.
const INTENTS: u64 = (1 << 0) | (1 << 7) | (1 << 9) | (1 << 15);

fn guild(id: u64, name: &str) -> GuildSpec {
    GuildSpec {
        id,
        name: name.into(),
        owner_id: ALICE,
        channels: vec![
            channel(ch(TEXT, id), "general", ChannelKind::Text),
            channel(ch(VOICE, id), "Music", ChannelKind::Voice),
            ChannelSpec {
                permission_overwrites: vec![Overwrite {
                    id,
                    kind: 0,
                    allow: "0".into(),
                    deny: (1u64 << 11).to_string(),
                }],
                ..channel(ch(LOCKED, id), "announcements", ChannelKind::Text)
            },
            channel(ch(VOICE_2, id), "Lounge", ChannelKind::Voice),
        ],
        roles: vec![RoleSpec {
            id: DJ_ROLE,
            name: "DJ".into(),
            permissions: "0".into(),
        }],
        members: members(vec![DJ_ROLE]),
        voice_states: vec![(BOB, ch(VOICE, id))],
    }
}

fn ch(base: u64, g: u64) -> u64 {
    base + g % 1000 * 10
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(WAIT).build().unwrap()
}

async fn put_commands(fake: &FakeDiscord, body: Value) -> reqwest::Response {
    let url = format!("{}/api/v10/applications/{APP}/commands", fake.base_url());
    send_as_bot(http().put(url), body).await
}

#[tokio::test]
async fn rest_requires_the_bot_token_and_answers_with_discord_shapes() {
    let fake = fake().await;
    fake.add_guild(guild(GUILD, "Encore HQ")).unwrap();
    let c = http();
    let api = format!("{}/api/v10", fake.base_url());

    let r = c.get(format!("{api}/users/@me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"code": 0, "message": "401: Unauthorized"})
    );
    let r = c
        .get(format!("{api}/users/@me"))
        .header("authorization", "Bot wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let me: Value = c
        .get(format!("{api}/users/@me"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], BOT.to_string());
    assert_eq!(me["bot"], true);

    let gw: Value = c
        .get(format!("{api}/gateway/bot"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(gw["url"], fake.gateway_url());
    assert_eq!(gw["shards"], 1);
    assert_eq!(gw["session_start_limit"]["max_concurrency"], 1);
    // GET /gateway needs no token.
    let r = c.get(format!("{api}/gateway")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let app: Value = c
        .get(format!("{api}/applications/@me"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(app["id"], APP.to_string());

    let r = c
        .get(format!("{api}/channels/123"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"code": 10003, "message": "Unknown Channel"})
    );

    let r = post_message(&c, &fake, ch(LOCKED, GUILD), json!({"content": "hi"})).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"code": 50013, "message": "Missing Permissions"})
    );

    let r = post_message(&c, &fake, ch(TEXT, GUILD), json!({})).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 50006);

    let m: Value = post_message(
        &c,
        &fake,
        ch(TEXT, GUILD),
        json!({"content": "Now playing", "embeds": [{"title": "Song"}]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(m["id"].is_string());
    assert_eq!(m["channel_id"], ch(TEXT, GUILD).to_string());
    assert_eq!(m["author"]["id"], BOT.to_string());
    assert_eq!(m["type"], 0);
    assert!(m["edited_timestamp"].is_null());
    let mid = m["id"].as_str().unwrap();
    let edited: Value = c
        .patch(format!("{api}/channels/{}/messages/{mid}", ch(TEXT, GUILD)))
        .header("authorization", auth())
        .json(&json!({"content": "Paused"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(edited["content"], "Paused");
    assert!(edited["edited_timestamp"].is_string());
    let msgs = fake.messages(ch(TEXT, GUILD));
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["content"], "Paused");
    assert_eq!(msgs[0]["embeds"][0]["title"], "Song");

    let member: Value = c
        .get(format!("{api}/guilds/{GUILD}/members/{BOB}"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(member["user"]["username"], "bob");
    assert_eq!(member["roles"], json!([DJ_ROLE.to_string()]));
    let roles: Value = c
        .get(format!("{api}/guilds/{GUILD}/roles"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(roles
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == json!(GUILD.to_string()) && r["name"] == "@everyone"));

    let reqs = fake.requests();
    assert!(reqs
        .iter()
        .any(|r| r.path == "/api/v10/users/@me" && r.status == 401));
    assert!(reqs
        .iter()
        .any(|r| r.headers.get("authorization") == Some(&auth())));
}

#[tokio::test]
async fn gateway_hello_identify_ready_guild_create_and_heartbeat() {
    let fake = fake().await;
    fake.add_guild(guild(GUILD, "Encore HQ")).unwrap();
    let mut ws = connect(&fake).await;
    let hello = recv(&mut ws).await;
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 45_000);

    send(&mut ws, json!({"op": 1, "d": null})).await;
    assert_eq!(recv(&mut ws).await["op"], 11);

    send(&mut ws, identify([0, 1], INTENTS)).await;
    let ready = recv(&mut ws).await;
    assert_eq!(ready["op"], 0);
    assert_eq!(ready["t"], "READY");
    assert_eq!(ready["s"], 1);
    let d = &ready["d"];
    assert_eq!(d["v"], 10);
    assert_eq!(d["user"]["id"], BOT.to_string());
    assert_eq!(
        d["guilds"],
        json!([{"id": GUILD.to_string(), "unavailable": true}])
    );
    assert!(d["session_id"].as_str().unwrap().len() >= 16);
    assert_eq!(d["resume_gateway_url"], fake.gateway_url());
    assert_eq!(d["shard"], json!([0, 1]));
    assert_eq!(d["application"]["id"], APP.to_string());

    let gc = recv(&mut ws).await;
    assert_eq!(gc["t"], "GUILD_CREATE");
    assert_eq!(gc["s"], 2);
    let g = &gc["d"];
    assert_eq!(g["id"], GUILD.to_string());
    assert_eq!(g["unavailable"], false);
    assert_eq!(g["member_count"], 3);
    assert_eq!(g["channels"].as_array().unwrap().len(), 4);
    assert_eq!(g["voice_states"][0]["user_id"], BOB.to_string());
    assert_eq!(
        g["voice_states"][0]["channel_id"],
        ch(VOICE, GUILD).to_string()
    );

    // A guild added later is dispatched live.
    fake.add_guild(guild(GUILD + 7, "Second")).unwrap();
    let gc = recv_event(&mut ws, "GUILD_CREATE").await;
    assert_eq!(gc["d"]["id"], (GUILD + 7).to_string());

    // The server can ask for a heartbeat.
    fake.request_heartbeat();
    assert_eq!(recv(&mut ws).await["op"], 1);

    let sent = fake.gateway_sent();
    let ops: Vec<u64> = sent
        .iter()
        .map(|s| s.payload["op"].as_u64().unwrap())
        .collect();
    assert_eq!(ops, vec![1, 2]);
    assert_eq!(
        sent[1].payload["d"]["intents"],
        identify([0, 1], INTENTS)["d"]["intents"]
    );
}

#[tokio::test]
async fn voice_state_update_from_the_bot_and_from_members() {
    let fake = fake().await;
    fake.add_guild(guild(GUILD, "Encore HQ")).unwrap();
    let (mut ws, _) = ready(&fake, [0, 1], INTENTS).await;
    recv_event(&mut ws, "GUILD_CREATE").await;

    send(
        &mut ws,
        json!({"op": 4, "d": {"guild_id": GUILD.to_string(), "channel_id": ch(VOICE, GUILD).to_string(), "self_mute": false, "self_deaf": true}}),
    )
    .await;
    let vs = recv(&mut ws).await;
    assert_eq!(vs["t"], "VOICE_STATE_UPDATE");
    assert_eq!(vs["d"]["user_id"], BOT.to_string());
    assert_eq!(vs["d"]["guild_id"], GUILD.to_string());
    assert_eq!(vs["d"]["channel_id"], ch(VOICE, GUILD).to_string());
    assert_eq!(vs["d"]["self_deaf"], true);
    let session = vs["d"]["session_id"].as_str().unwrap().to_string();
    assert!(!session.is_empty());
    let vsu = recv(&mut ws).await;
    assert_eq!(vsu["t"], "VOICE_SERVER_UPDATE");
    assert_eq!(vsu["d"]["guild_id"], GUILD.to_string());
    assert!(vsu["d"]["endpoint"]
        .as_str()
        .unwrap()
        .ends_with(".discord.media:443"));
    let token = vsu["d"]["token"].as_str().unwrap().to_string();
    assert_eq!(fake.voice_channel_of(GUILD, BOT), Some(ch(VOICE, GUILD)));

    // A moderator moves the bot: same voice session.
    fake.move_bot(GUILD, Some(ch(VOICE_2, GUILD))).unwrap();
    let moved = recv(&mut ws).await;
    assert_eq!(moved["t"], "VOICE_STATE_UPDATE");
    assert_eq!(moved["d"]["channel_id"], ch(VOICE_2, GUILD).to_string());
    assert_eq!(moved["d"]["session_id"], session);

    // A member joins.
    fake.set_user_voice(GUILD, ALICE, Some(ch(VOICE_2, GUILD)))
        .unwrap();
    let joined = recv(&mut ws).await;
    assert_eq!(joined["d"]["user_id"], ALICE.to_string());
    assert_eq!(joined["d"]["member"]["user"]["username"], "alice");

    // The bot leaves: a state with channel_id null and no voice server.
    send(
        &mut ws,
        json!({"op": 4, "d": {"guild_id": GUILD.to_string(), "channel_id": null, "self_mute": false, "self_deaf": false}}),
    )
    .await;
    let left = recv(&mut ws).await;
    assert_eq!(left["t"], "VOICE_STATE_UPDATE");
    assert!(left["d"]["channel_id"].is_null());
    assert_eq!(fake.voice_channel_of(GUILD, BOT), None);
    // Heartbeat ACK comes next, so nothing was queued in between.
    send(&mut ws, json!({"op": 1, "d": 5})).await;
    assert_eq!(recv(&mut ws).await["op"], 11);

    // Joining again: a fresh voice session and token.
    send(
        &mut ws,
        json!({"op": 4, "d": {"guild_id": GUILD.to_string(), "channel_id": ch(VOICE, GUILD).to_string(), "self_mute": false, "self_deaf": false}}),
    )
    .await;
    let vs2 = recv(&mut ws).await;
    // The voice session id is the gateway session's: the same on a rejoin from it.
    assert_eq!(vs2["d"]["session_id"], session);
    let vsu2 = recv(&mut ws).await;
    assert_ne!(vsu2["d"]["token"], token);

    // A moderator disconnects the bot.
    fake.move_bot(GUILD, None).unwrap();
    let kicked = recv(&mut ws).await;
    assert!(kicked["d"]["channel_id"].is_null());
    assert!(fake.move_bot(GUILD, None).is_err());
}

#[tokio::test]
async fn interactions_callback_double_ack_followup_and_edits() {
    let fake = fake().await;
    fake.add_guild(guild(GUILD, "Encore HQ")).unwrap();
    let (mut ws, _) = ready(&fake, [0, 1], INTENTS).await;
    recv_event(&mut ws, "GUILD_CREATE").await;

    // Not registered yet.
    assert!(fake
        .inject_command(GUILD, ch(TEXT, GUILD), BOB, "play", json!({}))
        .is_err());
    let r = put_commands(
        &fake,
        json!([{"name": "play", "description": "Play a song", "type": 1,
                "options": [{"type": 3, "name": "query", "description": "What", "required": true, "autocomplete": true}]}]),
    )
    .await;
    assert_eq!(r.status(), 200);

    let inj = fake
        .inject_command(
            GUILD,
            ch(TEXT, GUILD),
            BOB,
            "play",
            json!({"query": "never gonna"}),
        )
        .unwrap();
    let ic = recv_event(&mut ws, "INTERACTION_CREATE").await;
    let d = &ic["d"];
    assert_eq!(d["id"], inj.id);
    assert_eq!(d["token"], inj.token);
    assert_eq!(d["type"], 2);
    assert_eq!(d["version"], 1);
    assert_eq!(d["application_id"], APP.to_string());
    assert_eq!(d["guild_id"], GUILD.to_string());
    assert_eq!(d["channel_id"], ch(TEXT, GUILD).to_string());
    assert_eq!(d["channel"]["id"], ch(TEXT, GUILD).to_string());
    assert_eq!(d["data"]["name"], "play");
    assert_eq!(d["data"]["type"], 1);
    assert_eq!(
        d["data"]["options"],
        json!([{"name": "query", "type": 3, "value": "never gonna"}])
    );
    assert_eq!(d["member"]["user"]["id"], BOB.to_string());
    assert_eq!(d["member"]["roles"], json!([DJ_ROLE.to_string()]));
    assert!(d["member"]["permissions"].is_string());
    assert!(d["app_permissions"].is_string());
    assert_eq!(d["locale"], "en-US");
    assert_eq!(d["context"], 0);
    assert!(d["entitlements"].is_array());

    let c = http();
    let api = format!("{}/api/v10", fake.base_url());
    // Unknown interaction.
    let r = c
        .post(format!("{api}/interactions/1/nope/callback"))
        .json(&json!({"type": 4, "data": {"content": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 10062);

    let cb = format!("{api}/interactions/{}/{}/callback", inj.id, inj.token);
    let r = c.post(&cb).json(&json!({"type": 5})).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .post(&cb)
        .json(&json!({"type": 4, "data": {"content": "again"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"code": 40060, "message": "Interaction has already been acknowledged."})
    );

    let r = c
        .get(format!(
            "{api}/webhooks/{APP}/not-a-token/messages/@original"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"code": 50027, "message": "Invalid Webhook Token"})
    );
    let hook = format!("{api}/webhooks/{APP}/{}", inj.token);
    let original: Value = c
        .patch(format!("{hook}/messages/@original"))
        .json(&json!({"content": "Queued: Never Gonna Give You Up"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(original["content"], "Queued: Never Gonna Give You Up");
    assert_eq!(original["type"], 20);
    let fu: Value = c
        .post(&hook)
        .json(&json!({"content": "only you", "flags": 64}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fu["flags"], 64);
    let fu_id = fu["id"].as_str().unwrap();
    let r = c
        .patch(format!("{hook}/messages/{fu_id}"))
        .json(&json!({"content": "only you (edited)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = get_json(&c, format!("{hook}/messages/@original")).await;
    assert_eq!(got["id"], original["id"]);

    let rec = fake.interaction_responses(&inj.id).unwrap();
    assert_eq!(rec.callback, Some(json!({"type": 5})));
    assert_eq!(
        rec.original.as_ref().unwrap()["content"],
        "Queued: Never Gonna Give You Up"
    );
    assert_eq!(rec.followups.len(), 1);
    assert_eq!(rec.followups[0]["content"], "only you (edited)");
    let actions: Vec<&str> = rec
        .log
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "callback",
            "edit_original",
            "followup",
            "edit_followup",
            "get_original"
        ]
    );
    // The ephemeral follow-up is not visible in the channel; the original is.
    let visible = fake.messages(ch(TEXT, GUILD));
    assert_eq!(visible.len(), 1);
    assert_eq!(visible[0]["id"], original["id"]);

    // An ephemeral reply to an autocomplete-capable command; autocomplete itself.
    let auto = fake
        .inject_autocomplete(
            GUILD,
            ch(TEXT, GUILD),
            ALICE,
            "play",
            json!({"query": "nev"}),
        )
        .unwrap();
    let ic = recv_event(&mut ws, "INTERACTION_CREATE").await;
    assert_eq!(ic["d"]["type"], 4);
    assert_eq!(ic["d"]["data"]["options"][0]["focused"], true);
    let r = c
        .post(format!(
            "{api}/interactions/{}/{}/callback",
            auto.id, auto.token
        ))
        .json(&json!({"type": 4, "data": {"content": "wrong type"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(format!(
            "{api}/interactions/{}/{}/callback",
            auto.id, auto.token
        ))
        .json(&json!({"type": 8, "data": {"choices": [{"name": "Never", "value": "never"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // A button on the original message; UPDATE_MESSAGE edits it.
    let mid: u64 = original["id"].as_str().unwrap().parse().unwrap();
    let button = fake
        .inject_component(GUILD, ch(TEXT, GUILD), BOB, mid, "pause")
        .unwrap();
    let ic = recv_event(&mut ws, "INTERACTION_CREATE").await;
    assert_eq!(ic["d"]["type"], 3);
    assert_eq!(ic["d"]["data"]["custom_id"], "pause");
    assert_eq!(ic["d"]["data"]["component_type"], 2);
    assert_eq!(ic["d"]["message"]["id"], original["id"]);
    let r = c
        .post(format!(
            "{api}/interactions/{}/{}/callback",
            button.id, button.token
        ))
        .json(&json!({"type": 7, "data": {"content": "Paused"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(fake.messages(ch(TEXT, GUILD))[0]["content"], "Paused");

    // Ephemeral original response: recorded but not in the channel.
    let eph = fake
        .inject_command(GUILD, ch(TEXT, GUILD), ALICE, "play", json!({"query": "x"}))
        .unwrap();
    let r = c
        .post(format!(
            "{api}/interactions/{}/{}/callback?with_response=true",
            eph.id, eph.token
        ))
        .json(&json!({"type": 4, "data": {"content": "secret", "flags": 64}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cr: Value = r.json().await.unwrap();
    assert_eq!(cr["interaction"]["id"], eph.id);
    assert_eq!(cr["interaction"]["type"], 2);
    assert_eq!(cr["interaction"]["response_message_ephemeral"], true);
    assert_eq!(cr["resource"]["type"], 4);
    assert_eq!(cr["resource"]["message"]["content"], "secret");
    let rec = fake.interaction_responses(&eph.id).unwrap();
    assert_eq!(
        rec.original.unwrap()["flags"].as_u64().unwrap() & EPHEMERAL,
        EPHEMERAL
    );
    assert_eq!(fake.messages(ch(TEXT, GUILD)).len(), 1);
}

#[tokio::test]
async fn bulk_overwrite_keeps_ids_and_validates() {
    let fake = fake().await;
    fake.add_guild(guild(GUILD, "Encore HQ")).unwrap();
    let r = put_commands(
        &fake,
        json!([{"name": "ping", "description": "Pong"}, {"name": "play", "description": "Play"}]),
    )
    .await;
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first.as_array().unwrap().len(), 2);
    assert_eq!(first[0]["application_id"], APP.to_string());
    assert_eq!(first[0]["type"], 1);
    assert!(first[0]["id"].is_string());
    assert!(first[0]["version"].is_string());

    let second: Value = put_commands(&fake, json!([{"name": "ping", "description": "Pong!"}]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second[0]["id"], first[0]["id"]);
    assert_ne!(second[0]["version"], first[0]["version"]);
    assert_eq!(fake.registered_commands()["global"], second);

    let r = put_commands(&fake, json!([{"name": "Bad Name", "description": "x"}])).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], 50035);
    assert_eq!(e["message"], "Invalid Form Body");
    assert!(e["errors"]["0"]["name"]["_errors"].is_array());

    let c = http();
    let url = format!(
        "{}/api/v10/applications/{APP}/guilds/{GUILD}/commands",
        fake.base_url()
    );
    let g: Value = c
        .put(&url)
        .header("authorization", auth())
        .json(&json!([{"name": "dj", "description": "DJ only"}]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(g[0]["guild_id"], GUILD.to_string());
    let listed: Value = c
        .get(&url)
        .header("authorization", auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, g);
    assert_eq!(fake.registered_commands()["guilds"][GUILD.to_string()], g);
}

#[tokio::test]
async fn close_codes_auth_rate_limit_and_protocol_errors() {
    let fake = fake().await;

    let mut ws = after_hello(&fake).await;
    send(
        &mut ws,
        json!({"op": 2, "d": {"token": "Bot nope", "intents": 0, "properties": {}}}),
    )
    .await;
    assert_eq!(close_code(&mut ws).await, 4004);

    let mut ws = after_hello(&fake).await;
    send(
        &mut ws,
        json!({"op": 4, "d": {"guild_id": "1", "channel_id": null}}),
    )
    .await;
    assert_eq!(close_code(&mut ws).await, 4003);

    let mut ws = after_hello(&fake).await;
    send(&mut ws, json!({"op": 42, "d": null})).await;
    assert_eq!(close_code(&mut ws).await, 4001);

    let mut ws = after_hello(&fake).await;
    send(&mut ws, identify([2, 2], INTENTS)).await;
    assert_eq!(close_code(&mut ws).await, 4010);

    let (mut ws, _) = ready(&fake, [0, 1], INTENTS).await;
    send(&mut ws, identify([0, 1], INTENTS)).await;
    assert_eq!(close_code(&mut ws).await, 4005);

    // Discord's limit: 120 payloads per 60 s per connection.
    let mut ws = after_hello(&fake).await;
    flood(&mut ws).await;
    assert_eq!(close_code(&mut ws).await, 4008);
}

#[tokio::test]
async fn resume_replays_missed_events_and_rejects_unknown_sessions() {
    let fake = fake().await;
    fake.add_guild(guild(GUILD, "Encore HQ")).unwrap();
    let (mut ws, ready_p) = ready(&fake, [0, 1], INTENTS).await;
    let session = ready_p["d"]["session_id"].as_str().unwrap().to_string();
    let gc = recv_event(&mut ws, "GUILD_CREATE").await;
    let seq = gc["s"].as_u64().unwrap();

    // Connection lost without a close frame; events happen meanwhile.
    fake.drop_connections();
    while let Some(Ok(_)) = tokio::time::timeout(WAIT, ws.next()).await.unwrap() {}
    // Wait until the fake noticed.
    let deadline = tokio::time::Instant::now() + WAIT;
    while fake.sessions().iter().any(|s| s.connected) {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fake.set_user_voice(GUILD, ALICE, Some(ch(VOICE, GUILD)))
        .unwrap();
    fake.set_user_voice(GUILD, ALICE, None).unwrap();

    let mut ws = after_hello(&fake).await;
    send(&mut ws, resume(&session, seq)).await;
    let a = recv(&mut ws).await;
    assert_eq!(a["t"], "VOICE_STATE_UPDATE");
    assert_eq!(a["s"], seq + 1);
    assert_eq!(a["d"]["channel_id"], ch(VOICE, GUILD).to_string());
    let b = recv(&mut ws).await;
    assert_eq!(b["s"], seq + 2);
    assert!(b["d"]["channel_id"].is_null());
    let resumed = recv(&mut ws).await;
    assert_eq!(resumed["t"], "RESUMED");
    assert_eq!(resumed["s"], seq + 3);

    // Live events keep flowing on the resumed session.
    fake.set_user_voice(GUILD, BOB, None).unwrap();
    assert_eq!(recv(&mut ws).await["s"], seq + 4);

    let mut ws2 = after_hello(&fake).await;
    send(&mut ws2, resume("nope", 1)).await;
    let inv = recv(&mut ws2).await;
    assert_eq!(inv["op"], 9);
    assert_eq!(inv["d"], false);
}

#[tokio::test]
async fn two_shards_split_guilds_by_id() {
    let fake = fake_with(2).await;
    assert_eq!((GUILD >> 22) % 2, 0);
    assert_eq!((GUILD_B >> 22) % 2, 1);
    fake.add_guild(guild(GUILD, "Zero")).unwrap();
    fake.add_guild(guild(GUILD_B, "One")).unwrap();
    let (mut s0, r0) = ready(&fake, [0, 2], INTENTS).await;
    let (mut s1, r1) = ready(&fake, [1, 2], INTENTS).await;
    assert_eq!(r0["d"]["guilds"][0]["id"], GUILD.to_string());
    assert_eq!(r0["d"]["guilds"].as_array().unwrap().len(), 1);
    assert_eq!(r1["d"]["guilds"][0]["id"], GUILD_B.to_string());
    assert_eq!(r1["d"]["shard"], json!([1, 2]));
    assert_eq!(
        recv_event(&mut s0, "GUILD_CREATE").await["d"]["id"],
        GUILD.to_string()
    );
    assert_eq!(
        recv_event(&mut s1, "GUILD_CREATE").await["d"]["id"],
        GUILD_B.to_string()
    );
    // Events for a guild go to its shard only.
    fake.set_user_voice(GUILD_B, ALICE, Some(ch(VOICE, GUILD_B)))
        .unwrap();
    fake.set_user_voice(GUILD, ALICE, Some(ch(VOICE, GUILD)))
        .unwrap();
    let e1 = recv(&mut s1).await;
    assert_eq!(e1["d"]["guild_id"], GUILD_B.to_string());
    let e0 = recv(&mut s0).await;
    assert_eq!(e0["d"]["guild_id"], GUILD.to_string());
    assert_eq!(fake.sessions().len(), 2);
}

#[tokio::test]
async fn control_api_drives_a_scenario_over_http() {
    let fake = fake().await;
    let c = http();
    let ctl = format!("{}/control", fake.base_url());
    let r = c
        .post(format!("{ctl}/guilds"))
        .json(&json!({
            "id": GUILD.to_string(), "name": "HQ", "owner_id": ALICE.to_string(),
            "channels": [{"id": ch(TEXT, GUILD).to_string(), "name": "general", "kind": "text"},
                         {"id": ch(VOICE, GUILD).to_string(), "name": "Music", "kind": "voice"}],
            "members": [{"user_id": ALICE.to_string(), "username": "alice"}],
            "voice_states": [[ALICE.to_string(), ch(VOICE, GUILD).to_string()]],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (mut ws, _) = ready(&fake, [0, 1], INTENTS).await;
    let gc = recv_event(&mut ws, "GUILD_CREATE").await;
    assert_eq!(gc["d"]["voice_states"][0]["user_id"], ALICE.to_string());

    put_commands(&fake, json!([{"name": "ping", "description": "Pong"}])).await;
    let inj: Value = c
        .post(format!("{ctl}/inject/command"))
        .json(
            &json!({"guild_id": GUILD.to_string(), "channel_id": ch(TEXT, GUILD).to_string(),
                      "user_id": ALICE.to_string(), "name": "ping"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ic = recv_event(&mut ws, "INTERACTION_CREATE").await;
    assert_eq!(ic["d"]["id"], inj["id"]);
    let r = c
        .post(format!(
            "{}/api/v10/interactions/{}/{}/callback",
            fake.base_url(),
            inj["id"].as_str().unwrap(),
            inj["token"].as_str().unwrap()
        ))
        .json(&json!({"type": 4, "data": {"content": "Pong!"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let rec = get_json(
        &c,
        format!("{ctl}/interactions/{}", inj["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(rec["original"]["content"], "Pong!");
    let msgs = get_json(&c, format!("{ctl}/channels/{}/messages", ch(TEXT, GUILD))).await;
    assert_eq!(msgs[0]["content"], "Pong!");
    let sent = get_json(&c, format!("{ctl}/gateway-sent")).await;
    assert_eq!(sent[0]["payload"]["op"], 2);
    let cmds = get_json(&c, format!("{ctl}/commands")).await;
    assert_eq!(cmds["global"][0]["name"], "ping");
    let r = c
        .post(format!("{ctl}/voice"))
        .json(&json!({"guild_id": GUILD.to_string(), "user_id": ALICE.to_string(), "channel_id": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let left = recv_event(&mut ws, "VOICE_STATE_UPDATE").await;
    assert!(left["d"]["channel_id"].is_null());
    let reqs = get_json(&c, format!("{ctl}/requests")).await;
    assert!(reqs
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["method"] == "PUT" && r["status"] == 200));
}

type PoiseError = Box<dyn std::error::Error + Send + Sync>;

/// Replies "Pong!".
#[poise::command(slash_command)]
async fn ping(ctx: poise::Context<'_, (), PoiseError>) -> Result<(), PoiseError> {
    ctx.say("Pong!").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_serenity_and_poise_connect_register_and_answer() {
    use serenity::all::{ClientBuilder, GatewayIntents, HttpBuilder};

    let fake = fake().await;
    fake.add_guild(guild(GUILD, "Encore HQ")).unwrap();
    let http = HttpBuilder::new(TOKEN)
        .proxy(fake.base_url())
        .ratelimiter_disabled(true)
        .build();
    let framework = poise::Framework::<(), PoiseError>::builder()
        .options(poise::FrameworkOptions {
            commands: vec![ping()],
            initialize_owners: false,
            ..Default::default()
        })
        .setup(|ctx, _ready, framework| {
            Box::pin(async move {
                poise::builtins::register_globally(ctx, &framework.options().commands).await?;
                Ok(())
            })
        })
        .build();
    let intents = GatewayIntents::GUILDS | GatewayIntents::GUILD_VOICE_STATES;
    let mut client = ClientBuilder::new_with_http(http, intents)
        .framework(framework)
        .await
        .unwrap();
    let shards = client.shard_manager.clone();
    let run = tokio::spawn(async move { client.start().await });

    let cmds = eventually("/ping registered", Duration::from_secs(60), || {
        let c = fake.registered_commands();
        (c["global"].as_array().is_some_and(|a| !a.is_empty())).then_some(c)
    })
    .await;
    assert_eq!(cmds["global"][0]["name"], "ping");
    assert_eq!(cmds["global"][0]["description"], "Replies \"Pong!\".");

    let inj = fake
        .inject_command(GUILD, ch(TEXT, GUILD), BOB, "ping", json!([]))
        .unwrap();
    let rec = eventually("the bot answered", Duration::from_secs(60), || {
        fake.interaction_responses(&inj.id)
            .filter(|r| r.callback.is_some())
    })
    .await;
    assert_eq!(rec.callback.as_ref().unwrap()["type"], 4);
    assert_eq!(rec.original.as_ref().unwrap()["content"], "Pong!");
    assert_eq!(fake.messages(ch(TEXT, GUILD))[0]["content"], "Pong!");

    let sent = fake.gateway_sent();
    let identify = sent.iter().find(|s| s.payload["op"] == 2).unwrap();
    assert_eq!(identify.payload["d"]["intents"], intents.bits());
    assert_eq!(identify.payload["d"]["shard"], json!([0, 1]));
    let reqs = fake.requests();
    assert!(reqs
        .iter()
        .any(|r| r.method == "PUT" && r.path == format!("/api/v10/applications/{APP}/commands")));
    assert!(reqs.iter().all(|r| r.status < 400), "{reqs:#?}");

    shards.shutdown_all().await;
    let _ = tokio::time::timeout(WAIT, run).await;
}

#[tokio::test]
async fn op4_without_connect_permission_is_ignored() {
    let fake = fake().await;
    let mut spec = guild(GUILD, "Encore HQ");
    spec.channels[1]
        .permission_overwrites
        .push(bot_overwrite("0", &(1u64 << 20).to_string()));
    fake.add_guild(spec).unwrap();
    let (mut ws, _) = ready(&fake, [0, 1], INTENTS).await;
    recv_event(&mut ws, "GUILD_CREATE").await;
    send(
        &mut ws,
        json!({"op": 4, "d": {"guild_id": GUILD.to_string(), "channel_id": ch(VOICE, GUILD).to_string(), "self_mute": false, "self_deaf": false}}),
    )
    .await;
    // Nothing is dispatched: the heartbeat ACK is the next payload.
    send(&mut ws, json!({"op": 1, "d": 3})).await;
    assert_eq!(recv(&mut ws).await["op"], 11);
    assert_eq!(fake.voice_channel_of(GUILD, BOT), None);
    // The other voice channel is allowed.
    send(
        &mut ws,
        json!({"op": 4, "d": {"guild_id": GUILD.to_string(), "channel_id": ch(VOICE_2, GUILD).to_string(), "self_mute": false, "self_deaf": false}}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["t"], "VOICE_STATE_UPDATE");
    assert_eq!(recv(&mut ws).await["t"], "VOICE_SERVER_UPDATE");
}

#[tokio::test]
async fn an_outage_answers_cloudflare_502_refuses_the_gateway_then_ends() {
    let fake = fake().await;
    let c = http();
    let api = format!("{}/api/v10", fake.base_url());
    let (mut ws, _) = ready(&fake, [0, 1], INTENTS).await;

    assert_eq!(fake.go_down_for(Duration::from_millis(1500)), 1);
    assert!(fake.is_down());
    // The open connection ends without a close frame.
    let end = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    assert!(
        !matches!(
            end,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(_))))
        ),
        "{end:?}"
    );
    // REST: Cloudflare's 502 page, not Discord's JSON, even for a valid token.
    let r = c
        .get(format!("{api}/users/@me"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["server"], "cloudflare");
    assert!(r.headers().get("x-ratelimit-bucket").is_none());
    assert!(r.text().await.unwrap().contains("502 Bad Gateway"));
    let r = c
        .get(format!("{api}/gateway/bot"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    // The gateway refuses the upgrade.
    let e = tokio_tungstenite::connect_async(format!("{}?v=10&encoding=json", fake.gateway_url()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 502),
        "{e:?}"
    );
    // The control API still answers, over HTTP too.
    let down = get_json(&c, format!("{}/control/outage", fake.base_url())).await;
    assert_eq!(down["down"], true);
    // The outage is recorded as Discord saw it: requests answered 502.
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path == "/api/v10/users/@me" && r.status == 502));

    eventually("the outage ends", WAIT, || (!fake.is_down()).then_some(())).await;
    let r = c
        .get(format!("{api}/users/@me"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_ws, ready_event) = ready(&fake, [0, 1], INTENTS).await;
    assert_eq!(ready_event["t"], "READY");

    // The same over HTTP: POST /control/outage {"ms": n}.
    let r: Value = c
        .post(format!("{}/control/outage", fake.base_url()))
        .body(r#"{"ms": 60000}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ok"], true);
    assert!(fake.is_down());
    let r = c
        .get(format!("{api}/users/@me"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn a_token_reset_closes_the_gateway_with_4004_and_rest_answers_401() {
    let fake = fake().await;
    let c = http();
    let api = format!("{}/api/v10", fake.base_url());
    let (mut ws, ready_event) = ready(&fake, [0, 1], INTENTS).await;
    let session = ready_event["d"]["session_id"].as_str().unwrap().to_string();

    assert_eq!(fake.reset_token("MTEw.new.token"), 1);
    assert_eq!(close_code(&mut ws).await, 4004);
    let r = c
        .get(format!("{api}/users/@me"))
        .header("authorization", auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Neither IDENTIFY nor RESUME with the old token gets in.
    let mut ws = after_hello(&fake).await;
    send(&mut ws, resume(&session, 1)).await;
    assert_eq!(close_code(&mut ws).await, 4004);
    let mut ws = after_hello(&fake).await;
    send(&mut ws, identify([0, 1], INTENTS)).await;
    assert_eq!(close_code(&mut ws).await, 4004);
    // The new token works.
    let r = c
        .get(format!("{api}/users/@me"))
        .header("authorization", "Bot MTEw.new.token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_shard_with_more_guilds_than_allowed_is_closed_with_4011() {
    let fake = fake().await;
    fake.add_guild(guild(GUILD, "Encore HQ")).unwrap();
    fake.add_guild(guild(GUILD + (1 << 22), "Second")).unwrap();
    fake.set_max_guilds_per_shard(1);
    // Both guilds on one shard: sharding required.
    let mut ws = after_hello(&fake).await;
    send(&mut ws, identify([0, 1], INTENTS)).await;
    assert_eq!(close_code(&mut ws).await, 4011);
    // Two shards hold one each.
    let (_ws, ready0) = ready(&fake, [0, 2], INTENTS).await;
    assert_eq!(ready0["d"]["guilds"].as_array().unwrap().len(), 1);
    fake.set_max_guilds_per_shard(encore_fakes::discord::MAX_GUILDS_PER_SHARD);
    let (_ws, ready) = ready(&fake, [0, 1], INTENTS).await;
    assert_eq!(ready["d"]["guilds"].as_array().unwrap().len(), 2);
}
