//! The graceful stop (SIGTERM or Ctrl-C): save first — the platform's SIGKILL follows within its
//! grace period —, hand the lease back saying when the music stopped, then close the gateway.
//! Lavalink keeps its session for the next start: no voice leave, no player removed.

use std::time::Duration;

use crate::autosave::AutosaveTask;
use crate::discord::Bot;
use crate::domain::now_ms;
use crate::lease::Exit;
use crate::services::Services;

/// Stops within `deadline` (`SHUTDOWN_TIMEOUT`); past it, logs and returns anyway.
pub async fn graceful(services: &Services, bot: Bot, autosave: AutosaveTask, deadline: Duration) {
    let stop = async {
        // A stand-by stops taking part first, so the owner never hands over to us now.
        let owner = !services.lease.withdraw().await;
        bot.stop_answering();
        match autosave.shutdown().await {
            Ok(stats) => tracing::info!(written = stats.ops, "player state flushed"),
            Err(e) => tracing::error!(error = %e, "could not flush player state before exit"),
        }
        if owner {
            let exit = Exit::Shutdown { at_ms: now_ms() };
            if let Err(e) = services.lease.release(exit, None).await {
                tracing::warn!(error = %e, "could not release the lease; the next start waits for it to expire");
            }
        }
        bot.shutdown().await;
    };
    if tokio::time::timeout(deadline, stop).await.is_err() {
        tracing::error!(timeout = %humantime::format_duration(deadline), "shutdown took longer than SHUTDOWN_TIMEOUT; exiting anyway");
    }
}
