//! Reaching Discord: whether a failure is fatal (Discord refuses this bot: a wrong token, intents
//! or shards, which no retry mends) or transient (Discord or the network is down, which a retry
//! mends), the backoff between attempts, and [`Link`], which logs each change of reachability once.
//!
//! How serenity 0.12.5 reports failures, which this module sorts:
//! - REST (`GET /users/@me`, `GET /gateway/bot`): `Error::Http`, an HTTP status or a request that
//!   failed. 401 and 403 mean the token is refused; anything else is transient.
//! - The gateway: a shard closed with 4004 (authentication failed), 4013 (invalid intents) or
//!   4014 (disallowed intents) makes `Client::start*` return `Error::Gateway`. Every other close
//!   and every lost or refused connection is retried by serenity's shard queuer itself (one
//!   attempt per 5 s) and never reaches `start*`; [`Link`] only watches the shards' stages. 4010
//!   and 4011 (invalid shard, sharding required) are logged by serenity and reconnected like
//!   any other close, and 4012 (API version) is not special to it: they would be fatal here if
//!   serenity returned them, which 0.12.5 does not.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;

use crate::settings::redact_userinfo;
use crate::sync::LockExt;

/// The first retry waits about this long (±25 % jitter), each next one twice as long …
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// … up to this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long one REST call to Discord may take before it counts as a failure.
pub const REST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why Discord will not let this bot run, with what to fix. The process stops (gracefully, saved
/// state kept) with this as its last line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fatal {
    #[error("Discord refused DISCORD_TOKEN ({0}): check the bot token")]
    TokenRefused(String),
    #[error("Discord refused the gateway intents ({0}): enable the privileged intents Encore asks for in the Discord developer portal (your application → Bot → Privileged Gateway Intents)")]
    IntentsDisallowed(String),
    #[error("Discord does not know the gateway intents Encore sends ({0}): this build of Encore is out of date")]
    IntentsInvalid(String),
    #[error("Discord refused this process's shards ({0}): check SHARD_COUNT and SHARD_IDS (SHARD_COUNT=auto lets Discord choose)")]
    Shards(String),
    #[error("Discord refused the gateway API version ({0}): this build of Encore is out of date")]
    ApiVersion(String),
    #[error("the Discord client stopped by itself ({0})")]
    Stopped(String),
}

/// One failed attempt to reach Discord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Discord or the network is down: retry. The reason is for the log (no secret in it).
    Transient(String),
    Fatal(Fatal),
}

/// The fatal meaning of a gateway close code, if it has one.
pub fn close_code(code: u16) -> Option<Fatal> {
    let what = |name: &str| format!("the gateway closed the connection with {code} {name}");
    Some(match code {
        4004 => Fatal::TokenRefused(what("Authentication failed")),
        4010 => Fatal::Shards(what("Invalid shard")),
        4011 => Fatal::Shards(what("Sharding required")),
        4012 => Fatal::ApiVersion(what("Invalid API version")),
        4013 => Fatal::IntentsInvalid(what("Invalid intent(s)")),
        4014 => Fatal::IntentsDisallowed(what("Disallowed intent(s)")),
        _ => return None,
    })
}

/// What a gateway error of serenity means.
pub fn gateway_failure(e: &serenity::GatewayError) -> Failure {
    use serenity::GatewayError as G;
    let code = match e {
        G::InvalidAuthentication => Some(4004),
        G::InvalidShardData => Some(4010),
        G::OverloadedShard => Some(4011),
        G::InvalidGatewayIntents => Some(4013),
        G::DisallowedGatewayIntents => Some(4014),
        G::Closed(Some(frame)) => Some(u16::from(frame.code)),
        _ => None,
    };
    match code.and_then(close_code) {
        Some(fatal) => Failure::Fatal(fatal),
        None => Failure::Transient(format!("the gateway failed: {e}")),
    }
}

/// What a failed call of serenity (`call` names it, e.g. `GET /users/@me`) means.
pub fn failure(e: &serenity::Error, call: &str) -> Failure {
    use serenity::{Error, HttpError};
    match e {
        Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            let reason = format!("{call} answered HTTP {status}");
            if matches!(status, 401 | 403) {
                Failure::Fatal(Fatal::TokenRefused(reason))
            } else {
                Failure::Transient(reason)
            }
        }
        // Why the request failed, from its causes: not its own text, which repeats the URL.
        Error::Http(HttpError::Request(r)) => {
            let mut causes = Vec::new();
            let mut source = std::error::Error::source(r);
            while let Some(s) = source {
                causes.push(s.to_string());
                source = s.source();
            }
            Failure::Transient(if causes.is_empty() {
                format!("{call} failed")
            } else {
                format!("{call}: {}", redact_userinfo(&causes.join(": ")))
            })
        }
        Error::Gateway(g) => gateway_failure(g),
        other => Failure::Transient(format!("{call}: {}", redact_userinfo(&other.to_string()))),
    }
}

/// One REST call to Discord, bounded by [`REST_TIMEOUT`], its error sorted.
pub async fn call<T>(
    call: &str,
    request: impl std::future::Future<Output = serenity::Result<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(REST_TIMEOUT, request).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(failure(&e, call)),
        Err(_) => Err(Failure::Transient(format!(
            "{call}: no answer within {}",
            humantime::format_duration(REST_TIMEOUT)
        ))),
    }
}

/// The wait before attempt `failures + 1`.
pub fn retry_delay(failures: u32) -> Duration {
    crate::audio::lavalink::backoff_delay(failures, MIN_BACKOFF, MAX_BACKOFF)
}

/// Whether Discord can be reached, shared by start-up, the client's supervisor and `/readyz`.
/// Logs one warning when Discord becomes unreachable (with the reason) and one line when it is
/// reachable again, however many attempts lie between.
#[derive(Clone)]
pub struct Link {
    inner: Arc<Mutex<Down>>,
    /// The REST API base, for the warning (credentials hidden).
    api: Arc<str>,
}

#[derive(Default)]
struct Down {
    since: Option<(Instant, String)>,
}

impl Link {
    /// `api_base`: `DISCORD_API_BASE`, or None for Discord itself.
    pub fn new(api_base: Option<&str>) -> Link {
        Link {
            inner: Arc::default(),
            api: redact_userinfo(api_base.unwrap_or("https://discord.com")).into(),
        }
    }

    /// An attempt failed for `reason`: the first one since Discord was last reachable logs.
    pub fn down(&self, reason: &str) {
        let mut down = self.inner.locked();
        if down.since.is_none() {
            tracing::warn!(
                api = %self.api,
                reason,
                "Discord is unreachable; retrying with backoff until it answers (check DISCORD_API_BASE and the network if this lasts)"
            );
            down.since = Some((Instant::now(), reason.to_string()));
        }
    }

    /// Discord answered: logs if it had been unreachable.
    pub fn up(&self) {
        if let Some((since, _)) = self.inner.locked().since.take() {
            let after = Duration::from_secs(since.elapsed().as_secs());
            tracing::info!(
                after = %humantime::format_duration(after),
                "Discord is reachable again"
            );
        }
    }

    /// Why Discord is unreachable, while it is.
    pub fn down_reason(&self) -> Option<String> {
        self.inner.locked().since.as_ref().map(|(_, r)| r.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_that_no_retry_mends_are_fatal_and_name_what_to_fix() {
        let msg = |code| close_code(code).map(|f| f.to_string());
        assert_eq!(
            msg(4004).as_deref(),
            Some("Discord refused DISCORD_TOKEN (the gateway closed the connection with 4004 Authentication failed): check the bot token")
        );
        assert!(msg(4014).is_some_and(|m| m.contains("Privileged Gateway Intents")));
        assert!(msg(4013).is_some_and(|m| m.contains("4013 Invalid intent(s)")));
        for code in [4010, 4011] {
            assert!(msg(code).is_some_and(|m| m.contains("check SHARD_COUNT and SHARD_IDS")));
        }
        assert!(matches!(close_code(4012), Some(Fatal::ApiVersion(_))));
        // Discord's resumable or reconnectable closes, and normal ones, are not fatal.
        for code in [
            1000, 1001, 1006, 4000, 4001, 4002, 4003, 4005, 4007, 4008, 4009,
        ] {
            assert_eq!(close_code(code), None, "{code}");
        }
    }

    #[test]
    fn serenitys_gateway_errors_sort_by_their_close_code() {
        use poise::serenity_prelude::GatewayError as G;
        let fatal = |e: G| matches!(gateway_failure(&e), Failure::Fatal(_));
        assert!(fatal(G::InvalidAuthentication));
        assert!(fatal(G::DisallowedGatewayIntents));
        assert!(fatal(G::InvalidGatewayIntents));
        assert!(fatal(G::InvalidShardData));
        assert!(fatal(G::OverloadedShard));
        assert!(!fatal(G::HeartbeatFailed));
        assert!(!fatal(G::Closed(None)));
        assert!(!fatal(G::ReconnectFailure));
    }

    #[test]
    fn a_link_logs_once_per_change_and_keeps_the_first_reason() {
        let link = Link::new(Some("http://user:secret@127.0.0.1:1"));
        assert_eq!(link.down_reason(), None);
        link.down("GET /users/@me answered HTTP 502");
        link.down("GET /users/@me: connection refused");
        assert_eq!(
            link.down_reason().as_deref(),
            Some("GET /users/@me answered HTTP 502")
        );
        assert!(!link.api.contains("secret"));
        link.up();
        assert_eq!(link.down_reason(), None);
        link.up();
    }
}
