//! The raw values of every source (TOML files, the environment), merged by precedence.

use std::collections::HashMap;
use std::path::Path;

use super::{SettingsError, Source, KEYS, NODE_PASSWORD_PREFIX};

/// The raw values of every source, merged by precedence.
#[derive(Debug, Default, Clone)]
pub struct RawSettings {
    values: HashMap<String, (String, Source)>,
}

impl RawSettings {
    /// Layers a TOML document over what is there. Unknown keys are an error (a typo in a config
    /// file must not be silently ignored).
    pub fn layer_toml(&mut self, text: &str, path: &Path) -> Result<(), SettingsError> {
        let file_err = |reason: String| SettingsError::File {
            path: path.display().to_string(),
            reason,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_err(e.message().to_string()))?;
        for (key, value) in table {
            let var = key.to_ascii_uppercase();
            let known = KEYS.iter().any(|(k, _, _)| *k == var)
                || var
                    .strip_prefix(NODE_PASSWORD_PREFIX)
                    .is_some_and(|n| n.parse::<usize>().is_ok());
            if !known {
                return Err(SettingsError::UnknownKey {
                    key,
                    path: path.display().to_string(),
                });
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Array(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            toml::Value::String(s) => parts.push(s),
                            other => {
                                return Err(file_err(format!(
                                    "`{key}` must be a list of strings, found {}",
                                    other.type_str()
                                )))
                            }
                        }
                    }
                    parts.join(",")
                }
                other => {
                    return Err(file_err(format!(
                        "`{key}` must be a string, number or boolean, found {}",
                        other.type_str()
                    )))
                }
            };
            self.set(&var, text, Source::File(path.to_path_buf()));
        }
        Ok(())
    }

    /// Layers environment variables over what is there. Only known names are read; an empty
    /// variable counts as unset, as `.env` templates often leave `NAME=`.
    pub fn layer_env<I, K, V>(&mut self, vars: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (k, v) in vars {
            let (k, v) = (k.as_ref(), v.as_ref());
            let known =
                KEYS.iter().any(|(name, _, _)| *name == k) || k.starts_with(NODE_PASSWORD_PREFIX);
            if known && !v.trim().is_empty() {
                self.set(k, v.to_string(), Source::Env);
            }
        }
    }

    fn set(&mut self, var: &str, value: String, source: Source) {
        self.values.insert(var.to_string(), (value, source));
    }

    pub(super) fn get(&self, var: &str) -> Option<(&str, &Source)> {
        self.values
            .get(var)
            .map(|(v, s)| (v.trim(), s))
            .filter(|(v, _)| !v.is_empty())
    }
}
