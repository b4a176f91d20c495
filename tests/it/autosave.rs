//! Autosave against a real SQLite file: debounce, ticks, outage and recovery, shutdown flush.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use encore::autosave::{Autosave, AutosaveConfig};
use encore::domain::{now_ms, PauseReason, PlayerSnapshot};
use encore::store::{SqliteOptions, SqliteStore, StateStore};

use crate::harness::{guild, snapshot};

fn config(interval_ms: u64, debounce_ms: u64) -> AutosaveConfig {
    AutosaveConfig {
        interval: Duration::from_millis(interval_ms),
        debounce: Duration::from_millis(debounce_ms),
        max_retry_delay: Duration::from_millis(400),
        commit_wait: Duration::from_millis(1000),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<SqliteStore>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("encore.db");
    let mut opts = SqliteOptions::new(&path);
    opts.busy_timeout = Duration::from_millis(50);
    let store = Arc::new(SqliteStore::open(opts).unwrap());
    Fixture {
        _dir: dir,
        path,
        store,
    }
}

fn record(a: &Autosave, s: &PlayerSnapshot, queue_changed: bool) {
    a.record(s.state.clone(), Arc::new(s.queue.clone()), queue_changed);
}

/// A playing player observed right now.
fn playing(g: u64, generation: u64) -> PlayerSnapshot {
    let mut s = snapshot(g, 10, generation);
    s.state.unpause();
    s.state.stalled = false;
    s.state.position_ms = 5_000;
    s.state.position_at_ms = now_ms();
    s
}

#[tokio::test]
async fn a_burst_of_changes_is_written_once_after_the_debounce() {
    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(60_000, 300));
    let task = a.spawn();
    for generation in 0..20 {
        let mut s = snapshot(guild(1), 5, generation);
        s.state.paused = true;
        record(&a, &s, generation % 5 == 0);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        f.store.load(guild(1)).await.unwrap(),
        None,
        "written before the debounce"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let saved = f
        .store
        .load(guild(1))
        .await
        .unwrap()
        .expect("written within about a second");
    assert_eq!(saved.state.volume, 19, "the newest state wins");
    assert_eq!(a.stats().batches, 1, "one write for the whole burst");
    task.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_position_nobody_hears_is_saved_where_the_audio_stopped() {
    // A lost node or a broken voice: a crash now must restore where listeners last heard it.
    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(60_000, 10_000));
    let mut unheard = playing(guild(1), 2);
    unheard.state.stalled = true;
    record(&a, &unheard, true);
    a.tick().await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    a.tick().await.unwrap();
    let saved = f.store.load(guild(1)).await.unwrap().unwrap();
    assert!(saved.state.stalled);
    assert_eq!(saved.position_at(now_ms() + 60_000), 5_000);
}

#[tokio::test]
async fn a_tick_writes_playing_positions_but_not_idle_guilds() {
    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(60_000, 10_000));
    let play = playing(guild(1), 2);
    let mut paused = snapshot(guild(2), 10, 3);
    paused.state.pause(PauseReason::Member);
    record(&a, &play, true);
    record(&a, &paused, true);
    let first = a.tick().await.unwrap();
    assert_eq!(first.ops, 2);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = a.tick().await.unwrap();
    assert_eq!(second.ops, 1, "only the playing guild counts as changed");
    assert!(
        second.bytes < 300,
        "a position-only tick must not rewrite the queue ({} bytes)",
        second.bytes
    );
    let saved = f.store.load(guild(1)).await.unwrap().unwrap();
    let advanced = saved.state.position_ms - 5_000;
    assert!(
        (280..2_000).contains(&advanced),
        "position advanced by {advanced} ms"
    );
    assert_eq!(saved.queue, play.queue);
    assert_eq!(
        saved.state.taken_at_ms, saved.state.position_at_ms,
        "taken when written"
    );
    // The saved position, extrapolated, is where the player is now.
    let drift = saved
        .position_at(now_ms())
        .abs_diff(play.position_at(now_ms()));
    assert!(drift < 50, "drift {drift} ms");
}

#[tokio::test]
async fn the_periodic_task_keeps_positions_fresh() {
    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(200, 50));
    let task = a.spawn();
    record(&a, &playing(guild(1), 2), true);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let saved = f.store.load(guild(1)).await.unwrap().unwrap();
    assert!(
        now_ms() - saved.state.position_at_ms < 500,
        "saved position is stale"
    );
    assert!(a.stats().batches >= 3, "ticks: {:?}", a.stats());
    task.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_flushes_what_the_debounce_had_not_written() {
    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(60_000, 60_000));
    let task = a.spawn();
    let s = snapshot(guild(3), 7, 4);
    record(&a, &s, true);
    let stats = task.shutdown().await.unwrap();
    assert!(stats.ops >= 1);
    assert_eq!(
        f.store.load(guild(3)).await.unwrap().unwrap().queue,
        s.queue
    );
}

#[tokio::test]
async fn forget_deletes_and_adopt_writes_nothing_until_changed() {
    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(60_000, 10_000));
    let s = snapshot(guild(4), 3, 2);
    record(&a, &s, true);
    a.tick().await.unwrap();
    a.forget(guild(4));
    a.tick().await.unwrap();
    assert_eq!(f.store.load(guild(4)).await.unwrap(), None);

    let mut restored = snapshot(guild(5), 3, 4);
    restored.state.paused = true;
    a.adopt(restored.clone());
    assert_eq!(
        a.tick().await.unwrap().ops,
        0,
        "an adopted, unchanged player is not rewritten"
    );
    let mut changed = restored.state.clone();
    changed.volume = 33;
    f.store
        .save(&[crate::harness::full(&restored)])
        .await
        .unwrap();
    a.record(changed, Arc::new(restored.queue.clone()), false);
    let stats = a.tick().await.unwrap();
    assert_eq!(stats.ops, 1);
    assert!(
        stats.bytes < 300,
        "state-only change of an adopted player rewrote {} bytes",
        stats.bytes
    );
    assert_eq!(
        f.store.load(guild(5)).await.unwrap().unwrap().state.volume,
        33
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}

#[tokio::test]
async fn an_outage_keeps_the_newest_state_and_is_logged_once_each_way() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(60_000, 10_000));
    let first = snapshot(guild(6), 4, 2);
    record(&a, &first, true);
    a.tick().await.unwrap();

    // Another process holds the write lock: the store is unreachable for writes.
    let blocker = rusqlite::Connection::open(&f.path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut newest = None;
    for generation in 3..7 {
        let s = snapshot(guild(6), 4 + generation as u32, generation);
        let other = snapshot(guild(7), 2, generation);
        record(&a, &s, true);
        record(&a, &other, true);
        assert!(
            a.tick().await.is_err(),
            "the write should fail while locked"
        );
        newest = Some((s, other));
    }
    assert!(a.stats().in_outage);
    assert_eq!(a.stats().failures, 4);
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);

    a.tick().await.unwrap();
    let (s, other) = newest.unwrap();
    assert_eq!(
        f.store.load(guild(6)).await.unwrap().unwrap().queue,
        s.queue,
        "newest state wins"
    );
    assert_eq!(
        f.store.load(guild(7)).await.unwrap().unwrap().queue,
        other.queue,
        "nothing lost"
    );
    assert!(!a.stats().in_outage);

    let text = logs.text();
    assert_eq!(
        text.matches("cannot write player state").count(),
        1,
        "{text}"
    );
    assert_eq!(text.matches("reachable again").count(), 1, "{text}");
    assert!(text.contains("WARN"), "{text}");
}

#[tokio::test]
async fn the_background_task_retries_after_an_outage_on_its_own() {
    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(60_000, 20));
    let task = a.spawn();
    let blocker = rusqlite::Connection::open(&f.path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let s = snapshot(guild(8), 3, 5);
    record(&a, &s, true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(a.stats().failures >= 1);
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    // Retries back off up to max_retry_delay (400 ms here), far sooner than the 60 s interval.
    let mut saved = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        saved = f.store.load(guild(8)).await.unwrap();
        if saved.is_some() {
            break;
        }
    }
    assert_eq!(saved.map(|x| x.queue), Some(s.queue));
    task.shutdown().await.unwrap();
}

/// The queue the store holds for `g`.
async fn saved_queue(f: &Fixture, g: u64) -> Option<encore::domain::QueueSnapshot> {
    f.store.load(g).await.unwrap().map(|s| s.queue)
}

#[tokio::test]
async fn commit_saves_a_change_at_once_and_an_append_as_a_change() {
    let f = fixture();
    // Nothing but a commit writes within this test: a 60 s interval and debounce.
    let a = Autosave::new(f.store.clone(), config(60_000, 60_000));
    let task = a.spawn();
    let mut s = snapshot(guild(20), 2000, 2);
    record(&a, &s, true);
    a.commit(guild(20)).await.unwrap();
    assert_eq!(saved_queue(&f, guild(20)).await, Some(s.queue.clone()));
    let whole = a.stats().bytes;
    // One more track and a new volume: committed as a change of the queue saved.
    let mut queue = s.queue.clone();
    queue.upcoming.push_back(crate::harness::track(5000, 2));
    s.queue = queue;
    s.state.volume = 42;
    record(&a, &s, true);
    a.commit(guild(20)).await.unwrap();
    assert_eq!(saved_queue(&f, guild(20)).await, Some(s.queue.clone()));
    let saved = f.store.load(guild(20)).await.unwrap().unwrap();
    assert_eq!(saved.state.volume, 42);
    let appended = a.stats().bytes - whole;
    assert!(
        appended * 50 < whole,
        "an append wrote {appended} bytes, the whole queue {whole}"
    );
    // Nothing pending: nothing written.
    let batches = a.stats().batches;
    a.commit(guild(20)).await.unwrap();
    assert_eq!(a.stats().batches, batches);
    // A forgotten guild's delete is committed too.
    a.forget(guild(20));
    a.commit(guild(20)).await.unwrap();
    assert_eq!(f.store.load(guild(20)).await.unwrap(), None);
    task.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_commit_the_store_cannot_take_fails_and_the_change_is_saved_later() {
    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(60_000, 60_000));
    let first = snapshot(guild(21), 30, 2);
    record(&a, &first, true);
    a.commit(guild(21)).await.unwrap();
    let blocker = rusqlite::Connection::open(&f.path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut next = first.clone();
    next.queue.upcoming.pop_front();
    next.state.volume = 11;
    record(&a, &next, true);
    let asked = std::time::Instant::now();
    assert!(a.commit(guild(21)).await.is_err());
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "bounded by commit_wait"
    );
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    assert_eq!(saved_queue(&f, guild(21)).await, Some(first.queue));
    // Kept pending: the next write saves it (whole: what the failed write left is not known).
    a.tick().await.unwrap();
    assert_eq!(saved_queue(&f, guild(21)).await, Some(next.queue));
    let saved = f.store.load(guild(21)).await.unwrap().unwrap();
    assert_eq!(saved.state.volume, 11);
}

#[tokio::test]
async fn many_guilds_committing_at_once_share_writes() {
    let f = fixture();
    let a = Autosave::new(f.store.clone(), config(60_000, 60_000));
    let all: Vec<PlayerSnapshot> = (30..60).map(|i| snapshot(guild(i), 20, i)).collect();
    for s in &all {
        record(&a, s, true);
    }
    let commits = all.iter().map(|s| {
        let a = a.clone();
        let g = s.guild_id();
        tokio::spawn(async move { a.commit(g).await })
    });
    for c in commits.collect::<Vec<_>>() {
        c.await.unwrap().unwrap();
    }
    assert!(a.stats().batches < 30, "{} writes", a.stats().batches);
    for s in &all {
        assert_eq!(saved_queue(&f, s.guild_id()).await.as_ref(), Some(&s.queue));
    }
}
