//! What happens around a restart, in one place: the startup restore, take-over and hand-over
//! between instances, and the graceful shutdown. `ARCHITECTURE.md` ("Restart, step by step")
//! names the functions here in the order they run.
//!
//! - [`spawn`] waits for this process's first READY, starts the lease, then follows the lease role
//!   ([`lease_role::drive`]): on becoming the owner it connects Lavalink and runs the startup
//!   restore ([`restore::Restorer::run`]); on a later READY of a shard (a fresh gateway session,
//!   which ends its voice sessions) it rejoins voice ([`restore::Restorer::rejoin_all`]).
//! - [`evidence::seek`] runs while it stands by: it takes the lease over at once when the owner's
//!   Lavalink session can be resumed (the owner is gone), instead of waiting for the expiry.
//! - [`shutdown::graceful`] is SIGTERM's path: stop answering, flush, release the lease, close.
//!
//! The decisions are pure and live in the domain (`domain::restore::plan`, `lease::decide`);
//! this module gathers facts and performs the I/O.

mod evidence;
pub mod lease_role;
mod rejoin;
pub mod restore;
pub mod shutdown;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::discord::{DiscordParts, ShardReady};
use crate::services::Services;
pub use restore::Restorer;

/// Starts following the lease once Discord's first READY has arrived, and rejoins voice after
/// every fresh gateway session of a shard while this instance owns the lease.
pub fn spawn(
    services: Services,
    discord: DiscordParts,
    mut readies: UnboundedReceiver<ShardReady>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let restorer = Restorer { services, discord };
        if readies.recv().await.is_none() {
            return;
        }
        // Only now does this instance take part in the lease: one that never reaches the gateway
        // never makes the running owner hand over to it.
        restorer.services.lease.start();
        tokio::spawn(lease_role::drive(restorer.clone()));
        tokio::spawn(evidence::seek(restorer.services.clone()));
        while let Some(ready) = readies.recv().await {
            if ready.again && restorer.discord.gate.is_owner() {
                let r = restorer.clone();
                tokio::spawn(async move { r.rejoin_all(ready.shard).await });
            }
        }
    })
}
