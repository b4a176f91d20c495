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
            format!("`{}`", redact_userinfo(given))
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

/// `text` with every credential in it replaced by `***`: in each comma- or space-separated piece
/// that holds an `@`, everything between the scheme (if any) and the last `@` — so
/// `https://user:pw@host`, `user:pw@host:2333` and a password with `/` or `#` in it are all hidden.
/// Hiding too much is fine in an error message; showing a secret is not.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut piece = String::new();
    let flush = |piece: &mut String, out: &mut String| {
        match piece.rfind('@') {
            Some(at) => {
                let start = piece.find("://").map_or(0, |i| i + 3);
                out.push_str(&piece[..start.min(at)]);
                out.push_str("***");
                out.push_str(&piece[at..]);
            }
            None => out.push_str(piece),
        }
        piece.clear();
    };
    for c in text.chars() {
        if c == ',' || c.is_whitespace() {
            flush(&mut piece, &mut out);
            out.push(c);
        } else {
            piece.push(c);
        }
    }
    flush(&mut piece, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_userinfo;

    #[test]
    fn credentials_are_hidden_however_they_are_written() {
        assert_eq!(
            redact_userinfo("https://user:pw-secret@host:99999,lavalink:2333"),
            "https://***@host:99999,lavalink:2333"
        );
        assert_eq!(
            redact_userinfo("ftp://a:b@x/y http://c@d"),
            "ftp://***@x/y http://***@d"
        );
        assert_eq!(redact_userinfo("https://u:pa/ss@h:1"), "https://***@h:1");
        assert_eq!(redact_userinfo("http://u:p#w@h"), "http://***@h");
        assert_eq!(
            redact_userinfo("u:secret@lavalink:2333"),
            "***@lavalink:2333"
        );
        assert_eq!(
            redact_userinfo("http://u:p@[::1]:8080"),
            "http://***@[::1]:8080"
        );
        assert_eq!(
            redact_userinfo("http://127.0.0.1:8080/api"),
            "http://127.0.0.1:8080/api"
        );
        assert_eq!(redact_userinfo("http://[::1]:8080"), "http://[::1]:8080");
        assert_eq!(redact_userinfo("no url here"), "no url here");
    }
}
