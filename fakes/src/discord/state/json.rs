//! JSON shapes: how users, members, roles, channels, guilds and voice states look on the wire.

use serde_json::{json, Value};

use crate::discord::types::{MemberSpec, RoleSpec};

use super::{Guild, State};

impl State {
    pub(super) fn user_json(&self, user_id: u64, username: &str) -> Value {
        let bot = user_id == self.cfg.bot_user_id;
        let mut u = json!({
            "id": user_id.to_string(),
            "username": username,
            "discriminator": "0",
            "global_name": if bot { Value::Null } else { Value::String(username.to_string()) },
            "avatar": null,
            "avatar_decoration_data": null,
            "banner": null,
            "accent_color": null,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": null,
            "collectibles": null,
        });
        if bot {
            if let Some(m) = u.as_object_mut() {
                m.insert("bot".into(), Value::Bool(true));
            }
        }
        u
    }

    pub fn bot_user_json(&self) -> Value {
        let mut u = self.user_json(self.cfg.bot_user_id, &self.cfg.bot_name);
        if let Some(m) = u.as_object_mut() {
            m.insert("verified".into(), Value::Bool(true));
            m.insert("mfa_enabled".into(), Value::Bool(false));
            m.insert("email".into(), Value::Null);
            m.insert("locale".into(), Value::String("en-US".into()));
        }
        u
    }

    pub(super) fn member_json(&self, g: &Guild, m: &MemberSpec, with_user: bool) -> Value {
        let mut v = json!({
            "nick": null,
            "avatar": null,
            "banner": null,
            "roles": m.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "joined_at": g.joined_at,
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": null,
            "unusual_dm_activity_until": null,
        });
        if with_user {
            if let Some(o) = v.as_object_mut() {
                o.insert("user".into(), self.user_json(m.user_id, &m.username));
            }
        }
        v
    }

    pub(super) fn role_json(r: &RoleSpec, position: usize) -> Value {
        json!({
            "id": r.id.to_string(),
            "name": r.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
            "hoist": false,
            "icon": null,
            "unicode_emoji": null,
            "position": position,
            "permissions": r.permissions,
            "managed": false,
            "mentionable": false,
            "flags": 0,
        })
    }

    pub(super) fn channel_json(g: &Guild, idx: usize, with_guild_id: bool) -> Value {
        let c = &g.spec.channels[idx];
        let mut v = json!({
            "id": c.id.to_string(),
            "type": c.kind.code(),
            "name": c.name,
            "position": idx,
            "permission_overwrites": c.permission_overwrites,
            "parent_id": null,
            "nsfw": false,
            "last_message_id": null,
            "rate_limit_per_user": 0,
            "flags": 0,
        });
        if let Some(o) = v.as_object_mut() {
            if with_guild_id {
                o.insert("guild_id".into(), Value::String(g.spec.id.to_string()));
            }
            match c.kind {
                crate::discord::types::ChannelKind::Text => {
                    o.insert("topic".into(), Value::Null);
                }
                crate::discord::types::ChannelKind::Voice => {
                    o.insert("bitrate".into(), json!(64000));
                    o.insert("user_limit".into(), json!(c.user_limit));
                    o.insert("rtc_region".into(), Value::Null);
                }
            }
        }
        v
    }

    pub(super) fn guild_json(&self, g: &Guild) -> Value {
        let roles: Vec<Value> = g
            .spec
            .roles
            .iter()
            .enumerate()
            .map(|(i, r)| Self::role_json(r, i))
            .collect();
        json!({
            "id": g.spec.id.to_string(),
            "name": g.spec.name,
            "icon": null,
            "icon_hash": null,
            "splash": null,
            "discovery_splash": null,
            "owner_id": g.spec.owner_id.to_string(),
            "region": null,
            "afk_channel_id": null,
            "afk_timeout": 300,
            "widget_enabled": false,
            "widget_channel_id": null,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": roles,
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": null,
            "system_channel_id": null,
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "max_presences": null,
            "max_members": 500000,
            "vanity_url_code": null,
            "description": null,
            "banner": null,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": null,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "nsfw": false,
            "stickers": [],
            "premium_progress_bar_enabled": false,
            "safety_alerts_channel_id": null,
            "incidents_data": null,
        })
    }

    /// GUILD_CREATE's payload: the guild plus the gateway-only fields.
    pub(super) fn guild_create_json(&self, g: &Guild) -> Value {
        let mut v = self.guild_json(g);
        let channels: Vec<Value> = (0..g.spec.channels.len())
            .map(|i| Self::channel_json(g, i, false))
            .collect();
        let members: Vec<Value> = g
            .spec
            .members
            .iter()
            .map(|m| self.member_json(g, m, true))
            .collect();
        let voice_states: Vec<Value> = g
            .voice
            .keys()
            .filter_map(|u| self.voice_state_json(g, *u, false))
            .collect();
        if let Some(o) = v.as_object_mut() {
            o.insert("joined_at".into(), Value::String(g.joined_at.clone()));
            o.insert("large".into(), Value::Bool(false));
            o.insert("unavailable".into(), Value::Bool(false));
            o.insert("member_count".into(), json!(g.spec.members.len()));
            o.insert("voice_states".into(), Value::Array(voice_states));
            o.insert("members".into(), Value::Array(members));
            o.insert("channels".into(), Value::Array(channels));
            o.insert("threads".into(), json!([]));
            o.insert("presences".into(), json!([]));
            o.insert("stage_instances".into(), json!([]));
            o.insert("guild_scheduled_events".into(), json!([]));
            o.insert("soundboard_sounds".into(), json!([]));
            o.insert("lazy".into(), Value::Bool(true));
            o.insert("application_command_counts".into(), json!({}));
        }
        v
    }

    /// A voice state; for a user who left, `channel_id: null` with `left_session`.
    fn voice_state_json(&self, g: &Guild, user_id: u64, with_guild: bool) -> Option<Value> {
        let e = g.voice.get(&user_id)?;
        Some(self.voice_state_value(
            g,
            user_id,
            Some(e.channel_id),
            &e.session_id,
            e.self_mute,
            e.self_deaf,
            with_guild,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn voice_state_value(
        &self,
        g: &Guild,
        user_id: u64,
        channel: Option<u64>,
        session_id: &str,
        self_mute: bool,
        self_deaf: bool,
        with_guild: bool,
    ) -> Value {
        let mut v = json!({
            "channel_id": channel.map(|c| c.to_string()),
            "user_id": user_id.to_string(),
            "session_id": session_id,
            "deaf": false,
            "mute": false,
            "self_deaf": self_deaf,
            "self_mute": self_mute,
            "self_stream": false,
            "self_video": false,
            "suppress": false,
            "request_to_speak_timestamp": null,
        });
        if with_guild {
            if let Some(o) = v.as_object_mut() {
                o.insert("guild_id".into(), Value::String(g.spec.id.to_string()));
                if let Some(m) = g.spec.members.iter().find(|m| m.user_id == user_id) {
                    o.insert("member".into(), self.member_json(g, m, true));
                }
            }
        }
        v
    }
}
