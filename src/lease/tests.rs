#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::store::MemoryStore;

fn inst(id: &str, started: u64) -> Instance {
    Instance {
        id: id.into(),
        started_at_ms: started,
    }
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
    let Role::HandOverTo(to) = until_role(&old, |r| matches!(r, Role::HandOverTo(_))).await else {
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
    assert!(!old.was_taken(), "given up, not taken");
    let Role::Owner {
        exit: got,
        lavalink_sessions,
        ..
    } = until_role(&new, |r| matches!(r, Role::Owner { .. })).await
    else {
        panic!()
    };
    assert_eq!(got, Some(exit));
    assert_eq!(
        lavalink_sessions.get("main").map(String::as_str),
        Some("old-session"),
        "the newer instance resumes the old one's sessions, and so takes its players over"
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

#[tokio::test]
async fn a_lease_takes_part_only_once_started() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let a = LeaseHandle::new(store.clone(), "main", inst("a", 1), Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        store.load_lease("main").await.unwrap(),
        None,
        "not read or written yet"
    );
    assert_eq!(a.role(), Role::Standby);
    a.start();
    a.start(); // a second start does nothing
    until_role(&a, |r| matches!(r, Role::Owner { .. })).await;
    assert!(store.load_lease("main").await.unwrap().is_some());
}

#[tokio::test]
async fn a_stand_by_that_stops_withdraws_its_request_and_the_owner_keeps_the_lease() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let ttl = Duration::from_secs(2);
    let owner = LeaseHandle::spawn(store.clone(), "main", inst("old", 1), ttl);
    until_role(&owner, |r| matches!(r, Role::Owner { .. })).await;
    // A newer instance that must not ask yet: it stops before the owner hands over.
    let newer = LeaseHandle::new(store.clone(), "main", inst("new", 2), ttl);
    assert!(newer.withdraw().await, "a stand-by withdraws");
    assert_eq!(newer.role(), Role::Retired);
    // Asked, then stopped: the request is gone and the owner stays.
    let asking = LeaseHandle::new(store.clone(), "main", inst("newest", 3), ttl);
    let body = |store: Arc<dyn StateStore>| async move {
        let r = store.load_lease("main").await.unwrap().unwrap();
        serde_json::from_str::<LeaseBody>(&r.body).unwrap()
    };
    asking.step().await.unwrap();
    assert_eq!(
        body(store.clone()).await.wanted_by.map(|w| w.id),
        Some("newest".into())
    );
    assert!(asking.withdraw().await);
    assert_eq!(body(store.clone()).await.wanted_by, None);
    tokio::time::sleep(ttl + Duration::from_millis(500)).await;
    assert!(
        matches!(owner.role(), Role::Owner { .. }),
        "the owner never handed over: {:?}",
        owner.role()
    );
    // The owner itself is not withdrawn: it releases after flushing.
    assert!(!owner.withdraw().await);
}

/// The same store seen through a link that can stall (as a network partition to the database
/// does): while stalled, every call waits until the link is back, then goes through.
struct StallingLink {
    inner: Arc<dyn StateStore>,
    open: tokio::sync::watch::Sender<bool>,
}

impl StallingLink {
    fn new(inner: Arc<dyn StateStore>) -> Arc<StallingLink> {
        Arc::new(StallingLink {
            inner,
            open: tokio::sync::watch::Sender::new(true),
        })
    }

    fn stall(&self, stalled: bool) {
        self.open.send_replace(!stalled);
    }

    async fn pass(&self) {
        let mut rx = self.open.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

#[async_trait::async_trait]
impl StateStore for StallingLink {
    fn backend(&self) -> &'static str {
        "stalling"
    }
    async fn save(
        &self,
        batch: &[crate::store::SaveOp],
    ) -> Result<crate::store::WriteStats, StoreError> {
        self.pass().await;
        self.inner.save(batch).await
    }
    async fn load_all(
        &self,
        filter: &crate::store::LoadFilter,
    ) -> Result<crate::store::LoadReport, StoreError> {
        self.pass().await;
        self.inner.load_all(filter).await
    }
    async fn load(
        &self,
        guild_id: crate::domain::GuildId,
    ) -> Result<Option<crate::domain::PlayerSnapshot>, StoreError> {
        self.pass().await;
        self.inner.load(guild_id).await
    }
    async fn delete(&self, guild_id: crate::domain::GuildId) -> Result<bool, StoreError> {
        self.pass().await;
        self.inner.delete(guild_id).await
    }
    async fn health(&self) -> crate::store::StoreHealth {
        self.pass().await;
        self.inner.health().await
    }
    async fn save_guild_config(
        &self,
        config: &crate::domain::GuildConfig,
    ) -> Result<(), StoreError> {
        self.pass().await;
        self.inner.save_guild_config(config).await
    }
    async fn load_guild_config(
        &self,
        guild_id: crate::domain::GuildId,
    ) -> Result<Option<crate::domain::GuildConfig>, StoreError> {
        self.pass().await;
        self.inner.load_guild_config(guild_id).await
    }
    async fn load_guild_configs(&self) -> Result<Vec<crate::domain::GuildConfig>, StoreError> {
        self.pass().await;
        self.inner.load_guild_configs().await
    }
    async fn record_played(
        &self,
        guild_id: crate::domain::GuildId,
        played: &crate::domain::Played,
        keep: usize,
    ) -> Result<(), StoreError> {
        self.inner.record_played(guild_id, played, keep).await
    }

    async fn load_played(
        &self,
        guild_id: crate::domain::GuildId,
        limit: usize,
    ) -> Result<Vec<crate::domain::Played>, StoreError> {
        self.inner.load_played(guild_id, limit).await
    }

    async fn load_lease(
        &self,
        name: &str,
    ) -> Result<Option<crate::store::LeaseRecord>, StoreError> {
        self.pass().await;
        self.inner.load_lease(name).await
    }
    async fn swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError> {
        self.pass().await;
        self.inner.swap_lease(name, expected, body).await
    }
}

/// Samples both instances every 5 ms until `done`: the moments both could act, and every role
/// `a` went through.
fn watch_pair(
    a: LeaseHandle,
    b: LeaseHandle,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(u32, Vec<Role>)> {
    tokio::spawn(async move {
        let (mut both, mut roles) = (0, Vec::<Role>::new());
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            if a.may_act() && b.may_act() {
                both += 1;
            }
            let r = a.role();
            if roles.last() != Some(&r) {
                roles.push(r);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (both, roles)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_whose_store_stalls_past_the_lease_stops_before_the_other_takes_over_and_never_acts_again(
) {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let link = StallingLink::new(store.clone());
    let ttl = Duration::from_secs(3);
    let a = LeaseHandle::spawn(link.clone(), "main", inst("a", 1), ttl);
    until_role(&a, |r| matches!(r, Role::Owner { .. })).await;
    assert!(a.may_act());
    let b = LeaseHandle::spawn(store.clone(), "main", inst("b", 0), ttl);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(b.role(), Role::Standby);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch_pair(a.clone(), b.clone(), done.clone());
    link.stall(true);
    let stalled = std::time::Instant::now();
    until_role(&a, |r| *r == Role::Fenced).await;
    let fenced = stalled.elapsed();
    assert!(!a.may_act());
    until_role(&b, |r| matches!(r, Role::Owner { .. })).await;
    let taken = stalled.elapsed();
    assert!(
        fenced + ttl / 4 < taken,
        "fenced after {fenced:?}, taken after {taken:?}: a clear gap between them"
    );
    // The store comes back, well past the lease.
    tokio::time::sleep(Duration::from_secs(1)).await;
    link.stall(false);
    until_role(&a, |r| *r == Role::Retired).await;
    assert!(a.was_taken());
    tokio::time::sleep(ttl).await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (both, roles) = watcher.await.unwrap();
    assert_eq!(both, 0, "never two instances acting at once");
    assert_eq!(roles.len(), 3, "owner, fenced, retired: {roles:?}");
    assert!(matches!(roles[0], Role::Owner { .. }));
    assert_eq!(&roles[1..], &[Role::Fenced, Role::Retired]);
    assert!(b.may_act());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_whose_store_stalls_but_nobody_takes_over_acts_again_as_the_same_owner() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let link = StallingLink::new(store.clone());
    let ttl = Duration::from_secs(3);
    let a = LeaseHandle::spawn(link.clone(), "main", inst("a", 1), ttl);
    let owner = until_role(&a, |r| matches!(r, Role::Owner { .. })).await;
    link.stall(true);
    until_role(&a, |r| *r == Role::Fenced).await;
    link.stall(false);
    let again = until_role(&a, |r| matches!(r, Role::Owner { .. })).await;
    assert_eq!(again, owner, "the same generation, nothing re-learned");
    assert!(!a.was_taken());
    assert!(a.may_act());
}

#[tokio::test(flavor = "multi_thread")]
async fn evidence_takes_the_lease_only_from_an_owner_that_stopped_renewing_and_did_not_since() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let link = StallingLink::new(store.clone());
    // Renewals every second with this ttl; the owner fences itself only after 20 s.
    let ttl = Duration::from_secs(30);
    let a = LeaseHandle::spawn(link.clone(), "main", inst("a", 1), ttl);
    until_role(&a, |r| matches!(r, Role::Owner { .. })).await;
    a.set_lavalink_session("main", "sess-a");
    tokio::time::sleep(Duration::from_millis(1_200)).await; // the session is in the lease
    let b = LeaseHandle::new(store.clone(), "main", inst("b", 0), ttl);
    let read = || async { b.read().await.unwrap().1.unwrap() };
    let healthy = read().await;
    assert_eq!(
        healthy.lavalink_sessions.get("main").map(String::as_str),
        Some("sess-a")
    );
    assert!(
        !b.take_over_on_evidence(&healthy).await.unwrap(),
        "an owner that renews is not taken for dead"
    );
    // Its store stalls: two renewals missed, and it looks gone ...
    link.stall(true);
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let stale = read().await;
    // ... but it renews again before the evidence is acted on: what was read is out of date.
    link.stall(false);
    eventually_renewed(&b, stale.renewed_at_ms).await;
    assert!(!b.take_over_on_evidence(&stale).await.unwrap());
    assert_eq!(b.role(), Role::Standby);
    // Stalled again, and not renewed since the read: taken at once, long before the expiry.
    link.stall(true);
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let gone = read().await;
    assert!(b.take_over_on_evidence(&gone).await.unwrap());
    let Role::Owner {
        exit, last_seen_ms, ..
    } = b.role()
    else {
        panic!("{:?}", b.role())
    };
    assert_eq!(
        (exit, last_seen_ms),
        (None, Some(gone.renewed_at_ms)),
        "as after a crash, last seen at its last renewal"
    );
    link.stall(false);
    until_role(&a, |r| *r == Role::Retired).await;
    assert!(a.was_taken());
}

/// Waits until the stored lease was renewed after `since` (Unix ms).
async fn eventually_renewed(h: &LeaseHandle, since: u64) {
    for _ in 0..100 {
        if h.read().await.unwrap().1.unwrap().renewed_at_ms > since {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not renewed");
}
