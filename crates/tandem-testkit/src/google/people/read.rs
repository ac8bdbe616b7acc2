//! `GET /v1/people/me/connections` (paging and sync tokens), `GET /v1/people/{id}` and
//! `GET /v1/people:batchGet`.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use super::request::{contacts_user, fields_of, invalid};
use super::stored::StoredPerson;
use crate::google::{GoogleFake, decode_token, encode_token, json_response, param, people_error, query_pairs};

/// Sync tokens of People expire this long after they were issued.
pub const SYNC_TOKEN_LIFETIME_DAYS: i64 = 7;

/// `GET /v1/people/me/connections`.
pub(crate) async fn connections(
    State(fake): State<GoogleFake>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let user = match contacts_user(&fake, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let pairs = query_pairs(query.as_deref());
    let Some(fields) = param(&pairs, "personFields").map(fields_of).filter(|f| !f.is_empty()) else {
        return invalid("personFields mask is required. Please specify one or more valid paths.");
    };
    let size = match param(&pairs, "pageSize").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return invalid("Invalid pageSize: must be between 1 and 1000."),
    };
    let request_sync = param(&pairs, "requestSyncToken") == Some("true");
    let d = fake.lock();
    let now = Utc::now().timestamp();
    let (since, hi, offset, incremental) = if let Some(page) = param(&pairs, "pageToken") {
        match decode_token("PP", page).and_then(|t| numbers(&t)) {
            Some(v) if v.len() == 5 && v[0] == d.epoch => (v[1], v[2], usize::try_from(v[3]).unwrap_or(0), v[4] == 1),
            _ => return invalid("Page token is not valid."),
        }
    } else if let Some(token) = param(&pairs, "syncToken") {
        let parsed = decode_token("PS", token).and_then(|t| {
            let (u, rest) = t.split_once(' ')?;
            Some((u.to_owned(), numbers(rest)?))
        });
        match parsed {
            Some((u, v)) if u == user && v.len() == 3 => {
                if v[0] != d.epoch || now - i64::try_from(v[2]).unwrap_or(0) > SYNC_TOKEN_LIFETIME_DAYS * 86_400 {
                    return people_error(
                        d.people_expired_status,
                        "FAILED_PRECONDITION",
                        "Sync token is expired. Clear local cache and retry call without the sync token.",
                        Some("EXPIRED_SYNC_TOKEN"),
                    );
                }
                (v[1], d.seq, 0, true)
            }
            _ => return invalid("Sync token is not valid."),
        }
    } else {
        (0, d.seq, 0, false)
    };
    let Some(book) = d.books.get(&user) else { return invalid("Unknown user.") };
    let selected: Vec<(&String, &StoredPerson)> =
        book.people.iter().filter(|(_, p)| p.seq > since && (incremental || !p.deleted)).collect();
    let page: Vec<Value> = selected.iter().skip(offset).take(size).map(|(r, p)| p.render(r, Some(&fields))).collect();
    let total = book.people.values().filter(|p| !p.deleted).count();
    let mut out = json!({"totalPeople": total, "totalItems": total});
    if !page.is_empty() {
        out["connections"] = Value::Array(page);
    }
    if offset + size < selected.len() {
        out["nextPageToken"] =
            json!(encode_token("PP", &format!("{} {since} {hi} {} {}", d.epoch, offset + size, u8::from(incremental))));
    } else if request_sync {
        out["nextSyncToken"] = json!(encode_token("PS", &format!("{user} {} {hi} {now}", d.epoch)));
    }
    json_response(200, out)
}

fn numbers(text: &str) -> Option<Vec<u64>> {
    text.split(' ').map(|n| n.parse().ok()).collect()
}

/// `GET /v1/people/{id}` (`people.get`): `personFields` required; 404 once deleted.
pub(crate) async fn get_person(
    State(fake): State<GoogleFake>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let user = match contacts_user(&fake, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let pairs = query_pairs(query.as_deref());
    let Some(fields) = param(&pairs, "personFields").map(fields_of).filter(|f| !f.is_empty()) else {
        return invalid("personFields mask is required. Please specify one or more valid paths.");
    };
    let resource = format!("people/{id}");
    let d = fake.lock();
    match d.books.get(&user).and_then(|b| b.people.get(&resource)).filter(|p| !p.deleted) {
        Some(p) => json_response(200, p.render(&resource, Some(&fields))),
        None => people_error(404, "NOT_FOUND", "Requested entity was not found.", None),
    }
}

/// `GET /v1/people:batchGet`.
pub(crate) async fn batch_get(
    State(fake): State<GoogleFake>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let user = match contacts_user(&fake, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let pairs = query_pairs(query.as_deref());
    let Some(fields) = param(&pairs, "personFields").map(fields_of).filter(|f| !f.is_empty()) else {
        return invalid("personFields mask is required. Please specify one or more valid paths.");
    };
    let names: Vec<&str> = pairs.iter().filter(|(k, _)| k == "resourceNames").map(|(_, v)| v.as_str()).collect();
    if names.is_empty() {
        return invalid("resourceNames must not be empty.");
    }
    if names.len() > 200 {
        return invalid("Too many resource names in the batch request. The maximum is 200.");
    }
    let d = fake.lock();
    let responses: Vec<Value> = names
        .iter()
        .map(|name| match d.books.get(&user).and_then(|b| b.people.get(*name)).filter(|p| !p.deleted) {
            Some(p) => json!({"httpStatusCode": 200, "requestedResourceName": name,
                              "person": p.render(name, Some(&fields)), "status": {}}),
            None => json!({"httpStatusCode": 404, "requestedResourceName": name,
                           "status": {"code": 5, "message": "Requested entity was not found."}}),
        })
        .collect();
    json_response(200, json!({"responses": responses}))
}
