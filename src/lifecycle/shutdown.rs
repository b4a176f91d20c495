//! The graceful stop (SIGTERM or Ctrl-C): save first — the platform's SIGKILL follows within its
//! grace period —, close the gateway, then hand the lease back saying when the music stopped.
//! Lavalink keeps its session for the next start: no voice leave, no player removed.

use std::time::Duration;

use crate::autosave::AutosaveTask;
use crate::discord::Bot;
use crate::domain::now_ms;
use crate::lease::Exit;
use crate::services::Services;

/// How long the stop waits for the gateway to close before it releases the lease anyway.
const GATEWAY_CLOSE_WAIT: Duration = Duration::from_secs(3);

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
        // The music stops when Discord ends our voice sessions, as the gateway closes (serenity
        // takes about half a second for it): the time saved is taken after that, so a restart
        // does not replay what listeners already heard.
        if tokio::time::timeout(GATEWAY_CLOSE_WAIT, bot.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("the Discord gateway did not close in time");
        }
        if owner {
            let exit = Exit::Shutdown { at_ms: now_ms() };
            if let Err(e) = services.lease.release(exit, None).await {
                tracing::warn!(error = %e, "could not release the lease; the next start waits for it to expire");
            }
        }
    };
    if tokio::time::timeout(deadline, stop).await.is_err() {
        tracing::error!(timeout = %humantime::format_duration(deadline), "shutdown took longer than SHUTDOWN_TIMEOUT; exiting anyway");
    }
}
