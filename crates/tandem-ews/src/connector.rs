//! [`EwsConnector`]: the [`Connector`] for one Exchange mailbox over EWS, and its transport.

use std::sync::Arc;

use async_trait::async_trait;
use http::HeaderValue;
use tandem_connector::http::{HttpClient, RequestSpec, Secret, TokenCache};
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::{Capabilities, ObjectCapabilities};
use tandem_core::fields::FieldKey;
use tandem_core::model::{AddressKind, ObjectKind, PhoneKind};
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId};
use url::Url;

use crate::auth::{NtlmTransport, Tokens, basic_header};
use crate::config::{EwsAuth, EwsConfig};
use crate::xml::{self, Header, ResponseMessage, XmlWriter};

/// What an EWS mailbox can store (see the crate documentation for the mapping).
///
/// Contacts: every standard field; at most 3 email addresses, 2 business and 2 home phones, one
/// number in each other phone slot and one address of each kind. No custom fields. Events: every
/// standard field except CRM links and the organizer (Exchange makes the mailbox the organizer
/// of the items it creates; the organizer is read, never written nor compared); at most 500
/// attendees; subjects of at most 255 characters. Batches of `write_batch` (default 20).
pub fn ews_capabilities(write_batch: usize) -> Capabilities {
    let mut contacts = ObjectCapabilities::everything(ObjectKind::Contact)
        .with_max_items(FieldKey::Emails, 3)
        .with_max_items(FieldKey::Phone(PhoneKind::Business), 2)
        .with_max_items(FieldKey::Phone(PhoneKind::Home), 2)
        .with_max_items(FieldKey::Phone(PhoneKind::Mobile), 1)
        .with_max_items(FieldKey::Phone(PhoneKind::BusinessFax), 1)
        .with_max_items(FieldKey::Phone(PhoneKind::HomeFax), 1)
        .with_max_items(FieldKey::Phone(PhoneKind::Assistant), 1)
        .with_max_items(FieldKey::Phone(PhoneKind::Other), 1)
        .with_max_items(FieldKey::Address(AddressKind::Work), 1)
        .with_max_items(FieldKey::Address(AddressKind::Home), 1)
        .with_max_items(FieldKey::Address(AddressKind::Other), 1);
    contacts.custom_fields = false;
    contacts.max_batch = write_batch;
    let mut events = ObjectCapabilities::everything(ObjectKind::Event)
        .without(FieldKey::CrmLinks)
        .without(FieldKey::Organizer)
        .with_max_items(FieldKey::Attendees, 500)
        .with_limit(FieldKey::Subject, Some(255), false);
    events.custom_fields = false;
    events.max_batch = write_batch;
    Capabilities { contacts, events }
}

pub(crate) enum Transport {
    Basic(Secret),
    Bearer(Tokens),
    Ntlm(NtlmTransport),
}

/// The bound on calls in flight per (endpoint, service account), shared by every connector of
/// that account in the process: the registry holds them weakly, so a bound lives as long as a
/// connector uses it.
fn account_permits(config: &EwsConfig, url: &Url) -> Arc<tokio::sync::Semaphore> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError, Weak};
    static REGISTRY: OnceLock<Mutex<HashMap<String, Weak<tokio::sync::Semaphore>>>> = OnceLock::new();
    let account = match &config.auth {
        EwsAuth::Ntlm { username, domain, .. } => {
            format!("ntlm:{}\\{}", domain.trim().to_lowercase(), username.trim().to_lowercase())
        }
        EwsAuth::Basic { username, .. } => format!("basic:{}", username.trim().to_lowercase()),
        // An application's tokens: one account per token source.
        EwsAuth::Bearer { tokens, .. } => format!("bearer:{:p}", Arc::as_ptr(tokens)),
    };
    let key = format!("{url} {account}");
    let mut registry = REGISTRY.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    registry.retain(|_, s| s.strong_count() > 0);
    if let Some(s) = registry.get(&key).and_then(Weak::upgrade) {
        return s;
    }
    let s = Arc::new(tokio::sync::Semaphore::new(config.max_account_concurrency));
    registry.insert(key, Arc::downgrade(&s));
    s
}

/// The EWS connector for one mailbox. Cheap to share (`Arc<dyn Connector>`); safe to call from
/// several tasks (it keeps at most [`EwsConfig::max_concurrency`] calls in flight, and at most
/// [`EwsConfig::max_account_concurrency`] with every other connector of its service account).
pub struct EwsConnector {
    pub(crate) config: EwsConfig,
    pub(crate) url: Url,
    pub(crate) http: HttpClient,
    pub(crate) transport: Transport,
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
    pub(crate) account_permits: Arc<tokio::sync::Semaphore>,
    pub(crate) folder: tokio::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for EwsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsConnector").field("config", &self.config).finish_non_exhaustive()
    }
}

impl EwsConnector {
    /// A connector for the mailbox of `config`, sending through `http` (Basic and OAuth; NTLM
    /// uses a client of its own, see [`crate::auth`]).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for an invalid configuration or a forbidden endpoint.
    pub fn new(config: EwsConfig, http: HttpClient) -> Result<Self, ConnectorError> {
        config.validate()?;
        let url = config.endpoint_url()?;
        let transport = match &config.auth {
            EwsAuth::Basic { username, password } => Transport::Basic(basic_header(username, password)),
            EwsAuth::Bearer { tokens, .. } => Transport::Bearer(TokenCache::new(Arc::clone(tokens))),
            EwsAuth::Ntlm { username, domain, password } => {
                Transport::Ntlm(NtlmTransport::new(username, domain, password)?)
            }
        };
        let permits = Arc::new(tokio::sync::Semaphore::new(config.max_concurrency));
        let account_permits = account_permits(&config, &url);
        Ok(EwsConnector {
            config,
            url,
            http,
            transport,
            permits,
            account_permits,
            folder: tokio::sync::Mutex::new(None),
        })
    }

    /// A connector with its own [`HttpClient`] (default settings).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_defaults(config: EwsConfig) -> Result<Self, ConnectorError> {
        EwsConnector::new(config, HttpClient::with_defaults()?)
    }

    /// The configuration.
    pub fn config(&self) -> &EwsConfig {
        &self.config
    }

    pub(crate) fn header(&self) -> Header<'_> {
        Header {
            version: &self.config.server_version,
            impersonate: self.config.impersonate.then_some(self.config.mailbox.as_str()),
        }
    }

    /// A whole request envelope for an operation written by `body`.
    pub(crate) fn envelope(&self, body: impl FnOnce(&mut XmlWriter)) -> Vec<u8> {
        xml::envelope(&self.header(), body)
    }

    /// Sends one SOAP call and returns its response messages (per-item errors included).
    pub(crate) async fn call(&self, operation: &str, body: Vec<u8>) -> Result<Vec<ResponseMessage>, ConnectorError> {
        let closed = |_| ConnectorError::Transient { message: "the connector is shutting down".to_owned() };
        // The mailbox's permit first, then the account's: always in this order.
        let _permit = self.permits.acquire().await.map_err(closed)?;
        let _account = self.account_permits.acquire().await.map_err(closed)?;
        let max = self.config.max_response_bytes;
        let mailbox = self.config.mailbox.trim();
        let request = || {
            RequestSpec::post(self.url.clone())
                .body(body.clone(), HeaderValue::from_static("text/xml; charset=utf-8"))
                .header("X-AnchorMailbox", mailbox)
                .rate_key(mailbox.to_owned())
                .template(format!("POST EWS {operation}"))
        };
        let (status, retry_after, bytes, refreshable) = match &self.transport {
            Transport::Basic(header) => {
                let r = self.http.send_unmapped(request().header("Authorization", header.expose())).await?;
                (r.status().as_u16(), r.retry_after(), r.into_body(), false)
            }
            Transport::Bearer(tokens) => {
                let token = tokens.token().await?;
                let mut r = self.http.send_unmapped(request().bearer_auth(&token)).await?;
                if r.status().as_u16() == 401 {
                    tokens.invalidate_if_current(&token).await;
                    let token = tokens.token().await?;
                    r = self.http.send_unmapped(request().bearer_auth(&token)).await?;
                }
                (r.status().as_u16(), r.retry_after(), r.into_body(), true)
            }
            Transport::Ntlm(ntlm) => {
                let a = ntlm.send(&self.url, mailbox, body.clone(), max).await?;
                (a.status, a.retry_after, a.body, false)
            }
        };
        interpret(operation, status, retry_after, &bytes, max, refreshable)
    }
}

/// Maps an HTTP answer onto response messages or an error.
pub(crate) fn interpret(
    operation: &str,
    status: u16,
    retry_after: Option<std::time::Duration>,
    body: &[u8],
    max: usize,
    refreshable: bool,
) -> Result<Vec<ResponseMessage>, ConnectorError> {
    match status {
        401 => Err(ConnectorError::Auth { refreshable, message: format!("EWS {operation}: HTTP 401") }),
        403 => Err(ConnectorError::Auth { refreshable: false, message: format!("EWS {operation}: HTTP 403") }),
        429 | 503 => Err(ConnectorError::Throttled { retry_after }),
        200 | 500 => match xml::parse_messages(body, max) {
            Ok(m) => Ok(m),
            Err(e) if status == 500 && matches!(e, ConnectorError::Transient { .. }) => {
                Err(ConnectorError::Transient { message: format!("EWS {operation}: HTTP 500") })
            }
            Err(e) => Err(e),
        },
        s if (400..500).contains(&s) => {
            Err(ConnectorError::Rejected { code: s.to_string(), message: format!("EWS {operation}: HTTP {s}") })
        }
        s => Err(ConnectorError::Transient { message: format!("EWS {operation}: HTTP {s}") }),
    }
}

#[async_trait]
impl Connector for EwsConnector {
    fn provider(&self) -> &str {
        "ews"
    }

    fn capabilities(&self) -> Capabilities {
        ews_capabilities(self.config.write_batch)
    }

    fn connection(&self) -> ConnectionInfo {
        ConnectionInfo {
            provider: "ews".to_owned(),
            method: self.config.auth.method().to_owned(),
            endpoints: vec![self.url.to_string()],
            scopes: self.config.auth.scopes(),
            principal: Some(self.config.mailbox.clone()),
        }
    }

    /// Checks access to the mailbox's calendar (`GetFolder calendar`) and answers the configured
    /// mailbox.
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        let mailbox = self.config.mailbox.clone();
        let body = self.envelope(|w| {
            w.open("m:GetFolder", &[]);
            w.open("m:FolderShape", &[]);
            w.text("t:BaseShape", "IdOnly");
            w.close("m:FolderShape");
            w.open("m:FolderIds", &[]);
            crate::read::distinguished(w, "calendar", &mailbox);
            w.close("m:FolderIds");
            w.close("m:GetFolder");
        });
        xml::single(self.call("GetFolder", body).await?)?;
        Ok(Identity { user: self.config.mailbox.clone(), display_name: None })
    }

    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        self.pull_page(object, cursor).await
    }

    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
        self.read_items(object, &ids).await
    }

    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        self.write(object, ops).await
    }

    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.lookup(object, key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_onto_the_taxonomy() {
        assert!(matches!(
            interpret("X", 401, None, b"", 1024, true),
            Err(ConnectorError::Auth { refreshable: true, .. })
        ));
        assert!(matches!(
            interpret("X", 403, None, b"", 1024, true),
            Err(ConnectorError::Auth { refreshable: false, .. })
        ));
        assert!(matches!(interpret("X", 503, None, b"", 1024, false), Err(ConnectorError::Throttled { .. })));
        assert!(matches!(interpret("X", 500, None, b"<html>", 1024, false), Err(ConnectorError::Transient { .. })));
        assert!(matches!(interpret("X", 400, None, b"", 1024, false), Err(ConnectorError::Rejected { .. })));
        assert!(matches!(interpret("X", 502, None, b"", 1024, false), Err(ConnectorError::Transient { .. })));
    }

    #[test]
    fn capabilities_hold_exchange_slots() {
        let c = ews_capabilities(20);
        assert!(c.contacts.supports(&FieldKey::Phone(PhoneKind::BusinessFax)));
        assert!(c.contacts.supports(&FieldKey::Phone(PhoneKind::Assistant)));
        assert!(!c.events.supports(&FieldKey::CrmLinks));
        assert_eq!(c.events.max_batch, 20);
    }

    #[test]
    fn connection_describes_method_endpoint_and_mailbox() {
        let auth = EwsAuth::Ntlm { username: "svc".into(), domain: "CORP".into(), password: Secret::new("pw") };
        let config = EwsConfig::new("https://mail.example.com/EWS/Exchange.asmx", "ada@example.com", auth);
        let c = EwsConnector::new(config, HttpClient::with_defaults().unwrap()).unwrap();
        let info = c.connection();
        assert_eq!(info.provider, "ews");
        assert_eq!(info.method, "ntlm");
        assert_eq!(info.endpoints, vec!["https://mail.example.com/EWS/Exchange.asmx".to_owned()]);
        assert_eq!(info.principal.as_deref(), Some("ada@example.com"));
        assert!(info.scopes.is_empty());
        let policy = tandem_policy::Policy::default();
        assert!(policy.check_connection(&info).is_ok(), "{:?}", policy.check_connection(&info));
        let c: Arc<dyn Connector> = Arc::new(c);
        assert_eq!(c.provider(), "ews");
    }

    #[test]
    fn the_default_policy_refuses_basic() {
        let auth = EwsAuth::Basic { username: "svc".into(), password: Secret::new("pw") };
        let config = EwsConfig::new("https://mail.example.com/EWS/Exchange.asmx", "ada@example.com", auth);
        let c = EwsConnector::new(config, HttpClient::with_defaults().unwrap()).unwrap();
        assert!(tandem_policy::Policy::default().check_connection(&c.connection()).is_err());
    }
}
