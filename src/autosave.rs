//! The autosave task: keeps the latest state of every guild in memory and writes what changed.
//!
//! - Every `interval` it writes the guilds whose state changed; positions of playing guilds always
//!   count as changed (their extrapolated position is written).
//! - About `debounce` after any other change it writes the changed guilds.
//! - On shutdown it flushes everything once more.
//! - [`Autosave::commit`] writes a guild's change at once and returns when the store has it: what
//!   a member's confirmed change waits for before its reply.
//! - A queue is written as a change from the queue the store holds ([`SaveOp::Edit`]), so an
//!   append to a long queue writes the appended tracks only.
//! - A failed write keeps everything pending (the newest state per guild wins) and is retried with
//!   a growing delay; the outage is logged once when it starts and once when it ends.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::domain::{
    is_playing, now_ms, position_at, GuildId, PlayerSnapshot, PlayerState, QueueSnapshot,
};
use crate::store::{SaveOp, StateStore, StoreError, WriteStats};
use crate::sync::LockExt;

#[derive(Debug, Clone, Copy)]
pub struct AutosaveConfig {
    pub interval: Duration,
    pub debounce: Duration,
    /// Longest wait between retries during an outage (also bounded by `interval`).
    pub max_retry_delay: Duration,
    /// Longest wait of [`Autosave::commit`] for the store (a member waits for its reply).
    pub commit_wait: Duration,
}

impl AutosaveConfig {
    pub fn new(interval: Duration) -> Self {
        AutosaveConfig {
            interval,
            debounce: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(30),
            commit_wait: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dirty {
    Clean,
    State,
    Full,
}

struct Entry {
    state: PlayerState,
    queue: Arc<QueueSnapshot>,
    dirty: Dirty,
    /// The queue the store holds for this guild (`None`: nothing, or not known after a failed
    /// write): a state-only write is enough while it is `queue`, and a queue change is written
    /// as a change from it.
    saved_queue: Option<Arc<QueueSnapshot>>,
    /// Bumped on every change, to tell whether a write in flight saw the newest state.
    version: u64,
    /// The newest version the store has.
    saved_version: u64,
}

impl Entry {
    fn playing(&self) -> bool {
        is_playing(&self.state, &self.queue)
    }

    /// The state as of `now`: the position extrapolated while playing, and the time it was taken
    /// (what `RESUME_MAX_AGE` is measured from) set to now.
    fn state_at(&self, now: u64) -> PlayerState {
        let mut s = self.state.clone();
        s.taken_at_ms = now;
        if self.playing() {
            s.position_ms = position_at(&self.state, &self.queue, now);
            s.position_at_ms = now;
        }
        s
    }
}

#[derive(Default)]
struct Pending {
    entries: HashMap<GuildId, Entry>,
    deletes: HashSet<GuildId>,
}

/// What [`Autosave::commit`] waits to see written.
#[derive(Clone, Copy)]
enum Wanted {
    Version(u64),
    Delete,
}

impl Pending {
    /// The guild's change not yet written, if any.
    fn unsaved(&self, guild: GuildId) -> Option<Wanted> {
        match self.entries.get(&guild) {
            Some(e) if e.saved_version < e.version => Some(Wanted::Version(e.version)),
            Some(_) => None,
            None => self.deletes.contains(&guild).then_some(Wanted::Delete),
        }
    }

    /// Whether the store has `wanted` (or a newer change replaced it).
    fn has(&self, guild: GuildId, wanted: Wanted) -> bool {
        match wanted {
            Wanted::Version(v) => self
                .entries
                .get(&guild)
                .is_none_or(|e| e.saved_version >= v),
            Wanted::Delete => !self.deletes.contains(&guild),
        }
    }
}

/// Counters, for `/status` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutosaveStats {
    pub batches: u64,
    pub ops: u64,
    pub bytes: u64,
    pub failures: u64,
    pub last_success_at_ms: Option<u64>,
    pub in_outage: bool,
}

struct Inner {
    store: Arc<dyn StateStore>,
    config: AutosaveConfig,
    pending: Mutex<Pending>,
    changed: Notify,
    next_version: AtomicU64,
    outage: AtomicBool,
    stats: Mutex<AutosaveStats>,
    /// Serialises writes so two flushes never race each other.
    write_lock: tokio::sync::Mutex<()>,
    /// This instance's lease: nothing is written while it may not act.
    fence: std::sync::OnceLock<crate::lease::LeaseHandle>,
}

/// Handle to the autosave; cheap to clone.
#[derive(Clone)]
pub struct Autosave {
    inner: Arc<Inner>,
}

/// The running task; `shutdown` flushes and stops it.
pub struct AutosaveTask {
    autosave: Autosave,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// A guild's part of a write in flight: its version, and its queue when the write saves it.
struct Written {
    guild: GuildId,
    version: u64,
    queue: Option<Arc<QueueSnapshot>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flush {
    /// Only what changed (debounced writes).
    Changes,
    /// What changed, plus the positions of playing guilds.
    Tick,
    /// Everything known, once more.
    All,
}

impl Autosave {
    pub fn new(store: Arc<dyn StateStore>, config: AutosaveConfig) -> Self {
        Autosave {
            inner: Arc::new(Inner {
                store,
                config,
                pending: Mutex::new(Pending::default()),
                changed: Notify::new(),
                next_version: AtomicU64::new(1),
                outage: AtomicBool::new(false),
                stats: Mutex::new(AutosaveStats::default()),
                write_lock: tokio::sync::Mutex::new(()),
                fence: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Writes only while `lease` says this instance may act (see [`crate::lease`], fencing):
    /// changes made meanwhile stay pending, for a write once it may again. Set once, at start-up.
    pub fn set_fence(&self, lease: crate::lease::LeaseHandle) {
        let _ = self.inner.fence.set(lease);
    }

    /// The store it writes to, for a guild's writes of their own (what it played).
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.inner.store
    }

    /// Whether this instance may write now (its lease, when fenced, says so).
    pub fn may_write(&self) -> bool {
        self.inner.fence.get().is_none_or(|l| l.may_act())
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.inner.pending.locked()
    }

    pub fn stats(&self) -> AutosaveStats {
        *self.inner.stats.locked()
    }

    /// Records the newest state of a guild. `queue_changed` says whether the queue (current,
    /// upcoming or history) changed since the last record; if not, `queue` is taken to be the
    /// same as before and only the small state is written.
    pub fn record(&self, state: PlayerState, queue: Arc<QueueSnapshot>, queue_changed: bool) {
        let version = self.inner.next_version.fetch_add(1, Ordering::Relaxed);
        let level = if queue_changed {
            Dirty::Full
        } else {
            Dirty::State
        };
        {
            let mut p = self.pending();
            p.deletes.remove(&state.guild_id);
            match p.entries.get_mut(&state.guild_id) {
                Some(e) => {
                    e.state = state;
                    if queue_changed {
                        e.queue = queue;
                    }
                    e.dirty = e.dirty.max(level);
                    e.version = version;
                }
                None => {
                    p.entries.insert(
                        state.guild_id,
                        Entry {
                            state,
                            queue,
                            dirty: Dirty::Full,
                            saved_queue: None,
                            version,
                            saved_version: 0,
                        },
                    );
                }
            }
        }
        self.inner.changed.notify_one();
    }

    /// Tracks a guild whose snapshot the store holds as it is (a player loaded to be restored):
    /// nothing is written until it changes or plays, and a change of its queue is written as a
    /// change from this one. A guild already tracked is left as it is (what this process
    /// recorded is newer than what was loaded).
    pub fn adopt(&self, snapshot: PlayerSnapshot) {
        let PlayerSnapshot { state, queue, .. } = snapshot;
        self.adopt_shared(state, Arc::new(queue));
    }

    /// [`Autosave::adopt`] with the queue shared (no copy).
    pub fn adopt_shared(&self, state: PlayerState, queue: Arc<QueueSnapshot>) {
        let version = self.inner.next_version.fetch_add(1, Ordering::Relaxed);
        let mut p = self.pending();
        let guild = state.guild_id;
        if p.entries.contains_key(&guild) || p.deletes.contains(&guild) {
            return;
        }
        p.entries.insert(
            guild,
            Entry {
                state,
                queue: queue.clone(),
                dirty: Dirty::Clean,
                saved_queue: Some(queue),
                version,
                saved_version: version,
            },
        );
    }

    /// Forgets a guild (stopped or left on purpose): its saved snapshot is deleted.
    pub fn forget(&self, guild_id: GuildId) {
        {
            let mut p = self.pending();
            p.entries.remove(&guild_id);
            p.deletes.insert(guild_id);
        }
        self.inner.changed.notify_one();
    }

    /// Stops tracking every guild without writing or deleting anything (another instance took
    /// them over). Waits for a write in flight, so nothing is written after this returns.
    pub async fn release_all(&self) {
        let _guard = self.inner.write_lock.lock().await;
        let mut p = self.pending();
        p.entries.clear();
        p.deletes.clear();
    }

    /// Number of guilds tracked.
    pub fn len(&self) -> usize {
        self.pending().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes what changed now (plus playing positions): one autosave tick.
    pub async fn tick(&self) -> Result<WriteStats, StoreError> {
        self.flush(Flush::Tick).await
    }

    /// Writes every known guild once more.
    pub async fn flush_all(&self) -> Result<WriteStats, StoreError> {
        self.flush(Flush::All).await
    }

    /// Writes `guild`'s pending change now (a queue edit, a setting, a pause, a stop) and returns
    /// once the store has it: what a member's confirmed change waits for before its reply.
    /// Positions are left to the tick. Every other pending change goes in the same write, so
    /// members acting at once in many guilds share writes. Waits at most `commit_wait`; the
    /// error is the store's (or [`StoreError::Unavailable`] after that wait), and the change
    /// then stays pending and is written by the next write that succeeds, as after a failed tick.
    pub async fn commit(&self, guild: GuildId) -> Result<(), StoreError> {
        let Some(wanted) = self.pending().unsaved(guild) else {
            return Ok(());
        };
        let me = self.clone();
        // The write runs on its own: a caller that stops waiting never cuts it short, so what
        // the store holds is always known.
        let write = tokio::spawn(async move {
            let _guard = me.inner.write_lock.lock().await;
            if me.pending().has(guild, wanted) {
                return Ok(());
            }
            me.write(Flush::Changes).await.map(|_| ())
        });
        let wait = self.inner.config.commit_wait;
        match tokio::time::timeout(wait, write).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(StoreError::Backend(format!("the write task ended: {e}"))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {}",
                humantime::format_duration(wait)
            ))),
        }
    }

    async fn flush(&self, kind: Flush) -> Result<WriteStats, StoreError> {
        let _guard = self.inner.write_lock.lock().await;
        self.write(kind).await
    }

    /// One write of what `kind` asks for; the caller holds `write_lock`.
    async fn write(&self, kind: Flush) -> Result<WriteStats, StoreError> {
        if !self.may_write() {
            // Another instance may own the store's players now: keep the changes pending.
            return match kind {
                Flush::Changes => Err(StoreError::Unavailable(
                    "this instance may not write now (its lease is not renewed)".into(),
                )),
                Flush::Tick | Flush::All => Ok(WriteStats::default()),
            };
        }
        let now = now_ms();
        let (ops, written): (Vec<SaveOp>, Vec<Written>) = {
            let p = self.pending();
            let mut ops = Vec::with_capacity(p.deletes.len() + p.entries.len());
            let mut written = Vec::with_capacity(p.entries.len());
            ops.extend(p.deletes.iter().map(|g| SaveOp::Delete(*g)));
            for (g, e) in &p.entries {
                let queue_unsaved = e
                    .saved_queue
                    .as_ref()
                    .is_none_or(|s| !Arc::ptr_eq(s, &e.queue));
                let wanted = queue_unsaved
                    || e.dirty != Dirty::Clean
                    || kind == Flush::All
                    || (kind == Flush::Tick && e.playing());
                if !wanted {
                    continue;
                }
                let state = e.state_at(now);
                let queue = e.queue.clone();
                ops.push(match (&e.saved_queue, queue_unsaved) {
                    (Some(_), false) => SaveOp::State(state),
                    (Some(base), true) => SaveOp::Edit {
                        state,
                        base: base.clone(),
                        queue,
                    },
                    (None, _) => SaveOp::Full { state, queue },
                });
                written.push(Written {
                    guild: *g,
                    version: e.version,
                    queue: queue_unsaved.then(|| e.queue.clone()),
                });
            }
            (ops, written)
        };
        if ops.is_empty() {
            return Ok(WriteStats::default());
        }
        let started = std::time::Instant::now();
        let saved = self.inner.store.save(&ops).await;
        crate::metrics::metrics()
            .autosave_tick_seconds
            .observe(started.elapsed().as_secs_f64());
        match saved {
            Ok(stats) => {
                let mut p = self.pending();
                for op in &ops {
                    if let SaveOp::Delete(g) = op {
                        p.deletes.remove(g);
                    }
                }
                for w in written {
                    if let Some(e) = p.entries.get_mut(&w.guild) {
                        if let Some(q) = w.queue {
                            e.saved_queue = Some(q);
                        }
                        e.saved_version = e.saved_version.max(w.version);
                        // A change made while writing keeps the guild dirty for the next write.
                        if e.version == w.version {
                            e.dirty = Dirty::Clean;
                        }
                    }
                }
                drop(p);
                self.note_success(stats);
                Ok(stats)
            }
            Err(e) => {
                // The store may hold the new queue of a guild or its old one (MongoDB writes
                // guild by guild; a reply can be lost after the write): the next write of such
                // a queue is whole.
                let mut p = self.pending();
                for w in written.iter().filter(|w| w.queue.is_some()) {
                    if let Some(e) = p.entries.get_mut(&w.guild) {
                        e.saved_queue = None;
                    }
                }
                drop(p);
                self.note_failure(&e);
                Err(e)
            }
        }
    }

    fn note_success(&self, stats: WriteStats) {
        let mut s = self.inner.stats.locked();
        s.batches += 1;
        s.ops += stats.ops as u64;
        s.bytes += stats.bytes;
        s.last_success_at_ms = Some(now_ms());
        s.in_outage = false;
        drop(s);
        if self.inner.outage.swap(false, Ordering::Relaxed) {
            tracing::info!(
                backend = self.inner.store.backend(),
                written = stats.ops,
                "player store is reachable again; pending player state was written"
            );
        }
    }

    fn note_failure(&self, e: &StoreError) {
        crate::metrics::metrics().autosave_failures.inc();
        let mut s = self.inner.stats.locked();
        s.failures += 1;
        s.in_outage = true;
        drop(s);
        if !self.inner.outage.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                backend = self.inner.store.backend(),
                error = %e,
                "cannot write player state; keeping the latest state in memory and retrying"
            );
        } else {
            tracing::debug!(error = %e, "player state write failed again");
        }
    }

    /// Starts the background task.
    pub fn spawn(&self) -> AutosaveTask {
        let (stop, stop_rx) = watch::channel(false);
        let me = self.clone();
        let handle = tokio::spawn(async move { me.run(stop_rx).await });
        AutosaveTask {
            autosave: self.clone(),
            stop,
            handle,
        }
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let config = self.inner.config;
        let mut next_tick = Instant::now() + config.interval;
        let mut retry_delay = Duration::from_millis(500);
        let mut retry_at: Option<Instant> = None;
        loop {
            let changed = self.inner.changed.notified();
            let wake = retry_at.map_or(next_tick, |r| r.min(next_tick));
            let kind = tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= next_tick {
                        next_tick = Instant::now() + config.interval;
                    }
                    Flush::Tick
                }
                _ = changed => {
                    // Debounce: let a burst of changes settle into one write.
                    tokio::select! {
                        _ = stop.changed() => return,
                        _ = tokio::time::sleep(config.debounce) => {}
                    }
                    // A steady stream of changes must not starve the periodic position writes.
                    if Instant::now() >= next_tick {
                        next_tick = Instant::now() + config.interval;
                        Flush::Tick
                    } else {
                        Flush::Changes
                    }
                }
            };
            match self.flush(kind).await {
                Ok(_) => {
                    retry_at = None;
                    retry_delay = Duration::from_millis(500);
                }
                Err(_) => {
                    retry_at = Some(Instant::now() + retry_delay);
                    retry_delay = (retry_delay * 2)
                        .min(config.max_retry_delay)
                        .min(config.interval);
                }
            }
        }
    }
}

impl AutosaveTask {
    pub fn autosave(&self) -> &Autosave {
        &self.autosave
    }

    /// Stops the task and flushes everything once more; the error says what could not be written.
    pub async fn shutdown(self) -> Result<WriteStats, StoreError> {
        let _ = self.stop.send(true);
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "autosave task ended abnormally");
        }
        self.autosave.flush(Flush::All).await
    }
}
