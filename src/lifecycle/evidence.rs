//! A stand-by's take-over on evidence, before the lease expires: an owner killed with SIGKILL
//! (or one that fenced itself off) leaves its Lavalink sockets closed, and Lavalink lets a
//! client resume a session only once the session's own socket is gone (Lavalink v4 docs,
//! "Resuming"). So while it stands by, this instance tries to resume the owner's sessions (their
//! ids are in the lease) whenever the owner has missed two renewals (at most once a second): a
//! healthy owner that lost its socket for a moment is not taken for dead. When a resume
//! succeeds, the lease is taken, on the condition that the owner wrote nothing since it was read
//! (`LeaseHandle::take_over_on_evidence`), and the new owner goes on with the resumed sockets
//! (`LavalinkBackend::connect`), keeping their players where they are; if the lease is not taken
//! after all, the sockets are closed and the sessions stay resumable.

use std::time::{Duration, Instant};

use crate::domain::lease::may_probe;
use crate::domain::now_ms;
use crate::lease::Role;
use crate::services::Services;

/// How long one attempt to resume a node's session may take.
const PROBE_LIMIT: Duration = Duration::from_millis(1_500);
/// At least this long between two attempts on the same owner.
const PROBE_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// Runs while this instance stands by; ends once it owns the lease or stops taking part.
pub async fn seek(services: Services) {
    let lease = &services.lease;
    let ttl_ms = lease.ttl().as_millis() as u64;
    let mut probed: Option<(String, Instant)> = None;
    loop {
        if lease.role() != Role::Standby {
            return;
        }
        if let Some(body) = lease.last_read() {
            let owner = body.owner.as_ref().map(|o| o.id.clone());
            let again = match (&probed, &owner) {
                (Some((id, at)), Some(o)) => id != o || at.elapsed() >= PROBE_AGAIN_AFTER,
                _ => true,
            };
            if again && may_probe(lease.me(), &body, now_ms(), ttl_ms) {
                probed = owner.map(|o| (o, Instant::now()));
                let backend = &services.backend;
                let _probing = backend.probing().await;
                let resumed = backend
                    .probe_resume(&body.lavalink_sessions, PROBE_LIMIT)
                    .await;
                if !resumed.is_empty() {
                    tracing::info!(nodes = ?resumed, "the owner's Lavalink session could be resumed: the owner is gone");
                    match lease.take_over_on_evidence(&body).await {
                        Ok(_) if lease.role().holds_lease() => {
                            // Ours (on this evidence, or as it expired meanwhile): the node
                            // tasks go on with the resumed sockets.
                            return;
                        }
                        Ok(_) => {
                            tracing::info!("the owner renewed meanwhile; the lease is not taken")
                        }
                        Err(e) => tracing::warn!(error = %e, "could not take the lease over"),
                    }
                    backend.close_probed().await;
                }
            }
        }
        tokio::time::sleep(lease.period()).await;
    }
}
