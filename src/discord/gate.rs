//! Which Discord events this instance acts on, by its part in the lease (see [`crate::lease`]).
//!
//! Two instances of the bot receive every event during a zero-downtime deploy. Only the owner
//! answers interactions and follows its own voice state; the other only keeps its cache. The
//! hand-over splits interactions by the time in their snowflake id: the old owner answers those
//! created before the cut, the new owner those created at or after it — so each is answered by
//! exactly one instance. Until it owns the lease, an instance holds back the interactions it
//! receives (for up to 2.5 s, inside Discord's 3 s answer window) and answers the ones that are
//! its own once it does.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::sync::LockExt;
use poise::serenity_prelude as serenity;
use serenity::{FullEvent, Interaction};

/// Discord's epoch (2015-01-01), for the time inside a snowflake.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Held-back interactions older than this are dropped: too late to answer.
const HOLD_FOR: Duration = Duration::from_millis(2_500);
/// Held this long with nobody alive to answer: answered with a "restarting" note.
const ANSWER_AFTER: Duration = Duration::from_millis(2_000);

/// The creation time (Unix ms) inside a Discord snowflake.
pub fn snowflake_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not ours yet: hold interactions back.
    Standby,
    /// Ours, restoring the saved players: follow our voice, but hold interactions back (they
    /// would read the players before they are back).
    Restoring,
    /// Ours: act on everything.
    Owner,
    /// Handed over (or stopping): answer only interactions created before `cut_ms`.
    Retiring { cut_ms: u64 },
}

struct Held {
    at: Instant,
    ctx: serenity::Context,
    event: FullEvent,
}

struct State {
    mode: Mode,
    held: Vec<Held>,
}

/// The shared switch; cheap to clone.
#[derive(Clone)]
pub struct Gate {
    state: Arc<Mutex<State>>,
    framework: Arc<OnceLock<Arc<poise::Framework<super::Data, super::Error>>>>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            state: Arc::new(Mutex::new(State {
                mode: Mode::Standby,
                held: Vec::new(),
            })),
            framework: Arc::new(OnceLock::new()),
        }
    }
}

/// What to do with one event.
enum Admit {
    Pass,
    Hold,
    Drop,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.locked()
    }

    pub fn is_owner(&self) -> bool {
        matches!(self.lock().mode, Mode::Owner | Mode::Restoring)
    }

    fn admit(mode: Mode, bot_id: Option<u64>, event: &FullEvent) -> Admit {
        match event {
            FullEvent::InteractionCreate { interaction } => match mode {
                Mode::Owner => Admit::Pass,
                Mode::Standby | Mode::Restoring => Admit::Hold,
                Mode::Retiring { cut_ms } => {
                    if snowflake_ms(interaction_id(interaction)) < cut_ms {
                        Admit::Pass
                    } else {
                        Admit::Drop
                    }
                }
            },
            // The bot's own voice: only the owner follows it (a stand-by must not take another
            // instance's rejoin for a disconnect).
            FullEvent::VoiceStateUpdate { new, .. } if Some(new.user_id.get()) == bot_id => {
                if matches!(mode, Mode::Owner | Mode::Restoring) {
                    Admit::Pass
                } else {
                    Admit::Drop
                }
            }
            FullEvent::VoiceServerUpdate { .. }
                if !matches!(mode, Mode::Owner | Mode::Restoring) =>
            {
                Admit::Drop
            }
            _ => Admit::Pass,
        }
    }

    /// This instance owns the lease and restores its players: it follows its own voice from
    /// now on, and keeps holding interactions until [`Self::become_owner`].
    pub fn restoring(&self) {
        let mut s = self.lock();
        if s.mode == Mode::Standby {
            s.mode = Mode::Restoring;
        }
    }

    /// This instance owns the lease now. Interactions held back are answered: those created at or
    /// after `cut_ms` (a hand-over), or all still fresh enough (the previous owner died).
    pub async fn become_owner(&self, cut_ms: Option<u64>) {
        let held = {
            let mut s = self.lock();
            s.mode = Mode::Owner;
            std::mem::take(&mut s.held)
        };
        let Some(framework) = self.framework.get().cloned() else {
            return;
        };
        for h in held {
            if h.at.elapsed() >= HOLD_FOR {
                continue;
            }
            if let FullEvent::InteractionCreate { interaction } = &h.event {
                if cut_ms.is_some_and(|cut| snowflake_ms(interaction_id(interaction)) < cut) {
                    continue; // The previous owner answered it.
                }
            }
            let framework = framework.clone();
            tokio::spawn(async move {
                serenity::Framework::dispatch(&*framework, h.ctx, h.event).await;
            });
        }
    }

    /// While this instance stands by, answers the interactions it held for 2 s with a short
    /// "restarting" note when no other instance is alive to answer them (the owner crashed and
    /// its lease has not expired yet).
    pub fn spawn_standby_answers(&self, lease: crate::lease::LeaseHandle) {
        let gate = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if matches!(lease.role(), crate::lease::Role::Retired) {
                    return;
                }
                let due: Vec<Held> = {
                    let mut s = gate.lock();
                    if s.mode != Mode::Standby || s.held.is_empty() {
                        continue;
                    }
                    // The owner renews every second at most; three missed renewals mean dead.
                    if !lease.owner_is_stale(Duration::from_secs(3)) {
                        continue;
                    }
                    let (due, keep) = std::mem::take(&mut s.held)
                        .into_iter()
                        .partition(|h| h.at.elapsed() >= ANSWER_AFTER);
                    s.held = keep;
                    due
                };
                for h in due {
                    answer_restarting(&h).await;
                }
            }
        });
    }

    /// Stops acting for now (fenced off: the lease was not renewed in time): interactions are
    /// held back again, answered by us if we act again in time ([`Self::become_owner`]).
    pub fn hold(&self) {
        let mut s = self.lock();
        if matches!(s.mode, Mode::Owner | Mode::Restoring) {
            s.mode = Mode::Standby;
        }
    }

    /// Stops acting: from now on only interactions created before `cut_ms` are answered.
    pub fn retire(&self, cut_ms: u64) {
        let mut s = self.lock();
        s.mode = Mode::Retiring { cut_ms };
        s.held.clear();
    }
}

/// Tells the person the bot is coming back (ephemerally): a held interaction nobody else answers.
async fn answer_restarting(h: &Held) {
    use serenity::{
        CreateAutocompleteResponse, CreateInteractionResponse, CreateInteractionResponseMessage,
    };
    let FullEvent::InteractionCreate { interaction } = &h.event else {
        return;
    };
    let note = || {
        CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(super::texts::RESTARTING)
                .ephemeral(true),
        )
    };
    let http = &h.ctx.http;
    let result = match interaction {
        Interaction::Command(c) => c.create_response(http, note()).await,
        Interaction::Component(c) => c.create_response(http, note()).await,
        Interaction::Autocomplete(c) => {
            let empty = CreateInteractionResponse::Autocomplete(CreateAutocompleteResponse::new());
            c.create_response(http, empty).await
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "could not answer an interaction while restarting");
    }
}

fn interaction_id(i: &Interaction) -> u64 {
    match i {
        Interaction::Command(c) | Interaction::Autocomplete(c) => c.id.get(),
        Interaction::Component(c) => c.id.get(),
        Interaction::Modal(m) => m.id.get(),
        Interaction::Ping(p) => p.id.get(),
        _ => 0,
    }
}

/// poise's framework behind the gate.
pub struct GatedFramework {
    inner: Option<poise::Framework<super::Data, super::Error>>,
    gate: Gate,
}

impl GatedFramework {
    pub fn new(inner: poise::Framework<super::Data, super::Error>, gate: Gate) -> Self {
        GatedFramework {
            inner: Some(inner),
            gate,
        }
    }
}

#[serenity::async_trait]
impl serenity::Framework for GatedFramework {
    async fn init(&mut self, client: &serenity::Client) {
        if let Some(mut inner) = self.inner.take() {
            serenity::Framework::init(&mut inner, client).await;
            let _ = self.gate.framework.set(Arc::new(inner));
        }
    }

    async fn dispatch(&self, ctx: serenity::Context, event: FullEvent) {
        let Some(framework) = self.gate.framework.get().cloned() else {
            return;
        };
        let bot_id = Some(ctx.cache.current_user().id.get());
        let verdict = {
            let mut s = self.gate.lock();
            let verdict = Gate::admit(s.mode, bot_id, &event);
            if let Admit::Hold = verdict {
                s.held.retain(|h| h.at.elapsed() < HOLD_FOR);
                s.held.push(Held {
                    at: Instant::now(),
                    ctx: ctx.clone(),
                    event: event.clone(),
                });
            }
            verdict
        };
        if let Admit::Pass = verdict {
            serenity::Framework::dispatch(&*framework, ctx, event).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflake_time_is_read_from_the_top_bits() {
        // Discord's documented example: 175928847299117063 was created 2016-04-30 11:18:25.796.
        assert_eq!(snowflake_ms(175_928_847_299_117_063), 1_462_015_105_796);
    }
}
