//! How a Salesforce connection is configured: where, as whom, which records, which fields, and
//! how much of the org's daily API allowance one sync may use.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tandem_connector::ConnectorError;
use tandem_connector::http::Secret;
use tandem_core::model::AddressKind;
use url::Url;

use crate::soql::{Ident, Literal, Op};

/// The API version the connector speaks unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "v62.0";

/// The production login URL (JWT `aud` and token endpoint host).
pub const PRODUCTION_LOGIN_URL: &str = "https://login.salesforce.com";

/// The sandbox login URL.
pub const SANDBOX_LOGIN_URL: &str = "https://test.salesforce.com";

/// The default external-id field carrying Tandem's idempotency keys on Contact and Event.
pub const DEFAULT_SYNC_KEY_FIELD: &str = "Tandem_Sync_Id__c";

/// How the connector authenticates. Every secret is held in [`Secret`], so `Debug` never shows it.
#[derive(Clone, Debug)]
pub enum AuthConfig {
    /// OAuth 2.0 JWT bearer flow: a connected app with an uploaded certificate, the synced user
    /// pre-authorised. The assertion's subject is the synced user, so every write is attributed
    /// to that user.
    JwtBearer {
        /// The connected app's consumer key (the assertion's `iss`).
        consumer_key: String,
        /// The Salesforce username to act as (the assertion's `sub`).
        username: String,
        /// The PEM (PKCS#8 or PKCS#1) of the private key whose certificate is on the connected app.
        private_key_pem: Secret,
    },
    /// OAuth 2.0 client credentials flow: runs as the connected app's configured run-as user.
    /// Needs a My Domain login URL.
    ClientCredentials {
        /// The consumer key.
        client_id: String,
        /// The consumer secret.
        client_secret: Secret,
        /// The run-as user's username, when known (reported as the connection's principal).
        username: Option<String>,
    },
    /// OAuth 2.0 web-server flow with PKCE, after the user connected personally: the refresh token
    /// it yielded (see [`crate::auth::WebServerFlow`]).
    RefreshToken {
        /// The consumer key.
        client_id: String,
        /// The consumer secret, when the connected app requires one.
        client_secret: Option<Secret>,
        /// The refresh token.
        refresh_token: Secret,
        /// The user's username, when known.
        username: Option<String>,
    },
}

impl AuthConfig {
    /// The method name reported in [`tandem_connector::ConnectionInfo::method`].
    pub fn method(&self) -> &'static str {
        match self {
            AuthConfig::JwtBearer { .. } => "jwt_bearer",
            AuthConfig::ClientCredentials { .. } => "client_credentials_secret",
            AuthConfig::RefreshToken { .. } => "auth_code_pkce",
        }
    }

    /// The username, when the configuration names one.
    pub fn username(&self) -> Option<&str> {
        match self {
            AuthConfig::JwtBearer { username, .. } => Some(username),
            AuthConfig::ClientCredentials { username, .. } | AuthConfig::RefreshToken { username, .. } => {
                username.as_deref()
            }
        }
    }
}

/// Which contacts are the user's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContactScope {
    /// Contacts the user owns (`OwnerId` = the user): Lightning Sync's "Selected Contacts + User's
    /// Records".
    #[default]
    Owned,
    /// Every contact the user can see under sharing: Lightning Sync's "All Contacts".
    AllVisible,
}

/// One condition of the optional contact field filter, e.g. `LeadSource = 'Web'`. Conditions are
/// ANDed. Field names are checked against the fields the connector knows; values are escaped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldCondition {
    /// The Salesforce field, e.g. `MailingCountry` or `Region__c`.
    pub field: String,
    /// The comparison.
    pub op: FilterOp,
    /// The value(s) to compare with.
    pub value: FilterValue,
}

/// A comparison of a [`FieldCondition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `IN (…)` (with a list value)
    In,
    /// `NOT IN (…)` (with a list value)
    NotIn,
    /// `LIKE` (with a text value; `%` and `_` are wildcards)
    Like,
}

/// A value of a [`FieldCondition`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FilterValue {
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Text (escaped when the query is built).
    Text(String),
    /// A list, for `in` and `not_in`.
    List(Vec<FilterValue>),
}

/// How Salesforce's side of Lightning Sync's related-record rules apply: a contact's company and
/// an event's attendees, which Salesforce keeps as links to other records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelatedRecords {
    /// Link a contact written from the mailbox to the Account whose name is its company (exact,
    /// case-insensitive, one match only; otherwise an unresolved item). Off: the company is
    /// read from the Account and never written. Default on (Lightning Sync's behaviour).
    pub match_accounts: bool,
    /// Relate an event created in the mailbox, on its first sync, to the contacts and leads whose
    /// email matches an attendee (`WhoId`, plus `EventRelation` for the other contacts with
    /// Shared Activities): Lightning Sync's "Relate synced events to Salesforce records".
    /// Default off.
    pub relate_events: bool,
    /// With `relate_events`: what to do with a new mailbox event that relates to nothing.
    pub unrelated_events: UnrelatedEvents,
    /// Whether the org has Shared Activities on (several contacts per event). Default on.
    pub shared_activities: bool,
    /// The most attendees written to one event (Lightning Sync: 50). The rest are not written
    /// and reported as an unresolved item.
    pub max_attendees: usize,
    /// How often contacts are checked for a renamed Account (one query): a rename does not touch
    /// the contact, so it is not in the contact feed. Default one hour.
    #[serde(with = "humantime_serde_secs")]
    pub account_rename_check: Duration,
}

/// A duration as whole seconds in configuration files.
mod humantime_serde_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

impl Default for RelatedRecords {
    fn default() -> Self {
        RelatedRecords {
            match_accounts: true,
            relate_events: false,
            unrelated_events: UnrelatedEvents::Keep,
            shared_activities: true,
            max_attendees: 50,
            account_rename_check: Duration::from_secs(60 * 60),
        }
    }
}

/// What happens to a new mailbox event that relates to no Salesforce contact or lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnrelatedEvents {
    /// Created in Salesforce anyway, listed as an unresolved item (kind `event_unrelated`).
    #[default]
    Keep,
    /// Not created: set aside with an unresolved item, and created once an attendee becomes a
    /// contact or lead the user can see.
    Skip,
}

/// A custom field synced on one object, by its API name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomField {
    /// The API name, ending in `__c` (e.g. `Region__c`).
    pub name: String,
    /// Its length, when it is a text field (declared as a capability so values are cut to fit).
    pub max_len: Option<usize>,
}

impl CustomField {
    /// A text custom field of `max_len` characters.
    pub fn text(name: impl Into<String>, max_len: usize) -> Self {
        CustomField { name: name.into(), max_len: Some(max_len) }
    }
}

/// The mailbox address kind one Salesforce Contact address holds, or `off` to leave that address
/// unsynced. In TOML: `"work"` (Outlook's business address), `"home"`, `"other"` or `"off"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressSlot {
    /// Work (Outlook `businessAddress`).
    Work,
    /// Home (Outlook `homeAddress`).
    Home,
    /// Other (Outlook `otherAddress`).
    Other,
    /// Not synced: neither read nor written.
    Off,
}

impl AddressSlot {
    /// The address kind this slot holds, `None` when off.
    pub fn kind(self) -> Option<AddressKind> {
        match self {
            AddressSlot::Work => Some(AddressKind::Work),
            AddressSlot::Home => Some(AddressKind::Home),
            AddressSlot::Other => Some(AddressKind::Other),
            AddressSlot::Off => None,
        }
    }
}

/// Which address kind each of Salesforce's two Contact addresses holds.
///
/// Salesforce has two (`Mailing…` and `Other…`), mailboxes three kinds (work, home, other). Each
/// Salesforce address holds one kind, read back as that kind; a kind no Salesforce address holds
/// is never written to Salesforce (never folded into another address) and never cleared in the
/// mailbox. Default: Mailing ⇄ work, Other ⇄ home. TOML:
///
/// ```toml
/// [addresses]
/// mailing = "work"
/// other = "home"   # or "other", or "off"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddressMapping {
    /// The kind the Mailing address (`MailingStreet`, `MailingCity`, …) holds. Default work.
    pub mailing: AddressSlot,
    /// The kind the Other address (`OtherStreet`, `OtherCity`, …) holds. Default home.
    pub other: AddressSlot,
}

impl Default for AddressMapping {
    fn default() -> Self {
        AddressMapping { mailing: AddressSlot::Work, other: AddressSlot::Home }
    }
}

impl AddressMapping {
    /// Checks that the two addresses hold different kinds.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when both hold the same kind.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        match (self.mailing.kind(), self.other.kind()) {
            (Some(a), Some(b)) if a == b => Err(config(format!(
                "addresses: Mailing and Other both hold the {a:?} address; each kind fits one Salesforce address"
            ))),
            _ => Ok(()),
        }
    }
}

/// How creates are made idempotent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KeyMode {
    /// The key field is an External ID: creates are upserts on it
    /// (`PATCH /composite/sobjects/{SObject}/{field}`), so a replayed create updates the record it
    /// made the first time. One request per batch, no race.
    #[default]
    Upsert,
    /// The key field is a plain text field: the connector queries the batch's keys first and
    /// creates only those not found (`POST /composite/sobjects`). Two requests per batch, and two
    /// processes creating the same key at the same moment can both create it; use only when the
    /// org cannot have an External ID field.
    LookupThenCreate,
}

/// Where the idempotency key of Tandem's creates is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncKeyConfig {
    /// The field on Contact and Event (Activity) holding the key; default `Tandem_Sync_Id__c`.
    pub field: String,
    /// Whether it is an External ID (upsert) or a plain field (look up, then create).
    pub mode: KeyMode,
}

impl Default for SyncKeyConfig {
    fn default() -> Self {
        SyncKeyConfig { field: DEFAULT_SYNC_KEY_FIELD.to_owned(), mode: KeyMode::Upsert }
    }
}

/// How much of the org's daily API allowance the connector may use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetConfig {
    /// Stop sending requests once `Sforce-Limit-Info` reports this share of the daily limit used
    /// (0.0–1.0). Default 0.9.
    pub stop_at_share: f64,
    /// After stopping, wait this long before one request probes whether usage went down.
    /// Default 15 minutes.
    pub recheck_after: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig { stop_at_share: 0.9, recheck_after: Duration::from_secs(15 * 60) }
    }
}

/// Everything a [`crate::SalesforceConnector`] needs.
#[derive(Clone)]
pub struct SalesforceConfig {
    /// How to authenticate.
    pub auth: AuthConfig,
    /// The login URL: `https://login.salesforce.com`, `https://test.salesforce.com` (sandboxes)
    /// or the org's My Domain (`https://acme.my.salesforce.com`,
    /// `https://acme--uat.sandbox.my.salesforce.com`). The token endpoint is
    /// `{login_url}/services/oauth2/token`.
    pub login_url: Url,
    /// The JWT bearer flow's `aud`. Default ([`SalesforceConfig::jwt_audience`]): Salesforce
    /// wants the authorization server, not the My Domain, so `https://login.salesforce.com` for
    /// production logins (My Domain included), `https://test.salesforce.com` for sandboxes
    /// (`test.salesforce.com` or a `*.sandbox.my.salesforce.com` My Domain), and the login URL
    /// itself for anything else (an Experience Cloud site, a fake on loopback). Set it for a site
    /// whose audience differs.
    pub audience: Option<String>,
    /// The instance URL, overriding the one the token endpoint returns.
    pub instance_url: Option<Url>,
    /// The REST API version, `vNN.N`. Default [`DEFAULT_API_VERSION`].
    pub api_version: String,
    /// The OAuth scopes requested (web-server flow) and reported in the connection description.
    pub scopes: Vec<String>,
    /// The synced user's Salesforce id (`005…`). Default: the user the session belongs to (the
    /// JWT subject, the run-as user, the user who connected).
    pub user_id: Option<String>,
    /// The user's time zone (IANA), for reading event times. Default: the user's Salesforce time
    /// zone from the identity service, else UTC.
    pub time_zone: Option<String>,
    /// Which contacts sync.
    pub contact_scope: ContactScope,
    /// Extra conditions contacts must meet (ANDed).
    pub contact_filter: Vec<FieldCondition>,
    /// Whether the org has middle names enabled (`MiddleName` exists on Contact).
    pub middle_name: bool,
    /// Which address kind the Contact's Mailing and Other addresses hold. Default Mailing ⇄ work,
    /// Other ⇄ home.
    pub addresses: AddressMapping,
    /// Contacts the user follows in Chatter sync too, even when they fail `contact_filter`
    /// (Lightning Sync's "Sync contacts users follow").
    pub include_followed: bool,
    /// Accounts, related records and attendees.
    pub related: RelatedRecords,
    /// Custom Contact fields that sync.
    pub contact_custom_fields: Vec<CustomField>,
    /// Custom Event (Activity) fields that sync.
    pub event_custom_fields: Vec<CustomField>,
    /// Where idempotency keys are stored.
    pub sync_key: SyncKeyConfig,
    /// The API budget.
    pub budget: BudgetConfig,
    /// How far back each incremental read reaches before the last watermark, to catch records
    /// committed late with an earlier `SystemModstamp`. Default 2 minutes.
    pub overlap: Duration,
    /// How long a session is assumed to live when the token endpoint does not say (Salesforce
    /// never does): the token is refreshed ahead of it. Default 2 hours (the default session
    /// timeout); an `INVALID_SESSION_ID` refreshes it earlier.
    pub session_lifetime: Duration,
    /// Called with every refresh token Salesforce rotates in (the web-server flow's refresh
    /// token, when the connected app rotates them), so the embedder can store it: after a
    /// restart the old one may no longer work.
    pub on_refresh_token: Option<tandem_connector::http::RefreshTokenHook>,
}

impl fmt::Debug for SalesforceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceConfig")
            .field("auth", &self.auth)
            .field("login_url", &self.login_url.as_str())
            .field("instance_url", &self.instance_url.as_ref().map(Url::as_str))
            .field("api_version", &self.api_version)
            .field("contact_scope", &self.contact_scope)
            .finish_non_exhaustive()
    }
}

impl SalesforceConfig {
    /// A configuration with the defaults: production login URL, API v62.0, owned contacts,
    /// `Tandem_Sync_Id__c` upserts, stop at 90% of the daily API limit.
    pub fn new(auth: AuthConfig, login_url: Url) -> Self {
        SalesforceConfig {
            auth,
            login_url,
            audience: None,
            instance_url: None,
            api_version: DEFAULT_API_VERSION.to_owned(),
            scopes: vec!["api".to_owned(), "refresh_token".to_owned()],
            user_id: None,
            time_zone: None,
            contact_scope: ContactScope::Owned,
            contact_filter: Vec::new(),
            middle_name: false,
            addresses: AddressMapping::default(),
            include_followed: false,
            related: RelatedRecords::default(),
            contact_custom_fields: Vec::new(),
            event_custom_fields: Vec::new(),
            sync_key: SyncKeyConfig::default(),
            budget: BudgetConfig::default(),
            overlap: Duration::from_secs(120),
            session_lifetime: Duration::from_secs(2 * 60 * 60),
            on_refresh_token: None,
        }
    }

    /// The token endpoint.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when the login URL cannot be joined.
    pub fn token_url(&self) -> Result<Url, ConnectorError> {
        join(&self.login_url, "services/oauth2/token")
    }

    /// The web-server flow's authorization endpoint.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when the login URL cannot be joined.
    pub fn authorize_url(&self) -> Result<Url, ConnectorError> {
        join(&self.login_url, "services/oauth2/authorize")
    }

    /// The JWT audience: [`SalesforceConfig::audience`], or the authorization server the login
    /// URL belongs to (see there).
    pub fn jwt_audience(&self) -> String {
        if let Some(audience) = &self.audience {
            return audience.clone();
        }
        let host = self.login_url.host_str().unwrap_or_default().to_ascii_lowercase();
        if host == "test.salesforce.com" || host.ends_with(".sandbox.my.salesforce.com") {
            "https://test.salesforce.com".to_owned()
        } else if host == "login.salesforce.com" || host.ends_with(".my.salesforce.com") {
            "https://login.salesforce.com".to_owned()
        } else {
            self.login_url.as_str().trim_end_matches('/').to_owned()
        }
    }

    /// Checks everything that can be checked before connecting: URLs, the API version, field
    /// names (identifiers only), the filter, the time zone, the budget.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        tandem_connector::http::check_endpoint(&self.login_url)?;
        if let Some(url) = &self.instance_url {
            tandem_connector::http::check_endpoint(url)?;
        }
        let version_ok =
            self.api_version.strip_prefix('v').and_then(|v| v.split_once('.')).is_some_and(|(major, minor)| {
                !major.is_empty()
                    && !minor.is_empty()
                    && major.chars().all(|c| c.is_ascii_digit())
                    && minor.chars().all(|c| c.is_ascii_digit())
            });
        if !version_ok {
            return Err(config(format!("API version `{}` is not of the form vNN.N", self.api_version)));
        }
        for field in self.contact_custom_fields.iter().chain(&self.event_custom_fields) {
            check_custom_name(&field.name)?;
        }
        check_custom_name(&self.sync_key.field)?;
        if let Some(id) = &self.user_id {
            crate::soql::check_id(id).map_err(|e| config(format!("user_id: {e}")))?;
        }
        if let Some(zone) = &self.time_zone
            && zone.parse::<chrono_tz::Tz>().is_err()
        {
            return Err(config(format!("unknown time zone `{zone}`")));
        }
        if !(self.budget.stop_at_share > 0.0 && self.budget.stop_at_share <= 1.0) {
            return Err(config("budget.stop_at_share must be in (0, 1]".to_owned()));
        }
        for condition in &self.contact_filter {
            condition_literal(condition)?;
        }
        self.addresses.validate()?;
        Ok(())
    }
}

fn join(base: &Url, path: &str) -> Result<Url, ConnectorError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path).map_err(|e| config(format!("cannot build an endpoint from the login URL: {e}")))
}

fn config(message: String) -> ConnectorError {
    ConnectorError::Config { message }
}

/// Checks that a custom field's API name is a plain identifier ending in `__c`.
pub(crate) fn check_custom_name(name: &str) -> Result<(), ConnectorError> {
    let ident = Ident::new(name).map_err(|e| config(format!("custom field: {e}")))?;
    if ident.as_str().contains('.') || !ident.as_str().ends_with("__c") {
        return Err(config(format!("custom field `{name}` must be an API name ending in `__c`")));
    }
    Ok(())
}

/// The SOQL operator and literal of a filter condition.
pub(crate) fn condition_literal(c: &FieldCondition) -> Result<(Op, Vec<Literal>), ConnectorError> {
    fn scalar(v: &FilterValue) -> Result<Literal, ConnectorError> {
        match v {
            FilterValue::Bool(b) => Ok(Literal::Bool(*b)),
            FilterValue::Int(i) => Ok(Literal::Int(*i)),
            FilterValue::Text(t) => Literal::text(t).map_err(|e| config(format!("contact filter value: {e}"))),
            FilterValue::List(_) => Err(config("a list is only allowed with `in` and `not_in`".to_owned())),
        }
    }
    let op = match c.op {
        FilterOp::Eq => Op::Eq,
        FilterOp::Ne => Op::Ne,
        FilterOp::Lt => Op::Lt,
        FilterOp::Le => Op::Le,
        FilterOp::Gt => Op::Gt,
        FilterOp::Ge => Op::Ge,
        FilterOp::In => Op::In,
        FilterOp::NotIn => Op::NotIn,
        FilterOp::Like => Op::Like,
    };
    let values = match (&c.value, op) {
        (FilterValue::List(items), Op::In | Op::NotIn) => {
            if items.is_empty() {
                return Err(config(format!("contact filter on `{}`: empty list", c.field)));
            }
            items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?
        }
        (_, Op::In | Op::NotIn) => return Err(config(format!("contact filter on `{}`: `in` needs a list", c.field))),
        (FilterValue::Text(_), Op::Like) => vec![scalar(&c.value)?],
        (_, Op::Like) => return Err(config(format!("contact filter on `{}`: `like` needs text", c.field))),
        (v, _) => vec![scalar(v)?],
    };
    Ok((op, values))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn base() -> SalesforceConfig {
        SalesforceConfig::new(
            AuthConfig::JwtBearer {
                consumer_key: "ck".into(),
                username: "ada@example.com".into(),
                private_key_pem: Secret::new("-----BEGIN PRIVATE KEY-----"),
            },
            Url::parse(PRODUCTION_LOGIN_URL).unwrap(),
        )
    }

    #[test]
    fn endpoints_and_audience() {
        let c = base();
        assert_eq!(c.token_url().unwrap().as_str(), "https://login.salesforce.com/services/oauth2/token");
        assert_eq!(c.jwt_audience(), "https://login.salesforce.com");
        let mut d = base();
        d.login_url = Url::parse("https://acme.my.salesforce.com/").unwrap();
        assert_eq!(d.token_url().unwrap().as_str(), "https://acme.my.salesforce.com/services/oauth2/token");
        // The token endpoint is the My Domain; the audience is the authorization server.
        assert_eq!(d.jwt_audience(), "https://login.salesforce.com");
        for sandbox in ["https://test.salesforce.com", "https://acme--uat.sandbox.my.salesforce.com"] {
            d.login_url = Url::parse(sandbox).unwrap();
            assert_eq!(d.jwt_audience(), "https://test.salesforce.com", "{sandbox}");
        }
        d.login_url = Url::parse("https://acme.my.site.com/customers").unwrap();
        assert_eq!(d.jwt_audience(), "https://acme.my.site.com/customers", "a site is its own audience");
        d.audience = Some("https://login.salesforce.com".into());
        assert_eq!(d.jwt_audience(), "https://login.salesforce.com");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn rejects_bad_settings() {
        let mut c = base();
        c.api_version = "62".into();
        assert!(c.validate().is_err());
        let mut c = base();
        c.contact_custom_fields.push(CustomField { name: "Region__c FROM User--".into(), max_len: None });
        assert!(c.validate().is_err());
        let mut c = base();
        c.contact_custom_fields.push(CustomField { name: "Region".into(), max_len: None });
        assert!(c.validate().is_err());
        let mut c = base();
        c.login_url = Url::parse("http://login.salesforce.com").unwrap();
        assert!(c.validate().is_err());
        let mut c = base();
        c.time_zone = Some("Mars/Olympus".into());
        assert!(c.validate().is_err());
        let mut c = base();
        c.contact_filter.push(FieldCondition {
            field: "LeadSource".into(),
            op: FilterOp::In,
            value: FilterValue::Text("x".into()),
        });
        assert!(c.validate().is_err());
    }

    #[test]
    fn address_mapping_loads_from_toml_with_a_default() {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            addresses: AddressMapping,
        }
        let default: File = toml::from_str("").unwrap();
        assert_eq!(default.addresses, AddressMapping { mailing: AddressSlot::Work, other: AddressSlot::Home });
        let custom: File = toml::from_str("[addresses]\nother = \"other\"\n").unwrap();
        assert_eq!(custom.addresses, AddressMapping { mailing: AddressSlot::Work, other: AddressSlot::Other });
        let off: File = toml::from_str("[addresses]\nmailing = \"home\"\nother = \"off\"\n").unwrap();
        assert_eq!(off.addresses.mailing.kind(), Some(AddressKind::Home));
        assert_eq!(off.addresses.other.kind(), None);
        assert!(toml::from_str::<File>("[addresses]\nbilling = \"work\"\n").is_err());
        let mut c = base();
        c.addresses = AddressMapping { mailing: AddressSlot::Home, other: AddressSlot::Home };
        assert!(c.validate().is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let c = base();
        assert!(!format!("{c:?}").contains("BEGIN PRIVATE KEY"));
    }
}
