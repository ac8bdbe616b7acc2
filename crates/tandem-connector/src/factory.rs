//! Building connectors from configuration: the [`ConnectorBuilder`] each connector crate
//! implements, the [`Settings`] reader they share, and secrets by reference only.
//!
//! A connection is described by a TOML table (a `[connections.NAME]` section of `tandem.toml`,
//! without its `provider` key). The builder reads the keys it knows through [`Settings`], which
//! refuses keys it was not asked for ([`BuildError::UnknownKey`]) and secrets written inline
//! ([`BuildError::InlineSecret`]): a secret is always a reference, `{ env = "VAR" }` or
//! `{ file = "/path" }`, resolved by a [`SecretResolver`]. Errors name the key, never a value, so
//! the caller can point at the line of the file.
//!
//! ```
//! use tandem_connector::factory::{ConnectorBuilder, EnvOrFileSecrets, MemoryBuilder};
//! let settings: toml::Table = toml::from_str("identity = \"ada@example.com\"").unwrap();
//! let connector = MemoryBuilder.build("ada@example.com", &settings, &EnvOrFileSecrets::default()).unwrap();
//! assert_eq!(connector.provider(), "memory");
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tandem_policy::{Secret, SecretError};

use crate::memory::MemoryConnector;
use crate::{Connector, ConnectorError};

/// Where a secret is: the only forms a configuration may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable (`{ env = "VAR" }`).
    Env(String),
    /// A file (`{ file = "/path" }`): a mounted secret, a PEM key. Relative paths are resolved
    /// by the [`SecretResolver`] (the service resolves them against the configuration's folder).
    File(PathBuf),
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env(var) => write!(f, "environment variable `{var}`"),
            SecretRef::File(path) => write!(f, "file `{}`", path.display()),
        }
    }
}

impl SecretRef {
    /// Reads a reference from a TOML value: a table with exactly one of `env` or `file`.
    ///
    /// # Errors
    ///
    /// [`BuildError::InlineSecret`] for a string (a secret written into the file), and
    /// [`BuildError::Invalid`] for any other shape. Messages name `key`, never the value.
    pub fn from_toml(key: &str, value: &toml::Value) -> Result<SecretRef, BuildError> {
        let invalid = || BuildError::Invalid {
            key: key.to_owned(),
            message: "a secret must be `{ env = \"VAR\" }` or `{ file = \"/path\" }`".to_owned(),
        };
        match value {
            toml::Value::String(_) => Err(BuildError::InlineSecret { key: key.to_owned() }),
            toml::Value::Table(table) if table.len() == 1 => match table.iter().next() {
                Some((k, toml::Value::String(var))) if k == "env" && !var.is_empty() => Ok(SecretRef::Env(var.clone())),
                Some((k, toml::Value::String(path))) if k == "file" && !path.is_empty() => {
                    Ok(SecretRef::File(PathBuf::from(path)))
                }
                _ => Err(invalid()),
            },
            _ => Err(invalid()),
        }
    }
}

/// Turns a [`SecretRef`] into a [`Secret`].
pub trait SecretResolver: Send + Sync {
    /// The secret `reference` points at.
    ///
    /// # Errors
    ///
    /// [`SecretError`] naming the variable or file, never the value.
    fn resolve(&self, reference: &SecretRef) -> Result<Secret, SecretError>;
}

/// The ordinary resolver: environment variables, and files (relative paths against `base`).
#[derive(Debug, Clone, Default)]
pub struct EnvOrFileSecrets {
    /// The folder relative file paths are resolved against (the working directory if `None`).
    pub base: Option<PathBuf>,
}

impl EnvOrFileSecrets {
    /// A resolver resolving relative paths against `base`.
    pub fn relative_to(base: impl Into<PathBuf>) -> Self {
        EnvOrFileSecrets { base: Some(base.into()) }
    }

    /// Where a file reference points.
    pub fn path_of(&self, path: &Path) -> PathBuf {
        match &self.base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path.to_owned(),
        }
    }
}

impl SecretResolver for EnvOrFileSecrets {
    fn resolve(&self, reference: &SecretRef) -> Result<Secret, SecretError> {
        match reference {
            SecretRef::Env(var) => Secret::from_env(var),
            SecretRef::File(path) => Secret::from_file(self.path_of(path)),
        }
    }
}

/// Why a connector could not be built from its settings. Every variant names the key concerned
/// (when there is one) and never a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A key the connector does not know.
    #[error("unknown key `{key}`")]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// A required key is missing.
    #[error("missing key `{key}`")]
    Missing {
        /// The key.
        key: String,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The key.
        key: String,
        /// What is wrong (never the value of a secret).
        message: String,
    },
    /// A secret was written into the configuration instead of referenced.
    #[error(
        "`{key}`: inline secrets are refused; reference it instead: `{key} = {{ env = \"VAR\" }}` or `{key} = {{ file = \"/path\" }}`"
    )]
    InlineSecret {
        /// The key.
        key: String,
    },
    /// A referenced secret could not be read.
    #[error("`{key}`: {source}")]
    Secret {
        /// The key.
        key: String,
        /// Why (names the variable or file).
        source: SecretError,
    },
    /// The connector refused the configuration (or could not start its HTTP client).
    #[error(transparent)]
    Connector(#[from] ConnectorError),
}

impl BuildError {
    /// The key the error is about, if any: for pointing at a line of the file.
    pub fn key(&self) -> Option<&str> {
        match self {
            BuildError::UnknownKey { key }
            | BuildError::Missing { key }
            | BuildError::Invalid { key, .. }
            | BuildError::InlineSecret { key }
            | BuildError::Secret { key, .. } => Some(key),
            BuildError::Connector(_) => None,
        }
    }
}

/// Builds the connectors of one provider from a connection's settings. Each connector crate
/// provides one (`tandem_salesforce::SalesforceBuilder`, `tandem_graph::GraphBuilder`, …);
/// a service dispatches to them by [`provider`](Self::provider).
pub trait ConnectorBuilder: Send + Sync {
    /// The provider name used in configuration (`provider = "graph"`).
    fn provider(&self) -> &'static str;

    /// The connector of `user` over the connection described by `settings`. `user` fills the
    /// per-user fields (a mailbox address, a CRM username) that the settings leave out; secrets
    /// come from `secrets`, by reference only.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the key at fault.
    fn build(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn Connector>, BuildError>;

    /// The organization feed ([`crate::feed::OrgFeed`]) of the connection, read as `user` (an
    /// integration user who sees every synced user's records). The default: this provider has
    /// none.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the key at fault, or [`BuildError::Connector`] (a configuration
    /// error) when the provider has no organization feed.
    fn build_feed(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn crate::feed::OrgFeed>, BuildError> {
        let _ = (user, settings, secrets);
        Err(BuildError::Connector(ConnectorError::Config {
            message: format!("provider `{}` has no organization feed", self.provider()),
        }))
    }
}

/// Reads a connection's settings key by key, remembering which were read so that
/// [`Settings::finish`] can refuse the rest.
#[derive(Debug)]
pub struct Settings<'a> {
    table: &'a toml::Table,
    used: BTreeSet<&'a str>,
}

impl<'a> Settings<'a> {
    /// A reader over `table`.
    pub fn new(table: &'a toml::Table) -> Self {
        Settings { table, used: BTreeSet::new() }
    }

    fn get(&mut self, key: &str) -> Option<&'a toml::Value> {
        let (k, v) = self.table.get_key_value(key)?;
        self.used.insert(k.as_str());
        Some(v)
    }

    /// Whether `key` is present (without marking it read).
    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// An optional value of any deserialisable type.
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming the key.
    pub fn opt<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, BuildError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .clone()
                .try_into::<T>()
                .map(Some)
                .map_err(|e| BuildError::Invalid { key: key.to_owned(), message: e.message().trim().to_owned() }),
        }
    }

    /// A required value.
    ///
    /// # Errors
    ///
    /// [`BuildError::Missing`] or [`BuildError::Invalid`] naming the key.
    pub fn required<T: DeserializeOwned>(&mut self, key: &str) -> Result<T, BuildError> {
        self.opt(key)?.ok_or_else(|| BuildError::Missing { key: key.to_owned() })
    }

    /// An optional duration: whole seconds, or a string such as `"90s"`, `"5m"`, `"2h"`, `"30d"`.
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming the key.
    pub fn opt_duration(&mut self, key: &str) -> Result<Option<Duration>, BuildError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => duration_from_toml(value)
                .map(Some)
                .map_err(|message| BuildError::Invalid { key: key.to_owned(), message }),
        }
    }

    /// An optional secret, by reference.
    ///
    /// # Errors
    ///
    /// [`BuildError::InlineSecret`] for a value written inline, [`BuildError::Secret`] when the
    /// reference cannot be read, [`BuildError::Invalid`] for another shape.
    pub fn opt_secret(&mut self, key: &str, secrets: &dyn SecretResolver) -> Result<Option<Secret>, BuildError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => {
                let reference = SecretRef::from_toml(key, value)?;
                secrets
                    .resolve(&reference)
                    .map(Some)
                    .map_err(|source| BuildError::Secret { key: key.to_owned(), source })
            }
        }
    }

    /// A required secret, by reference.
    ///
    /// # Errors
    ///
    /// As [`opt_secret`](Self::opt_secret), and [`BuildError::Missing`].
    pub fn secret(&mut self, key: &str, secrets: &dyn SecretResolver) -> Result<Secret, BuildError> {
        self.opt_secret(key, secrets)?.ok_or_else(|| BuildError::Missing { key: key.to_owned() })
    }

    /// Refuses every key that was not read.
    ///
    /// # Errors
    ///
    /// [`BuildError::UnknownKey`] naming the first such key.
    pub fn finish(self) -> Result<(), BuildError> {
        match self.table.keys().find(|k| !self.used.contains(k.as_str())) {
            Some(key) => Err(BuildError::UnknownKey { key: key.clone() }),
            None => Ok(()),
        }
    }
}

/// Parses a duration: whole seconds as an integer, or a string of a number and a unit
/// (`s`, `m`, `h`, `d`), e.g. `"90s"`, `"5m"`.
///
/// # Errors
///
/// A message saying what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("`{text}` is not a duration such as \"90s\", \"5m\", \"2h\" or \"1d\"");
    let n: u64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).map(Duration::from_secs).ok_or_else(bad)
}

/// A duration from a TOML value: an integer (seconds) or a string for [`parse_duration`].
///
/// # Errors
///
/// A message saying what is accepted.
pub fn duration_from_toml(value: &toml::Value) -> Result<Duration, String> {
    match value {
        toml::Value::Integer(n) => {
            u64::try_from(*n).map(Duration::from_secs).map_err(|_| "a duration cannot be negative".to_owned())
        }
        toml::Value::String(s) => parse_duration(s),
        _ => Err("a duration is a number of seconds or a string such as \"5m\"".to_owned()),
    }
}

/// The in-memory connector's builder (`provider = "memory"`), for tests and trials. Each build
/// is a new, empty connector unless `contacts` seeds it.
///
/// Settings: `identity` (default: the user), `page_size` (default: the connector's),
/// `contacts` (a list of `{ given_name, family_name, email }` to start with).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBuilder;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedContact {
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
}

impl ConnectorBuilder for MemoryBuilder {
    fn provider(&self) -> &'static str {
        "memory"
    }

    fn build(
        &self,
        user: &str,
        settings: &toml::Table,
        _secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn Connector>, BuildError> {
        let mut s = Settings::new(settings);
        let identity: Option<String> = s.opt("identity")?;
        let page_size: Option<usize> = s.opt("page_size")?;
        let seed: Option<Vec<SeedContact>> = s.opt("contacts")?;
        s.finish()?;
        let mut connector = MemoryConnector::new("memory").with_identity(identity.unwrap_or_else(|| user.to_owned()));
        if let Some(n) = page_size {
            if n == 0 {
                return Err(BuildError::Invalid {
                    key: "page_size".to_owned(),
                    message: "must be at least 1".to_owned(),
                });
            }
            connector = connector.with_page_size(n);
        }
        for c in seed.unwrap_or_default() {
            use tandem_core::model::{AddressKind, Contact, EmailAddress, Record};
            let emails =
                c.email.map(|address| vec![EmailAddress { kind: AddressKind::default(), address }]).unwrap_or_default();
            connector.insert(Record::Contact(Contact {
                given_name: c.given_name,
                family_name: c.family_name,
                emails,
                ..Contact::default()
            }));
        }
        Ok(Arc::new(connector))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn refuses_unknown_keys_and_inline_secrets() {
        let t = table("identity = \"a\"\nbogus = 1");
        let e = MemoryBuilder.build("u", &t, &EnvOrFileSecrets::default()).err().unwrap();
        assert_eq!(e.key(), Some("bogus"));
        let t = table("password = \"hunter2\"");
        let mut s = Settings::new(&t);
        let e = s.secret("password", &EnvOrFileSecrets::default()).unwrap_err();
        assert!(matches!(e, BuildError::InlineSecret { .. }));
        assert!(!e.to_string().contains("hunter2"));
        assert!(e.to_string().contains("password"));
    }

    #[test]
    fn resolves_files_relative_to_the_base() {
        let dir = std::env::temp_dir().join(format!("tandem-factory-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s.txt"), "shh\n").unwrap();
        let t = table("key = { file = \"s.txt\" }");
        let mut s = Settings::new(&t);
        let secret = s.secret("key", &EnvOrFileSecrets::relative_to(&dir)).unwrap();
        assert_eq!(secret.expose(), "shh");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn seeds_memory_contacts() {
        let t = table("contacts = [{ family_name = \"Lovelace\", email = \"ada@example.com\" }]");
        let c = MemoryBuilder.build("u", &t, &EnvOrFileSecrets::default()).unwrap();
        assert_eq!(c.provider(), "memory");
    }
}
