//! After a kill -9, the next process drives the players within seconds (issue: crash take-over
//! in seconds): at once when it can resume the dead owner's Lavalink session (evidence that the
//! owner is gone), and otherwise with the saved position carried forward to the owner's last
//! lease renewal. The stalled-store and overlapping-instance paths are in `takeover.rs` and
//! `restore.rs`.

use std::time::{Duration, Instant};

use crate::harness::{eventually, guild_spec, log_has, play_through_the_bot, restored, Rig, GUILD};

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_with_lavalink_alive_the_next_process_takes_over_on_evidence_not_the_expiry() {
    let rig = Rig::new(vec![guild_spec()], None).await;
    // A lease that would keep the dead owner's place for 30 s.
    let env = [("LEASE_TTL", "30s")];
    let mut first = rig.spawn(&env);
    play_through_the_bot(&rig, &first, "never gonna give").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = rig.player(GUILD).unwrap();
    first.kill();
    let killed = Instant::now();
    rig.lavalink.clear_requests();
    let second = rig.spawn(&env);
    let patch = restored(&rig, GUILD).await;
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "driven again after {took:?}: the 30 s lease was not waited for"
    );
    assert!(
        log_has(&second, "the owner's Lavalink session could be resumed"),
        "taken over on evidence"
    );
    // The very player the dead owner left: its session resumed, its track going on.
    assert!(
        patch.get("track").is_none() && patch.get("position").is_none(),
        "only the new voice state: {patch}"
    );
    let p = rig.player(GUILD).expect("the resumed session's player");
    assert_eq!(p.session_id, before.session_id, "the same Lavalink session");
    assert!(p.playing);
    assert_eq!(
        rig.lavalink
            .sessions()
            .iter()
            .filter(|s| s.connected)
            .count(),
        1,
        "one session in use"
    );
}

/// Lavalink sends `playerUpdate` every 5 s (its default), so the last saved position is up to
/// 5 s old at a kill; the dead owner's last lease renewal (every 300 ms with `LEASE_TTL=3s`) says
/// how long it went on playing. Killed at four phases of those timers, with Lavalink restarted
/// (nothing live is left), each restore starts within 1.5 s of where the music was at the kill.
#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_and_a_lavalink_restart_the_position_is_carried_to_the_owners_last_renewal() {
    let rig = Rig::with_player_updates(vec![guild_spec()], Duration::from_secs(5)).await;
    let env = [("AUTOSAVE_INTERVAL", "10s")];
    let mut bot = rig.spawn(&env);
    play_through_the_bot(&rig, &bot, "never gonna give").await;
    let mut errors = Vec::new();
    for wait_ms in [1_300, 2_600, 3_900, 5_200] {
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        bot.kill();
        let at_kill = rig
            .lavalink
            .player(&GUILD.to_string())
            .expect("Lavalink still plays")
            .position;
        rig.lavalink.restart();
        rig.lavalink.clear_requests();
        bot = rig.spawn(&env);
        let patch = eventually("the rebuilt player", Duration::from_secs(20), || {
            rig.patches(GUILD)
                .into_iter()
                .find(|b| b.get("track").is_some())
        })
        .await;
        let position = patch["position"].as_u64().expect("a position");
        errors.push(position as i64 - at_kill as i64);
        assert!(
            position.abs_diff(at_kill) <= 1_500,
            "killed at {at_kill} ms, {wait_ms} ms into the round; restored at {position} ms"
        );
        eventually("playing again", Duration::from_secs(10), || {
            rig.player(GUILD).filter(|p| p.playing).map(|_| ())
        })
        .await;
    }
    eprintln!("restore errors (ms) by phase: {errors:?}");
}
