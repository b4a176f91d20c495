//! Benchmark: one autosave tick for many playing guilds whose queues are long and unchanged,
//! where only positions moved since the last tick — against a naive baseline that rewrites every
//! full snapshot as one JSON blob. Then the reply latency a member's confirmed change adds: the
//! commit (`Autosave::commit`) after appending one track to a 200- and a 5,000-track queue.
//! Prints figures; see docs/benchmarks.md.
//!
//! `cargo bench --bench autosave_tick` (SQLite). With `MONGODB_URI` set, MongoDB too.
//! Knobs: BENCH_GUILDS (10000), BENCH_TRACKS (200), BENCH_TICKS (5),
//! BENCH_MONGO_GUILDS (defaults to BENCH_GUILDS), BENCH_COMMITS (50 appends per queue size),
//! BENCH_COMMIT_ONLY (set: only the commit figures).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use encore::autosave::{Autosave, AutosaveConfig};
use encore::domain::{now_ms, LoopMode, PlayerState, QueueSnapshot, Track};
use encore::store::{MongoStore, SqliteOptions, SqliteStore, StateStore};
use mongodb::bson::doc;
use rusqlite::params;
use serde::Serialize;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A realistic track: a real-sized encoded string, title, author and URL.
fn track(g: usize, i: usize) -> Track {
    let id = format!("{:011x}", g * 1000 + i);
    Track {
        encoded: format!(
            "QAAA1gMAO0FydGlzdCBOYW1lIC0gQSBTb25nIFRpdGxlIFRoYXQgSXMgUmVhbGlzdGljYWxseSBMb25nAAtBcnRpc3ROYW1lAAAAAAADN+AAC{id}AAEAK2h0dHBzOi8vd3d3LnlvdXR1YmUuY29tL3dhdGNoP3Y9{id}AQA0aHR0cHM6Ly9pLnl0aW1nLmNvbS92aS97aWR9L21heHJlc2RlZmF1bHQuanBnAAAHeW91dHViZQAAAAAAAAAA"
        ),
        title: format!("Artist Name - A Song Title That Is Realistically Long #{i}"),
        author: "Artist Name".into(),
        uri: Some(format!("https://www.youtube.com/watch?v={id}")),
        length_ms: Some(210_000 + (i as u64 * 997) % 120_000),
        is_stream: false,
        is_seekable: true,
        requester: Some(200_000_000_000_000_000 + g as u64),
        start_ms: None,
        autoplay: false,
    }
}

struct Player {
    state: PlayerState,
    queue: Arc<QueueSnapshot>,
}

fn player(g: usize, tracks: usize) -> Player {
    let now = now_ms();
    let mut state = PlayerState::new(((1_000_000 + g as u64) << 22) | 1);
    state.voice_channel_id = Some(1_100_000_000_000_000_000 + g as u64);
    state.text_channel_id = Some(1_200_000_000_000_000_000 + g as u64);
    state.position_ms = 30_000;
    state.position_at_ms = now;
    state.loop_mode = LoopMode::Queue;
    state.taken_at_ms = now;
    let queue = QueueSnapshot {
        current: Some(track(g, 0)),
        upcoming: (1..=tracks).map(|i| track(g, i)).collect(),
        history: Default::default(),
    };
    Player {
        state,
        queue: Arc::new(queue),
    }
}

fn players(guilds: usize, tracks: usize) -> Vec<Player> {
    (0..guilds).map(|g| player(g, tracks)).collect()
}

/// What committing an append costs, for one queue size.
struct Commit {
    tracks: usize,
    /// The first commit of the player: the whole queue.
    whole: Duration,
    whole_bytes: u64,
    appends: Vec<Duration>,
    append_bytes: u64,
}

impl Commit {
    fn percentile(&self, p: f64) -> Duration {
        let mut t = self.appends.clone();
        t.sort();
        t[((t.len() - 1) as f64 * p).round() as usize]
    }
}

/// The reply latency a confirmed `/play` adds: `Autosave::commit` after one track is appended
/// to a queue of `tracks` (the guild's state changes too, as a play records it), `appends` times.
async fn bench_commit(
    store: Arc<dyn StateStore>,
    g: usize,
    tracks: usize,
    appends: usize,
) -> Commit {
    let autosave = Autosave::new(store, AutosaveConfig::new(Duration::from_secs(3600)));
    let mut p = player(g, tracks);
    let guild = p.state.guild_id;
    autosave.record(p.state.clone(), p.queue.clone(), true);
    let t = Instant::now();
    autosave.commit(guild).await.unwrap();
    let whole = t.elapsed();
    let whole_bytes = autosave.stats().bytes;
    let mut times = Vec::with_capacity(appends);
    for i in 0..appends {
        let mut queue = (*p.queue).clone();
        queue.upcoming.push_back(track(g, tracks + 1 + i));
        p.queue = Arc::new(queue);
        p.state.taken_at_ms = now_ms();
        autosave.record(p.state.clone(), p.queue.clone(), true);
        let t = Instant::now();
        autosave.commit(guild).await.unwrap();
        times.push(t.elapsed());
    }
    Commit {
        tracks,
        whole,
        whole_bytes,
        append_bytes: (autosave.stats().bytes - whole_bytes) / appends.max(1) as u64,
        appends: times,
    }
}

fn report_commit(name: &str, c: &Commit) {
    println!(
        "{name}: commit of a 1-track append to a {}-track queue: median {}  p95 {}  max {}  {} per append (first commit of the whole queue: {}, {})",
        c.tracks,
        ms(c.percentile(0.5)),
        ms(c.percentile(0.95)),
        ms(c.percentile(1.0)),
        mib(c.append_bytes),
        ms(c.whole),
        mib(c.whole_bytes),
    );
}

/// The commit figures for a 200- and a 5,000-track queue on `store`.
async fn bench_commits(name: &str, store: Arc<dyn StateStore>) -> Vec<Commit> {
    let appends = env_num("BENCH_COMMITS", 50).max(1);
    let mut out = vec![];
    for (g, tracks) in [(900_000, 200), (900_001, 5_000)] {
        let c = bench_commit(store.clone(), g, tracks, appends).await;
        report_commit(name, &c);
        out.push(c);
    }
    out
}

#[derive(Serialize)]
struct NaiveSnapshot<'a> {
    schema_version: u32,
    state: &'a PlayerState,
    queue: &'a QueueSnapshot,
}

fn naive_json(p: &Player, now: u64) -> String {
    let mut state = p.state.clone();
    state.position_ms += now.saturating_sub(state.position_at_ms);
    state.position_at_ms = now;
    serde_json::to_string(&NaiveSnapshot {
        schema_version: 1,
        state: &state,
        queue: &p.queue,
    })
    .unwrap()
}

struct Figures {
    times: Vec<Duration>,
    bytes: u64,
}

impl Figures {
    fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t[t.len() / 2]
    }
    fn min(&self) -> Duration {
        *self.times.iter().min().unwrap()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

/// Fills the store (first tick: full saves), then times position-only ticks.
async fn bench_ticks(
    store: Arc<dyn StateStore>,
    ps: &[Player],
    ticks: usize,
) -> (Duration, Figures) {
    let autosave = Autosave::new(store, AutosaveConfig::new(Duration::from_secs(10)));
    for p in ps {
        autosave.record(p.state.clone(), p.queue.clone(), true);
    }
    let t = Instant::now();
    let first = autosave.tick().await.unwrap();
    let fill = t.elapsed();
    assert_eq!(first.ops, ps.len());
    let mut times = vec![];
    let mut bytes = 0;
    for _ in 0..ticks {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        let stats = autosave.tick().await.unwrap();
        times.push(t.elapsed());
        assert_eq!(stats.ops, ps.len(), "every playing guild is written");
        bytes = stats.bytes;
    }
    (fill, Figures { times, bytes })
}

fn sqlite_naive(path: &std::path::Path, ps: &[Player], ticks: usize) -> Figures {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE naive (guild_id INTEGER PRIMARY KEY, snapshot TEXT NOT NULL);",
    )
    .unwrap();
    let mut times = vec![];
    let mut bytes = 0;
    for _ in 0..=ticks {
        let t = Instant::now();
        let now = now_ms();
        let tx = conn.transaction().unwrap();
        let mut written = 0u64;
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR REPLACE INTO naive (guild_id, snapshot) VALUES (?1, ?2)")
                .unwrap();
            for p in ps {
                let json = naive_json(p, now);
                written += 8 + json.len() as u64;
                stmt.execute(params![p.state.guild_id as i64, json])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        times.push(t.elapsed());
        bytes = written;
    }
    times.remove(0); // the first one fills the table
    Figures { times, bytes }
}

async fn mongo_naive(uri: &str, db: &str, ps: &[Player], ticks: usize) -> Figures {
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let database = client.database(db);
    let mut times = vec![];
    let mut bytes = 0;
    for _ in 0..=ticks {
        let t = Instant::now();
        let now = now_ms();
        let mut written = 0u64;
        let mut statements = vec![];
        let mut pending = 0usize;
        for p in ps {
            let json = naive_json(p, now);
            let st = doc! {
                "q": { "_id": p.state.guild_id as i64 },
                "u": { "_id": p.state.guild_id as i64, "snapshot": json },
                "upsert": true,
            };
            let len = mongodb::bson::to_vec(&st).unwrap().len();
            written += len as u64;
            pending += len;
            statements.push(st);
            if pending > 8 << 20 {
                database
                    .run_command(
                        doc! { "update": "naive", "updates": std::mem::take(&mut statements) },
                    )
                    .await
                    .unwrap();
                pending = 0;
            }
        }
        if !statements.is_empty() {
            database
                .run_command(doc! { "update": "naive", "updates": statements })
                .await
                .unwrap();
        }
        times.push(t.elapsed());
        bytes = written;
    }
    times.remove(0);
    Figures { times, bytes }
}

fn wal_size(path: &std::path::Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

fn report(name: &str, ours: &Figures, naive: &Figures) {
    println!(
        "{name}: position-only tick  median {}  min {}  bytes {}",
        ms(ours.median()),
        ms(ours.min()),
        mib(ours.bytes)
    );
    println!(
        "{name}: naive full-JSON tick median {}  min {}  bytes {}",
        ms(naive.median()),
        ms(naive.min()),
        mib(naive.bytes)
    );
    println!(
        "{name}: ratio  time {:.1}x faster  bytes {:.0}x fewer",
        naive.median().as_secs_f64() / ours.median().as_secs_f64(),
        naive.bytes as f64 / ours.bytes.max(1) as f64
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let guilds = env_num("BENCH_GUILDS", 10_000);
    let tracks = env_num("BENCH_TRACKS", 200);
    let ticks = env_num("BENCH_TICKS", 5).max(1);
    println!(
        "autosave tick benchmark: {guilds} playing guilds x {tracks} queued tracks, {ticks} ticks"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let store = Arc::new(SqliteStore::open(SqliteOptions::new(&path)).unwrap());
    let commits = bench_commits("sqlite", store.clone()).await;
    let target = Duration::from_millis(5);
    let met = commits.iter().all(|c| c.percentile(0.5) <= target);
    println!(
        "sqlite: target <= 5 ms for a committed append (median): {}",
        if met { "met" } else { "NOT met" }
    );
    let mongo_uri = std::env::var("MONGODB_URI").ok();
    if let Some(uri) = &mongo_uri {
        let db = format!("encore_bench_commit_{}", std::process::id());
        let mongo = MongoStore::connect(&secrecy::SecretString::from(uri.clone()), &db)
            .await
            .unwrap();
        bench_commits("mongodb", Arc::new(mongo)).await;
        let client = mongodb::Client::with_uri_str(uri).await.unwrap();
        let _ = client.database(&db).drop().await;
    }
    if std::env::var("BENCH_COMMIT_ONLY").is_ok() {
        return;
    }

    let t = Instant::now();
    let ps = players(guilds, tracks);
    println!("built players in {}", ms(t.elapsed()));
    let (fill, ours) = bench_ticks(store.clone(), &ps, ticks).await;
    println!("sqlite: first tick (full saves) {}", ms(fill));
    // WAL bytes of one more position-only tick, from an emptied WAL.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let before = wal_size(&path);
    let autosave = Autosave::new(store.clone(), AutosaveConfig::new(Duration::from_secs(10)));
    for p in &ps {
        autosave.adopt(encore::domain::PlayerSnapshot::new(
            p.state.clone(),
            (*p.queue).clone(),
        ));
    }
    autosave.tick().await.unwrap();
    let wal = wal_size(&path) - before;
    let naive = sqlite_naive(&dir.path().join("naive.db"), &ps, ticks);
    report("sqlite", &ours, &naive);
    println!(
        "sqlite: WAL growth of one position-only tick {} (pages rewritten, incl. headers)",
        mib(wal)
    );
    let target = Duration::from_millis(100);
    println!(
        "sqlite: target < 100 ms per tick: {}; target >= 10x fewer bytes: {}",
        if ours.median() < target {
            "met"
        } else {
            "NOT met"
        },
        if naive.bytes >= 10 * ours.bytes {
            "met"
        } else {
            "NOT met"
        }
    );

    if let Some(uri) = mongo_uri {
        let mguilds = env_num("BENCH_MONGO_GUILDS", guilds).min(guilds);
        let db = format!("encore_bench_{}", std::process::id());
        let mongo = MongoStore::connect(&secrecy::SecretString::from(uri.clone()), &db)
            .await
            .unwrap();
        let (fill, ours) = bench_ticks(Arc::new(mongo), &ps[..mguilds], ticks).await;
        println!(
            "mongodb ({mguilds} guilds): first tick (full saves) {}",
            ms(fill)
        );
        let naive = mongo_naive(&uri, &db, &ps[..mguilds], ticks).await;
        report(&format!("mongodb ({mguilds} guilds)"), &ours, &naive);
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        let _ = client.database(&db).drop().await;
    } else {
        println!("mongodb: skipped (set MONGODB_URI to include it)");
    }
}
