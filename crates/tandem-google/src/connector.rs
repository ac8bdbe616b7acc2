//! [`GoogleConnector`]: the [`Connector`] for one Workspace user's calendar and contacts.

use async_trait::async_trait;
use serde_json::{Value, json};
use tandem_connector::http::{HttpClient, RequestSpec, TokenCache};
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::{Capabilities, ObjectCapabilities};
use tandem_core::fields::FieldKey;
use tandem_core::model::{ObjectKind, PhoneKind};
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId};

use crate::auth::{GoogleTokenSource, SCOPES, ServiceAccountTokenSource, Signer, UserOAuthTokenSource};
use crate::config::{GoogleAuth, GoogleConfig};
use crate::http::{Context, GoogleHttp};
use crate::write::event_id_for;

/// The Google connector for one user. Cheap to share; People mutations are serialised.
pub struct GoogleConnector {
    pub(crate) config: GoogleConfig,
    pub(crate) http: GoogleHttp,
    pub(crate) group: tokio::sync::Mutex<Option<String>>,
    pub(crate) mutations: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GoogleConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleConnector").field("config", &self.config).finish_non_exhaustive()
    }
}

/// What Google can store. Contacts: no assistant name nor assistant phone (People has no such
/// slots in what is mapped) and no custom fields, so they are never blanked in the CRM. Events:
/// no categories and no CRM links; the organizer is read-only (Google makes the calendar's
/// owner the organizer); at most 200 attendees per write here (unverified limit kept low).
pub fn google_capabilities() -> Capabilities {
    let mut contacts = ObjectCapabilities::everything(ObjectKind::Contact)
        .without(FieldKey::AssistantName)
        .without(FieldKey::Phone(PhoneKind::Assistant));
    contacts.custom_fields = false;
    contacts.max_batch = 200;
    let mut events = ObjectCapabilities::everything(ObjectKind::Event)
        .without(FieldKey::Categories)
        .without(FieldKey::CrmLinks)
        .with_read_only(FieldKey::Organizer);
    events.custom_fields = false;
    // Five Calendar batch requests of 50 per apply: the instances of the series written go in
    // one round after their masters, so larger applies leave fewer part-filled rounds.
    events.max_batch = 250;
    Capabilities { contacts, events }
}

impl GoogleConnector {
    /// A connector for `config` (which must carry exactly one kind of credentials: a
    /// service-account key or per-user OAuth), sending through `http`.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for an invalid configuration, missing, conflicting or
    /// unreadable credentials.
    pub fn new(config: GoogleConfig, http: HttpClient) -> Result<Self, ConnectorError> {
        config.validate()?;
        let source = match config.auth()? {
            GoogleAuth::ServiceAccount(key) => {
                let token_url = config.token_endpoint()?;
                let signer = Signer::new(key, &config.user, &token_url, config.assertion_lifetime_secs)?;
                GoogleTokenSource::ServiceAccount(ServiceAccountTokenSource { oauth: http.oauth(), token_url, signer })
            }
            GoogleAuth::UserOAuth(credentials) => {
                GoogleTokenSource::UserOAuth(UserOAuthTokenSource::new(&config, credentials, &http)?)
            }
        };
        let tokens = TokenCache::new(source);
        Ok(GoogleConnector {
            config,
            http: GoogleHttp { http, tokens },
            group: tokio::sync::Mutex::new(None),
            mutations: tokio::sync::Mutex::new(()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GoogleConfig {
        &self.config
    }

    /// The contact group's resource name, created when missing.
    pub(crate) async fn contact_group(&self) -> Result<String, ConnectorError> {
        let mut cached = self.group.lock().await;
        if let Some(g) = cached.as_ref() {
            return Ok(g.clone());
        }
        let url = self.config.people_url("contactGroups")?;
        let mut page: Option<String> = None;
        let found = loop {
            let mut query = vec![("pageSize", "1000")];
            if let Some(p) = &page {
                query.push(("pageToken", p));
            }
            let (_, body) = self
                .http
                .call(RequestSpec::get(url.clone()).query(&query).template("GET /contactGroups"), Context::Item)
                .await?;
            let hit = body
                .get("contactGroups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|g| g.get("name").and_then(Value::as_str) == Some(self.config.contact_group.as_str()));
            if let Some(g) = hit.and_then(|g| g.get("resourceName")).and_then(Value::as_str) {
                break Some(g.to_owned());
            }
            page = body.get("nextPageToken").and_then(Value::as_str).map(str::to_owned);
            if page.is_none() {
                break None;
            }
        };
        let group = match found {
            Some(g) => g,
            None => {
                let body = json!({"contactGroup": {"name": self.config.contact_group}});
                let req = RequestSpec::post(url).json(&body).template("POST /contactGroups");
                let (_, created) = self.http.call(req, Context::Item).await?;
                created.get("resourceName").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| {
                    ConnectorError::Transient { message: "contact group created without a name".into() }
                })?
            }
        };
        *cached = Some(group.clone());
        Ok(group)
    }
}

#[async_trait]
impl Connector for GoogleConnector {
    fn provider(&self) -> &str {
        "google"
    }

    fn capabilities(&self) -> Capabilities {
        google_capabilities()
    }

    fn connection(&self) -> ConnectionInfo {
        ConnectionInfo {
            provider: "google".to_owned(),
            // `new` made sure there is exactly one method.
            method: self.config.auth().map(|a| a.method()).unwrap_or(crate::auth::METHOD_SERVICE_ACCOUNT).to_owned(),
            endpoints: vec![
                self.config.token_url.clone(),
                self.config.calendar_base.clone(),
                self.config.people_base.clone(),
                self.config.batch_url.clone(),
            ],
            scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            principal: Some(self.config.user.clone()),
        }
    }

    async fn identity(&self) -> Result<Identity, ConnectorError> {
        Ok(Identity { user: self.config.user.clone(), display_name: None })
    }

    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        match object {
            ObjectKind::Contact => self.pull_contacts(cursor).await,
            ObjectKind::Event => self.pull_events(cursor).await,
        }
    }

    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(match object {
                ObjectKind::Event => self.read_series(id.as_str()).await?,
                ObjectKind::Contact => match self.get_person(id.as_str()).await? {
                    Some(p) => crate::read::contact_change(id.as_str(), &p),
                    None => Change::deleted(id.as_str()),
                },
            });
        }
        Ok(out)
    }

    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        match object {
            ObjectKind::Contact => self.apply_contacts(ops).await,
            ObjectKind::Event => Ok(self.apply_events(ops).await),
        }
    }

    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        match object {
            ObjectKind::Event => {
                let id = event_id_for(key);
                Ok(self.get_event(&id).await?.map(|e| {
                    let etag = e.get("etag").and_then(Value::as_str).unwrap_or_default();
                    Written::new(RecordId::new(id), tandem_core::state::Version::new(etag))
                }))
            }
            ObjectKind::Contact => self.find_contact_by_key(key).await,
        }
    }
}
