//! Contact groups: `GET/POST /v1/contactGroups` and
//! `POST /v1/contactGroups/{id}/members:modify`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use super::request::{contacts_user, invalid, parse_body};
use super::stored::{Book, Group, SYSTEM_GROUPS, person_etag};
use crate::google::{Data, GoogleFake, json_response, people_error, rfc3339};

fn render_group(book: &Book, id: &str, name: &str, system: bool, group: Option<&Group>) -> Value {
    let members: Vec<&String> =
        book.people.iter().filter(|(_, p)| !p.deleted && p.groups.contains(id)).map(|(r, _)| r).collect();
    let mut out = json!({
        "resourceName": format!("contactGroups/{id}"),
        "etag": person_etag(group.map_or(0, |g| g.version)),
        "metadata": {"updateTime": rfc3339(Utc::now())},
        "groupType": if system { "SYSTEM_CONTACT_GROUP" } else { "USER_CONTACT_GROUP" },
        "name": name,
        "formattedName": name,
        "memberCount": members.len(),
    });
    if let Some(cd) = group.and_then(|g| g.client_data.clone()) {
        out["clientData"] = cd;
    }
    out
}

/// `GET /v1/contactGroups`.
pub(crate) async fn list_groups(State(fake): State<GoogleFake>, headers: HeaderMap) -> Response {
    let user = match contacts_user(&fake, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let d = fake.lock();
    let empty = Book::default();
    let book = d.books.get(&user).unwrap_or(&empty);
    let mut groups: Vec<Value> =
        SYSTEM_GROUPS.iter().map(|(id, name)| render_group(book, id, name, true, None)).collect();
    groups.extend(book.groups.iter().map(|(id, g)| render_group(book, id, &g.name, false, Some(g))));
    let total = groups.len();
    json_response(200, json!({"contactGroups": groups, "totalItems": total}))
}

/// `POST /v1/contactGroups`.
pub(crate) async fn create_group(State(fake): State<GoogleFake>, headers: HeaderMap, body: Bytes) -> Response {
    let user = match contacts_user(&fake, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(group) = body.get("contactGroup") else { return invalid("contactGroup is required.") };
    let Some(name) = group.get("name").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty()) else {
        return invalid("contactGroup.name is required.");
    };
    let mut d = fake.lock();
    match create_group_in(&mut d, &user, name, group.get("clientData").cloned()) {
        Ok(id) => {
            let book = d.books.get(&user).cloned().unwrap_or_default();
            let g = book.groups.get(&id);
            json_response(200, render_group(&book, &id, name, false, g))
        }
        Err(r) => r,
    }
}

pub(super) fn create_group_in(
    d: &mut Data,
    user: &str,
    name: &str,
    client_data: Option<Value>,
) -> Result<String, Response> {
    let seq = d.next_seq();
    let book = d.books.entry(user.to_owned()).or_default();
    if book.groups.values().any(|g| g.name == name) || SYSTEM_GROUPS.iter().any(|(_, n)| *n == name) {
        return Err(people_error(409, "ALREADY_EXISTS", "Contact group name already exists.", None));
    }
    let id = format!("{:x}", 0x1000_0000u64 + seq);
    book.groups.insert(id.clone(), Group { name: name.to_owned(), client_data, version: seq });
    Ok(id)
}

/// `POST /v1/contactGroups/{id}/members:modify`.
pub(crate) async fn modify_members(
    State(fake): State<GoogleFake>,
    Path(group): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match contacts_user(&fake, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let list = |k: &str| -> Vec<String> {
        body.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let (add, remove) = (list("resourceNamesToAdd"), list("resourceNamesToRemove"));
    if add.len() + remove.len() > 1000 {
        return invalid("Too many resource names: the maximum is 1000.");
    }
    let mut d = fake.lock();
    let known = d.books.get(&user).is_some_and(|b| b.groups.contains_key(&group))
        || SYSTEM_GROUPS.iter().any(|(id, _)| *id == group);
    if !known {
        return people_error(404, "NOT_FOUND", "Requested entity was not found.", None);
    }
    let mut not_found = Vec::new();
    let mut last = Vec::new();
    for (names, adding) in [(add, true), (remove, false)] {
        for n in names {
            let seq = d.next_seq();
            let Some(p) = d.books.get_mut(&user).and_then(|b| b.people.get_mut(&n)).filter(|p| !p.deleted) else {
                not_found.push(n);
                continue;
            };
            if !adding && p.groups.len() == 1 && p.groups.contains(&group) {
                last.push(n);
                continue;
            }
            let changed = if adding { p.groups.insert(group.clone()) } else { p.groups.remove(&group) };
            if changed {
                p.version = seq;
                p.seq = seq;
                p.updated = Utc::now();
            }
        }
    }
    let mut out = json!({});
    if !not_found.is_empty() {
        out["notFoundResourceNames"] = json!(not_found);
    }
    if !last.is_empty() {
        out["canNotRemoveLastContactGroupResourceNames"] = json!(last);
    }
    json_response(200, out)
}
