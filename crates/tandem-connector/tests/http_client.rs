//! Tests of `tandem_connector::http::HttpClient` against wiremock on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tandem_connector::error::ConnectorError;
use tandem_connector::http::{AccessToken, HttpClient, HttpConfig, RateLimit, RequestSpec, TokenCache, TokenSource};
use url::Url;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A config that retries quickly and does not rate-limit.
fn fast_config() -> HttpConfig {
    HttpConfig {
        max_retries: 3,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_secs(5),
        rate_limit: None,
        request_timeout: Duration::from_secs(5),
        ..HttpConfig::default()
    }
}

/// A client whose retry waits are recorded instead of slept.
fn recording_client(config: HttpConfig) -> (HttpClient, Arc<Mutex<Vec<Duration>>>) {
    let sleeps = Arc::new(Mutex::new(Vec::new()));
    let rec = sleeps.clone();
    let client = HttpClient::new(config).unwrap().with_sleep(move |d| {
        rec.lock().unwrap().push(d);
        async {}
    });
    (client, sleeps)
}

fn url(server: &MockServer, p: &str) -> Url {
    Url::parse(&format!("{}{p}", server.uri())).unwrap()
}

#[tokio::test]
async fn get_is_retried_on_503_until_it_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"ok":true}"#))
        .mount(&server)
        .await;
    let (client, sleeps) = recording_client(fast_config());
    let response = client.send(RequestSpec::get(url(&server, "/items"))).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(client.requests_sent(), 3);
    let sleeps = sleeps.lock().unwrap().clone();
    assert_eq!(sleeps.len(), 2);
    // Exponential with jitter: base 1 ms, then 2 ms, each plus up to 100%.
    assert!(sleeps[0] >= Duration::from_millis(1) && sleeps[0] <= Duration::from_millis(2), "{sleeps:?}");
    assert!(sleeps[1] >= Duration::from_millis(2) && sleeps[1] <= Duration::from_millis(4), "{sleeps:?}");
}

#[tokio::test]
async fn retry_after_delta_seconds_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let (client, sleeps) = recording_client(fast_config());
    client.send(RequestSpec::get(url(&server, "/x"))).await.unwrap();
    assert_eq!(*sleeps.lock().unwrap(), vec![Duration::from_secs(1)]);
}

#[tokio::test]
async fn retry_after_http_date_is_honoured_on_503() {
    let server = MockServer::start().await;
    let date = (chrono::Utc::now() + chrono::Duration::seconds(3)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", date.as_str()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let (client, sleeps) = recording_client(fast_config());
    client.send(RequestSpec::get(url(&server, "/x"))).await.unwrap();
    let sleeps = sleeps.lock().unwrap().clone();
    assert_eq!(sleeps.len(), 1);
    // Whole seconds in the header: between 2 and 3 seconds from now.
    assert!(sleeps[0] > Duration::from_secs(1) && sleeps[0] <= Duration::from_secs(3), "{sleeps:?}");
}

#[tokio::test]
async fn retry_after_really_waits() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let client = HttpClient::new(fast_config()).unwrap();
    let started = Instant::now();
    let response = client.send(RequestSpec::get(url(&server, "/x"))).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 204);
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(2500), "{elapsed:?}");
}

#[tokio::test]
async fn post_without_idempotency_key_is_sent_once_even_on_503() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).expect(1).mount(&server).await;
    let (client, sleeps) = recording_client(fast_config());
    let err =
        client.send(RequestSpec::post(url(&server, "/events")).json(&serde_json::json!({"a": 1}))).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }), "{err:?}");
    assert_eq!(client.requests_sent(), 1);
    assert!(sleeps.lock().unwrap().is_empty());
    server.verify().await;
}

#[tokio::test]
async fn patch_without_idempotency_key_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(502)).expect(1).mount(&server).await;
    let (client, _) = recording_client(fast_config());
    assert!(client.send(RequestSpec::patch(url(&server, "/e/1"))).await.is_err());
    server.verify().await;
}

#[tokio::test]
async fn post_with_idempotency_key_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(header("Idempotency-Key", "abc123"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (client, sleeps) = recording_client(fast_config());
    let req = RequestSpec::post(url(&server, "/events")).idempotency_header("Idempotency-Key", "abc123");
    assert!(req.is_retry_safe());
    let response = client.send(req).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(client.requests_sent(), 2);
    assert_eq!(sleeps.lock().unwrap().len(), 1);

    // A key carried in the body: just the flag.
    let req = RequestSpec::post(url(&server, "/events"))
        .json(&serde_json::json!({"transactionId": "k"}))
        .with_idempotency_key();
    assert!(req.is_retry_safe());
}

#[tokio::test]
async fn exhausted_retries_on_429_map_to_throttled_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .expect(3)
        .mount(&server)
        .await;
    let (client, sleeps) = recording_client(HttpConfig { max_retries: 2, ..fast_config() });
    let err = client.send(RequestSpec::get(url(&server, "/x"))).await.unwrap_err();
    assert_eq!(err, ConnectorError::Throttled { retry_after: Some(Duration::from_secs(1)) });
    assert_eq!(*sleeps.lock().unwrap(), vec![Duration::from_secs(1); 2]);
    server.verify().await;
}

#[tokio::test]
async fn retry_after_beyond_max_backoff_is_not_waited_for_in_process() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .expect(1)
        .mount(&server)
        .await;
    let (client, sleeps) = recording_client(fast_config());
    let err = client.send(RequestSpec::get(url(&server, "/x"))).await.unwrap_err();
    assert_eq!(err, ConnectorError::Throttled { retry_after: Some(Duration::from_secs(120)) });
    assert!(sleeps.lock().unwrap().is_empty());
    server.verify().await;
}

#[tokio::test]
async fn backoff_is_capped_at_max_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).expect(5).mount(&server).await;
    let config = HttpConfig {
        max_retries: 4,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(25),
        ..fast_config()
    };
    let (client, sleeps) = recording_client(config);
    let err = client.send(RequestSpec::get(url(&server, "/x"))).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }), "{err:?}");
    let sleeps = sleeps.lock().unwrap().clone();
    assert_eq!(sleeps.len(), 4);
    assert!(sleeps.iter().all(|d| *d <= Duration::from_millis(25)), "{sleeps:?}");
}

#[tokio::test]
async fn statuses_map_onto_the_taxonomy() {
    let server = MockServer::start().await;
    let long_body = "x".repeat(2000);
    let cases: Vec<(u16, ResponseTemplate)> = vec![
        (412, ResponseTemplate::new(412).insert_header("ETag", "W/\"7\"")),
        (404, ResponseTemplate::new(404)),
        (410, ResponseTemplate::new(410)),
        (401, ResponseTemplate::new(401).set_body_string("token expired")),
        (403, ResponseTemplate::new(403)),
        (400, ResponseTemplate::new(400).set_body_string(long_body.clone())),
        (422, ResponseTemplate::new(422).set_body_string("bad field")),
        (501, ResponseTemplate::new(501)),
    ];
    for (status, template) in cases {
        Mock::given(path(format!("/s/{status}"))).respond_with(template).mount(&server).await;
    }
    let (client, _) = recording_client(fast_config());
    let get = |s: u16| client.send(RequestSpec::put(url(&server, &format!("/s/{s}"))));

    assert_eq!(
        get(412).await.unwrap_err(),
        ConnectorError::PreconditionFailed { current: Some(tandem_core::state::Version::new("W/\"7\"")) }
    );
    assert_eq!(get(404).await.unwrap_err(), ConnectorError::NotFound);
    assert_eq!(get(410).await.unwrap_err(), ConnectorError::NotFound);
    match get(401).await.unwrap_err() {
        ConnectorError::Auth { refreshable: true, message } => assert!(message.contains("token expired"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(get(403).await.unwrap_err(), ConnectorError::Auth { refreshable: false, .. }));
    match get(400).await.unwrap_err() {
        ConnectorError::Rejected { code, message } => {
            assert_eq!(code, "400");
            let xs = message.chars().filter(|c| *c == 'x').count();
            assert_eq!(xs, 500, "{message}");
            assert!(message.starts_with("PUT 127.0.0.1:"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match get(422).await.unwrap_err() {
        ConnectorError::Rejected { code, message } => {
            assert_eq!(code, "422");
            assert!(message.ends_with("bad field"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(get(501).await.unwrap_err(), ConnectorError::Transient { .. }));
}

#[tokio::test]
async fn send_once_and_send_unmapped_return_the_raw_response() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_string(r#"{"error":{"code":"ApplicationThrottled"}}"#))
        .mount(&server)
        .await;
    let (client, _) = recording_client(fast_config());
    let raw = client.send_once(RequestSpec::get(url(&server, "/me"))).await.unwrap();
    assert_eq!(raw.status(), 403);
    assert!(raw.text().contains("ApplicationThrottled"));
    assert!(matches!(raw.error(), Some(ConnectorError::Auth { refreshable: false, .. })));
    let raw = client.send_unmapped(RequestSpec::get(url(&server, "/me"))).await.unwrap();
    assert_eq!(raw.status(), 403);
}

#[tokio::test]
async fn send_once_does_not_retry() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(503)).expect(1).mount(&server).await;
    let (client, _) = recording_client(fast_config());
    let raw = client.send_once(RequestSpec::get(url(&server, "/x"))).await.unwrap();
    assert_eq!(raw.status(), 503);
    server.verify().await;
}

fn assert_no_canary(err: &ConnectorError) {
    for text in [format!("{err}"), format!("{err:?}")] {
        assert!(!text.contains("CANARY-SECRET"), "{text}");
        assert!(!text.contains("CANARY2"), "{text}");
    }
}

fn canary_request(base: &str) -> RequestSpec {
    let u = Url::parse(&format!("{base}/v1/items?access_token=CANARY2&x=1")).unwrap();
    let req = RequestSpec::get(u).header("Authorization", "Bearer CANARY-SECRET");
    let debug = format!("{req:?}");
    assert!(!debug.contains("CANARY"), "{debug}");
    req
}

#[tokio::test]
async fn failing_requests_never_leak_credentials() {
    let server = MockServer::start().await;
    // The provider echoes the request back in its error body.
    let echo = "Bad request: Authorization=Bearer CANARY-SECRET url=/v1/items?access_token=CANARY2";
    Mock::given(path("/400/v1/items"))
        .respond_with(ResponseTemplate::new(400).set_body_string(echo))
        .mount(&server)
        .await;
    Mock::given(path("/401/v1/items"))
        .respond_with(ResponseTemplate::new(401).set_body_string(echo))
        .mount(&server)
        .await;
    Mock::given(path("/500/v1/items"))
        .respond_with(ResponseTemplate::new(500).set_body_string(echo))
        .mount(&server)
        .await;
    Mock::given(path("/slow/v1/items"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let (client, _) = recording_client(HttpConfig { max_retries: 1, ..fast_config() });

    for prefix in ["/400", "/401", "/500"] {
        let err = client.send(canary_request(&format!("{}{prefix}", server.uri()))).await.unwrap_err();
        assert!(format!("{err}").contains("***"), "{err}");
        assert_no_canary(&err);
    }

    // A timeout.
    let err = client
        .send(canary_request(&format!("{}/slow", server.uri())).timeout(Duration::from_millis(50)))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }));
    assert!(format!("{err}").contains("timed out"), "{err}");
    assert_no_canary(&err);

    // Nothing listening.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = client.send(canary_request(&format!("http://127.0.0.1:{port}"))).await.unwrap_err();
    assert!(format!("{err}").contains("could not connect"), "{err}");
    assert_no_canary(&err);

    // A forbidden endpoint.
    let err = client.send(canary_request("http://example.com")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Config { .. }));
    assert_no_canary(&err);
}

#[tokio::test]
async fn connection_failures_are_retried_even_for_post() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (client, sleeps) = recording_client(HttpConfig { max_retries: 2, ..fast_config() });
    let u = Url::parse(&format!("http://127.0.0.1:{port}/x")).unwrap();
    let err = client.send(RequestSpec::post(u)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }));
    assert_eq!(client.requests_sent(), 3);
    assert_eq!(sleeps.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn forbidden_endpoints_are_refused_before_sending() {
    let (client, _) = recording_client(fast_config());
    for u in ["http://example.com/x", "ftp://127.0.0.1/x", "http://localhost.evil.com/"] {
        let err = client.send(RequestSpec::get(Url::parse(u).unwrap())).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Config { .. }), "{u}: {err:?}");
    }
    assert_eq!(client.requests_sent(), 0);
}

#[tokio::test]
async fn redirects_are_followed_only_to_allowed_endpoints() {
    let server = MockServer::start().await;
    Mock::given(path("/old"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", format!("{}/new", server.uri())))
        .mount(&server)
        .await;
    Mock::given(path("/new")).respond_with(ResponseTemplate::new(200).set_body_string("moved")).mount(&server).await;
    Mock::given(path("/away"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("Location", "http://example.com/steal?access_token=CANARY2"),
        )
        .mount(&server)
        .await;
    let (client, _) = recording_client(fast_config());
    let response = client.send(RequestSpec::get(url(&server, "/old"))).await.unwrap();
    assert_eq!(response.text(), "moved");

    let err = client.send(RequestSpec::get(url(&server, "/away"))).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("redirect refused") && text.contains("loopback"), "{text}");
    assert!(!text.contains("CANARY2"), "{text}");
}

#[tokio::test]
async fn the_rate_limiter_delays_the_request_over_quota() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    // A burst of 2, then one every 500 ms.
    let config = HttpConfig { rate_limit: Some(RateLimit::new(2, Duration::from_secs(1))), ..fast_config() };
    let (client, _) = recording_client(config);
    let started = Instant::now();
    for _ in 0..2 {
        client.send(RequestSpec::get(url(&server, "/x"))).await.unwrap();
    }
    let after_burst = started.elapsed();
    client.send(RequestSpec::get(url(&server, "/x"))).await.unwrap();
    let after_third = started.elapsed();
    assert!(after_burst < Duration::from_millis(400), "{after_burst:?}");
    assert!(after_third >= Duration::from_millis(450), "{after_third:?}");

    // Another key has its own bucket; a key can be exempted.
    client.set_rate_limit("mailbox-b", None);
    let started = Instant::now();
    for _ in 0..5 {
        client.send(RequestSpec::get(url(&server, "/x")).rate_key("mailbox-b")).await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_millis(400), "{:?}", started.elapsed());
}

#[tokio::test]
async fn requests_are_counted_per_template() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    Mock::given(method("DELETE")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let (client, _) = recording_client(fast_config());
    for id in ["a", "b"] {
        client.send(RequestSpec::get(url(&server, &format!("/events/{id}"))).template("/events/{id}")).await.unwrap();
    }
    client.send(RequestSpec::delete(url(&server, "/events/a")).template("/events/{id}")).await.unwrap();
    client.send(RequestSpec::get(url(&server, "/other"))).await.unwrap();
    let clone = client.clone();
    assert_eq!(clone.requests_sent(), 4);
    let by = client.requests_by_template();
    assert_eq!(by.get("GET /events/{id}"), Some(&2));
    assert_eq!(by.get("DELETE /events/{id}"), Some(&1));
    let host = format!("GET {}", server.uri().trim_start_matches("http://"));
    assert_eq!(by.get(&host), Some(&1), "{by:?}");
}

struct CountingSource {
    fetches: AtomicUsize,
}

#[async_trait]
impl TokenSource for CountingSource {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken::new(format!("token-{n}")).with_expires_in(Duration::from_secs(3600)))
    }
}

#[tokio::test]
async fn send_authorized_refreshes_once_on_401() {
    let server = MockServer::start().await;
    Mock::given(header("Authorization", "Bearer token-1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(header("Authorization", "Bearer token-2"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let (client, _) = recording_client(fast_config());
    let tokens = TokenCache::new(CountingSource { fetches: AtomicUsize::new(0) });
    let response = client.send_authorized(RequestSpec::post(url(&server, "/x")), &tokens).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(tokens.source().fetches.load(Ordering::SeqCst), 2);
    // The new token is cached.
    client.send_authorized(RequestSpec::get(url(&server, "/y")), &tokens).await.unwrap();
    assert_eq!(tokens.source().fetches.load(Ordering::SeqCst), 2);
    assert_eq!(client.requests_sent(), 3);
}

#[tokio::test]
async fn send_authorized_gives_up_after_one_refresh() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(401)).expect(2).mount(&server).await;
    let (client, _) = recording_client(fast_config());
    let tokens = TokenCache::new(CountingSource { fetches: AtomicUsize::new(0) });
    let err = client.send_authorized(RequestSpec::get(url(&server, "/x")), &tokens).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { refreshable: true, .. }), "{err:?}");
    server.verify().await;
}
