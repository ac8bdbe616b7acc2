//! The Graph fake's documented behaviour, over plain HTTP: tokens, batching limits and
//! dependencies, the per-mailbox concurrency limit, delta paging and expiry, ids, ETags,
//! transactionId de-duplication and Graph's error shapes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use serde_json::{Value, json};
use tandem_testkit::graph::{DeltaExpiry, GraphFakeConfig};

mod common;

use common::{GraphEnv as Env, MB};

async fn env_with(config: GraphFakeConfig) -> Env {
    common::graph_env(config).await
}

async fn env() -> Env {
    env_with(GraphFakeConfig::default()).await
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.graph_url())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut r = self.http.request(method, self.url(path)).header("Authorization", &self.bearer);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::GET, path, None, &[("Prefer", "IdType=\"ImmutableId\"")]).await;
        (s, v)
    }

    async fn batch(&self, requests: Value) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::POST, "/$batch", Some(json!({"requests": requests})), &[]).await;
        (s, v)
    }
}

fn event(subject: &str) -> Value {
    let d = (chrono::Utc::now() + chrono::Duration::days(3)).format("%Y-%m-%d").to_string();
    json!({"subject": subject, "start": {"dateTime": format!("{d}T10:00:00"), "timeZone": "UTC"},
           "end": {"dateTime": format!("{d}T11:00:00"), "timeZone": "UTC"}})
}

fn assert_graph_error(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(v["error"]["innerError"]["request-id"].is_string(), "{v}");
}

#[tokio::test]
async fn tokens_are_required_and_errors_have_graphs_shape() {
    let e = env().await;
    let r = e.http.get(e.url(&format!("/users/{MB}"))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_graph_error(&r.json().await.unwrap(), "InvalidAuthenticationToken");
    let (s, v) = e.get("/users/nobody@contoso.example").await;
    assert_eq!(s, 404);
    assert_graph_error(&v, "ErrorInvalidUser");
    let (s, v) = e.get(&format!("/users/{MB}/events/AAkALgnope")).await;
    assert_eq!(s, 404);
    assert_graph_error(&v, "ErrorItemNotFound");
    // Token errors are the identity platform's.
    let v: Value = e
        .http
        .post(e.fake.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "app"),
            ("client_secret", "nope"),
            ("scope", "x/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert!(v["error_description"].as_str().unwrap().starts_with("AADSTS7000215"));
    e.fake.state().expire_access_tokens();
    let (s, v) = e.get(&format!("/users/{MB}")).await;
    assert_eq!(s, 401);
    assert_graph_error(&v, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn batches_are_limited_ordered_by_dependencies_and_answered_in_any_order() {
    let e = env().await;
    let many: Vec<Value> =
        (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{MB}")})).collect();
    let (s, v) = e.batch(Value::Array(many)).await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "BadRequest");
    let (s, _) =
        e.batch(json!([{"id": "1", "method": "GET", "url": "/me"}, {"id": "1", "method": "GET", "url": "/me"}])).await;
    assert_eq!(s, 400, "ids are unique");

    let (s, v) = e
        .batch(json!([
            {"id": "1", "method": "POST", "url": format!("/users/{MB}/events"), "body": event("bad"), "headers": {"Content-Type": "application/json"}},
            {"id": "2", "method": "POST", "url": format!("/users/{MB}/events"), "body": {"subject": "no times"}, "headers": {"Content-Type": "application/json"}},
            {"id": "3", "method": "GET", "url": format!("/users/{MB}"), "dependsOn": ["2"]},
            {"id": "4", "method": "GET", "url": format!("/users/{MB}"), "dependsOn": ["1"]},
            {"id": "5", "method": "POST", "url": format!("/users/{MB}/events"), "body": event("no content type")},
        ]))
        .await;
    assert_eq!(s, 200);
    let status = |id: &str| {
        v["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["status"].as_u64().unwrap()
    };
    assert_eq!((status("1"), status("2"), status("3"), status("4"), status("5")), (201, 400, 424, 200, 400));
    let ids: Vec<&str> = v["responses"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_ne!(ids, ["1", "2", "3", "4", "5"], "answers come back in another order");
    assert_eq!(e.fake.state().batch_sizes(), vec![5]);
    assert_eq!(e.fake.state().count("$batch: POST /users/{id}/events"), 3);
}

#[tokio::test]
async fn four_requests_per_mailbox_at_most_plain_or_batched() {
    let e = env().await;
    // Four plain requests held inside the mailbox: the fifth is refused.
    e.fake.controls().set_latency(Duration::from_millis(400));
    let spawn_get = |path: String| {
        let http = e.http.clone();
        let url = e.url(&path);
        let bearer = e.bearer.clone();
        tokio::spawn(
            async move { http.get(url).header("Authorization", bearer).send().await.unwrap().status().as_u16() },
        )
    };
    let held: Vec<_> = (0..4).map(|_| spawn_get(format!("/users/{MB}"))).collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (s, v) = e.get(&format!("/users/{MB}")).await;
    assert_eq!(s, 429, "{v}");
    assert_graph_error(&v, "ApplicationThrottled");
    for h in held {
        assert_eq!(h.await.unwrap(), 200);
    }
    e.fake.controls().set_latency(Duration::ZERO);

    // A running batch holds up to four slots: plain requests and other batches' items are refused.
    e.fake.state().update_config(|c| c.batch_latency = Duration::from_millis(400));
    let items: Vec<Value> =
        (0..4).map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{MB}/events")})).collect();
    let first = {
        let http = e.http.clone();
        let url = e.url("/$batch");
        let bearer = e.bearer.clone();
        let body = json!({"requests": items});
        tokio::spawn(async move {
            http.post(url)
                .header("Authorization", bearer)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (s, _) = e.get(&format!("/users/{MB}")).await;
    assert_eq!(s, 429);
    let (s, v) = e.batch(json!([{"id": "1", "method": "GET", "url": format!("/users/{MB}/events")}])).await;
    assert_eq!(s, 200);
    assert_eq!(v["responses"][0]["status"], 429);
    assert_eq!(v["responses"][0]["headers"]["Retry-After"], "1");
    let first = first.await.unwrap();
    assert!(first["responses"].as_array().unwrap().iter().all(|r| r["status"] == 200), "{first}");
    assert!(e.fake.state().peak_concurrency(MB) > 4, "the refused ones went over");
    assert!(e.fake.state().inner_throttled() >= 1);
}

#[tokio::test]
async fn delta_pages_by_maxpagesize_and_expires_both_ways() {
    let e = env().await;
    for i in 0..7 {
        e.fake.state().seed_contact(MB, Some("Tandem"), json!({"surname": format!("N{i}")})).unwrap();
    }
    let folder = e.fake.state().contact_folder_id(MB, "Tandem").unwrap();
    let prefer = [("Prefer", "odata.maxpagesize=3, IdType=\"ImmutableId\"")];
    let (s, page, headers) = e
        .send(reqwest::Method::GET, &format!("/users/{MB}/contactFolders/{folder}/contacts/delta"), None, &prefer)
        .await;
    assert_eq!(s, 200);
    assert_eq!(headers["preference-applied"], "odata.maxpagesize=3");
    assert_eq!(page["value"].as_array().unwrap().len(), 3);
    let mut next = page["@odata.nextLink"].as_str().unwrap().to_owned();
    assert!(next.contains("$skiptoken="));
    let mut seen = 3;
    let delta = loop {
        let v: Value = e
            .http
            .get(&next)
            .header("Authorization", &e.bearer)
            .header("Prefer", "odata.maxpagesize=3")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen += v["value"].as_array().unwrap().len();
        match v["@odata.nextLink"].as_str() {
            Some(n) => next = n.to_owned(),
            None => break v["@odata.deltaLink"].as_str().unwrap().to_owned(),
        }
    };
    assert_eq!(seen, 7);
    assert!(delta.contains("$deltatoken="));
    e.fake.state().expire_delta_tokens();
    let r = e.http.get(&delta).header("Authorization", &e.bearer).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 410);
    assert!(r.headers()["location"].to_str().unwrap().ends_with("$deltatoken="));
    assert_graph_error(&r.json().await.unwrap(), "resyncRequired");
    e.fake.state().set_delta_expiry(DeltaExpiry::SyncStateNotFound { status: 400 });
    let r = e.http.get(&delta).header("Authorization", &e.bearer).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_graph_error(&r.json().await.unwrap(), "syncStateNotFound");
}

/// A round names its items when it starts and renders each page when it is served: a page
/// fetched again gives the same items, an item changed before its page is served shows its
/// newer state (and is in the next round again), one deleted shows as removed.
#[tokio::test]
async fn a_rounds_later_pages_show_items_as_they_are_when_served_and_the_next_round_has_the_changes() {
    let e = env().await;
    for i in 0..6 {
        e.fake.state().seed_contact(MB, Some("Tandem"), json!({"surname": format!("N{i}")})).unwrap();
    }
    let folder = e.fake.state().contact_folder_id(MB, "Tandem").unwrap();
    let prefer = [("Prefer", "odata.maxpagesize=2, IdType=\"ImmutableId\"")];
    let get = |url: String| {
        let e = &e;
        async move {
            let (s, v, _) = e.send(reqwest::Method::GET, &url, None, &prefer).await;
            assert_eq!(s, 200, "{v}");
            v
        }
    };
    let first = get(format!("/users/{MB}/contactFolders/{folder}/contacts/delta")).await;
    let served: Vec<String> =
        first["value"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    let later: Vec<String> = e
        .fake
        .state()
        .contacts(MB)
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .filter(|id| !served.contains(id))
        .collect();
    assert_eq!(later.len(), 4);
    e.fake.state().edit_contact(MB, &later[0], json!({"surname": "Changed"})).unwrap();
    e.fake.state().delete_contact(MB, &later[1]).unwrap();
    let base = e.fake.graph_url();
    let strip = |url: &str| url.trim_start_matches(base.as_str()).to_owned();
    let next = strip(first["@odata.nextLink"].as_str().unwrap());
    let mut rows = Vec::new();
    let mut link = next.clone();
    let delta = loop {
        let page = get(link.clone()).await;
        assert_eq!(get(link.clone()).await, page, "a page fetched again is the same page");
        rows.extend(page["value"].as_array().unwrap().iter().cloned());
        match page["@odata.nextLink"].as_str() {
            Some(n) => link = strip(n),
            None => break strip(page["@odata.deltaLink"].as_str().unwrap()),
        }
    };
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).cloned().unwrap_or_else(|| panic!("{id} in {rows:?}"));
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(row(&later[0])["surname"], "Changed");
    assert!(row(&later[1])["@removed"].is_object(), "{:?}", row(&later[1]));
    assert_eq!(row(&later[2])["surname"].as_str().map(|s| s.starts_with('N')), Some(true));
    // The next round starts where this one started: both changes are in it again.
    let round = get(delta).await;
    let again: Vec<&Value> = round["value"].as_array().unwrap().iter().collect();
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(again.iter().any(|r| r["id"] == later[0].as_str() && r["surname"] == "Changed"), "{again:?}");
    assert!(again.iter().any(|r| r["id"] == later[1].as_str() && r["@removed"].is_object()), "{again:?}");
}

#[tokio::test]
async fn ids_etags_and_transaction_ids() {
    let e = env().await;
    let mut body = event("Once");
    body["transactionId"] = json!("tdm-tx-1");
    let (s, created, _) = e
        .send(
            reqwest::Method::POST,
            &format!("/users/{MB}/events"),
            Some(body.clone()),
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await;
    assert_eq!(s, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, again, _) = e
        .send(
            reqwest::Method::POST,
            &format!("/users/{MB}/events"),
            Some(body),
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await;
    assert_eq!(again["id"], json!(id), "the same transactionId returns the first event");
    assert_eq!(e.fake.state().events(MB).len(), 1);
    // The default id form differs, and both work.
    let (_, rest) = {
        let (s, v, _) = e.send(reqwest::Method::GET, &format!("/users/{MB}/events/{id}"), None, &[]).await;
        (s, v)
    };
    let rest_id = rest["id"].as_str().unwrap().to_owned();
    assert_ne!(rest_id, id);
    assert_eq!(e.get(&format!("/users/{MB}/events/{rest_id}")).await.1["id"], json!(id));
    assert!(e.fake.state().requests_without_immutable_id() >= 1);
    // ETags: W/"changeKey"; a stale If-Match is 412 ErrorIrresolvableConflict.
    let etag = created["@odata.etag"].as_str().unwrap().to_owned();
    assert_eq!(etag, format!("W/\"{}\"", created["changeKey"].as_str().unwrap()));
    let (s, _, _) = e
        .send(
            reqwest::Method::PATCH,
            &format!("/users/{MB}/events/{id}"),
            Some(json!({"subject": "Twice"})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(s, 200);
    let (s, v, _) = e
        .send(
            reqwest::Method::PATCH,
            &format!("/users/{MB}/events/{id}"),
            Some(json!({"subject": "Thrice"})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(s, 412);
    assert_graph_error(&v, "ErrorIrresolvableConflict");
    let (s, _, _) =
        e.send(reqwest::Method::DELETE, &format!("/users/{MB}/events/{id}"), None, &[("If-Match", &etag)]).await;
    assert_eq!(s, 412);
    // Unknown properties and enum values are refused.
    let (s, v, _) = e
        .send(reqwest::Method::PATCH, &format!("/users/{MB}/events/{id}"), Some(json!({"isPrivate": true})), &[])
        .await;
    assert_eq!(s, 400);
    assert_graph_error(&v, "RequestBodyRead");
    let (s, _, _) =
        e.send(reqwest::Method::PATCH, &format!("/users/{MB}/events/{id}"), Some(json!({"showAs": "away"})), &[]).await;
    assert_eq!(s, 400);
    let (s, _, _) = e
        .send(
            reqwest::Method::PATCH,
            &format!("/users/{MB}/events/{id}"),
            Some(json!({"attendees": [{"email": "x@y"}]})),
            &[],
        )
        .await;
    assert_eq!(s, 400, "nested names are checked too");
}

#[tokio::test]
async fn the_authorize_endpoint_redirects_with_a_code_and_the_state() {
    let e = env().await;
    e.fake.state().register_redirect_uri("public", "http://127.0.0.1:9/cb");
    let url = format!(
        "{}/contoso/oauth2/v2.0/authorize?client_id=public&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=offline_access&state=xyz&login_hint={MB}",
        e.fake.base_url()
    );
    let r = e.http.get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("http://127.0.0.1:9/cb?code="), "{location}");
    assert!(location.ends_with("&state=xyz"));
    let code = url::Url::parse(location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let v: Value = e
        .http
        .post(e.fake.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "public"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["refresh_token"].is_string(), "{v}");
    // A code is redeemed once.
    let v: Value = e
        .http
        .post(e.fake.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "public"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"], "invalid_grant");
}
