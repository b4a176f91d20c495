//! The crash take-over under the moments that break it (found by a tester trying to): kill -9
//! during a hand-over, several stand-bys at once, a healthy owner losing its Lavalink socket,
//! SIGTERM right after a take-over on evidence, commands during the take-over window, and the
//! extremes of `LEASE_TTL`. Each scenario checks one player throughout and exactly one answer to
//! every command (the "restarting" note or the real answer, never "Nothing is playing").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use encore_fakes::lavalink::PlayerSnapshot;
use serde_json::{json, Value};

use crate::harness::{
    callbacks, eventually, guild_spec, log_has, play_through_the_bot, Bot, Rig, BOB, GUILD, TEXT,
};

/// The ordinary settings, with a rate limit the tests' many commands stay under.
const ENV: &[(&str, &str)] = &[("RATE_LIMIT_COMMANDS", "1000")];

/// Every player the fake Lavalink holds for `guild`, on any session.
fn guild_players(rig: &Rig) -> Vec<PlayerSnapshot> {
    rig.lavalink
        .players()
        .into_iter()
        .filter(|p| p.guild_id == GUILD.to_string())
        .collect()
}

/// The text of the bot's reply to interaction `id`, if any yet (callback, else original, else
/// the last follow-up).
fn reply_text(rig: &Rig, id: &str) -> Option<String> {
    let r = rig.discord.interaction_responses(id)?;
    let text = |m: &Value| -> Option<String> {
        if let Some(c) = m["content"].as_str().filter(|c| !c.is_empty()) {
            return Some(c.to_string());
        }
        m["embeds"][0]["description"]
            .as_str()
            .or(m["embeds"][0]["title"].as_str())
            .map(str::to_string)
    };
    r.callback
        .as_ref()
        .and_then(|c| text(&c["data"]))
        .or_else(|| r.original.as_ref().and_then(text))
        .or_else(|| r.followups.last().and_then(text))
}

/// The bot's own log lines (not its libraries'), shortened: what the operator reads.
fn story(name: &str, bot: &Bot) -> String {
    let mut out = format!("--- {name}\n");
    for line in bot.log_text().lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if !v["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("encore"))
        {
            continue;
        }
        let mut fields = v.as_object().cloned().unwrap_or_default();
        for k in ["timestamp", "level", "message", "target", "span", "spans"] {
            fields.remove(k);
        }
        out.push_str(&format!(
            "{} {} {} {}\n",
            &v["timestamp"].as_str().unwrap_or("")
                [11..23.min(v["timestamp"].as_str().unwrap_or("").len())],
            v["level"].as_str().unwrap_or(""),
            v["message"].as_str().unwrap_or(""),
            serde_json::to_string(&fields).unwrap_or_default()
        ));
    }
    out
}

/// What a sampler saw: the most players the guild had at once, and the samples with more than one.
#[derive(Default, Debug)]
struct Seen {
    samples: usize,
    max_players: usize,
    doubles: Vec<Vec<PlayerSnapshot>>,
    none_playing: usize,
}

async fn sample(rig: &Rig, done: &AtomicBool, seen: &Mutex<Seen>) {
    while !done.load(Ordering::SeqCst) {
        let players = guild_players(rig);
        {
            let mut s = seen.lock().unwrap();
            s.samples += 1;
            s.max_players = s.max_players.max(players.len());
            if players.len() > 1 && s.doubles.len() < 3 {
                s.doubles.push(players.clone());
            }
            if !players.iter().any(|p| p.playing) {
                s.none_playing += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Bob's `/nowplaying` every 250 ms until `done`, from the moment every stand-by of `bots` is
/// connected to Discord (before, an instance that is not connected does not receive them: one
/// that becomes the owner could not answer what it never got); the interaction ids.
async fn commands_until(rig: &Rig, done: &AtomicBool, bots: Vec<&Bot>) -> Vec<(String, Instant)> {
    let mut ids = Vec::new();
    while !bots.iter().all(|b| log_has(b, "connected to Discord")) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while !done.load(Ordering::SeqCst) {
        let id = rig
            .discord
            .inject_command(GUILD, TEXT, BOB, "nowplaying", json!({}))
            .unwrap()
            .id;
        ids.push((id, Instant::now()));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    ids
}

/// Each command answered exactly once, and what it said (for the report).
async fn check_answers(rig: &Rig, ids: &[(String, Instant)], t0: Instant) -> Vec<String> {
    let mut faults = Vec::new();
    for (id, at) in ids {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut text = reply_text(rig, id);
        while text.is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            text = reply_text(rig, id);
        }
        let n = callbacks(rig, id);
        let when = at.duration_since(t0).as_millis();
        let Some(text) = text else {
            eprintln!("  /nowplaying {id} at +{when} ms: NO ANSWER ({n} callbacks)");
            faults.push(format!("+{when} ms: no answer"));
            continue;
        };
        eprintln!("  /nowplaying at +{when} ms: {n} callback(s): {text:.60}");
        if n != 1 {
            faults.push(format!("+{when} ms: {n} callbacks"));
        }
        if text.contains("Nothing is playing") {
            faults.push(format!("+{when} ms: {text}"));
        }
    }
    faults
}

/// Runs `scenario` while a sampler watches the guild's players and Bob sends a `/nowplaying`
/// every 250 ms (from the moment every instance of `bots` is connected); then checks each
/// command got exactly one answer, timed from `t0`. Returns what the sampler saw, the faults in
/// the answers, and what `scenario` returned.
async fn watched<T>(
    rig: &Rig,
    bots: Vec<&Bot>,
    t0: Instant,
    scenario: impl std::future::Future<Output = T>,
) -> (Seen, Vec<String>, T) {
    let done = AtomicBool::new(false);
    let seen = Mutex::new(Seen::default());
    let run = async {
        let out = scenario.await;
        done.store(true, Ordering::SeqCst);
        out
    };
    let (_, ids, out) = tokio::join!(
        sample(rig, &done, &seen),
        commands_until(rig, &done, bots),
        run
    );
    let faults = check_answers(rig, &ids, t0).await;
    (seen.into_inner().unwrap(), faults, out)
}

/// When to kill the owner A after the newer instance B started.
#[derive(Debug, Clone, Copy)]
enum Moment {
    AtOnce,
    BConnected,
    AHandingOver,
    AFlushed,
    AFlushedPlus(u64),
}

async fn kill_owner_during_hand_over(moment: Moment) {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut a = rig.spawn(ENV);
    play_through_the_bot(&rig, &a, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let a_session = rig.player(GUILD).unwrap().session_id;
    let b = rig.spawn(ENV);
    let wait_for = |bot: &Bot, needle: &'static str| {
        let log = bot.log.clone();
        async move {
            eventually(needle, Duration::from_secs(30), || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains(needle)
                    .then_some(())
            })
            .await
        }
    };
    match moment {
        Moment::AtOnce => {}
        Moment::BConnected => wait_for(&b, "connected to Discord").await,
        Moment::AHandingOver => wait_for(&a, "a newer instance asked for the lease").await,
        Moment::AFlushed => wait_for(&a, "positions flushed for the hand-over").await,
        Moment::AFlushedPlus(ms) => {
            wait_for(&a, "positions flushed for the hand-over").await;
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    let at_kill = rig.lavalink.player(&GUILD.to_string()).unwrap();
    let updates_before = rig.lavalink.voice_updates(&GUILD.to_string()).len();
    a.kill();
    let killed = Instant::now();
    let handed_before_kill = log_has(&a, "handed over to the newer instance");
    let scenario = async {
        eventually("B owns the lease", Duration::from_secs(30), || {
            log_has(&b, "this instance owns the lease").then_some(())
        })
        .await;
        let owned_after = killed.elapsed();
        eventually("B's voice update", Duration::from_secs(20), || {
            (rig.lavalink.voice_updates(&GUILD.to_string()).len() > updates_before).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        owned_after
    };
    let (seen, faults, owned_after) = watched(&rig, vec![&b], killed, scenario).await;
    let players = guild_players(&rig);
    let expected = at_kill.position + killed.elapsed().as_millis() as u64;
    eprintln!(
        "{moment:?}: handed before kill: {handed_before_kill}; B owned {owned_after:?} after the \
         kill; B: evidence {} / expiry; seen {seen:?}; now {players:?}; expected position ~{expected}",
        log_has(&b, "was free to resume"),
    );
    assert!(faults.is_empty(), "{moment:?}: answers: {faults:?}");
    assert_eq!(seen.max_players, 1, "{moment:?}: {seen:?}");
    assert_eq!(players.len(), 1, "{players:?}");
    let p = &players[0];
    assert!(p.playing, "{p:?}");
    assert_eq!(p.session_id, a_session, "A's session resumed");
    assert!(
        p.position.abs_diff(expected) <= 1_500,
        "{moment:?}: position {} vs {expected}",
        p.position
    );
    assert!(
        owned_after < Duration::from_millis(3_500),
        "{moment:?}: no owner for {owned_after:?}"
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_as_a_newer_instance_starts() {
    kill_owner_during_hand_over(Moment::AtOnce).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_once_the_newer_instance_is_connected() {
    kill_owner_during_hand_over(Moment::BConnected).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_the_owner_hands_over() {
    kill_owner_during_hand_over(Moment::AHandingOver).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_after_the_owner_flushed_for_the_hand_over() {
    kill_owner_during_hand_over(Moment::AFlushed).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_100_ms_after_the_hand_over_flush() {
    kill_owner_during_hand_over(Moment::AFlushedPlus(100)).await;
}

/// Two stand-bys start at once after the owner's kill -9.
#[tokio::test(flavor = "multi_thread")]
async fn two_stand_bys_after_a_crash_exactly_one_takes_over() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut a = rig.spawn(ENV);
    play_through_the_bot(&rig, &a, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let at_kill = rig.lavalink.player(&GUILD.to_string()).unwrap();
    a.kill();
    let killed = Instant::now();
    let (b, c) = (rig.spawn(ENV), rig.spawn(ENV));
    let scenario = async {
        eventually("someone owns", Duration::from_secs(30), || {
            (log_has(&b, "this instance owns the lease")
                || log_has(&c, "this instance owns the lease"))
            .then_some(())
        })
        .await;
        let first = killed.elapsed();
        tokio::time::sleep(Duration::from_secs(8)).await;
        first
    };
    let (seen, faults, first) = watched(&rig, vec![&b, &c], killed, scenario).await;
    let players = guild_players(&rig);
    let expected = at_kill.position + killed.elapsed().as_millis() as u64;
    let summary = |bot: &Bot| {
        let t = bot.log_text();
        [
            "this instance owns the lease",
            "was free to resume",
            "handing over",
            "handed over",
            "another instance took",
        ]
        .iter()
        .map(|n| format!("{n}: {}", t.matches(n).count()))
        .collect::<Vec<_>>()
        .join(", ")
    };
    eprintln!(
        "first owner after {first:?}; B: {}; C: {}; seen {seen:?}; now {players:?}; expected ~{expected}",
        summary(&b),
        summary(&c)
    );
    assert!(faults.is_empty(), "{faults:?}");
    assert_eq!(seen.max_players, 1, "{seen:?}");
    assert_eq!(players.len(), 1);
    assert!(players[0].playing);
    assert!(players[0].position.abs_diff(expected) <= 1_500);
}

/// A healthy owner's Lavalink socket drops (several times) while a newer instance takes over
/// by hand-over.
#[tokio::test(flavor = "multi_thread")]
async fn lavalink_socket_drops_during_a_hand_over_are_no_evidence_of_death() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let a = rig.spawn(ENV);
    play_through_the_bot(&rig, &a, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let at = rig.lavalink.player(&GUILD.to_string()).unwrap();
    let t0 = Instant::now();
    let b = rig.spawn(ENV);
    let scenario = async {
        for _ in 0..40 {
            rig.lavalink.drop_sockets();
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    let (seen, faults, ()) = watched(&rig, vec![&b], t0, scenario).await;
    let players = guild_players(&rig);
    let expected = at.position + t0.elapsed().as_millis() as u64;
    eprintln!(
        "A: evidence-lost {} handed {}; B owns {} evidence {}; seen {seen:?}; now {players:?}; ~{expected}",
        log_has(&a, "another instance took"),
        log_has(&a, "handed over"),
        log_has(&b, "this instance owns the lease"),
        log_has(&b, "was free to resume"),
    );
    assert!(!log_has(&b, "was free to resume"), "B took A for dead");
    assert!(faults.is_empty(), "{faults:?}");
    assert_eq!(seen.max_players, 1, "{seen:?}");
    assert_eq!(players.len(), 1);
    assert!(players[0].playing);
}

/// Lavalink sockets dropped every 100 ms while A owns, B asks for a hand-over and C waits:
/// nobody takes over on evidence, one player throughout.
#[tokio::test(flavor = "multi_thread")]
async fn socket_drops_on_a_healthy_owner_with_two_newer_instances_are_no_evidence_of_death() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let a = rig.spawn(ENV);
    play_through_the_bot(&rig, &a, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let b = rig.spawn(ENV);
    eventually("B connected", Duration::from_secs(30), || {
        log_has(&b, "connected to Discord").then_some(())
    })
    .await;
    let c = rig.spawn(ENV);
    let t0 = Instant::now();
    let scenario = async {
        for _ in 0..60 {
            rig.lavalink.drop_sockets();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let (seen, faults, ()) = watched(&rig, vec![&b], t0, scenario).await;
    eprintln!(
        "seen {seen:?}; now {:?}; B evidence {} owns {}; C evidence {} owns {}",
        guild_players(&rig),
        log_has(&b, "was free to resume"),
        log_has(&b, "this instance owns the lease"),
        log_has(&c, "was free to resume"),
        log_has(&c, "this instance owns the lease"),
    );
    eprintln!("{}{}{}", story("A", &a), story("B", &b), story("C", &c));
    assert!(!log_has(&b, "was free to resume") && !log_has(&c, "was free to resume"));
    assert!(faults.is_empty(), "{faults:?}");
    assert_eq!(seen.max_players, 1, "{seen:?}");
    assert!(guild_players(&rig)[0].playing);
    drop(a);
}

/// SIGTERM to an owner right after it took over on evidence; then a graceful restart.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_right_after_a_take_over_on_evidence_hands_the_same_player_on() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut a = rig.spawn(ENV);
    play_through_the_bot(&rig, &a, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let a_session = rig.player(GUILD).unwrap().session_id;
    a.kill();
    let mut b = rig.spawn(ENV);
    eventually("B took over on evidence", Duration::from_secs(30), || {
        log_has(&b, "was free to resume").then_some(())
    })
    .await;
    let messages_before = crate::harness::posted(&rig, TEXT);
    let code = b.terminate();
    let at_stop = rig.lavalink.player(&GUILD.to_string()).unwrap();
    let stopped = Instant::now();
    eprintln!("B exit code {code:?}; B log tail:");
    for l in b
        .log_text()
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .iter()
        .rev()
    {
        eprintln!("  {l:.300}");
    }
    let c = rig.spawn(ENV);
    eventually("C owns", Duration::from_secs(30), || {
        log_has(&c, "this instance owns the lease").then_some(())
    })
    .await;
    let owned = stopped.elapsed();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let players = guild_players(&rig);
    let said = crate::harness::posted(&rig, TEXT);
    eprintln!(
        "C owned after {owned:?}; players {players:?}; at stop {at_stop:?}; messages before {messages_before:?} after {said:?}"
    );
    assert_eq!(code, Some(0));
    assert_eq!(players.len(), 1, "{players:?}");
    assert_eq!(players[0].session_id, a_session);
    assert!(players[0].playing);
    drop(c);
}

async fn ttl_take_over(ttl: &str, restart_lavalink: bool) -> Duration {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let env = [("LEASE_TTL", ttl), ENV[0]];
    let mut a = rig.spawn(&env);
    play_through_the_bot(&rig, &a, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    a.kill();
    let killed = Instant::now();
    if restart_lavalink {
        rig.lavalink.restart();
    }
    let b = rig.spawn(&env);
    eventually("B owns", Duration::from_secs(120), || {
        log_has(&b, "this instance owns the lease").then_some(())
    })
    .await;
    let owned = killed.elapsed();
    eventually("playing", Duration::from_secs(20), || {
        rig.player(GUILD).filter(|p| p.playing).map(|_| ())
    })
    .await;
    eprintln!(
        "LEASE_TTL={ttl} restart={restart_lavalink}: owned after {owned:?}, playing after {:?}, evidence {}",
        killed.elapsed(),
        log_has(&b, "was free to resume")
    );
    owned
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_ttl_2s_with_lavalink_alive() {
    let d = ttl_take_over("2s", false).await;
    assert!(d < Duration::from_secs(3), "{d:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_ttl_60s_with_lavalink_alive_takes_over_on_evidence() {
    let d = ttl_take_over("60s", false).await;
    assert!(d < Duration::from_secs(8), "{d:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_ttl_2s_with_lavalink_restarted() {
    let d = ttl_take_over("2s", true).await;
    assert!(d < Duration::from_secs(6), "{d:?}");
}

/// kill -9 with Lavalink restarted (no evidence: the lease is taken at its expiry) and the
/// default `LEASE_TTL`; a `/nowplaying` every 250 ms from the kill until 2 s after the music
/// is back. Each must get exactly one answer (the "restarting" note or the track).
#[tokio::test(flavor = "multi_thread")]
async fn every_command_in_the_window_after_kill_9_and_a_lavalink_restart_is_answered_once() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let mut a = rig.spawn(ENV);
    play_through_the_bot(&rig, &a, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    a.kill();
    let killed = Instant::now();
    rig.lavalink.restart();
    rig.lavalink.clear_requests();
    let b = rig.spawn(ENV);
    eventually("B connected", Duration::from_secs(30), || {
        log_has(&b, "connected to Discord").then_some(())
    })
    .await;
    let connected = killed.elapsed();
    let t0 = Instant::now();
    let scenario = async {
        crate::harness::restored(&rig, GUILD).await;
        let back = t0.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        back
    };
    let (_, faults, back) = watched(&rig, vec![&b], t0, scenario).await;
    eprintln!("B connected {connected:?} after the kill; restored {back:?} after that");
    assert!(faults.is_empty(), "{faults:?}");
}

/// A zero-downtime hand-over while Lavalink refuses connections for 3 s (a Lavalink restart of
/// its proxy, a network blip): the new owner cannot resume the old owner's session at once.
/// The music plays on in Lavalink, and the player is saved: a `/nowplaying` in that window must
/// not read "Nothing is playing".
#[tokio::test(flavor = "multi_thread")]
async fn commands_during_a_slow_restore_wait_for_their_guild_and_never_read_nothing_playing() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    let a = rig.spawn(ENV);
    play_through_the_bot(&rig, &a, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let b = rig.spawn(ENV);
    eventually("A hands over", Duration::from_secs(30), || {
        log_has(&a, "a newer instance asked for the lease").then_some(())
    })
    .await;
    rig.lavalink.refuse_connections_for(Duration::from_secs(3));
    let t0 = Instant::now();
    let scenario = tokio::time::sleep(Duration::from_secs(6));
    let (seen, faults, ()) = watched(&rig, vec![&b], t0, scenario).await;
    eprintln!("seen {seen:?}\n{}{}", story("A", &a), story("B", &b));
    assert!(faults.is_empty(), "{faults:?}");
    assert_eq!(seen.max_players, 1);
}
