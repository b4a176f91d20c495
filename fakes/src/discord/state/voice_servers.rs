//! Voice servers: the VOICE_SERVER_UPDATEs of the bot's joins, the `endpoint: null`
//! reallocation Discord announces when a voice server goes away, and the record of every
//! token and endpoint handed out.
//!
//! Discord's gateway docs (Gateway Events, Voice Server Update: `token`, `guild_id`,
//! `endpoint` ?string): "A null endpoint means that the voice server allocated has gone
//! away and is trying to be reallocated. You should attempt to disconnect from the
//! currently connected voice server, and not attempt to reconnect until a new voice
//! server is allocated." The new server comes in a later VOICE_SERVER_UPDATE, with its
//! own token.

use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;

use crate::discord::server::App;
use crate::discord::types::{ControlError, VoiceServerMode, VoiceServerSent};

use super::{random_hex, State};

/// A VOICE_SERVER_UPDATE with an endpoint that is due later: dispatched by
/// [`schedule_voice_server`] unless the allocation it belongs to was superseded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingVoiceServer {
    pub guild: u64,
    /// The guild's allocation generation it belongs to.
    pub generation: u64,
    pub delay: Duration,
}

/// Dispatches `pending` after its delay from a task on the fake's runtime (the one it was
/// started on, else the caller's). Nothing happens without a runtime.
pub(crate) fn schedule_voice_server(app: &App, pending: PendingVoiceServer) {
    let runtime = app
        .lock()
        .runtime
        .clone()
        .or_else(|| tokio::runtime::Handle::try_current().ok());
    let Some(runtime) = runtime else {
        return;
    };
    let app = app.clone();
    runtime.spawn(async move {
        tokio::time::sleep(pending.delay).await;
        app.lock().deliver_voice_server(pending);
    });
}

/// A voice server host in the shape Discord sends (`c-fakeNNNN.discord.media:443`),
/// different from `not`.
fn endpoint(not: Option<&str>) -> String {
    loop {
        let e = format!(
            "c-fake{}.discord.media:443",
            rand::thread_rng().gen_range(1000..10000)
        );
        if Some(e.as_str()) != not {
            return e;
        }
    }
}

impl State {
    /// How the bot's joins in `guild` get their voice server from now on.
    pub fn set_voice_server_mode(
        &mut self,
        guild: u64,
        mode: VoiceServerMode,
    ) -> Result<(), ControlError> {
        self.guild(guild)?;
        match mode {
            VoiceServerMode::Immediate => {
                self.voice_server_modes.remove(&guild);
            }
            m => {
                self.voice_server_modes.insert(guild, m);
            }
        }
        Ok(())
    }

    /// Every VOICE_SERVER_UPDATE dispatched for `guild`, oldest first.
    pub fn voice_servers(&self, guild: u64) -> Vec<VoiceServerSent> {
        self.voice_servers.get(&guild).cloned().unwrap_or_default()
    }

    /// The endpoint of the last VOICE_SERVER_UPDATE with one in `guild`.
    fn last_endpoint(&self, guild: u64) -> Option<String> {
        self.voice_servers
            .get(&guild)
            .and_then(|v| v.iter().rev().find_map(|s| s.endpoint.clone()))
    }

    /// Starts a new allocation in `guild`: older pending VOICE_SERVER_UPDATEs are void.
    fn next_generation(&mut self, guild: u64) -> u64 {
        let g = self.voice_server_generation.entry(guild).or_insert(0);
        *g += 1;
        *g
    }

    /// Records and dispatches VOICE_SERVER_UPDATE `{token, guild_id, endpoint}` with a
    /// fresh token; a new endpoint unless `null_endpoint`.
    fn send_voice_server(&mut self, guild: u64, null_endpoint: bool) {
        let token = random_hex(16);
        let endpoint = (!null_endpoint).then(|| endpoint(self.last_endpoint(guild).as_deref()));
        let sent_at_us = Instant::now()
            .saturating_duration_since(self.started)
            .as_micros()
            .min(u64::MAX as u128) as u64;
        self.voice_servers
            .entry(guild)
            .or_default()
            .push(VoiceServerSent {
                token: token.clone(),
                endpoint: endpoint.clone(),
                sent_at_us,
            });
        let payload = json!({
            "token": token,
            "guild_id": guild.to_string(),
            "endpoint": endpoint,
        });
        self.dispatch(Some(guild), "VOICE_SERVER_UPDATE", payload, None);
    }

    /// The voice server of a join (op 4 to a channel) in `guild`, as its mode says;
    /// returns the VOICE_SERVER_UPDATE still to come, if any.
    pub(super) fn allocate_voice_server(&mut self, guild: u64) -> Option<PendingVoiceServer> {
        let generation = self.next_generation(guild);
        match self
            .voice_server_modes
            .get(&guild)
            .copied()
            .unwrap_or_default()
        {
            VoiceServerMode::Immediate => {
                self.send_voice_server(guild, false);
                None
            }
            VoiceServerMode::NullThen(delay) => {
                self.send_voice_server(guild, true);
                Some(PendingVoiceServer {
                    guild,
                    generation,
                    delay,
                })
            }
            VoiceServerMode::NullForever => {
                self.send_voice_server(guild, true);
                None
            }
        }
    }

    /// The bot's voice server in `guild` goes away: VOICE_SERVER_UPDATE with `endpoint:
    /// null` now; with `then`, the VOICE_SERVER_UPDATE of the new server (fresh token, new
    /// endpoint) is returned to be dispatched that much later.
    pub fn reallocate_voice_server(
        &mut self,
        guild: u64,
        then: Option<Duration>,
    ) -> Result<Option<PendingVoiceServer>, ControlError> {
        let bot = self.cfg.bot_user_id;
        if !self.guild(guild)?.voice.contains_key(&bot) {
            return Err(ControlError(format!(
                "the bot is not in a voice channel of {guild}"
            )));
        }
        let generation = self.next_generation(guild);
        self.send_voice_server(guild, true);
        Ok(then.map(|delay| PendingVoiceServer {
            guild,
            generation,
            delay,
        }))
    }

    /// A pending VOICE_SERVER_UPDATE is due: dispatched if the bot is still in voice in
    /// the guild and no newer allocation happened since.
    pub(crate) fn deliver_voice_server(&mut self, pending: PendingVoiceServer) {
        let current = self
            .voice_server_generation
            .get(&pending.guild)
            .copied()
            .unwrap_or(0);
        let in_voice = self
            .guilds
            .get(&pending.guild)
            .is_some_and(|g| g.voice.contains_key(&self.cfg.bot_user_id));
        if current == pending.generation && in_voice {
            self.send_voice_server(pending.guild, false);
        }
    }
}
