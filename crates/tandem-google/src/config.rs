//! How a [`crate::GoogleConnector`] reaches one Workspace user: endpoints (overridable for
//! fakes), the user, the connection method ([`GoogleAuth`]), the calendar and contact group,
//! and the knobs of reading and writing.

use serde::Deserialize;
use tandem_connector::ConnectorError;
use tandem_connector::http::{RefreshTokenHook, Secret, check_endpoint};
use url::Url;

use crate::auth::{METHOD_SERVICE_ACCOUNT, METHOD_USER_OAUTH, ServiceAccountKey, UserOAuth};

/// Google's OAuth 2.0 token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's OAuth 2.0 authorization endpoint (the first leg of per-user OAuth).
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Calendar API v3 base.
pub const CALENDAR_BASE: &str = "https://www.googleapis.com/calendar/v3";
/// People API v1 base.
pub const PEOPLE_BASE: &str = "https://people.googleapis.com/v1";
/// Calendar's batch endpoint (the discovery document's `rootUrl` + `batchPath`).
pub const CALENDAR_BATCH_URL: &str = "https://www.googleapis.com/batch/calendar/v3";
/// Google's limit of calls in one Calendar batch.
pub const MAX_BATCH_SIZE: u32 = 1000;

/// Whom Google notifies of a write (`sendUpdates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendUpdates {
    /// Nobody (the default: Salesforce edits should not mail attendees).
    #[default]
    None,
    /// Every guest.
    All,
    /// Guests outside the domain only.
    ExternalOnly,
}

impl SendUpdates {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            SendUpdates::None => "none",
            SendUpdates::All => "all",
            SendUpdates::ExternalOnly => "externalOnly",
        }
    }
}

/// How a connection authenticates: the credentials set on a [`GoogleConfig`], exactly one
/// method (see [`GoogleConfig::auth`]).
#[derive(Debug, Clone, Copy)]
pub enum GoogleAuth<'a> {
    /// A service account with domain-wide delegation (`service_account`): one key for every
    /// user of the domain, once an admin granted the delegation.
    ServiceAccount(&'a ServiceAccountKey),
    /// Per-user OAuth (`auth_code_pkce`): the user's own consent, a refresh token.
    UserOAuth(&'a UserOAuth),
}

impl GoogleAuth<'_> {
    /// The connection method, as [`tandem_connector::ConnectionInfo::method`] and the policy
    /// name it: `service_account` or `auth_code_pkce`.
    pub fn method(&self) -> &'static str {
        match self {
            GoogleAuth::ServiceAccount(_) => METHOD_SERVICE_ACCOUNT,
            GoogleAuth::UserOAuth(_) => METHOD_USER_OAUTH,
        }
    }
}

/// The configuration of one user's connection. Deserialises from TOML (unknown keys refused);
/// credentials never come from that file: set them with [`GoogleConfig::with_service_account`]
/// or [`GoogleConfig::with_user_oauth`].
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoogleConfig {
    /// The Workspace user (primary email) whose calendar and contacts are synced: the JWT `sub`.
    pub user: String,
    /// The token endpoint. Default [`GOOGLE_TOKEN_URL`].
    pub token_url: String,
    /// The authorization endpoint of per-user OAuth. Default [`GOOGLE_AUTH_URL`].
    pub auth_url: String,
    /// The Calendar base URL. Default [`CALENDAR_BASE`].
    pub calendar_base: String,
    /// The People base URL. Default [`PEOPLE_BASE`].
    pub people_base: String,
    /// Calendar's batch endpoint. Default [`CALENDAR_BATCH_URL`].
    pub batch_url: String,
    /// Event writes per batch call (1..=[`MAX_BATCH_SIZE`]). Default 50.
    pub batch_size: u32,
    /// The calendar synced. Default `primary`.
    pub calendar_id: String,
    /// The contact group (by name) whose members are synced. Default `Salesforce Sync`.
    pub contact_group: String,
    /// `sendUpdates` on event writes. Default none.
    pub send_updates: SendUpdates,
    /// Days back of the first sync's window. Default 30.
    pub window_past_days: i64,
    /// Days ahead of the first sync's window. Default 365.
    pub window_future_days: i64,
    /// `maxResults`/`pageSize` of lists. Default 250.
    pub page_size: u32,
    /// Lifetime of the JWT assertion in seconds (at most 3600). Default 3600.
    pub assertion_lifetime_secs: u64,
    /// The service account's key (never read from TOML, never printed). Exclusive with
    /// [`user_oauth`](Self::user_oauth).
    #[serde(skip)]
    pub service_account: Option<ServiceAccountKey>,
    /// The credentials of per-user OAuth (never read from TOML, secrets never printed).
    /// Exclusive with [`service_account`](Self::service_account).
    #[serde(skip)]
    pub user_oauth: Option<UserOAuth>,
    /// Called with every new refresh token Google issues to a per-user OAuth connection, so the
    /// embedder can store it. Never logged.
    #[serde(skip)]
    pub on_refresh_token: Option<RefreshTokenHook>,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            user: String::new(),
            token_url: GOOGLE_TOKEN_URL.to_owned(),
            auth_url: GOOGLE_AUTH_URL.to_owned(),
            calendar_base: CALENDAR_BASE.to_owned(),
            people_base: PEOPLE_BASE.to_owned(),
            batch_url: CALENDAR_BATCH_URL.to_owned(),
            batch_size: 50,
            calendar_id: "primary".to_owned(),
            contact_group: "Salesforce Sync".to_owned(),
            send_updates: SendUpdates::None,
            window_past_days: 30,
            window_future_days: 365,
            page_size: 250,
            assertion_lifetime_secs: 3600,
            service_account: None,
            user_oauth: None,
            on_refresh_token: None,
        }
    }
}

impl std::fmt::Debug for GoogleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleConfig")
            .field("user", &self.user)
            .field("token_url", &self.token_url)
            .field("auth_url", &self.auth_url)
            .field("calendar_base", &self.calendar_base)
            .field("people_base", &self.people_base)
            .field("batch_url", &self.batch_url)
            .field("batch_size", &self.batch_size)
            .field("calendar_id", &self.calendar_id)
            .field("contact_group", &self.contact_group)
            .field("send_updates", &self.send_updates)
            .field("service_account", &self.service_account)
            .field("user_oauth", &self.user_oauth)
            .field("on_refresh_token", &self.on_refresh_token.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

fn config_error(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config { message: message.into() }
}

fn endpoint(s: &str) -> Result<Url, ConnectorError> {
    let url = Url::parse(s.trim_end_matches('/')).map_err(|e| config_error(format!("invalid URL `{s}`: {e}")))?;
    check_endpoint(&url)?;
    Ok(url)
}

impl GoogleConfig {
    /// Google's endpoints and the defaults above for `user`.
    pub fn new(user: impl Into<String>) -> Self {
        GoogleConfig { user: user.into(), ..GoogleConfig::default() }
    }

    /// Reads a configuration from TOML.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for invalid TOML or unknown keys.
    pub fn from_toml(text: &str) -> Result<Self, ConnectorError> {
        toml::from_str(text).map_err(|e| config_error(format!("google configuration: {}", e.message())))
    }

    /// Builder: the service account's key.
    #[must_use]
    pub fn with_service_account(mut self, key: ServiceAccountKey) -> Self {
        self.service_account = Some(key);
        self
    }

    /// Builder: per-user OAuth with the user's refresh token (see
    /// [`crate::auth::AuthorizationRequest`] and [`crate::auth::redeem_authorization_code`]).
    #[must_use]
    pub fn with_user_oauth(
        mut self,
        client_id: impl Into<String>,
        client_secret: Option<Secret>,
        refresh_token: Secret,
    ) -> Self {
        self.user_oauth = Some(UserOAuth::new(client_id, client_secret, refresh_token));
        self
    }

    /// Builder: the hook that receives rotated refresh tokens.
    #[must_use]
    pub fn with_refresh_token_hook(mut self, hook: RefreshTokenHook) -> Self {
        self.on_refresh_token = Some(hook);
        self
    }

    /// Builder: the authorization endpoint (a fake).
    #[must_use]
    pub fn with_auth_url(mut self, auth_url: &str) -> Self {
        self.auth_url = auth_url.to_owned();
        self
    }

    /// The connection method and its credentials.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when no credentials are set, or both kinds are.
    pub fn auth(&self) -> Result<GoogleAuth<'_>, ConnectorError> {
        match (&self.service_account, &self.user_oauth) {
            (Some(key), None) => Ok(GoogleAuth::ServiceAccount(key)),
            (None, Some(oauth)) => Ok(GoogleAuth::UserOAuth(oauth)),
            (None, None) => Err(config_error("a service-account key or per-user OAuth credentials are required")),
            (Some(_), Some(_)) => {
                Err(config_error("set either a service-account key or per-user OAuth credentials, not both"))
            }
        }
    }

    /// Builder: every endpoint at once (a fake). When `calendar_base` ends in `/calendar/v3`, the
    /// batch endpoint follows it (`{root}/batch/calendar/v3`, as Google lays them out); otherwise
    /// set it with [`GoogleConfig::with_batch_endpoint`].
    #[must_use]
    pub fn with_endpoints(mut self, token_url: &str, calendar_base: &str, people_base: &str) -> Self {
        self.token_url = token_url.to_owned();
        self.calendar_base = calendar_base.trim_end_matches('/').to_owned();
        self.people_base = people_base.trim_end_matches('/').to_owned();
        if let Some(root) = self.calendar_base.strip_suffix("/calendar/v3") {
            self.batch_url = format!("{root}/batch/calendar/v3");
        }
        self
    }

    /// Builder: Calendar's batch endpoint.
    #[must_use]
    pub fn with_batch_endpoint(mut self, batch_url: &str) -> Self {
        self.batch_url = batch_url.trim_end_matches('/').to_owned();
        self
    }

    /// Builder: event writes per batch call.
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Checks the settings: a user, endpoints that are `https://` (or `http://` to loopback),
    /// a sane window, page size and assertion lifetime.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        if self.user.trim().is_empty() || !self.user.contains('@') {
            return Err(config_error("the user (an email address) is required"));
        }
        for url in [&self.token_url, &self.auth_url, &self.calendar_base, &self.people_base, &self.batch_url] {
            endpoint(url)?;
        }
        if self.calendar_id.trim().is_empty() || self.contact_group.trim().is_empty() {
            return Err(config_error("the calendar id and the contact group name must not be empty"));
        }
        if !(1..=2500).contains(&self.page_size) {
            return Err(config_error("page_size must be between 1 and 2500"));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(config_error(format!("batch_size must be between 1 and {MAX_BATCH_SIZE}")));
        }
        if self.assertion_lifetime_secs == 0 || self.assertion_lifetime_secs > 3600 {
            return Err(config_error("an assertion lives at most one hour"));
        }
        if self.window_past_days < 0 || self.window_future_days <= 0 {
            return Err(config_error("the sync window must reach into the future"));
        }
        Ok(())
    }

    /// The token endpoint, parsed and checked.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`].
    pub fn token_endpoint(&self) -> Result<Url, ConnectorError> {
        endpoint(&self.token_url)
    }

    /// The authorization endpoint, parsed and checked.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`].
    pub fn authorize_endpoint(&self) -> Result<Url, ConnectorError> {
        endpoint(&self.auth_url)
    }

    /// The batch endpoint, parsed and checked.
    pub(crate) fn batch_endpoint(&self) -> Result<Url, ConnectorError> {
        endpoint(&self.batch_url)
    }

    /// `{calendar_base}/{path}`, parsed and checked.
    pub(crate) fn calendar_url(&self, segments: &[&str]) -> Result<Url, ConnectorError> {
        join(&self.calendar_base, segments)
    }

    /// `{people_base}/{path}`, parsed and checked.
    pub(crate) fn people_url(&self, path: &str) -> Result<Url, ConnectorError> {
        let url = Url::parse(&format!("{}/{path}", self.people_base.trim_end_matches('/')))
            .map_err(|e| config_error(format!("invalid People URL: {e}")))?;
        check_endpoint(&url)?;
        Ok(url)
    }
}

/// Appends path segments, each percent-encoded (calendar ids are email addresses).
fn join(base: &str, segments: &[&str]) -> Result<Url, ConnectorError> {
    let mut url = endpoint(base)?;
    url.path_segments_mut()
        .map_err(|()| config_error(format!("`{base}` cannot be a base URL")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_toml() {
        let c = GoogleConfig::from_toml("user = \"ada@example.com\"\nsend_updates = \"external_only\"\n").unwrap();
        assert_eq!(c.calendar_id, "primary");
        assert_eq!(c.contact_group, "Salesforce Sync");
        assert_eq!(c.send_updates.as_str(), "externalOnly");
        assert_eq!(GoogleConfig::default().send_updates, SendUpdates::None);
        c.validate().unwrap();
        assert!(GoogleConfig::from_toml("user = \"a@b.c\"\nprivate_key = \"x\"\n").is_err());
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        let c = GoogleConfig::new("ada@example.com");
        let fake = c.clone().with_endpoints("http://127.0.0.1:9/token", "http://127.0.0.1:9/cal", "http://[::1]:9/p");
        fake.validate().unwrap();
        let bad = c.with_endpoints("http://evil.example/token", CALENDAR_BASE, PEOPLE_BASE);
        assert!(matches!(bad.validate(), Err(ConnectorError::Config { .. })));
        assert!(GoogleConfig::new("").validate().is_err());
        let auth = GoogleConfig::new("ada@example.com").with_auth_url("http://evil.example/auth");
        assert!(matches!(auth.validate(), Err(ConnectorError::Config { .. })));
        let auth = GoogleConfig::new("ada@example.com").with_auth_url("http://localhost:9/o/oauth2/v2/auth");
        auth.validate().unwrap();
        assert_eq!(auth.authorize_endpoint().unwrap().as_str(), "http://localhost:9/o/oauth2/v2/auth");
        assert_eq!(GoogleConfig::default().auth_url, GOOGLE_AUTH_URL);
        let toml = GoogleConfig::from_toml("user = \"a@b.c\"\nauth_url = \"http://127.0.0.1:9/auth\"\n").unwrap();
        assert_eq!(toml.auth_url, "http://127.0.0.1:9/auth");
        assert!(GoogleConfig::from_toml("user = \"a@b.c\"\nrefresh_token = \"x\"\n").is_err());
    }

    #[test]
    fn exactly_one_connection_method_and_no_secret_in_debug() {
        let none = GoogleConfig::new("ada@example.com");
        assert!(matches!(none.auth(), Err(ConnectorError::Config { .. })));
        let oauth = none.with_user_oauth("client-1", Some(Secret::new("GOCSPX-sekrit")), Secret::new("1//sekrit"));
        assert_eq!(oauth.auth().unwrap().method(), "auth_code_pkce");
        let shown = format!("{oauth:?}");
        assert!(shown.contains("client-1") && !shown.contains("sekrit"), "{shown}");
        let key = ServiceAccountKey {
            client_email: "sync@proj.iam.gserviceaccount.com".to_owned(),
            private_key: Secret::new("-----BEGIN PRIVATE KEY-----sekrit"),
            private_key_id: None,
        };
        let both = oauth.with_service_account(key.clone());
        assert!(matches!(both.auth(), Err(ConnectorError::Config { .. })));
        let sa = GoogleConfig::new("ada@example.com").with_service_account(key);
        assert_eq!(sa.auth().unwrap().method(), "service_account");
        assert!(!format!("{sa:?}").contains("sekrit"));
    }

    #[test]
    fn calendar_ids_are_encoded() {
        let c = GoogleConfig::new("ada@example.com");
        let url = c.calendar_url(&["calendars", "a b/c@example.com", "events"]).unwrap();
        assert_eq!(url.as_str(), "https://www.googleapis.com/calendar/v3/calendars/a%20b%2Fc@example.com/events");
    }

    #[test]
    fn batch_endpoint_and_size() {
        let c = GoogleConfig::new("ada@example.com");
        assert_eq!((c.batch_url.as_str(), c.batch_size), (CALENDAR_BATCH_URL, 50));
        let fake = c.clone().with_endpoints(
            "http://127.0.0.1:9/token",
            "http://127.0.0.1:9/calendar/v3/",
            "http://127.0.0.1:9/v1",
        );
        assert_eq!(fake.batch_url, "http://127.0.0.1:9/batch/calendar/v3");
        let other =
            c.clone().with_endpoints("http://127.0.0.1:9/token", "http://127.0.0.1:9/cal", "http://127.0.0.1:9/v1");
        assert_eq!(other.batch_url, CALENDAR_BATCH_URL);
        let moved = other.with_batch_endpoint("http://127.0.0.1:9/b/");
        assert_eq!(moved.batch_url, "http://127.0.0.1:9/b");
        for bad in [0, 1001] {
            assert!(c.clone().with_batch_size(bad).validate().is_err());
        }
        c.clone().with_batch_size(1000).validate().unwrap();
        assert!(c.with_batch_endpoint("http://evil.example/batch").validate().is_err());
        let t = GoogleConfig::from_toml("user = \"a@b.c\"\nbatch_size = 7\nbatch_url = \"https://b.example/batch\"\n")
            .unwrap();
        assert_eq!((t.batch_size, t.batch_url.as_str()), (7, "https://b.example/batch"));
    }
}
