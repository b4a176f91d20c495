//! The lease rule, pure: which of two overlapping instances acts ([`decide`]), when a stand-by
//! may take the lease over early on evidence that the owner is gone ([`may_probe`], [`take_over`]),
//! and what the lease records (owner, generation, expiry, last renewal, the instance that asked
//! to take over, how the last owner left, its Lavalink sessions). `crate::lease` runs it against
//! the store.

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
    /// When the owner last renewed (Unix ms); 0 in leases written before it was recorded.
    #[serde(default)]
    pub renewed_at_ms: u64,
    /// The owner saw `wanted_by`'s request and is handing over: it is about to close its
    /// Lavalink sockets on purpose, which is then no evidence that it died.
    #[serde(default)]
    pub handing_over: bool,
}

impl LeaseBody {
    /// When the owner was last known alive (Unix ms): its last renewal, or for a lease written
    /// before renewals were recorded, its expiry less `ttl_ms`.
    pub fn last_seen_ms(&self, ttl_ms: u64) -> u64 {
        if self.renewed_at_ms > 0 {
            self.renewed_at_ms
        } else {
            self.expires_at_ms.saturating_sub(ttl_ms)
        }
    }
}

/// What an instance should do about the lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write this body (take, renew, ask); the lease is ours once it is written and `owner` is us.
    Write(LeaseBody),
    /// Another instance owns it and our request (if any) stands: wait.
    Wait,
    /// We own it and a newer instance asked for it: write this body (renewed, `handing_over`
    /// set), then hand over to the instance.
    HandOver(Instance, LeaseBody),
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
        let mut next = cur.clone();
        next.expires_at_ms = now + ttl_ms;
        next.renewed_at_ms = now;
        next.handing_over = false;
        if let Some(w) = &cur.wanted_by {
            if w != me && w.newer_than(me) && now < cur.wanted_at_ms + ttl_ms {
                next.handing_over = true;
                return Step::HandOver(w.clone(), next);
            }
        }
        return Step::Write(next);
    }
    if held_by_me {
        // Handed to us by the previous owner (or ours from before): confirm it.
        let mut next = cur.clone();
        next.expires_at_ms = now + ttl_ms;
        next.renewed_at_ms = now;
        next.wanted_by = None;
        next.handing_over = false;
        return Step::Write(next);
    }
    let free = cur.owner.is_none() || cur.expires_at_ms <= now;
    if free {
        return Step::Write(taken_by(me, cur, now, ttl_ms));
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

/// The lease `me` writes to take `cur` over at `now`: a crashed owner (one still named) left no
/// exit; a released lease keeps how its owner left.
fn taken_by(me: &Instance, cur: &LeaseBody, now: u64, ttl_ms: u64) -> LeaseBody {
    let crashed = cur.owner.is_some();
    LeaseBody {
        owner: Some(me.clone()),
        generation: cur.generation + 1,
        expires_at_ms: now + ttl_ms,
        wanted_by: None,
        wanted_at_ms: 0,
        exit: if crashed { None } else { cur.exit },
        lavalink_sessions: cur.lavalink_sessions.clone(),
        renewed_at_ms: now,
        handing_over: false,
    }
}

/// How often the owner renews a lease of `ttl_ms`: a tenth of it, between 100 ms and 1 s (ms).
pub fn renewal_period_ms(ttl_ms: u64) -> u64 {
    (ttl_ms / 10).clamp(100, 1_000)
}

/// Whether a stand-by should try to resume the owner's Lavalink sessions at `now`, as evidence
/// that the owner is gone: another instance owns the lease, it named its sessions, it is not
/// handing over (then it closes its sockets on purpose) unless to us, and it has missed two
/// renewals (a
/// healthy owner renews every [`renewal_period_ms`]). Lavalink lets a client resume a session
/// only once the session's own socket is closed (Lavalink v4 docs, "Resuming"), so a resume that
/// succeeds means the owner lost its connection; together with the missed renewals, that it died
/// or fenced itself off ([`crate::lease`]) rather than lost its socket for a moment.
pub fn may_probe(me: &Instance, cur: &LeaseBody, now: u64, ttl_ms: u64) -> bool {
    // An owner handing over renews until it releases, so the instance it hands to may still
    // seek evidence once renewals stop (it died half-way); nobody else may.
    let handing_to_me = cur.wanted_by.as_ref() == Some(me);
    cur.owner.as_ref().is_some_and(|o| o != me)
        && (!cur.handing_over || handing_to_me)
        && !cur.lavalink_sessions.is_empty()
        && now >= cur.last_seen_ms(ttl_ms) + 2 * renewal_period_ms(ttl_ms)
}

/// The lease `me` writes after it resumed the owner's Lavalink session (see [`may_probe`]):
/// taken at once as after a crash, without waiting for the expiry. `None` when the lease no
/// longer allows it. The write must be conditional on a read that shows the owner wrote nothing
/// since the resume, so an owner that renewed meanwhile keeps the lease.
pub fn take_over(me: &Instance, cur: &LeaseBody, now: u64, ttl_ms: u64) -> Option<LeaseBody> {
    may_probe(me, cur, now, ttl_ms).then(|| taken_by(me, cur, now, ttl_ms))
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
        let Step::HandOver(to, ack) = decide(&old, Some(3), Some(&asked), 300, TTL) else {
            panic!()
        };
        assert_eq!(to, new);
        assert!(ack.handing_over, "the owner says it is handing over");
        assert_eq!((ack.renewed_at_ms, ack.expires_at_ms), (300, 5_300));
        assert!(
            !may_probe(&new, &ack, 9_000, TTL),
            "no evidence is sought during a hand-over"
        );
        // A request withdrawn: the owner renews, and is no longer handing over.
        let withdrawn = LeaseBody {
            wanted_by: None,
            ..ack
        };
        let Step::Write(renewed) = decide(&old, Some(3), Some(&withdrawn), 400, TTL) else {
            panic!()
        };
        assert!(!renewed.handing_over);
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

    #[test]
    fn a_renewal_records_when_and_the_last_sighting_falls_back_to_the_expiry() {
        let me = inst("a", 1);
        let held = LeaseBody {
            owner: Some(me.clone()),
            generation: 2,
            expires_at_ms: 9_000,
            ..Default::default()
        };
        assert_eq!(
            held.last_seen_ms(TTL),
            4_000,
            "an older lease: expiry less ttl"
        );
        let Step::Write(b) = decide(&me, Some(2), Some(&held), 7_000, TTL) else {
            panic!()
        };
        assert_eq!((b.renewed_at_ms, b.last_seen_ms(TTL)), (7_000, 7_000));
    }

    #[test]
    fn evidence_takes_a_live_lease_at_once_except_during_a_hand_over() {
        let old = inst("old", 1);
        let new = inst("new", 2);
        let held = LeaseBody {
            owner: Some(old.clone()),
            generation: 6,
            expires_at_ms: 10_000,
            renewed_at_ms: 7_000,
            exit: Some(Exit::Shutdown { at_ms: 3 }),
            lavalink_sessions: [("main".to_string(), "s1".to_string())].into(),
            ..Default::default()
        };
        // Renewals every 500 ms with this ttl: not before two are missed.
        assert_eq!(renewal_period_ms(TTL), 500);
        assert!(!may_probe(&new, &held, 7_900, TTL), "a healthy owner");
        assert!(may_probe(&new, &held, 8_000, TTL));
        assert!(take_over(&new, &held, 7_900, TTL).is_none());
        let b = take_over(&new, &held, 8_000, TTL).unwrap();
        assert_eq!(b.owner, Some(new.clone()));
        assert_eq!((b.generation, b.expires_at_ms), (7, 13_000));
        assert_eq!(b.exit, None, "taken as after a crash");
        assert_eq!(b.lavalink_sessions, held.lavalink_sessions);
        // Not ours to seek: our own lease, one without sessions, one being handed over.
        let mine = LeaseBody {
            owner: Some(new.clone()),
            ..held.clone()
        };
        assert!(take_over(&new, &mine, 8_000, TTL).is_none());
        let bare = LeaseBody {
            lavalink_sessions: BTreeMap::new(),
            ..held.clone()
        };
        assert!(!may_probe(&new, &bare, 8_000, TTL));
        let handing = LeaseBody {
            handing_over: true,
            wanted_by: Some(inst("newest", 3)),
            ..held.clone()
        };
        assert!(take_over(&new, &handing, 8_000, TTL).is_none());
        // The instance it hands to may, once renewals stop: the owner died half-way.
        let to_me = LeaseBody {
            handing_over: true,
            wanted_by: Some(new.clone()),
            ..held
        };
        assert!(!may_probe(&new, &to_me, 7_900, TTL));
        assert!(take_over(&new, &to_me, 8_000, TTL).is_some());
    }
}
