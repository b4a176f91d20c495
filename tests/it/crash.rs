//! Crash safety: a child process saves snapshots in a tight loop (whole players, state only, and
//! queue changes written as changes) and is killed with SIGKILL at random moments; after every
//! kill the store opens and every guild reads back a complete snapshot (the previous or the new
//! one, never a mix), nothing goes back in time, and nothing the store acknowledged is lost.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use encore::domain::{PlayerSnapshot, QueueSnapshot, Track};
use encore::store::{LoadFilter, Recovery, SaveOp, StateStore};
use rand::Rng;

use crate::harness::{guild, mongo_store, mongo_uri, snapshot, sqlite_at, track, unique_db};

const GUILDS: u64 = 20;
const TRACKS: u32 = 40;
const KILLS: usize = 50;
/// Longest wait before the kill, once the child is writing (MongoDB round trips take 10x more).
const DELAY_US: u64 = 60_000;
const CHILD_ENV: &str = "ENCORE_CRASH_CHILD";

/// The player of guild `g` at `generation`: every field derived from it, and upcoming tracks that
/// differ from one generation to the next by a few tracks moved, removed and appended (what a
/// queue change writes as a change).
fn at_generation(g: u64, generation: u64) -> PlayerSnapshot {
    let mut s = snapshot(g, 0, generation);
    let n = generation as usize;
    let mut upcoming: VecDeque<Track> = (1..=TRACKS).map(|i| track(i, 0)).collect();
    upcoming.rotate_left(n % 7);
    upcoming.truncate(TRACKS as usize - n % 5);
    upcoming.extend((0..n % 4).map(|i| track(500 + i as u32, 0)));
    s.queue.upcoming = upcoming;
    s
}

/// The generation a loaded player is at: (state generation, queue generation).
fn generations(s: &encore::domain::PlayerSnapshot) -> (u64, u64) {
    let title = &s.queue.current.as_ref().expect("current track").title;
    let gq: u64 = title
        .rsplit("gen ")
        .next()
        .unwrap()
        .trim_end_matches(" ✓")
        .parse()
        .unwrap();
    (s.state.position_ms / 1000, gq)
}

/// Checks every guild against its generation before the kill (`floors`, updated here) and the
/// last generation the store acknowledged before it (`acked`). Returns whether any guild moved
/// on.
async fn verify(
    store: &dyn StateStore,
    whole_batch_atomic: bool,
    floors: &mut HashMap<u64, u64>,
    acked: Option<u64>,
) -> bool {
    let report = store
        .load_all(&LoadFilter::All)
        .await
        .expect("load after kill");
    assert!(
        report.skipped.is_empty(),
        "unreadable after a kill: {:?}",
        report.skipped
    );
    let mut seen = None;
    let mut moved = false;
    for s in &report.snapshots {
        let (gs, gq) = generations(s);
        let g = s.guild_id();
        // The queue is exactly the one of generation gq, the state exactly the one of gs.
        assert_eq!(
            s.queue,
            at_generation(g, gq).queue,
            "guild {g}: mixed queue"
        );
        assert_eq!(
            s.state,
            at_generation(g, gs).state,
            "guild {g}: mixed state"
        );
        if let Some(acked) = acked {
            assert!(
                gs >= acked,
                "guild {g} lost acknowledged generation {acked}: at {gs}"
            );
        }
        // State-only saves follow the full save of the previous generation.
        assert!(
            gs == gq || gs == gq + 1,
            "guild {g}: state gen {gs} vs queue gen {gq}"
        );
        let floor = floors.entry(g).or_insert(0);
        assert!(gs >= *floor, "guild {g} went back in time: {gs} < {floor}");
        moved |= gs > *floor;
        *floor = gs;
        if whole_batch_atomic {
            assert_eq!(*seen.get_or_insert(gs), gs, "a batch was applied partly");
        }
    }
    if acked.is_some() {
        assert_eq!(
            report.snapshots.len(),
            GUILDS as usize,
            "acknowledged guilds lost"
        );
    }
    if whole_batch_atomic {
        assert!(
            report.snapshots.is_empty() || report.snapshots.len() == GUILDS as usize,
            "a batch was applied partly: {} guilds",
            report.snapshots.len()
        );
    }
    moved
}

async fn child_loop(store: Arc<dyn StateStore>) {
    let start = store
        .load_all(&LoadFilter::All)
        .await
        .unwrap()
        .snapshots
        .iter()
        .map(|s| generations(s).0)
        .max();
    let mut generation = start.map_or(2, |g| g + 1);
    // The first batch of a run is a full save (what the store holds is not known); then odd
    // generations save only the state, and even ones the queue too: whole or as a change from
    // the queue written before.
    let mut saved: HashMap<u64, Arc<QueueSnapshot>> = HashMap::new();
    let mut first = true;
    loop {
        let batch: Vec<SaveOp> = (0..GUILDS)
            .map(|i| {
                let s = at_generation(guild(i), generation);
                let queue = Arc::new(s.queue);
                match saved.get(&guild(i)) {
                    Some(_) if generation % 2 == 1 => SaveOp::State(s.state),
                    Some(base) if generation % 4 == 2 => SaveOp::Edit {
                        state: s.state,
                        base: base.clone(),
                        queue,
                    },
                    _ => SaveOp::Full {
                        state: s.state,
                        queue,
                    },
                }
            })
            .collect();
        store.save(&batch).await.unwrap();
        for op in batch {
            if let SaveOp::Full { state, queue } | SaveOp::Edit { state, queue, .. } = op {
                saved.insert(state.guild_id, queue);
            }
        }
        if first {
            // Ready once a batch is in: every run writes, however loaded the machine (a kill
            // before the first write tested nothing), and the kill lands in a later one.
            println!("ready");
            first = false;
        }
        // Acknowledged: from here on the store must keep it, whatever happens.
        println!("saved {generation}");
        generation += 1;
    }
}

/// Not a test of its own: the body of the child process the crash tests start and kill.
#[tokio::test]
#[ignore = "runs only as the child process of the crash tests"]
async fn writer_child() {
    let Ok(target) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store: Arc<dyn StateStore> = match target.split_once(':') {
        Some(("sqlite", path)) => Arc::new(sqlite_at(std::path::Path::new(path))),
        Some(("mongodb", db)) => Arc::new(mongo_store(&mongo_uri().unwrap(), db).await),
        _ => panic!("bad {CHILD_ENV}"),
    };
    child_loop(store).await;
}

/// Starts the child, waits until it writes, and kills it within `max_delay_us`. Returns the last
/// generation the child said the store acknowledged.
fn kill_loop_once(target: &str, max_delay_us: u64) -> Option<u64> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "crash::writer_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, target)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("child exited before it was ready: {:?}", child.wait());
        }
    }
    // Read the acknowledgements as they come (and, after the kill, what is left in the pipe).
    let reader = std::thread::spawn(move || {
        out.lines()
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("saved ")?.trim().parse::<u64>().ok())
            .last()
    });
    std::thread::sleep(Duration::from_micros(
        rand::thread_rng().gen_range(0..max_delay_us),
    ));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_survives_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("encore.db");
    let target = format!("sqlite:{}", path.display());
    let mut floors = HashMap::new();
    let (mut moved, mut acks) = (0, 0);
    for _ in 0..KILLS {
        let t = target.clone();
        let acked = tokio::task::spawn_blocking(move || kill_loop_once(&t, DELAY_US))
            .await
            .unwrap();
        let store = sqlite_at(&path);
        assert_eq!(
            store.recovery(),
            &Recovery::None,
            "the database needed recovery after a kill"
        );
        acks += usize::from(acked.is_some());
        moved += usize::from(verify(&store, true, &mut floors, acked).await);
    }
    // Every run wrote a batch before it was killed; most write more.
    assert!(
        moved >= KILLS / 2 && acks >= KILLS / 2,
        "the child wrote in only {moved} (acknowledged in {acks}) of {KILLS} runs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_survives_sigkill_at_random_moments() {
    let Some(uri) = mongo_uri() else { return };
    let db = unique_db();
    let target = format!("mongodb:{db}");
    let store = mongo_store(&uri, &db).await;
    let mut floors = HashMap::new();
    let (mut moved, mut acks) = (0, 0);
    for _ in 0..KILLS {
        let t = target.clone();
        let acked = tokio::task::spawn_blocking(move || kill_loop_once(&t, 10 * DELAY_US))
            .await
            .unwrap();
        // Per-document atomicity: each guild is whole; guilds of one batch may differ.
        acks += usize::from(acked.is_some());
        moved += usize::from(verify(&store, false, &mut floors, acked).await);
    }
    // Every run wrote a batch before it was killed; most write more.
    assert!(
        moved >= KILLS / 2 && acks >= KILLS / 2,
        "the child wrote in only {moved} (acknowledged in {acks}) of {KILLS} runs"
    );
}
