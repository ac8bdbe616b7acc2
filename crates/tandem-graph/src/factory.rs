//! Building a [`GraphConnector`] from a connection's TOML settings (`[connections.NAME]` with
//! `provider = "graph"`): see [`GraphBuilder`].

use std::sync::Arc;

use tandem_connector::Connector;
use tandem_connector::factory::{BuildError, ConnectorBuilder, SecretResolver, Settings};
use tandem_connector::http::HttpClient;

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
#[derive(Clone)]
pub struct GraphBuilder {
    http: HttpClient,
}

impl std::fmt::Debug for GraphBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphBuilder").finish_non_exhaustive()
    }
}

impl GraphBuilder {
    /// A builder whose connectors share `http`.
    pub fn new(http: HttpClient) -> Self {
        GraphBuilder { http }
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
        s.finish()?;
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
}
