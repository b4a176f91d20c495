//! Who owns voice, autosave and command replies when two instances run at once.
//!
//! On a zero-downtime deploy the new instance starts while the old one still runs, both connected
//! to Discord and to the same store. A lease in the store (owner, generation, expiry, and the
//! instance that asked to take over) decides which of them acts:
//! - a starting instance takes a free or expired lease at once; if another instance holds it, the
//!   newer instance asks for it (`wanted_by`);
//! - the owner renews it every `LEASE_TTL / 10` (between 100 ms and 1 s); when a newer instance
//!   asks, it stops answering, flushes the exact positions and hands the lease over, noting how
//!   it left ([`Exit`]);
//! - an owner that died is replaced once its lease expires, or at once when a stand-by resumes
//!   its Lavalink session ([`LeaseHandle::take_over_on_evidence`]): Lavalink lets a client resume
//!   a session only once its own socket is gone.
//!
//! **Fencing.** An owner that has not renewed within two thirds of `LEASE_TTL` (counted on its
//! own monotonic clock from the start of the last round that renewed) stops acting
//! ([`Role::Fenced`]): it closes its Lavalink sockets, holds interactions and writes nothing, so it
//! has stopped a third of `LEASE_TTL` before another instance may take an expired lease. It acts
//! again only after a renewal that went through in time (nobody took the lease meanwhile);
//! otherwise the next read finds the lease taken and it retires for good. Parts that act check
//! [`LeaseHandle::may_act`] at the moment they act, not only when the role changes.
//!
//! The lease also carries the owner's Lavalink session ids, so the next owner can resume them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use crate::domain::lease::{decide, Exit, Instance, LeaseBody, Step};
use crate::domain::now_ms;
use crate::store::{StateStore, StoreError};
use crate::sync::LockExt;

/// How often the owner checks that it renewed within the fence window.
const FENCE_CHECK_EVERY: Duration = Duration::from_millis(50);

/// This instance's part in the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Another instance owns it (or we have not read it yet): do not act.
    Standby,
    /// Ours: act. `exit` says how the previous owner left (`None`: it crashed, and was last
    /// seen renewing at `last_seen_ms`, Unix ms); `lavalink_sessions` are its sessions.
    Owner {
        generation: u64,
        exit: Option<Exit>,
        last_seen_ms: Option<u64>,
        lavalink_sessions: BTreeMap<String, String>,
    },
    /// Ours on paper, but not renewed in time (the store did not answer): do not act. Back to
    /// the same `Owner` once a renewal goes through in time, `Retired` once the lease is found
    /// taken.
    Fenced,
    /// Ours, but a newer instance asked for it: stop, flush, then [`LeaseHandle::hand_over`].
    HandOverTo(Instance),
    /// No longer ours (handed over, released, or taken after we failed to renew).
    Retired,
}

impl Role {
    /// The lease is ours (owned, fenced, or owned and being handed over).
    pub fn holds_lease(&self) -> bool {
        matches!(
            self,
            Role::Owner { .. } | Role::HandOverTo(_) | Role::Fenced
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the lease is not ours")]
    NotOwner,
}

struct Shared {
    store: Arc<dyn StateStore>,
    name: String,
    me: Instance,
    ttl: Duration,
    generation: Mutex<Option<u64>>,
    /// The `Owner` role we hold, to come back to after a fence.
    owned_role: Mutex<Option<Role>>,
    /// Until when we may act: the start of the last round that renewed, plus the fence window.
    acting_until: Mutex<Option<Instant>>,
    sessions: Mutex<BTreeMap<String, String>>,
    role: watch::Sender<Role>,
    /// The lease as last read.
    seen: Mutex<Option<LeaseBody>>,
    /// Set once [`LeaseHandle::start`] ran.
    started: std::sync::atomic::AtomicBool,
    /// Set when another instance took the lease from us (not when we gave it up).
    taken: std::sync::atomic::AtomicBool,
    /// Held during each read-decide-write round, so [`LeaseHandle::withdraw`] never races one.
    steps: tokio::sync::Mutex<()>,
}

/// The running lease of this instance; cheap to clone.
#[derive(Clone)]
pub struct LeaseHandle {
    shared: Arc<Shared>,
}

impl LeaseHandle {
    /// Starts taking part in the lease `name`: reads it every `ttl / 10` (at most every second).
    pub fn spawn(store: Arc<dyn StateStore>, name: &str, me: Instance, ttl: Duration) -> Self {
        let handle = LeaseHandle::new(store, name, me, ttl);
        handle.start();
        handle
    }

    /// This instance's part in the lease, not yet taking part: `Standby` until [`Self::start`].
    /// The start-up builds everything that can fail first and starts the lease last, so a process
    /// that dies while starting never asks the running owner to hand over to it.
    pub fn new(store: Arc<dyn StateStore>, name: &str, me: Instance, ttl: Duration) -> Self {
        let (role, _) = watch::channel(Role::Standby);
        LeaseHandle {
            shared: Arc::new(Shared {
                store,
                name: name.to_string(),
                me,
                ttl,
                generation: Mutex::new(None),
                owned_role: Mutex::new(None),
                acting_until: Mutex::new(None),
                sessions: Mutex::new(BTreeMap::new()),
                role,
                seen: Mutex::new(None),
                started: std::sync::atomic::AtomicBool::new(false),
                taken: std::sync::atomic::AtomicBool::new(false),
                steps: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Takes part in the lease from now on: reads it, takes or asks for it, renews it. A second
    /// call does nothing.
    pub fn start(&self) {
        if self
            .shared
            .started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let weak = Arc::downgrade(&self.shared);
        let period = self.period();
        tokio::spawn(async move {
            loop {
                let Some(shared) = weak.upgrade() else { return };
                let h = LeaseHandle { shared };
                {
                    let _round = h.shared.steps.lock().await;
                    if matches!(*h.shared.role.borrow(), Role::Retired) {
                        return;
                    }
                    if let Err(e) = h.step().await {
                        tracing::warn!(lease = %h.shared.name, error = %e, "could not read or renew the lease");
                    }
                }
                drop(h);
                tokio::time::sleep(period).await;
            }
        });
        // The fence runs apart from the rounds, which a stalled store holds up.
        let weak = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FENCE_CHECK_EVERY).await;
                let Some(shared) = weak.upgrade() else { return };
                let h = LeaseHandle { shared };
                match h.role() {
                    Role::Retired => return,
                    Role::Owner { .. } if !h.may_act() => {
                        tracing::warn!(lease = %h.shared.name, window = %humantime::format_duration(h.fence_window()), "the lease was not renewed in time (the store does not answer): this instance stops acting until it is");
                        h.set_role(Role::Fenced);
                    }
                    _ => {}
                }
            }
        });
    }

    /// How often the lease is read and renewed: `LEASE_TTL / 10`, between 100 ms and 1 s.
    pub fn period(&self) -> Duration {
        Duration::from_millis(crate::domain::lease::renewal_period_ms(
            self.shared.ttl.as_millis() as u64,
        ))
    }

    /// How long after the start of its last renewing round the owner may act: two thirds of
    /// `LEASE_TTL`, which leaves a third of it (at least 100 ms) between an owner that stops and
    /// another instance that may take the expired lease, for clock skew between hosts.
    pub fn fence_window(&self) -> Duration {
        self.shared.ttl * 2 / 3
    }

    /// Whether this instance may act right now: it holds the lease (owner, or handing over) and
    /// renewed it within [`Self::fence_window`]. Checked by the parts that act (the Lavalink
    /// transport, autosave) each time they act.
    pub fn may_act(&self) -> bool {
        matches!(self.role(), Role::Owner { .. } | Role::HandOverTo(_))
            && self
                .shared
                .acting_until
                .locked()
                .is_some_and(|until| Instant::now() < until)
    }

    /// Runs a round now and then says whether we may act: asked before doing something another
    /// owner may be doing already (rebuilding players after Lavalink did not resume our session
    /// — perhaps because a stand-by resumed it).
    pub async fn confirm(&self) -> bool {
        if !self.may_act() {
            return false;
        }
        {
            let _round = self.shared.steps.lock().await;
            if let Err(e) = self.step().await {
                tracing::warn!(lease = %self.shared.name, error = %e, "could not confirm the lease");
            }
        }
        self.may_act()
    }

    /// The lease as this instance's last round read it (at most one period old), for a
    /// stand-by weighing evidence ([`crate::domain::lease::may_probe`]); the take-over reads it
    /// again before it writes.
    pub fn last_read(&self) -> Option<LeaseBody> {
        self.shared.seen.locked().clone()
    }

    /// Takes the lease at once, as after a crash, on evidence that its owner is gone: we resumed
    /// its Lavalink session after reading `seen`. The lease is read again and taken only if the
    /// owner wrote nothing since (same owner, generation and renewal; our own request to take
    /// over may have been written meanwhile), with a write conditional on that read, so an owner
    /// that renewed keeps the lease. Returns whether it is ours now.
    pub async fn take_over_on_evidence(&self, seen: &LeaseBody) -> Result<bool, StoreError> {
        let _round = self.shared.steps.lock().await;
        if self.role() != Role::Standby {
            return Ok(false);
        }
        let started = Instant::now();
        let (version, current) = self.read().await?;
        let Some(current) = current else {
            return Ok(false);
        };
        let owners_part = |b: &LeaseBody| {
            (
                b.owner.clone(),
                b.generation,
                b.renewed_at_ms,
                b.expires_at_ms,
                b.handing_over,
            )
        };
        if owners_part(&current) != owners_part(seen) {
            return Ok(false);
        }
        let ttl_ms = self.shared.ttl.as_millis() as u64;
        let Some(next) =
            crate::domain::lease::take_over(&self.shared.me, &current, now_ms(), ttl_ms)
        else {
            return Ok(false);
        };
        if !self.write(version, &next).await? {
            return Ok(false);
        }
        tracing::info!(lease = %self.shared.name, previous = ?current.owner.as_ref().map(|o| &o.id), "the owner's Lavalink session was free to resume: it is gone, and the lease is taken over now");
        self.took(&current, &next, started);
        Ok(true)
    }

    /// Whether another instance took the lease from us (`Retired` after `Lost`), rather than
    /// us giving it up (a hand-over, a release at shutdown, a stand-by withdrawing).
    pub fn was_taken(&self) -> bool {
        self.shared.taken.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `LEASE_TTL`.
    pub fn ttl(&self) -> Duration {
        self.shared.ttl
    }

    pub fn me(&self) -> &Instance {
        &self.shared.me
    }

    /// Follows this instance's role.
    pub fn watch(&self) -> watch::Receiver<Role> {
        self.shared.role.subscribe()
    }

    pub fn role(&self) -> Role {
        self.shared.role.borrow().clone()
    }

    /// Records a Lavalink node's session id; written with the next renewal.
    pub fn set_lavalink_session(&self, node: &str, session_id: &str) {
        self.shared
            .sessions
            .locked()
            .insert(node.to_string(), session_id.to_string());
    }

    fn generation(&self) -> Option<u64> {
        *self.shared.generation.locked()
    }

    fn set_role(&self, role: Role) {
        self.shared.role.send_if_modified(|r| {
            if *r == role {
                false
            } else {
                *r = role;
                true
            }
        });
    }

    async fn read(&self) -> Result<(Option<u64>, Option<LeaseBody>), StoreError> {
        let record = self.shared.store.load_lease(&self.shared.name).await?;
        let read = match record {
            None => (None, None),
            Some(r) => match serde_json::from_str::<LeaseBody>(&r.body) {
                Ok(b) => (Some(r.version), Some(b)),
                Err(e) => {
                    tracing::warn!(lease = %self.shared.name, error = %e, "the stored lease is unreadable; replacing it");
                    (Some(r.version), None)
                }
            },
        };
        *self.shared.seen.locked() = read.1.clone();
        Ok(read)
    }

    /// Whether, as far as the last read tells, another instance holds the lease but has not
    /// renewed it within `recent` (it most likely died and its lease has not expired yet). A
    /// stand-by then answers what nobody else will; a free lease, or one handed to us, is about
    /// to be ours and is not stale.
    pub fn owner_is_stale(&self, recent: Duration) -> bool {
        let seen = self.shared.seen.locked();
        let Some(body) = seen.as_ref() else {
            return false;
        };
        let Some(owner) = &body.owner else {
            return false;
        };
        if *owner == self.shared.me {
            return false;
        }
        let renewed_at = body.last_seen_ms(self.shared.ttl.as_millis() as u64);
        now_ms() >= renewed_at + recent.as_millis() as u64
    }

    async fn write(&self, version: Option<u64>, body: &LeaseBody) -> Result<bool, StoreError> {
        let text = serde_json::to_string(body).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.shared
            .store
            .swap_lease(&self.shared.name, version, &text)
            .await
    }

    /// One read-decide-write round.
    async fn step(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let (version, current) = self.read().await?;
        let owned = self.generation();
        let previous = current.clone();
        match decide(
            &self.shared.me,
            owned,
            current.as_ref(),
            now_ms(),
            self.shared.ttl.as_millis() as u64,
        ) {
            Step::Wait => {}
            Step::Lost => {
                tracing::warn!(lease = %self.shared.name, "another instance took the lease");
                self.shared
                    .taken
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                self.retire();
            }
            Step::HandOver(to, mut body) => {
                body.lavalink_sessions = self.shared.sessions.locked().clone();
                if !self.write(version, &body).await? {
                    return Ok(());
                }
                self.renewed(started);
                if matches!(self.role(), Role::Owner { .. } | Role::Fenced) {
                    tracing::info!(lease = %self.shared.name, to = %to.id, "a newer instance asked for the lease; handing over");
                }
                self.set_role(Role::HandOverTo(to));
            }
            Step::Write(mut body) => {
                let taking = owned.is_none() && body.owner.as_ref() == Some(&self.shared.me);
                if owned.is_some() {
                    body.lavalink_sessions = self.shared.sessions.locked().clone();
                }
                if !self.write(version, &body).await? {
                    return Ok(()); // Someone else wrote first: read again next round.
                }
                if taking {
                    self.took(&previous.unwrap_or_default(), &body, started);
                } else if owned.is_some() {
                    self.renewed(started);
                }
            }
        }
        Ok(())
    }

    /// A renewal that started at `started` went through: we may act until the fence window
    /// after it, and a fenced owner acts again.
    fn renewed(&self, started: Instant) {
        let until = started + self.fence_window();
        *self.shared.acting_until.locked() = Some(until);
        if self.role() == Role::Fenced && Instant::now() < until {
            if let Some(owner) = self.shared.owned_role.locked().clone() {
                tracing::info!(lease = %self.shared.name, "the lease is renewed again: this instance acts again");
                self.set_role(owner);
            }
        }
    }

    /// We wrote `body`, taking the lease that read as `prev`, in a round that started at
    /// `started`.
    fn took(&self, prev: &LeaseBody, body: &LeaseBody, started: Instant) {
        *self.shared.generation.locked() = Some(body.generation);
        let ttl_ms = self.shared.ttl.as_millis() as u64;
        let handed = prev.owner.as_ref() == Some(&self.shared.me);
        let (exit, last_seen_ms) = if handed {
            (prev.exit, None) // Handed to us.
        } else if body.exit.is_none() && prev.owner.is_some() {
            (None, Some(prev.last_seen_ms(ttl_ms))) // Its owner crashed.
        } else {
            (body.exit, None)
        };
        // Until our nodes report, the sessions we may resume are the previous owner's.
        *self.shared.sessions.locked() = body.lavalink_sessions.clone();
        tracing::info!(lease = %self.shared.name, generation = body.generation, ?exit, ?last_seen_ms, "this instance owns the lease");
        let role = Role::Owner {
            generation: body.generation,
            exit,
            last_seen_ms,
            lavalink_sessions: body.lavalink_sessions.clone(),
        };
        *self.shared.owned_role.locked() = Some(role.clone());
        *self.shared.acting_until.locked() = Some(started + self.fence_window());
        self.set_role(role);
    }

    fn retire(&self) {
        *self.shared.generation.locked() = None;
        *self.shared.acting_until.locked() = None;
        self.set_role(Role::Retired);
    }

    /// A stand-by that stops (SIGTERM before it ever owned the lease) stops taking part: no more
    /// rounds, its request to take over is withdrawn, and a lease just handed to it (not yet
    /// confirmed) is freed for the next instance — so the owner never hands over to a process
    /// that is going away. Returns `false`, doing nothing, when this instance holds the lease
    /// (the caller then [`release`](Self::release)s it after flushing).
    pub async fn withdraw(&self) -> bool {
        let _round = self.shared.steps.lock().await;
        if self.role().holds_lease() {
            return false;
        }
        self.retire();
        for _ in 0..5 {
            let Ok((version, Some(mut body))) = self.read().await else {
                return true;
            };
            let me = Some(&self.shared.me);
            let asked = body.wanted_by.as_ref() == me;
            let handed = body.owner.as_ref() == me;
            if !asked && !handed {
                return true;
            }
            if asked {
                body.wanted_by = None;
                body.wanted_at_ms = 0;
            }
            if handed {
                body.owner = None;
            }
            match self.write(version, &body).await {
                Ok(true) => {
                    tracing::info!(lease = %self.shared.name, "stopping: the lease request is withdrawn");
                    return true;
                }
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(lease = %self.shared.name, error = %e, "could not withdraw the lease request");
                    return true;
                }
            }
        }
        true
    }

    /// Gives the lease up, saying how we left: to `to` (a handover) or to nobody (a shutdown).
    /// Call after the exact positions are flushed.
    pub async fn release(&self, exit: Exit, to: Option<Instance>) -> Result<(), LeaseError> {
        let generation = self.generation().ok_or(LeaseError::NotOwner)?;
        for _ in 0..5 {
            let (version, current) = self.read().await?;
            let Some(mut body) = current else {
                break;
            };
            if body.owner.as_ref() != Some(&self.shared.me) || body.generation != generation {
                break;
            }
            let now = now_ms();
            body.generation += u64::from(to.is_some());
            body.owner = to.clone();
            body.expires_at_ms = now + self.shared.ttl.as_millis() as u64;
            body.wanted_by = None;
            body.wanted_at_ms = 0;
            body.exit = Some(exit);
            body.renewed_at_ms = now;
            body.handing_over = false;
            // Our Lavalink sessions, for the next owner to resume: on a hand-over we closed our
            // sockets first (`LavalinkBackend::release`), so it takes our very players over.
            body.lavalink_sessions = self.shared.sessions.locked().clone();
            if self.write(version, &body).await? {
                self.retire();
                return Ok(());
            }
        }
        self.retire();
        Err(LeaseError::NotOwner)
    }
}

#[cfg(test)]
mod tests;
