//! How an [`crate::EwsConnector`] reaches a mailbox: the EWS endpoint, credentials, the mailbox
//! it impersonates, and the knobs of reading and writing. Loadable from TOML (unknown keys are
//! refused), except OAuth credentials, whose token source is code.

use std::sync::Arc;

use serde::Deserialize;
use tandem_connector::ConnectorError;
use tandem_connector::http::{Secret, TokenSource, check_endpoint};
use url::Url;

/// The property set (a GUID of Tandem's own) of the extended property holding idempotency keys;
/// the same namespace the Graph connector uses, so an item keeps its key whichever API reads it.
pub const SYNC_KEY_PROPERTY_SET: &str = "66f5a359-4659-4830-9070-00047ec6ac6e";

/// The name of the extended property holding idempotency keys.
pub const SYNC_KEY_PROPERTY_NAME: &str = "TandemSyncId";

/// The credentials of a connection. Each variant is one connection method the security policy
/// allows or forbids ([`EwsAuth::method`]).
#[derive(Clone, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum EwsAuth {
    /// NTLM (on-premises Exchange), with a service account holding the ApplicationImpersonation
    /// role. Policy method `ntlm`.
    Ntlm {
        /// The account name, without the domain.
        username: String,
        /// The NetBIOS domain (or empty for a local account).
        #[serde(default)]
        domain: String,
        /// The password.
        password: Secret,
    },
    /// HTTP Basic over TLS. Policy method `basic`, which the default policy refuses for EWS (it
    /// sends the password with every request); a policy that lists it allows it, over TLS only.
    Basic {
        /// The user name (`DOMAIN\user` or a UPN).
        username: String,
        /// The password.
        password: Secret,
    },
    /// OAuth 2.0 bearer tokens (Exchange Online while EWS lasts, or Hybrid Modern Auth on
    /// premises), from any [`TokenSource`] (cached in a `TokenCache`). Not loadable from TOML.
    #[serde(skip)]
    Bearer {
        /// The policy method the token source uses: `client_credentials_certificate`
        /// (app-only, `full_access_as_app`) or `auth_code_pkce` (delegated,
        /// `EWS.AccessAsUser.All`).
        method: String,
        /// The scopes requested, as the policy checks them.
        scopes: Vec<String>,
        /// Where tokens come from.
        tokens: Arc<dyn TokenSource>,
    },
}

impl EwsAuth {
    /// The connection method, as [`tandem_connector::ConnectionInfo::method`] names it.
    pub fn method(&self) -> &str {
        match self {
            EwsAuth::Ntlm { .. } => "ntlm",
            EwsAuth::Basic { .. } => "basic",
            EwsAuth::Bearer { method, .. } => method,
        }
    }

    /// The OAuth scopes requested (none for NTLM and Basic).
    pub fn scopes(&self) -> Vec<String> {
        match self {
            EwsAuth::Bearer { scopes, .. } => scopes.clone(),
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Debug for EwsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EwsAuth::Ntlm { username, domain, .. } => f
                .debug_struct("Ntlm")
                .field("username", username)
                .field("domain", domain)
                .field("password", &"***")
                .finish(),
            EwsAuth::Basic { username, .. } => {
                f.debug_struct("Basic").field("username", username).field("password", &"***").finish()
            }
            EwsAuth::Bearer { method, scopes, .. } => {
                f.debug_struct("Bearer").field("method", method).field("scopes", scopes).finish_non_exhaustive()
            }
        }
    }
}

/// The extended property that holds Tandem's idempotency key on the items it creates: a named
/// string property (`DistinguishedPropertySetId`-less, `PropertySetId` = a GUID).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncKeyProperty {
    /// The property set GUID. Default [`SYNC_KEY_PROPERTY_SET`].
    pub property_set_id: String,
    /// The property name. Default [`SYNC_KEY_PROPERTY_NAME`].
    pub name: String,
}

impl Default for SyncKeyProperty {
    fn default() -> Self {
        SyncKeyProperty { property_set_id: SYNC_KEY_PROPERTY_SET.to_owned(), name: SYNC_KEY_PROPERTY_NAME.to_owned() }
    }
}

fn default_version() -> String {
    "Exchange2016".to_owned()
}
fn default_folder() -> String {
    "Salesforce_Sync".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_concurrency() -> usize {
    4
}
fn default_account_concurrency() -> usize {
    27
}
fn default_max_response() -> usize {
    32 * 1024 * 1024
}
fn default_get_batch() -> usize {
    10
}
fn default_write_batch() -> usize {
    20
}

/// The configuration of one mailbox connection.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EwsConfig {
    /// The EWS endpoint, e.g. `https://mail.example.com/EWS/Exchange.asmx`: `https://` only,
    /// `http://` to loopback hosts for tests and fakes.
    pub endpoint: String,
    /// The synced mailbox's primary SMTP address: impersonated (`ExchangeImpersonation`) and
    /// sent as `X-AnchorMailbox` on every call.
    pub mailbox: String,
    /// The credentials.
    pub auth: EwsAuth,
    /// Whether to impersonate [`mailbox`](Self::mailbox) (service accounts, app-only OAuth).
    /// False for delegated connections that act as the mailbox's owner. Default true.
    #[serde(default = "default_true")]
    pub impersonate: bool,
    /// `RequestServerVersion`. Default `Exchange2016` (also right for Exchange 2019 and SE).
    #[serde(default = "default_version")]
    pub server_version: String,
    /// The display name of the synced contacts folder, created under Contacts when missing.
    /// Default `Salesforce_Sync`.
    #[serde(default = "default_folder")]
    pub contact_folder: String,
    /// The extended property holding idempotency keys.
    #[serde(default)]
    pub sync_key: SyncKeyProperty,
    /// Send meeting invitations and cancellations to attendees when writing events. Default
    /// false (`SendToNone`): the CRM copies a meeting, it does not schedule it.
    #[serde(default)]
    pub send_invitations: bool,
    /// Calls in flight per mailbox at most (Exchange's `EWSMaxConcurrency` is 27 since 2013,
    /// shared with the user's other clients). Default 4.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Calls in flight at most for the service account, across every mailbox it serves in this
    /// process: one bound per (endpoint, account) shared by every [`crate::EwsConnector`] using
    /// that account (Exchange's `EWSMaxConcurrency` applies per account too). The first
    /// connector of an account sets the bound while any connector of it lives. Default 27.
    #[serde(default = "default_account_concurrency")]
    pub max_account_concurrency: usize,
    /// The largest response accepted, in bytes. Default 32 MiB.
    #[serde(default = "default_max_response")]
    pub max_response_bytes: usize,
    /// Items per `GetItem` call. Default 10 (Microsoft's advice for sync).
    #[serde(default = "default_get_batch")]
    pub get_item_batch: usize,
    /// Writes per `CreateItem`/`UpdateItem`/`DeleteItem` call (the engine's batch size).
    /// Default 20.
    #[serde(default = "default_write_batch")]
    pub write_batch: usize,
}

impl EwsConfig {
    /// A connection to `mailbox` at `endpoint` with the defaults above.
    pub fn new(endpoint: impl Into<String>, mailbox: impl Into<String>, auth: EwsAuth) -> Self {
        EwsConfig {
            endpoint: endpoint.into(),
            mailbox: mailbox.into(),
            auth,
            impersonate: true,
            server_version: default_version(),
            contact_folder: default_folder(),
            sync_key: SyncKeyProperty::default(),
            send_invitations: false,
            max_concurrency: default_concurrency(),
            max_account_concurrency: default_account_concurrency(),
            max_response_bytes: default_max_response(),
            get_item_batch: default_get_batch(),
            write_batch: default_write_batch(),
        }
    }

    /// Builder: the synced contacts folder's display name.
    #[must_use]
    pub fn with_contact_folder(mut self, name: impl Into<String>) -> Self {
        self.contact_folder = name.into();
        self
    }

    /// The endpoint, parsed and checked (`https://`, or `http://` to loopback).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for a URL that does not parse or is refused.
    pub fn endpoint_url(&self) -> Result<Url, ConnectorError> {
        let url = Url::parse(self.endpoint.trim())
            .map_err(|e| ConnectorError::Config { message: format!("invalid EWS endpoint URL: {e}") })?;
        check_endpoint(&url)?;
        Ok(url)
    }

    /// Checks every setting.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        let bad = |m: &str| Err(ConnectorError::Config { message: m.to_owned() });
        self.endpoint_url()?;
        let mailbox = self.mailbox.trim();
        if mailbox.is_empty() || !mailbox.contains('@') || mailbox.chars().any(char::is_whitespace) {
            return bad("the mailbox must be an SMTP address");
        }
        if self.contact_folder.trim().is_empty() {
            return bad("the contact folder name is required");
        }
        if self.server_version.trim().is_empty() || !self.server_version.starts_with("Exchange") {
            return bad("the server version must be an ExchangeVersionType such as Exchange2016");
        }
        if !is_guid(&self.sync_key.property_set_id) || self.sync_key.name.trim().is_empty() {
            return bad("the sync key property needs a GUID property set and a name");
        }
        if self.max_concurrency == 0 || self.max_concurrency > 27 {
            return bad("max_concurrency must be between 1 and 27 (Exchange's EWSMaxConcurrency)");
        }
        if self.max_account_concurrency == 0 || self.max_account_concurrency > 1000 {
            return bad("max_account_concurrency must be between 1 and 1000");
        }
        if self.get_item_batch == 0 || self.get_item_batch > 100 || self.write_batch == 0 || self.write_batch > 100 {
            return bad("batch sizes must be between 1 and 100");
        }
        if self.max_response_bytes < 64 * 1024 {
            return bad("max_response_bytes must be at least 64 KiB");
        }
        match &self.auth {
            EwsAuth::Bearer { method, .. }
                if !["client_credentials_certificate", "client_credentials_secret", "auth_code_pkce"]
                    .contains(&method.as_str()) =>
            {
                bad(
                    "bearer tokens come from client_credentials_certificate, client_credentials_secret or auth_code_pkce",
                )
            }
            EwsAuth::Ntlm { username, password, .. } | EwsAuth::Basic { username, password }
                if username.trim().is_empty() || password.is_empty() =>
            {
                bad("a user name and a password are required")
            }
            _ => Ok(()),
        }
    }
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ntlm() -> EwsAuth {
        EwsAuth::Ntlm { username: "svc".into(), domain: "CORP".into(), password: Secret::new("hunter2-secret") }
    }

    #[test]
    fn defaults_validate() {
        let c = EwsConfig::new("https://mail.example.com/EWS/Exchange.asmx", "ada@example.com", ntlm());
        assert!(c.validate().is_ok());
        assert_eq!(c.server_version, "Exchange2016");
        assert_eq!(c.contact_folder, "Salesforce_Sync");
        assert!(!c.send_invitations);
    }

    #[test]
    fn endpoints_are_checked() {
        for bad in ["http://mail.example.com/EWS/Exchange.asmx", "ftp://x/", "not a url", "https://u:p@h/EWS"] {
            let c = EwsConfig::new(bad, "ada@example.com", ntlm());
            assert!(matches!(c.validate(), Err(ConnectorError::Config { .. })), "{bad}");
        }
        let c = EwsConfig::new("http://127.0.0.1:8080/EWS/Exchange.asmx", "ada@example.com", ntlm());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn other_settings_are_checked() {
        let base = EwsConfig::new("https://mail.example.com/EWS/Exchange.asmx", "ada@example.com", ntlm());
        let mut c = base.clone();
        c.mailbox = "not-an-address".into();
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.max_concurrency = 0;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.max_account_concurrency = 0;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.sync_key.property_set_id = "nope".into();
        assert!(c.validate().is_err());
        let mut c = base;
        c.auth = EwsAuth::Basic { username: "u".into(), password: Secret::new("") };
        assert!(c.validate().is_err());
    }

    #[test]
    fn bearer_methods_are_checked() {
        struct NoTokens;
        #[async_trait::async_trait]
        impl TokenSource for NoTokens {
            async fn fetch_token(&self) -> Result<tandem_connector::http::AccessToken, ConnectorError> {
                Err(ConnectorError::Auth { refreshable: false, message: "none".into() })
            }
        }
        let bearer = |method: &str| EwsAuth::Bearer {
            method: method.into(),
            scopes: vec!["https://outlook.office365.com/.default".into()],
            tokens: Arc::new(NoTokens),
        };
        let config = |auth| EwsConfig::new("https://outlook.office365.com/EWS/Exchange.asmx", "ada@example.com", auth);
        assert!(config(bearer("client_credentials_certificate")).validate().is_ok());
        assert!(config(bearer("password")).validate().is_err());
        assert_eq!(bearer("auth_code_pkce").scopes(), vec!["https://outlook.office365.com/.default".to_owned()]);
        assert!(!format!("{:?}", bearer("auth_code_pkce")).contains("tokens:"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = EwsConfig::new("https://mail.example.com/EWS/Exchange.asmx", "ada@example.com", ntlm());
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("svc"));
        let basic = EwsAuth::Basic { username: "u".into(), password: Secret::new("hunter2-secret") };
        assert!(!format!("{basic:?}").contains("hunter2"));
    }

    #[test]
    fn loads_from_toml_and_refuses_unknown_keys() {
        let text = r#"
            endpoint = "https://mail.example.com/EWS/Exchange.asmx"
            mailbox = "ada@example.com"
            contact_folder = "CRM"
            send_invitations = true
            [auth]
            method = "ntlm"
            username = "svc"
            domain = "CORP"
            password = "hunter2-secret"
        "#;
        let c: EwsConfig = toml::from_str(text).unwrap();
        assert_eq!(c.contact_folder, "CRM");
        assert_eq!(c.auth.method(), "ntlm");
        assert!(c.send_invitations);
        assert!(c.validate().is_ok());
        let unknown = format!("{text}\nextra = 1\n");
        assert!(toml::from_str::<EwsConfig>(&unknown).is_err());
        let bearer = text.replace("method = \"ntlm\"", "method = \"bearer\"");
        assert!(toml::from_str::<EwsConfig>(&bearer).is_err());
    }
}
