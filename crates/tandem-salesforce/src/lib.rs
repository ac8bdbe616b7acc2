//! # tandem-salesforce: the CRM side of a Tandem sync
//!
//! What lives here: [`SalesforceConnector`], which implements [`tandem_connector::Connector`]
//! over the Salesforce REST API (pinned to [`config::DEFAULT_API_VERSION`], configurable) for one
//! Salesforce user's Contacts and Events:
//!
//! - **auth** ([`auth`]): the OAuth 2.0 JWT bearer flow (RS256 assertions signed with the
//!   **jsonwebtoken** crate), the client credentials flow, and refresh tokens obtained through the
//!   web-server flow with PKCE ([`auth::WebServerFlow`]); the last two through the **oauth2**
//!   crate on the shared [`tandem_connector::http::OAuthHttp`]. Sessions are cached in a
//!   [`tandem_connector::http::TokenCache`], refreshed ahead of the configured session lifetime,
//!   and `INVALID_SESSION_ID` (401) triggers one refresh and one retry.
//! - **reading** (`pull`): SOQL built with the typed builder in [`soql`] (escaped literals,
//!   identifiers checked against the mapping), a `SystemModstamp` watermark with an overlap
//!   window whose re-reads the planner absorbs as echoes (same version), deletes through
//!   `queryAll` with `IsDeleted = true` (a watermark older than the 15-day delete window is
//!   [`tandem_connector::ConnectorError::CursorExpired`]), keyset paging over
//!   `(SystemModstamp, Id)` with a cursor of fixed size that holds no per-record data,
//!   invitations through `EventRelation`;
//! - **mapping** (`mapping`): the Lightning Sync contact mapping, events with all-day dates,
//!   time zones, `Recurrence2` patterns, invitees, privacy, show-as and Who/What links; records
//!   that cannot be read become quarantined changes, never panics: numbers from the org meet
//!   chrono only through checked arithmetic (`tandem_core::guard::{add_minutes, add_days,
//!   local_time}`; a `DurationInMinutes` of `i64::MAX` is an error, not an overflow), and RRULEs
//!   go through `tandem_core::validate::validate_rrule` before anything else sees them (ASCII
//!   only, the `rrule` parser's panics contained by `tandem_core::guard::contain`). The property
//!   tests in `tests/panic_safety.rs` and the fuzz targets in `crates/tandem-fuzz` (entry points
//!   in the hidden `fuzzing` module) check it;
//! - **writing** (`write`): sObject collections (200 records, `allOrNone=false`), creates made
//!   idempotent by an upsert on an external-id field (or a documented look-up-then-create
//!   fallback), updates and deletes checked against `SystemModstamp` first;
//! - **the API budget**: `Sforce-Limit-Info` is read on every response, and the connector stops
//!   cleanly at a configured share of the daily limit (see [`SalesforceConnector`]).
//!
//! What must never live here: sync decisions (the planner in `tandem-core` makes them), the
//! fake Salesforce (it is in `tandem-testkit`), and any secret in a log line, an error message or
//! a `Debug` output: keys and tokens are held in [`tandem_connector::http::Secret`].
//!
//! Set-up, the field mapping table, limits and the choices made are in
//! `docs/connectors/salesforce.md`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;
use tandem_connector::http::{Clock, HttpClient, SystemClock, TokenCache};
use tandem_connector::{
    ApiBudget, BudgetScope, ConnectionInfo, Connector, ConnectorError, Identity, ObjectWrites, PullPage, WriteOp,
    WriteResult, Written,
};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId};

pub mod auth;
pub mod config;
pub mod soql;

mod api;
mod cursor;
mod describe;
mod factory;
#[doc(hidden)]
pub mod fuzzing;
mod mapping;
mod org;
mod pull;
mod related;
mod write;

pub use api::ApiUsage;
pub use config::{AddressMapping, AddressSlot, AuthConfig, RelatedRecords, SalesforceConfig, UnrelatedEvents};
pub use factory::SalesforceBuilder;
pub use mapping::{MAX_BATCH, MAX_EVENT_MINUTES};
pub use org::SalesforceFeed;
/// The URL type of the configuration, re-exported so embedders need not depend on `url`.
pub use url::Url;

use api::Api;
use auth::{SalesforceTokens, Session};
use mapping::Mapping;

/// What the identity service says about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserInfo {
    username: String,
    display_name: Option<String>,
    time_zone: Option<String>,
}

/// A connection to one Salesforce user's Contacts and Events.
///
/// **The API budget.** Every response's `Sforce-Limit-Info` updates the org's usage. Once usage
/// reaches [`config::BudgetConfig::stop_at_share`] of the daily limit (or Salesforce answers
/// `REQUEST_LIMIT_EXCEEDED`), the connector sends nothing more until
/// [`config::BudgetConfig::recheck_after`] has passed, and then lets one request probe. While
/// stopped:
///
/// - `pull` ends the round early: it returns the changes read so far with `done: true` and a
///   cursor that resumes the interrupted round where it stopped, so the engine plans, writes and
///   commits what was read, and the next cycle carries on instead of starting over;
/// - `apply` answers [`ConnectorError::Throttled`] (no delay) for each write it did not send, so
///   the engine records them as failed-for-now and replans them next cycle;
/// - `fetch`, `find_by_key` and `identity` fail with `Throttled`.
pub struct SalesforceConnector {
    pub(crate) config: SalesforceConfig,
    pub(crate) mapping: Mapping,
    pub(crate) api: Api,
    session: Arc<Mutex<Session>>,
    user: tokio::sync::Mutex<Option<UserInfo>>,
    /// What the org's describes said, learned on first use.
    learned: tokio::sync::OnceCell<describe::Learned>,
}

impl std::fmt::Debug for SalesforceConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceConnector").field("config", &self.config).finish_non_exhaustive()
    }
}

impl SalesforceConnector {
    /// A connector over `http` (share one client between connectors to share its pool).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for an invalid configuration: bad URLs, API version, field
    /// names, filter fields the mapping does not know, a time zone that does not exist.
    pub fn new(config: SalesforceConfig, http: HttpClient) -> Result<Self, ConnectorError> {
        SalesforceConnector::with_clock(config, http, Arc::new(SystemClock))
    }

    /// Like [`new`](Self::new) with an injected clock for token expiry and the budget's recheck
    /// delay (tests use [`tandem_connector::http::ManualClock`]).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_clock(
        config: SalesforceConfig,
        http: HttpClient,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        config.validate()?;
        let mapping = Mapping::new(
            config.middle_name,
            config.contact_custom_fields.clone(),
            config.event_custom_fields.clone(),
            config.sync_key.field.clone(),
            config.addresses,
        )
        .with_account_matching(config.related.match_accounts);
        for condition in &config.contact_filter {
            soql::Ident::new(&condition.field)
                .ok()
                .filter(|f| mapping.known_field(ObjectKind::Contact, f.as_str()))
                .ok_or_else(|| ConnectorError::Config {
                    message: format!(
                        "the contact filter names `{}`, which is not a Contact field the connector knows",
                        condition.field
                    ),
                })?;
        }
        let session = Arc::new(Mutex::new(Session::default()));
        let tokens = SalesforceTokens::new(
            config.auth.clone(),
            config.token_url()?,
            config.jwt_audience(),
            http.oauth(),
            session.clone(),
            config.session_lifetime,
            config.scopes.clone(),
        )
        .on_refresh_token(config.on_refresh_token.clone());
        let tokens = TokenCache::new(tokens).with_clock(clock.clone());
        let api = Api::new(
            http,
            tokens,
            session.clone(),
            config.instance_url.clone(),
            config.api_version.clone(),
            config.budget,
            clock,
        );
        Ok(SalesforceConnector {
            config,
            mapping,
            api,
            session,
            user: tokio::sync::Mutex::new(None),
            learned: tokio::sync::OnceCell::new(),
        })
    }

    /// The HTTP client (its request counters include this connector's requests).
    pub fn http(&self) -> &HttpClient {
        self.api.http()
    }

    /// The org's API usage as the last response reported it.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        self.api.usage()
    }

    /// Whether the connector is holding back requests because of the API budget.
    pub fn budget_stopped(&self) -> bool {
        self.api.budget_stopped()
    }

    /// Lifts a budget stop at once, e.g. after an administrator raised the org's limit.
    pub fn reset_budget(&self) {
        self.api.reset_budget();
    }

    /// Learns, once, what the org's describes of Contact and Event say: field lengths and the
    /// sync-key field (see `describe`). Two API calls for the connector's lifetime.
    pub(crate) async fn learn(&self) -> Result<&describe::Learned, ConnectorError> {
        self.learned
            .get_or_try_init(|| async {
                let mut described = Vec::new();
                for object in ["Contact", "Event"] {
                    let url = self.api.data_url(&format!("sobjects/{object}/describe")).await?;
                    let body = self
                        .api
                        .get_json(&url, "GET /services/data/{version}/sobjects/{type}/describe")
                        .await
                        .map_err(api::ApiError::into_connector)?;
                    described.push(describe::Described::parse(&body));
                }
                describe::learn(&self.mapping, self.config.sync_key.mode, &described[0], &described[1])
                    .map_err(|message| ConnectorError::Config { message })
            })
            .await
    }

    /// How creates are made idempotent: the configured mode, or look-up-then-create when the
    /// org's key field turned out not to be an External ID.
    pub(crate) fn key_mode(&self) -> config::KeyMode {
        self.learned.get().map_or(self.config.sync_key.mode, |l| l.key_mode)
    }

    /// The configuration.
    pub fn config(&self) -> &SalesforceConfig {
        &self.config
    }

    /// The synced user's id: configured, or the session's user.
    async fn user_id(&self) -> Result<String, ConnectorError> {
        if let Some(id) = &self.config.user_id {
            return Ok(id.clone());
        }
        let session = self.api.ensure_session().await?;
        let id = session.user_id.ok_or_else(|| ConnectorError::Config {
            message: "the token endpoint did not identify the user; configure user_id".to_owned(),
        })?;
        soql::check_id(&id).map_err(|e| ConnectorError::Config { message: e.to_string() })?;
        Ok(id)
    }

    async fn user_info(&self) -> Result<UserInfo, ConnectorError> {
        let mut slot = self.user.lock().await;
        if let Some(info) = slot.as_ref() {
            return Ok(info.clone());
        }
        let session = self.api.ensure_session().await?;
        let url = session.identity_url.ok_or_else(|| ConnectorError::Config {
            message: "the token endpoint returned no identity URL".to_owned(),
        })?;
        let doc = self.api.get_json(&url, "/id/{org}/{user}").await.map_err(api::ApiError::into_connector)?;
        let field = |name: &str| doc.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let info = UserInfo {
            username: field("username").or_else(|| self.config.auth.username().map(str::to_owned)).ok_or_else(
                || ConnectorError::Transient { message: "the identity service named no user".to_owned() },
            )?,
            display_name: field("display_name"),
            time_zone: field("timezone").filter(|z| z.parse::<chrono_tz::Tz>().is_ok()),
        };
        *slot = Some(info.clone());
        Ok(info)
    }

    /// The zone event times are read in: configured, else the user's Salesforce time zone,
    /// else UTC.
    async fn zone(&self) -> Result<String, ConnectorError> {
        if let Some(zone) = &self.config.time_zone {
            return Ok(zone.clone());
        }
        Ok(self.user_info().await?.time_zone.unwrap_or_else(|| "UTC".to_owned()))
    }
}

#[async_trait]
impl Connector for SalesforceConnector {
    fn provider(&self) -> &str {
        "salesforce"
    }

    /// The org's daily API usage as the last response's `Sforce-Limit-Info` reported it.
    fn api_budget(&self) -> Option<ApiBudget> {
        self.api_usage().map(|u| ApiBudget::new(u.used, u.limit, BudgetScope::Organization))
    }

    fn capabilities(&self) -> Capabilities {
        // The org's real lengths once a call has learned them; the documented defaults before.
        self.learned.get().map_or_else(|| self.mapping.capabilities().clone(), |l| l.capabilities.clone())
    }

    fn connection(&self) -> ConnectionInfo {
        let mut endpoints = Vec::new();
        if let Ok(url) = self.config.token_url() {
            endpoints.push(url.to_string());
        }
        let instance =
            self.config.instance_url.clone().or_else(|| {
                self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner).instance_url.clone()
            });
        if let Some(url) = instance {
            endpoints.push(url.to_string());
        }
        let principal = self
            .config
            .auth
            .username()
            .map(str::to_owned)
            .or_else(|| self.user.try_lock().ok().and_then(|u| u.as_ref().map(|u| u.username.clone())));
        ConnectionInfo {
            provider: "salesforce".to_owned(),
            method: self.config.auth.method().to_owned(),
            endpoints,
            scopes: self.config.scopes.clone(),
            principal,
        }
    }

    async fn identity(&self) -> Result<Identity, ConnectorError> {
        let info = self.user_info().await?;
        Ok(Identity { user: info.username, display_name: info.display_name })
    }

    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        self.learn().await?;
        self.pull_page(object, cursor).await
    }

    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        self.learn().await?;
        self.fetch_ids(object, ids).await
    }

    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        self.learn().await?;
        self.apply_batch(object, ops, None).await
    }

    /// Yes: contacts and events keep separate cursors and write paths; what they share (the
    /// session, the described schema, the budget) is made for concurrent calls.
    fn concurrent_objects(&self) -> bool {
        true
    }

    /// Two objects' writes with their updates and deletes in shared sObject collection
    /// requests (`write/collections.rs`); any other number of entries separately.
    async fn apply_mixed(&self, batches: &[ObjectWrites]) -> Vec<Result<Vec<WriteResult>, ConnectorError>> {
        if let Err(error) = self.learn().await {
            return batches.iter().map(|_| Err(error.clone())).collect();
        }
        match batches {
            [first, second] => self.apply_two(first, second).await.into(),
            _ => tandem_connector::apply_separately(self, batches).await,
        }
    }

    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.learn().await?;
        self.find_key(object, key).await
    }

    async fn recheck(
        &self,
        object: ObjectKind,
        items: &[tandem_core::state::Unresolved],
    ) -> Result<Vec<bool>, ConnectorError> {
        self.recheck_items(object, items).await
    }

    async fn feed_member(&self) -> Result<Option<String>, ConnectorError> {
        // The key `SalesforceFeed` routes by: the user's id (owner and invitee ids in the feed).
        self.user_id().await.map(Some)
    }
}
