//! Discord refusing this process's shards (gateway close 4010 "Invalid shard", 4011 "Sharding
//! required"), which no retry mends.
//!
//! serenity 0.12.5 does not return these from `Client::start*`: `Shard::handle_event` turns the
//! close into `GatewayError::InvalidShardData` / `OverloadedShard`, logs it, and the shard runner
//! restarts the shard for ever (serenity `gateway/shard.rs`, `gateway/bridge/shard_runner.rs`).
//! The only trace is serenity's own log event, so [`ShardRefusals`] — a `tracing` layer
//! installed by [`crate::telemetry::init`], whatever `LOG_LEVEL` says — reads those two events
//! and [`refused`] hands the refusal to `discord::Bot::fatal`, which stops the process.

use std::sync::LazyLock;

use tokio::sync::watch;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::connection::{close_code, Fatal};

static REFUSAL: LazyLock<watch::Sender<Option<Fatal>>> = LazyLock::new(|| watch::channel(None).0);

/// The refusal a serenity log message reports, if it is one: serenity 0.12.5 writes
/// `"[{shard info}] Sent invalid shard data."` for 4010 and `"[…] Shard has too many guilds."`
/// for 4011.
pub fn refusal_in(target: &str, message: &str) -> Option<Fatal> {
    if !target.starts_with("serenity::gateway") {
        return None;
    }
    if message.contains("Sent invalid shard data") {
        close_code(4010)
    } else if message.contains("Shard has too many guilds") {
        close_code(4011)
    } else {
        None
    }
}

/// Waits until Discord refused one of this process's shards.
pub async fn refused() -> Fatal {
    let mut rx = REFUSAL.subscribe();
    loop {
        if let Some(f) = rx.borrow_and_update().clone() {
            return f;
        }
        if rx.changed().await.is_err() {
            // The sender is a static: never dropped.
            std::future::pending::<()>().await;
        }
    }
}

/// Reads serenity's gateway log events for a shard refusal (see the module docs).
pub struct ShardRefusals;

struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for ShardRefusals {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let target = event.metadata().target();
        if !target.starts_with("serenity::gateway") {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if let Some(f) = refusal_in(target, &message.0) {
            REFUSAL.send_replace(Some(f));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serenitys_two_shard_refusals_are_read_and_nothing_else() {
        let t = "serenity::gateway::shard";
        assert_eq!(
            refusal_in(
                t,
                "[ShardInfo { id: ShardId(0), total: 1 }] Shard has too many guilds."
            ),
            close_code(4011)
        );
        assert_eq!(
            refusal_in(
                t,
                "[ShardInfo { id: ShardId(3), total: 2 }] Sent invalid shard data."
            ),
            close_code(4010)
        );
        assert_eq!(refusal_in(t, "[ShardInfo] Invalid session."), None);
        assert_eq!(refusal_in("encore::x", "Shard has too many guilds."), None);
    }

    #[tokio::test]
    async fn a_logged_refusal_reaches_the_supervisor() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(ShardRefusals);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(
                target: "serenity::gateway::shard",
                "[{:?}] Shard has too many guilds.",
                "ShardInfo { id: ShardId(0), total: 1 }"
            );
        });
        let got = tokio::time::timeout(std::time::Duration::from_secs(1), refused()).await;
        assert_eq!(got.ok(), close_code(4011));
    }
}
