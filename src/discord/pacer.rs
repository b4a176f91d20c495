//! Paces the gateway commands the bot sends on its own (voice joins and leaves), per shard.
//!
//! Discord closes a gateway connection that sends more than 120 commands in 60 s. Heartbeats
//! (one per ~41 s) and the identify share that budget, so voice commands get [`VOICE_BUDGET`]
//! per window: enough for a mass restore to run within 10 % of the limit without ever reaching it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Voice commands allowed per shard per [`WINDOW`].
pub const VOICE_BUDGET: usize = 112;
/// Discord's window, plus a margin for our clock and the network.
pub const WINDOW: Duration = Duration::from_millis(61_000);

/// Sliding-window pacer per shard; cheap to clone.
#[derive(Clone)]
pub struct Pacer {
    budget: usize,
    window: Duration,
    sent: Arc<Mutex<HashMap<u32, VecDeque<Instant>>>>,
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
            budget: budget.max(1),
            window,
            sent: Arc::new(Mutex::new(HashMap::new())),
            queues: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes one slot on `shard`, or says how long to wait for one.
    fn try_take(&self, shard: u32, now: Instant) -> Result<(), Duration> {
        let mut all = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let sent = all.entry(shard).or_default();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            sent.pop_front();
        }
        if sent.len() < self.budget {
            sent.push_back(now);
            return Ok(());
        }
        let oldest = sent.front().copied().unwrap_or(now);
        Err((oldest + self.window).saturating_duration_since(now))
    }

    /// Waits (in turn) until a command may be sent on `shard`, and counts it.
    pub async fn acquire(&self, shard: u32) {
        let queue = self
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(shard)
            .or_default()
            .clone();
        let _turn = queue.lock().await;
        loop {
            match self.try_take(shard, Instant::now()) {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(5))).await,
            }
        }
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
