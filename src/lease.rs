//! Who owns voice, autosave and command replies when two instances run at once.
//!
//! On a zero-downtime deploy the new instance starts while the old one still runs, both connected
//! to Discord and to the same store. A lease in the store (owner, generation, expiry, and the
//! instance that asked to take over) decides which of them acts:
//! - a starting instance takes a free or expired lease at once; if another instance holds it, the
//!   newer instance asks for it (`wanted_by`);
//! - the owner renews it every second; when a newer instance asks, it stops answering, flushes
//!   the exact positions and hands the lease over, noting how it left ([`Exit`]);
//! - an owner that died is replaced once its lease expires.
//!
//! The lease also carries the owner's Lavalink session ids, so the next owner can resume them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::domain::now_ms;
use crate::store::{StateStore, StoreError};

/// An instance, as the lease knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub started_at_ms: u64,
}

impl Instance {
    /// This process: a random id and the time it started.
    pub fn new_process() -> Instance {
        use rand::Rng;
        let n: u64 = rand::thread_rng().gen();
        Instance {
            id: format!("{:016x}", n),
            started_at_ms: now_ms(),
        }
    }

    /// Whether `self` started after `other` (ties broken by id, so exactly one is newer).
    fn newer_than(&self, other: &Instance) -> bool {
        (self.started_at_ms, &self.id) > (other.started_at_ms, &other.id)
    }
}

/// How the previous owner left, which tells the next one where the music is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exit {
    /// It shut down at `at_ms` and closed its gateway: voice stopped then.
    Shutdown { at_ms: u64 },
    /// It handed over at `at_ms` while still playing: voice goes on until the new owner rejoins.
    /// Interactions created at or after `cut_ms` are the new owner's to answer.
    Handover { at_ms: u64, cut_ms: u64 },
}

/// The lease as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseBody {
    pub owner: Option<Instance>,
    pub generation: u64,
    pub expires_at_ms: u64,
    /// A newer instance that asked to take over, and when it last asked.
    pub wanted_by: Option<Instance>,
    #[serde(default)]
    pub wanted_at_ms: u64,
    /// How the last owner left; `None` after a crash (the lease expired).
    pub exit: Option<Exit>,
    /// The owner's Lavalink session id per node name.
    #[serde(default)]
    pub lavalink_sessions: BTreeMap<String, String>,
}

/// What an instance should do about the lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write this body (take, renew, ask); the lease is ours once it is written and `owner` is us.
    Write(LeaseBody),
    /// Another instance owns it and our request (if any) stands: wait.
    Wait,
    /// We own it and a newer instance asked for it.
    HandOver(Instance),
    /// We owned it, and no longer do.
    Lost,
}

/// The pure rule: what `me` does with `current` at `now`. `owned` is the generation we hold, if
/// we think we own the lease.
pub fn decide(
    me: &Instance,
    owned: Option<u64>,
    current: Option<&LeaseBody>,
    now: u64,
    ttl_ms: u64,
) -> Step {
    let empty = LeaseBody::default();
    let cur = current.unwrap_or(&empty);
    let held_by_me = cur.owner.as_ref() == Some(me);
    if let Some(generation) = owned {
        if !held_by_me || cur.generation != generation {
            return Step::Lost;
        }
        if let Some(w) = &cur.wanted_by {
            if w != me && w.newer_than(me) && now < cur.wanted_at_ms + ttl_ms {
                return Step::HandOver(w.clone());
            }
        }
        let mut next = cur.clone();
        next.expires_at_ms = now + ttl_ms;
        return Step::Write(next);
    }
    if held_by_me {
        // Handed to us by the previous owner (or ours from before): confirm it.
        let mut next = cur.clone();
        next.expires_at_ms = now + ttl_ms;
        next.wanted_by = None;
        return Step::Write(next);
    }
    let free = cur.owner.is_none() || cur.expires_at_ms <= now;
    if free {
        let crashed = cur.owner.is_some();
        return Step::Write(LeaseBody {
            owner: Some(me.clone()),
            generation: cur.generation + 1,
            expires_at_ms: now + ttl_ms,
            wanted_by: None,
            wanted_at_ms: 0,
            exit: if crashed { None } else { cur.exit },
            lavalink_sessions: cur.lavalink_sessions.clone(),
        });
    }
    let owner = cur.owner.as_ref().unwrap_or(me);
    let other_request_stands = cur
        .wanted_by
        .as_ref()
        .is_some_and(|w| w != me && now < cur.wanted_at_ms + ttl_ms);
    if !me.newer_than(owner) || other_request_stands {
        return Step::Wait;
    }
    // Ask, and keep asking (a request older than the ttl lapses).
    if cur.wanted_by.as_ref() == Some(me) && now < cur.wanted_at_ms + ttl_ms / 2 {
        return Step::Wait;
    }
    let mut next = cur.clone();
    next.wanted_by = Some(me.clone());
    next.wanted_at_ms = now;
    Step::Write(next)
}

/// This instance's part in the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Another instance owns it (or we have not read it yet): do not act.
    Standby,
    /// Ours: act. `exit` says how the previous owner left; `lavalink_sessions` are its sessions.
    Owner {
        generation: u64,
        exit: Option<Exit>,
        lavalink_sessions: BTreeMap<String, String>,
    },
    /// Ours, but a newer instance asked for it: stop, flush, then [`LeaseHandle::hand_over`].
    HandOverTo(Instance),
    /// No longer ours (handed over, released, or taken after we failed to renew).
    Retired,
}

impl Role {
    /// The lease is ours (owned, or owned and being handed over).
    pub fn holds_lease(&self) -> bool {
        matches!(self, Role::Owner { .. } | Role::HandOverTo(_))
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
    sessions: Mutex<BTreeMap<String, String>>,
    role: watch::Sender<Role>,
    /// The lease as last read.
    seen: Mutex<Option<LeaseBody>>,
}

/// The running lease of this instance; cheap to clone.
#[derive(Clone)]
pub struct LeaseHandle {
    shared: Arc<Shared>,
}

impl LeaseHandle {
    /// Starts taking part in the lease `name`: reads it every `ttl / 10` (at most every second).
    pub fn spawn(store: Arc<dyn StateStore>, name: &str, me: Instance, ttl: Duration) -> Self {
        let (role, _) = watch::channel(Role::Standby);
        let handle = LeaseHandle {
            shared: Arc::new(Shared {
                store,
                name: name.to_string(),
                me,
                ttl,
                generation: Mutex::new(None),
                sessions: Mutex::new(BTreeMap::new()),
                role,
                seen: Mutex::new(None),
            }),
        };
        let weak = Arc::downgrade(&handle.shared);
        let period = (ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                let Some(shared) = weak.upgrade() else { return };
                let h = LeaseHandle { shared };
                if matches!(*h.shared.role.borrow(), Role::Retired) {
                    return;
                }
                if let Err(e) = h.step().await {
                    tracing::warn!(lease = %h.shared.name, error = %e, "could not read or renew the lease");
                }
                drop(h);
                tokio::time::sleep(period).await;
            }
        });
        handle
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
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.to_string(), session_id.to_string());
    }

    fn generation(&self) -> Option<u64> {
        *self
            .shared
            .generation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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
        *self.shared.seen.lock().unwrap_or_else(|p| p.into_inner()) = read.1.clone();
        Ok(read)
    }

    /// Whether, as far as the last read tells, another instance holds the lease but has not
    /// renewed it within `recent` (it most likely died and its lease has not expired yet). A
    /// stand-by then answers what nobody else will; a free lease, or one handed to us, is about
    /// to be ours and is not stale.
    pub fn owner_is_stale(&self, recent: Duration) -> bool {
        let seen = self.shared.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Some(body) = seen.as_ref() else {
            return false;
        };
        let Some(owner) = &body.owner else {
            return false;
        };
        if *owner == self.shared.me {
            return false;
        }
        let ttl = self.shared.ttl.as_millis() as u64;
        let renewed_at = body.expires_at_ms.saturating_sub(ttl);
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
                self.retire();
            }
            Step::HandOver(to) => {
                if matches!(self.role(), Role::Owner { .. }) {
                    tracing::info!(lease = %self.shared.name, to = %to.id, "a newer instance asked for the lease; handing over");
                }
                self.set_role(Role::HandOverTo(to));
            }
            Step::Write(mut body) => {
                let taking = owned.is_none() && body.owner.as_ref() == Some(&self.shared.me);
                if owned.is_some() {
                    body.lavalink_sessions = self
                        .shared
                        .sessions
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                }
                if !self.write(version, &body).await? {
                    return Ok(()); // Someone else wrote first: read again next round.
                }
                if taking {
                    *self
                        .shared
                        .generation
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some(body.generation);
                    let prev = previous.unwrap_or_default();
                    let exit = if prev.owner.as_ref() == Some(&self.shared.me) {
                        prev.exit // Handed to us.
                    } else {
                        body.exit
                    };
                    // Until our nodes report, the sessions we may resume are the previous owner's.
                    *self
                        .shared
                        .sessions
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = body.lavalink_sessions.clone();
                    tracing::info!(lease = %self.shared.name, generation = body.generation, ?exit, "this instance owns the lease");
                    self.set_role(Role::Owner {
                        generation: body.generation,
                        exit,
                        lavalink_sessions: body.lavalink_sessions.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    fn retire(&self) {
        *self
            .shared
            .generation
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        self.set_role(Role::Retired);
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
            body.lavalink_sessions = if to.is_some() {
                // The old owner keeps its own sessions open while it lives.
                BTreeMap::new()
            } else {
                self.shared
                    .sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            };
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
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn inst(id: &str, started: u64) -> Instance {
        Instance {
            id: id.into(),
            started_at_ms: started,
        }
    }

    const TTL: u64 = 5_000;

    #[test]
    fn a_free_lease_is_taken_and_keeps_the_last_exit_and_sessions() {
        let a = inst("a", 1);
        let Step::Write(b) = decide(&a, None, None, 100, TTL) else {
            panic!()
        };
        assert_eq!(b.owner, Some(a.clone()));
        assert_eq!((b.generation, b.expires_at_ms), (1, 5_100));
        let released = LeaseBody {
            owner: None,
            generation: 4,
            exit: Some(Exit::Shutdown { at_ms: 90 }),
            lavalink_sessions: [("main".to_string(), "s1".to_string())].into(),
            ..Default::default()
        };
        let Step::Write(b) = decide(&a, None, Some(&released), 100, TTL) else {
            panic!()
        };
        assert_eq!(b.exit, Some(Exit::Shutdown { at_ms: 90 }));
        assert_eq!(b.generation, 5);
        assert_eq!(
            b.lavalink_sessions.get("main").map(String::as_str),
            Some("s1")
        );
    }

    #[test]
    fn an_expired_lease_is_taken_as_after_a_crash() {
        let held = LeaseBody {
            owner: Some(inst("old", 1)),
            generation: 2,
            expires_at_ms: 1_000,
            exit: Some(Exit::Shutdown { at_ms: 5 }),
            ..Default::default()
        };
        let me = inst("new", 2);
        assert!(
            matches!(decide(&me, None, Some(&held), 999, TTL), Step::Write(b) if b.owner.as_ref() == Some(&inst("old", 1)))
        );
        let Step::Write(b) = decide(&me, None, Some(&held), 1_000, TTL) else {
            panic!()
        };
        assert_eq!(b.owner, Some(me));
        assert_eq!(b.exit, None, "an expired owner left no exit");
    }

    #[test]
    fn a_newer_instance_asks_and_the_owner_hands_over() {
        let old = inst("old", 1);
        let new = inst("new", 2);
        let held = LeaseBody {
            owner: Some(old.clone()),
            generation: 3,
            expires_at_ms: 10_000,
            ..Default::default()
        };
        let Step::Write(asked) = decide(&new, None, Some(&held), 100, TTL) else {
            panic!()
        };
        assert_eq!(asked.wanted_by, Some(new.clone()));
        assert_eq!(asked.owner, Some(old.clone()));
        // Asking again right away writes nothing.
        assert_eq!(decide(&new, None, Some(&asked), 200, TTL), Step::Wait);
        assert_eq!(
            decide(&old, Some(3), Some(&asked), 300, TTL),
            Step::HandOver(new.clone())
        );
        // An older instance never asks; the owner renews.
        let older = inst("older", 0);
        assert_eq!(decide(&older, None, Some(&held), 100, TTL), Step::Wait);
        assert!(
            matches!(decide(&old, Some(3), Some(&held), 100, TTL), Step::Write(b) if b.expires_at_ms == 5_100)
        );
        // A request that lapsed is not obeyed.
        assert!(matches!(
            decide(&old, Some(3), Some(&asked), 100 + TTL, TTL),
            Step::Write(_)
        ));
    }

    #[test]
    fn an_owner_whose_generation_moved_on_has_lost_it() {
        let me = inst("a", 1);
        let taken = LeaseBody {
            owner: Some(inst("b", 2)),
            generation: 4,
            expires_at_ms: 10_000,
            ..Default::default()
        };
        assert_eq!(decide(&me, Some(3), Some(&taken), 1, TTL), Step::Lost);
        assert_eq!(decide(&me, Some(3), None, 1, TTL), Step::Lost);
    }

    async fn until_role(h: &LeaseHandle, want: impl Fn(&Role) -> bool) -> Role {
        let mut rx = h.watch();
        let r = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|r| want(r)))
            .await
            .expect("role in time")
            .expect("lease task alive")
            .clone();
        r
    }

    #[tokio::test]
    async fn two_instances_hand_over_once_and_the_new_one_learns_how() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let ttl = Duration::from_secs(2);
        let old = LeaseHandle::spawn(store.clone(), "main", inst("old", 1), ttl);
        until_role(&old, |r| matches!(r, Role::Owner { .. })).await;
        old.set_lavalink_session("main", "old-session");
        let new = LeaseHandle::spawn(store.clone(), "main", inst("new", 2), ttl);
        let Role::HandOverTo(to) = until_role(&old, |r| matches!(r, Role::HandOverTo(_))).await
        else {
            panic!()
        };
        assert_eq!(to.id, "new");
        assert_eq!(new.role(), Role::Standby);
        let exit = Exit::Handover {
            at_ms: 42,
            cut_ms: 42,
        };
        old.release(exit, Some(to)).await.unwrap();
        assert_eq!(old.role(), Role::Retired);
        let Role::Owner {
            exit: got,
            lavalink_sessions,
            ..
        } = until_role(&new, |r| matches!(r, Role::Owner { .. })).await
        else {
            panic!()
        };
        assert_eq!(got, Some(exit));
        assert!(
            lavalink_sessions.is_empty(),
            "the old instance's sessions stay its own"
        );
        // A retired instance never takes it back while the new one renews.
        tokio::time::sleep(ttl + Duration::from_millis(500)).await;
        assert!(matches!(new.role(), Role::Owner { .. }));
        assert_eq!(old.role(), Role::Retired);
    }

    #[tokio::test]
    async fn a_shutdown_release_lets_the_next_instance_in_at_once_with_the_sessions() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let ttl = Duration::from_secs(30);
        let a = LeaseHandle::spawn(store.clone(), "main", inst("a", 1), ttl);
        until_role(&a, |r| matches!(r, Role::Owner { .. })).await;
        a.set_lavalink_session("node-1", "sess-a");
        a.release(Exit::Shutdown { at_ms: 7 }, None).await.unwrap();
        let b = LeaseHandle::spawn(store.clone(), "main", inst("b", 2), ttl);
        let Role::Owner {
            exit,
            lavalink_sessions,
            ..
        } = until_role(&b, |r| matches!(r, Role::Owner { .. })).await
        else {
            panic!()
        };
        assert_eq!(exit, Some(Exit::Shutdown { at_ms: 7 }));
        assert_eq!(
            lavalink_sessions.get("node-1").map(String::as_str),
            Some("sess-a")
        );
    }

    #[tokio::test]
    async fn a_stand_by_sees_an_owner_that_stopped_renewing_as_stale() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let ttl = Duration::from_secs(3);
        let a = LeaseHandle::spawn(store.clone(), "main", inst("a", 1), ttl);
        until_role(&a, |r| matches!(r, Role::Owner { .. })).await;
        let b = LeaseHandle::spawn(store.clone(), "main", inst("a-older", 0), ttl);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let recent = Duration::from_millis(900);
        assert!(!b.owner_is_stale(recent), "a renews every 300 ms");
        assert!(!a.owner_is_stale(recent), "never stale to its owner");
        drop(a); // Its task stops: no more renewals, as after a crash.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(b.owner_is_stale(recent));
        // Once the lease expires the stand-by takes it, and nothing is stale any more.
        until_role(&b, |r| matches!(r, Role::Owner { .. })).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!b.owner_is_stale(recent));
    }
}
