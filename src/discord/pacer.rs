//! Paces the gateway commands the bot sends on its own (voice joins and leaves), per shard.
//!
//! Discord closes a gateway connection that sends more than 120 commands in 60 s. Heartbeats
//! (one per ~41 s) and the identify share that budget, so voice commands get [`VOICE_BUDGET`]
//! per window: enough for a mass restore to run within 10 % of the limit without ever reaching it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::limits::RateLimiter;
use crate::sync::LockExt;

/// Voice commands allowed per shard per [`WINDOW`].
pub const VOICE_BUDGET: usize = 112;
/// Discord's window, plus a margin for our clock and the network.
pub const WINDOW: Duration = Duration::from_millis(61_000);

/// A sliding window per shard (the same rule as the per-user command limit), with waiters
/// served in turn; cheap to clone.
#[derive(Clone)]
pub struct Pacer {
    window: Arc<RateLimiter>,
    /// Waiters per shard, first come first served.
    queues: Arc<Mutex<HashMap<u32, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(VOICE_BUDGET, WINDOW)
    }
}

impl Pacer {
    pub fn new(budget: usize, window: Duration) -> Self {
        Pacer {
            window: Arc::new(RateLimiter::new(budget, window)),
            queues: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Waits (in turn) until a command may be sent on `shard`, and counts it.
    pub async fn acquire(&self, shard: u32) {
        let queue = self.queues.locked().entry(shard).or_default().clone();
        let _turn = queue.lock().await;
        while let Err(wait) = self.window.check(u64::from(shard), Instant::now()) {
            tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
        }
        crate::metrics::metrics()
            .gateway_commands_sent
            .get_or_create(&crate::metrics::ShardLabel { shard })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn never_more_than_the_budget_in_any_window() {
        let window = Duration::from_millis(300);
        let pacer = Pacer::new(10, window);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..35 {
            pacer.acquire(0).await;
            times.push(Instant::now().duration_since(start));
        }
        // Ten at once, then ten per window.
        assert!(times[9] < window / 2, "{:?}", times[9]);
        assert!(times[10] >= window);
        assert!(times[34] >= window * 3);
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().filter(|u| **u - *t < window).count();
            assert!(
                in_window <= 10,
                "{in_window} commands in a window from {t:?}"
            );
        }
        // Shards are paced apart.
        let before = Instant::now();
        pacer.acquire(1).await;
        assert!(before.elapsed() < window / 2);
    }
}
