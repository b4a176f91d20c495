//! The process's Prometheus metrics (served on `/metrics` when `HEALTH_PORT` is set).
//!
//! Counters and histograms are updated where things happen (autosave, store calls, restores,
//! gateway commands); figures that describe the present (players, queues, Lavalink nodes,
//! shards) are set from the live state just before each scrape by [`crate::health`].

use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    pub op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// A voice healing step (`resend`, `rerequest`, `rejoin`, `move_node`; `none` when the audio came
/// back by itself, `all` for giving up) and how it ended (`healed`, `failed`, `given_up`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HealLabel {
    pub step: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabel {
    pub node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabel {
    pub shard: u32,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric Encore exports, under the `encore_` prefix.
pub struct Metrics {
    registry: Registry,
    /// Players by state: `playing`, `paused`, `idle` (nothing loaded).
    pub players: Family<StateLabel, Gauge>,
    /// Tracks waiting in all queues, and the longest queue.
    pub queued_tracks: Gauge,
    pub longest_queue: Gauge,
    pub autosave_tick_seconds: Histogram,
    pub autosave_failures: Counter,
    /// Store calls by operation, and the ones that failed.
    pub store_seconds: Family<OpLabel, Histogram>,
    pub store_errors: Family<OpLabel, Counter>,
    /// Saved players restored after a start, by outcome.
    pub restores: Family<OutcomeLabel, Counter>,
    pub lavalink_nodes_up: Gauge,
    /// Voice healing steps by step and outcome, how long healing took, and the players whose
    /// voice is not healthy now.
    pub voice_heals: Family<HealLabel, Counter>,
    pub voice_heal_seconds: Histogram,
    pub voice_unhealthy_guilds: Gauge,
    pub lavalink_node_up: Family<NodeLabel, Gauge>,
    pub lavalink_node_players: Family<NodeLabel, Gauge>,
    pub lavalink_node_playing_players: Family<NodeLabel, Gauge>,
    pub lavalink_node_lavalink_load: Family<NodeLabel, FloatGauge>,
    pub lavalink_node_system_load: Family<NodeLabel, FloatGauge>,
    pub lavalink_node_memory_used_bytes: Family<NodeLabel, Gauge>,
    /// Gateway commands Encore sends on its own (voice state updates), per shard.
    pub gateway_commands_sent: Family<ShardLabel, Counter>,
    pub gateway_shard_connected: Family<ShardLabel, Gauge>,
    pub gateway_shard_latency_seconds: Family<ShardLabel, FloatGauge>,
    /// 1 while this instance owns the lease (answers, voice, saving), else 0.
    pub lease_owner: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("encore");
        let m = Metrics {
            players: Family::default(),
            queued_tracks: Gauge::default(),
            longest_queue: Gauge::default(),
            autosave_tick_seconds: latency_histogram(),
            autosave_failures: Counter::default(),
            store_seconds: Family::new_with_constructor(latency_histogram),
            store_errors: Family::default(),
            restores: Family::default(),
            lavalink_nodes_up: Gauge::default(),
            lavalink_node_up: Family::default(),
            lavalink_node_players: Family::default(),
            lavalink_node_playing_players: Family::default(),
            lavalink_node_lavalink_load: Family::default(),
            lavalink_node_system_load: Family::default(),
            lavalink_node_memory_used_bytes: Family::default(),
            gateway_commands_sent: Family::default(),
            gateway_shard_connected: Family::default(),
            gateway_shard_latency_seconds: Family::default(),
            lease_owner: Gauge::default(),
            voice_heals: Family::default(),
            // 0.1 s … ~52 s.
            voice_heal_seconds: Histogram::new(exponential_buckets(0.1, 2.0, 10)),
            voice_unhealthy_guilds: Gauge::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "players",
            "Players held by this process, by state (playing, paused, idle)",
            m.players.clone(),
        );
        r.register(
            "queued_tracks",
            "Tracks waiting in all queues of this process",
            m.queued_tracks.clone(),
        );
        r.register(
            "longest_queue_tracks",
            "Tracks waiting in the longest queue",
            m.longest_queue.clone(),
        );
        r.register(
            "autosave_tick_seconds",
            "How long one autosave write of the changed players took",
            m.autosave_tick_seconds.clone(),
        );
        r.register(
            "autosave_failures",
            "Autosave writes that failed (the state is kept in memory and retried)",
            m.autosave_failures.clone(),
        );
        r.register(
            "store_operation_seconds",
            "Latency of player store calls, by operation",
            m.store_seconds.clone(),
        );
        r.register(
            "store_errors",
            "Player store calls that failed, by operation",
            m.store_errors.clone(),
        );
        r.register(
            "restores",
            "Saved players handled by the restore after a start, by outcome",
            m.restores.clone(),
        );
        r.register(
            "lavalink_nodes_up",
            "Lavalink nodes connected with a session",
            m.lavalink_nodes_up.clone(),
        );
        r.register(
            "lavalink_node_up",
            "1 while the Lavalink node is connected with a session",
            m.lavalink_node_up.clone(),
        );
        r.register(
            "lavalink_node_players",
            "Players on the Lavalink node, as its last stats said",
            m.lavalink_node_players.clone(),
        );
        r.register(
            "lavalink_node_playing_players",
            "Players playing on the Lavalink node, as its last stats said",
            m.lavalink_node_playing_players.clone(),
        );
        r.register(
            "lavalink_node_lavalink_load",
            "CPU load of the Lavalink process (0-1 per its stats)",
            m.lavalink_node_lavalink_load.clone(),
        );
        r.register(
            "lavalink_node_system_load",
            "CPU load of the Lavalink host (0-1 per its stats)",
            m.lavalink_node_system_load.clone(),
        );
        r.register(
            "lavalink_node_memory_used_bytes",
            "Memory the Lavalink node uses, per its stats",
            m.lavalink_node_memory_used_bytes.clone(),
        );
        r.register(
            "gateway_commands_sent",
            "Gateway commands Encore sent on its own (voice state updates), per shard",
            m.gateway_commands_sent.clone(),
        );
        r.register(
            "gateway_shard_connected",
            "1 while the shard's gateway connection is up",
            m.gateway_shard_connected.clone(),
        );
        r.register(
            "gateway_shard_latency_seconds",
            "The shard's last heartbeat round trip",
            m.gateway_shard_latency_seconds.clone(),
        );
        r.register(
            "lease_owner",
            "1 while this instance owns the lease (answers, voice and saving), else 0",
            m.lease_owner.clone(),
        );
        r.register(
            "voice_heals",
            "Voice healing steps, by step and outcome",
            m.voice_heals.clone(),
        );
        r.register(
            "voice_heal_seconds",
            "From a voice fault to audio again",
            m.voice_heal_seconds.clone(),
        );
        r.register(
            "voice_unhealthy_guilds",
            "Players whose voice is suspect, healing, or given up",
            m.voice_unhealthy_guilds.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one voice healing step's outcome.
    pub fn voice_heal(&self, step: &'static str, outcome: &'static str) {
        self.voice_heals
            .get_or_create(&HealLabel { step, outcome })
            .inc();
    }

    /// The text exposition (OpenMetrics) of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "could not encode the metrics");
        }
        out
    }

    /// Times a store call and counts its failure.
    pub fn store_call(&self, op: &'static str, took: Duration, ok: bool) {
        self.store_seconds
            .get_or_create(&OpLabel { op })
            .observe(took.as_secs_f64());
        if !ok {
            self.store_errors.get_or_create(&OpLabel { op }).inc();
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exported_with_help_and_type() {
        let m = Metrics::new();
        m.store_call("save", Duration::from_millis(3), false);
        m.restores
            .get_or_create(&OutcomeLabel { outcome: "playing" })
            .inc_by(2);
        m.gateway_commands_sent
            .get_or_create(&ShardLabel { shard: 1 })
            .inc();
        m.lavalink_node_lavalink_load
            .get_or_create(&NodeLabel {
                node: "node-1".into(),
            })
            .set(0.25);
        m.voice_heal("rerequest", "healed");
        m.voice_heal_seconds.observe(0.5);
        let text = m.render();
        for line in [
            "encore_voice_heals_total{step=\"rerequest\",outcome=\"healed\"} 1",
            "encore_voice_heal_seconds_count 1",
            "# TYPE encore_voice_unhealthy_guilds gauge",
            "# TYPE encore_store_operation_seconds histogram",
            "encore_store_operation_seconds_count{op=\"save\"} 1",
            "encore_store_errors_total{op=\"save\"} 1",
            "encore_restores_total{outcome=\"playing\"} 2",
            "encore_gateway_commands_sent_total{shard=\"1\"} 1",
            "encore_lavalink_node_lavalink_load{node=\"node-1\"} 0.25",
            "# HELP encore_autosave_tick_seconds How long one autosave write",
            "# EOF",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
    }
}
