//! [`GraphConnector`]: the [`Connector`] for one Microsoft 365 mailbox.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tandem_connector::http::HttpClient;
use tandem_connector::{
    ApiBudget, BudgetScope, ConnectionInfo, Connector, ConnectorError, Identity, ObjectPage, ObjectWrites, PullPage,
    WriteOp, WriteResult, Written,
};
use tandem_core::capabilities::{Capabilities, ObjectCapabilities};
use tandem_core::fields::FieldKey;
use tandem_core::model::{AddressKind, ObjectKind, PhoneKind};
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId};

use crate::config::GraphConfig;
use crate::http::{BudgetUse, GraphHttp, MAX_BATCH};

/// Where the connector gets the time (the calendar window is relative to it).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The Microsoft Graph connector for one mailbox. Cheap to share (`Arc<dyn Connector>`); safe
/// to call from several tasks (it keeps at most four requests in flight for its mailbox).
pub struct GraphConnector {
    pub(crate) config: GraphConfig,
    pub(crate) http: GraphHttp,
    pub(crate) folder: tokio::sync::Mutex<Option<String>>,
    pub(crate) clock: Clock,
}

impl std::fmt::Debug for GraphConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphConnector").field("config", &self.config).finish_non_exhaustive()
    }
}

/// What a Graph mailbox can store (see the crate documentation for the mapping).
///
/// Contacts: every standard field except the four phone slots Graph lacks (assistant, business
/// fax, home fax, other), so the planner never blanks them in the CRM; at most 3 email
/// addresses, 2 business and 2 home phones, 1 mobile phone and one address of each kind
/// (business, home, other; each its own field) (the counts are Outlook's slots; the service's
/// limits are unverified). Events: every standard
/// field except CRM links and the organizer (the service makes the mailbox owner the organizer
/// of the events an app creates, so the organizer is read, and carried into the CRM when an
/// event is created there, but never written nor compared); at most 500 attendees; subjects of
/// at most 255 characters (Exchange's limit, unverified). No custom fields. Batches of 20.
pub fn graph_capabilities() -> Capabilities {
    let mut contacts = ObjectCapabilities::everything(ObjectKind::Contact)
        .without(FieldKey::Phone(PhoneKind::Assistant))
        .without(FieldKey::Phone(PhoneKind::BusinessFax))
        .without(FieldKey::Phone(PhoneKind::HomeFax))
        .without(FieldKey::Phone(PhoneKind::Other))
        .with_max_items(FieldKey::Emails, 3)
        .with_max_items(FieldKey::Phone(PhoneKind::Business), 2)
        .with_max_items(FieldKey::Phone(PhoneKind::Home), 2)
        .with_max_items(FieldKey::Phone(PhoneKind::Mobile), 1)
        .with_max_items(FieldKey::Address(AddressKind::Work), 1)
        .with_max_items(FieldKey::Address(AddressKind::Home), 1)
        .with_max_items(FieldKey::Address(AddressKind::Other), 1);
    contacts.custom_fields = false;
    contacts.max_batch = MAX_BATCH;
    let mut events = ObjectCapabilities::everything(ObjectKind::Event)
        .without(FieldKey::CrmLinks)
        .without(FieldKey::Organizer)
        .with_max_items(FieldKey::Attendees, 500)
        .with_limit(FieldKey::Subject, Some(255), false);
    events.custom_fields = false;
    events.max_batch = MAX_BATCH;
    Capabilities { contacts, events }
}

impl GraphConnector {
    /// A connector for the mailbox of `config`, sending through `http` (share one client
    /// between connectors: one connection pool).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for invalid or forbidden endpoints, an unreadable certificate
    /// or key, or an assertion lifetime above 10 minutes.
    pub fn new(config: GraphConfig, http: HttpClient) -> Result<Self, ConnectorError> {
        if config.mailbox.trim().is_empty() {
            return Err(ConnectorError::Config { message: "the mailbox is required".to_owned() });
        }
        let http = GraphHttp::new(&config, http)?;
        Ok(GraphConnector { config, http, folder: tokio::sync::Mutex::new(None), clock: Arc::new(Utc::now) })
    }

    /// A connector with its own [`HttpClient`] (default settings).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_defaults(config: GraphConfig) -> Result<Self, ConnectorError> {
        GraphConnector::new(config, HttpClient::with_defaults()?)
    }

    /// Replaces the clock the calendar window is computed from.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    /// The use of the mailbox's request budget (10,000 requests per 10 minutes by default;
    /// batch items count one each).
    pub fn budget(&self) -> BudgetUse {
        self.http.budget_use()
    }

    /// HTTP requests sent so far through this connector's client (token requests included).
    pub fn requests_sent(&self) -> u64 {
        self.http.http().requests_sent()
    }

    /// HTTP requests sent so far, by `METHOD template`.
    pub fn requests_by_template(&self) -> BTreeMap<String, u64> {
        self.http.http().requests_by_template()
    }
}

#[async_trait]
impl Connector for GraphConnector {
    fn provider(&self) -> &str {
        "graph"
    }

    fn capabilities(&self) -> Capabilities {
        graph_capabilities()
    }

    fn connection(&self) -> ConnectionInfo {
        ConnectionInfo {
            provider: "graph".to_owned(),
            method: self.config.auth.method().to_owned(),
            endpoints: vec![
                self.config.token_url().map(|u| u.to_string()).unwrap_or_default(),
                self.config.graph_base.clone(),
            ],
            scopes: self.config.scopes(),
            principal: Some(self.config.mailbox.clone()),
        }
    }

    /// The mailbox's request budget as this connector enforces it ([`GraphConnector::budget`]).
    fn api_budget(&self) -> Option<ApiBudget> {
        let b = self.budget();
        Some(ApiBudget::new(u64::from(b.used), u64::from(b.limit), BudgetScope::Connection))
    }

    /// The owner of the mailbox's primary calendar (`GET /users/{mailbox}/calendar`): readable
    /// with `Calendars.ReadWrite` alone, app-only or delegated, where `/users/{id}` would need
    /// `User.Read` (delegated) or `User.Read.All` (app-only), which Tandem does not ask for.
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        let url = self.http.url(&format!("{}/calendar", self.http.mailbox_path()))?;
        let answer = self.http.get(url, "/users/{id}/calendar", false).await?;
        if let Some(e) = answer.error() {
            return Err(e);
        }
        let owner = answer.body.get("owner");
        let field =
            |k: &str| owner.and_then(|o| o.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(Identity {
            user: field("address").unwrap_or_else(|| self.config.mailbox.clone()),
            display_name: field("name"),
        })
    }

    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        self.pull_object(object, cursor, None).await
    }

    /// Two objects' pages with their delta requests in one `$batch` (see `read.rs`); any other
    /// number of entries separately.
    async fn pull_mixed(&self, pages: &[ObjectPage]) -> Vec<Result<PullPage, ConnectorError>> {
        match pages {
            [first, second] => self.pull_two(first, second).await.into(),
            _ => tandem_connector::pull_separately(self, pages).await,
        }
    }

    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match object {
            ObjectKind::Contact => self.fetch_contacts(ids).await,
            ObjectKind::Event => self.fetch_events(ids).await,
        }
    }

    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        match object {
            ObjectKind::Contact => self.apply_contacts(ops, None).await,
            ObjectKind::Event => self.apply_events(ops, None).await,
        }
    }

    /// Yes: a mailbox's contacts and events keep separate cursors, folders and write paths, and
    /// share only the mailbox's budget and slots, which are made for concurrent calls.
    fn concurrent_objects(&self) -> bool {
        true
    }

    /// Two objects' writes in the same `$batch` requests (see `write.rs`); any other number of
    /// entries separately.
    async fn apply_mixed(&self, batches: &[ObjectWrites]) -> Vec<Result<Vec<WriteResult>, ConnectorError>> {
        match batches {
            [first, second] if !first.1.is_empty() && !second.1.is_empty() => {
                self.apply_two(first, second).await.into()
            }
            _ => tandem_connector::apply_separately(self, batches).await,
        }
    }

    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.lookup(object, key).await
    }
}
