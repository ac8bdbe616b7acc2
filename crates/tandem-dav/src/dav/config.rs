//! How a [`crate::dav::DavConnector`] reaches one account: the base URL, the credentials
//! ([`DavAuth`]), which collection to use per object kind ([`CollectionChoice`]), how changes are
//! read ([`SyncMethod`]) and the batch sizes. Built with a builder-style API; checked by
//! [`DavConfig::validate`].

use tandem_connector::ConnectorError;
use tandem_connector::http::Secret;
use tandem_connector::http::check_endpoint;
use url::Url;

/// The connection method names, as [`tandem_connector::ConnectionInfo::method`] gives them.
pub const METHOD_BASIC: &str = "basic";
/// A static bearer token. **Not yet a method the policy knows** (see `docs/connectors/dav.md`).
pub const METHOD_BEARER: &str = "bearer_token";

/// Most hrefs in one `*-multiget` REPORT.
pub const MAX_MULTIGET: usize = 1000;

/// How the connector authenticates.
#[derive(Clone)]
#[non_exhaustive]
pub enum DavAuth {
    /// HTTP Basic with a user name and a password or an app password (iCloud, Fastmail):
    /// refused to anything but `https://` (loopback `http://` excepted, for tests).
    Basic {
        /// The user name.
        username: String,
        /// The password or app password.
        password: Secret,
    },
    /// `Authorization: Bearer` with a token obtained elsewhere.
    Bearer {
        /// The token.
        token: Secret,
    },
}

impl std::fmt::Debug for DavAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DavAuth::Basic { username, .. } => {
                f.debug_struct("Basic").field("username", username).field("password", &"***").finish()
            }
            DavAuth::Bearer { .. } => f.debug_struct("Bearer").field("token", &"***").finish(),
        }
    }
}

impl DavAuth {
    /// The connection method's name for the policy.
    pub fn method(&self) -> &'static str {
        match self {
            DavAuth::Basic { .. } => METHOD_BASIC,
            DavAuth::Bearer { .. } => METHOD_BEARER,
        }
    }
}

/// Which collection of the account an object kind syncs with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CollectionChoice {
    /// The first suitable collection discovery finds (by href order): a calendar that takes
    /// `VEVENT`s, an address book. Never creates one.
    #[default]
    First,
    /// The collection at this path (or absolute URL on the same host), used without discovery.
    Path(String),
    /// The collection whose `displayname` is this (exactly), among those discovery finds.
    DisplayName(String),
}

/// How changes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncMethod {
    /// `sync-collection` when the collection has a `DAV:sync-token`, the etag listing otherwise.
    #[default]
    Auto,
    /// Always `sync-collection` (RFC 6578).
    SyncCollection,
    /// Always the ctag check plus a `PROPFIND` etag listing diffed against the cursor's etags.
    EtagListing,
}

/// The configuration of one DAV account. Secrets never appear in its `Debug`.
#[derive(Debug, Clone)]
pub struct DavConfig {
    /// Where discovery starts: the server (`https://dav.example.com`), or any URL on it.
    pub base_url: String,
    /// The credentials.
    pub auth: Option<DavAuth>,
    /// Who is synced (for reports and the policy's mailbox scope). Default: the Basic user
    /// name.
    pub principal: Option<String>,
    /// The calendar events sync with.
    pub calendar: CollectionChoice,
    /// The address book contacts sync with.
    pub address_book: CollectionChoice,
    /// Hrefs per `*-multiget` REPORT (1..=[`MAX_MULTIGET`]). Default 100.
    pub multiget_batch: usize,
    /// Changes per pulled page. Default 500.
    pub page_size: usize,
    /// Writes per `apply` (the engine's batch). Default 100.
    pub max_batch: usize,
    /// Writes sent at once within one `apply`. Default 8.
    pub write_concurrency: usize,
    /// `DAV:limit` sent with `sync-collection`; `None` (the default) sends none. Xandikos
    /// truncates silently under a limit (no 507), so leave it unset there.
    pub sync_limit: Option<u32>,
    /// How changes are read. Default [`SyncMethod::Auto`].
    pub sync_method: SyncMethod,
    /// Other hosts the server may send Tandem to (iCloud's `pNN-caldav.icloud.com`): each an
    /// origin such as `https://p01-caldav.icloud.com`. Credentials go to them too, so they are
    /// listed in [`tandem_connector::Connector::connection`] for the policy to check.
    pub extra_origins: Vec<String>,
}

fn config_error(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config { message: message.into() }
}

/// Parses and checks an endpoint (`https://`, or `http://` to loopback).
pub(crate) fn endpoint(s: &str) -> Result<Url, ConnectorError> {
    let url = Url::parse(s.trim()).map_err(|e| config_error(format!("invalid DAV URL: {e}")))?;
    check_endpoint(&url)?;
    Ok(url)
}

impl DavConfig {
    /// A configuration starting discovery at `base_url`, with the defaults above and no
    /// credentials yet.
    pub fn new(base_url: impl Into<String>) -> Self {
        DavConfig {
            base_url: base_url.into(),
            auth: None,
            principal: None,
            calendar: CollectionChoice::First,
            address_book: CollectionChoice::First,
            multiget_batch: 100,
            page_size: 500,
            max_batch: 100,
            write_concurrency: 8,
            sync_limit: None,
            sync_method: SyncMethod::Auto,
            extra_origins: Vec::new(),
        }
    }

    /// Builder: HTTP Basic with a password.
    #[must_use]
    pub fn with_basic(mut self, username: impl Into<String>, password: Secret) -> Self {
        self.auth = Some(DavAuth::Basic { username: username.into(), password });
        self
    }

    /// Builder: HTTP Basic with an app password (the same on the wire as a password).
    #[must_use]
    pub fn with_app_password(self, username: impl Into<String>, app_password: Secret) -> Self {
        self.with_basic(username, app_password)
    }

    /// Builder: a bearer token.
    #[must_use]
    pub fn with_bearer(mut self, token: Secret) -> Self {
        self.auth = Some(DavAuth::Bearer { token });
        self
    }

    /// Builder: who is synced.
    #[must_use]
    pub fn with_principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// Builder: the calendar.
    #[must_use]
    pub fn with_calendar(mut self, choice: CollectionChoice) -> Self {
        self.calendar = choice;
        self
    }

    /// Builder: the address book.
    #[must_use]
    pub fn with_address_book(mut self, choice: CollectionChoice) -> Self {
        self.address_book = choice;
        self
    }

    /// Builder: hrefs per multiget.
    #[must_use]
    pub fn with_multiget_batch(mut self, n: usize) -> Self {
        self.multiget_batch = n;
        self
    }

    /// Builder: changes per pulled page.
    #[must_use]
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }

    /// Builder: writes per `apply` and how many are sent at once.
    #[must_use]
    pub fn with_writes(mut self, max_batch: usize, concurrency: usize) -> Self {
        self.max_batch = max_batch;
        self.write_concurrency = concurrency;
        self
    }

    /// Builder: how changes are read.
    #[must_use]
    pub fn with_sync_method(mut self, method: SyncMethod) -> Self {
        self.sync_method = method;
        self
    }

    /// Builder: `DAV:limit` on `sync-collection`.
    #[must_use]
    pub fn with_sync_limit(mut self, limit: Option<u32>) -> Self {
        self.sync_limit = limit;
        self
    }

    /// Builder: another origin the server may send Tandem to.
    #[must_use]
    pub fn with_extra_origin(mut self, origin: impl Into<String>) -> Self {
        self.extra_origins.push(origin.into());
        self
    }

    /// The principal: the one set, else the Basic user name.
    pub fn principal(&self) -> Option<&str> {
        self.principal.as_deref().or(match &self.auth {
            Some(DavAuth::Basic { username, .. }) => Some(username.as_str()),
            _ => None,
        })
    }

    /// The base URL, parsed and checked.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`].
    pub fn base(&self) -> Result<Url, ConnectorError> {
        endpoint(&self.base_url)
    }

    /// Checks the settings: credentials, endpoints that are `https://` (or `http://` to
    /// loopback), sane sizes.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        self.base()?;
        for origin in &self.extra_origins {
            endpoint(origin)?;
        }
        match &self.auth {
            None => return Err(config_error("DAV credentials are required (Basic, app password or bearer token)")),
            Some(DavAuth::Basic { username, password }) if username.is_empty() || password.is_empty() => {
                return Err(config_error("Basic auth needs a user name and a password"));
            }
            Some(DavAuth::Bearer { token }) if token.is_empty() => {
                return Err(config_error("the bearer token is empty"));
            }
            Some(_) => {}
        }
        if !(1..=MAX_MULTIGET).contains(&self.multiget_batch) {
            return Err(config_error(format!("multiget_batch must be between 1 and {MAX_MULTIGET}")));
        }
        if self.page_size == 0 || self.max_batch == 0 || self.write_concurrency == 0 {
            return Err(config_error("page_size, max_batch and write_concurrency must be at least 1"));
        }
        if self.sync_limit == Some(0) {
            return Err(config_error("sync_limit must be at least 1"));
        }
        for choice in [&self.calendar, &self.address_book] {
            match choice {
                CollectionChoice::Path(p) | CollectionChoice::DisplayName(p) if p.trim().is_empty() => {
                    return Err(config_error("a collection path or display name must not be empty"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn basic_only_to_https_or_loopback_and_no_secret_in_debug() {
        let ok = DavConfig::new("https://dav.example.com/").with_basic("ann", Secret::new("hunter2-sekrit"));
        ok.validate().unwrap();
        assert_eq!(ok.principal(), Some("ann"));
        assert!(!format!("{ok:?}").contains("sekrit"));
        let plain = DavConfig::new("http://dav.example.com/").with_basic("ann", Secret::new("x"));
        assert!(matches!(plain.validate(), Err(ConnectorError::Config { .. })));
        DavConfig::new("http://127.0.0.1:5232/").with_app_password("ann", Secret::new("x")).validate().unwrap();
        assert!(DavConfig::new("https://a.example/").validate().is_err());
        let bearer = DavConfig::new("https://a.example/").with_bearer(Secret::new("tok-sekrit"));
        assert_eq!(bearer.auth.as_ref().unwrap().method(), METHOD_BEARER);
        assert!(!format!("{bearer:?}").contains("sekrit"));
        assert!(bearer.clone().with_multiget_batch(0).validate().is_err());
        assert!(bearer.clone().with_extra_origin("http://evil.example").validate().is_err());
        assert!(bearer.with_calendar(CollectionChoice::Path(" ".into())).validate().is_err());
    }
}
