//! Interaction responses: the callback, the original response and followups (by token).

use serde_json::{json, Value};

use crate::discord::types::id;

use super::{ApiError, State, EPHEMERAL, INTENT_GUILD_MESSAGES, LOADING};

impl State {
    /// POST /interactions/{id}/{token}/callback
    /// Returns the interaction callback response object (`?with_response=true`).
    pub fn callback(&mut self, id: &str, token: &str, body: &Value) -> Result<Value, ApiError> {
        let Some(i) = self.interactions.get(id) else {
            return Err(ApiError::unknown_interaction());
        };
        if i.rec.token != token {
            return Err(ApiError::unknown_interaction());
        }
        if i.acked {
            return Err(ApiError::already_acknowledged());
        }
        let kind = i.rec.kind;
        let rtype = body.get("type").and_then(Value::as_u64).unwrap_or(0);
        let allowed: &[u64] = match kind {
            2 => &[4, 5, 9],
            3 => &[4, 5, 6, 7, 9],
            4 => &[8],
            _ => &[1],
        };
        if !allowed.contains(&rtype) {
            return Err(ApiError::invalid_form(
                &["type"],
                "INTERACTION_CALLBACK_TYPE_INVALID",
                "Interaction callback type is not valid for this interaction.",
            ));
        }
        let empty = json!({});
        let data = body.get("data").unwrap_or(&empty);
        if rtype == 4 {
            Self::check_message_body(data, false)?;
        }
        if rtype == 7 {
            Self::check_message_body(data, true)?;
        }
        let rec = i.rec.clone();
        let component_message = i.component_message;
        let guild = rec.guild_id.parse::<u64>().ok();
        let channel = rec.channel_id.parse::<u64>().unwrap_or(0);
        let flags = data.get("flags").and_then(Value::as_u64).unwrap_or(0) & (EPHEMERAL | 4 | 4096);
        let msg_kind = if kind == 2 { 20 } else { 19 };
        let original = match rtype {
            4 => Some(
                self.new_message(channel, guild, data, msg_kind, true, flags, Some(&rec))
                    .get("id")
                    .and_then(id::parse)
                    .unwrap_or(0),
            ),
            5 => Some(
                self.new_message(
                    channel,
                    guild,
                    &json!({}),
                    msg_kind,
                    true,
                    flags | LOADING,
                    Some(&rec),
                )
                .get("id")
                .and_then(id::parse)
                .unwrap_or(0),
            ),
            7 => {
                if let Some(m) = component_message {
                    let edited = self.edit_message(m, data)?;
                    if let Some(g) = guild {
                        self.dispatch(
                            Some(g),
                            "MESSAGE_UPDATE",
                            edited,
                            Some(INTENT_GUILD_MESSAGES),
                        );
                    }
                }
                None
            }
            _ => None,
        };
        if let Some(i) = self.interactions.get_mut(id) {
            i.acked = true;
            i.original = original;
            i.rec.callback = Some(body.clone());
        }
        self.log(id, "callback", body);
        if let (Some(m), Some(g)) = (original, guild) {
            if flags & EPHEMERAL == 0 {
                if let Some(v) = self.messages.get(&m).cloned() {
                    self.dispatch(Some(g), "MESSAGE_CREATE", v, Some(INTENT_GUILD_MESSAGES));
                }
            }
        }
        let message_id = original.or(if rtype == 6 || rtype == 7 {
            component_message
        } else {
            None
        });
        let message = message_id.and_then(|m| self.messages.get(&m).cloned());
        let mut interaction = json!({"id": id, "type": kind, "activity_instance_id": null});
        if let (Some(m), Some(o)) = (&message, interaction.as_object_mut()) {
            let mflags = m.get("flags").and_then(Value::as_u64).unwrap_or(0);
            o.insert(
                "response_message_id".into(),
                m.get("id").cloned().unwrap_or(Value::Null),
            );
            o.insert(
                "response_message_loading".into(),
                json!(mflags & LOADING != 0),
            );
            o.insert(
                "response_message_ephemeral".into(),
                json!(mflags & EPHEMERAL != 0),
            );
        }
        let mut resource = json!({"type": rtype});
        if let (Some(m), Some(o)) = (message, resource.as_object_mut()) {
            o.insert("message".into(), m);
        }
        Ok(json!({"interaction": interaction, "resource": resource}))
    }

    fn by_token(&self, app: u64, token: &str) -> Result<String, ApiError> {
        if app != self.cfg.application_id {
            return Err(ApiError::unknown_webhook());
        }
        self.interactions
            .values()
            .find(|i| i.rec.token == token)
            .map(|i| i.rec.id.clone())
            .ok_or_else(ApiError::invalid_webhook_token)
    }

    fn original_id(&self, id: &str) -> Option<u64> {
        let i = self.interactions.get(id)?;
        if !i.acked {
            return None;
        }
        i.original.or(i.component_message)
    }

    pub fn get_original(&mut self, app: u64, token: &str) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        self.log(&id, "get_original", &Value::Null);
        let m = self
            .original_id(&id)
            .ok_or_else(ApiError::unknown_message)?;
        self.messages
            .get(&m)
            .cloned()
            .ok_or_else(ApiError::unknown_message)
    }

    pub fn edit_original(
        &mut self,
        app: u64,
        token: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        self.log(&id, "edit_original", body);
        Self::check_message_body(body, true)?;
        let m = self
            .original_id(&id)
            .ok_or_else(ApiError::unknown_message)?;
        let v = self.edit_message(m, body)?;
        self.message_updated(&v);
        Ok(v)
    }

    fn message_updated(&mut self, v: &Value) {
        let ephemeral = v.get("flags").and_then(Value::as_u64).unwrap_or(0) & EPHEMERAL != 0;
        if let (false, Some(g)) = (ephemeral, v.get("guild_id").and_then(id::parse)) {
            self.dispatch(
                Some(g),
                "MESSAGE_UPDATE",
                v.clone(),
                Some(INTENT_GUILD_MESSAGES),
            );
        }
    }

    pub fn delete_original(&mut self, app: u64, token: &str) -> Result<(), ApiError> {
        let id = self.by_token(app, token)?;
        self.log(&id, "delete_original", &Value::Null);
        let m = self
            .original_id(&id)
            .ok_or_else(ApiError::unknown_message)?;
        self.delete_message(m);
        if let Some(i) = self.interactions.get_mut(&id) {
            if i.original == Some(m) {
                i.original = None;
            } else {
                i.component_message = None;
            }
        }
        Ok(())
    }

    fn delete_message(&mut self, m: u64) {
        if let Some(v) = self.messages.remove(&m) {
            let channel = v.get("channel_id").and_then(id::parse).unwrap_or(0);
            if let Some(list) = self.channel_messages.get_mut(&channel) {
                list.retain(|x| *x != m);
            }
            if let Some(g) = v.get("guild_id").and_then(id::parse) {
                self.dispatch(
                    Some(g),
                    "MESSAGE_DELETE",
                    json!({"id": m.to_string(), "channel_id": channel.to_string(), "guild_id": g.to_string()}),
                    Some(INTENT_GUILD_MESSAGES),
                );
            }
        }
    }

    pub fn followup(&mut self, app: u64, token: &str, body: &Value) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        self.log(&id, "followup", body);
        let Some(i) = self.interactions.get(&id) else {
            return Err(ApiError::unknown_webhook());
        };
        if !i.acked {
            return Err(ApiError::unknown_webhook());
        }
        Self::check_message_body(body, false)?;
        let rec = i.rec.clone();
        let kind = rec.kind;
        let guild = rec.guild_id.parse::<u64>().ok();
        let channel = rec.channel_id.parse::<u64>().unwrap_or(0);
        // A deferred response's first follow-up edits the "thinking" message.
        if let Some(orig) = i.original {
            let loading = self
                .messages
                .get(&orig)
                .and_then(|m| m.get("flags"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
                & LOADING
                != 0;
            if loading {
                let v = self.edit_message(orig, body)?;
                self.message_updated(&v);
                return Ok(v);
            }
        }
        let flags = body.get("flags").and_then(Value::as_u64).unwrap_or(0) & (EPHEMERAL | 4 | 4096);
        let msg_kind = if kind == 2 { 20 } else { 19 };
        let v = self.new_message(channel, guild, body, msg_kind, true, flags, Some(&rec));
        let mid = v.get("id").and_then(id::parse).unwrap_or(0);
        if let Some(i) = self.interactions.get_mut(&id) {
            i.followups.push(mid);
        }
        if let (Some(g), true) = (guild, flags & EPHEMERAL == 0) {
            self.dispatch(
                Some(g),
                "MESSAGE_CREATE",
                v.clone(),
                Some(INTENT_GUILD_MESSAGES),
            );
        }
        Ok(v)
    }

    fn webhook_message(&self, id: &str, message: u64) -> Result<u64, ApiError> {
        let i = self
            .interactions
            .get(id)
            .ok_or_else(ApiError::unknown_webhook)?;
        if self.original_id(id) == Some(message) || i.followups.contains(&message) {
            Ok(message)
        } else {
            Err(ApiError::unknown_message())
        }
    }

    pub fn get_followup(&mut self, app: u64, token: &str, message: u64) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        let m = self.webhook_message(&id, message)?;
        self.messages
            .get(&m)
            .cloned()
            .ok_or_else(ApiError::unknown_message)
    }

    pub fn edit_followup(
        &mut self,
        app: u64,
        token: &str,
        message: u64,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let id = self.by_token(app, token)?;
        self.log(
            &id,
            "edit_followup",
            &json!({"message_id": message.to_string(), "body": body}),
        );
        Self::check_message_body(body, true)?;
        let m = self.webhook_message(&id, message)?;
        let v = self.edit_message(m, body)?;
        self.message_updated(&v);
        Ok(v)
    }

    pub fn delete_followup(&mut self, app: u64, token: &str, message: u64) -> Result<(), ApiError> {
        let id = self.by_token(app, token)?;
        self.log(
            &id,
            "delete_followup",
            &json!({"message_id": message.to_string()}),
        );
        let m = self.webhook_message(&id, message)?;
        self.delete_message(m);
        if let Some(i) = self.interactions.get_mut(&id) {
            i.followups.retain(|x| *x != m);
        }
        Ok(())
    }
}
