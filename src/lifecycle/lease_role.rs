//! Take-over and hand-over: follows this instance's part in the lease ([`crate::lease::Role`],
//! whose state machine is documented there) and acts on each change.
//!
//! - `Standby` → `Owner`: answer what the gate held back (those created at or after the
//!   hand-over's cut), connect Lavalink resuming the last owner's sessions (their ids come from the
//!   lease), keep our own session ids in the lease for the next owner, restore the saved players.
//! - `Owner` → `HandOverTo(newer)`: stop answering interactions created from now on (the cut),
//!   let those before it finish, flush exact positions, forget the players (Lavalink keeps them
//!   for the newer instance), release the lease saying when and where the cut was.
//! - `Owner` → `Fenced` (not renewed in time: the store does not answer): hold interactions,
//!   close our Lavalink websockets (Lavalink keeps the players playing, and the instance that
//!   takes over can resume them); autosave and player changes wait ([`LeaseHandle::may_act`]).
//!   `Fenced` → `Owner` (renewed in time after all): answer what was held, resume our sessions.
//! - `Retired` (the lease was taken from us): stop acting at once, and leave no player behind on
//!   a session of ours.
//!
//! [`LeaseHandle::may_act`]: crate::lease::LeaseHandle::may_act

use std::collections::BTreeMap;
use std::time::Duration;

use super::restore::Restorer;
use crate::domain::now_ms;
use crate::lease::{Exit, Role};

/// How long interactions created before the cut get to finish before the positions are flushed.
const CUT_GRACE: Duration = Duration::from_millis(300);
/// How long the hand-over waits for our Lavalink websockets to close.
const SOCKETS_CLOSE_WITHIN: Duration = Duration::from_secs(2);
/// How often our Lavalink session ids are copied into the lease.
const SESSION_COPY_EVERY: Duration = Duration::from_secs(1);

/// Follows the lease role until this instance hands over or retires.
pub async fn drive(restorer: Restorer) {
    let lease = restorer.services.lease.clone();
    let gate = restorer.discord.gate.clone();
    let mut roles = lease.watch();
    let mut owned = false;
    let mut fenced = false;
    loop {
        let role = roles.borrow_and_update().clone();
        match role {
            Role::Standby => {}
            Role::Owner { .. } if owned => {
                if std::mem::take(&mut fenced) {
                    // Renewed in time after a fence: nobody else acted, so everything we hold
                    // is still true; Lavalink kept our sessions for us to resume.
                    gate.become_owner(None).await;
                    restorer.services.backend.connect(&BTreeMap::new());
                }
            }
            Role::Owner {
                exit,
                last_seen_ms,
                lavalink_sessions,
                ..
            } => {
                owned = true;
                // Our voice events from now on; interactions wait until the restore knows which
                // guilds it brings back (it then answers the others, and each restored guild's
                // once its player is back).
                gate.restoring();
                restorer.services.backend.connect(&lavalink_sessions);
                tokio::spawn(copy_sessions_into_lease(restorer.clone()));
                let r = restorer.clone();
                tokio::spawn(async move {
                    r.run(exit, last_seen_ms).await;
                });
            }
            Role::Fenced => {
                fenced = true;
                gate.hold();
                restorer
                    .services
                    .backend
                    .suspend(SOCKETS_CLOSE_WITHIN)
                    .await;
            }
            Role::HandOverTo(to) => {
                let cut = now_ms();
                gate.retire(cut);
                tokio::time::sleep(CUT_GRACE).await;
                let services = &restorer.services;
                match services.autosave.flush_all().await {
                    Ok(w) => tracing::info!(written = w.ops, "positions flushed for the hand-over"),
                    Err(e) => tracing::error!(error = %e, "could not flush before the hand-over"),
                }
                services.service.forget_all().await;
                // The newer instance resumes our Lavalink sessions (their ids are in the lease)
                // and so takes these very players over: one player per guild, no restart.
                services.backend.release(SOCKETS_CLOSE_WITHIN).await;
                let exit = Exit::Handover {
                    at_ms: now_ms(),
                    cut_ms: cut,
                };
                match lease.release(exit, Some(to.clone())).await {
                    Ok(()) => tracing::info!(to = %to.id, "handed over to the newer instance"),
                    Err(e) => tracing::warn!(error = %e, "could not hand the lease over"),
                }
                return;
            }
            Role::Retired => {
                gate.retire(now_ms());
                let services = &restorer.services;
                // Another instance took the lease and plays these guilds: players still on a
                // session of ours would be strays (a session it resumed has no socket of ours).
                // A lease we gave up (released at shutdown) leaves our sessions for the next.
                if lease.was_taken() {
                    services.backend.abandon(SOCKETS_CLOSE_WITHIN).await;
                }
                services.service.forget_all().await;
                return;
            }
        }
        if roles.changed().await.is_err() {
            return;
        }
    }
}

/// Our Lavalink session ids go into the lease, for the next owner to resume, until we retire.
async fn copy_sessions_into_lease(restorer: Restorer) {
    let (backend, lease) = (&restorer.services.backend, &restorer.services.lease);
    loop {
        for (node, session) in backend.session_ids() {
            lease.set_lavalink_session(&node, &session);
        }
        if matches!(lease.role(), Role::Retired) {
            return;
        }
        tokio::time::sleep(SESSION_COPY_EVERY).await;
    }
}
