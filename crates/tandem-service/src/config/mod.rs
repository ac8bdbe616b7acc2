//! `tandem.toml`: the service's configuration file, read, checked and mapped onto the engine's
//! [`TandemConfig`]. The format is documented key by key in `docs/service.md`.
//!
//! Every problem is reported as `FILE:LINE: message` naming the key: unknown keys are refused
//! anywhere in the file (including inside connections, whose keys the connector's builder
//! checks), secrets written inline are refused, and a user assigned twice is an error.
//!
//! Relative paths (the store, `users_file`, a policy file, `{ file = … }` secrets) are resolved
//! against the folder of the configuration file.

mod assign;
mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tandem_connector::factory::SecretRef;
use tandem_engine::config::{ConnectionSpec, TandemConfig, UserAssignment};
use tandem_policy::Policy;

pub use assign::UserEntry;

/// The file could not be used. Displayed as `FILE:LINE: message` (or `FILE: message`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file (or one it names) could not be read.
    #[error("{}: cannot read: {kind}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        kind: String,
    },
    /// A problem at a place in a file.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    At {
        /// The file.
        path: PathBuf,
        /// The line (1-based), when known.
        line: Option<usize>,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `format`: `text` or `json`.
    pub format: LogFormat,
    /// `level`: a `tracing` filter (default `warn` for commands; `RUST_LOG` overrides it).
    pub level: String,
}

/// `[schedule]`: how `tandem run` paces cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// `interval`: the time between two cycles of one user. Default 5 minutes.
    pub interval: Duration,
    /// `jitter`: the share of the interval each wait is moved by at random (0 to 1). Default 0.1.
    pub jitter: f64,
    /// `concurrency`: users synced at once. Default 8.
    pub concurrency: usize,
    /// `objects_at_once`: a user's contacts and events synced at the same time, their writes
    /// sharing requests where both connectors allow it (Salesforce and Graph). Default true.
    pub objects_at_once: bool,
}

/// `[web]`: the status page (served by `tandem run` when enabled).
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    /// `enabled`. Default false.
    pub enabled: bool,
    /// `listen`. Default `127.0.0.1:8465`.
    pub listen: SocketAddr,
    /// `admin_token`, by reference only.
    pub admin_token: Option<SecretRef>,
    /// `allow_remote`: serve the status page on an address other than loopback. Default false:
    /// `tandem run` refuses to start the page on a non-loopback `listen` without it (`/healthz`
    /// and `/metrics` are served on any address).
    pub allow_remote: bool,
}

/// `[store]`: where the state lives. Exactly one of `sqlite` and `postgres`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `sqlite = "path"` (the default, `tandem.db` next to the configuration): one worker
    /// process.
    Sqlite(PathBuf),
    /// `postgres = { env = "VAR" }` or `{ file = "/path" }`: the connection URL, by reference
    /// (it carries a password). Many workers may share it.
    Postgres(SecretRef),
}

/// What the store is, for people: the SQLite file, or where the PostgreSQL URL comes from
/// (never the URL).
impl std::fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreConfig::Sqlite(path) => write!(f, "{}", path.display()),
            StoreConfig::Postgres(reference) => write!(f, "PostgreSQL (URL from {reference})"),
        }
    }
}

/// One `[connections.NAME]` section.
#[derive(Clone, PartialEq)]
pub struct Connection {
    /// The section's name.
    pub name: String,
    /// `provider`: `salesforce`, `graph`, `ews`, `google`, `dav`, `vdir` or `memory`.
    pub provider: String,
    /// The other keys, for the provider's builder (secrets are references).
    pub settings: toml::Table,
    /// The line of the section's header.
    pub line: Option<usize>,
    /// The line of each key.
    pub key_lines: BTreeMap<String, usize>,
    /// `org_feed`: the CRM changes of every user on this connection are read once per round
    /// through one connection as this user (the organization feed), and the line of the key.
    pub org_feed: Option<(String, usize)>,
}

/// Keys only: a value written inline by mistake must not reach a log through `Debug`.
impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("keys", &self.settings.keys().collect::<Vec<_>>())
            .field("org_feed", &self.org_feed.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

/// A loaded, checked `tandem.toml`.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The file.
    pub path: PathBuf,
    /// Its folder: relative paths are resolved against it.
    pub base: PathBuf,
    /// `[policy]` (inline) or `policy = "file.toml"`; the default policy when absent.
    pub policy: Arc<Policy>,
    /// `[store]`: the SQLite file (default `tandem.db` next to the configuration) or the
    /// PostgreSQL URL's reference.
    pub store: StoreConfig,
    /// `[connections.NAME]`.
    pub connections: BTreeMap<String, Connection>,
    /// Every user with the connections and configuration assigned to them, in file order.
    pub users: Vec<UserEntry>,
    /// The engine's view: configurations and user assignments.
    pub engine: TandemConfig,
    /// `[schedule]`.
    pub schedule: Schedule,
    /// `[web]`.
    pub web: WebConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// Addresses of `users_file` that no `[[assignments]]` domain matched: not synced.
    pub unassigned: Vec<String>,
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len())).map_or(1, |t| t.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// The line, at or after byte `from`, where `key` is set (`key =`, `key.x =`, inside an inline
/// table, or a `[...key]` header); for keys whose exact span toml does not keep.
pub(crate) fn line_of_key(text: &str, from: usize, key: &str) -> Option<usize> {
    let start = from.min(text.len());
    let mut offset = start;
    for line in text.get(start..)?.split_inclusive('\n') {
        let t = line.trim();
        let header = t.starts_with('[') && t.trim_end_matches(']').ends_with(key);
        let assigned = line.match_indices(key).any(|(i, _)| {
            let before = line[..i].chars().next_back();
            let after = line[i + key.len()..].trim_start();
            before.is_none_or(|c| c.is_whitespace() || matches!(c, '{' | ',' | '.'))
                && (after.starts_with('=') || after.starts_with('.'))
        });
        if header || assigned {
            return Some(line_of(text, offset));
        }
        offset += line.len();
    }
    None
}

impl ServiceConfig {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file, the line and the key.
    pub fn load(path: &Path) -> Result<ServiceConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.to_owned(), kind: e.kind().to_string() })?;
        ServiceConfig::from_str(path, &text)
    }

    /// Checks `text` as if read from `path`.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn from_str(path: &Path, text: &str) -> Result<ServiceConfig, ConfigError> {
        raw::parse(path, text)
    }

    /// An error at `line` of this file.
    pub fn error_at(&self, line: Option<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::At { path: self.path.clone(), line, message: message.into() }
    }

    /// Resolves `path` against the configuration's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        resolve(&self.base, path)
    }

    /// The user entry of `user` (addresses compare case-insensitively).
    pub fn user(&self, user: &str) -> Option<&UserEntry> {
        self.users.iter().find(|u| u.user.eq_ignore_ascii_case(user))
    }
}

pub(crate) fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_relative() { base.join(path) } else { path.to_owned() }
}

/// The engine's configuration for these users and connections.
pub(crate) fn engine_config(
    configurations: Vec<tandem_engine::config::SyncConfig>,
    users: &[UserEntry],
    connections: &BTreeMap<String, Connection>,
) -> TandemConfig {
    // The connector is the provider; the settings name the connection, whose own settings the
    // `ServiceFactory` reads (they stay out of the engine's types, which print with `Debug`).
    let spec = |name: &str| ConnectionSpec {
        connector: connections.get(name).map(|c| c.provider.clone()).unwrap_or_default(),
        settings: [("connection".to_owned(), toml::Value::String(name.to_owned()))].into_iter().collect(),
    };
    TandemConfig {
        configurations,
        users: users
            .iter()
            .map(|u| UserAssignment {
                user: u.user.clone(),
                configuration: u.configuration.clone(),
                crm: spec(&u.crm),
                mailbox: spec(&u.mailbox),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
