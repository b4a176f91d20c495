//! Application commands: registering, listing and finding them.

use serde_json::{json, Map, Value};

use crate::discord::types::id;

use super::{ApiError, State};

impl State {
    fn check_app(&self, app: u64) -> Result<(), ApiError> {
        if app == self.cfg.application_id {
            Ok(())
        } else {
            Err(ApiError::missing_access())
        }
    }

    /// Bulk overwrite: commands with a known name keep their id; a new version each time.
    pub fn overwrite_commands(
        &mut self,
        app: u64,
        guild: Option<u64>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        self.check_app(app)?;
        if let Some(g) = guild {
            if !self.guilds.contains_key(&g) {
                return Err(ApiError::missing_access());
            }
        }
        let Some(list) = body.as_array() else {
            return Err(ApiError::invalid_form(
                &[],
                "LIST_TYPE_CONVERT",
                "Only iterables may be used in a ListType",
            ));
        };
        if list.len() > 100 {
            return Err(ApiError::invalid_form(
                &[],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            ));
        }
        let old = match guild {
            Some(g) => self.guild_commands.get(&g).cloned().unwrap_or_default(),
            None => self.global_commands.clone(),
        };
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let idx = i.to_string();
            let kind = c.get("type").and_then(Value::as_u64).unwrap_or(1);
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            let name_ok = !name.is_empty()
                && name.chars().count() <= 32
                && (kind != 1
                    || name.chars().all(|ch| {
                        ch == '-' || ch == '_' || ch.is_alphanumeric() && !ch.is_uppercase()
                    }));
            if !name_ok {
                return Err(ApiError::invalid_form(
                    &[&idx, "name"],
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid",
                ));
            }
            let description = c.get("description").and_then(Value::as_str).unwrap_or("");
            if kind == 1 && (description.is_empty() || description.chars().count() > 100) {
                return Err(ApiError::invalid_form(
                    &[&idx, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                ));
            }
            if out.iter().any(|o: &Value| {
                o.get("name").and_then(Value::as_str) == Some(name)
                    && o.get("type").and_then(Value::as_u64) == Some(kind)
            }) {
                return Err(ApiError::invalid_form(
                    &[&idx, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                ));
            }
            let id = old
                .iter()
                .find(|o| {
                    o.get("name").and_then(Value::as_str) == Some(name)
                        && o.get("type").and_then(Value::as_u64) == Some(kind)
                })
                .and_then(|o| o.get("id").and_then(id::parse))
                .unwrap_or_else(|| self.snowflake());
            let version = self.snowflake();
            let mut cmd = json!({
                "id": id.to_string(),
                "application_id": app.to_string(),
                "version": version.to_string(),
                "default_member_permissions": c.get("default_member_permissions").cloned().unwrap_or(Value::Null),
                "type": kind,
                "name": name,
                "name_localizations": c.get("name_localizations").cloned().unwrap_or(Value::Null),
                "description": description,
                "description_localizations": c.get("description_localizations").cloned().unwrap_or(Value::Null),
                "dm_permission": c.get("dm_permission").cloned().unwrap_or(Value::Bool(true)),
                "nsfw": c.get("nsfw").cloned().unwrap_or(Value::Bool(false)),
            });
            if let Some(o) = cmd.as_object_mut() {
                if let Some(opts) = c.get("options").filter(|v| v.is_array()) {
                    o.insert("options".into(), opts.clone());
                }
                match guild {
                    Some(g) => {
                        o.insert("guild_id".into(), Value::String(g.to_string()));
                    }
                    None => {
                        o.insert(
                            "integration_types".into(),
                            c.get("integration_types").cloned().unwrap_or(json!([0])),
                        );
                        o.insert(
                            "contexts".into(),
                            c.get("contexts").cloned().unwrap_or(Value::Null),
                        );
                    }
                }
            }
            out.push(cmd);
        }
        match guild {
            Some(g) => {
                self.guild_commands.insert(g, out.clone());
            }
            None => self.global_commands = out.clone(),
        }
        Ok(Value::Array(out))
    }

    pub fn list_commands(&self, app: u64, guild: Option<u64>) -> Result<Value, ApiError> {
        self.check_app(app)?;
        Ok(Value::Array(match guild {
            Some(g) => {
                if !self.guilds.contains_key(&g) {
                    return Err(ApiError::missing_access());
                }
                self.guild_commands.get(&g).cloned().unwrap_or_default()
            }
            None => self.global_commands.clone(),
        }))
    }

    /// Creates (or replaces by name) one command.
    pub fn create_command(
        &mut self,
        app: u64,
        guild: Option<u64>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let mut list = match self.list_commands(app, guild)? {
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        let name = body.get("name").and_then(Value::as_str).unwrap_or("");
        list.retain(|c| c.get("name").and_then(Value::as_str) != Some(name));
        list.push(body.clone());
        let all = self.overwrite_commands(app, guild, &Value::Array(list))?;
        all.as_array()
            .and_then(|a| a.last().cloned())
            .ok_or_else(ApiError::not_found)
    }

    pub fn registered_commands(&self) -> Value {
        let guilds: Map<String, Value> = self
            .guild_commands
            .iter()
            .map(|(g, c)| (g.to_string(), Value::Array(c.clone())))
            .collect();
        json!({"global": self.global_commands, "guilds": guilds})
    }

    pub(super) fn find_command(&self, guild: u64, name: &str, kind: u64) -> Option<Value> {
        let hit = |c: &&Value| {
            c.get("name").and_then(Value::as_str) == Some(name)
                && c.get("type").and_then(Value::as_u64) == Some(kind)
        };
        self.guild_commands
            .get(&guild)
            .and_then(|l| l.iter().find(hit))
            .or_else(|| self.global_commands.iter().find(hit))
            .cloned()
    }
}
