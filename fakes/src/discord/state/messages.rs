//! Channel messages: creating, editing and listing them.

use serde_json::{json, Value};

use crate::discord::types::{id, InteractionRecord};

use super::{
    iso8601, unix_ms, ApiError, State, EPHEMERAL, INTENT_GUILD_MESSAGES, LOADING, SEND_MESSAGES,
    VIEW_CHANNEL,
};

impl State {
    /// Checks a message body like Discord: something to show, content ≤ 2000 chars.
    pub(super) fn check_message_body(body: &Value, allow_empty: bool) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::invalid_form(
                &[],
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used in a DictType",
            ));
        }
        let content = body.get("content").and_then(Value::as_str).unwrap_or("");
        if content.chars().count() > 2000 {
            return Err(ApiError::invalid_form(
                &["content"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2000 or fewer in length.",
            ));
        }
        let non_empty = |k: &str| {
            body.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        if !allow_empty
            && content.is_empty()
            && !non_empty("embeds")
            && !non_empty("components")
            && !non_empty("sticker_ids")
            && !non_empty("attachments")
            && body.get("poll").is_none()
        {
            return Err(ApiError::empty_message());
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn new_message(
        &mut self,
        channel: u64,
        guild: Option<u64>,
        body: &Value,
        kind: u8,
        webhook: bool,
        flags: u64,
        interaction: Option<&InteractionRecord>,
    ) -> Value {
        let id = self.snowflake();
        let author = self.bot_user_json();
        let mut m = json!({
            "id": id.to_string(),
            "channel_id": channel.to_string(),
            "author": author,
            "content": body.get("content").and_then(Value::as_str).unwrap_or(""),
            "timestamp": iso8601(unix_ms()),
            "edited_timestamp": null,
            "tts": body.get("tts").and_then(Value::as_bool).unwrap_or(false),
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds").cloned().unwrap_or_else(|| json!([])),
            "reactions": [],
            "pinned": false,
            "type": kind,
            "flags": flags,
            "components": body.get("components").cloned().unwrap_or_else(|| json!([])),
        });
        let user = interaction
            .and_then(|rec| self.interactions.get(&rec.id))
            .map(|i| i.user.clone())
            .unwrap_or(Value::Null);
        if let Some(o) = m.as_object_mut() {
            if let Some(g) = guild {
                o.insert("guild_id".into(), Value::String(g.to_string()));
            }
            if let Some(n) = body.get("nonce") {
                o.insert("nonce".into(), n.clone());
            }
            if let Some(r) = body.get("message_reference") {
                o.insert("message_reference".into(), r.clone());
            }
            if webhook {
                o.insert(
                    "webhook_id".into(),
                    Value::String(self.cfg.application_id.to_string()),
                );
                o.insert(
                    "application_id".into(),
                    Value::String(self.cfg.application_id.to_string()),
                );
            }
            if let Some(rec) = interaction {
                o.insert(
                    "interaction_metadata".into(),
                    json!({
                        "id": rec.id,
                        "type": rec.kind,
                        "user": user,
                        "authorizing_integration_owners": {"0": rec.guild_id},
                    }),
                );
            }
        }
        self.messages.insert(id, m.clone());
        if flags & EPHEMERAL == 0 {
            self.channel_messages.entry(channel).or_default().push(id);
        }
        m
    }

    /// Applies a PATCH body to a stored message and returns it.
    pub(super) fn edit_message(&mut self, id: u64, body: &Value) -> Result<Value, ApiError> {
        let m = self
            .messages
            .get_mut(&id)
            .ok_or_else(ApiError::unknown_message)?;
        let Some(o) = m.as_object_mut() else {
            return Err(ApiError::unknown_message());
        };
        for key in ["content", "embeds", "components", "attachments"] {
            match body.get(key) {
                None => {}
                Some(Value::Null) => {
                    let empty = if key == "content" {
                        json!("")
                    } else {
                        json!([])
                    };
                    o.insert(key.into(), empty);
                }
                Some(v) => {
                    o.insert(key.into(), v.clone());
                }
            }
        }
        // A deferred response stops "thinking" once edited; other flags are kept, only
        // SUPPRESS_EMBEDS (4) can be changed on edit.
        let mut flags = o.get("flags").and_then(Value::as_u64).unwrap_or(0) & !LOADING;
        if let Some(f) = body.get("flags").and_then(Value::as_u64) {
            flags = (flags & !4) | (f & 4);
        }
        o.insert("flags".into(), json!(flags));
        o.insert("edited_timestamp".into(), json!(iso8601(unix_ms())));
        Ok(m.clone())
    }

    pub fn create_channel_message(
        &mut self,
        channel: u64,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let (g, _) = self
            .find_channel(channel)
            .ok_or_else(ApiError::unknown_channel)?;
        let perms = Self::channel_permissions(g, channel, self.cfg.bot_user_id);
        if perms & VIEW_CHANNEL == 0 {
            return Err(ApiError::missing_access());
        }
        if perms & SEND_MESSAGES == 0 {
            return Err(ApiError::missing_permissions());
        }
        let guild = g.spec.id;
        Self::check_message_body(body, false)?;
        let kind = if body.get("message_reference").is_some() {
            19
        } else {
            0
        };
        // Only SUPPRESS_EMBEDS (4) and SUPPRESS_NOTIFICATIONS (4096) may be set.
        let flags = body.get("flags").and_then(Value::as_u64).unwrap_or(0) & (4 | 4096);
        let m = self.new_message(channel, Some(guild), body, kind, false, flags, None);
        self.dispatch(
            Some(guild),
            "MESSAGE_CREATE",
            m.clone(),
            Some(INTENT_GUILD_MESSAGES),
        );
        Ok(m)
    }

    pub fn edit_channel_message(
        &mut self,
        channel: u64,
        message: u64,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let (g, _) = self
            .find_channel(channel)
            .ok_or_else(ApiError::unknown_channel)?;
        let guild = g.spec.id;
        let in_channel = self
            .messages
            .get(&message)
            .and_then(|m| m.get("channel_id"))
            .and_then(id::parse)
            == Some(channel);
        if !in_channel {
            return Err(ApiError::unknown_message());
        }
        Self::check_message_body(body, true)?;
        let m = self.edit_message(message, body)?;
        self.dispatch(
            Some(guild),
            "MESSAGE_UPDATE",
            m.clone(),
            Some(INTENT_GUILD_MESSAGES),
        );
        Ok(m)
    }

    pub fn channel_messages(&self, channel: u64) -> Vec<Value> {
        self.channel_messages
            .get(&channel)
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| self.messages.get(i).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn message(&self, id: u64) -> Option<Value> {
        self.messages.get(&id).cloned()
    }
}
