//! The one secret type: passwords, client secrets, private keys, refresh and access tokens.

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret string: a password, a client secret, a private key (PEM), a refresh or access token,
/// a signed assertion.
///
/// - `Debug` prints `Secret(***)` and `Display` prints `***`, so a secret cannot reach a log line,
///   a `tracing` field or an error message by accident; [`Secret::expose`] is the one way to read
///   it, and should only be called where the value is sent (a header, a form field, a signer).
/// - On drop the bytes are overwritten with zeros ([`zeroize`]). That is best effort: copies
///   made earlier by reallocation, by the environment, by the HTTP stack or by the caller are not
///   reached.
/// - There is deliberately no `Serialize`: a secret cannot be written into a report, a journal
///   entry or the state store by deriving `Serialize` on a struct that holds one. `Deserialize`
///   exists so settings can be read, but prefer [`Secret::from_env`] and [`Secret::from_file`]
///   over secrets in configuration files.
///
/// ```
/// use tandem_policy::Secret;
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
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

    /// Reads a secret from the environment variable `var`.
    ///
    /// # Errors
    ///
    /// [`SecretError`] naming the variable (never its value) when it is unset, not UTF-8 or
    /// empty.
    pub fn from_env(var: &str) -> Result<Self, SecretError> {
        match std::env::var(var) {
            Ok(value) if value.is_empty() => Err(SecretError::EnvEmpty { var: var.to_owned() }),
            Ok(value) => Ok(Secret(value)),
            Err(std::env::VarError::NotPresent) => Err(SecretError::EnvMissing { var: var.to_owned() }),
            Err(std::env::VarError::NotUnicode(mut raw)) => {
                raw.zeroize_os();
                Err(SecretError::EnvNotUnicode { var: var.to_owned() })
            }
        }
    }

    /// Reads a secret from the file at `path` (a mounted Kubernetes or Docker secret, a PEM
    /// private key). One trailing line ending (`\n` or `\r\n`) is removed, since editors and
    /// `echo` add one; other whitespace is kept.
    ///
    /// # Errors
    ///
    /// [`SecretError`] naming the file (never its contents) when it cannot be read, is not
    /// UTF-8 or is empty.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SecretError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| SecretError::FileRead { path: path.to_owned(), kind: e.kind().to_string() })?;
        let mut text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                e.into_bytes().zeroize();
                return Err(SecretError::FileNotUtf8 { path: path.to_owned() });
            }
        };
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        if text.is_empty() {
            return Err(SecretError::FileEmpty { path: path.to_owned() });
        }
        Ok(Secret(text))
    }
}

/// Zeroes an `OsString` that failed to convert, as far as safe code allows.
trait ZeroizeOs {
    fn zeroize_os(&mut self);
}

impl ZeroizeOs for std::ffi::OsString {
    fn zeroize_os(&mut self) {
        let mut bytes = std::mem::take(self).into_encoded_bytes();
        bytes.zeroize();
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

/// A secret could not be loaded. Messages name the variable or the file, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable is not set.
    #[error("environment variable `{var}` is not set")]
    EnvMissing {
        /// The variable's name.
        var: String,
    },
    /// The environment variable is set but empty.
    #[error("environment variable `{var}` is empty")]
    EnvEmpty {
        /// The variable's name.
        var: String,
    },
    /// The environment variable is not valid UTF-8.
    #[error("environment variable `{var}` is not valid UTF-8")]
    EnvNotUnicode {
        /// The variable's name.
        var: String,
    },
    /// The file could not be read.
    #[error("cannot read the secret file `{}`: {kind}", path.display())]
    FileRead {
        /// The file.
        path: PathBuf,
        /// What went wrong (the I/O error kind, e.g. `entity not found`).
        kind: String,
    },
    /// The file is not valid UTF-8.
    #[error("the secret file `{}` is not valid UTF-8", path.display())]
    FileNotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The file is empty (or holds only a line ending).
    #[error("the secret file `{}` is empty", path.display())]
    FileEmpty {
        /// The file.
        path: PathBuf,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("CANARY");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(***))");
        assert_eq!(s.expose(), "CANARY");
        assert!(!s.is_empty());
        assert!(Secret::default().is_empty());
    }

    #[test]
    fn deserializes_from_a_string() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap_or_default();
        assert_eq!(s.expose(), "abc");
    }

    #[test]
    fn zeroize_clears_the_value() {
        let mut s = Secret::new("CANARY");
        s.zeroize();
        assert!(s.is_empty());
    }

    #[test]
    fn from_file_strips_one_line_ending_and_names_the_file_in_errors() {
        let dir = std::env::temp_dir().join(format!("tandem-policy-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret.txt");
        std::fs::write(&file, "CANARY-FILE \r\n").unwrap();
        assert_eq!(Secret::from_file(&file).unwrap().expose(), "CANARY-FILE ");
        std::fs::write(&file, "\n").unwrap();
        let err = Secret::from_file(&file).unwrap_err();
        assert!(matches!(err, SecretError::FileEmpty { .. }), "{err}");
        std::fs::write(&file, [0xff, 0xfe, b'C']).unwrap();
        let err = Secret::from_file(&file).unwrap_err();
        assert!(err.to_string().contains("secret.txt"), "{err}");
        let missing = dir.join("missing.txt");
        let err = Secret::from_file(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.txt"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn from_env_names_the_variable_never_the_value() {
        let err = Secret::from_env("TANDEM_POLICY_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert_eq!(err.to_string(), "environment variable `TANDEM_POLICY_TEST_SURELY_UNSET_VARIABLE` is not set");
        // PATH is set in every test environment; its value must not be echoed by Debug.
        if let Ok(s) = Secret::from_env("PATH") {
            assert_eq!(format!("{s:?}"), "Secret(***)");
        }
    }
}
