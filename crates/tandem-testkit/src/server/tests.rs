#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use super::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn hello_router() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/users/{id}/events", get(|Path(id): Path<String>| async move { format!("events of {id}") }))
}

async fn get_status(url: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = client().get(url).send().await.unwrap();
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

#[tokio::test]
async fn serves_on_a_random_loopback_port() {
    let a = FakeServer::start(hello_router()).await.unwrap();
    let b = FakeServer::start(hello_router()).await.unwrap();
    assert_ne!(a.port(), b.port());
    assert!(a.addr().ip().is_loopback());
    assert_eq!(a.base_url(), format!("http://127.0.0.1:{}", a.port()));
    assert_eq!(a.url("hello"), a.url("/hello"));
    let (status, _, body) = get_status(&a.url("/hello")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn counts_requests_by_route_template() {
    let controls = Controls::new();
    let server = FakeServer::start(controls.wrap(hello_router())).await.unwrap();
    for _ in 0..3 {
        get_status(&server.url("/hello")).await;
    }
    get_status(&server.url("/users/ann@contoso.com/events")).await;
    get_status(&server.url("/users/bob@contoso.com/events")).await;
    let (status, _, _) = get_status(&server.url("/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(controls.count("GET", "/hello"), 3);
    assert_eq!(controls.count("GET", "/users/{id}/events"), 2);
    assert_eq!(controls.count("GET", "/nowhere"), 1, "unmatched requests count by raw path");
    assert_eq!(controls.total(), 6);
    assert_eq!(controls.rejected(), 0);
    assert_eq!(controls.counts().len(), 3);
    controls.reset_counts();
    assert_eq!(controls.total(), 0);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn throttles_the_next_requests_with_retry_after_and_custom_body() {
    let controls = Controls::new();
    let server = FakeServer::start(controls.wrap(hello_router())).await.unwrap();
    let body = json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}});
    controls.throttle_next(2, 7, CannedResponse::json(StatusCode::TOO_MANY_REQUESTS, &body));

    for _ in 0..2 {
        let (status, headers, text) = get_status(&server.url("/hello")).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "7");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), body);
    }
    // Recovered.
    let (status, _, text) = get_status(&server.url("/hello")).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "hello"));
    assert_eq!(controls.count("GET", "/hello"), 3);
    assert_eq!(controls.rejected(), 2);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_limit_rejects_above_the_window_then_recovers() {
    let controls = Controls::new();
    let server = FakeServer::start(controls.wrap(hello_router())).await.unwrap();
    // Wide enough that a loaded machine still sends three requests within one window.
    let window = Duration::from_secs(1);
    controls.set_rate_limit(Some(
        RateLimit::new(2, window, CannedResponse::too_many_requests()).per_key(path_segment_after("users")),
    ));
    let ann = server.url("/users/Ann/events");
    assert_eq!(get_status(&ann).await.0, StatusCode::OK);
    assert_eq!(get_status(&ann).await.0, StatusCode::OK);
    let (status, headers, _) = get_status(&ann).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "1", "computed, rounded up to a whole second");
    // Another key has its own budget; requests without a key are exempt.
    assert_eq!(get_status(&server.url("/users/bob/events")).await.0, StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(get_status(&server.url("/hello")).await.0, StatusCode::OK);
    }
    // Waiting for the window is the behaviour under test here, not synchronisation.
    tokio::time::sleep(window + Duration::from_millis(50)).await;
    assert_eq!(get_status(&ann).await.0, StatusCode::OK);
    controls.set_rate_limit(None);
    for _ in 0..5 {
        assert_eq!(get_status(&ann).await.0, StatusCode::OK);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn injected_failures_then_recovery() {
    let controls = Controls::new();
    let server = FakeServer::start(controls.wrap(hello_router())).await.unwrap();
    controls.fail_next(
        2,
        CannedResponse::text(StatusCode::SERVICE_UNAVAILABLE, "busy").with_header("x-ms-ags-diagnostic", "{}"),
    );
    for _ in 0..2 {
        let (status, headers, body) = get_status(&server.url("/hello")).await;
        assert_eq!((status, body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "busy"));
        assert!(headers.contains_key("x-ms-ags-diagnostic"));
        assert!(!headers.contains_key("retry-after"));
    }
    assert_eq!(get_status(&server.url("/hello")).await.0, StatusCode::OK);

    // Targeted: only requests the predicate accepts fail.
    controls.fail_next_matching(
        1,
        |req| req.uri().path().starts_with("/users/"),
        CannedResponse::new(StatusCode::INTERNAL_SERVER_ERROR),
    );
    assert_eq!(get_status(&server.url("/hello")).await.0, StatusCode::OK);
    assert_eq!(get_status(&server.url("/users/x/events")).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(get_status(&server.url("/users/x/events")).await.0, StatusCode::OK);
    assert_eq!(controls.rejected(), 3);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn latency_delays_responses() {
    let controls = Controls::new();
    let server = FakeServer::start(controls.wrap(hello_router())).await.unwrap();
    controls.set_latency(Duration::from_millis(150));
    let started = std::time::Instant::now();
    assert_eq!(get_status(&server.url("/hello")).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    controls.clear();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrency_cap_rejects_the_excess_per_key_only() {
    let controls = Controls::new();
    let gate = Gate::new();
    let router = {
        let gate = gate.clone();
        Router::new().route(
            "/users/{id}/slow",
            get(move || {
                let gate = gate.clone();
                async move {
                    gate.pass().await;
                    "done"
                }
            }),
        )
    };
    let server = FakeServer::start(controls.wrap(router)).await.unwrap();
    let body = json!({"error": {
        "code": "ApplicationThrottled",
        "message": "Application is over its MailboxConcurrency limit.",
    }});
    controls.set_concurrency_cap(Some(ConcurrencyCap::new(
        2,
        path_segment_after("users"),
        CannedResponse::json(StatusCode::TOO_MANY_REQUESTS, &body),
    )));

    let c = client();
    let spawn = |url: String| {
        let c = c.clone();
        tokio::spawn(async move {
            let r = c.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let ann = server.url("/users/ann/slow");
    let first = spawn(ann.clone());
    let second = spawn(ann.clone());
    gate.wait_entered(2).await;
    assert_eq!(controls.in_flight("ann"), 2);

    // The third concurrent request for the same mailbox is rejected at once.
    let (status, headers, text) = get_status(&ann).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), body);

    // Another mailbox is not affected.
    let other = spawn(server.url("/users/bob/slow"));
    gate.wait_entered(3).await;
    assert_eq!(controls.in_flight("bob"), 1);

    gate.release(3);
    for h in [first, second, other] {
        assert_eq!(h.await.unwrap(), (200, "done".to_owned()));
    }
    assert_eq!(controls.in_flight("ann"), 0);
    assert_eq!(controls.peak_in_flight("ann"), 2);

    // Slots were freed: a new request for the same mailbox is admitted.
    gate.open();
    assert_eq!(get_status(&ann).await.0, StatusCode::OK);
    assert_eq!(controls.rejected(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_frees_the_port() {
    let server = FakeServer::start(hello_router()).await.unwrap();
    let addr = server.addr();
    // A keep-alive connection must not hold the shutdown up.
    let c = client();
    assert!(c.get(server.url("/hello")).send().await.unwrap().status().is_success());
    server.shutdown().await.unwrap();
    assert!(c.get(format!("http://{addr}/hello")).send().await.is_err(), "still answering");
    let again = FakeServer::start_at(addr, hello_router()).await.unwrap();
    assert_eq!(again.addr(), addr);
    drop(again);
}

#[tokio::test]
async fn drop_shuts_down() {
    let server = FakeServer::start(hello_router()).await.unwrap();
    let url = server.url("/hello");
    drop(server);
    // Shutdown on drop is asynchronous: poll until the server stops answering.
    let c = client();
    for _ in 0..100 {
        if c.get(&url).send().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server still answering after drop");
}

#[tokio::test]
async fn fake_set_starts_named_fakes_with_health() {
    let mut set = FakeSet::standard();
    set.register("hello", hello_router);
    assert_eq!(set.names(), ["health", "salesforce", "graph", "ews", "google", "hello"]);

    let running = set.start(&[]).await.unwrap();
    let health = running.get("health").unwrap();
    let v: Value = client().get(health.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"status": "ok", "fakes": ["health", "salesforce", "graph", "ews", "google", "hello"]}));
    // The provider fakes answer on their real paths.
    let sf = running.get("salesforce").unwrap();
    let (status, _, _) = get_status(&sf.url("/services/oauth2/token")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "the salesforce fake's token endpoint takes POST only");
    let (status, _, _) = get_status(&running.get("google").unwrap().url("/token")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "the google fake's token endpoint takes POST only");
    let (status, _, body) = get_status(&running.get("hello").unwrap().url("/hello")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));

    let echo: Value = client()
        .post(health.url("/echo?x=1"))
        .header("x-anchormailbox", "ann@contoso.com")
        .body("ping")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["body"], "ping");
    assert_eq!(echo["headers"]["x-anchormailbox"], "ann@contoso.com");

    let parsed = parse_port_file(&running.lines());
    assert_eq!(parsed.len(), 6);
    assert_eq!(parsed["hello"], running.get("hello").unwrap().base_url());
    running.shutdown().await.unwrap();

    let only = set.start(&["hello".to_owned()]).await.unwrap();
    assert_eq!(only.iter().count(), 1);
    only.shutdown().await.unwrap();
    assert!(matches!(
        set.start(&["nope".to_owned()]).await,
        Err(FakeSetError::UnknownFake { ref name, .. }) if name == "nope"
    ));
}

#[test]
fn port_file_parsing() {
    let parsed = parse_port_file("# fakes\nhealth http://127.0.0.1:1234\n\n graph  http://127.0.0.1:5678 \nbroken\n");
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed["graph"], "http://127.0.0.1:5678");
}

#[test]
fn key_functions() {
    let req = |uri: &str| axum::http::Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap();
    let users = path_segment_after("users");
    assert_eq!(users(&req("/v1.0/users/Ann@Contoso.com/events")), Some("ann@contoso.com".to_owned()));
    assert_eq!(users(&req("/v1.0/me/events")), None);
    assert_eq!(users(&req("/v1.0/users/")), None);
    let anchor = header_key("X-AnchorMailbox");
    let with_header = axum::http::Request::builder()
        .uri("/EWS/Exchange.asmx")
        .header("x-anchormailbox", "Bob@Contoso.com")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(anchor(&with_header), Some("bob@contoso.com".to_owned()));
    assert_eq!(whole_server()(&req("/x")), Some("*".to_owned()));
}
