//! # CalDAV (RFC 4791) and CardDAV (RFC 6352) servers
//!
//! What lives here: [`DavConnector`], the [`Connector`] for one account on a standards-based
//! server (Radicale, Xandikos, Nextcloud, Fastmail, iCloud…): events sync with one calendar,
//! contacts with one address book, both found by discovery ([`discover`], RFC 6764) or named in
//! the configuration ([`DavConfig`]); [`DavBuilder`] builds it from a connection's TOML
//! settings (`provider = "dav"`).
//!
//! Modules, by job:
//!
//! - `config`: [`DavConfig`], [`DavAuth`], [`CollectionChoice`], [`SyncMethod`].
//! - `client`: credentials, allowed origins, hrefs, the WebDAV requests.
//! - `discover`: well-known URLs, principal, home sets, collections.
//! - `xml`: request bodies through quick-xml's writer and the reader of `multistatus`.
//! - `read`: `sync-collection` and the etag-listing fallback, cursors, multigets.
//! - `write`: `PUT` with `If-None-Match`/`If-Match`, `DELETE`, `find_by_key`.
//! - `map`: resources to records and back through `tandem-core`'s interchange.
//! - `factory`: [`DavBuilder`].
//! - `error`: [`DavError`] and its mapping into `ConnectorError`.
//!
//! What must never live here: sync decisions (the planner), generic HTTP plumbing
//! (`tandem_connector::http`), and secrets in logs, errors or `Debug` output.
//!
//! Ids and versions: a record's id is its resource's href path (`/user/cal/x.ics`), its
//! version the resource's etag.

mod client;
mod config;
pub mod discover;
mod error;
mod factory;
mod map;
mod read;
mod write;
mod xml;

use std::sync::Arc;

use async_trait::async_trait;
use tandem_connector::http::HttpClient;
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::{Capabilities, ObjectCapabilities};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId};
use tokio::sync::OnceCell;

pub use config::{CollectionChoice, DavAuth, DavConfig, MAX_MULTIGET, METHOD_BASIC, METHOD_BEARER, SyncMethod};
pub use discover::DavCollection;
pub use error::DavError;
pub use factory::DavBuilder;

/// The CalDAV/CardDAV connector for one account. Cheap to share.
#[derive(Clone)]
pub struct DavConnector {
    inner: Arc<Inner>,
}

/// The connector's state, shared with its write tasks.
pub(crate) struct Inner {
    pub(crate) config: DavConfig,
    pub(crate) http: client::DavHttp,
    calendar: OnceCell<DavCollection>,
    address_book: OnceCell<DavCollection>,
}

impl std::fmt::Debug for DavConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DavConnector").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// What a DAV server holds: everything the iCalendar and vCard interchange can hold (every
/// standard field, custom fields as `X-TANDEM-` properties), in writes of `max_batch`.
pub fn dav_capabilities(max_batch: usize) -> Capabilities {
    let mut contacts = ObjectCapabilities::everything(ObjectKind::Contact);
    contacts.max_batch = max_batch;
    let mut events = ObjectCapabilities::everything(ObjectKind::Event);
    events.max_batch = max_batch;
    Capabilities { contacts, events }
}

impl DavConnector {
    /// A connector for `config`, sending through `http`. Nothing is sent until first use
    /// (discovery then runs once per object kind).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for an invalid configuration.
    pub fn new(config: DavConfig, http: HttpClient) -> Result<Self, ConnectorError> {
        config.validate()?;
        let base = config.base()?;
        let extra = config.extra_origins.iter().map(|o| config::endpoint(o)).collect::<Result<Vec<_>, _>>()?;
        let auth = config.auth.clone().ok_or_else(|| ConnectorError::Config { message: "no credentials".into() })?;
        let http = client::DavHttp::new(http, auth, base, &extra);
        let inner = Inner { config, http, calendar: OnceCell::new(), address_book: OnceCell::new() };
        Ok(DavConnector { inner: Arc::new(inner) })
    }

    /// The configuration.
    pub fn config(&self) -> &DavConfig {
        &self.inner.config
    }

    /// Every collection of `kind` discovery finds in the account (sorted by href).
    ///
    /// # Errors
    ///
    /// The server's errors, mapped.
    pub async fn discover(&self, kind: ObjectKind) -> Result<Vec<DavCollection>, ConnectorError> {
        discover::collections(&self.inner.http, kind).await
    }

    /// The collection `kind` syncs with (discovered once, then kept).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when there is none to use; the server's errors.
    pub async fn collection(&self, kind: ObjectKind) -> Result<DavCollection, ConnectorError> {
        self.inner.collection(kind).await
    }

    /// HTTP requests sent so far (every attempt).
    pub fn requests_sent(&self) -> u64 {
        self.inner.http.http.requests_sent()
    }
}

impl Inner {
    pub(crate) async fn collection(&self, kind: ObjectKind) -> Result<DavCollection, ConnectorError> {
        let (cell, choice) = match kind {
            ObjectKind::Event => (&self.calendar, &self.config.calendar),
            ObjectKind::Contact => (&self.address_book, &self.config.address_book),
        };
        cell.get_or_try_init(|| discover::choose(&self.http, kind, choice)).await.cloned()
    }
}

#[async_trait]
impl Connector for DavConnector {
    fn provider(&self) -> &str {
        "dav"
    }

    fn capabilities(&self) -> Capabilities {
        dav_capabilities(self.inner.config.max_batch)
    }

    fn connection(&self) -> ConnectionInfo {
        let config = &self.inner.config;
        let mut endpoints = vec![config.base_url.clone()];
        endpoints.extend(config.extra_origins.iter().cloned());
        ConnectionInfo {
            provider: "dav".to_owned(),
            method: config.auth.as_ref().map_or(METHOD_BASIC, DavAuth::method).to_owned(),
            endpoints,
            scopes: Vec::new(),
            principal: config.principal().map(str::to_owned),
        }
    }

    async fn identity(&self) -> Result<Identity, ConnectorError> {
        let user = self.inner.config.principal().map_or_else(|| self.inner.config.base_url.clone(), str::to_owned);
        Ok(Identity { user, display_name: None })
    }

    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        self.inner.pull(object, cursor).await
    }

    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        Ok(self.inner.multiget(object, ids).await?.into_iter().map(|(_, c)| c).collect())
    }

    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        self.inner.apply(object, ops).await
    }

    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.inner.find_by_key(object, key).await
    }
}
