//! Building a [`GoogleConnector`] from a connection's TOML settings (`[connections.NAME]` with
//! `provider = "google"`): see [`GoogleBuilder`]. Uses only the public builder API of
//! [`GoogleConfig`].

use std::sync::Arc;

use tandem_connector::Connector;
use tandem_connector::factory::{BuildError, ConnectorBuilder, SecretResolver, Settings};
use tandem_connector::http::HttpClient;

use crate::{GoogleConfig, GoogleConnector, ServiceAccountKey};

/// The keys of [`GoogleConfig`] a connection may set (everything but credentials and the user).
const CONFIG_KEYS: [&str; 13] = [
    "token_url",
    "auth_url",
    "calendar_base",
    "people_base",
    "batch_url",
    "batch_size",
    "calendar_id",
    "contact_group",
    "send_updates",
    "window_past_days",
    "window_future_days",
    "page_size",
    "assertion_lifetime_secs",
];

/// Builds Google Workspace connectors (`provider = "google"`). One HTTP client is shared by
/// every connector it builds.
///
/// Settings (secrets by reference only, `{ env = "VAR" }` or `{ file = "/path" }`):
///
/// - `method`: `service_account` (default: domain-wide delegation, one key for every user) with
///   `service_account_key` (secret: the key's JSON), or `auth_code_pkce` (per-user OAuth) with
///   `client_id`, optional `client_secret` (secret) and `refresh_token` (secret).
/// - The synced user is the user's address (the JWT subject); `user` overrides it.
/// - optional, as [`GoogleConfig`] names them: `token_url`, `auth_url`, `calendar_base`,
///   `people_base`, `batch_url`, `batch_size`, `calendar_id`, `contact_group`, `send_updates`,
///   `window_past_days`, `window_future_days`, `page_size`, `assertion_lifetime_secs`.
#[derive(Clone)]
pub struct GoogleBuilder {
    http: HttpClient,
}

impl std::fmt::Debug for GoogleBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleBuilder").finish_non_exhaustive()
    }
}

impl GoogleBuilder {
    /// A builder whose connectors share `http`.
    pub fn new(http: HttpClient) -> Self {
        GoogleBuilder { http }
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
    ) -> Result<GoogleConfig, BuildError> {
        let mut s = Settings::new(settings);
        let mut plain = toml::Table::new();
        for key in CONFIG_KEYS {
            if let Some(value) = s.opt::<toml::Value>(key)? {
                plain.insert(key.to_owned(), value);
            }
        }
        let user: String = s.opt("user")?.unwrap_or_else(|| user.to_owned());
        plain.insert("user".to_owned(), toml::Value::String(user));
        let method: String = s.opt("method")?.unwrap_or_else(|| "service_account".to_owned());
        let config: GoogleConfig = toml::Value::Table(plain).try_into().map_err(|e: toml::de::Error| {
            let message = e.message().trim().to_owned();
            let key = CONFIG_KEYS.iter().find(|k| message.contains(&format!("`{k}`"))).map_or("", |k| k);
            BuildError::Invalid { key: key.to_owned(), message }
        })?;
        let config = match method.as_str() {
            "service_account" => {
                let json = s.secret("service_account_key", secrets)?;
                config.with_service_account(ServiceAccountKey::from_json(&json)?)
            }
            "auth_code_pkce" => {
                let client_id: String = s.required("client_id")?;
                let client_secret = s.opt_secret("client_secret", secrets)?;
                let refresh_token = s.secret("refresh_token", secrets)?;
                config.with_user_oauth(client_id, client_secret, refresh_token)
            }
            other => {
                return Err(BuildError::Invalid {
                    key: "method".to_owned(),
                    message: format!("`{other}` is not a method: use `service_account` or `auth_code_pkce`"),
                });
            }
        };
        s.finish()?;
        config.validate()?;
        Ok(config)
    }
}

impl ConnectorBuilder for GoogleBuilder {
    fn provider(&self) -> &'static str {
        "google"
    }

    fn build(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn Connector>, BuildError> {
        let config = self.config(user, settings, secrets)?;
        Ok(Arc::new(GoogleConnector::new(config, self.http.clone())?))
    }
}

#[cfg(test)]
mod factory_tests {
    use super::*;
    use tandem_connector::factory::EnvOrFileSecrets;

    #[test]
    fn credentials_are_references_and_unknown_keys_are_named() {
        let b = GoogleBuilder::new(HttpClient::with_defaults().unwrap());
        let inline: toml::Table = toml::from_str("service_account_key = \"{}\"").unwrap();
        let e = b.config("ann@example.com", &inline, &EnvOrFileSecrets::default()).unwrap_err();
        assert!(matches!(&e, BuildError::InlineSecret { key } if key == "service_account_key"), "{e}");
        let dir = std::env::temp_dir().join(format!("tandem-google-factory-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rt"), "refresh").unwrap();
        let secrets = EnvOrFileSecrets::relative_to(&dir);
        let unknown: toml::Table = toml::from_str(
            "method = \"auth_code_pkce\"\nclient_id = \"c\"\nrefresh_token = { file = \"rt\" }\ncalendar = \"x\"",
        )
        .unwrap();
        let e = b.config("ann@example.com", &unknown, &secrets).unwrap_err();
        assert_eq!(e.key(), Some("calendar"), "{e}");
        let ok: toml::Table = toml::from_str(
            "method = \"auth_code_pkce\"\nclient_id = \"c\"\nrefresh_token = { file = \"rt\" }\ncalendar_id = \"team\"",
        )
        .unwrap();
        let config = b.config("ann@example.com", &ok, &secrets).unwrap();
        assert_eq!(config.user, "ann@example.com");
        assert_eq!(config.calendar_id, "team");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
