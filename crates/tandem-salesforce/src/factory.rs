//! Building a [`SalesforceConnector`] from a connection's TOML settings
//! (`[connections.NAME]` with `provider = "salesforce"`): see [`SalesforceBuilder`].

use std::sync::Arc;

use tandem_connector::Connector;
use tandem_connector::factory::{BuildError, ConnectorBuilder, SecretResolver, Settings};
use tandem_connector::http::HttpClient;
use url::Url;

use crate::SalesforceConnector;
use crate::config::{
    AddressMapping, AuthConfig, ContactScope, CustomField, FieldCondition, RelatedRecords, SalesforceConfig,
    SyncKeyConfig,
};

/// Builds Salesforce connectors (`provider = "salesforce"`). One HTTP client (one connection
/// pool) is shared by every connector it builds.
///
/// Settings (secrets by reference only, `{ env = "VAR" }` or `{ file = "/path" }`):
///
/// - `login_url` (required): `https://login.salesforce.com`, `https://test.salesforce.com` or
///   the org's My Domain.
/// - `method`: `jwt_bearer` (default), `client_credentials` or `refresh_token`.
/// - `jwt_bearer`: `consumer_key`, `private_key` (secret, PEM); the assertion's subject is the
///   user's Salesforce username (the `user` given to the builder: the assignment's `crm_user`,
///   else the user's address).
/// - `client_credentials`: `client_id`, `client_secret` (secret), optional `username`.
/// - `refresh_token`: `client_id`, optional `client_secret` (secret), `refresh_token` (secret),
///   optional `username`.
/// - optional: `audience`, `instance_url`, `api_version`, `scopes`, `user_id`, `time_zone`,
///   `contact_scope` (`owned`|`all_visible`), `contact_filter` (list of `{ field, op, value }`),
///   `middle_name`, `addresses` (`{ mailing, other }`), `include_followed`, `related` (table),
///   `contact_custom_fields`, `event_custom_fields` (lists of `{ name, max_len }`), `sync_key`
///   (`{ field, mode }`), `budget_stop_at_share`, `budget_recheck_after`, `overlap`,
///   `session_lifetime` (durations: seconds or `"5m"`).
#[derive(Clone)]
pub struct SalesforceBuilder {
    http: HttpClient,
}

impl std::fmt::Debug for SalesforceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceBuilder").finish_non_exhaustive()
    }
}

impl SalesforceBuilder {
    /// A builder whose connectors share `http`.
    pub fn new(http: HttpClient) -> Self {
        SalesforceBuilder { http }
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
    ) -> Result<SalesforceConfig, BuildError> {
        let mut s = Settings::new(settings);
        let login: String = s.required("login_url")?;
        let login_url = parse_url("login_url", &login)?;
        let method: String = s.opt("method")?.unwrap_or_else(|| "jwt_bearer".to_owned());
        let auth = match method.as_str() {
            "jwt_bearer" => AuthConfig::JwtBearer {
                consumer_key: s.required("consumer_key")?,
                username: user.to_owned(),
                private_key_pem: s.secret("private_key", secrets)?,
            },
            "client_credentials" => AuthConfig::ClientCredentials {
                client_id: s.required("client_id")?,
                client_secret: s.secret("client_secret", secrets)?,
                username: s.opt("username")?,
            },
            "refresh_token" => AuthConfig::RefreshToken {
                client_id: s.required("client_id")?,
                client_secret: s.opt_secret("client_secret", secrets)?,
                refresh_token: s.secret("refresh_token", secrets)?,
                username: s.opt("username")?,
            },
            other => {
                return Err(BuildError::Invalid {
                    key: "method".to_owned(),
                    message: format!(
                        "`{other}` is not a method: use `jwt_bearer`, `client_credentials` or `refresh_token`"
                    ),
                });
            }
        };
        let mut config = SalesforceConfig::new(auth, login_url);
        config.audience = s.opt("audience")?;
        if let Some(url) = s.opt::<String>("instance_url")? {
            config.instance_url = Some(parse_url("instance_url", &url)?);
        }
        if let Some(v) = s.opt("api_version")? {
            config.api_version = v;
        }
        if let Some(v) = s.opt("scopes")? {
            config.scopes = v;
        }
        config.user_id = s.opt("user_id")?;
        config.time_zone = s.opt("time_zone")?;
        if let Some(v) = s.opt::<ContactScope>("contact_scope")? {
            config.contact_scope = v;
        }
        if let Some(v) = s.opt::<Vec<FieldCondition>>("contact_filter")? {
            config.contact_filter = v;
        }
        if let Some(v) = s.opt("middle_name")? {
            config.middle_name = v;
        }
        if let Some(v) = s.opt::<AddressMapping>("addresses")? {
            config.addresses = v;
        }
        if let Some(v) = s.opt("include_followed")? {
            config.include_followed = v;
        }
        if let Some(v) = s.opt::<RelatedRecords>("related")? {
            config.related = v;
        }
        if let Some(v) = s.opt::<Vec<CustomField>>("contact_custom_fields")? {
            config.contact_custom_fields = v;
        }
        if let Some(v) = s.opt::<Vec<CustomField>>("event_custom_fields")? {
            config.event_custom_fields = v;
        }
        if let Some(v) = s.opt::<SyncKeyConfig>("sync_key")? {
            config.sync_key = v;
        }
        if let Some(v) = s.opt::<f64>("budget_stop_at_share")? {
            config.budget.stop_at_share = v;
        }
        if let Some(v) = s.opt_duration("budget_recheck_after")? {
            config.budget.recheck_after = v;
        }
        if let Some(v) = s.opt_duration("overlap")? {
            config.overlap = v;
        }
        if let Some(v) = s.opt_duration("session_lifetime")? {
            config.session_lifetime = v;
        }
        s.finish()?;
        config.validate()?;
        Ok(config)
    }
}

fn parse_url(key: &str, text: &str) -> Result<Url, BuildError> {
    Url::parse(text).map_err(|e| BuildError::Invalid { key: key.to_owned(), message: format!("invalid URL: {e}") })
}

impl ConnectorBuilder for SalesforceBuilder {
    fn provider(&self) -> &'static str {
        "salesforce"
    }

    fn build(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn Connector>, BuildError> {
        let config = self.config(user, settings, secrets)?;
        Ok(Arc::new(SalesforceConnector::new(config, self.http.clone())?))
    }

    fn build_feed(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn tandem_connector::feed::OrgFeed>, BuildError> {
        let config = self.config(user, settings, secrets)?;
        Ok(Arc::new(crate::SalesforceFeed::new(SalesforceConnector::new(config, self.http.clone())?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_connector::factory::EnvOrFileSecrets;

    fn builder() -> SalesforceBuilder {
        SalesforceBuilder::new(HttpClient::with_defaults().unwrap())
    }

    #[test]
    fn reads_settings_and_refuses_inline_secrets_and_unknown_keys() {
        let dir = std::env::temp_dir().join(format!("tandem-sf-factory-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("key.pem"), "PEM").unwrap();
        let secrets = EnvOrFileSecrets::relative_to(&dir);
        let ok: toml::Table = toml::from_str(
            "login_url = \"https://login.salesforce.com\"\nconsumer_key = \"ck\"\nprivate_key = { file = \"key.pem\" }\n\
             contact_scope = \"all_visible\"\noverlap = \"5m\"",
        )
        .unwrap();
        let config = builder().config("ada@example.com", &ok, &secrets).unwrap();
        assert_eq!(config.auth.username(), Some("ada@example.com"));
        assert_eq!(config.contact_scope, ContactScope::AllVisible);
        assert_eq!(config.overlap.as_secs(), 300);

        let inline: toml::Table = toml::from_str(
            "login_url = \"https://login.salesforce.com\"\nconsumer_key = \"ck\"\nprivate_key = \"-----BEGIN\"",
        )
        .unwrap();
        let e = builder().config("u", &inline, &secrets).unwrap_err();
        assert!(matches!(&e, BuildError::InlineSecret { key } if key == "private_key"), "{e}");
        assert!(!e.to_string().contains("BEGIN"));

        let unknown: toml::Table = toml::from_str(
            "login_url = \"https://login.salesforce.com\"\nconsumer_key = \"ck\"\nprivate_key = { file = \"key.pem\" }\nfoo = 1",
        )
        .unwrap();
        assert_eq!(builder().config("u", &unknown, &secrets).unwrap_err().key(), Some("foo"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
