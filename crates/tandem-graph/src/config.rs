//! How a [`crate::GraphConnector`] reaches a mailbox: tenant, mailbox, credentials, endpoints
//! and the knobs of reading and writing.

use std::time::Duration;

use tandem_connector::ConnectorError;
use tandem_connector::http::Secret;
use url::Url;

use crate::coalesce::SharedBatcher;

/// The Microsoft identity platform of the global cloud.
pub const GLOBAL_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Microsoft Graph v1.0 in the global cloud.
pub const GLOBAL_GRAPH: &str = "https://graph.microsoft.com/v1.0";

/// The app-only scope of the global cloud.
pub const GLOBAL_APP_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The delegated permissions Tandem asks for.
pub const DELEGATED_SCOPES: [&str; 3] = ["Calendars.ReadWrite", "Contacts.ReadWrite", "offline_access"];

/// The single-value extended property that carries Tandem's idempotency key on the items it
/// creates (a string property in a GUID namespace of Tandem's own).
pub const SYNC_KEY_PROPERTY: &str = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name TandemSyncId";

/// The `client_assertion_type` of certificate credentials.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the client assertion of certificate credentials is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlgorithm {
    /// `PS256` with the certificate's SHA-256 thumbprint in `x5t#S256` (current documentation).
    #[default]
    Ps256,
    /// `RS256` with the certificate's SHA-1 thumbprint in `x5t` (older documentation, still accepted).
    Rs256,
}

/// The credentials of a connection. Each variant is one connection method the security policy
/// can allow or forbid ([`GraphAuth::method`]).
#[derive(Debug, Clone)]
pub enum GraphAuth {
    /// App-only: client credentials with a client secret (`client_credentials_secret`).
    ClientSecret {
        /// The app (client) id.
        client_id: String,
        /// The client secret.
        secret: Secret,
    },
    /// App-only: client credentials with a certificate (`client_credentials_certificate`): a
    /// signed client assertion instead of a secret.
    Certificate {
        /// The app (client) id.
        client_id: String,
        /// The certificate registered on the app (PEM); its thumbprint goes in the assertion header.
        certificate_pem: String,
        /// The certificate's RSA private key (PEM, PKCS#1 or PKCS#8).
        private_key_pem: Secret,
        /// PS256 with `x5t#S256` (default) or RS256 with `x5t`.
        algorithm: AssertionAlgorithm,
    },
    /// Delegated: a refresh token obtained with the authorization code flow and PKCE
    /// (`auth_code_pkce`); see [`crate::auth::AuthorizationRequest`].
    AuthCodePkce {
        /// The app (client) id.
        client_id: String,
        /// The client secret of a confidential client; `None` for a public client.
        client_secret: Option<Secret>,
        /// The refresh token. Rotated tokens are handed to [`GraphConfig::on_refresh_token`].
        refresh_token: Secret,
        /// The delegated scopes (default [`DELEGATED_SCOPES`]).
        scopes: Vec<String>,
    },
}

impl GraphAuth {
    /// The connection method, as [`tandem_connector::ConnectionInfo::method`] names it.
    pub fn method(&self) -> &'static str {
        match self {
            GraphAuth::ClientSecret { .. } => "client_credentials_secret",
            GraphAuth::Certificate { .. } => "client_credentials_certificate",
            GraphAuth::AuthCodePkce { .. } => "auth_code_pkce",
        }
    }

    /// The app (client) id.
    pub fn client_id(&self) -> &str {
        match self {
            GraphAuth::ClientSecret { client_id, .. }
            | GraphAuth::Certificate { client_id, .. }
            | GraphAuth::AuthCodePkce { client_id, .. } => client_id,
        }
    }

    /// A delegated connection with the default scopes.
    pub fn delegated(client_id: impl Into<String>, client_secret: Option<Secret>, refresh_token: Secret) -> Self {
        GraphAuth::AuthCodePkce {
            client_id: client_id.into(),
            client_secret,
            refresh_token,
            scopes: DELEGATED_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// Called with every new refresh token the identity platform issues, so the embedder can store
/// it (refresh tokens rotate). Never logged by Tandem. One type for every connector.
pub use tandem_connector::http::RefreshTokenHook;

/// The configuration of one mailbox connection.
#[derive(Clone)]
pub struct GraphConfig {
    /// The directory (tenant) id or domain.
    pub tenant: String,
    /// The mailbox: the user principal name (or primary SMTP address) of the synced user.
    pub mailbox: String,
    /// The credentials.
    pub auth: GraphAuth,
    /// The identity platform authority, without the tenant (default [`GLOBAL_AUTHORITY`];
    /// `https://login.microsoftonline.us` and `https://login.chinacloudapi.cn` for sovereign clouds).
    pub authority: String,
    /// The Graph base URL including the version (default [`GLOBAL_GRAPH`]).
    pub graph_base: String,
    /// The app-only scope; `None` derives it from the Graph host (`https://{host}/.default`, or
    /// [`GLOBAL_APP_SCOPE`] for a host that is not https).
    pub app_scope: Option<String>,
    /// The display name of the contact folder that is synced (created when missing). Default `Tandem`.
    pub contact_folder: String,
    /// How far back the calendar window reaches. Default 30 days.
    pub window_past: chrono::Duration,
    /// How far ahead the calendar window reaches. Default 365 days.
    pub window_future: chrono::Duration,
    /// How far the window may fall behind before a round moves it. Default 1 day.
    pub window_roll: chrono::Duration,
    /// `Prefer: odata.maxpagesize` of delta queries. Default 200.
    pub page_size: usize,
    /// Requests in flight per mailbox at most (a `$batch` counts as up to four). Default 4.
    pub max_concurrency: usize,
    /// The per-mailbox request budget (batch items count one each). Default 10,000.
    pub request_budget: u32,
    /// The window of the budget. Default 10 minutes.
    pub budget_window: Duration,
    /// The zone all-day events are written in (midnight to midnight). Default `UTC`.
    pub all_day_zone: String,
    /// Rounds of retries of throttled batch items. Default 5.
    pub max_item_retries: u32,
    /// The longest wait this connector sits out itself; longer waits are returned as
    /// [`ConnectorError::Throttled`] for the engine to schedule. Default 30 s.
    pub max_retry_wait: Duration,
    /// Lifetime of a client assertion (at most 10 minutes). Default 5 minutes.
    pub assertion_lifetime: Duration,
    /// The extended property that carries idempotency keys. Default [`SYNC_KEY_PROPERTY`].
    pub sync_key_property: String,
    /// Write IANA zone names in `dateTimeTimeZone` instead of Windows names. Default false:
    /// Windows names are what every Graph endpoint accepts.
    pub iana_zone_names: bool,
    /// Called with rotated refresh tokens (delegated connections).
    pub on_refresh_token: Option<RefreshTokenHook>,
    /// The cross-mailbox `$batch` coalescer this connection's batch items go through (app-only
    /// connections only; see [`SharedBatcher`]). Default `None`: the connector sends batches
    /// of its own.
    pub shared_batcher: Option<SharedBatcher>,
}

impl std::fmt::Debug for GraphConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphConfig")
            .field("tenant", &self.tenant)
            .field("mailbox", &self.mailbox)
            .field("method", &self.auth.method())
            .field("authority", &self.authority)
            .field("graph_base", &self.graph_base)
            .field("contact_folder", &self.contact_folder)
            .field("shared_batcher", &self.shared_batcher.is_some())
            .finish_non_exhaustive()
    }
}

fn parse_url(s: &str) -> Result<Url, ConnectorError> {
    Url::parse(s).map_err(|e| ConnectorError::Config { message: format!("invalid URL: {e}") })
}

impl GraphConfig {
    /// A connection to `mailbox` in `tenant` with the global cloud's endpoints and the defaults
    /// above.
    pub fn new(tenant: impl Into<String>, mailbox: impl Into<String>, auth: GraphAuth) -> Self {
        GraphConfig {
            tenant: tenant.into(),
            mailbox: mailbox.into(),
            auth,
            authority: GLOBAL_AUTHORITY.to_owned(),
            graph_base: GLOBAL_GRAPH.to_owned(),
            app_scope: None,
            contact_folder: "Tandem".to_owned(),
            window_past: chrono::Duration::days(30),
            window_future: chrono::Duration::days(365),
            window_roll: chrono::Duration::days(1),
            page_size: 200,
            max_concurrency: 4,
            request_budget: 10_000,
            budget_window: Duration::from_secs(600),
            all_day_zone: "UTC".to_owned(),
            max_item_retries: 5,
            max_retry_wait: Duration::from_secs(30),
            assertion_lifetime: Duration::from_secs(300),
            sync_key_property: SYNC_KEY_PROPERTY.to_owned(),
            iana_zone_names: false,
            on_refresh_token: None,
            shared_batcher: None,
        }
    }

    /// Builder: send this connection's batch items through `batcher`, mixed with other
    /// mailboxes' items of the same tenant, app and credential (app-only only: building a
    /// delegated connector with a batcher fails). See [`SharedBatcher`].
    #[must_use]
    pub fn with_shared_batcher(mut self, batcher: SharedBatcher) -> Self {
        self.shared_batcher = Some(batcher);
        self
    }

    /// Builder: the authority (sovereign clouds, the fake). Checked when the connector is built.
    pub fn with_authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = authority.into().trim_end_matches('/').to_owned();
        self
    }

    /// Builder: the Graph base URL including the version (sovereign clouds, the fake). Checked
    /// when the connector is built.
    pub fn with_graph_base(mut self, graph_base: impl Into<String>) -> Self {
        self.graph_base = graph_base.into().trim_end_matches('/').to_owned();
        self
    }

    /// The Graph base URL, parsed.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for a URL that does not parse.
    pub fn graph_base_url(&self) -> Result<Url, ConnectorError> {
        parse_url(self.graph_base.trim_end_matches('/'))
    }

    /// Builder: the synced contact folder's display name.
    pub fn with_contact_folder(mut self, name: impl Into<String>) -> Self {
        self.contact_folder = name.into();
        self
    }

    /// The token endpoint: `{authority}/{tenant}/oauth2/v2.0/token`.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when the tenant makes the URL invalid.
    pub fn token_url(&self) -> Result<Url, ConnectorError> {
        parse_url(&format!("{}/{}/oauth2/v2.0/token", self.authority.trim_end_matches('/'), self.tenant))
    }

    /// The authorize endpoint: `{authority}/{tenant}/oauth2/v2.0/authorize`.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when the tenant makes the URL invalid.
    pub fn authorize_url(&self) -> Result<Url, ConnectorError> {
        parse_url(&format!("{}/{}/oauth2/v2.0/authorize", self.authority.trim_end_matches('/'), self.tenant))
    }

    /// The scopes requested: the app-only `/.default` scope, or the delegated scopes.
    pub fn scopes(&self) -> Vec<String> {
        match &self.auth {
            GraphAuth::AuthCodePkce { scopes, .. } => scopes.clone(),
            _ => vec![self.app_scope.clone().unwrap_or_else(|| {
                match Url::parse(&self.graph_base).ok().as_ref().map(|u| (u.scheme(), u.host_str())) {
                    Some(("https", Some(host))) => format!("https://{host}/.default"),
                    _ => GLOBAL_APP_SCOPE.to_owned(),
                }
            })],
        }
    }
}
