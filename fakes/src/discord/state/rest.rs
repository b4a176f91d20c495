//! REST reads: guilds, channels, roles, members.

use serde_json::Value;

use super::{ApiError, State, VIEW_CHANNEL};

impl State {
    pub fn rest_guild(&self, guild: u64) -> Result<Value, ApiError> {
        let g = self
            .guilds
            .get(&guild)
            .ok_or_else(ApiError::unknown_guild)?;
        Ok(self.guild_json(g))
    }

    pub fn rest_guild_channels(&self, guild: u64) -> Result<Value, ApiError> {
        let g = self
            .guilds
            .get(&guild)
            .ok_or_else(ApiError::unknown_guild)?;
        Ok(Value::Array(
            (0..g.spec.channels.len())
                .map(|i| Self::channel_json(g, i, true))
                .collect(),
        ))
    }

    pub fn rest_guild_roles(&self, guild: u64) -> Result<Value, ApiError> {
        let g = self
            .guilds
            .get(&guild)
            .ok_or_else(ApiError::unknown_guild)?;
        Ok(Value::Array(
            g.spec
                .roles
                .iter()
                .enumerate()
                .map(|(i, r)| Self::role_json(r, i))
                .collect(),
        ))
    }

    pub fn rest_member(&self, guild: u64, user: u64) -> Result<Value, ApiError> {
        let g = self
            .guilds
            .get(&guild)
            .ok_or_else(ApiError::unknown_guild)?;
        let m = g
            .spec
            .members
            .iter()
            .find(|m| m.user_id == user)
            .ok_or_else(ApiError::unknown_member)?;
        Ok(self.member_json(g, m, true))
    }

    pub fn rest_channel(&self, channel: u64) -> Result<Value, ApiError> {
        let (g, i) = self
            .find_channel(channel)
            .ok_or_else(ApiError::unknown_channel)?;
        if Self::channel_permissions(g, channel, self.cfg.bot_user_id) & VIEW_CHANNEL == 0 {
            return Err(ApiError::missing_access());
        }
        Ok(Self::channel_json(g, i, true))
    }
}
