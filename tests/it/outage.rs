//! The real `encore` binary when Discord is unreachable or refuses the bot: an outage (at start or
//! while running) is waited out with backoff and logged once, and the bot connects by itself
//! when Discord is back; a refusal (the token reset, gateway close 4004) stops the process
//! gracefully with a non-zero exit and one line naming what to fix, the saved players kept.

use std::time::{Duration, Instant};

use encore::store::LoadFilter;

use crate::harness::{
    catalogue_track, eventually, eventually_async, guild_spec, log_has, play_through_the_bot,
    restored, saved_small, seed, small_guild, small_guild_id, Bot, Rig, TOKEN,
};

/// The log's lines (JSON) that say Discord became unreachable, and reachable again.
fn outage_lines(bot: &Bot) -> (usize, usize) {
    let log = bot.log_text();
    (
        log.matches("Discord is unreachable").count(),
        log.matches("Discord is reachable again").count(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn readyz(port: u16) -> Option<(u16, String)> {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    Some((r.status().as_u16(), r.text().await.ok()?))
}

/// Polls `/readyz` until it answers `status`; returns the body.
async fn readyz_until(port: u16, status: u16, within: Duration) -> String {
    let what = format!("/readyz never answered {status}");
    eventually_async(&what, within, || async move {
        readyz(port)
            .await
            .and_then(|(s, body)| (s == status).then_some(body))
    })
    .await
}

/// The saved players' guilds and current track titles, as the store holds them now.
async fn saved_players(rig: &Rig) -> Vec<(u64, Option<String>)> {
    let store = rig.storage.open().await;
    let report = store.load_all(&LoadFilter::All).await.unwrap();
    let mut players: Vec<(u64, Option<String>)> = report
        .snapshots
        .iter()
        .map(|s| {
            (
                s.guild_id(),
                s.queue.current.as_ref().map(|t| t.title.clone()),
            )
        })
        .collect();
    players.sort();
    players
}

#[tokio::test(flavor = "multi_thread")]
async fn discord_down_for_10_s_at_start_the_bot_connects_once_it_is_back() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    rig.discord.go_down_for(Duration::from_secs(10));
    let port = free_port();
    let port_text = port.to_string();
    let mut bot = rig.spawn(&[("HEALTH_PORT", port_text.as_str())]);

    // It neither exits nor gives up: it waits, then connects, registers and plays.
    play_through_the_bot(&rig, &bot, "never gonna give").await;
    assert_eq!(bot.exit_code(), None, "{}", bot.log_text());
    readyz_until(port, 200, Duration::from_secs(20)).await;

    // The start-up check was asked again with backoff (several attempts, not a busy loop) and
    // the outage logged once, the recovery once.
    let refused = rig
        .discord
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v10/users/@me" && r.status == 502)
        .count();
    assert!((2..=6).contains(&refused), "{refused} attempts during 10 s");
    assert_eq!(outage_lines(&bot), (1, 1), "{}", bot.log_text());
    assert!(
        log_has(&bot, "GET /users/@me answered HTTP 502"),
        "{}",
        bot.log_text()
    );
    assert!(!bot.log_text().contains(TOKEN));
    assert_eq!(bot.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn discord_down_while_running_the_bot_reconnects_and_forgets_nothing() {
    let rig = Rig::new(vec![small_guild(71, 1)], None).await;
    let track = catalogue_track(&rig.lavalink, 180_000, 0);
    let g = small_guild_id(71);
    seed(&rig, &[saved_small(71, &track, vec![], 5_000, false)], &[]).await;
    let port = free_port();
    let port_text = port.to_string();
    let mut bot = rig.spawn(&[("HEALTH_PORT", port_text.as_str())]);
    restored(&rig, g).await;
    readyz_until(port, 200, Duration::from_secs(30)).await;
    let identifies = || {
        rig.discord
            .gateway_sent()
            .iter()
            .filter(|s| s.payload["op"] == 2)
            .count()
    };
    let identified = identifies();

    // Discord goes away for 8 s: every gateway connection drops, REST answers 502.
    assert_eq!(rig.discord.go_down_for(Duration::from_secs(8)), 1);
    let body = readyz_until(port, 503, Duration::from_secs(10)).await;
    assert!(body.starts_with("not ready: discord: "), "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !log_has(&bot, "Discord is unreachable") {
        assert!(Instant::now() < deadline, "not logged: {}", bot.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        readyz(port).await.is_some_and(|(s, b)| s == 503
            && b.starts_with("not ready: discord: Discord is unreachable (GET /gateway/bot answered HTTP 502); retrying")),
        "{:?}",
        readyz(port).await
    );

    // Back: a new gateway session, ready again, the same process, the saved player still there.
    let body = readyz_until(port, 200, Duration::from_secs(45)).await;
    assert!(body.contains("ok discord:"), "{body}");
    assert!(identifies() > identified, "no new gateway session");
    assert_eq!(bot.exit_code(), None, "{}", bot.log_text());
    eventually("the recovery logged", Duration::from_secs(5), || {
        (outage_lines(&bot) == (1, 1)).then_some(())
    })
    .await;
    assert_eq!(
        saved_players(&rig).await,
        vec![(g, Some(track.title.clone()))]
    );
    assert_eq!(bot.terminate(), Some(0));
    assert_eq!(
        saved_players(&rig).await,
        vec![(g, Some(track.title.clone()))]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_reset_stops_the_bot_with_the_reason_and_keeps_the_saved_players() {
    let rig = Rig::new(vec![small_guild(72, 1), small_guild(73, 0)], None).await;
    let track = catalogue_track(&rig.lavalink, 180_000, 0);
    seed(
        &rig,
        &[
            saved_small(72, &track, vec![track.clone()], 5_000, false),
            saved_small(73, &track, vec![], 9_000, true),
        ],
        &[],
    )
    .await;
    let before = saved_players(&rig).await;
    assert_eq!(before.len(), 2);
    let mut bot = rig.spawn(&[]);
    restored(&rig, small_guild_id(72)).await;

    // REST took the token at start; now it is reset, and the gateway closes with 4004.
    let reset_at = Instant::now();
    assert_eq!(rig.discord.reset_token("MTEw.a.new-token"), 1);
    let code = eventually("the process exits", Duration::from_secs(15), || {
        bot.exit_code()
    })
    .await;
    let took = reset_at.elapsed();
    let log = bot.log_text();
    assert_eq!(code, 1, "{log}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(
        log.trim_end().lines().last().unwrap_or_default(),
        "error: Discord refused DISCORD_TOKEN (the gateway closed the connection with 4004 Authentication failed): check the bot token"
    );
    // The graceful stop ran: positions flushed, the lease released; nothing deleted.
    assert!(log.contains("player state flushed"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
    assert_eq!(saved_players(&rig).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn discord_requiring_more_shards_stops_the_bot_with_the_reason_and_keeps_the_saved_player() {
    let rig = Rig::new(vec![small_guild(74, 1), small_guild(75, 1)], None).await;
    let track = catalogue_track(&rig.lavalink, 180_000, 0);
    seed(&rig, &[saved_small(74, &track, vec![], 5_000, false)], &[]).await;
    let before = saved_players(&rig).await;
    // One session may hold one guild: Discord closes the IDENTIFY of a one-shard bot with 4011,
    // which serenity only logs before reconnecting (for ever, without Encore's watch).
    rig.discord.set_max_guilds_per_shard(1);
    let mut bot = rig.spawn(&[("SHARD_COUNT", "1")]);
    let code = eventually("the process exits", Duration::from_secs(20), || {
        bot.exit_code()
    })
    .await;
    let log = bot.log_text();
    assert_eq!(code, 1, "{log}");
    assert_eq!(
        log.trim_end().lines().last().unwrap_or_default(),
        "error: Discord refused this process's shards (the gateway closed the connection with 4011 Sharding required): check SHARD_COUNT and SHARD_IDS (SHARD_COUNT=auto lets Discord choose)"
    );
    assert_eq!(saved_players(&rig).await, before);
}
