//! Building a [`GraphConnector`] from a connection's TOML settings (`[connections.NAME]` with
//! `provider = "graph"`): see [`GraphBuilder`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tandem_connector::Connector;
use tandem_connector::factory::{BuildError, ConnectorBuilder, SecretResolver, Settings};
use tandem_connector::http::HttpClient;

use crate::coalesce::{BatchKey, DEFAULT_BATCH_LINGER, SharedBatcher};
use crate::config::{AssertionAlgorithm, DELEGATED_SCOPES, GraphAuth, GraphConfig};
use crate::connector::GraphConnector;

/// Builds Microsoft Graph connectors (`provider = "graph"`). One HTTP client is shared by every
/// connector it builds.
///
/// Settings (secrets by reference only, `{ env = "VAR" }` or `{ file = "/path" }`):
///
/// - `tenant` (required): the directory id or domain.
/// - `mailbox`: the synced mailbox; default the user's address (one connection serves many
///   mailboxes).
/// - `method`: `certificate` (default), `client_secret` or `auth_code_pkce`; `client_id`
///   (required).
/// - `certificate`: `certificate` (`{ file = "cert.pem" }`: the
///   certificate's PEM, read like a secret though it is not one), `private_key`
///   (secret), `algorithm` (`ps256` default, `rs256`).
/// - `client_secret`: `client_secret` (secret; the default policy refuses it where a
///   certificate is possible).
/// - `auth_code_pkce`: `refresh_token` (secret), optional `client_secret` (secret), `scopes`.
/// - optional: `authority`, `graph_base`, `app_scope`, `contact_folder` (default `Tandem`),
///   `window_past_days`, `window_future_days`, `page_size`, `max_concurrency`, `request_budget`,
///   `budget_window`, `all_day_zone`, `max_item_retries`, `max_retry_wait`, `iana_zone_names`.
/// - `shared_batch` (default `true`): app-only connections of the same tenant, app and
///   credential send their batch items through one [`SharedBatcher`], mixing mailboxes in each
///   `$batch` (fewer, fuller batches when many mailboxes write a little each); `false` gives the
///   connection batches of its own. Delegated connections never share.
/// - `batch_linger_ms` (default 5, at most 1000): how long the first item of a shared batch
///   waits for others. Connections with different lingers get different batchers.
#[derive(Clone)]
pub struct GraphBuilder {
    http: HttpClient,
    shared_batch: bool,
    linger: Duration,
    /// One batcher per token (tenant, app, credential, endpoints) and linger, for every
    /// connector this builder (and its clones) builds.
    batchers: Arc<Mutex<HashMap<(BatchKey, Duration), SharedBatcher>>>,
}

impl std::fmt::Debug for GraphBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphBuilder")
            .field("shared_batch", &self.shared_batch)
            .field("linger", &self.linger)
            .finish_non_exhaustive()
    }
}

/// The longest `batch_linger_ms` accepted: a second is already far beyond what fills batches.
const MAX_LINGER_MS: u64 = 1_000;

impl GraphBuilder {
    /// A builder whose connectors share `http`, and whose app-only connectors share batches
    /// (one [`SharedBatcher`] per tenant, app and credential).
    pub fn new(http: HttpClient) -> Self {
        GraphBuilder {
            http,
            shared_batch: true,
            linger: DEFAULT_BATCH_LINGER,
            batchers: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Builder: whether app-only connections share batches unless their settings say otherwise
    /// (default true).
    #[must_use]
    pub fn with_shared_batch(mut self, on: bool) -> Self {
        self.shared_batch = on;
        self
    }

    /// Builder: the linger of shared batches unless a connection's `batch_linger_ms` says
    /// otherwise (default [`DEFAULT_BATCH_LINGER`]).
    #[must_use]
    pub fn with_batch_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// The shared batcher of `config`'s token and `linger`, made on first use.
    fn batcher_for(&self, config: &GraphConfig, linger: Duration) -> Option<SharedBatcher> {
        let key = BatchKey::of(config).ok()?;
        let mut map = self.batchers.lock().unwrap_or_else(PoisonError::into_inner);
        Some(map.entry((key, linger)).or_insert_with(|| SharedBatcher::with_linger(linger)).clone())
    }

    /// The configuration `settings` describe for `user`, without connecting.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the key at fault.
    pub fn config(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<GraphConfig, BuildError> {
        let mut s = Settings::new(settings);
        let tenant: String = s.required("tenant")?;
        let mailbox: String = s.opt("mailbox")?.unwrap_or_else(|| user.to_owned());
        let method: String = s.opt("method")?.unwrap_or_else(|| "certificate".to_owned());
        let client_id: String = s.required("client_id")?;
        let auth = match method.as_str() {
            "certificate" => {
                // Not a secret, but read the same way (an environment variable or a file, relative
                // paths against the configuration's folder).
                let certificate_pem = s.secret("certificate", secrets)?.expose().to_owned();
                let algorithm = match s.opt::<String>("algorithm")?.as_deref() {
                    None | Some("ps256") => AssertionAlgorithm::Ps256,
                    Some("rs256") => AssertionAlgorithm::Rs256,
                    Some(other) => {
                        return Err(BuildError::Invalid {
                            key: "algorithm".to_owned(),
                            message: format!("`{other}` is not `ps256` or `rs256`"),
                        });
                    }
                };
                GraphAuth::Certificate {
                    client_id,
                    certificate_pem,
                    private_key_pem: s.secret("private_key", secrets)?,
                    algorithm,
                }
            }
            "client_secret" => GraphAuth::ClientSecret { client_id, secret: s.secret("client_secret", secrets)? },
            "auth_code_pkce" => GraphAuth::AuthCodePkce {
                client_id,
                client_secret: s.opt_secret("client_secret", secrets)?,
                refresh_token: s.secret("refresh_token", secrets)?,
                scopes: s.opt("scopes")?.unwrap_or_else(|| DELEGATED_SCOPES.iter().map(|x| (*x).to_owned()).collect()),
            },
            other => {
                return Err(BuildError::Invalid {
                    key: "method".to_owned(),
                    message: format!(
                        "`{other}` is not a method: use `certificate`, `client_secret` or `auth_code_pkce`"
                    ),
                });
            }
        };
        let mut config = GraphConfig::new(tenant, mailbox, auth);
        if let Some(v) = s.opt::<String>("authority")? {
            config = config.with_authority(v);
        }
        if let Some(v) = s.opt::<String>("graph_base")? {
            config = config.with_graph_base(v);
        }
        config.app_scope = s.opt("app_scope")?;
        if let Some(v) = s.opt::<String>("contact_folder")? {
            config = config.with_contact_folder(v);
        }
        if let Some(days) = s.opt::<u32>("window_past_days")? {
            config.window_past = chrono::Duration::days(i64::from(days));
        }
        if let Some(days) = s.opt::<u32>("window_future_days")? {
            config.window_future = chrono::Duration::days(i64::from(days));
        }
        if let Some(v) = s.opt("page_size")? {
            config.page_size = v;
        }
        if let Some(v) = s.opt("max_concurrency")? {
            config.max_concurrency = v;
        }
        if let Some(v) = s.opt("request_budget")? {
            config.request_budget = v;
        }
        if let Some(v) = s.opt_duration("budget_window")? {
            config.budget_window = v;
        }
        if let Some(v) = s.opt("all_day_zone")? {
            config.all_day_zone = v;
        }
        if let Some(v) = s.opt("max_item_retries")? {
            config.max_item_retries = v;
        }
        if let Some(v) = s.opt_duration("max_retry_wait")? {
            config.max_retry_wait = v;
        }
        if let Some(v) = s.opt("iana_zone_names")? {
            config.iana_zone_names = v;
        }
        let shared = s.opt::<bool>("shared_batch")?.unwrap_or(self.shared_batch);
        let linger = match s.opt::<u64>("batch_linger_ms")? {
            Some(ms) if ms > MAX_LINGER_MS => {
                return Err(BuildError::Invalid {
                    key: "batch_linger_ms".to_owned(),
                    message: format!("{ms} ms is more than the {MAX_LINGER_MS} ms allowed"),
                });
            }
            Some(ms) => Duration::from_millis(ms),
            None => self.linger,
        };
        s.finish()?;
        // Delegated connections have no batch key: their token is one user's.
        if shared && !matches!(config.auth, GraphAuth::AuthCodePkce { .. }) {
            config.shared_batcher = self.batcher_for(&config, linger);
        }
        Ok(config)
    }
}

impl ConnectorBuilder for GraphBuilder {
    fn provider(&self) -> &'static str {
        "graph"
    }

    fn build(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn Connector>, BuildError> {
        let config = self.config(user, settings, secrets)?;
        Ok(Arc::new(GraphConnector::new(config, self.http.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_connector::factory::EnvOrFileSecrets;

    #[test]
    fn the_user_fills_the_mailbox_and_inline_secrets_are_refused() {
        let b = GraphBuilder::new(HttpClient::with_defaults().unwrap());
        let var = format!("TANDEM_GRAPH_FACTORY_TEST_{}", std::process::id());
        let settings: toml::Table = toml::from_str(&format!(
            "tenant = \"contoso\"\nmethod = \"client_secret\"\nclient_id = \"id\"\nclient_secret = {{ env = \"{var}\" }}"
        ))
        .unwrap();
        let e = b.config("ann@contoso.example", &settings, &EnvOrFileSecrets::default()).unwrap_err();
        assert!(matches!(&e, BuildError::Secret { key, .. } if key == "client_secret"), "{e}");
        let inline: toml::Table = toml::from_str(
            "tenant = \"contoso\"\nmethod = \"client_secret\"\nclient_id = \"id\"\nclient_secret = \"s3cret\"",
        )
        .unwrap();
        let e = b.config("ann@contoso.example", &inline, &EnvOrFileSecrets::default()).unwrap_err();
        assert!(matches!(&e, BuildError::InlineSecret { key } if key == "client_secret"), "{e}");
        assert!(!e.to_string().contains("s3cret"));
    }

    #[test]
    fn app_only_connections_of_one_app_share_a_batcher_unless_told_not_to() {
        let b = GraphBuilder::new(HttpClient::with_defaults().unwrap());
        let var = format!("tandem-graph-factory-shared-{}", std::process::id());
        let path = std::env::temp_dir().join(format!("{var}.secret"));
        std::fs::write(&path, "s3cret").unwrap();
        let table = |extra: &str| -> toml::Table {
            toml::from_str(&format!(
                "tenant = \"contoso\"\nmethod = \"client_secret\"\nclient_id = \"id\"\nclient_secret = {{ file = {:?} }}\n{extra}",
                path.display().to_string()
            ))
            .unwrap()
        };
        let secrets = EnvOrFileSecrets::default();
        let ann = b.config("ann@contoso.example", &table(""), &secrets).unwrap();
        let bob = b.config("bob@contoso.example", &table(""), &secrets).unwrap();
        let (a, c) = (ann.shared_batcher.unwrap(), bob.shared_batcher.unwrap());
        assert!(a.same_as(&c), "one batcher for one app");
        assert_eq!(a.linger(), DEFAULT_BATCH_LINGER);
        let off = b.config("cy@contoso.example", &table("shared_batch = false"), &secrets).unwrap();
        assert!(off.shared_batcher.is_none());
        let slow = b.config("di@contoso.example", &table("batch_linger_ms = 20"), &secrets).unwrap();
        let slow = slow.shared_batcher.unwrap();
        assert!(!slow.same_as(&a) && slow.linger() == Duration::from_millis(20));
        let e = b.config("ed@contoso.example", &table("batch_linger_ms = 5000"), &secrets).unwrap_err();
        assert!(matches!(&e, BuildError::Invalid { key, .. } if key == "batch_linger_ms"), "{e}");
        let off_by_default = b.clone().with_shared_batch(false);
        assert!(off_by_default.config("fay@contoso.example", &table(""), &secrets).unwrap().shared_batcher.is_none());
        let delegated: toml::Table = toml::from_str(&format!(
            "tenant = \"contoso\"\nmethod = \"auth_code_pkce\"\nclient_id = \"id\"\nrefresh_token = {{ file = {:?} }}",
            path.display().to_string()
        ))
        .unwrap();
        assert!(b.config("gus@contoso.example", &delegated, &secrets).unwrap().shared_batcher.is_none());
        let _ = std::fs::remove_file(&path);
    }
}
