//! Building an [`EwsConnector`] from a connection's TOML settings (`[connections.NAME]` with
//! `provider = "ews"`): see [`EwsBuilder`].

use std::sync::Arc;

use tandem_connector::Connector;
use tandem_connector::factory::{BuildError, ConnectorBuilder, SecretResolver, Settings};
use tandem_connector::http::HttpClient;

use crate::config::{EwsAuth, EwsConfig, SyncKeyProperty};
use crate::connector::EwsConnector;

/// Builds Exchange Web Services connectors (`provider = "ews"`). One HTTP client is shared by
/// every connector it builds.
///
/// Settings (secrets by reference only, `{ env = "VAR" }` or `{ file = "/path" }`):
///
/// - `endpoint` (required): `https://mail.example.com/EWS/Exchange.asmx`.
/// - `mailbox`: the synced mailbox; default the user's address.
/// - `method`: `ntlm` (default) or `basic` (refused by the default policy); `username`,
///   `domain` (NTLM only), `password` (secret). OAuth bearer tokens are code, not configuration.
/// - optional: `impersonate` (default true), `server_version`, `contact_folder`, `sync_key`
///   (`{ property_set_id, name }`), `send_invitations`, `max_concurrency`,
///   `max_account_concurrency`, `max_response_bytes`, `get_item_batch`, `write_batch`.
#[derive(Clone)]
pub struct EwsBuilder {
    http: HttpClient,
}

impl std::fmt::Debug for EwsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsBuilder").finish_non_exhaustive()
    }
}

impl EwsBuilder {
    /// A builder whose connectors share `http`.
    pub fn new(http: HttpClient) -> Self {
        EwsBuilder { http }
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
    ) -> Result<EwsConfig, BuildError> {
        let mut s = Settings::new(settings);
        let endpoint: String = s.required("endpoint")?;
        let mailbox: String = s.opt("mailbox")?.unwrap_or_else(|| user.to_owned());
        let method: String = s.opt("method")?.unwrap_or_else(|| "ntlm".to_owned());
        let auth = match method.as_str() {
            "ntlm" => EwsAuth::Ntlm {
                username: s.required("username")?,
                domain: s.opt("domain")?.unwrap_or_default(),
                password: s.secret("password", secrets)?,
            },
            "basic" => EwsAuth::Basic { username: s.required("username")?, password: s.secret("password", secrets)? },
            other => {
                return Err(BuildError::Invalid {
                    key: "method".to_owned(),
                    message: format!("`{other}` is not a method: use `ntlm` or `basic`"),
                });
            }
        };
        let mut config = EwsConfig::new(endpoint, mailbox, auth);
        if let Some(v) = s.opt("impersonate")? {
            config.impersonate = v;
        }
        if let Some(v) = s.opt("server_version")? {
            config.server_version = v;
        }
        if let Some(v) = s.opt::<String>("contact_folder")? {
            config = config.with_contact_folder(v);
        }
        if let Some(v) = s.opt::<SyncKeyProperty>("sync_key")? {
            config.sync_key = v;
        }
        if let Some(v) = s.opt("send_invitations")? {
            config.send_invitations = v;
        }
        if let Some(v) = s.opt("max_concurrency")? {
            config.max_concurrency = v;
        }
        if let Some(v) = s.opt("max_account_concurrency")? {
            config.max_account_concurrency = v;
        }
        if let Some(v) = s.opt("max_response_bytes")? {
            config.max_response_bytes = v;
        }
        if let Some(v) = s.opt("get_item_batch")? {
            config.get_item_batch = v;
        }
        if let Some(v) = s.opt("write_batch")? {
            config.write_batch = v;
        }
        s.finish()?;
        config.validate()?;
        Ok(config)
    }
}

impl ConnectorBuilder for EwsBuilder {
    fn provider(&self) -> &'static str {
        "ews"
    }

    fn build(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn Connector>, BuildError> {
        let config = self.config(user, settings, secrets)?;
        Ok(Arc::new(EwsConnector::new(config, self.http.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_connector::factory::EnvOrFileSecrets;

    #[test]
    fn inline_passwords_are_refused_and_the_user_is_the_mailbox() {
        let b = EwsBuilder::new(HttpClient::with_defaults().unwrap());
        let inline: toml::Table = toml::from_str(
            "endpoint = \"https://mail.example.com/EWS/Exchange.asmx\"\nusername = \"svc\"\npassword = \"pw\"",
        )
        .unwrap();
        let e = b.config("ann@example.com", &inline, &EnvOrFileSecrets::default()).unwrap_err();
        assert!(matches!(&e, BuildError::InlineSecret { key } if key == "password"), "{e}");
        let dir = std::env::temp_dir().join(format!("tandem-ews-factory-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "pw").unwrap();
        let ok: toml::Table = toml::from_str(
            "endpoint = \"https://mail.example.com/EWS/Exchange.asmx\"\nusername = \"svc\"\npassword = { file = \"pw\" }",
        )
        .unwrap();
        let config = b.config("ann@example.com", &ok, &EnvOrFileSecrets::relative_to(&dir)).unwrap();
        assert_eq!(config.mailbox, "ann@example.com");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
