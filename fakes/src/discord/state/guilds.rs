//! The guild model: adding guilds, voice states, channels and their overwrites.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::discord::types::{
    id, ChannelKind, ChannelSpec, ControlError, GuildSpec, MemberSpec, Overwrite, RoleSpec,
    MAX_VOICE_USER_LIMIT,
};

use super::{
    iso8601, random_hex, unix_ms, Guild, PendingVoiceServer, State, VoiceEntry, CONNECT,
    DEFAULT_EVERYONE, INTENT_GUILDS, INTENT_GUILD_VOICE_STATES, MOVE_MEMBERS, VIEW_CHANNEL,
};

/// A channel's `user_limit` is one Discord accepts: 0 to 99 on a voice channel, none (0)
/// on a text channel.
fn check_user_limit(c: &ChannelSpec) -> Result<(), ControlError> {
    match c.kind {
        ChannelKind::Voice if c.user_limit > MAX_VOICE_USER_LIMIT => Err(ControlError(format!(
            "channel {}: user_limit must be 0 (no limit) to {MAX_VOICE_USER_LIMIT}",
            c.id
        ))),
        ChannelKind::Text if c.user_limit != 0 => Err(ControlError(format!(
            "channel {}: only voice channels have a user_limit",
            c.id
        ))),
        _ => Ok(()),
    }
}

impl State {
    pub fn add_guild(&mut self, mut spec: GuildSpec) -> Result<(), ControlError> {
        if spec.id == 0 {
            return Err(ControlError("guild id must be a snowflake > 0".into()));
        }
        if !spec.roles.iter().any(|r| r.id == spec.id) {
            spec.roles.insert(
                0,
                RoleSpec {
                    id: spec.id,
                    name: "@everyone".into(),
                    permissions: DEFAULT_EVERYONE.to_string(),
                },
            );
        }
        for c in &spec.channels {
            check_user_limit(c)?;
        }
        for r in &spec.roles {
            if r.permissions.parse::<u64>().is_err() {
                return Err(ControlError(format!(
                    "role {}: permissions must be a decimal bitfield string",
                    r.id
                )));
            }
        }
        if !spec
            .members
            .iter()
            .any(|m| m.user_id == self.cfg.bot_user_id)
        {
            spec.members.push(MemberSpec {
                user_id: self.cfg.bot_user_id,
                username: self.cfg.bot_name.clone(),
                roles: Vec::new(),
            });
        }
        let mut voice = BTreeMap::new();
        for (user, channel) in &spec.voice_states {
            if !spec.channels.iter().any(|c| c.id == *channel) {
                return Err(ControlError(format!(
                    "voice state of {user}: channel {channel} is not in the guild"
                )));
            }
            voice.insert(
                *user,
                VoiceEntry {
                    channel_id: *channel,
                    session_id: random_hex(32),
                    self_mute: false,
                    self_deaf: false,
                    owner: None,
                },
            );
        }
        let g = Guild {
            spec,
            joined_at: iso8601(unix_ms()),
            voice,
        };
        let id = g.spec.id;
        let payload = self.guild_create_json(&g);
        self.guilds.insert(id, g);
        self.dispatch(Some(id), "GUILD_CREATE", payload, Some(INTENT_GUILDS));
        Ok(())
    }

    /// Where `channel` is in the guild's channel list.
    pub(super) fn channel_index(
        g: &Guild,
        guild: u64,
        channel: u64,
    ) -> Result<usize, ControlError> {
        g.spec
            .channels
            .iter()
            .position(|c| c.id == channel)
            .ok_or_else(|| ControlError(format!("unknown channel {channel} in {guild}")))
    }

    pub(super) fn guild(&self, id: u64) -> Result<&Guild, ControlError> {
        self.guilds
            .get(&id)
            .ok_or_else(|| ControlError(format!("unknown guild {id}")))
    }

    pub fn guild_ids(&self) -> Vec<u64> {
        self.guilds.keys().copied().collect()
    }

    pub fn set_user_voice(
        &mut self,
        guild: u64,
        user: u64,
        channel: Option<u64>,
    ) -> Result<(), ControlError> {
        let g = self.guild(guild)?;
        if !g.spec.members.iter().any(|m| m.user_id == user) {
            return Err(ControlError(format!(
                "user {user} is not a member of {guild}"
            )));
        }
        self.apply_voice(guild, user, channel, false, false, None, None)
            .map(|_| ())
    }

    /// Moves (or disconnects) the bot the way a moderator would.
    pub fn move_bot(&mut self, guild: u64, channel: Option<u64>) -> Result<(), ControlError> {
        let bot = self.cfg.bot_user_id;
        let g = self.guild(guild)?;
        let Some(e) = g.voice.get(&bot) else {
            return Err(ControlError(format!(
                "the bot is not in a voice channel of {guild}"
            )));
        };
        let (m, d) = (e.self_mute, e.self_deaf);
        self.apply_voice(guild, bot, channel, m, d, None, None)
            .map(|_| ())
    }

    /// Updates a voice state and dispatches VOICE_STATE_UPDATE; returns the session id.
    /// `fresh_session` replaces the voice session id and `owner` the owning gateway
    /// session; None keeps what the entry had.
    #[allow(clippy::too_many_arguments)]
    fn apply_voice(
        &mut self,
        guild: u64,
        user: u64,
        channel: Option<u64>,
        self_mute: bool,
        self_deaf: bool,
        fresh_session: Option<String>,
        owner: Option<String>,
    ) -> Result<String, ControlError> {
        let g = self
            .guilds
            .get_mut(&guild)
            .ok_or_else(|| ControlError(format!("unknown guild {guild}")))?;
        if let Some(c) = channel {
            match g.spec.channels.iter().find(|ch| ch.id == c) {
                Some(ch) if ch.kind == crate::discord::types::ChannelKind::Voice => {}
                Some(_) => return Err(ControlError(format!("channel {c} is not a voice channel"))),
                None => return Err(ControlError(format!("unknown channel {c} in {guild}"))),
            }
        }
        let session_id = fresh_session
            .or_else(|| g.voice.get(&user).map(|e| e.session_id.clone()))
            .unwrap_or_else(|| random_hex(32));
        let owner = owner.or_else(|| g.voice.get(&user).and_then(|e| e.owner.clone()));
        match channel {
            Some(c) => {
                g.voice.insert(
                    user,
                    VoiceEntry {
                        channel_id: c,
                        session_id: session_id.clone(),
                        self_mute,
                        self_deaf,
                        owner,
                    },
                );
            }
            None => {
                g.voice.remove(&user);
            }
        }
        let Some(g) = self.guilds.get(&guild) else {
            return Err(ControlError(format!("unknown guild {guild}")));
        };
        let payload =
            self.voice_state_value(g, user, channel, &session_id, self_mute, self_deaf, true);
        self.dispatch(
            Some(guild),
            "VOICE_STATE_UPDATE",
            payload,
            Some(INTENT_GUILD_VOICE_STATES),
        );
        Ok(session_id)
    }

    /// op 4 from the bot on gateway session `gateway_session`: its voice state changes,
    /// plus a voice server when it goes to a channel (also the one it is already in).
    /// Like Discord, the voice state's `session_id` is the sending gateway session's id,
    /// and that session owns the voice state from then on. Returns the
    /// VOICE_SERVER_UPDATE still to come when the guild's [`VoiceServerMode`] delays it.
    ///
    /// An Err means Discord ignores the request (nothing is dispatched): an unknown guild
    /// or channel, no VIEW_CHANNEL + CONNECT in the channel, or a full channel (as many
    /// users connected as its `user_limit`, the bot not counted) without MOVE_MEMBERS.
    ///
    /// [`VoiceServerMode`]: crate::discord::types::VoiceServerMode
    pub fn bot_voice_update(
        &mut self,
        gateway_session: &str,
        d: &Value,
    ) -> Result<Option<PendingVoiceServer>, ControlError> {
        let guild = d
            .get("guild_id")
            .and_then(id::parse)
            .ok_or_else(|| ControlError("op 4 without a guild_id".into()))?;
        let channel = match d.get("channel_id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(id::parse(v).ok_or_else(|| ControlError("bad channel_id".into()))?),
        };
        let self_mute = d.get("self_mute").and_then(Value::as_bool).unwrap_or(false);
        let self_deaf = d.get("self_deaf").and_then(Value::as_bool).unwrap_or(false);
        let bot = self.cfg.bot_user_id;
        if let Some(c) = channel {
            let g = self.guild(guild)?;
            // Without VIEW_CHANNEL and CONNECT Discord silently ignores the request.
            let p = Self::channel_permissions(g, c, bot);
            if p & (VIEW_CHANNEL | CONNECT) != (VIEW_CHANNEL | CONNECT) {
                return Err(ControlError(format!("the bot may not connect to {c}")));
            }
            // A full voice channel (user_limit > 0 users already in it, the bot itself not
            // counted) takes only members with MOVE_MEMBERS (ADMINISTRATOR implies it);
            // otherwise the request is ignored like one without CONNECT.
            let limit = g
                .spec
                .channels
                .iter()
                .find(|ch| ch.id == c)
                .map_or(0, |ch| ch.user_limit);
            if limit > 0 && p & MOVE_MEMBERS == 0 {
                let inside = g
                    .voice
                    .iter()
                    .filter(|(u, e)| e.channel_id == c && **u != bot)
                    .count();
                if inside >= limit as usize {
                    return Err(ControlError(format!(
                        "voice channel {c} is full ({inside}/{limit})"
                    )));
                }
            }
        }
        // Joining or moving: the voice session is the sender's gateway session (the same
        // one while a session moves the bot, the new one when another session takes
        // over). Leaving keeps the id the voice state had.
        let (fresh, owner) = match channel {
            Some(_) => (
                Some(gateway_session.to_string()),
                Some(gateway_session.to_string()),
            ),
            None => (None, None),
        };
        self.apply_voice(guild, bot, channel, self_mute, self_deaf, fresh, owner)?;
        Ok(match channel {
            Some(_) => self.allocate_voice_server(guild),
            None => None,
        })
    }

    pub fn voice_channel_of(&self, guild: u64, user: u64) -> Option<u64> {
        self.guilds
            .get(&guild)
            .and_then(|g| g.voice.get(&user))
            .map(|e| e.channel_id)
    }

    /// The gateway session owning the bot's voice state in `guild` (None when the bot is
    /// not in voice there, or got there without an op 4, e.g. from a `GuildSpec`).
    pub fn bot_voice_session_owner(&self, guild: u64) -> Option<String> {
        self.guilds
            .get(&guild)
            .and_then(|g| g.voice.get(&self.cfg.bot_user_id))
            .and_then(|e| e.owner.clone())
    }

    /// Removes `user`'s voice state in `guild` and dispatches VOICE_STATE_UPDATE with
    /// `channel_id: null` and the voice session id it had.
    fn remove_voice(&mut self, guild: u64, user: u64) {
        let Some(g) = self.guilds.get_mut(&guild) else {
            return;
        };
        let Some(e) = g.voice.remove(&user) else {
            return;
        };
        let Some(g) = self.guilds.get(&guild) else {
            return;
        };
        let payload =
            self.voice_state_value(g, user, None, &e.session_id, e.self_mute, e.self_deaf, true);
        self.dispatch(
            Some(guild),
            "VOICE_STATE_UPDATE",
            payload,
            Some(INTENT_GUILD_VOICE_STATES),
        );
    }

    /// A gateway session ended for good: the bot's voice states it owns go away, with a
    /// VOICE_STATE_UPDATE (channel null) to the sessions that remain. Call after the
    /// session was removed from `sessions`.
    pub(super) fn session_ended(&mut self, gateway_session: &str) {
        let bot = self.cfg.bot_user_id;
        let owned: Vec<u64> = self
            .guilds
            .iter()
            .filter(|(_, g)| {
                g.voice
                    .get(&bot)
                    .is_some_and(|e| e.owner.as_deref() == Some(gateway_session))
            })
            .map(|(id, _)| *id)
            .collect();
        for guild in owned {
            self.remove_voice(guild, bot);
        }
    }

    /// Deletes a channel: CHANNEL_DELETE (the channel object with `guild_id`), then a
    /// VOICE_STATE_UPDATE with `channel_id: null` for everyone who was in it.
    pub fn delete_channel(&mut self, guild: u64, channel: u64) -> Result<(), ControlError> {
        let g = self.guild(guild)?;
        let idx = Self::channel_index(g, guild, channel)?;
        let payload = Self::channel_json(g, idx, true);
        let inside: Vec<u64> = g
            .voice
            .iter()
            .filter(|(_, e)| e.channel_id == channel)
            .map(|(u, _)| *u)
            .collect();
        if let Some(g) = self.guilds.get_mut(&guild) {
            g.spec.channels.remove(idx);
        }
        self.dispatch(Some(guild), "CHANNEL_DELETE", payload, Some(INTENT_GUILDS));
        for user in inside {
            self.remove_voice(guild, user);
        }
        Ok(())
    }

    /// Replaces a channel's permission overwrites: CHANNEL_UPDATE with the whole channel.
    /// Members already in a voice channel stay there (as on Discord).
    pub fn set_channel_overwrites(
        &mut self,
        guild: u64,
        channel: u64,
        overwrites: Vec<Overwrite>,
    ) -> Result<(), ControlError> {
        for o in &overwrites {
            if o.kind > 1 {
                return Err(ControlError(format!(
                    "overwrite {}: type must be 0 (role) or 1 (member)",
                    o.id
                )));
            }
            if o.allow.parse::<u64>().is_err() || o.deny.parse::<u64>().is_err() {
                return Err(ControlError(format!(
                    "overwrite {}: allow and deny must be decimal bitfield strings",
                    o.id
                )));
            }
        }
        let g = self
            .guilds
            .get_mut(&guild)
            .ok_or_else(|| ControlError(format!("unknown guild {guild}")))?;
        let idx = Self::channel_index(g, guild, channel)?;
        g.spec.channels[idx].permission_overwrites = overwrites;
        let Some(g) = self.guilds.get(&guild) else {
            return Err(ControlError(format!("unknown guild {guild}")));
        };
        let payload = Self::channel_json(g, idx, true);
        self.dispatch(Some(guild), "CHANNEL_UPDATE", payload, Some(INTENT_GUILDS));
        Ok(())
    }

    /// Sets a voice channel's `user_limit` (0 = none, up to 99): CHANNEL_UPDATE with the
    /// whole channel. Members already inside stay, even above the new limit (as on
    /// Discord); it only gates later joins.
    pub fn set_user_limit(
        &mut self,
        guild: u64,
        channel: u64,
        limit: u32,
    ) -> Result<(), ControlError> {
        let g = self
            .guilds
            .get_mut(&guild)
            .ok_or_else(|| ControlError(format!("unknown guild {guild}")))?;
        let idx = Self::channel_index(g, guild, channel)?;
        let mut c = g.spec.channels[idx].clone();
        c.user_limit = limit;
        if c.kind != ChannelKind::Voice {
            return Err(ControlError(format!(
                "channel {channel} is not a voice channel"
            )));
        }
        check_user_limit(&c)?;
        g.spec.channels[idx] = c;
        let Some(g) = self.guilds.get(&guild) else {
            return Err(ControlError(format!("unknown guild {guild}")));
        };
        let payload = Self::channel_json(g, idx, true);
        self.dispatch(Some(guild), "CHANNEL_UPDATE", payload, Some(INTENT_GUILDS));
        Ok(())
    }
}
