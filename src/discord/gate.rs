//! Which Discord events this instance acts on, by its part in the lease (see [`crate::lease`]).
//!
//! Two instances of the bot receive every event during a zero-downtime deploy. Only the owner
//! answers interactions and follows its own voice state; the other only keeps its cache. The
//! hand-over splits interactions by the time in their snowflake id: the old owner answers those
//! created before the cut, the new owner those created at or after it — so each is answered by
//! exactly one instance. Until it owns the lease, an instance holds back the interactions it
//! receives (for up to 2.5 s, inside Discord's 3 s answer window) and answers the ones that are
//! its own once it does. A new owner also holds back, guild by guild, the interactions of the
//! servers whose saved players it is still restoring (before, they would read "nothing is
//! playing"); held for 2 s, an interaction nobody else will answer gets a short "restarting"
//! note, so none goes unanswered.

use std::collections::HashSet;
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
/// Discord's window for the first answer to an interaction is 3 s: past this age a note is
/// no longer sent.
const ANSWER_LIMIT: Duration = Duration::from_millis(2_900);

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
    /// Guilds whose saved players the new owner is still restoring: their interactions wait.
    restoring: HashSet<u64>,
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
                restoring: HashSet::new(),
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

    fn admit(s: &State, bot_id: Option<u64>, event: &FullEvent) -> Admit {
        let mode = s.mode;
        match event {
            FullEvent::InteractionCreate { interaction } => match mode {
                Mode::Owner => {
                    if interaction_guild(interaction).is_some_and(|g| s.restoring.contains(&g)) {
                        Admit::Hold
                    } else {
                        Admit::Pass
                    }
                }
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

    /// The new owner is restoring the saved players of `guilds`: their interactions are held
    /// back until [`Self::guild_restored`] (or answered "restarting" after 2 s).
    pub fn restoring_guilds(&self, guilds: impl IntoIterator<Item = u64>) {
        self.lock().restoring.extend(guilds);
    }

    /// `guild`'s saved player is back (or will not be): its held interactions are answered.
    pub async fn guild_restored(&self, guild: u64) {
        self.lock().restoring.remove(&guild);
        self.dispatch_held().await;
    }

    /// The restore is over: every held interaction is answered.
    pub async fn restore_done(&self) {
        self.lock().restoring.clear();
        self.dispatch_held().await;
    }

    /// This instance owns the lease now. Interactions held back are answered: those created at or
    /// after `cut_ms` (a hand-over), or all still fresh enough (the previous owner died); those
    /// of guilds still being restored wait for their guild.
    pub async fn become_owner(&self, cut_ms: Option<u64>) {
        {
            let mut s = self.lock();
            s.mode = Mode::Owner;
            if let Some(cut) = cut_ms {
                // Created before the cut: the previous owner answered them.
                s.held.retain(|h| match &h.event {
                    FullEvent::InteractionCreate { interaction } => {
                        snowflake_ms(interaction_id(interaction)) >= cut
                    }
                    _ => true,
                });
            }
        }
        self.dispatch_held().await;
    }

    /// Answers the held interactions we now may: fresh enough, and not of a guild still being
    /// restored.
    async fn dispatch_held(&self) {
        let due: Vec<Held> = {
            let mut s = self.lock();
            if s.mode != Mode::Owner {
                return;
            }
            let restoring = s.restoring.clone();
            let (waiting, due) = std::mem::take(&mut s.held).into_iter().partition(|h| {
                let FullEvent::InteractionCreate { interaction } = &h.event else {
                    return false;
                };
                interaction_guild(interaction).is_some_and(|g| restoring.contains(&g))
            });
            s.held = waiting;
            due
        };
        let Some(framework) = self.framework.get().cloned() else {
            return;
        };
        for h in due {
            if h.at.elapsed() >= HOLD_FOR {
                continue;
            }
            let framework = framework.clone();
            tokio::spawn(async move {
                serenity::Framework::dispatch(&*framework, h.ctx, h.event).await;
            });
        }
    }

    /// Answers the interactions held for 2 s with a short "restarting" note when nobody else
    /// will answer them: while this instance stands by and the owner has not renewed for 2 s
    /// (it most likely died, and its lease has not expired yet), and while this instance, the
    /// owner, restores the guild they are about.
    pub fn spawn_held_answers(&self, lease: crate::lease::LeaseHandle) {
        let gate = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if matches!(lease.role(), crate::lease::Role::Retired) {
                    return;
                }
                let due: Vec<Held> = {
                    let mut s = gate.lock();
                    if s.held.is_empty() {
                        continue;
                    }
                    let nobody_else = match s.mode {
                        // Two renewals missed, and as long as the interaction was held: the
                        // owner most likely died. (An owner alive but slow answers within
                        // milliseconds, long before a note, which Discord then refuses.)
                        Mode::Standby => {
                            lease.owner_is_stale((lease.period() * 2).max(ANSWER_AFTER))
                        }
                        Mode::Restoring | Mode::Owner => true,
                        Mode::Retiring { .. } => false,
                    };
                    if !nobody_else {
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
    /// Interactions we held back that were created before the cut are still ours: those of a
    /// guild we were restoring get the "restarting" note, the others are answered as usual; the
    /// rest are the next owner's.
    pub fn retire(&self, cut_ms: u64) {
        let (ours, restoring) = {
            let mut s = self.lock();
            let was_owner = s.mode == Mode::Owner;
            s.mode = Mode::Retiring { cut_ms };
            let held = std::mem::take(&mut s.held);
            let restoring = std::mem::take(&mut s.restoring);
            let ours: Vec<Held> = if was_owner {
                held.into_iter()
                    .filter(|h| match &h.event {
                        FullEvent::InteractionCreate { interaction } => {
                            snowflake_ms(interaction_id(interaction)) < cut_ms
                        }
                        _ => false,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            (ours, restoring)
        };
        let framework = self.framework.get().cloned();
        for h in ours {
            let FullEvent::InteractionCreate { interaction } = &h.event else {
                continue;
            };
            let restored = interaction_guild(interaction).is_none_or(|g| !restoring.contains(&g));
            match (&framework, restored) {
                (Some(framework), true) => {
                    let framework = framework.clone();
                    tokio::spawn(async move {
                        serenity::Framework::dispatch(&*framework, h.ctx, h.event).await;
                    });
                }
                _ => {
                    tokio::spawn(async move { answer_restarting(&h).await });
                }
            }
        }
    }
}

/// Tells the person the bot is coming back (ephemerally): a held interaction nobody else answers,
/// while Discord still takes an answer.
async fn answer_restarting(h: &Held) {
    if h.at.elapsed() >= ANSWER_LIMIT {
        return;
    }
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

/// The guild an interaction was made in, if any.
fn interaction_guild(i: &Interaction) -> Option<u64> {
    match i {
        Interaction::Command(c) | Interaction::Autocomplete(c) => c.guild_id.map(|g| g.get()),
        Interaction::Component(c) => c.guild_id.map(|g| g.get()),
        Interaction::Modal(m) => m.guild_id.map(|g| g.get()),
        _ => None,
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
            let verdict = Gate::admit(&s, bot_id, &event);
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
