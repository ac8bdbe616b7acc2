//! The Google Workspace fake over HTTP: the JWT bearer grant and its refusals, Calendar listing,
//! sync and expiry, etag preconditions, client-chosen ids, recurring exceptions, People sync and
//! batch limits, contact groups, and quota errors on demand.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tandem_testkit::google::{
    GoogleFake, JWT_BEARER, QuotaKind, SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS, TOKEN_AUDIENCE, calendar::valid_event_id,
};
use tandem_testkit::keys::{OTHER_RSA_KEY_PEM, TEST_RSA_CERT_PEM, TEST_RSA_KEY_PEM};
use tandem_testkit::server::FakeServer;

const SA: &str = "sync@tandem-test.iam.gserviceaccount.com";
const CLIENT: &str = "111111111111111111111";
const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";

struct Env {
    fake: GoogleFake,
    server: FakeServer,
    http: reqwest::Client,
}

async fn env() -> Env {
    let (fake, server) = GoogleFake::start().await.unwrap();
    fake.add_service_account(SA, CLIENT, TEST_RSA_CERT_PEM);
    fake.add_user(ANN);
    fake.add_user(BOB);
    fake.grant_delegation(CLIENT, &[SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS]);
    Env { fake, server, http: reqwest::Client::new() }
}

fn jwt(key: &str, claims: Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap())
        .unwrap()
}

fn claims(sub: &str, scope: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": SA, "sub": sub, "scope": scope, "aud": TOKEN_AUDIENCE, "iat": now, "exp": now + 3600})
}

impl Env {
    async fn grant(&self, assertion: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.server.url("/token"))
            .form(&[("grant_type", JWT_BEARER), ("assertion", assertion)])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn token(&self, user: &str) -> String {
        let scope = format!("{SCOPE_CALENDAR_EVENTS} {SCOPE_CONTACTS}");
        let (status, body) = self.grant(&jwt(TEST_RSA_KEY_PEM, claims(user, &scope))).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_with(token, method, path, body, None).await
    }

    async fn call_with(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.server.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(e) = if_match {
            req = req.header("If-Match", e);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }
}

fn event(summary: &str, day: u32) -> Value {
    json!({
        "summary": summary,
        "start": {"dateTime": format!("2026-03-{day:02}T09:00:00Z"), "timeZone": "UTC"},
        "end": {"dateTime": format!("2026-03-{day:02}T10:00:00Z"), "timeZone": "UTC"},
    })
}

const EVENTS: &str = "/calendar/v3/calendars/primary/events";

#[tokio::test]
async fn token_grant_and_refusals() {
    let env = env().await;
    let ok = env.token(ANN).await;
    assert!(ok.starts_with("ya29."));
    let cal = SCOPE_CALENDAR_EVENTS;
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (claims(ANN, cal), OTHER_RSA_KEY_PEM, "invalid_grant", "Signature"),
        (claims("eve@elsewhere.example", cal), TEST_RSA_KEY_PEM, "invalid_grant", "email"),
        (claims(ANN, "https://www.googleapis.com/auth/calendar"), TEST_RSA_KEY_PEM, "unauthorized_client", "scopes"),
        (claims(ANN, ""), TEST_RSA_KEY_PEM, "invalid_scope", "scope"),
    ];
    for (c, key, error, needle) in cases {
        let (status, body) = env.grant(&jwt(key, c.clone())).await;
        assert!(status == 400 || status == 401, "{c} → {status}");
        assert_eq!(body["error"], error, "{c} → {body}");
        assert!(body["error_description"].as_str().unwrap().contains(needle), "{body}");
    }
    let mut long = claims(ANN, cal);
    long["exp"] = json!(long["iat"].as_i64().unwrap() + 7200);
    let mut wrong_aud = claims(ANN, cal);
    wrong_aud["aud"] = json!("https://example.com/token");
    let mut expired = claims(ANN, cal);
    expired["exp"] = json!(expired["iat"].as_i64().unwrap() - 10);
    let mut stranger = claims(ANN, cal);
    stranger["iss"] = json!("nobody@x.iam.gserviceaccount.com");
    let mut no_sub = claims(ANN, cal);
    no_sub.as_object_mut().unwrap().remove("sub");
    for c in [long, wrong_aud, expired, stranger, no_sub] {
        let (status, body) = env.grant(&jwt(TEST_RSA_KEY_PEM, c.clone())).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{c} → {body}");
    }
    // The fake's own /token is an accepted audience.
    let mut own = claims(ANN, cal);
    own["aud"] = json!(env.server.url("/token"));
    assert_eq!(env.grant(&jwt(TEST_RSA_KEY_PEM, own)).await.0, 200);
    let r = env.http.post(env.server.url("/token")).form(&[("grant_type", "client_credentials")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");
    // Without delegation nothing is granted; a token limited to calendar cannot read contacts.
    let (status, _) = env.grant(&jwt(TEST_RSA_KEY_PEM, claims(ANN, cal))).await;
    assert_eq!(status, 200);
    let cal_only =
        env.grant(&jwt(TEST_RSA_KEY_PEM, claims(ANN, cal))).await.1["access_token"].as_str().unwrap().to_owned();
    let (status, body) =
        env.call(&cal_only, reqwest::Method::GET, "/v1/people/me/connections?personFields=names", None).await;
    assert_eq!((status, body["error"]["status"].as_str()), (403, Some("PERMISSION_DENIED")));
    let (status, body) = env.call("ya29.bogus", reqwest::Method::GET, EVENTS, None).await;
    assert_eq!((status, body["error"]["errors"][0]["reason"].as_str()), (401, Some("authError")));
    env.fake.revoke_delegation(CLIENT);
    let (_, body) = env.grant(&jwt(TEST_RSA_KEY_PEM, claims(ANN, cal))).await;
    assert_eq!(body["error"], "unauthorized_client");
}

#[tokio::test]
async fn calendar_pages_syncs_and_expires() {
    let env = env().await;
    let t = env.token(ANN).await;
    for day in 1..=5 {
        env.fake.seed_event(ANN, Some(&format!("evt0000{day}")), event(&format!("e{day}"), day)).unwrap();
    }
    // First run: pages of 2, nextSyncToken only on the last page.
    let mut ids = Vec::new();
    let mut path = format!("{EVENTS}?maxResults=2&singleEvents=false");
    let sync = loop {
        let (status, body) = env.call(&t, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["kind"], "calendar#events");
        ids.extend(body["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        if let Some(page) = body["nextPageToken"].as_str() {
            assert!(body.get("nextSyncToken").is_none());
            path = format!("{EVENTS}?maxResults=2&singleEvents=false&pageToken={page}");
        } else {
            break body["nextSyncToken"].as_str().unwrap().to_owned();
        }
    };
    assert_eq!(ids.len(), 5);
    // Nothing changed: an empty incremental page.
    let (_, body) = env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?syncToken={sync}"), None).await;
    assert_eq!(body["items"], json!([]));
    // A person edits one and deletes another.
    env.fake.edit_event(ANN, &ids[0], json!({"summary": "moved"})).unwrap();
    assert!(env.fake.delete_event(ANN, &ids[1]));
    let (_, body) = env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?syncToken={sync}"), None).await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let cancelled = items.iter().find(|e| e["id"] == ids[1].as_str()).unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    // Full list hides the cancelled one unless showDeleted; time window filters.
    let (_, body) = env.call(&t, reqwest::Method::GET, EVENTS, None).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 4);
    let (_, body) = env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?showDeleted=true"), None).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 5);
    let window = format!("{EVENTS}?timeMin=2026-03-03T00:00:00Z&timeMax=2026-03-05T00:00:00Z");
    let (_, body) = env.call(&t, reqwest::Method::GET, &window, None).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    // syncToken cannot be combined with timeMin.
    let (status, _) = env
        .call(&t, reqwest::Method::GET, &format!("{EVENTS}?syncToken={sync}&timeMin=2026-03-01T00:00:00Z"), None)
        .await;
    assert_eq!(status, 400);
    // Expiry: 410 fullSyncRequired in Google's envelope.
    env.fake.expire_sync_tokens();
    let (status, body) = env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?syncToken={sync}"), None).await;
    assert_eq!(status, 410);
    assert_eq!(body["error"]["code"], 410);
    assert_eq!(body["error"]["errors"][0]["reason"], "fullSyncRequired");
    // Another user's calendar is not reachable.
    let (status, _) = env.call(&t, reqwest::Method::GET, &format!("/calendar/v3/calendars/{BOB}/events"), None).await;
    assert_eq!(status, 404);
    assert!(env.fake.controls().count("GET", "/calendar/v3/calendars/{calendar_id}/events") >= 8);
}

#[tokio::test]
async fn calendar_writes_ids_etags_and_send_updates() {
    let env = env().await;
    let t = env.token(ANN).await;
    assert!(valid_event_id("tandem0123456789abcdefghijklmnopqrstuv"));
    assert!(!valid_event_id("abcd") && !valid_event_id("has-dash0") && !valid_event_id("UPPERCASE"));
    let mut body = event("Kickoff", 10);
    body["id"] = json!("tandem00001");
    let (status, created) =
        env.call(&t, reqwest::Method::POST, &format!("{EVENTS}?sendUpdates=none"), Some(body.clone())).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["id"], "tandem00001");
    assert_eq!(created["status"], "confirmed");
    let (status, dup) = env.call(&t, reqwest::Method::POST, EVENTS, Some(body.clone())).await;
    assert_eq!((status, dup["error"]["errors"][0]["reason"].as_str()), (409, Some("duplicate")));
    body["id"] = json!("Not-Base32hex");
    assert_eq!(env.call(&t, reqwest::Method::POST, EVENTS, Some(body)).await.0, 400);
    let (status, _) = env.call(&t, reqwest::Method::POST, EVENTS, Some(json!({"summary": "no times"}))).await;
    assert_eq!(status, 400);
    // If-Match: stale → 412, current → applied.
    let path = format!("{EVENTS}/tandem00001");
    let etag = created["etag"].as_str().unwrap().to_owned();
    env.fake.edit_event(ANN, "tandem00001", json!({"location": "Room 1"})).unwrap();
    let (status, body) =
        env.call_with(&t, reqwest::Method::PATCH, &path, Some(json!({"summary": "x"})), Some(&etag)).await;
    assert_eq!((status, body["error"]["errors"][0]["reason"].as_str()), (412, Some("conditionNotMet")));
    let (_, current) = env.call(&t, reqwest::Method::GET, &path, None).await;
    let etag = current["etag"].as_str().unwrap().to_owned();
    let (status, patched) = env
        .call_with(
            &t,
            reqwest::Method::PATCH,
            &format!("{path}?sendUpdates=all"),
            Some(json!({"summary": "x"})),
            Some(&etag),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!((patched["summary"].as_str(), patched["location"].as_str()), (Some("x"), Some("Room 1")));
    assert_ne!(patched["etag"], current["etag"]);
    // PUT replaces: the location goes.
    let (status, put) = env.call(&t, reqwest::Method::PUT, &path, Some(event("Replaced", 11))).await;
    assert_eq!(status, 200);
    assert!(put.get("location").is_none());
    let (status, _) = env.call_with(&t, reqwest::Method::DELETE, &path, None, Some(&etag)).await;
    assert_eq!(status, 412);
    assert_eq!(env.call(&t, reqwest::Method::DELETE, &path, None).await.0, 204);
    let (status, gone) = env.call(&t, reqwest::Method::DELETE, &path, None).await;
    assert_eq!((status, gone["error"]["errors"][0]["reason"].as_str()), (410, Some("deleted")));
    let seen: Vec<Option<String>> = env.fake.send_updates().into_iter().map(|s| s.value).collect();
    assert_eq!(seen, [Some("none".to_owned()), Some("all".to_owned()), None, None]);
}

#[tokio::test]
async fn recurring_master_and_exceptions() {
    let env = env().await;
    let t = env.token(ANN).await;
    let mut master = event("Weekly", 2);
    master["id"] = json!("series00001");
    master["recurrence"] = json!(["RRULE:FREQ=WEEKLY;COUNT=5"]);
    assert_eq!(env.call(&t, reqwest::Method::POST, EVENTS, Some(master.clone())).await.0, 200);
    master["id"] = json!("series00002");
    master["recurrence"] = json!(["DTSTART:20260302T090000Z", "RRULE:FREQ=WEEKLY"]);
    assert_eq!(env.call(&t, reqwest::Method::POST, EVENTS, Some(master)).await.0, 400);
    let (_, first) = env.call(&t, reqwest::Method::GET, EVENTS, None).await;
    let sync = first["nextSyncToken"].as_str().unwrap().to_owned();
    // The API moves one occurrence and deletes another; a person edits a third.
    let (status, moved) = env
        .call(
            &t,
            reqwest::Method::PATCH,
            &format!("{EVENTS}/series00001_20260309T090000Z"),
            Some(json!({"summary": "Moved"})),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["recurringEventId"], "series00001");
    assert_eq!(moved["originalStartTime"]["dateTime"], "2026-03-09T09:00:00Z");
    assert_eq!(moved["start"]["dateTime"], "2026-03-09T09:00:00Z");
    assert!(moved.get("recurrence").is_none());
    assert_eq!(
        env.call(&t, reqwest::Method::DELETE, &format!("{EVENTS}/series00001_20260316T090000Z"), None).await.0,
        204
    );
    let id = env
        .fake
        .edit_instance(ANN, "series00001", json!({"dateTime": "2026-03-23T09:00:00Z"}), json!({"summary": "By hand"}))
        .unwrap();
    assert_eq!(id, "series00001_20260323T090000Z");
    let (_, changes) = env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?syncToken={sync}"), None).await;
    let items = changes["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let cancelled = items.iter().find(|e| e["status"] == "cancelled").unwrap();
    assert_eq!(cancelled["recurringEventId"], "series00001");
    assert_eq!(cancelled["originalStartTime"]["dateTime"], "2026-03-16T09:00:00Z");
}

const CONNECTIONS: &str = "/v1/people/me/connections";

#[tokio::test]
async fn people_sync_batches_and_expiry() {
    let env = env().await;
    let t = env.token(ANN).await;
    let (status, body) = env.call(&t, reqwest::Method::GET, CONNECTIONS, None).await;
    assert_eq!((status, body["error"]["status"].as_str()), (400, Some("INVALID_ARGUMENT")));
    let contacts: Vec<Value> = (0..3)
        .map(|i| {
            json!({"contactPerson": {
                "names": [{"givenName": format!("Ada{i}"), "familyName": "Lovelace"}],
                "emailAddresses": [{"value": format!("ada{i}@example.com"), "type": "work"}],
                "clientData": [{"key": "tandem", "value": format!("k{i}")}],
            }})
        })
        .collect();
    let (status, created) = env
        .call(
            &t,
            reqwest::Method::POST,
            "/v1/people:batchCreateContacts",
            Some(json!({"contacts": contacts, "readMask": "names,clientData"})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let people = created["createdPeople"].as_array().unwrap();
    assert_eq!(people.len(), 3);
    assert_eq!(people[0]["person"]["clientData"][0]["value"], "k0");
    assert!(people[0]["person"].get("emailAddresses").is_none());
    // Limits.
    let many: Vec<Value> = (0..201).map(|_| json!({"contactPerson": {"names": [{"givenName": "X"}]}})).collect();
    let (status, _) = env
        .call(
            &t,
            reqwest::Method::POST,
            "/v1/people:batchCreateContacts",
            Some(json!({"contacts": many, "readMask": "names"})),
        )
        .await;
    assert_eq!(status, 400);
    let names: Vec<String> = (0..501).map(|i| format!("people/c{i}")).collect();
    let (status, _) = env
        .call(&t, reqwest::Method::POST, "/v1/people:batchDeleteContacts", Some(json!({"resourceNames": names})))
        .await;
    assert_eq!(status, 400);
    // Full sync with a sync token, pages of 2.
    let mut path =
        format!("{CONNECTIONS}?personFields=names,emailAddresses,clientData&pageSize=2&requestSyncToken=true");
    let mut seen = 0;
    let sync = loop {
        let (status, body) = env.call(&t, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        seen += body["connections"].as_array().map_or(0, Vec::len);
        match body["nextPageToken"].as_str() {
            Some(p) => {
                path = format!(
                    "{CONNECTIONS}?personFields=names,emailAddresses,clientData&pageSize=2&requestSyncToken=true&pageToken={p}"
                )
            }
            None => break body["nextSyncToken"].as_str().unwrap().to_owned(),
        }
    };
    assert_eq!(seen, 3);
    // Update with etags: stale → FAILED_PRECONDITION; current → applied with updateMask.
    let r0 = people[0]["requestedResourceName"].as_str().unwrap().to_owned();
    let stale = people[0]["person"]["etag"].as_str().unwrap().to_owned();
    env.fake.edit_contact(ANN, &r0, json!({"nicknames": [{"value": "Countess"}]})).unwrap();
    let update = |etag: &str| json!({"contacts": {r0.clone(): {"etag": etag, "names": [{"givenName": "Augusta"}]}}, "updateMask": "names", "readMask": "names,nicknames"});
    let (status, body) =
        env.call(&t, reqwest::Method::POST, "/v1/people:batchUpdateContacts", Some(update(&stale))).await;
    assert_eq!((status, body["error"]["status"].as_str()), (400, Some("FAILED_PRECONDITION")));
    let fresh = env.fake.contact(ANN, &r0).unwrap()["etag"].as_str().unwrap().to_owned();
    let (status, body) =
        env.call(&t, reqwest::Method::POST, "/v1/people:batchUpdateContacts", Some(update(&fresh))).await;
    assert_eq!(status, 200, "{body}");
    let person = &body["updateResult"][&r0]["person"];
    assert_eq!(person["names"][0]["givenName"], "Augusta");
    assert_eq!(person["nicknames"][0]["value"], "Countess");
    // Delete one; the sync shows the update and the deletion.
    let r2 = people[2]["requestedResourceName"].as_str().unwrap();
    let (status, _) = env
        .call(&t, reqwest::Method::POST, "/v1/people:batchDeleteContacts", Some(json!({"resourceNames": [r2]})))
        .await;
    assert_eq!(status, 200);
    let (_, changes) = env
        .call(
            &t,
            reqwest::Method::GET,
            &format!("{CONNECTIONS}?personFields=names&requestSyncToken=true&syncToken={sync}"),
            None,
        )
        .await;
    let changed = changes["connections"].as_array().unwrap();
    assert_eq!(changed.len(), 2);
    assert!(changed.iter().any(|p| p["resourceName"] == r2 && p["metadata"]["deleted"] == true));
    // Expiry: EXPIRED_SYNC_TOKEN, 400 by default, 410 when configured.
    env.fake.expire_sync_tokens();
    for status in [400u16, 410] {
        env.fake.set_people_expired_token_status(status);
        let (got, body) = env
            .call(&t, reqwest::Method::GET, &format!("{CONNECTIONS}?personFields=names&syncToken={sync}"), None)
            .await;
        assert_eq!(got, status);
        assert_eq!(body["error"]["details"][0]["reason"], "EXPIRED_SYNC_TOKEN");
    }
}

#[tokio::test]
async fn contact_groups_and_membership() {
    let env = env().await;
    let t = env.token(ANN).await;
    let (status, group) = env
        .call(
            &t,
            reqwest::Method::POST,
            "/v1/contactGroups",
            Some(json!({"contactGroup": {"name": "Salesforce Sync"}})),
        )
        .await;
    assert_eq!(status, 200, "{group}");
    let (status, _) = env
        .call(
            &t,
            reqwest::Method::POST,
            "/v1/contactGroups",
            Some(json!({"contactGroup": {"name": "Salesforce Sync"}})),
        )
        .await;
    assert_eq!(status, 409);
    let resource = group["resourceName"].as_str().unwrap();
    let id = resource.trim_start_matches("contactGroups/");
    let ada = env.fake.seed_contact(ANN, json!({"names": [{"givenName": "Ada"}]}));
    let (status, body) = env
        .call(
            &t,
            reqwest::Method::POST,
            &format!("/v1/{resource}/members:modify"),
            Some(json!({"resourceNamesToAdd": [ada, "people/c1"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["notFoundResourceNames"], json!(["people/c1"]));
    assert_eq!(env.fake.group_members(ANN, id), [ada.as_str()]);
    let (_, list) = env.call(&t, reqwest::Method::GET, "/v1/contactGroups", None).await;
    let ours = list["contactGroups"].as_array().unwrap().iter().find(|g| g["resourceName"] == resource).unwrap();
    assert_eq!(ours["memberCount"], 1);
    let contact = env.fake.contact(ANN, &ada).unwrap();
    assert!(
        contact["memberships"].as_array().unwrap().iter().any(|m| m["contactGroupMembership"]["contactGroupId"] == id)
    );
}

#[tokio::test]
async fn quota_errors_on_demand() {
    let env = env().await;
    let t = env.token(ANN).await;
    env.fake.quota_error_next(1, QuotaKind::RateLimitExceeded);
    env.fake.quota_error_next(1, QuotaKind::UserRateLimitExceeded);
    env.fake.quota_error_next(1, QuotaKind::TooManyRequests);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (status, body) = env.call(&t, reqwest::Method::GET, EVENTS, None).await;
        assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");
        seen.push((status, body["error"]["errors"][0]["reason"].as_str().unwrap().to_owned()));
    }
    assert_eq!(
        seen,
        [
            (403, "rateLimitExceeded".to_owned()),
            (403, "userRateLimitExceeded".to_owned()),
            (429, "rateLimitExceeded".to_owned())
        ]
    );
    env.fake.quota_error_next(1, QuotaKind::TooManyRequests);
    let (status, body) = env.call(&t, reqwest::Method::GET, &format!("{CONNECTIONS}?personFields=names"), None).await;
    assert_eq!((status, body["error"]["status"].as_str()), (429, Some("RESOURCE_EXHAUSTED")));
    // The token endpoint is not affected, and the next calls succeed.
    env.fake.quota_error_next(1, QuotaKind::RateLimitExceeded);
    let _ = env.token(ANN).await;
    assert_eq!(env.call(&t, reqwest::Method::GET, EVENTS, None).await.0, 403);
    assert_eq!(env.call(&t, reqwest::Method::GET, EVENTS, None).await.0, 200);
}

/// Calendar's batch endpoint spoken raw: LF line ends, a full-URL target, per-part statuses and
/// `Content-ID`s, quota per part, and the refusals (People parts, nested batches, >1000 calls,
/// no bearer, not multipart).
#[tokio::test]
async fn calendar_batch_endpoint_raw() {
    let env = env().await;
    let t = env.token(ANN).await;
    let mut existing = event("Existing", 2);
    existing["id"] = json!("batchevent1");
    let (_, made) = env.call(&t, reqwest::Method::POST, EVENTS, Some(existing)).await;
    let etag = made["etag"].as_str().unwrap().to_owned();
    let insert = event("Batched", 3).to_string();
    let root = env.server.url("/");
    let part = |id: &str, head: &str, body: &str| {
        format!("--xyz\nContent-Type: application/http\nContent-ID: <{id}>\n\n{head}\n\n{body}\n")
    };
    let body = [
        part("a+1", &format!("POST {EVENTS}?sendUpdates=none HTTP/1.1\nContent-Type: application/json"), &insert),
        part(
            "a+2",
            &format!("PATCH {}calendar/v3/calendars/primary/events/batchevent1 HTTP/1.1\nIf-Match: \"1\"\nContent-Type: application/json", root),
            "{\"location\":\"x\"}",
        ),
        part("a+3", &format!("GET {EVENTS}/batchevent1 HTTP/1.1"), ""),
        part("a+4", "GET /v1/people/me/connections?personFields=names HTTP/1.1", ""),
        part("a+5", "POST /batch/calendar/v3 HTTP/1.1", ""),
        part("a+6", &format!("DELETE {EVENTS}/batchevent1 HTTP/1.1\nIf-Match: {etag}"), ""),
        "--xyz--\n".to_owned(),
    ]
    .concat();
    let send = |body: String, content_type: &str, token: Option<&str>| {
        let mut req =
            env.http.post(env.server.url("/batch/calendar/v3")).header("Content-Type", content_type).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let r = send(body.clone(), "multipart/mixed; boundary=\"xyz\"", Some(&t)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    let boundary = ct.strip_prefix("multipart/mixed; boundary=").unwrap().to_owned();
    assert!(boundary.starts_with("batch_"), "{ct}");
    let text = r.text().await.unwrap();
    let parts: Vec<&str> = text.split(&format!("--{boundary}")).filter(|p| p.contains("HTTP/1.1")).collect();
    assert_eq!(parts.len(), 6, "{text}");
    let status = |p: &str| p.split("HTTP/1.1 ").nth(1).unwrap()[..3].parse::<u16>().unwrap();
    let statuses: Vec<u16> = parts.iter().map(|p| status(p)).collect();
    assert_eq!(statuses, [200, 412, 200, 400, 400, 204], "{text}");
    for (n, p) in parts.iter().enumerate() {
        assert!(p.contains("Content-Type: application/http"), "{p}");
        assert!(p.contains(&format!("Content-ID: <response-a+{}>", n + 1)), "{p}");
    }
    assert!(parts[1].contains("conditionNotMet"), "{}", parts[1]);
    assert!(parts[3].contains("People"), "{}", parts[3]);
    assert!(parts[4].contains("Nested batch"), "{}", parts[4]);
    assert_eq!(env.fake.event(ANN, "batchevent1").unwrap()["status"], "cancelled");
    assert_eq!(env.fake.events(ANN).len(), 2);
    assert_eq!(env.fake.controls().count("POST", "/batch/calendar/v3"), 1);

    // Quota counts per inner call: the first part fails, the second goes through.
    env.fake.quota_error_next(1, QuotaKind::RateLimitExceeded);
    let two = [
        part("q1", &format!("GET {EVENTS}/batchevent1 HTTP/1.1"), ""),
        part("q2", &format!("GET {EVENTS}/batchevent1 HTTP/1.1"), ""),
        "--xyz--\n".to_owned(),
    ]
    .concat();
    let text = send(two, "multipart/mixed; boundary=xyz", Some(&t)).await.unwrap().text().await.unwrap();
    assert!(text.contains("HTTP/1.1 403 Forbidden") && text.contains("rateLimitExceeded"), "{text}");
    assert!(text.contains("HTTP/1.1 200 OK"), "{text}");

    // Whole-call refusals.
    let too_many = [
        (0..1001).map(|n| part(&n.to_string(), &format!("GET {EVENTS}/batchevent1 HTTP/1.1"), "")).collect::<String>(),
        "--xyz--\n".to_owned(),
    ]
    .concat();
    let r = send(too_many, "multipart/mixed; boundary=xyz", Some(&t)).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["errors"][0]["reason"], "badRequest");
    let r = send(body.clone(), "multipart/mixed; boundary=xyz", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = send(body.clone(), "application/json", Some(&t)).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = send(
        "--xyz\nContent-Type: application/http\n\nGET / HTTP/1.1\n".to_owned(),
        "multipart/mixed; boundary=xyz",
        Some(&t),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 400, "unterminated");
}

#[tokio::test]
async fn single_events_expand_order_and_page() {
    let env = env().await;
    let t = env.token(ANN).await;
    let mut master = event("Weekly", 2);
    master["id"] = json!("series00003");
    master["start"] = json!({"dateTime": "2026-03-02T10:00:00+01:00", "timeZone": "Europe/Berlin"});
    master["end"] = json!({"dateTime": "2026-03-02T10:30:00+01:00", "timeZone": "Europe/Berlin"});
    master["recurrence"] = json!(["RRULE:FREQ=WEEKLY;COUNT=6", "EXDATE;TZID=Europe/Berlin:20260323T100000"]);
    assert_eq!(env.call(&t, reqwest::Method::POST, EVENTS, Some(master)).await.0, 200);
    let mut single = event("One-off", 10);
    single["id"] = json!("single00001");
    assert_eq!(env.call(&t, reqwest::Method::POST, EVENTS, Some(single)).await.0, 200);
    let mut outside = event("Outside", 31);
    outside["id"] = json!("single00002");
    assert_eq!(env.call(&t, reqwest::Method::POST, EVENTS, Some(outside)).await.0, 200);
    // A moved occurrence (Mar 9 moved after the single event) and a cancelled one (Mar 16).
    let (status, _) = env
        .call(
            &t,
            reqwest::Method::PATCH,
            &format!("{EVENTS}/series00003_20260309T090000Z"),
            Some(json!({"summary": "Moved", "start": {"dateTime": "2026-03-10T12:00:00Z"},
                        "end": {"dateTime": "2026-03-10T12:30:00Z"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        env.call(&t, reqwest::Method::DELETE, &format!("{EVENTS}/series00003_20260316T090000Z"), None).await.0,
        204
    );

    // orderBy=startTime needs singleEvents=true.
    let (status, body) = env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?orderBy=startTime"), None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["errors"][0]["reason"], "badRequest");
    assert_eq!(body["error"]["message"], "The requested ordering is not available for the particular query.");

    let query = "singleEvents=true&orderBy=startTime&timeMin=2026-03-01T00:00:00Z&timeMax=2026-03-31T00:00:00Z";
    let mut path = format!("{EVENTS}?{query}&maxResults=2");
    let mut items = Vec::new();
    let mut pages = 0;
    let sync = loop {
        let (status, body) = env.call(&t, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        items.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["nextPageToken"].as_str() {
            Some(page) => {
                assert!(body.get("nextSyncToken").is_none());
                path = format!("{EVENTS}?{query}&maxResults=2&pageToken={page}");
            }
            None => break body["nextSyncToken"].as_str().unwrap().to_owned(),
        }
    };
    let ids: Vec<&str> = items.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["series00003_20260302T090000Z", "single00001", "series00003_20260309T090000Z", "series00003_20260330T080000Z"]
    );
    assert_eq!(pages, 2);
    let first = &items[0];
    assert_eq!(first["recurringEventId"], "series00003");
    assert_eq!(
        first["originalStartTime"],
        json!({"dateTime": "2026-03-02T10:00:00+01:00", "timeZone": "Europe/Berlin"})
    );
    assert_eq!(first["summary"], "Weekly");
    assert!(first.get("recurrence").is_none());
    assert_eq!(items[2]["summary"], "Moved");
    assert_eq!(items[3]["start"]["dateTime"], "2026-03-30T10:00:00+02:00");
    assert!(items[1].get("recurringEventId").is_none());
    // Without paging, the same list; with showDeleted the cancelled occurrence too.
    let (_, whole) = env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?{query}"), None).await;
    assert_eq!(whole["items"].as_array().unwrap().len(), 4);
    let (_, deleted) = env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?{query}&showDeleted=true"), None).await;
    let cancelled: Vec<&Value> =
        deleted["items"].as_array().unwrap().iter().filter(|e| e["status"] == "cancelled").collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["id"], "series00003_20260316T090000Z");
    // A page token of another query shape is refused.
    let (_, paged) = env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?{query}&maxResults=1"), None).await;
    let page = paged["nextPageToken"].as_str().unwrap();
    assert_eq!(env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?pageToken={page}"), None).await.0, 400);

    // Incremental: a changed master yields its instances in the first round's window.
    env.fake.edit_event(ANN, "series00003", json!({"summary": "Weekly v2"})).unwrap();
    let (status, changes) =
        env.call(&t, reqwest::Method::GET, &format!("{EVENTS}?singleEvents=true&syncToken={sync}"), None).await;
    assert_eq!(status, 200, "{changes}");
    let changed: Vec<&str> = changes["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        changed,
        [
            "series00003_20260302T090000Z",
            "series00003_20260309T090000Z",
            "series00003_20260316T090000Z",
            "series00003_20260330T080000Z"
        ]
    );
    assert_eq!(changes["items"][0]["summary"], "Weekly v2");
    assert_eq!(changes["items"][2]["status"], "cancelled");
}
