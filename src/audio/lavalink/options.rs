//! How the backend behaves ([`LavalinkOptions`]) and the reconnect backoff.

use std::time::Duration;

use rand::Rng;

/// How the backend behaves; the defaults suit production.
#[derive(Debug, Clone)]
pub struct LavalinkOptions {
    /// The bot's user id (Lavalink's `User-Id`).
    pub user_id: u64,
    /// Lavalink keeps a disconnected session's players this long.
    pub resume_timeout: Duration,
    /// After a node has been unreachable this long, its players move to another node.
    pub takeover_after: Duration,
    /// First reconnect delay; doubles per failure up to `max_backoff`, with ±25 % jitter.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
}

impl LavalinkOptions {
    pub fn new(user_id: u64, resume_timeout: Duration) -> Self {
        LavalinkOptions {
            user_id,
            resume_timeout,
            takeover_after: Duration::from_secs(5),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// The reconnect delay after `failures` failed attempts: exponential, capped, with jitter.
pub fn backoff_delay(failures: u32, min: Duration, max: Duration) -> Duration {
    let base = min.saturating_mul(1u32 << failures.min(16)).min(max);
    let jitter = rand::thread_rng().gen_range(0.75..1.25);
    base.mul_f64(jitter).min(max)
}
