//! What the topic files share, in one place (like zero-to-production's `tests/api/helpers.rs`):
//! sample data and store backends (`fixtures`), the real `encore` binary between the fake
//! Discord and the fake Lavalink (`rig`: [`Rig`], [`Bot`]), the bot in process against the same
//! fakes (`world`: [`World`], [`world`]), a TCP proxy that tells one bot's traffic apart and can
//! stall it (`proxy`: [`Proxy`]), and one way to wait for something: [`eventually`].
//!
//! Topic files import from `crate::harness` only, never from each other.

mod fixtures;
mod proxy;
mod rig;
mod world;

use std::future::Future;
use std::time::{Duration, Instant};

pub use fixtures::*;
pub use proxy::*;
pub use rig::*;
pub use world::*;

/// How often [`eventually`] asks again.
const POLL: Duration = Duration::from_millis(25);

/// Polls `f` every 25 ms until it gives a value, for up to `within`; then panics with
/// `timed out after …: {what}`.
pub async fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    eventually_async(what, within, || std::future::ready(f())).await
}

/// [`eventually`] for a check that has to await (an HTTP request, say).
pub async fn eventually_async<T, F>(what: &str, within: Duration, mut f: impl FnMut() -> F) -> T
where
    F: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?}: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}
