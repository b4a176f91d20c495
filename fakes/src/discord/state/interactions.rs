//! Interactions: building, injecting and recording them.

use serde_json::{json, Map, Value};

use crate::discord::types::{id, ControlError, InteractionRecord};

use super::{random_token, Interaction, State};

impl State {
    /// Common part of every interaction payload; checks guild, channel and member.
    fn interaction_base(
        &mut self,
        guild: u64,
        channel: u64,
        user: u64,
        kind: u8,
    ) -> Result<(Value, String, String), ControlError> {
        let g = self.guild(guild)?;
        let ci = Self::channel_index(g, guild, channel)?;
        let m = g
            .spec
            .members
            .iter()
            .find(|m| m.user_id == user)
            .ok_or_else(|| ControlError(format!("user {user} is not a member of {guild}")))?;
        let member_perms = Self::channel_permissions(g, channel, user);
        let app_perms = Self::channel_permissions(g, channel, self.cfg.bot_user_id);
        let mut member = self.member_json(g, m, true);
        if let Some(o) = member.as_object_mut() {
            o.insert("permissions".into(), json!(member_perms.to_string()));
        }
        let mut channel_v = Self::channel_json(g, ci, true);
        if let Some(o) = channel_v.as_object_mut() {
            o.insert("permissions".into(), json!(member_perms.to_string()));
        }
        let id = self.snowflake().to_string();
        let token = format!("aW50ZXJhY3Rpb246{}:{}", id, random_token(64));
        let v = json!({
            "id": id,
            "application_id": self.cfg.application_id.to_string(),
            "type": kind,
            "guild_id": guild.to_string(),
            "guild": {"id": guild.to_string(), "locale": "en-US", "features": []},
            "channel_id": channel.to_string(),
            "channel": channel_v,
            "member": member,
            "token": token,
            "version": 1,
            "app_permissions": app_perms.to_string(),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": guild.to_string()},
            "context": 0,
            "attachment_size_limit": 10_485_760,
        });
        Ok((v, id, token))
    }

    /// Options as Discord sends them: an array passes through; an object
    /// `{"name": value}` becomes typed options (string 3, integer 4, boolean 5, number 10).
    /// Discord's option array from either that array or the shorthand `{"name": value}`; the
    /// shorthand takes each option's type from the registered command (`cmd`), as Discord would.
    fn normalise_options(options: &Value, focus_first: bool, cmd: &Value) -> Value {
        let registered_type = |name: &str| {
            cmd.get("options")
                .and_then(Value::as_array)
                .and_then(|opts| opts.iter().find(|o| o["name"] == name))
                .and_then(|o| o.get("type"))
                .and_then(Value::as_u64)
        };
        let mut list: Vec<Value> = match options {
            Value::Array(a) => a.clone(),
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| {
                    let kind = registered_type(k).unwrap_or(match v {
                        Value::Bool(_) => 5,
                        Value::Number(n) if n.is_i64() || n.is_u64() => 4,
                        Value::Number(_) => 10,
                        _ => 3,
                    });
                    json!({"name": k, "type": kind, "value": v})
                })
                .collect(),
            _ => Vec::new(),
        };
        if focus_first
            && !list
                .iter()
                .any(|o| o.get("focused").and_then(Value::as_bool) == Some(true))
        {
            if let Some(o) = list.first_mut().and_then(Value::as_object_mut) {
                o.insert("focused".into(), Value::Bool(true));
            }
        }
        Value::Array(list)
    }

    /// `data.resolved` for user (6), channel (7), role (8) and mentionable (9) options.
    fn resolved(&self, guild: u64, options: &Value) -> Option<Value> {
        let g = self.guilds.get(&guild)?;
        let mut users = Map::new();
        let mut members = Map::new();
        let mut channels = Map::new();
        let mut roles = Map::new();
        let mut stack: Vec<&Value> = options.as_array()?.iter().collect();
        while let Some(o) = stack.pop() {
            if let Some(sub) = o.get("options").and_then(Value::as_array) {
                stack.extend(sub.iter());
            }
            let kind = o.get("type").and_then(Value::as_u64).unwrap_or(0);
            let Some(v) = o.get("value").and_then(id::parse) else {
                continue;
            };
            if kind == 6 || kind == 9 {
                if let Some(m) = g.spec.members.iter().find(|m| m.user_id == v) {
                    users.insert(v.to_string(), self.user_json(m.user_id, &m.username));
                    let mut mv = self.member_json(g, m, false);
                    if let Some(mo) = mv.as_object_mut() {
                        mo.insert(
                            "permissions".into(),
                            json!(Self::base_permissions(g, v).to_string()),
                        );
                    }
                    members.insert(v.to_string(), mv);
                }
            }
            if kind == 7 {
                if let Some(i) = g.spec.channels.iter().position(|c| c.id == v) {
                    let mut cv = Self::channel_json(g, i, true);
                    if let Some(co) = cv.as_object_mut() {
                        co.insert(
                            "permissions".into(),
                            json!(Self::channel_permissions(g, v, self.cfg.bot_user_id)
                                .to_string()),
                        );
                    }
                    channels.insert(v.to_string(), cv);
                }
            }
            if kind == 8 || kind == 9 {
                if let Some((i, r)) = g.spec.roles.iter().enumerate().find(|(_, r)| r.id == v) {
                    roles.insert(v.to_string(), Self::role_json(r, i));
                }
            }
        }
        let mut out = Map::new();
        for (k, m) in [
            ("users", users),
            ("members", members),
            ("channels", channels),
            ("roles", roles),
        ] {
            if !m.is_empty() {
                out.insert(k.into(), Value::Object(m));
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    #[allow(clippy::too_many_arguments)]
    fn record_interaction(
        &mut self,
        payload: Value,
        id: String,
        token: String,
        kind: u8,
        guild: u64,
        channel: u64,
        component_message: Option<u64>,
    ) {
        let user = payload
            .get("member")
            .and_then(|m| m.get("user"))
            .or_else(|| payload.get("user"))
            .cloned()
            .unwrap_or(Value::Null);
        self.interactions.insert(
            id.clone(),
            Interaction {
                rec: InteractionRecord {
                    id,
                    token,
                    kind,
                    guild_id: guild.to_string(),
                    channel_id: channel.to_string(),
                    callback: None,
                    original: None,
                    followups: Vec::new(),
                    log: Vec::new(),
                },
                user,
                acked: false,
                original: None,
                followups: Vec::new(),
                component_message,
            },
        );
        let target = (guild != 0).then_some(guild);
        self.dispatch(target, "INTERACTION_CREATE", payload, None);
    }

    /// INTERACTION_CREATE for a global chat input command used in a DM with the bot (no guild:
    /// `user` instead of `member`, a DM channel, context 1).
    pub fn inject_dm_command(
        &mut self,
        user: u64,
        name: &str,
        options: &Value,
    ) -> Result<(String, String), ControlError> {
        let hit = |c: &&Value| {
            c.get("name").and_then(Value::as_str) == Some(name)
                && c.get("type").and_then(Value::as_u64) == Some(1)
        };
        let cmd = self
            .global_commands
            .iter()
            .find(hit)
            .cloned()
            .ok_or_else(|| ControlError(format!("no global command named {name:?}")))?;
        let username = self
            .guilds
            .values()
            .flat_map(|g| g.spec.members.iter())
            .find(|m| m.user_id == user)
            .map(|m| m.username.clone())
            .unwrap_or_else(|| format!("user{user}"));
        let user_v = self.user_json(user, &username);
        let channel = self.snowflake();
        let id = self.snowflake().to_string();
        let token = format!("aW50ZXJhY3Rpb246{}:{}", id, random_token(64));
        let payload = json!({
            "id": id,
            "application_id": self.cfg.application_id.to_string(),
            "type": 2,
            "channel_id": channel.to_string(),
            "channel": {"id": channel.to_string(), "type": 1, "recipients": [user_v.clone()]},
            "user": user_v,
            "token": token,
            "version": 1,
            "app_permissions": "0",
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": "0"},
            "context": 1,
            "attachment_size_limit": 10_485_760,
            "data": {
                "id": cmd.get("id").cloned().unwrap_or(Value::Null),
                "name": name,
                "type": 1,
                "options": Self::normalise_options(options, false, &cmd),
            },
        });
        self.record_interaction(payload, id.clone(), token.clone(), 2, 0, channel, None);
        Ok((id, token))
    }

    pub fn inject_command(
        &mut self,
        guild: u64,
        channel: u64,
        user: u64,
        name: &str,
        options: &Value,
        autocomplete: bool,
    ) -> Result<(String, String), ControlError> {
        let cmd = self.find_command(guild, name, 1).ok_or_else(|| {
            ControlError(format!(
                "no chat input command named {name:?} is registered (globally or in {guild})"
            ))
        })?;
        let kind = if autocomplete { 4 } else { 2 };
        let (mut payload, id, token) = self.interaction_base(guild, channel, user, kind)?;
        let options = Self::normalise_options(options, autocomplete, &cmd);
        let mut data = json!({
            "id": cmd.get("id").cloned().unwrap_or(Value::Null),
            "name": name,
            "type": 1,
            "options": options,
        });
        if let Some(o) = data.as_object_mut() {
            if let Some(g) = cmd.get("guild_id") {
                o.insert("guild_id".into(), g.clone());
            }
            if !autocomplete {
                if let Some(r) = self.resolved(guild, &options) {
                    o.insert("resolved".into(), r);
                }
            }
        }
        if let Some(o) = payload.as_object_mut() {
            o.insert("data".into(), data);
        }
        self.record_interaction(
            payload,
            id.clone(),
            token.clone(),
            kind,
            guild,
            channel,
            None,
        );
        Ok((id, token))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn inject_component(
        &mut self,
        guild: u64,
        channel: u64,
        user: u64,
        message: u64,
        custom_id: &str,
        component_type: u64,
        values: Option<Value>,
    ) -> Result<(String, String), ControlError> {
        let msg = self
            .messages
            .get(&message)
            .cloned()
            .ok_or_else(|| ControlError(format!("unknown message {message}")))?;
        let (mut payload, id, token) = self.interaction_base(guild, channel, user, 3)?;
        let mut data = json!({"custom_id": custom_id, "component_type": component_type});
        if let (Some(v), Some(o)) = (values, data.as_object_mut()) {
            o.insert("values".into(), v);
        }
        if let Some(o) = payload.as_object_mut() {
            o.insert("data".into(), data);
            o.insert("message".into(), msg);
        }
        self.record_interaction(
            payload,
            id.clone(),
            token.clone(),
            3,
            guild,
            channel,
            Some(message),
        );
        Ok((id, token))
    }

    pub fn interaction(&self, id: &str) -> Option<InteractionRecord> {
        let i = self.interactions.get(id)?;
        let mut rec = i.rec.clone();
        rec.original = i
            .original
            .or(if i.acked { i.component_message } else { None })
            .and_then(|m| self.messages.get(&m).cloned());
        rec.followups = i
            .followups
            .iter()
            .filter_map(|m| self.messages.get(m).cloned())
            .collect();
        Some(rec)
    }

    pub fn interactions(&self) -> Vec<InteractionRecord> {
        self.interactions
            .keys()
            .filter_map(|k| self.interaction(k))
            .collect()
    }

    pub(super) fn log(&mut self, id: &str, action: &str, body: &Value) {
        if let Some(i) = self.interactions.get_mut(id) {
            i.rec.log.push(json!({"action": action, "body": body}));
        }
    }
}
