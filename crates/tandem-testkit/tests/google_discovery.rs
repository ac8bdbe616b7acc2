//! Every JSON property the Google fake sends exists, under that name and with a compatible JSON
//! type, in the schema the official discovery documents declare (Calendar v3 `Events`, `Event`,
//! `EventDateTime`, `EventAttendee`, …; People v1 `ListConnectionsResponse`, `Person`, `Name`,
//! `EmailAddress`, `PhoneNumber`, `ContactGroup`, …). Runs when `../shared/specs/calendar.v3.json`
//! and `people.v1.json` (relative to the workspace) are present; says it skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use serde_json::{Value, json};
use tandem_testkit::google::{GoogleFake, SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS};
use tandem_testkit::server::FakeServer;

const ANN: &str = "ann@example.com";

fn spec(name: &str) -> Option<Value> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join(format!("../../../shared/specs/{name}")),
        manifest.join(format!("../../shared/specs/{name}")),
        PathBuf::from(format!("../shared/specs/{name}")),
    ]
    .into_iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .map(|text| serde_json::from_str(&text).unwrap())
}

/// Checks `value` against schema `schema` (a property schema or a `$ref`), collecting problems.
fn check(
    schemas: &Value,
    schema: &Value,
    value: &Value,
    path: &str,
    problems: &mut Vec<String>,
    seen: &mut Vec<String>,
) {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str) {
        seen.push(name.to_owned());
        let Some(target) = schemas.get(name) else {
            problems.push(format!("{path}: unknown schema {name}"));
            return;
        };
        check(schemas, target, value, path, problems, seen);
        return;
    }
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let ok = match kind {
        "string" => value.is_string(),
        "integer" if matches!(format, "int64" | "uint64") => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !ok {
        problems.push(format!("{path}: {value} is not a {kind} {format}"));
        return;
    }
    match value {
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(schemas, item_schema, item, &format!("{path}[{i}]"), problems, seen);
                }
            }
        }
        Value::Object(map) => {
            if let Some(props) = schema.get("properties") {
                for (k, v) in map {
                    match props.get(k) {
                        Some(p) => check(schemas, p, v, &format!("{path}.{k}"), problems, seen),
                        None => problems.push(format!("{path}: no property {k}")),
                    }
                }
            } else if let Some(extra) = schema.get("additionalProperties") {
                for (k, v) in map {
                    check(schemas, extra, v, &format!("{path}[{k}]"), problems, seen);
                }
            }
        }
        _ => {}
    }
}

async fn call(
    http: &reqwest::Client,
    server: &FakeServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http.request(method, server.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn every_rendered_property_is_in_the_discovery_documents() {
    let (Some(calendar), Some(people)) = (spec("calendar.v3.json"), spec("people.v1.json")) else {
        eprintln!(
            "skipped: ../shared/specs/calendar.v3.json or people.v1.json is not present; the Google fake's property \
             names were not checked"
        );
        return;
    };
    let (fake, server) = GoogleFake::start().await.unwrap();
    fake.add_user(ANN);
    let token = fake.issue_token(ANN, &[SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS]);
    let http = reqwest::Client::new();
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let events = "/calendar/v3/calendars/primary/events";

    // Calendar: a rich single event, an all-day event, a series with a moved and a cancelled
    // instance, a deleted event.
    let rich = json!({
        "id": "rich0000001",
        "summary": "Quarterly review", "description": "Agenda", "location": "Room 4",
        "start": {"dateTime": "2026-04-01T09:00:00+02:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-04-01T10:00:00+02:00", "timeZone": "Europe/Berlin"},
        "attendees": [{"email": "bob@example.com", "displayName": "Bob", "responseStatus": "accepted", "optional": false}],
        "transparency": "opaque", "visibility": "private",
        "reminders": {"useDefault": false, "overrides": [{"method": "popup", "minutes": 10}]},
        "extendedProperties": {"private": {"tandemKey": "k1"}},
    });
    call(&http, &server, &token, post.clone(), events, Some(rich)).await;
    let all_day = json!({"id": "datevent001", "summary": "Holiday", "start": {"date": "2026-04-03"}, "end": {"date": "2026-04-04"}});
    call(&http, &server, &token, post.clone(), events, Some(all_day)).await;
    let series = json!({
        "id": "series00001", "summary": "Standup",
        "start": {"dateTime": "2026-04-06T09:00:00Z", "timeZone": "UTC"},
        "end": {"dateTime": "2026-04-06T09:15:00Z", "timeZone": "UTC"},
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=10", "EXDATE:20260408T090000Z"],
    });
    call(&http, &server, &token, post.clone(), events, Some(series)).await;
    let first = call(&http, &server, &token, get.clone(), events, None).await;
    let sync = first["nextSyncToken"].as_str().unwrap().to_owned();
    call(
        &http,
        &server,
        &token,
        reqwest::Method::PATCH,
        &format!("{events}/series00001_20260407T090000Z"),
        Some(json!({"summary": "Moved"})),
    )
    .await;
    http.delete(server.url(&format!("{events}/series00001_20260409T090000Z")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    http.delete(server.url(&format!("{events}/datevent001"))).bearer_auth(&token).send().await.unwrap();
    let changes = call(&http, &server, &token, get.clone(), &format!("{events}?syncToken={sync}"), None).await;

    let mut problems = Vec::new();
    let mut seen = Vec::new();
    let cal_schemas = &calendar["schemas"];
    // The checker itself notices a wrong name and a wrong type.
    check(
        cal_schemas,
        &json!({"$ref": "Event"}),
        &json!({"subject": "x", "sequence": "1"}),
        "probe",
        &mut problems,
        &mut seen,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    problems.clear();
    for (what, v) in [("events.list", &first), ("events.list(sync)", &changes)] {
        check(cal_schemas, &json!({"$ref": "Events"}), v, what, &mut problems, &mut seen);
    }
    for e in fake.events(ANN) {
        check(cal_schemas, &json!({"$ref": "Event"}), &e, "event", &mut problems, &mut seen);
    }

    // People: a rich contact, a group, membership, an update, a deletion.
    let person = json!({
        "names": [{"givenName": "Ada", "familyName": "Lovelace", "middleName": "A.", "honorificPrefix": "Lady"}],
        "emailAddresses": [{"value": "ada@example.com", "type": "work"}, {"value": "ada@home.example", "type": "home"}],
        "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work"}, {"value": "+44 7700 900000", "type": "mobile"}],
        "organizations": [{"name": "Analytical Engines", "title": "Programmer", "department": "R&D"}],
        "addresses": [{"streetAddress": "12 St James's Sq", "city": "London", "postalCode": "SW1Y", "country": "UK", "type": "work"}],
        "biographies": [{"value": "First programmer", "contentType": "TEXT_PLAIN"}],
        "birthdays": [{"date": {"year": 1815, "month": 12, "day": 10}}],
        "urls": [{"value": "https://example.com/ada", "type": "work"}],
        "clientData": [{"key": "tandemKey", "value": "k1"}],
    });
    let created = call(
        &http,
        &server,
        &token,
        post.clone(),
        "/v1/people:batchCreateContacts",
        Some(json!({"contacts": [{"contactPerson": person}, {"contactPerson": {"names": [{"givenName": "Bo"}]}}], "readMask": "names,emailAddresses,clientData,memberships"})),
    )
    .await;
    let r0 = created["createdPeople"][0]["requestedResourceName"].as_str().unwrap().to_owned();
    let r1 = created["createdPeople"][1]["requestedResourceName"].as_str().unwrap().to_owned();
    let group = call(
        &http,
        &server,
        &token,
        post.clone(),
        "/v1/contactGroups",
        Some(json!({"contactGroup": {"name": "Salesforce Sync", "clientData": [{"key": "k", "value": "v"}]}})),
    )
    .await;
    let group_resource = group["resourceName"].as_str().unwrap().to_owned();
    let modified = call(
        &http,
        &server,
        &token,
        post.clone(),
        &format!("/v1/{group_resource}/members:modify"),
        Some(json!({"resourceNamesToAdd": [r0.clone(), "people/c1"]})),
    )
    .await;
    let fields = "names,emailAddresses,phoneNumbers,organizations,addresses,biographies,birthdays,urls,clientData,memberships,metadata";
    let listed = call(
        &http,
        &server,
        &token,
        get.clone(),
        &format!("/v1/people/me/connections?personFields={fields}&requestSyncToken=true"),
        None,
    )
    .await;
    let psync = listed["nextSyncToken"].as_str().unwrap().to_owned();
    let etag = fake.contact(ANN, &r0).unwrap()["etag"].as_str().unwrap().to_owned();
    let updated = call(
        &http,
        &server,
        &token,
        post.clone(),
        "/v1/people:batchUpdateContacts",
        Some(json!({"contacts": {r0.clone(): {"etag": etag, "nicknames": [{"value": "Countess"}]}}, "updateMask": "nicknames", "readMask": fields})),
    )
    .await;
    call(&http, &server, &token, post.clone(), "/v1/people:batchDeleteContacts", Some(json!({"resourceNames": [r1]})))
        .await;
    let pchanges = call(
        &http,
        &server,
        &token,
        get.clone(),
        &format!("/v1/people/me/connections?personFields={fields}&syncToken={psync}"),
        None,
    )
    .await;
    let groups = call(&http, &server, &token, get.clone(), "/v1/contactGroups", None).await;

    let p_schemas = &people["schemas"];
    for (what, schema, v) in [
        ("batchCreateContacts", "BatchCreateContactsResponse", &created),
        ("contactGroups.create", "ContactGroup", &group),
        ("members:modify", "ModifyContactGroupMembersResponse", &modified),
        ("connections.list", "ListConnectionsResponse", &listed),
        ("batchUpdateContacts", "BatchUpdateContactsResponse", &updated),
        ("connections.list(sync)", "ListConnectionsResponse", &pchanges),
        ("contactGroups.list", "ListContactGroupsResponse", &groups),
    ] {
        check(p_schemas, &json!({"$ref": schema}), v, what, &mut problems, &mut seen);
    }
    for p in fake.contacts(ANN) {
        check(p_schemas, &json!({"$ref": "Person"}), &p, "person", &mut problems, &mut seen);
    }
    assert!(problems.is_empty(), "properties not in the discovery documents:\n{}", problems.join("\n"));
    for needed in [
        "Event",
        "EventDateTime",
        "EventAttendee",
        "EventReminder",
        "Person",
        "Name",
        "EmailAddress",
        "PhoneNumber",
        "Organization",
        "Address",
        "ClientData",
        "Membership",
        "ContactGroupMembership",
        "PersonMetadata",
        "Source",
        "FieldMetadata",
        "ContactGroup",
        "PersonResponse",
    ] {
        assert!(seen.iter().any(|s| s == needed), "schema {needed} was never exercised");
    }
}
