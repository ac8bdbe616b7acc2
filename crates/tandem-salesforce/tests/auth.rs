//! Authentication against the fake: JWT bearer (and a wrong key), client credentials, the
//! web-server flow with PKCE, session expiry, and what the connection reports.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use tandem_connector::http::Secret;
use tandem_connector::{Connector, ConnectorError};
use tandem_core::model::ObjectKind;
use tandem_salesforce::auth::{WebServerFlow, sign_assertion};
use tandem_salesforce::{AuthConfig, SalesforceConnector};
use tandem_testkit::keys;

const TOKEN: (&str, &str) = ("POST", "/services/oauth2/token");
const QUERY: (&str, &str) = ("GET", "/services/data/{version}/query");

#[tokio::test]
async fn jwt_bearer_signs_in_and_reads_the_identity() {
    let org = common::org().await;
    let c = org.connector();
    let me = c.identity().await.unwrap();
    assert_eq!(me.user, "ada@example.com");
    assert_eq!(me.display_name.as_deref(), Some("Ada Lovelace"));
    // The session is reused.
    c.pull(ObjectKind::Contact, None).await.unwrap();
    assert_eq!(org.count(TOKEN.0, TOKEN.1), 1);
    let info = c.connection();
    assert_eq!(info.provider, "salesforce");
    assert_eq!(info.method, "jwt_bearer");
    assert_eq!(info.principal.as_deref(), Some("ada@example.com"));
    assert_eq!(info.scopes, ["api", "refresh_token"]);
    assert_eq!(info.endpoints[0], format!("{}/services/oauth2/token", org.server.base_url()));
    assert_eq!(info.endpoints[1], format!("{}/", org.server.base_url()), "the instance URL, once known");
    let debug = format!("{c:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}

#[tokio::test]
async fn a_jwt_signed_with_the_wrong_key_is_rejected_by_the_fake() {
    let org = common::org().await;
    let c = org.connector_with(|cfg| {
        if let AuthConfig::JwtBearer { private_key_pem, .. } = &mut cfg.auth {
            *private_key_pem = Secret::new(keys::OTHER_RSA_KEY_PEM);
        }
    });
    let err = c.pull(ObjectKind::Contact, None).await.unwrap_err();
    match err {
        ConnectorError::Auth { refreshable: false, message } => {
            assert!(message.contains("invalid_grant"), "{message}");
            assert!(!message.contains("BEGIN"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(org.count(QUERY.0, QUERY.1), 0);
    assert_eq!(org.fake.tokens_issued(), 0);
}

#[tokio::test]
async fn the_fake_checks_the_assertion_claims() {
    let org = common::org().await;
    let oauth = common::http().oauth();
    let url = url::Url::parse(&org.server.url("/services/oauth2/token")).unwrap();
    let key = Secret::new(keys::TEST_RSA_KEY_PEM);
    let consumer = org.fake.config().consumer_key;
    let aud = org.server.base_url();
    let try_grant = |iss: &str, sub: &str, aud: &str| {
        let assertion = sign_assertion(iss, sub, aud, &key).unwrap();
        let oauth = oauth.clone();
        let url = url.clone();
        async move { tandem_connector::http::jwt_bearer_token(&oauth, &url, &assertion, &[]).await }
    };
    assert!(try_grant(&consumer, "ada@example.com", &aud).await.is_ok());
    assert!(try_grant(&consumer, "ada@example.com", "https://login.salesforce.com").await.is_ok());
    let wrong_iss = try_grant("someone-else", "ada@example.com", &aud).await.unwrap_err();
    assert!(wrong_iss.to_string().contains("invalid_client_id"), "{wrong_iss}");
    let wrong_sub = try_grant(&consumer, "mallory@example.com", &aud).await.unwrap_err();
    assert!(wrong_sub.to_string().contains("invalid_grant"), "{wrong_sub}");
    let wrong_aud = try_grant(&consumer, "ada@example.com", "https://evil.example.com").await.unwrap_err();
    assert!(wrong_aud.to_string().contains("audience"), "{wrong_aud}");
    // Four minutes later the assertion signed now has expired.
    let stale = sign_assertion(&consumer, "ada@example.com", &aud, &key).unwrap();
    org.fake.advance_clock(chrono::Duration::minutes(4));
    let expired = tandem_connector::http::jwt_bearer_token(&oauth, &url, &stale, &[]).await.unwrap_err();
    assert!(expired.to_string().contains("invalid_grant"), "{expired}");
}

#[tokio::test]
async fn an_expired_session_is_refreshed_once_and_the_call_retried() {
    let org = common::org().await;
    org.contact("Ada", "Lovelace", "ada@example.com");
    let c = org.connector();
    let (first, _, _) = common::drain(&c, ObjectKind::Contact, None).await;
    assert_eq!(first.len(), 1);
    assert_eq!(org.fake.tokens_issued(), 1);
    org.fake.expire_sessions();
    let queries_before = org.count(QUERY.0, QUERY.1);
    let (again, _, _) = common::drain(&c, ObjectKind::Contact, None).await;
    assert_eq!(again.len(), 1);
    assert_eq!(org.fake.tokens_issued(), 2, "one refresh");
    assert_eq!(org.count(QUERY.0, QUERY.1) - queries_before, 2, "the refused request and its one retry");
    // A session that stays invalid is not refreshed in a loop.
    let bad = org.connector_with(|cfg| {
        cfg.instance_url = Some(url::Url::parse(&org.server.base_url()).unwrap());
    });
    bad.pull(ObjectKind::Contact, None).await.unwrap();
    org.fake.expire_sessions();
    org.fake.controls().fail_next_matching(
        2,
        |req| req.uri().path().starts_with("/services/data/"),
        tandem_testkit::server::CannedResponse::json(
            http::StatusCode::UNAUTHORIZED,
            &serde_json::json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
        ),
    );
    let tokens = org.fake.tokens_issued();
    let err = bad.pull(ObjectKind::Contact, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { refreshable: true, .. }), "{err:?}");
    assert_eq!(org.fake.tokens_issued(), tokens + 1);
}

#[tokio::test]
async fn client_credentials_run_as_the_configured_user() {
    let org = common::org().await;
    org.contact("Grace", "Hopper", "grace@example.com");
    let fc = org.fake.config();
    let c = org.connector_with(|cfg| {
        cfg.auth = AuthConfig::ClientCredentials {
            client_id: fc.consumer_key.clone(),
            client_secret: Secret::new(fc.consumer_secret.clone()),
            username: Some("ada@example.com".into()),
        };
    });
    let (changes, _, _) = common::drain(&c, ObjectKind::Contact, None).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(c.connection().method, "client_credentials_secret");
    let wrong = org.connector_with(|cfg| {
        cfg.auth = AuthConfig::ClientCredentials {
            client_id: fc.consumer_key.clone(),
            client_secret: Secret::new("wrong"),
            username: None,
        };
    });
    let err = wrong.pull(ObjectKind::Contact, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn the_web_server_flow_with_pkce_yields_a_refresh_token_the_connector_uses() {
    let org = common::org().await;
    org.contact("Katherine", "Johnson", "kj@example.com");
    let fc = org.fake.config();
    let base = url::Url::parse(&org.server.base_url()).unwrap();
    let flow = WebServerFlow::new(
        fc.consumer_key.clone(),
        None,
        base.join("services/oauth2/authorize").unwrap(),
        base.join("services/oauth2/token").unwrap(),
        url::Url::parse("https://app.example.com/callback").unwrap(),
        vec!["api".into(), "refresh_token".into()],
    );
    let auth = flow.authorize();
    // The user approves; the fake redirects with a code.
    let browser = reqwest_client();
    let redirect = browser.get(auth.url.as_str()).send().await.unwrap();
    assert_eq!(redirect.status().as_u16(), 302);
    let location = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let params: std::collections::HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], auth.state);
    let http = common::http();
    // A wrong verifier is refused.
    let wrong =
        flow.exchange(&http.oauth(), &params["code"], &Secret::new("not-the-verifier-0123456789-0123456789-abc")).await;
    assert!(matches!(wrong, Err(ConnectorError::Auth { .. })), "{wrong:?}");
    let refresh_token = approve(&org, &flow).await;
    let c = org.connector_with(|cfg| {
        cfg.auth = AuthConfig::RefreshToken {
            client_id: fc.consumer_key.clone(),
            client_secret: None,
            refresh_token,
            username: None,
        };
    });
    let (changes, _, _) = common::drain(&c, ObjectKind::Contact, None).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(c.connection().method, "auth_code_pkce");
    assert_eq!(c.identity().await.unwrap().user, "ada@example.com");
    assert_eq!(c.connection().principal.as_deref(), Some("ada@example.com"), "known once identified");
}

/// The user approves `flow` in a browser; the code is exchanged for a refresh token.
async fn approve(org: &common::Org, flow: &WebServerFlow) -> Secret {
    let _ = org;
    let auth = flow.authorize();
    let redirect = reqwest_client().get(auth.url.as_str()).send().await.unwrap();
    let location = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let connected = flow.exchange(&common::http().oauth(), &code, &auth.verifier).await.unwrap();
    assert!(format!("{connected:?}").contains("Secret(***)"));
    connected.refresh_token
}

#[tokio::test]
async fn rotated_refresh_tokens_are_handed_to_the_embedder_and_survive_a_restart() {
    let config = tandem_testkit::salesforce::FakeConfig { rotate_refresh_tokens: true, ..Default::default() };
    let (fake, server) = tandem_testkit::salesforce::SalesforceFake::start_with(config).await.unwrap();
    let org = common::Org { fake, server };
    org.contact("Katherine", "Johnson", "kj@example.com");
    let fc = org.fake.config();
    let base = url::Url::parse(&org.server.base_url()).unwrap();
    let flow = WebServerFlow::new(
        fc.consumer_key.clone(),
        None,
        base.join("services/oauth2/authorize").unwrap(),
        base.join("services/oauth2/token").unwrap(),
        url::Url::parse("https://app.example.com/callback").unwrap(),
        vec!["api".into(), "refresh_token".into()],
    );
    let first = approve(&org, &flow).await;
    let stored: std::sync::Arc<std::sync::Mutex<Option<Secret>>> = Default::default();
    let keep = stored.clone();
    let client_id = fc.consumer_key.clone();
    let connect = |token: Secret, hook: bool| {
        let keep = keep.clone();
        let client_id = client_id.clone();
        org.connector_with(move |cfg| {
            cfg.auth =
                AuthConfig::RefreshToken { client_id, client_secret: None, refresh_token: token, username: None };
            if hook {
                cfg.on_refresh_token = Some(std::sync::Arc::new(move |t: &Secret| {
                    *keep.lock().unwrap() = Some(t.clone());
                }));
            }
        })
    };
    let c = connect(first.clone(), true);
    let (changes, _, _) = common::drain(&c, ObjectKind::Contact, None).await;
    assert_eq!(changes.len(), 1);
    let rotated = stored.lock().unwrap().clone().expect("the rotated refresh token is handed over");
    assert_ne!(rotated.expose(), first.expose());
    // After a restart, the stored token works and the first one, rotated out, does not.
    let restarted = connect(rotated, false);
    assert_eq!(common::drain(&restarted, ObjectKind::Contact, None).await.0.len(), 1);
    let stale = connect(first, false);
    assert!(matches!(stale.pull(ObjectKind::Contact, None).await, Err(ConnectorError::Auth { .. })));
}

/// A browser that does not follow redirects (the callback host does not exist).
fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap()
}

#[test]
fn connectors_are_shareable() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<SalesforceConnector>();
}
