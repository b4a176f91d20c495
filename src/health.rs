//! The optional HTTP listener on `HEALTH_PORT`: `/healthz` (the process answers), `/readyz`
//! (Discord shards connected, a Lavalink node up, the store writable; 503 with the reason
//! otherwise) and `/metrics` (Prometheus text format).

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use poise::serenity_prelude as serenity;

use crate::discord::DiscordParts;
use crate::domain::now_ms;
use crate::lease::Role;
use crate::metrics::{metrics, NodeLabel, ShardLabel, StateLabel};
use crate::services::Services;
use crate::settings::ShardPlan;

/// How long the store may take to accept the readiness probe's write.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The record the readiness probe writes (a lease nobody takes).
const STORE_PROBE: &str = "encore:readiness-probe";

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("HEALTH_PORT is invalid: cannot listen on port {port}: {reason}")]
    Bind { port: u16, reason: String },
}

/// What the endpoints look at: the services and the Discord client's parts, given at
/// construction (the client is built, not yet connected).
#[derive(Clone)]
pub struct Probe {
    inner: Arc<Inner>,
}

struct Inner {
    services: Services,
    discord: DiscordParts,
    stopping: AtomicBool,
}

/// One readiness condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Probe {
    pub fn new(services: Services, discord: DiscordParts) -> Probe {
        Probe {
            inner: Arc::new(Inner {
                services,
                discord,
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// From now on `/readyz` says the process is shutting down.
    pub fn stopping(&self) {
        self.inner.stopping.store(true, Ordering::Relaxed);
    }

    /// Why the gateway client stopped, if it has. serenity leaves the last stage of its shards
    /// as it was when its client stops, so their stage alone does not tell.
    fn client_stopped(&self) -> Option<&str> {
        self.inner.discord.client_stopped.get().map(String::as_str)
    }

    /// Every readiness condition, in order: Discord, Lavalink, store.
    pub async fn readiness(&self) -> Vec<Check> {
        let mut checks = Vec::with_capacity(4);
        if self.inner.stopping.load(Ordering::Relaxed) {
            checks.push(Check {
                name: "process",
                ok: false,
                detail: "shutting down".into(),
            });
        }
        checks.push(self.discord().await);
        checks.push(self.lavalink());
        checks.push(self.store().await);
        checks
    }

    async fn discord(&self) -> Check {
        let fail = |detail: String| Check {
            name: "discord",
            ok: false,
            detail,
        };
        if let Some(why) = self.client_stopped() {
            return fail(format!("the Discord client stopped: {why}"));
        }
        if let Some(why) = self.inner.discord.link.down_reason() {
            return fail(format!("Discord is unreachable ({why}); retrying"));
        }
        let runners = self.inner.discord.shard_manager.runners.lock().await;
        let shards = self.inner.services.shards;
        let total = match shards {
            ShardPlan::Range { count, .. } => count,
            ShardPlan::Auto if runners.is_empty() => {
                return fail("waiting for the first READY".into())
            }
            ShardPlan::Auto => self.inner.discord.cache.shard_count(),
        };
        let ids = shards.ids(total);
        let (first, last) = (*ids.start(), *ids.end());
        for id in ids {
            match runners.get(&serenity::ShardId(id)) {
                None => return fail(format!("shard {id} has not started")),
                Some(r) if r.stage != serenity::ConnectionStage::Connected => {
                    return fail(format!("shard {id} is not connected ({})", r.stage));
                }
                Some(_) => {}
            }
        }
        Check {
            name: "discord",
            ok: true,
            detail: format!("shards {first}-{last} of {total} connected"),
        }
    }

    fn lavalink(&self) -> Check {
        let fail = |detail: String| Check {
            name: "lavalink",
            ok: false,
            detail,
        };
        match self.inner.services.lease.role() {
            Role::Standby => {
                return fail(
                    "stand-by: another instance owns the lease; Lavalink is connected when this one takes over"
                        .into(),
                )
            }
            Role::Fenced => {
                return fail(
                    "fenced: the lease was not renewed in time (the store does not answer); Lavalink is closed until it is"
                        .into(),
                )
            }
            _ => {}
        }
        let nodes = self.inner.services.backend.node_reports();
        let up: Vec<&str> = nodes
            .iter()
            .filter(|n| n.up)
            .map(|n| n.name.as_str())
            .collect();
        if up.is_empty() {
            return fail(format!("none of the {} node(s) is up", nodes.len()));
        }
        Check {
            name: "lavalink",
            ok: true,
            detail: format!(
                "{} of {} node(s) up ({})",
                up.len(),
                nodes.len(),
                up.join(", ")
            ),
        }
    }

    /// Writes a small record: the store is ready when it accepts a write.
    async fn store(&self) -> Check {
        let store = &self.inner.services.store;
        let write = async {
            let version = store.load_lease(STORE_PROBE).await?.map(|r| r.version);
            let body = format!("{{\"probe_at_ms\":{}}}", now_ms());
            // Losing the swap to another instance's probe still means the store took a write.
            store.swap_lease(STORE_PROBE, version, &body).await
        };
        let (ok, detail) = match tokio::time::timeout(STORE_PROBE_TIMEOUT, write).await {
            Ok(Ok(_)) => (true, format!("{} accepts writes", store.backend())),
            Ok(Err(e)) => (false, format!("{} refused a write: {e}", store.backend())),
            Err(_) => (
                false,
                format!(
                    "{} did not accept a write within {} s",
                    store.backend(),
                    STORE_PROBE_TIMEOUT.as_secs()
                ),
            ),
        };
        Check {
            name: "store",
            ok,
            detail,
        }
    }

    /// Sets the gauges that describe the present, then renders every metric.
    pub async fn metrics_text(&self) -> String {
        let m = metrics();
        m.lease_owner
            .set(i64::from(self.inner.services.lease.role().holds_lease()));
        {
            let f = self.inner.services.service.figures().await;
            for (state, n) in [
                ("playing", f.playing),
                ("paused", f.paused),
                ("idle", f.idle),
            ] {
                m.players.get_or_create(&StateLabel { state }).set(n as i64);
            }
            m.queued_tracks.set(f.queued_tracks as i64);
            m.longest_queue.set(f.longest_queue as i64);
            m.voice_unhealthy_guilds.set(f.voice_unhealthy as i64);
            let nodes = self.inner.services.backend.node_reports();
            m.lavalink_nodes_up
                .set(nodes.iter().filter(|n| n.up).count() as i64);
            for n in nodes {
                let label = NodeLabel { node: n.name };
                m.lavalink_node_up
                    .get_or_create(&label)
                    .set(i64::from(n.up));
                if let Some(load) = n.load {
                    m.lavalink_node_players
                        .get_or_create(&label)
                        .set(load.players as i64);
                    m.lavalink_node_playing_players
                        .get_or_create(&label)
                        .set(load.playing_players as i64);
                    m.lavalink_node_lavalink_load
                        .get_or_create(&label)
                        .set(load.lavalink_load);
                    m.lavalink_node_system_load
                        .get_or_create(&label)
                        .set(load.system_load);
                    m.lavalink_node_memory_used_bytes
                        .get_or_create(&label)
                        .set(load.memory_used as i64);
                }
            }
        }
        {
            let manager = &self.inner.discord.shard_manager;
            let stopped = self.client_stopped().is_some();
            for (id, r) in manager.runners.lock().await.iter() {
                let label = ShardLabel { shard: id.0 };
                let up = !stopped && r.stage == serenity::ConnectionStage::Connected;
                m.gateway_shard_connected
                    .get_or_create(&label)
                    .set(i64::from(up));
                if let Some(latency) = r.latency {
                    m.gateway_shard_latency_seconds
                        .get_or_create(&label)
                        .set(latency.as_secs_f64());
                }
            }
        }
        m.render()
    }
}

/// Starts the listener on every address (IPv6 and IPv4) at `port`.
pub async fn serve(port: u16, probe: Probe) -> Result<tokio::task::JoinHandle<()>, HealthError> {
    let bind_err = |e: std::io::Error| HealthError::Bind {
        port,
        reason: e.to_string(),
    };
    let listener = match tokio::net::TcpListener::bind(SocketAddr::from((
        Ipv6Addr::UNSPECIFIED,
        port,
    )))
    .await
    {
        Ok(l) => l,
        // A host without IPv6: IPv4 only.
        Err(_) => tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port)))
            .await
            .map_err(bind_err)?,
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_endpoint))
        .with_state(probe);
    tracing::info!(port, "health listener on /healthz, /readyz and /metrics");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the health listener stopped");
        }
    }))
}

const TEXT: &str = "text/plain; charset=utf-8";

async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, TEXT)], "ok\n").into_response()
}

async fn readyz(State(probe): State<Probe>) -> Response {
    let checks = probe.readiness().await;
    let mut body = String::new();
    let status = match checks.iter().find(|c| !c.ok) {
        None => {
            body.push_str("ready\n");
            StatusCode::OK
        }
        Some(c) => {
            body.push_str(&format!("not ready: {}: {}\n", c.name, c.detail));
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    for c in &checks {
        let mark = if c.ok { "ok" } else { "FAIL" };
        body.push_str(&format!("{mark} {}: {}\n", c.name, c.detail));
    }
    (status, [(header::CONTENT_TYPE, TEXT)], body).into_response()
}

async fn metrics_endpoint(State(probe): State<Probe>) -> Response {
    let text = probe.metrics_text().await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
