//! Named fakes for the `tandem-fakes` binary, and the port file it writes.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{any, get};
use serde_json::{Value, json};

use super::FakeServer;

/// Builds a fresh router for one fake each time that fake is started.
pub type RouterFactory = Arc<dyn Fn() -> Router + Send + Sync>;

#[derive(Clone)]
enum Entry {
    Factory(RouterFactory),
    /// The built-in health fake, which reports the names of the fakes started with it.
    Health,
}

/// A registry of named fakes, each started on its own loopback port.
///
/// Provider fakes register here (`"salesforce"`, `"graph"`, `"ews"`, `"google"`) so that the
/// binary and out-of-process crash tests can start them by name.
#[derive(Clone, Default)]
pub struct FakeSet {
    entries: Vec<(String, Entry)>,
}

impl std::fmt::Debug for FakeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSet").field("names", &self.names()).finish()
    }
}

/// Why a set of fakes could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakeSetError {
    /// `--only` named a fake the set does not have.
    #[error("unknown fake `{name}` (known: {})", known.join(", "))]
    UnknownFake {
        /// The name asked for.
        name: String,
        /// The names the set has.
        known: Vec<String>,
    },
    /// Binding a port failed.
    #[error("could not start a fake: {0}")]
    Io(#[from] io::Error),
}

impl FakeSet {
    /// An empty set.
    pub fn new() -> Self {
        FakeSet::default()
    }

    /// Every fake this crate ships, as the binary starts them: `"health"`, `"salesforce"` (the
    /// default org and user), `"graph"` (the demo tenant, mailbox and app of
    /// [`crate::graph::GraphState::demo`]), `"ews"` (the demo mailbox and service account of
    /// [`crate::ews::EwsFake::demo`]) and `"google"` (the demo service account, user and
    /// delegation of [`crate::google::GoogleFake::demo`]).
    pub fn standard() -> Self {
        let mut set = FakeSet::new();
        set.register_health();
        set.register("salesforce", || {
            crate::salesforce::router(crate::salesforce::SalesforceFake::new(crate::salesforce::FakeConfig::default()))
        });
        set.register("graph", || crate::graph::router(crate::graph::GraphState::demo()));
        set.register("ews", || crate::ews::router(crate::ews::EwsFake::demo()));
        set.register("google", || crate::google::router(crate::google::GoogleFake::demo()));
        set
    }

    /// Registers (or replaces) the fake `name`; `factory` is called each time it starts.
    pub fn register(
        &mut self,
        name: impl Into<String>,
        factory: impl Fn() -> Router + Send + Sync + 'static,
    ) -> &mut Self {
        self.insert(name.into(), Entry::Factory(Arc::new(factory)));
        self
    }

    /// Registers the built-in `"health"` fake: `GET /health` answers
    /// `{"status":"ok","fakes":[…names started with it…]}` and any request to `/echo` is answered
    /// with its method, path, query, headers and body as JSON.
    pub fn register_health(&mut self) -> &mut Self {
        self.insert("health".to_owned(), Entry::Health);
        self
    }

    fn insert(&mut self, name: String, entry: Entry) {
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = entry,
            None => self.entries.push((name, entry)),
        }
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// Starts the fakes named in `only` (all of them when `only` is empty), each on its own
    /// port. On error, the fakes already started are shut down (by drop).
    pub async fn start(&self, only: &[String]) -> Result<RunningFakes, FakeSetError> {
        for name in only {
            if !self.contains(name) {
                return Err(FakeSetError::UnknownFake { name: name.clone(), known: self.names() });
            }
        }
        let selected: Vec<&(String, Entry)> =
            self.entries.iter().filter(|(n, _)| only.is_empty() || only.contains(n)).collect();
        let names: Vec<String> = selected.iter().map(|(n, _)| n.clone()).collect();
        let mut servers = Vec::with_capacity(selected.len());
        for (name, entry) in selected {
            let router = match entry {
                Entry::Factory(factory) => factory(),
                Entry::Health => health_router(names.clone()),
            };
            servers.push((name.clone(), FakeServer::start(router).await?));
        }
        Ok(RunningFakes { servers })
    }
}

/// Fakes started by [`FakeSet::start`].
#[derive(Debug)]
pub struct RunningFakes {
    servers: Vec<(String, FakeServer)>,
}

impl RunningFakes {
    /// The fakes and their servers, in start order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FakeServer)> {
        self.servers.iter().map(|(n, s)| (n.as_str(), s))
    }

    /// The server of fake `name`.
    pub fn get(&self, name: &str) -> Option<&FakeServer> {
        self.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    /// One line per fake, `NAME http://127.0.0.1:PORT\n`: what the binary prints and what the
    /// port file holds.
    pub fn lines(&self) -> String {
        self.iter().map(|(n, s)| format!("{n} {}\n", s.base_url())).collect()
    }

    /// Shuts every fake down and waits until their ports are free.
    pub async fn shutdown(self) -> io::Result<()> {
        let mut first_error = None;
        for (_, server) in self.servers {
            if let Err(e) = server.shutdown().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The router of the built-in health fake (see [`FakeSet::register_health`]).
pub fn health_router(fakes: Vec<String>) -> Router {
    Router::new().route("/health", get(health)).route("/echo", any(echo)).with_state(Arc::new(fakes))
}

async fn health(State(fakes): State<Arc<Vec<String>>>) -> Json<Value> {
    Json(json!({ "status": "ok", "fakes": *fakes }))
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// Parses port-file text (`NAME URL` per line; blank lines and `#` comments ignored) into
/// name → base URL.
pub fn parse_port_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (name, url) = l.split_once(char::is_whitespace)?;
            Some((name.to_owned(), url.trim().to_owned()))
        })
        .collect()
}

/// Reads a port file written by [`write_port_file`].
pub fn read_port_file(path: &Path) -> io::Result<BTreeMap<String, String>> {
    Ok(parse_port_file(&std::fs::read_to_string(path)?))
}

/// Writes the port file atomically (a temporary file renamed into place), so a process polling
/// for it never reads half of it.
pub fn write_port_file(path: &Path, fakes: &RunningFakes) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, fakes.lines())?;
    std::fs::rename(&tmp, path)
}
