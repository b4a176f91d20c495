//! Operating Encore: several processes splitting the shards, the health and metrics listener,
//! JSON logs. The real binary against the fakes.

use std::time::Duration;

use encore::domain::{shard_of, PlayerSnapshot};
use encore_fakes::discord::GatewaySent;
use serde_json::{json, Value};

use crate::resume::{
    callbacks, catalogue_track, every_guild_playing, log_has, saved_small, seed, small_guild,
    small_guild_id, text_of, until, Bot, Rig,
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
    until("A's restore", Duration::from_secs(20), || {
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
    until("B's restore", Duration::from_secs(20), || {
        log_has(&b, "restore finished").then_some(())
    })
    .await;
    assert_eq!(logged(&b, "restoring saved players")[0]["guilds"], 3);
    // One voice join per guild, each by its own shard's process.
    for (g, shard) in rig.discord.gateway_sent().iter().filter_map(voice_command) {
        assert_eq!(shard, [u64::from(shard_of(g, 2)), 2], "op 4 for {g}");
    }
    assert_eq!(voice_commands(&rig, &ids), 6);
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
            "nowplaying",
            json!({}),
        )
        .unwrap()
        .id;
    until("the answer", Duration::from_secs(10), || {
        rig.discord.interaction_responses(&asked)?.callback
    })
    .await;
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
        until("A's guilds restored again", Duration::from_secs(30), || {
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
