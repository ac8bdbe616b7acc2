//! The write endpoints: `POST …/events` and `PUT`/`PATCH`/`DELETE …/events/{eventId}`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use chrono::Utc;
use serde_json::Value;

use super::create::{materialize_instance, store_new};
use super::ids::valid_event_id;
use super::request::{calendar_owner, check_body, if_match_fails, parse_body, record_send_updates, strip_owned};
use super::responses::{not_found, precondition_failed, with_etag};
use crate::google::{GoogleFake, calendar_error, json_response, merge, query_pairs};

/// `POST …/events`.
pub(crate) async fn insert(
    State(fake): State<GoogleFake>,
    Path(calendar_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let owner = match calendar_owner(&fake, &headers, &calendar_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut props = match parse_body(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = match props.get("id") {
        None => uuid::Uuid::new_v4().simple().to_string(),
        Some(Value::String(id)) if valid_event_id(id) => id.clone(),
        Some(_) => return calendar_error(400, "global", "invalid", "Invalid resource id value.", None),
    };
    if let Err(r) = check_body(&props) {
        return r;
    }
    strip_owned(&mut props);
    let pairs = query_pairs(query.as_deref());
    let mut d = fake.lock();
    if d.calendars.get(&owner).is_some_and(|c| c.events.contains_key(&id)) {
        return calendar_error(409, "global", "duplicate", "The requested identifier already exists.", None);
    }
    if let Err(r) = record_send_updates(&mut d, &Method::POST, &id, &pairs) {
        return r;
    }
    let event = store_new(&mut d, &owner, &id, props.into_iter().collect(), false);
    with_etag(200, event.render(&id, &owner, false), &event.etag())
}

/// `PUT …/events/{eventId}`: replaces the client's properties.
pub(crate) async fn put(
    State(fake): State<GoogleFake>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write(fake, calendar_id, event_id, query, headers, body, Method::PUT).await
}

/// `PATCH …/events/{eventId}`: merges top-level properties (`null` removes).
pub(crate) async fn patch(
    State(fake): State<GoogleFake>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write(fake, calendar_id, event_id, query, headers, body, Method::PATCH).await
}

async fn write(
    fake: GoogleFake,
    calendar_id: String,
    event_id: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    method: Method,
) -> Response {
    let owner = match calendar_owner(&fake, &headers, &calendar_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut patch = match parse_body(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    strip_owned(&mut patch);
    let pairs = query_pairs(query.as_deref());
    let mut d = fake.lock();
    let existing = d.calendars.get(&owner).and_then(|c| c.events.get(&event_id)).cloned();
    let mut event = match existing {
        Some(e) => e,
        None => match materialize_instance(&d, &owner, &event_id) {
            Some(e) => e,
            None => return not_found(),
        },
    };
    if if_match_fails(&headers, &event.etag()) {
        return precondition_failed();
    }
    let mut props = if method == Method::PUT {
        let mut keep = BTreeMap::new();
        for k in ["recurringEventId", "originalStartTime", "iCalUID"] {
            if let Some(v) = event.props.get(k) {
                keep.insert(k.to_owned(), v.clone());
            }
        }
        keep
    } else {
        event.props.clone()
    };
    patch.remove("recurringEventId");
    patch.remove("originalStartTime");
    merge(&mut props, &patch);
    if let Err(r) = check_body(&props.clone().into_iter().collect()) {
        return r;
    }
    if let Err(r) = record_send_updates(&mut d, &method, &event_id, &pairs) {
        return r;
    }
    let seq = d.next_seq();
    event.props = props;
    event.version = seq;
    event.seq = seq;
    event.updated = Utc::now();
    event.sequence += 1;
    if patch.get("status").and_then(Value::as_str) == Some("cancelled") {
        event.cancelled = true;
    } else if event.cancelled && event.props.contains_key("recurringEventId") {
        event.cancelled = false;
    }
    d.calendars.entry(owner.clone()).or_default().events.insert(event_id.clone(), event.clone());
    with_etag(200, event.render(&event_id, &owner, false), &event.etag())
}

/// `DELETE …/events/{eventId}`.
pub(crate) async fn delete(
    State(fake): State<GoogleFake>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let owner = match calendar_owner(&fake, &headers, &calendar_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let pairs = query_pairs(query.as_deref());
    let mut d = fake.lock();
    let existing = d.calendars.get(&owner).and_then(|c| c.events.get(&event_id)).cloned();
    let mut event = match existing {
        Some(e) if e.cancelled => {
            return calendar_error(410, "global", "deleted", "Resource has been deleted", None);
        }
        Some(e) => e,
        None => match materialize_instance(&d, &owner, &event_id) {
            Some(e) => e,
            None => return not_found(),
        },
    };
    if if_match_fails(&headers, &event.etag()) {
        return precondition_failed();
    }
    if let Err(r) = record_send_updates(&mut d, &Method::DELETE, &event_id, &pairs) {
        return r;
    }
    let seq = d.next_seq();
    event.cancelled = true;
    event.version = seq;
    event.seq = seq;
    event.updated = Utc::now();
    d.calendars.entry(owner).or_default().events.insert(event_id, event);
    let mut resp = json_response(204, Value::Null);
    *resp.body_mut() = axum::body::Body::empty();
    resp.headers_mut().remove(header::CONTENT_TYPE);
    resp
}
