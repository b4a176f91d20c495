//! The lease rule, pure: which of two overlapping instances acts ([`decide`]), and what the lease
//! records (owner, generation, expiry, the instance that asked to take over, how the last owner
//! left, its Lavalink sessions). `crate::lease` runs it against the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::now_ms;

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
    pub fn newer_than(&self, other: &Instance) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
