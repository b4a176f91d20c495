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
