//! The per-user command rate limit.

use crate::sync::LockExt;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `max` commands per user in any `window`.
pub struct RateLimiter {
    max: usize,
    window: Duration,
    seen: Mutex<HashMap<u64, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        RateLimiter {
            max: max.max(1),
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a command of `user` at `now`; `Err(wait)` when over the limit (not counted).
    pub fn check(&self, user: u64, now: Instant) -> Result<(), Duration> {
        let mut seen = self.seen.locked();
        let times = seen.entry(user).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        times.push_back(now);
        if seen.len() > 10_000 {
            // Forget users who have been quiet for a whole window.
            let window = self.window;
            seen.retain(|_, t| t.back().is_some_and(|b| now.duration_since(*b) < window));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_per_ten_seconds_then_the_wait_is_told() {
        let l = RateLimiter::new(5, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(l.check(1, t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = l.check(1, t0 + Duration::from_secs(5)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(5));
        assert!(l.check(2, t0 + Duration::from_secs(5)).is_ok(), "per user");
        assert!(
            l.check(1, t0 + Duration::from_secs(10)).is_ok(),
            "the window slides"
        );
    }
}
