//! Reading one raw setting: its value or default, and the error that names it.

use secrecy::SecretString;

use super::{is_secret, RawSettings, SettingsError, Source, KEYS};

pub(super) struct Reader<'a> {
    pub(super) raw: &'a RawSettings,
}

impl Reader<'_> {
    pub(super) fn value(&self, var: &'static str) -> Option<(&str, Source)> {
        if let Some((v, s)) = self.raw.get(var) {
            return Some((v, s.clone()));
        }
        KEYS.iter()
            .find(|(k, _, _)| *k == var)
            .and_then(|(_, d, _)| *d)
            .map(|d| (d, Source::Default))
    }

    pub(super) fn invalid(
        &self,
        var: &'static str,
        given: &str,
        source: &Source,
        expected: &str,
    ) -> SettingsError {
        let given = if is_secret(var) {
            "a value (hidden)".to_string()
        } else {
            format!("`{given}`")
        };
        SettingsError::Invalid {
            var,
            origin: source.to_string(),
            given,
            expected: expected.to_string(),
        }
    }

    pub(super) fn parse<T>(
        &self,
        var: &'static str,
        expected: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, SettingsError> {
        match self.value(var) {
            None => Ok(None),
            Some((v, source)) => f(v)
                .map(Some)
                .ok_or_else(|| self.invalid(var, v, &source, expected)),
        }
    }

    pub(super) fn required<T>(
        &self,
        var: &'static str,
        expected: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<T, SettingsError> {
        self.parse(var, expected, f)?
            .ok_or_else(|| SettingsError::Missing {
                var,
                expected: expected.to_string(),
            })
    }

    pub(super) fn secret(&self, var: &'static str) -> Option<SecretString> {
        self.value(var)
            .map(|(v, _)| SecretString::from(v.to_string()))
    }
}
