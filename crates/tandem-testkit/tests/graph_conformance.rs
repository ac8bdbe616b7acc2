//! Conformance of the Graph fake with Microsoft Graph's documented behaviour, checked as an
//! independent client would see it (plain HTTP, no connector): OData query options (`$select`,
//! `$filter`, `$orderby`, refused options), paging links that survive a retry, `@odata.context`,
//! the request-id headers, `Prefer: outlook.timezone` and the media type of writes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

mod common;

use common::{GraphEnv as Env, MB};

const IMMUTABLE: (&str, &str) = ("Prefer", "IdType=\"ImmutableId\"");

async fn env() -> Env {
    common::graph_env(tandem_testkit::graph::GraphFakeConfig::default()).await
}

struct Answer {
    status: u16,
    body: Value,
    headers: HeaderMap,
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.graph_url())
    }

    /// Sends a request to an absolute URL (a link the fake gave) or a path under `/v1.0`.
    async fn send(&self, method: Method, target: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Answer {
        let url = if target.starts_with("http") { target.to_owned() } else { self.url(target) };
        let mut r = self.http.request(method, url).header("Authorization", &self.bearer);
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
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), headers }
    }

    async fn get(&self, target: &str) -> Answer {
        self.send(Method::GET, target, None, &[IMMUTABLE]).await
    }

    fn seed_contacts(&self, n: usize) -> String {
        for i in 0..n {
            self.fake
                .state()
                .seed_contact(
                    MB,
                    Some("Tandem"),
                    json!({"givenName": format!("G{i}"), "surname": format!("N{i}"),
                           "emailAddresses": [{"address": format!("n{i}@example.com")}]}),
                )
                .unwrap();
        }
        self.fake.state().contact_folder_id(MB, "Tandem").unwrap()
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Graph's error body: code, message, and `innerError` with date and both request ids.
fn assert_graph_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"]["code"], code, "{}", a.body);
    assert!(a.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", a.body);
    let inner = &a.body["error"]["innerError"];
    for key in ["date", "request-id", "client-request-id"] {
        assert!(inner[key].is_string(), "innerError lacks {key}: {}", a.body);
    }
}

fn event_at(subject: &str, day: &str, hour: u32) -> Value {
    json!({"subject": subject,
           "start": {"dateTime": format!("{day}T{hour:02}:00:00"), "timeZone": "UTC"},
           "end": {"dateTime": format!("{day}T{:02}:00:00", hour + 1), "timeZone": "UTC"}})
}

#[tokio::test]
async fn select_returns_only_the_selected_properties() {
    let e = env().await;
    let folder = e.seed_contacts(3);
    let contacts = format!("/users/{MB}/contactFolders/{folder}/contacts");
    // Collection.
    let a = e.get(&format!("{contacts}?$select=surname,givenName")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    for c in a.body["value"].as_array().unwrap() {
        assert_eq!(keys(c), set(&["@odata.etag", "id", "surname", "givenName"]), "{c}");
    }
    // Item.
    let id = a.body["value"][0]["id"].as_str().unwrap().to_owned();
    let a = e.get(&format!("/users/{MB}/contacts/{id}?$select=displayName")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let mut k = keys(&a.body);
    k.remove("@odata.context");
    assert_eq!(k, set(&["@odata.etag", "id", "displayName"]), "{}", a.body);
    // Events.
    e.fake.state().seed_event(MB, event_at("Review", "2027-01-12", 10)).unwrap();
    let a = e.get(&format!("/users/{MB}/events?$select=subject")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(keys(&a.body["value"][0]), set(&["@odata.etag", "id", "subject"]), "{}", a.body);
    // Contacts delta: the selection is encoded in the links, on every page and the next round.
    let a = e
        .send(
            Method::GET,
            &format!("{contacts}/delta?$select=surname"),
            None,
            &[("Prefer", "IdType=\"ImmutableId\", odata.maxpagesize=2")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let mut rows = a.body["value"].as_array().unwrap().clone();
    let next = a.body["@odata.nextLink"].as_str().unwrap().to_owned();
    assert!(!next.contains("select"), "only the token is in the link: {next}");
    let a = e.get(&next).await;
    rows.extend(a.body["value"].as_array().unwrap().iter().cloned());
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(keys(r), set(&["@odata.etag", "id", "surname"]), "{r}");
    }
    let delta = a.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    e.fake.state().edit_contact(MB, rows[0]["id"].as_str().unwrap(), json!({"jobTitle": "CEO"})).unwrap();
    let a = e.get(&delta).await;
    assert_eq!(a.body["value"].as_array().unwrap().len(), 1, "{}", a.body);
    assert_eq!(keys(&a.body["value"][0]), set(&["@odata.etag", "id", "surname"]), "{}", a.body);
    // An unknown property is refused with Graph's error.
    let a = e.get(&format!("{contacts}?$select=surname,shoeSize")).await;
    assert_graph_error(&a, 400, "BadRequest");
    assert!(a.body["error"]["message"].as_str().unwrap().contains("shoeSize"));
}

#[tokio::test]
async fn filter_and_orderby_are_applied_or_refused_never_ignored() {
    let e = env().await;
    let folder = e.seed_contacts(5);
    let contacts = format!("/users/{MB}/contactFolders/{folder}/contacts");
    // A simple comparison is applied.
    let a = e.get(&format!("{contacts}?$filter=surname eq 'N2'")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.body["value"].as_array().unwrap();
    assert_eq!(v.len(), 1, "{}", a.body);
    assert_eq!(v[0]["surname"], "N2");
    // So is a lambda over a collection and startswith.
    let a = e.get(&format!("{contacts}?$filter=emailAddresses/any(a: a/address eq 'n3@example.com')")).await;
    assert_eq!(a.body["value"].as_array().unwrap().len(), 1, "{}", a.body);
    let a = e.get(&format!("{contacts}?$filter=startswith(givenName,'G')")).await;
    assert_eq!(a.body["value"].as_array().unwrap().len(), 5, "{}", a.body);
    // $orderby sorts.
    let a = e.get(&format!("{contacts}?$orderby=surname desc")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let names: Vec<&str> = a.body["value"].as_array().unwrap().iter().map(|c| c["surname"].as_str().unwrap()).collect();
    assert_eq!(names, ["N4", "N3", "N2", "N1", "N0"]);
    for (i, subject) in ["c", "e", "a", "d", "b"].iter().enumerate() {
        e.fake.state().seed_event(MB, event_at(subject, "2027-01-12", 8 + u32::try_from(i).unwrap())).unwrap();
    }
    let a = e.get(&format!("/users/{MB}/events?$orderby=subject&$select=subject")).await;
    let subjects: Vec<&str> =
        a.body["value"].as_array().unwrap().iter().map(|c| c["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["a", "b", "c", "d", "e"]);
    let a = e.get(&format!("/users/{MB}/events?$filter=start/dateTime ge '2027-01-12T11:00'&$orderby=subject")).await;
    let subjects: Vec<&str> =
        a.body["value"].as_array().unwrap().iter().map(|c| c["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["b", "d"], "{}", a.body);
    // What the fake does not evaluate is refused, with Graph's error body.
    assert_graph_error(
        &e.get(&format!("{contacts}?$filter=endswith(surname,'2')")).await,
        400,
        "ErrorInvalidUrlQueryFilter",
    );
    assert_graph_error(&e.get(&format!("{contacts}?$filter=shoeSize eq 3")).await, 400, "BadRequest");
    assert_graph_error(&e.get(&format!("{contacts}?$filter=surname eq")).await, 400, "BadRequest");
    assert_graph_error(&e.get(&format!("{contacts}?$orderby=shoeSize")).await, 400, "BadRequest");
    assert_graph_error(&e.get(&format!("{contacts}?$search=\"N2\"")).await, 400, "BadRequest");
    assert_graph_error(&e.get(&format!("{contacts}?$frobnicate=1")).await, 400, "BadRequest");
    assert_graph_error(&e.get(&format!("{contacts}/delta?$orderby=surname")).await, 400, "BadRequest");
    assert_graph_error(&e.get(&format!("{contacts}/delta?$filter=surname eq 'N1'")).await, 400, "BadRequest");
    // calendarView delta supports none of $select, $filter, $orderby, $expand, $search.
    let window = "startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z";
    for option in ["$select=subject", "$filter=subject eq 'a'", "$orderby=subject", "$expand=instances"] {
        let a = e.get(&format!("/users/{MB}/calendarView/delta?{window}&{option}")).await;
        assert_graph_error(&a, 400, "BadRequest");
    }
    let a = e.get(&format!("/users/{MB}/calendarView/delta?{window}")).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn paging_links_can_be_fetched_again_and_delta_links_reused() {
    let e = env().await;
    let folder = e.seed_contacts(5);
    let delta = format!("/users/{MB}/contactFolders/{folder}/contacts/delta");
    let prefer = [("Prefer", "IdType=\"ImmutableId\", odata.maxpagesize=2")];
    let first = e.send(Method::GET, &delta, None, &prefer).await;
    let next = first.body["@odata.nextLink"].as_str().unwrap().to_owned();
    // The response of page two is lost: the client fetches it again and gets the same page.
    let a = e.send(Method::GET, &next, None, &prefer).await;
    let b = e.send(Method::GET, &next, None, &prefer).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(b.status, 200, "a retried nextLink must not need a resync: {}", b.body);
    assert_eq!(a.body, b.body);
    // The last page too.
    let last_link = a.body["@odata.nextLink"].as_str().unwrap().to_owned();
    let last = e.send(Method::GET, &last_link, None, &prefer).await;
    let again = e.send(Method::GET, &last_link, None, &prefer).await;
    assert_eq!(last.body, again.body);
    let delta_link = last.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let ids: BTreeSet<String> = [&first, &a, &last]
        .iter()
        .flat_map(|p| p.body["value"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(ids.len(), 5);
    // A deltaLink stays usable: used twice, it gives the same changes.
    let changed = ids.iter().next().unwrap().clone();
    e.fake.state().edit_contact(MB, &changed, json!({"jobTitle": "CEO"})).unwrap();
    let r1 = e.get(&delta_link).await;
    let r2 = e.get(&delta_link).await;
    assert_eq!(r1.status, 200);
    assert_eq!(r2.status, 200);
    for r in [&r1, &r2] {
        let v = r.body["value"].as_array().unwrap();
        assert_eq!(v.len(), 1, "{}", r.body);
        assert_eq!(v[0]["id"], json!(changed));
    }
}

#[tokio::test]
async fn collections_carry_their_odata_context() {
    let e = env().await;
    let folder = e.seed_contacts(2);
    e.fake.state().seed_event(MB, event_at("Review", "2027-01-12", 10)).unwrap();
    let a = e.get(&format!("/users/{MB}/contactFolders/{folder}/contacts/delta")).await;
    let ctx = a.body["@odata.context"].as_str().unwrap();
    assert!(ctx.ends_with("$metadata#Collection(contact)"), "{ctx}");
    let a = e
        .get(&format!(
            "/users/{MB}/calendarView/delta?startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z"
        ))
        .await;
    assert!(a.body["@odata.context"].as_str().unwrap().ends_with("$metadata#Collection(event)"), "{}", a.body);
    for (path, set) in [
        (format!("/users/{MB}/contactFolders/{folder}/contacts"), "/contacts"),
        (format!("/users/{MB}/contactFolders"), "/contactFolders"),
        (format!("/users/{MB}/events"), "/events"),
        (
            format!("/users/{MB}/calendarView?startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z"),
            "/calendarView",
        ),
    ] {
        let a = e.get(&path).await;
        let ctx = a.body["@odata.context"].as_str().unwrap_or_else(|| panic!("no context on {path}: {}", a.body));
        assert!(ctx.contains("$metadata#users(") && ctx.ends_with(set), "{ctx}");
    }
    let a = e.get(&format!("/users/{MB}/contactFolders/{folder}/contacts?$select=surname")).await;
    assert!(a.body["@odata.context"].as_str().unwrap().ends_with("/contacts(surname)"), "{}", a.body);
}

#[tokio::test]
async fn every_answer_carries_request_ids_and_a_date() {
    let e = env().await;
    let client_id = "6f3a7c1e-0d2b-4b8e-9a55-0c7d1e2f3a4b";
    let a = e.send(Method::GET, &format!("/users/{MB}"), None, &[("client-request-id", client_id)]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["client-request-id"], client_id);
    assert!(!a.headers["request-id"].is_empty());
    assert!(a.headers.contains_key("date"));
    // Without one, the service still answers with both.
    let a = e.get(&format!("/users/{MB}")).await;
    assert!(a.headers.contains_key("request-id") && a.headers.contains_key("client-request-id"));
    // An error names the same ids in its body.
    let a =
        e.send(Method::GET, &format!("/users/{MB}/events/AAkALgnope"), None, &[("client-request-id", client_id)]).await;
    assert_graph_error(&a, 404, "ErrorItemNotFound");
    assert_eq!(a.body["error"]["innerError"]["client-request-id"], client_id);
    assert_eq!(a.body["error"]["innerError"]["request-id"], a.headers["request-id"].to_str().unwrap());
}

#[tokio::test]
async fn outlook_timezone_is_applied_and_acknowledged() {
    let e = env().await;
    let id = e.fake.state().seed_event(MB, event_at("Review", "2027-01-12", 10)).unwrap();
    let zone = [("Prefer", "IdType=\"ImmutableId\", outlook.timezone=\"Pacific Standard Time\"")];
    let a = e.send(Method::GET, &format!("/users/{MB}/events/{id}"), None, &zone).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let applied = a.headers.get("preference-applied").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(applied.contains("outlook.timezone=\"Pacific Standard Time\""), "Preference-Applied: {applied:?}");
    assert_eq!(a.body["start"]["timeZone"], "Pacific Standard Time");
    assert_eq!(a.body["start"]["dateTime"], "2027-01-12T02:00:00.0000000");
    let window = "startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z";
    let a = e.send(Method::GET, &format!("/users/{MB}/calendarView/delta?{window}"), None, &zone).await;
    let applied = a.headers.get("preference-applied").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(applied.contains("outlook.timezone=\"Pacific Standard Time\""), "Preference-Applied: {applied:?}");
    assert_eq!(a.body["value"][0]["end"]["dateTime"], "2027-01-12T03:00:00.0000000");
    // Without the header, times are in UTC and nothing is acknowledged.
    let a = e.get(&format!("/users/{MB}/events/{id}")).await;
    assert_eq!(a.body["start"]["timeZone"], "UTC");
    assert!(a.headers.get("preference-applied").is_none());
}

#[tokio::test]
async fn writes_with_another_media_type_than_json_are_refused() {
    let e = env().await;
    let url = e.url(&format!("/users/{MB}/contacts"));
    let body = json!({"surname": "Plain"}).to_string();
    let send = |content_type: Option<&'static str>, method: Method, url: String| {
        let mut r = e.http.request(method, url).header("Authorization", &e.bearer).body(body.clone());
        if let Some(ct) = content_type {
            r = r.header("Content-Type", ct);
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            Answer { status, body: resp.json().await.unwrap_or(Value::Null), headers }
        }
    };
    assert_graph_error(&send(Some("text/plain"), Method::POST, url.clone()).await, 415, "RequestBodyRead");
    assert_graph_error(
        &send(Some("application/x-www-form-urlencoded"), Method::POST, url.clone()).await,
        415,
        "RequestBodyRead",
    );
    assert_graph_error(&send(None, Method::POST, url.clone()).await, 400, "BadRequest");
    assert!(e.fake.state().contacts(MB).is_empty(), "nothing was written");
    let ok = send(Some("application/json; charset=utf-8"), Method::POST, url.clone()).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let id = ok.body["id"].as_str().unwrap().to_owned();
    let patch = send(Some("text/plain"), Method::PATCH, format!("{url}/{id}")).await;
    assert_graph_error(&patch, 415, "RequestBodyRead");
    // The same inside a batch.
    let a = e
        .send(
            Method::POST,
            "/$batch",
            Some(json!({"requests": [{"id": "1", "method": "POST", "url": format!("/users/{MB}/contacts"),
                "headers": {"Content-Type": "text/plain"}, "body": {"surname": "Batched"}}]})),
            &[],
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["responses"][0]["status"], 415, "{}", a.body);
    // And for the batch itself.
    let r = e
        .http
        .post(e.url("/$batch"))
        .header("Authorization", &e.bearer)
        .header("Content-Type", "text/plain")
        .body(json!({"requests": []}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
}
