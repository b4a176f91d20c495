//! What a message's components need while the message is in use (the pages of `/lyrics`, the
//! results of `/search`), kept in memory by a key (the interaction id of the command that posted
//! the message): for a while, and at most so many, the oldest going first. A restart forgets
//! them; a click that finds nothing is answered politely.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sync::LockExt;

/// Values by key, each for `ttl` after it was put; cheap to clone (one shared map).
pub struct Kept<V> {
    inner: Arc<Mutex<Entries<V>>>,
    ttl: Duration,
    capacity: usize,
}

struct Entries<V> {
    values: HashMap<u64, (Instant, V)>,
    /// Keys in the order they were put.
    order: VecDeque<u64>,
}

impl<V> Clone for Kept<V> {
    fn clone(&self) -> Self {
        Kept {
            inner: self.inner.clone(),
            ttl: self.ttl,
            capacity: self.capacity,
        }
    }
}

impl<V: Clone> Kept<V> {
    /// Keeps each value for `ttl`, and at most `capacity` values (at least one).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Kept {
            inner: Arc::new(Mutex::new(Entries {
                values: HashMap::new(),
                order: VecDeque::new(),
            })),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// How long a value is kept.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Keeps `value` under `key` from now on (replacing one kept under it); forgets values that
    /// expired, and the oldest ones beyond the capacity.
    pub fn insert(&self, key: u64, value: V) {
        let now = Instant::now();
        let mut e = self.inner.locked();
        if e.values.insert(key, (now, value)).is_some() {
            e.order.retain(|k| *k != key);
        }
        e.order.push_back(key);
        while let Some(oldest) = e.order.front().copied() {
            let expired = e
                .values
                .get(&oldest)
                .is_none_or(|(at, _)| now.duration_since(*at) >= self.ttl);
            if !expired && e.order.len() <= self.capacity {
                break;
            }
            e.order.pop_front();
            e.values.remove(&oldest);
        }
    }

    /// The value under `key`, unless it expired or was forgotten.
    pub fn get(&self, key: u64) -> Option<V> {
        let e = self.inner.locked();
        let (at, value) = e.values.get(&key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Takes the value under `key` away, expired or not.
    pub fn remove(&self, key: u64) -> Option<V> {
        let mut e = self.inner.locked();
        let (_, value) = e.values.remove(&key)?;
        e.order.retain(|k| *k != key);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_and_the_oldest_go_beyond_the_capacity() {
        let kept = Kept::new(Duration::from_millis(50), 2);
        kept.insert(1, "one");
        kept.insert(2, "two");
        kept.insert(3, "three");
        assert_eq!(kept.get(1), None, "beyond the capacity");
        assert_eq!((kept.get(2), kept.get(3)), (Some("two"), Some("three")));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(kept.get(3), None, "expired");
        assert_eq!(
            kept.remove(3),
            Some("three"),
            "taken away even when expired"
        );
        assert_eq!(kept.remove(3), None);
        kept.insert(4, "four");
        assert_eq!(kept.get(4), Some("four"));
        assert_eq!(
            kept.inner.locked().values.len(),
            1,
            "the expired one is gone"
        );
    }
}
