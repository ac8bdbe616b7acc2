//! Authentication against the fake identity platform: certificate assertions (PS256 and RS256),
//! client secrets, the authorization code flow with PKCE and refresh tokens; connection info.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use tandem_connector::http::Secret;
use tandem_connector::{Connector, ConnectorError};
use tandem_graph::auth::{AuthorizationRequest, redeem_authorization_code};
use tandem_graph::{AssertionAlgorithm, GraphAuth, GraphConfig, GraphConnector};
use tandem_testkit::graph::GraphFakeConfig;
use tandem_testkit::keys::{OTHER_RSA_KEY_PEM, TEST_RSA_CERT_PEM, TEST_RSA_KEY_PEM};

const TOKEN: &str = "POST /{tenant}/oauth2/v2.0/token";
/// A public client (no secret): a desktop or CLI app registration.
const PUBLIC: &str = "00000000-aaaa-bbbb-cccc-000000000002";

fn certificate(algorithm: AssertionAlgorithm, key: &str) -> GraphAuth {
    certificate_for(CLIENT, algorithm, key)
}

fn certificate_for(client: &str, algorithm: AssertionAlgorithm, key: &str) -> GraphAuth {
    GraphAuth::Certificate {
        client_id: client.into(),
        certificate_pem: TEST_RSA_CERT_PEM.into(),
        private_key_pem: Secret::new(key),
        algorithm,
    }
}

#[tokio::test]
async fn client_secret_reads_the_identity_and_describes_the_connection() {
    let fake = fake_with(GraphFakeConfig::default()).await;
    let w = World { graph: Arc::new(GraphConnector::new(config_for(&fake, secret_auth()), http()).unwrap()), fake };
    let id = w.graph.identity().await.unwrap();
    assert_eq!(id.user, MAILBOX);
    assert_eq!(id.display_name.as_deref(), Some("Ann Example"));
    let info = w.graph.connection();
    assert_eq!(info.provider, "graph");
    assert_eq!(info.method, "client_credentials_secret");
    assert_eq!(info.endpoints, vec![w.fake.token_url(), w.fake.graph_url()]);
    assert_eq!(info.scopes, vec!["https://graph.microsoft.com/.default"]);
    assert_eq!(info.principal.as_deref(), Some(MAILBOX));
    assert_eq!(w.fake.state().count(TOKEN), 1);
    // The token is cached.
    w.graph.identity().await.unwrap();
    assert_eq!(w.fake.state().count(TOKEN), 1);
}

#[tokio::test]
async fn certificate_assertions_with_ps256_and_rs256() {
    let fake = fake_with(GraphFakeConfig::default()).await;
    for alg in [AssertionAlgorithm::Ps256, AssertionAlgorithm::Rs256] {
        let graph = GraphConnector::new(config_for(&fake, certificate(alg, TEST_RSA_KEY_PEM)), http()).unwrap();
        assert_eq!(graph.identity().await.unwrap().user, MAILBOX, "{alg:?}");
        assert_eq!(graph.connection().method, "client_credentials_certificate");
    }
    assert_eq!(fake.state().count(TOKEN), 2);
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_or_for_an_unregistered_certificate_is_refused() {
    let fake = fake_with(GraphFakeConfig::default()).await;
    let other = "00000000-aaaa-bbbb-cccc-000000000003";
    fake.state().register_client_secret(other, "unrelated-secret");
    let graph = GraphConnector::new(
        config_for(&fake, certificate_for(other, AssertionAlgorithm::Ps256, TEST_RSA_KEY_PEM)),
        http(),
    )
    .unwrap();
    // Not registered yet.
    match graph.identity().await {
        Err(ConnectorError::Auth { refreshable: false, message }) => assert!(message.contains("700027"), "{message}"),
        other => panic!("{other:?}"),
    }
    fake.state().register_certificate(other, TEST_RSA_CERT_PEM).unwrap();
    assert!(graph.identity().await.is_ok());
    let forged = GraphConnector::new(
        config_for(&fake, certificate_for(other, AssertionAlgorithm::Ps256, OTHER_RSA_KEY_PEM)),
        http(),
    )
    .unwrap();
    match forged.identity().await {
        Err(ConnectorError::Auth { refreshable: false, message }) => {
            assert!(message.contains("invalid signature"), "{message}");
            assert!(!message.contains("eyJ"), "no assertion in messages: {message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_that_names_no_secret() {
    let fake = fake_with(GraphFakeConfig::default()).await;
    let auth = GraphAuth::ClientSecret { client_id: CLIENT.into(), secret: Secret::new("wrong-secret-CANARY") };
    let graph = GraphConnector::new(config_for(&fake, auth), http()).unwrap();
    let err = graph.identity().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { refreshable: false, .. }), "{err:?}");
    assert!(!err.to_string().contains("CANARY"));
    assert!(!format!("{:?}", graph.config()).contains("CANARY"));
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_call_retried() {
    let w = world().await;
    w.graph.identity().await.unwrap();
    w.fake.state().expire_access_tokens();
    w.graph.identity().await.unwrap();
    assert_eq!(w.fake.state().count(TOKEN), 2);
    assert_eq!(w.fake.state().count("GET /users/{id}/calendar"), 3, "the refused call, then the retry");
}

#[tokio::test]
async fn rbac_for_applications_keeps_the_app_out_of_other_mailboxes() {
    let w = world().await;
    w.fake.state().add_mailbox("ceo@contoso.example", "CEO");
    w.fake.state().restrict_app_to(CLIENT, &["ceo@contoso.example"]);
    let err = w.graph.identity().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { refreshable: false, .. }), "{err:?}");
    assert!(err.to_string().contains("ErrorAccessDenied"), "{err}");
    w.fake.state().restrict_app_to(CLIENT, &[MAILBOX]);
    assert!(w.graph.identity().await.is_ok());
}

#[tokio::test]
async fn authorization_code_with_pkce_then_refresh_tokens() {
    let fake = fake_with(GraphFakeConfig::default()).await;
    let redirect = "http://127.0.0.1:9/callback";
    fake.state().register_redirect_uri(PUBLIC, redirect);
    let base = config_for(&fake, GraphAuth::delegated(PUBLIC, None, Secret::new("unused")));

    let request = AuthorizationRequest::new(&base, PUBLIC, redirect).unwrap();
    let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    let param = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("login_hint").as_deref(), Some(MAILBOX));
    assert!(param("scope").unwrap().contains("offline_access"));

    // The user signs in; the fake redirects back with a code.
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = browser.get(request.url.clone()).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 302);
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let back: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    let code = back.iter().find(|(k, _)| k == "code").map(|(_, v)| v.clone()).unwrap();
    assert_eq!(back.iter().find(|(k, _)| k == "state").map(|(_, v)| v.as_str()), Some(request.state.as_str()));

    // A wrong verifier is refused.
    let http = http();
    let wrong = redeem_authorization_code(&base, &http, PUBLIC, None, redirect, &code, &Secret::new("x".repeat(43)))
        .await
        .unwrap_err();
    assert!(matches!(wrong, ConnectorError::Auth { .. }), "{wrong:?}");

    let code = fake.state().issue_authorization_code(
        PUBLIC,
        MAILBOX,
        redirect,
        Some(&challenge_of(&request)),
        "Calendars.ReadWrite Contacts.ReadWrite offline_access",
    );
    let tokens =
        redeem_authorization_code(&base, &http, PUBLIC, None, redirect, &code, &request.verifier).await.unwrap();
    let refresh = tokens.refresh_token.expect("offline_access gives a refresh token");

    let rotated: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = rotated.clone();
    let mut config = config_for(&fake, GraphAuth::delegated(PUBLIC, None, refresh));
    config.on_refresh_token = Some(Arc::new(move |s: &Secret| seen.lock().unwrap().push(s.expose().to_owned())));
    let graph = GraphConnector::new(config, http.clone()).unwrap();
    assert_eq!(graph.connection().method, "auth_code_pkce");
    assert_eq!(graph.connection().scopes, vec!["Calendars.ReadWrite", "Contacts.ReadWrite", "offline_access"]);
    assert_eq!(graph.identity().await.unwrap().user, MAILBOX);
    fake.state().expire_access_tokens();
    assert_eq!(graph.identity().await.unwrap().user, MAILBOX);
    assert_eq!(rotated.lock().unwrap().len(), 2, "each refresh rotated the refresh token");

    // A delegated token reaches the signed-in user's mailbox only.
    fake.state().add_mailbox("bob@contoso.example", "Bob");
    let mut other =
        config_for(&fake, GraphAuth::delegated(PUBLIC, None, Secret::new(rotated.lock().unwrap()[1].clone())));
    other.mailbox = "bob@contoso.example".into();
    let bob = GraphConnector::new(other, http).unwrap();
    assert!(matches!(bob.identity().await, Err(ConnectorError::Auth { refreshable: false, .. })));
}

/// The S256 challenge of a request's verifier (what the browser leg sent).
fn challenge_of(request: &AuthorizationRequest) -> String {
    request.url.query_pairs().find(|(k, _)| k == "code_challenge").map(|(_, v)| v.into_owned()).unwrap()
}

#[test]
fn sovereign_clouds_get_their_own_scope_and_the_lifetime_is_bounded() {
    let c = GraphConfig::new("contoso", MAILBOX, secret_auth()).with_graph_base("https://graph.microsoft.us/v1.0");
    assert_eq!(c.scopes(), vec!["https://graph.microsoft.us/.default"]);
    assert_eq!(c.token_url().unwrap().as_str(), "https://login.microsoftonline.com/contoso/oauth2/v2.0/token");
    let mut long = GraphConfig::new("contoso", MAILBOX, certificate(AssertionAlgorithm::Ps256, TEST_RSA_KEY_PEM));
    long.assertion_lifetime = std::time::Duration::from_secs(3600);
    assert!(matches!(GraphConnector::new(long, http()), Err(ConnectorError::Config { .. })));
    let plain = GraphConfig::new("contoso", MAILBOX, secret_auth()).with_graph_base("http://graph.example.com/v1.0");
    assert!(matches!(GraphConnector::new(plain, http()), Err(ConnectorError::Config { .. })), "http only to loopback");
}
