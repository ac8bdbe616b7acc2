//! A minimal redacting wrapper for secret strings.

use std::fmt;

/// A secret string (an access token, a refresh token, a signed assertion).
///
/// `Debug` prints `Secret(***)` and `Display` prints `***`, so a secret cannot end up in a log or
/// an error message by accident; [`Secret::expose`] is the one way to read it. On drop the
/// bytes are overwritten with zeros. That is best-effort without `unsafe`: earlier copies made by
/// reallocation, by the HTTP stack or by the caller are not reached.
///
/// Placeholder until the security-policy crate provides its own type; kept minimal on purpose.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Only call this where the value is sent (a header, a form field).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        // Keep the zeroing from being optimised away as a dead store.
        std::hint::black_box(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("CANARY");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "CANARY");
    }

    #[test]
    fn deserializes_from_a_string() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap_or_default();
        assert_eq!(s.expose(), "abc");
    }
}
