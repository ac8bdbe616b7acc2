//! The canary: a full sync with tracing at TRACE, over real HTTP on loopback, with a failing
//! token request, retried requests (503, 429, 500), a token refresh after a 401 and a rejected
//! write, must never print the access tokens, the client secret, the private key or the signed
//! assertion: not in a log line, an error message, a report, the audit log or any `Debug` output.
//!
//! The test connector below is built the way the real ones are, on `tandem_connector::http`
//! (`HttpClient`, `TokenCache`, `post_form_token`) with `tandem_policy::Secret`; the provider is
//! a `FakeServer` that echoes credentials back in its error bodies, as careless providers do.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tandem_connector::http::{
    AccessToken, HttpClient, HttpConfig, OAuthHttp, RequestSpec, Secret, TokenCache, TokenSource, post_form_token,
};
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::{Contact, ObjectKind, Record};
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId, Version};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_policy::Policy;
use tandem_store::{SqliteStore, StateStore};
use tandem_testkit::server::FakeServer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use url::Url;

const ACCESS_TOKEN_1: &str = "CANARY-ACCESS-TOKEN-ONE-7f3a9c";
const ACCESS_TOKEN_2: &str = "CANARY-ACCESS-TOKEN-TWO-b81e44";
const CLIENT_SECRET: &str = "CANARY-CLIENT-SECRET-5d02f1";
const USER: &str = "ada@example.com";
const C: ObjectKind = ObjectKind::Contact;

// ---------------------------------------------------------------------------------------------
// Log capture

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// The provider: a token endpoint and a contacts API that misbehave, echoing credentials back.

#[derive(Default)]
struct Provider {
    token_calls: AtomicUsize,
    list_calls: AtomicUsize,
    create_calls: AtomicUsize,
    /// Every credential the provider received: client assertions and bearer headers.
    seen: Mutex<Vec<String>>,
}

type Shared = Arc<Provider>;

fn echo(status: StatusCode, retry_after: Option<&str>, body: String) -> Response {
    let mut response = (status, body).into_response();
    if let Some(v) = retry_after {
        response.headers_mut().insert("retry-after", v.parse().unwrap());
    }
    response
}

async fn token(State(p): State<Shared>, body: String) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let assertion = field("client_assertion");
    p.seen.lock().unwrap().push(assertion.clone());
    assert_eq!(field("client_secret"), CLIENT_SECRET, "the secret is sent where it must be");
    assert_eq!(assertion.split('.').count(), 3, "a signed JWT");
    match p.token_calls.fetch_add(1, Ordering::SeqCst) {
        0 => echo(
            StatusCode::BAD_REQUEST,
            None,
            json!({
                "error": "invalid_client",
                "error_description": format!("client_secret {} rejected for assertion {assertion}", field("client_secret")),
            })
            .to_string(),
        ),
        n => {
            let access = if n == 1 { ACCESS_TOKEN_1 } else { ACCESS_TOKEN_2 };
            axum::Json(json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3600 })).into_response()
        }
    }
}

fn bearer(headers: &HeaderMap) -> String {
    headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

async fn list(State(p): State<Shared>, headers: HeaderMap) -> Response {
    let auth = bearer(&headers);
    p.seen.lock().unwrap().push(auth.clone());
    match p.list_calls.fetch_add(1, Ordering::SeqCst) {
        0 => echo(StatusCode::SERVICE_UNAVAILABLE, Some("0"), format!("overloaded; your request had {auth}")),
        1 => echo(StatusCode::TOO_MANY_REQUESTS, Some("0"), format!("slow down, {auth}")),
        2 => echo(StatusCode::UNAUTHORIZED, None, json!({ "error": "invalid_token", "token": auth }).to_string()),
        _ if auth != format!("Bearer {ACCESS_TOKEN_2}") => echo(StatusCode::UNAUTHORIZED, None, auth),
        _ => axum::Json(json!([
            { "id": "C1", "version": "1", "family_name": "Lovelace" },
            { "id": "C2", "version": "1", "family_name": "Babbage" },
        ]))
        .into_response(),
    }
}

async fn create(State(p): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let auth = bearer(&headers);
    p.seen.lock().unwrap().push(auth.clone());
    let n = p.create_calls.fetch_add(1, Ordering::SeqCst);
    if body.contains("Rejected") {
        return echo(StatusCode::BAD_REQUEST, None, format!("validation failed for {body} sent with {auth}"));
    }
    if n == 0 {
        return echo(StatusCode::INTERNAL_SERVER_ERROR, None, format!("oops ({auth})"));
    }
    (StatusCode::CREATED, axum::Json(json!({ "id": format!("C{}", 10 + n), "version": "1" }))).into_response()
}

// ---------------------------------------------------------------------------------------------
// The connector under test, built like the real ones.

/// OAuth client credentials with both a client secret and a certificate-signed assertion.
#[derive(Debug)]
struct ClientCredentials {
    oauth: OAuthHttp,
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    private_key: Secret,
}

#[async_trait]
impl TokenSource for ClientCredentials {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.token_url.as_str(),
            "iat": now, "nbf": now, "exp": now + 300, "jti": format!("jti-{now}"),
        });
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.private_key.expose().as_bytes())
            .map_err(|_| ConnectorError::Config { message: "the private key is not a PEM RSA key".into() })?;
        let assertion = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &key)
            .map(Secret::new)
            .map_err(|_| ConnectorError::Config { message: "could not sign the client assertion".into() })?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion.expose()),
            ("scope", "sync.readwrite"),
        ];
        tracing::trace!(source = ?self, "fetching a token");
        Ok(post_form_token(&self.oauth, &self.token_url, &form).await?.access_token())
    }
}

#[derive(Debug)]
struct HttpCrm {
    http: HttpClient,
    tokens: TokenCache<ClientCredentials>,
    base: Url,
}

#[derive(serde::Deserialize)]
struct Row {
    id: String,
    version: String,
    family_name: String,
}

impl HttpCrm {
    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }
}

#[async_trait]
impl Connector for HttpCrm {
    fn provider(&self) -> &str {
        "canary"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::everything()
    }
    fn connection(&self) -> ConnectionInfo {
        ConnectionInfo {
            provider: "canary".into(),
            method: "client_credentials_certificate".into(),
            endpoints: vec![self.tokens.source().token_url.to_string(), self.base.to_string()],
            scopes: vec!["sync.readwrite".into()],
            principal: Some(USER.into()),
        }
    }
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        Ok(Identity { user: USER.into(), display_name: None })
    }
    async fn pull<'a>(&self, _object: ObjectKind, _cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        let response = self.http.send_authorized(RequestSpec::get(self.url("/api/contacts")), &self.tokens).await?;
        let rows: Vec<Row> = response.json()?;
        let changes = rows
            .into_iter()
            .map(|r| {
                let contact = Contact { family_name: Some(r.family_name), ..Contact::default() };
                Change::upserted(r.id, r.version, Record::Contact(contact))
            })
            .collect();
        Ok(PullPage { changes, cursor: Cursor(b"all".to_vec()), done: true })
    }
    async fn fetch(&self, _object: ObjectKind, _ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        Ok(Vec::new())
    }
    async fn apply(&self, _object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        let mut results = Vec::new();
        for op in ops {
            let WriteOp::Create { key, record: Record::Contact(c) } = op else {
                results
                    .push(Err(ConnectorError::Rejected { code: "unsupported".into(), message: "creates only".into() }));
                continue;
            };
            let body = json!({ "key": key.as_str(), "family_name": c.family_name });
            let request = RequestSpec::post(self.url("/api/contacts")).json(&body).with_idempotency_key();
            let result = match self.http.send_authorized(request, &self.tokens).await {
                Ok(response) => response.json::<serde_json::Value>().map(|v| {
                    Written::new(
                        RecordId::new(v["id"].as_str().unwrap_or_default()),
                        Version::new(v["version"].as_str().unwrap_or_default()),
                    )
                }),
                Err(e) => Err(e),
            };
            results.push(result);
        }
        Ok(results)
    }
    async fn find_by_key(&self, _object: ObjectKind, _key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------------

fn contact(family: &str) -> Record {
    Record::Contact(Contact { family_name: Some(family.into()), ..Contact::default() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_errors_reports_or_debug_output() {
    let logs = Buffer::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish()
        .try_init()
        .unwrap();

    let provider = Shared::default();
    let router = Router::new()
        .route("/token", post(token))
        .route("/api/contacts", get(list).post(create))
        .with_state(provider.clone());
    let server = FakeServer::start(router).await.unwrap();

    // The private key comes from a file, the client secret from configuration.
    let dir = std::env::temp_dir().join(format!("tandem-canary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("key.pem");
    std::fs::write(&key_file, tandem_testkit::keys::TEST_RSA_KEY_PEM).unwrap();
    let private_key = Secret::from_file(&key_file).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let client_secret: Secret = serde_json::from_value(json!(CLIENT_SECRET)).unwrap();

    let config = HttpConfig {
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        rate_limit: None,
        ..HttpConfig::default()
    };
    let http = HttpClient::new(config).unwrap().with_sleep(|_| async {});
    let source = ClientCredentials {
        oauth: http.oauth(),
        token_url: Url::parse(&server.url("/token")).unwrap(),
        client_id: "canary-app".into(),
        client_secret,
        private_key,
    };
    let crm = Arc::new(HttpCrm {
        http: http.clone(),
        tokens: TokenCache::new(source),
        base: Url::parse(&server.base_url()).unwrap(),
    });
    let mailbox = MemoryConnector::new("mailbox");
    mailbox.insert(contact("Hopper"));
    mailbox.insert(contact("Rejected"));

    let policy = Policy::from_toml_str(
        r#"
        [endpoints]
        allow_loopback_http = true

        [providers.canary]
        methods = ["client_credentials_certificate"]
        scopes = ["sync.readwrite"]
        hosts = ["127.0.0.1"]
        "#,
    )
    .unwrap();
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::new(store.clone()).with_policy(Arc::new(policy));
    let job = UserSync::new(USER, SyncConfig::named("canary"), crm.clone(), Arc::new(mailbox.clone()));
    let options = SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() };

    let mut printed: Vec<String> = Vec::new();

    // 1. The token endpoint refuses the client, echoing the secret and the assertion.
    let failed = engine.sync_user(&job, &options).await.unwrap_err();
    printed.push(failed.to_string());
    printed.push(format!("{failed:?}"));
    assert!(failed.to_string().contains("invalid_client"), "{failed}");

    // 2. 503, then 429 (both retried), then 401 (token refreshed), then 200; a create that
    // fails with 500 and is retried; a create rejected with 400.
    let report = engine.sync_user(&job, &options).await.unwrap();
    printed.push(report.to_string());
    printed.push(format!("{report:?}"));
    printed.push(serde_json::to_string(&report).unwrap());
    let o = report.object(C).unwrap();
    assert_eq!(o.applied("create"), 3, "{report}");
    assert_eq!(o.quarantined.len(), 1, "{report}");
    assert_eq!(mailbox.len(C), 4);
    assert_eq!(provider.token_calls.load(Ordering::SeqCst), 3, "a refresh after the 401");
    assert!(provider.list_calls.load(Ordering::SeqCst) >= 4);
    assert!(provider.create_calls.load(Ordering::SeqCst) >= 3, "the 500 was retried");
    assert!(provider.seen.lock().unwrap().contains(&format!("Bearer {ACCESS_TOKEN_1}")));
    assert!(provider.seen.lock().unwrap().contains(&format!("Bearer {ACCESS_TOKEN_2}")));

    // 3. Everything that can be printed.
    printed.push(format!("{engine:?}"));
    printed.push(format!("{crm:?}"));
    printed.push(format!("{job:?}"));
    printed.push(format!("{:?}", crm.tokens.token().await.unwrap()));
    printed.push(format!("{:?}", engine.policy()));
    printed.push(format!("{:?}", crm.connection()));
    let mut jsonl = Vec::new();
    store.export_audit_jsonl(None, &mut jsonl).await.unwrap();
    printed.push(String::from_utf8(jsonl).unwrap());
    printed.push(format!("{:?}", store.quarantine(USER).await.unwrap()));
    printed.push(format!("{:?}", store.status(USER).await.unwrap()));
    server.shutdown().await.unwrap();
    let logs = logs.text();

    // The capture works at TRACE, and saw the retries, the refresh and the failures.
    for expected in ["TRACE", "retrying HTTP request", "401: refreshing the token", "token request", "sync failed"] {
        assert!(logs.contains(expected), "the log should mention {expected:?}:\n{logs}");
    }

    let mut canaries: Vec<String> =
        vec![ACCESS_TOKEN_1.into(), ACCESS_TOKEN_2.into(), CLIENT_SECRET.into(), "CANARY".into()];
    canaries.extend(
        tandem_testkit::keys::TEST_RSA_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(Into::into),
    );
    canaries.extend(provider.seen.lock().unwrap().iter().filter(|s| s.len() > 16).cloned());
    for canary in &canaries {
        assert!(!logs.contains(canary.as_str()), "a secret reached the log: {canary}");
        for text in &printed {
            assert!(!text.contains(canary.as_str()), "a secret was printed ({canary}) in:\n{text}");
        }
    }
}
