//! Per-user OAuth against the Google fake over loopback: the authorization URL, the redirect
//! with a code, its redemption with the PKCE verifier, then a connector on the refresh token
//! reading the user's events and contacts; refusals (wrong verifier, used code, other redirect,
//! wrong secret, revoked refresh token), rotated refresh tokens, and the policy's view of the
//! connection.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use serde_json::json;
use tandem_connector::http::{HttpClient, Secret};
use tandem_connector::{Connector, ConnectorError, PullPage, WriteOp};
use tandem_core::model::{Contact, ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Side};
use tandem_google::auth::{AuthorizationRequest, SCOPES, redeem_authorization_code};
use tandem_google::{GoogleConfig, GoogleConnector};
use tandem_policy::Policy;
use tandem_testkit::google::{DEMO_USER, GoogleFake, SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS};
use tandem_testkit::server::FakeServer;

const CLIENT: &str = "1234-tandem.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "GOCSPX-canary-client-secret";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";

async fn serve(fake: &GoogleFake) -> FakeServer {
    FakeServer::start(tandem_testkit::google::router(fake.clone())).await.unwrap()
}

/// The demo domain with a registered confidential client.
async fn setup() -> (GoogleFake, FakeServer) {
    let fake = GoogleFake::demo();
    fake.add_oauth_client(CLIENT, Some(CLIENT_SECRET), REDIRECT);
    let server = serve(&fake).await;
    (fake, server)
}

/// Every endpoint at the fake, no credentials yet.
fn base_config(server: &FakeServer) -> GoogleConfig {
    let base = server.base_url();
    let base = base.trim_end_matches('/');
    GoogleConfig::new(DEMO_USER)
        .with_endpoints(&format!("{base}/token"), &format!("{base}/calendar/v3"), &format!("{base}/v1"))
        .with_auth_url(&format!("{base}/o/oauth2/v2/auth"))
}

fn secret() -> Secret {
    Secret::new(CLIENT_SECRET)
}

/// The browser's side: GET the authorization URL, follow nothing, read the redirect.
async fn sign_in(request: &AuthorizationRequest) -> url::Url {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = browser.get(request.url.as_str()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 302, "{:?}", response.text().await);
    let location = response.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let location = url::Url::parse(&location).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    location
}

fn query(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// The first leg up to the code: the request and the code from the redirect.
async fn code_for(config: &GoogleConfig) -> (AuthorizationRequest, String) {
    let request = AuthorizationRequest::new(config, CLIENT, REDIRECT).unwrap();
    let back = sign_in(&request).await;
    assert_eq!(query(&back, "state").as_deref(), Some(request.state.as_str()));
    let code = query(&back, "code").expect("a code");
    (request, code)
}

async fn drain(c: &dyn Connector, object: ObjectKind) -> Vec<Change> {
    let mut cursor: Option<Cursor> = None;
    let mut all = Vec::new();
    loop {
        let page: PullPage = c.pull(object, cursor.as_ref()).await.unwrap();
        all.extend(page.changes);
        cursor = Some(page.cursor);
        if page.done {
            return all;
        }
    }
}

fn upserted(changes: &[Change]) -> Vec<Record> {
    changes
        .iter()
        .filter_map(|c| match &c.kind {
            ChangeKind::Upserted { record } => Some(record.clone()),
            _ => None,
        })
        .collect()
}

fn seed_meeting(fake: &GoogleFake) -> String {
    let start = Utc::now() + Duration::days(2);
    let props = json!({"summary": "Quarterly review",
        "start": {"dateTime": start.format("%Y-%m-%dT%H:00:00Z").to_string(), "timeZone": "UTC"},
        "end": {"dateTime": (start + Duration::hours(1)).format("%Y-%m-%dT%H:00:00Z").to_string(), "timeZone": "UTC"}});
    fake.seed_event(DEMO_USER, None, props).unwrap()
}

#[tokio::test]
async fn authorization_code_with_pkce_then_the_connector_on_the_refresh_token() {
    let (fake, server) = setup().await;
    let http = HttpClient::with_defaults().unwrap();
    let config = base_config(&server);

    // First leg: the URL asks for offline access with PKCE, for exactly Tandem's scopes.
    let (request, code) = code_for(&config).await;
    assert_eq!(query(&request.url, "scope"), Some(SCOPES.join(" ")));
    assert_eq!(query(&request.url, "access_type").as_deref(), Some("offline"));
    assert_eq!(query(&request.url, "prompt").as_deref(), Some("consent"));

    // Second leg: the code and the verifier for tokens, once.
    let tokens = redeem_authorization_code(&config, &http, CLIENT, Some(&secret()), REDIRECT, &code, &request.verifier)
        .await
        .unwrap();
    let refresh = tokens.refresh_token.clone().expect("a refresh token for access_type=offline");
    assert_eq!(tokens.scopes, SCOPES.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert!(!format!("{tokens:?}").contains(refresh.expose()));
    let again =
        redeem_authorization_code(&config, &http, CLIENT, Some(&secret()), REDIRECT, &code, &request.verifier).await;
    assert!(matches!(again, Err(ConnectorError::Auth { .. })), "a code is good once: {again:?}");

    // The connector on the refresh token reads the user's calendar and contacts.
    let id = seed_meeting(&fake);
    let c = GoogleConnector::new(config.with_user_oauth(CLIENT, Some(secret()), refresh), http).unwrap();
    let events = drain(&c, ObjectKind::Event).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].id.as_str(), id);
    assert!(drain(&c, ObjectKind::Contact).await.is_empty());
    let key = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003A"));
    let ada = Record::Contact(Contact {
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        ..Contact::default()
    });
    let written = c.apply(ObjectKind::Contact, &[WriteOp::Create { key, record: ada }]).await.unwrap();
    let w = written[0].clone().unwrap();
    assert!(fake.contact(DEMO_USER, w.id.as_str()).is_some());
    let contacts = drain(&c, ObjectKind::Contact).await;
    assert_eq!(upserted(&contacts).len(), 1, "{contacts:?}");
    assert_eq!(fake.controls().count("POST", "/token"), 3, "two redemptions and one refresh");

    // The connection: per-user OAuth, the same scopes, allowed by the policy.
    let info = c.connection();
    assert_eq!(info.method, "auth_code_pkce");
    assert_eq!(info.scopes, SCOPES.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert_eq!(info.principal.as_deref(), Some(DEMO_USER));
    Policy::for_loopback_tests().check_connection(&info).unwrap();
}

#[tokio::test]
async fn a_wrong_verifier_another_redirect_or_a_wrong_secret_are_refused() {
    let (_fake, server) = setup().await;
    let http = HttpClient::with_defaults().unwrap();
    let config = base_config(&server);

    let (_, code) = code_for(&config).await;
    let wrong = Secret::new("x".repeat(43));
    let err =
        redeem_authorization_code(&config, &http, CLIENT, Some(&secret()), REDIRECT, &code, &wrong).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::Auth { message, .. } if message.contains("invalid_grant")), "{err:?}");
    assert!(!err.to_string().contains(&"x".repeat(43)));

    let (request, code) = code_for(&config).await;
    let other = "http://127.0.0.1:9/elsewhere";
    let err = redeem_authorization_code(&config, &http, CLIENT, Some(&secret()), other, &code, &request.verifier)
        .await
        .unwrap_err();
    assert!(matches!(&err, ConnectorError::Auth { message, .. } if message.contains("redirect_uri_mismatch")));

    let (request, code) = code_for(&config).await;
    let bad = Secret::new("GOCSPX-wrong-canary");
    let err = redeem_authorization_code(&config, &http, CLIENT, Some(&bad), REDIRECT, &code, &request.verifier)
        .await
        .unwrap_err();
    assert!(matches!(&err, ConnectorError::Auth { message, .. } if message.contains("invalid_client")), "{err:?}");
    assert!(!format!("{err:?}").contains("canary"));
}

#[tokio::test]
async fn a_consent_that_leaves_out_a_scope_is_refused() {
    let (fake, server) = setup().await;
    let http = HttpClient::with_defaults().unwrap();
    // Granular consent: the user unticks contacts.
    fake.consent(DEMO_USER, &[SCOPE_CALENDAR_EVENTS]);
    let config = base_config(&server);
    let (request, code) = code_for(&config).await;
    let err = redeem_authorization_code(&config, &http, CLIENT, Some(&secret()), REDIRECT, &code, &request.verifier)
        .await
        .unwrap_err();
    assert!(matches!(&err, ConnectorError::Auth { message, .. } if message.contains(SCOPE_CONTACTS)), "{err:?}");
}

#[tokio::test]
async fn a_revoked_refresh_token_is_an_auth_error() {
    let (fake, server) = setup().await;
    let refresh = fake.issue_refresh_token(CLIENT, DEMO_USER, &SCOPES);
    let config = base_config(&server).with_user_oauth(CLIENT, Some(secret()), Secret::new(refresh.clone()));
    let c = GoogleConnector::new(config.clone(), HttpClient::with_defaults().unwrap()).unwrap();
    assert!(drain(&c, ObjectKind::Event).await.is_empty());

    assert_eq!(fake.revoke_refresh_tokens(DEMO_USER), 1);
    // The running connector: its access token is revoked too, and the refresh is refused.
    let err = c.pull(ObjectKind::Event, None).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::Auth { message, .. } if message.contains("invalid_grant")), "{err:?}");
    assert!(!format!("{err:?}").contains(&refresh));
    // A new connector on the same token.
    let fresh = GoogleConnector::new(config, HttpClient::with_defaults().unwrap()).unwrap();
    let err = fresh.pull(ObjectKind::Contact, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn rotated_refresh_tokens_are_kept_and_reported() {
    let (fake, server) = setup().await;
    fake.rotate_refresh_tokens(true);
    let first = fake.issue_refresh_token(CLIENT, DEMO_USER, &SCOPES);
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let hook = {
        let seen = seen.clone();
        Arc::new(move |s: &Secret| seen.lock().unwrap().push(s.expose().to_owned()))
    };
    let config = base_config(&server)
        .with_user_oauth(CLIENT, Some(secret()), Secret::new(first.clone()))
        .with_refresh_token_hook(hook);
    let c = GoogleConnector::new(config, HttpClient::with_defaults().unwrap()).unwrap();
    drain(&c, ObjectKind::Event).await;
    let rotated = seen.lock().unwrap().clone();
    assert_eq!(rotated.len(), 1);
    assert_ne!(rotated[0], first);
    // Once the access token expires, the running connector refreshes with the rotated token.
    fake.expire_access_tokens();
    drain(&c, ObjectKind::Contact).await;
    let rotated = seen.lock().unwrap().clone();
    assert_eq!(rotated.len(), 2, "the second refresh used the rotated token and rotated again");
    // The first token was replaced at the fake: a connector configured with it is refused.
    let stale = base_config(&server).with_user_oauth(CLIENT, Some(secret()), Secret::new(first));
    let err =
        GoogleConnector::new(stale, HttpClient::with_defaults().unwrap()).unwrap().pull(ObjectKind::Event, None).await;
    assert!(matches!(err, Err(ConnectorError::Auth { .. })), "{err:?}");
    assert_eq!(fake.refresh_token_count(), 1);
}

#[tokio::test]
async fn a_public_client_without_a_secret() {
    let fake = GoogleFake::demo();
    let public = "5678-desktop.apps.googleusercontent.com";
    fake.add_oauth_client(public, None, REDIRECT);
    let server = serve(&fake).await;
    let http = HttpClient::with_defaults().unwrap();
    let config = base_config(&server);
    let request = AuthorizationRequest::new(&config, public, REDIRECT).unwrap();
    let back = sign_in(&request).await;
    let code = query(&back, "code").unwrap();
    let tokens =
        redeem_authorization_code(&config, &http, public, None, REDIRECT, &code, &request.verifier).await.unwrap();
    let c = GoogleConnector::new(
        config.with_user_oauth(public, None, tokens.refresh_token.unwrap()),
        HttpClient::with_defaults().unwrap(),
    )
    .unwrap();
    assert!(drain(&c, ObjectKind::Event).await.is_empty());
}

#[test]
fn the_configuration_shows_no_secret_and_the_default_policy_allows_the_method() {
    let config = GoogleConfig::new(DEMO_USER).with_user_oauth(
        CLIENT,
        Some(Secret::new(CLIENT_SECRET)),
        Secret::new("1//0refresh-canary"),
    );
    let shown = format!("{config:?}");
    assert!(shown.contains(CLIENT), "{shown}");
    assert!(!shown.contains("canary"), "{shown}");
    let c = GoogleConnector::new(config, HttpClient::with_defaults().unwrap()).unwrap();
    assert!(!format!("{c:?}").contains("canary"));
    let info = c.connection();
    assert_eq!(info.method, "auth_code_pkce");
    Policy::default().check_connection(&info).unwrap();
    // A policy that allows only the service account refuses it.
    let strict = Policy::from_toml_str("[providers.google]\nmethods = [\"service_account\"]\n").unwrap();
    assert!(strict.check_connection(&info).is_err());
}
