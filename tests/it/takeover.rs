//! Take-over from an owner that is alive but cut off from the store: the real `encore` binary,
//! twice, against the fakes and a MongoDB server, the owner's store link through a [`Proxy`]
//! that stalls it like a network partition.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use encore::lease::LeaseBody;
use encore_fakes::lavalink::PlayerSnapshot;
use serde_json::json;

use crate::harness::{
    answered, bob_command, callbacks, eventually, eventually_async, guild_spec, log_has, mongo_uri,
    play_through_the_bot, posted, unique_db, voice_senders, Connection, Proxy, Rig, Storage, GUILD,
    TEXT,
};

/// `LEASE_TTL` as the rig sets it.
const LEASE_TTL: Duration = Duration::from_secs(3);
/// How long the owner's store stalls at least: clearly longer than the lease.
const STALL: Duration = Duration::from_secs(LEASE_TTL.as_secs() * 2);
/// How long the test watches once the store is back.
const WATCH: Duration = Duration::from_secs(4);

/// Every player the fake Lavalink holds for `guild`, on any session.
fn guild_players(rig: &Rig, guild: u64) -> Vec<PlayerSnapshot> {
    rig.lavalink
        .players()
        .into_iter()
        .filter(|p| p.guild_id == guild.to_string())
        .collect()
}

/// What a proxy carried from the client at or after `since_us`, for the failure messages.
fn sent_since(connections: &[Connection], since_us: u64) -> Vec<String> {
    connections
        .iter()
        .flat_map(|c| &c.sent)
        .filter(|(at, _)| *at >= since_us)
        .map(|(at, line)| format!("{at}: {line}"))
        .collect()
}

/// Issue #15: the owner A's store stalls for twice `LEASE_TTL` (the bytes between A and MongoDB
/// are held, both ways; nothing is refused), then comes back. A must fence itself off (stop
/// acting and close its Lavalink websocket) before the stand-by B takes over, B must take A's
/// very player over by resuming A's Lavalink session, and A, once its store answers again, must
/// find the lease taken and leave without acting again.
///
/// Why B starts only after the stall began: B is always the newer instance (its lease identity
/// is its start time, and it takes part in the lease from its first READY), and a newer instance
/// asks the owner to hand over (`wanted_by`). An owner that could still read the lease would
/// hand over gracefully, a different path (restore.rs,
/// `a_hand_over_leaves_exactly_one_player_where_it_was_and_says_nothing`). With A's store
/// stalled before B's first lease round, A never reads B's request: the only way B gets the
/// lease is A going silent (B resumes A's Lavalink session once A's fence closed its websocket,
/// or takes the expired lease). The stall lasts until B owns the lease and answered a command,
/// and at least [`STALL`].
///
/// Without fencing A keeps its Lavalink websocket through the stall: B's attempts to resume A's
/// session fail, and once the lease expires B takes it and opens a session of its own while A
/// still holds A's — the check that A's websocket closed before B's first request fails (and
/// the restore would rebuild the track on a second player).
#[tokio::test(flavor = "multi_thread")]
async fn an_owner_cut_off_from_its_store_fences_itself_and_the_stand_by_takes_its_player_over() {
    // The partition is between A and MongoDB (scripts/test.sh starts a server).
    let Some(uri) = mongo_uri() else { return };
    let storage = Storage::Mongo {
        uri: uri.clone(),
        db: unique_db(),
    };
    let rig = Rig::new(vec![guild_spec()], Some(storage)).await;
    let (a_store, a_uri) = Proxy::mongo(&uri).await;
    // A's Lavalink and Discord REST traffic, and B's Lavalink traffic, through proxies that
    // only watch: which instance sent what, and when.
    let lavalink = rig.lavalink.addr().to_string();
    let (a_lavalink, b_lavalink) = (Proxy::start(&lavalink).await, Proxy::start(&lavalink).await);
    let a_discord = Proxy::start(&rig.discord.addr().to_string()).await;
    let a_nodes = a_lavalink.addr().to_string();
    let a_api = format!("http://{}", a_discord.addr());
    let a = rig.spawn(&[
        ("MONGODB_URI", &a_uri),
        ("LAVALINK_NODES", &a_nodes),
        ("DISCORD_API_BASE", &a_api),
    ]);
    play_through_the_bot(&rig, &a, "never gonna give").await;
    let a_session = rig.player(GUILD).unwrap().session_id;
    let a_gateway = *voice_senders(&rig).last().expect("A joined voice");
    // What a stand-by needs: the lease names A's session, and the player is saved.
    let store = rig.storage.open().await;
    eventually_async(
        "A's session in the lease and its player saved",
        Duration::from_secs(10),
        || {
            let (store, a_session) = (store.clone(), a_session.clone());
            async move {
                let lease = store.load_lease(encore::app::LEASE_NAME).await.ok()??;
                let body: LeaseBody = serde_json::from_str(&lease.body).ok()?;
                store.load(GUILD).await.ok()??;
                (body.lavalink_sessions.get("node-1") == Some(&a_session)).then_some(())
            }
        },
    )
    .await;
    // Closed now, while the runtime runs: the driver ends its sessions in a task of its own.
    drop(store);
    let messages_before = posted(&rig, TEXT).len();

    // The guild's players, sampled all along from the stall on: how many samples, and those
    // that were not exactly one player, playing, on A's session.
    let done = AtomicBool::new(false);
    let sampling = async {
        let (mut count, mut odd) = (0usize, Vec::<Vec<PlayerSnapshot>>::new());
        while !done.load(Ordering::SeqCst) {
            let players = guild_players(&rig, GUILD);
            count += 1;
            if !matches!(&players[..], [p] if p.playing && p.session_id == a_session) {
                odd.push(players);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (count, odd)
    };
    let scenario = async {
        a_store.stall();
        let stalled_at = Instant::now();
        let b = rig.spawn(&[("LAVALINK_NODES", &b_lavalink.addr().to_string())]);
        eventually("B owns the lease", Duration::from_secs(30), || {
            log_has(&b, "this instance owns the lease").then_some(())
        })
        .await;
        // B gives the player its own voice state: the restore (seen on B's own link).
        let b_patched_us = eventually("B's restore", Duration::from_secs(20), || {
            let path = format!("/players/{GUILD}");
            b_lavalink
                .connections()
                .iter()
                .flat_map(|c| &c.sent)
                .find(|(_, line)| line.starts_with("PATCH ") && line.contains(&path))
                .map(|(at, _)| *at)
        })
        .await;
        // A command during the stall, after B took over: B answers it, with the track.
        let during = bob_command(&rig, "nowplaying", json!({}));
        let answer = answered(&rig, &during).await;
        assert!(answer.to_string().contains("Rick Astley"), "{answer}");
        assert!(
            !log_has(&a, "another instance took the lease"),
            "the stall ended too early to test"
        );
        tokio::time::sleep_until((stalled_at + STALL).into()).await;
        a_store.flow();
        let back_at = Instant::now();
        // Once its store answers, A finds the lease taken and retires.
        eventually("A retires", Duration::from_secs(20), || {
            log_has(&a, "another instance took the lease").then_some(())
        })
        .await;
        // A command after A's store came back: answered once, by B.
        let after = bob_command(&rig, "nowplaying", json!({}));
        let answer = answered(&rig, &after).await;
        assert!(answer.to_string().contains("Rick Astley"), "{answer}");
        tokio::time::sleep_until(
            (back_at + WATCH)
                .max(Instant::now() + Duration::from_secs(1))
                .into(),
        )
        .await;
        done.store(true, Ordering::SeqCst);
        (b, b_patched_us, during, after, stalled_at.elapsed())
    };
    let ((count, odd), (b, b_patched_us, during, after, scenario_took)) =
        tokio::join!(sampling, scenario);

    // A fenced itself off: it closed its one Lavalink websocket while its store was stalled...
    let a_conns = a_lavalink.connections();
    let a_sockets: Vec<&Connection> = a_conns.iter().filter(|c| c.is_websocket()).collect();
    assert_eq!(a_sockets.len(), 1, "A's websockets: {a_sockets:?}");
    let a_closed_us = a_sockets[0]
        .closed_at_us
        .expect("A's Lavalink websocket is still open");
    // ...before B sent Lavalink anything but attempts to resume A's session.
    let b_conns = b_lavalink.connections();
    let b_first_request_us = b_conns
        .iter()
        .filter(|c| !c.is_websocket())
        .filter_map(|c| c.sent.first().map(|(at, _)| *at))
        .min()
        .expect("B sent Lavalink a request");
    let heads = |conns: &[Connection]| -> Vec<String> {
        conns
            .iter()
            .map(|c| format!("{}: {}", c.opened_at_us, c.head()))
            .collect()
    };
    assert!(
        a_closed_us < b_first_request_us,
        "A still held its Lavalink websocket (closed at {a_closed_us} µs) when B first sent \
         Lavalink a request ({b_first_request_us} µs); B's connections: {:?}",
        heads(&b_conns)
    );
    // A never acted again: not one byte to Lavalink, and no new connection, after its websocket
    // closed; no Discord REST call either (no message, no answer).
    let late: Vec<&Connection> = a_conns
        .iter()
        .filter(|c| c.opened_at_us > a_closed_us)
        .collect();
    assert!(late.is_empty(), "A connected to Lavalink again: {late:?}");
    let lavalink_after = sent_since(&a_conns, a_closed_us);
    assert!(
        lavalink_after.is_empty(),
        "A sent Lavalink after it fenced: {lavalink_after:?}"
    );
    let discord_after = sent_since(&a_discord.connections(), a_closed_us);
    assert!(
        discord_after.is_empty(),
        "A called Discord after it fenced: {discord_after:?}"
    );
    // Nor did A send a voice command once B had sent one.
    let senders = voice_senders(&rig);
    let b_first = senders
        .iter()
        .position(|c| *c != a_gateway)
        .expect("B joined voice");
    assert!(
        senders[b_first..].iter().all(|c| *c != a_gateway),
        "{senders:?}"
    );
    // Its log: fenced, never acting again, and retired (checked above) once its store answered.
    assert!(log_has(&a, "the lease was not renewed in time"));
    assert!(!log_has(&a, "this instance acts again"));

    // B's restore (its first player update with a voice state; A sent nothing by then) kept the
    // player: no track, no position, only B's voice state.
    let path = format!("/players/{GUILD}");
    let restore = rig
        .lavalink
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&path))
        .filter(|r| r.received_at_unix_us >= b_patched_us)
        .find_map(|r| r.body.filter(|b| b.get("voice").is_some()))
        .expect("B's player update with its voice state");
    assert!(
        restore.get("track").is_none() && restore.get("position").is_none(),
        "B took the player over, not restarted the track: {restore}"
    );

    // One player all along, playing: A's, taken over by B on A's very session.
    assert!(
        odd.is_empty(),
        "{} of {count} samples without exactly one player, playing on {a_session}: {:?}",
        odd.len(),
        odd.first()
    );
    let p = rig.player(GUILD).expect("a player on a connected session");
    assert_eq!(p.session_id, a_session, "A's session, resumed by B");
    assert!(p.playing, "{p:?}");
    let heard = encore_fakes::listeners::heard(&rig.discord, &rig.lavalink, GUILD)
        .expect("the listeners hear the track through B's voice connection");
    assert_eq!(heard.lavalink_session, a_session);

    // Each command was answered exactly once.
    for id in [&during, &after] {
        assert_eq!(callbacks(&rig, id), 1, "interaction {id}");
    }
    let said = posted(&rig, TEXT).split_off(messages_before);
    eprintln!(
        "stall scenario took {scenario_took:?}; B: {}; messages since the stall: {said:?}",
        if log_has(&b, "was free to resume") {
            "took over on evidence (A's session resumed)"
        } else {
            "took the expired lease"
        }
    );
    drop(b);
    drop(a);
}
