//! How a [`crate::GoogleConnector`] reaches one Workspace user: endpoints (overridable for
//! fakes), the user, the calendar and contact group, and the knobs of reading and writing.

use serde::Deserialize;
use tandem_connector::ConnectorError;
use tandem_connector::http::check_endpoint;
use url::Url;

use crate::auth::ServiceAccountKey;

/// Google's OAuth 2.0 token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Calendar API v3 base.
pub const CALENDAR_BASE: &str = "https://www.googleapis.com/calendar/v3";
/// People API v1 base.
pub const PEOPLE_BASE: &str = "https://people.googleapis.com/v1";

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

/// The configuration of one user's connection. Deserialises from TOML (unknown keys refused);
/// the service-account key never comes from that file: set it with
/// [`GoogleConfig::with_service_account`].
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoogleConfig {
    /// The Workspace user (primary email) whose calendar and contacts are synced: the JWT `sub`.
    pub user: String,
    /// The token endpoint. Default [`GOOGLE_TOKEN_URL`].
    pub token_url: String,
    /// The Calendar base URL. Default [`CALENDAR_BASE`].
    pub calendar_base: String,
    /// The People base URL. Default [`PEOPLE_BASE`].
    pub people_base: String,
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
    /// The service account's key (never read from TOML, never printed).
    #[serde(skip)]
    pub service_account: Option<ServiceAccountKey>,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            user: String::new(),
            token_url: GOOGLE_TOKEN_URL.to_owned(),
            calendar_base: CALENDAR_BASE.to_owned(),
            people_base: PEOPLE_BASE.to_owned(),
            calendar_id: "primary".to_owned(),
            contact_group: "Salesforce Sync".to_owned(),
            send_updates: SendUpdates::None,
            window_past_days: 30,
            window_future_days: 365,
            page_size: 250,
            assertion_lifetime_secs: 3600,
            service_account: None,
        }
    }
}

impl std::fmt::Debug for GoogleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleConfig")
            .field("user", &self.user)
            .field("token_url", &self.token_url)
            .field("calendar_base", &self.calendar_base)
            .field("people_base", &self.people_base)
            .field("calendar_id", &self.calendar_id)
            .field("contact_group", &self.contact_group)
            .field("send_updates", &self.send_updates)
            .field("service_account", &self.service_account)
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

    /// Builder: every endpoint at once (a fake).
    #[must_use]
    pub fn with_endpoints(mut self, token_url: &str, calendar_base: &str, people_base: &str) -> Self {
        self.token_url = token_url.to_owned();
        self.calendar_base = calendar_base.trim_end_matches('/').to_owned();
        self.people_base = people_base.trim_end_matches('/').to_owned();
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
        for url in [&self.token_url, &self.calendar_base, &self.people_base] {
            endpoint(url)?;
        }
        if self.calendar_id.trim().is_empty() || self.contact_group.trim().is_empty() {
            return Err(config_error("the calendar id and the contact group name must not be empty"));
        }
        if !(1..=2500).contains(&self.page_size) {
            return Err(config_error("page_size must be between 1 and 2500"));
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
    }

    #[test]
    fn calendar_ids_are_encoded() {
        let c = GoogleConfig::new("ada@example.com");
        let url = c.calendar_url(&["calendars", "a b/c@example.com", "events"]).unwrap();
        assert_eq!(url.as_str(), "https://www.googleapis.com/calendar/v3/calendars/a%20b%2Fc@example.com/events");
    }
}
