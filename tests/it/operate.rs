//! Operating Encore: several processes splitting the shards, the health and metrics listener,
//! JSON logs. The real binary against the fakes.

use std::time::Duration;

use encore::domain::{shard_of, PlayerSnapshot};
use encore_fakes::discord::GatewaySent;
use serde_json::{json, Value};

use crate::harness::{
    callbacks, catalogue_track, eventually, eventually_async, every_guild_playing, guild_spec,
    log_has, play_through_the_bot, saved_small, seed, small_guild, small_guild_id, text_of, Bot,
    Rig, Storage, BOB, GUILD, TEXT, TOKEN,
};

/// The log's JSON lines (`LOG_FORMAT=json`, which the rig sets).
fn log_lines(bot: &Bot) -> Vec<Value> {
    bot.log_text()
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object: {l}: {e}"))
        })
        .collect()
}

/// The guild a JSON log line is about: its own `guild` field or its span's.
fn guild_of(line: &Value) -> Option<u64> {
    let id = |v: &Value| v.as_u64().or_else(|| v.as_str()?.parse().ok());
    id(&line["guild"]).or_else(|| id(&line["span"]["guild"]))
}

/// Every log line with this message (fields are flattened into the line).
fn logged(bot: &Bot, message: &str) -> Vec<Value> {
    log_lines(bot)
        .into_iter()
        .filter(|l| l["message"] == message)
        .collect()
}

/// Requests the fake Lavalink got about any of `guilds`' players.
fn player_requests(rig: &Rig, guilds: &[u64]) -> usize {
    rig.lavalink
        .requests()
        .into_iter()
        .filter(|r| {
            guilds
                .iter()
                .any(|g| r.path.ends_with(&format!("/players/{g}")))
        })
        .count()
}

/// The guild of a voice command (op 4), with the shard it was sent on.
fn voice_command(s: &GatewaySent) -> Option<(u64, [u64; 2])> {
    if s.payload["op"] != 4 {
        return None;
    }
    let g = &s.payload["d"]["guild_id"];
    Some((g.as_u64().or_else(|| g.as_str()?.parse().ok())?, s.shard?))
}

/// Voice commands (op 4) sent to the fake Discord for any of `guilds`.
fn voice_commands(rig: &Rig, guilds: &[u64]) -> usize {
    rig.discord
        .gateway_sent()
        .iter()
        .filter_map(voice_command)
        .filter(|(g, _)| guilds.contains(g))
        .count()
}

/// Restore PATCHes (those carrying a voice state) sent for `guilds`.
fn voice_patches(rig: &Rig, guilds: &[u64]) -> usize {
    guilds
        .iter()
        .map(|g| {
            rig.patches(*g)
                .iter()
                .filter(|b| b.get("voice").is_some())
                .count()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_with_disjoint_shards_each_restore_only_their_own_guilds() {
    let ns: Vec<u64> = (40..46).collect();
    let ids: Vec<u64> = ns.iter().map(|n| small_guild_id(*n)).collect();
    let on = |shard: u32| -> Vec<u64> {
        ids.iter()
            .copied()
            .filter(|g| shard_of(*g, 2) == shard)
            .collect()
    };
    let (zero, one) = (on(0), on(1));
    assert_eq!((zero.len(), one.len()), (3, 3), "guilds on both shards");
    // MongoDB is the store processes share (SQLite only without a server, outside scripts/test.sh).
    let rig = Rig::with_shards(
        ns.iter().map(|n| small_guild(*n, 1)).collect(),
        Rig::mongo_storage(),
        2,
    )
    .await;
    let track = catalogue_track(&rig.lavalink, 180_000, 0);
    let players: Vec<PlayerSnapshot> = ns
        .iter()
        .map(|n| saved_small(*n, &track, vec![track.clone()], 5_000, false))
        .collect();
    seed(&rig, &players, &[]).await;

    let env_a = [("SHARD_COUNT", "2"), ("SHARD_IDS", "0")];
    let env_b = [("SHARD_COUNT", "2"), ("SHARD_IDS", "1")];
    let mut a = rig.spawn(&env_a);
    every_guild_playing(&rig, &zero, Duration::from_secs(30)).await;
    eventually("A's restore", Duration::from_secs(20), || {
        log_has(&a, "restore finished").then_some(())
    })
    .await;
    // A restored exactly its own shard's guilds and never touched the others.
    assert_eq!(logged(&a, "restoring saved players")[0]["guilds"], 3);
    assert_eq!(player_requests(&rig, &one), 0);
    assert_eq!(voice_commands(&rig, &one), 0);
    // It runs only shard 0.
    let shards: Vec<[u64; 2]> = rig.discord.sessions().iter().map(|s| s.shard).collect();
    assert_eq!(shards, vec![[0, 2]]);

    let b = rig.spawn(&env_b);
    every_guild_playing(&rig, &one, Duration::from_secs(30)).await;
    eventually("B's restore", Duration::from_secs(20), || {
        log_has(&b, "restore finished").then_some(())
    })
    .await;
    assert_eq!(logged(&b, "restoring saved players")[0]["guilds"], 3);
    // LOG_FORMAT=json: one object per line, and what concerns a guild carries its id.
    for (bot, guilds) in [(&a, &zero), (&b, &one)] {
        for g in guilds {
            assert!(
                log_lines(bot).iter().any(|l| guild_of(l) == Some(*g)),
                "no log line names guild {g}"
            );
        }
    }
    // One voice join per guild, each by its own shard's process.
    for (g, shard) in rig.discord.gateway_sent().iter().filter_map(voice_command) {
        assert_eq!(shard, [u64::from(shard_of(g, 2)), 2], "op 4 for {g}");
    }
    assert_eq!(voice_commands(&rig, &ids), 6);
    // The commands are registered once, by the process that runs shard 0.
    let registrations = rig
        .discord
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/commands"))
        .count();
    assert_eq!(registrations, 1);
    // Each process owns its own lease, so they never wait for each other.
    let store = rig.storage.open().await;
    for name in ["encore:shards-0-0-of-2", "encore:shards-1-1-of-2"] {
        let lease = store.load_lease(name).await.unwrap().expect(name);
        let body: Value = serde_json::from_str(&lease.body).unwrap();
        assert!(body["owner"].is_object(), "{name}: {body}");
    }
    assert_eq!(store.load_lease("encore").await.unwrap(), None);
    // Commands in a guild of shard 1 are answered once, by B (asked by server 41's listener).
    assert_eq!(one[0], small_guild_id(41));
    let asked = rig
        .discord
        .inject_command(
            one[0],
            text_of(one[0]),
            700_000_000_000_000_000 + 4_100,
            "status",
            json!({}),
        )
        .unwrap()
        .id;
    let answer = eventually("the answer", Duration::from_secs(10), || {
        rig.discord.interaction_responses(&asked)?.callback
    })
    .await;
    assert!(
        answer
            .to_string()
            .contains("Shard: 1 of 2 (this process runs shard 1 of 2)"),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(callbacks(&rig, &asked), 1);

    // Restarting A, gracefully and then with kill -9, leaves B's players alone.
    let b_players = |rig: &Rig| -> Vec<(String, u64)> {
        one.iter()
            .map(|g| {
                let p = rig.player(*g).expect("B's player");
                assert!(p.playing, "{p:?}");
                (p.session_id, p.position)
            })
            .collect()
    };
    let before = b_players(&rig);
    let (b_requests, b_voice) = (player_requests(&rig, &one), voice_commands(&rig, &one));
    for graceful in [true, false] {
        let restored_before = voice_patches(&rig, &zero);
        if graceful {
            assert_eq!(a.terminate(), Some(0));
        } else {
            a.kill();
        }
        a = rig.spawn(&env_a);
        eventually("A's guilds restored again", Duration::from_secs(30), || {
            (voice_patches(&rig, &zero) >= restored_before + zero.len()).then_some(())
        })
        .await;
        every_guild_playing(&rig, &zero, Duration::from_secs(10)).await;
    }
    let after = b_players(&rig);
    for ((s0, p0), (s1, p1)) in before.iter().zip(&after) {
        assert_eq!(s0, s1, "B's Lavalink session is the same");
        assert!(p1 > p0, "B's tracks played on: {p0} → {p1}");
    }
    assert_eq!(
        player_requests(&rig, &one),
        b_requests,
        "nothing sent for B's players"
    );
    assert_eq!(
        voice_commands(&rig, &one),
        b_voice,
        "no voice command for B's guilds"
    );
    assert_eq!(
        logged(&b, "restoring saved players").len(),
        1,
        "B restored once"
    );
    drop((a, b));
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` on the health listener: status, content type, body (None while nothing listens).
async fn get(port: u16, path: &str) -> Option<(u16, String, String)> {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    Some((status, kind, r.text().await.ok()?))
}

/// Polls `/readyz` until its status is `status`; returns the body.
async fn readyz_until(port: u16, status: u16, within: Duration, what: &str) -> String {
    let what = format!("{what}: /readyz never answered {status}");
    eventually_async(&what, within, || async move {
        match get(port, "/readyz").await {
            Some((s, _, body)) if s == status => Some(body),
            _ => None,
        }
    })
    .await
}

/// The value of the sample `name{labels}` (or `name` without labels) in a metrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_health_listener_reports_liveness_readiness_and_metrics() {
    let rig = Rig::new(vec![small_guild(60, 1)], None).await;
    let track = catalogue_track(&rig.lavalink, 180_000, 0);
    seed(
        &rig,
        &[saved_small(
            60,
            &track,
            vec![track.clone(); 2],
            2_000,
            false,
        )],
        &[],
    )
    .await;
    let port = free_port();
    let port_text = port.to_string();
    let mut bot = rig.spawn(&[
        ("HEALTH_PORT", port_text.as_str()),
        ("AUTOSAVE_INTERVAL", "1s"),
    ]);

    // Alive as soon as it listens; ready once Discord, Lavalink and the store are.
    let alive = first_answer(port, "/healthz").await;
    assert_eq!(alive.0, 200);
    assert_eq!(alive.2, "ok\n");
    let body = readyz_until(port, 200, Duration::from_secs(30), "step 1").await;
    assert!(body.starts_with("ready\n"), "{body}");
    assert!(
        body.contains("ok discord: shards 0-0 of 1 connected"),
        "{body}"
    );
    assert!(
        body.contains("ok lavalink: 1 of 1 node(s) up (node-1)"),
        "{body}"
    );
    assert!(body.contains("ok store: sqlite accepts writes"), "{body}");

    // Metrics, once the saved player is back and an autosave has run.
    every_guild_playing(&rig, &[small_guild_id(60)], Duration::from_secs(20)).await;
    // A heartbeat round trip gives the shard a latency.
    rig.discord.request_heartbeat();
    let mut text = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let (status, kind, t) = get(port, "/metrics").await.unwrap();
        assert_eq!(status, 200);
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        text = t;
        let ready = sample(&text, "encore_autosave_tick_seconds_count").unwrap_or(0.0) >= 1.0
            && sample(&text, "encore_lavalink_node_players{node=\"node-1\"}").is_some()
            && sample(&text, "encore_gateway_shard_latency_seconds{shard=\"0\"}").is_some();
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
    for (series, want) in [
        ("encore_players{state=\"playing\"}", 1.0),
        ("encore_players{state=\"paused\"}", 0.0),
        ("encore_queued_tracks", 2.0),
        ("encore_longest_queue_tracks", 2.0),
        ("encore_restores_total{outcome=\"playing\"}", 1.0),
        ("encore_restores_total{outcome=\"failed\"}", 0.0),
        ("encore_lavalink_nodes_up", 1.0),
        ("encore_lavalink_node_up{node=\"node-1\"}", 1.0),
        ("encore_gateway_commands_sent_total{shard=\"0\"}", 1.0),
        ("encore_gateway_shard_connected{shard=\"0\"}", 1.0),
        ("encore_lease_owner", 1.0),
        ("encore_autosave_failures_total", 0.0),
    ] {
        assert_eq!(sample(&text, series), Some(want), "{series} in:\n{text}");
    }
    assert!(sample(&text, "encore_autosave_tick_seconds_count").unwrap() >= 1.0);
    assert!(sample(&text, "encore_store_operation_seconds_count{op=\"save\"}").unwrap() >= 1.0);
    assert!(
        sample(
            &text,
            "encore_store_operation_seconds_count{op=\"load_all\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert!(sample(&text, "encore_gateway_shard_latency_seconds{shard=\"0\"}").is_some());
    for family in [
        "encore_lavalink_node_lavalink_load",
        "encore_lavalink_node_system_load",
        "encore_lavalink_node_memory_used_bytes",
        "encore_lavalink_node_playing_players",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} "))
                && text.contains(&format!("{family}{{node=\"node-1\"}} ")),
            "{family} in:\n{text}"
        );
    }

    // Another process holds the SQLite file: the store takes no write, so not ready.
    let Storage::Sqlite(path) = &rig.storage else {
        unreachable!()
    };
    let blocker = rusqlite::Connection::open(path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let body = readyz_until(port, 503, Duration::from_secs(20), "step 2").await;
    assert!(
        body.starts_with("not ready: store: sqlite did not accept a write within 3 s"),
        "{body}"
    );
    assert!(
        body.contains("ok discord:") && body.contains("ok lavalink:"),
        "{body}"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    readyz_until(port, 200, Duration::from_secs(20), "step 3").await;

    // Lavalink unreachable: not ready, and the metrics say so.
    rig.lavalink.refuse_connections_for(Duration::from_secs(6));
    rig.lavalink.drop_sockets();
    let body = readyz_until(port, 503, Duration::from_secs(10), "step 4").await;
    assert!(
        body.starts_with("not ready: lavalink: none of the 1 node(s) is up"),
        "{body}"
    );
    let text = get(port, "/metrics").await.unwrap().2;
    assert_eq!(sample(&text, "encore_lavalink_nodes_up"), Some(0.0));
    assert_eq!(
        sample(&text, "encore_lavalink_node_up{node=\"node-1\"}"),
        Some(0.0)
    );
    readyz_until(port, 200, Duration::from_secs(30), "step 5").await;

    // Only these three paths, only GET.
    assert_eq!(get(port, "/").await.unwrap().0, 404);
    let post = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 405);

    // Discord refuses the token (the gateway closes with 4004): the process stops with exit 1
    // rather than answering on with no Discord client, as a zombie nobody restarts.
    rig.discord.close_connections(4004, "Authentication failed");
    let code = eventually("the process exits", Duration::from_secs(15), || {
        bot.exit_code()
    })
    .await;
    assert_eq!(code, 1, "{}", bot.log_text());
    drop(bot);
}

/// Polls `path` until the listener answers.
async fn first_answer(port: u16, path: &str) -> (u16, String, String) {
    eventually_async(
        "nothing listens on HEALTH_PORT",
        Duration::from_secs(20),
        || get(port, path),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_health_port_in_use_stops_start_up_with_a_clear_error() {
    let rig = Rig::new(vec![small_guild(61, 0)], None).await;
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut bot = rig.spawn(&[("HEALTH_PORT", port.as_str())]);
    let code = eventually("the exit", Duration::from_secs(20), || bot.exit_code()).await;
    assert_eq!(code, 2);
    let log = bot.log_text();
    assert!(
        log.contains(&format!(
            "HEALTH_PORT is invalid: cannot listen on port {port}"
        )),
        "{log}"
    );
    assert!(!log.contains(TOKEN), "no secret in the log");
}

/// A newer instance that fails while starting (here: its `HEALTH_PORT` is taken) stops with the
/// operator's one-line error and never asks the running owner for the lease: the owner keeps
/// playing and answering (before, it handed over to the dead process and went silent).
#[tokio::test(flavor = "multi_thread")]
async fn a_newer_instance_that_fails_to_start_leaves_the_owner_playing() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let owner = rig.spawn(&[]);
    play_through_the_bot(&rig, &owner, "never gonna give").await;
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut newer = rig.spawn(&[("HEALTH_PORT", port.as_str())]);
    let code = eventually("the newer instance stops", Duration::from_secs(30), || {
        newer.exit_code()
    })
    .await;
    assert_eq!(code, 2, "{}", newer.log_text());
    assert!(
        newer.log_text().contains("HEALTH_PORT is invalid"),
        "{}",
        newer.log_text()
    );
    // Longer than the owner takes to hand over when a newer instance asks (about a second).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !log_has(&owner, "handed over to the newer instance"),
        "{}",
        owner.log_text()
    );
    let playing = |rig: &Rig| rig.player(GUILD).is_some_and(|p| p.playing);
    assert!(playing(&rig), "the owner's player still plays");
    let id = rig
        .discord
        .inject_command(GUILD, TEXT, BOB, "nowplaying", json!({}))
        .unwrap()
        .id;
    eventually("the owner still answers", Duration::from_secs(10), || {
        (callbacks(&rig, &id) == 1).then_some(())
    })
    .await;
    assert!(playing(&rig), "and goes on playing");
    drop(taken);
}
