//! Tests of the OAuth plumbing against a wiremock token endpoint on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, TokenResponse as _, TokenUrl};
use tandem_connector::error::ConnectorError;
use tandem_connector::http::{
    HttpClient, HttpConfig, JWT_BEARER_GRANT_TYPE, OAuthHttp, Secret, jwt_bearer_token, map_oauth_error,
    post_form_token,
};
use url::Url;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_JSON: &str = r#"{"access_token":"AT-1","token_type":"Bearer","expires_in":3600,"scope":"a b"}"#;

fn url(server: &MockServer, p: &str) -> Url {
    Url::parse(&format!("{}{p}", server.uri())).unwrap()
}

fn oauth_client(
    server: &MockServer,
    token_path: &str,
) -> oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new("client".into()))
        .set_client_secret(ClientSecret::new("CLIENT-SECRET-CANARY".into()))
        .set_token_uri(TokenUrl::new(format!("{}{token_path}", server.uri())).unwrap())
}

#[tokio::test]
async fn oauth2_flows_work_through_oauth_http() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(TOKEN_JSON, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let http = HttpClient::new(HttpConfig::default()).unwrap();
    let oauth = http.oauth();
    let token = oauth_client(&server, "/token").exchange_client_credentials().request_async(&oauth).await.unwrap();
    assert_eq!(token.access_token().secret(), "AT-1");
    assert_eq!(token.expires_in(), Some(Duration::from_secs(3600)));
    assert_eq!(http.requests_sent(), 1);
    server.verify().await;
}

#[tokio::test]
async fn oauth_http_does_not_follow_redirects() {
    let server = MockServer::start().await;
    Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", format!("{}/elsewhere", server.uri())))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(TOKEN_JSON, "application/json"))
        .expect(0)
        .mount(&server)
        .await;
    let oauth = OAuthHttp::new(&HttpConfig::default()).unwrap();
    let err = oauth_client(&server, "/token").exchange_client_credentials().request_async(&oauth).await.unwrap_err();
    let mapped = map_oauth_error(err);
    assert!(!mapped.to_string().contains("CANARY"), "{mapped}");
    assert!(matches!(&mapped, ConnectorError::Config { message } if message.contains("redirect")), "{mapped:?}");

    let err = post_form_token(&oauth, &url(&server, "/token"), &[("grant_type", "x")]).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::Config { message } if message.contains("redirect")), "{err:?}");
    server.verify().await;
}

#[tokio::test]
async fn oauth_errors_map_onto_the_taxonomy() {
    let server = MockServer::start().await;
    Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            r#"{"error":"invalid_client","error_description":"bad secret CLIENT-SECRET-CANARY"}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let oauth = OAuthHttp::new(&HttpConfig::default()).unwrap();
    let err = oauth_client(&server, "/token").exchange_client_credentials().request_async(&oauth).await.unwrap_err();
    match map_oauth_error(err) {
        ConnectorError::Auth { refreshable: false, message } => {
            assert!(message.contains("invalid_client"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn oauth_http_refuses_forbidden_endpoints() {
    let oauth = OAuthHttp::new(&HttpConfig::default()).unwrap();
    let client = BasicClient::new(ClientId::new("c".into()))
        .set_token_uri(TokenUrl::new("http://login.example.com/token".into()).unwrap());
    let err = client.exchange_client_credentials().request_async(&oauth).await.unwrap_err();
    assert!(matches!(map_oauth_error(err), ConnectorError::Config { .. }));
}

#[tokio::test]
async fn jwt_bearer_grant_parses_the_token_response() {
    let server = MockServer::start().await;
    let body = r#"{"access_token":"00D!AQ","scope":"api","instance_url":"https://na1.my.salesforce.com",
        "id":"https://login.salesforce.com/id/00D/005","token_type":"Bearer","issued_at":"1700000000000"}"#;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .and(body_string_contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"))
        .and(body_string_contains("assertion=header.payload.signature"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let oauth = OAuthHttp::new(&HttpConfig::default()).unwrap();
    let token = jwt_bearer_token(
        &oauth,
        &url(&server, "/services/oauth2/token"),
        &Secret::new("header.payload.signature"),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(token.access_token.expose(), "00D!AQ");
    assert_eq!(token.instance_url.as_deref(), Some("https://na1.my.salesforce.com"));
    assert_eq!(token.expires_in, None);
    assert_eq!(token.extra["issued_at"], "1700000000000");
    assert!(token.extra.contains_key("id"));
    assert!(token.access_token().expires_in().is_none());
    let debug = format!("{token:?}");
    assert!(!debug.contains("00D!AQ"), "{debug}");
    server.verify().await;
}

#[tokio::test]
async fn expires_in_may_be_a_string() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"access_token":"x","token_type":"Bearer","expires_in":"3599","refresh_token":"RT"}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let oauth = OAuthHttp::new(&HttpConfig::default()).unwrap();
    let token = post_form_token(&oauth, &url(&server, "/t"), &[("grant_type", "refresh_token")]).await.unwrap();
    assert_eq!(token.expires_in, Some(3599));
    assert_eq!(token.refresh_token.as_ref().map(Secret::expose), Some("RT"));
    assert_eq!(token.access_token().expires_in(), Some(Duration::from_secs(3599)));
}

#[tokio::test]
async fn invalid_grant_maps_to_auth_without_echoing_the_assertion() {
    let server = MockServer::start().await;
    let assertion = "eyJhbGciOiJSUzI1NiJ9.CANARY-ASSERTION.sig";
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            format!(r#"{{"error":"invalid_grant","error_description":"bad assertion {assertion}"}}"#),
            "application/json",
        ))
        .mount(&server)
        .await;
    let oauth = OAuthHttp::new(&HttpConfig::default()).unwrap();
    let err = jwt_bearer_token(&oauth, &url(&server, "/token"), &Secret::new(assertion), &[]).await.unwrap_err();
    match &err {
        ConnectorError::Auth { refreshable: false, message } => {
            assert!(message.contains("invalid_grant"), "{message}");
            assert!(message.contains("bad assertion ***"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err:?}").contains("CANARY"));
    assert!(!format!("{err:?}").contains(JWT_BEARER_GRANT_TYPE));
}

#[tokio::test]
async fn token_endpoint_statuses_map_onto_the_taxonomy() {
    let server = MockServer::start().await;
    Mock::given(path("/429"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .mount(&server)
        .await;
    Mock::given(path("/503")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    Mock::given(path("/unavailable"))
        .respond_with(
            ResponseTemplate::new(400).set_body_raw(r#"{"error":"temporarily_unavailable"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/html"))
        .respond_with(ResponseTemplate::new(400).set_body_string("<html>nope</html>"))
        .mount(&server)
        .await;
    Mock::given(path("/garbage"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not json"))
        .mount(&server)
        .await;
    let oauth = OAuthHttp::new(&HttpConfig::default()).unwrap();
    let post = |p: &'static str| {
        let u = url(&server, p);
        let oauth = oauth.clone();
        async move { post_form_token(&oauth, &u, &[("grant_type", "x"), ("client_secret", "SECRET-CANARY")]).await }
    };
    assert_eq!(
        post("/429").await.unwrap_err(),
        ConnectorError::Throttled { retry_after: Some(Duration::from_secs(7)) }
    );
    assert!(matches!(post("/503").await.unwrap_err(), ConnectorError::Transient { .. }));
    assert!(matches!(post("/unavailable").await.unwrap_err(), ConnectorError::Transient { .. }));
    let err = post("/html").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { refreshable: false, .. }), "{err:?}");
    assert!(!err.to_string().contains("nope"));
    let err = post("/garbage").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn token_posts_to_forbidden_endpoints_are_refused() {
    let oauth = OAuthHttp::new(&HttpConfig::default()).unwrap();
    let err = post_form_token(&oauth, &Url::parse("http://login.example.com/token").unwrap(), &[]).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Config { .. }));
}
