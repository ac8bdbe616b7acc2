//! People v1 contacts and contact groups of the authorized user.
//!
//! - `GET /v1/people/me/connections`: `personFields` required (400 `INVALID_ARGUMENT`),
//!   `pageSize` 1..=1000 (default 100), `pageToken`, `requestSyncToken` (the last page carries
//!   `nextSyncToken`), `syncToken` (changes since, deletions as `metadata.deleted: true`; expired
//!   after 7 days or [`super::GoogleFake::expire_sync_tokens`]: `FAILED_PRECONDITION` with
//!   `ErrorInfo` reason `EXPIRED_SYNC_TOKEN`, HTTP 400 or 410 as configured).
//! - `POST /v1/people:batchCreateContacts` (≤ 200, `readMask` required),
//!   `POST /v1/people:batchUpdateContacts` (≤ 200, `updateMask` and `readMask` required, every
//!   person's `etag` must be current or the whole call answers 400 `FAILED_PRECONDITION`),
//!   `POST /v1/people:batchDeleteContacts` (≤ 500). New contacts belong to `myContacts` and to
//!   the existing groups named in their `memberships`.
//! - `GET /v1/people/{id}` (`people.get`, `personFields` required) and
//!   `GET /v1/people:batchGet` (`resourceNames` repeated, 1..=200, `personFields` required; a
//!   missing person is a 404 entry of `responses`, not a failed call).
//! - `GET/POST /v1/contactGroups` (system groups `myContacts` and `starred` plus user groups;
//!   a duplicate name answers 409 `ALREADY_EXISTS`), `POST /v1/contactGroups/{id}/members:modify`.
//! - Client properties are kept as sent (`clientData` included); `resourceName`, `etag`,
//!   `metadata` and `memberships` are the server's (memberships change through groups, or on
//!   create).

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    Api, Data, GoogleFake, SCOPE_CONTACTS, authorize, decode_token, encode_token, json_response, param, people_error,
    query_pairs, rfc3339,
};

/// Sync tokens of People expire this long after they were issued.
pub const SYNC_TOKEN_LIFETIME_DAYS: i64 = 7;

const SERVER_OWNED: &[&str] = &["resourceName", "etag", "metadata", "memberships"];
const SYSTEM_GROUPS: &[(&str, &str)] = &[("myContacts", "My Contacts"), ("starred", "Starred")];

#[derive(Debug, Clone)]
pub(crate) struct StoredPerson {
    props: BTreeMap<String, Value>,
    groups: BTreeSet<String>,
    version: u64,
    seq: u64,
    deleted: bool,
    updated: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    name: String,
    client_data: Option<Value>,
    version: u64,
}

/// A user's contacts and groups.
#[derive(Debug, Clone, Default)]
pub(crate) struct Book {
    people: BTreeMap<String, StoredPerson>,
    groups: BTreeMap<String, Group>,
    next_id: u64,
}

fn person_etag(version: u64) -> String {
    use base64::Engine as _;
    format!("%{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("EgcBAgkLLjc9GgQBAgUHIgx{version}")))
}

impl StoredPerson {
    fn render(&self, resource: &str, fields: Option<&BTreeSet<String>>) -> Value {
        let id = resource.trim_start_matches("people/");
        let etag = person_etag(self.version);
        let source = json!({"type": "CONTACT", "id": id});
        let mut out = Map::new();
        out.insert("resourceName".into(), json!(resource));
        out.insert("etag".into(), json!(etag));
        let mut metadata = json!({
            "sources": [{"type": "CONTACT", "id": id, "etag": etag, "updateTime": rfc3339(self.updated)}],
            "objectType": "PERSON",
        });
        if self.deleted {
            metadata["deleted"] = json!(true);
            out.insert("metadata".into(), metadata);
            return Value::Object(out);
        }
        out.insert("metadata".into(), metadata);
        let wanted = |k: &str| fields.is_none_or(|f| f.contains(k));
        for (k, v) in &self.props {
            if !wanted(k) {
                continue;
            }
            let v = match v {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let mut item = item.clone();
                            if let Value::Object(m) = &mut item {
                                let mut md = json!({"source": source});
                                if i == 0 {
                                    md["primary"] = json!(true);
                                    md["sourcePrimary"] = json!(true);
                                }
                                m.insert("metadata".into(), md);
                            }
                            item
                        })
                        .collect(),
                ),
                other => other.clone(),
            };
            out.insert(k.clone(), v);
        }
        if wanted("memberships") {
            let memberships: Vec<Value> = self
                .groups
                .iter()
                .map(|g| {
                    json!({
                        "metadata": {"source": source},
                        "contactGroupMembership": {"contactGroupId": g, "contactGroupResourceName": format!("contactGroups/{g}")},
                    })
                })
                .collect();
            out.insert("memberships".into(), Value::Array(memberships));
        }
        Value::Object(out)
    }
}

fn invalid(message: &str) -> Response {
    people_error(400, "INVALID_ARGUMENT", message, None)
}

fn fields_of(mask: &str) -> BTreeSet<String> {
    mask.split(',').map(|f| f.trim().trim_start_matches("person.").to_owned()).filter(|f| !f.is_empty()).collect()
}

fn contacts_user(fake: &GoogleFake, headers: &HeaderMap) -> Result<String, Response> {
    authorize(fake, headers, Api::People, &[SCOPE_CONTACTS]).map(|g| g.user)
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("Invalid JSON payload received.")),
    }
}

fn client_props(person: &Value) -> BTreeMap<String, Value> {
    person
        .as_object()
        .map(|m| {
            m.iter().filter(|(k, _)| !SERVER_OWNED.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
        })
        .unwrap_or_default()
}

fn create_in(d: &mut Data, user: &str, props: BTreeMap<String, Value>) -> String {
    let seq = d.next_seq();
    let book = d.books.entry(user.to_owned()).or_default();
    book.next_id += 1;
    let resource = format!("people/c{}", 7_000_000_000_000_000_000u64 + book.next_id);
    let person = StoredPerson {
        props,
        groups: BTreeSet::from(["myContacts".to_owned()]),
        version: seq,
        seq,
        deleted: false,
        updated: Utc::now(),
    };
    book.people.insert(resource.clone(), person);
    resource
}

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

/// `POST /v1/people:batchCreateContacts`.
pub(crate) async fn batch_create(State(fake): State<GoogleFake>, headers: HeaderMap, body: Bytes) -> Response {
    let user = match contacts_user(&fake, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(mask) = body.get("readMask").and_then(Value::as_str).map(fields_of).filter(|f| !f.is_empty()) else {
        return invalid("readMask is required.");
    };
    let contacts = body.get("contacts").and_then(Value::as_array).cloned().unwrap_or_default();
    if contacts.is_empty() {
        return invalid("contacts must not be empty.");
    }
    if contacts.len() > 200 {
        return invalid("Too many contacts in the batch request. The maximum is 200.");
    }
    let mut d = fake.lock();
    let mut created = Vec::new();
    for c in &contacts {
        let person = c.get("contactPerson").unwrap_or(&Value::Null);
        let props = client_props(person);
        let resource = create_in(&mut d, &user, props);
        // Contact group memberships are writable ("Only contact group memberships can be
        // modified"): the new contact joins the named groups that exist.
        let groups: Vec<String> = person
            .get("memberships")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.pointer("/contactGroupMembership/contactGroupResourceName").and_then(Value::as_str))
            .filter_map(|g| g.strip_prefix("contactGroups/"))
            .map(str::to_owned)
            .collect();
        if let Some(book) = d.books.get_mut(&user) {
            let known: Vec<String> = groups
                .into_iter()
                .filter(|g| book.groups.contains_key(g) || SYSTEM_GROUPS.iter().any(|(id, _)| id == g))
                .collect();
            if let Some(p) = book.people.get_mut(&resource) {
                p.groups.extend(known);
            }
        }
        let rendered =
            d.books.get(&user).and_then(|b| b.people.get(&resource)).map(|p| p.render(&resource, Some(&mask)));
        created.push(json!({"httpStatusCode": 200, "person": rendered, "requestedResourceName": resource}));
    }
    json_response(200, json!({"createdPeople": created}))
}

/// `POST /v1/people:batchUpdateContacts`.
pub(crate) async fn batch_update(State(fake): State<GoogleFake>, headers: HeaderMap, body: Bytes) -> Response {
    let user = match contacts_user(&fake, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(update) = body.get("updateMask").and_then(Value::as_str).map(fields_of).filter(|f| !f.is_empty()) else {
        return invalid("updateMask is required.");
    };
    if let Some(bad) = update.iter().find(|f| SERVER_OWNED.contains(&f.as_str())) {
        return invalid(&format!("Invalid updateMask path: {bad}"));
    }
    let Some(read) = body.get("readMask").and_then(Value::as_str).map(fields_of).filter(|f| !f.is_empty()) else {
        return invalid("readMask is required.");
    };
    let contacts = body.get("contacts").and_then(Value::as_object).cloned().unwrap_or_default();
    if contacts.is_empty() {
        return invalid("contacts must not be empty.");
    }
    if contacts.len() > 200 {
        return invalid("Too many contacts in the batch request. The maximum is 200.");
    }
    let mut d = fake.lock();
    // Check every contact first: the call is all or nothing.
    for (resource, person) in &contacts {
        let Some(stored) = d.books.get(&user).and_then(|b| b.people.get(resource)).filter(|p| !p.deleted) else {
            return people_error(404, "NOT_FOUND", &format!("Requested entity was not found: {resource}"), None);
        };
        let sent = person
            .get("etag")
            .and_then(Value::as_str)
            .or_else(|| person.pointer("/metadata/sources/0/etag").and_then(Value::as_str));
        match sent {
            None => return invalid("Request person.etag must be set for update."),
            Some(e) if e != person_etag(stored.version) => {
                return people_error(
                    400,
                    "FAILED_PRECONDITION",
                    "Request person.etag is different than the current person.etag. Clear local cache and get the \
                     latest person.",
                    Some("FAILED_PRECONDITION"),
                );
            }
            Some(_) => {}
        }
    }
    let mut result = Map::new();
    for (resource, person) in &contacts {
        let seq = d.next_seq();
        let Some(stored) = d.books.get_mut(&user).and_then(|b| b.people.get_mut(resource)) else { continue };
        for field in &update {
            match person.get(field) {
                Some(v) => {
                    stored.props.insert(field.clone(), v.clone());
                }
                None => {
                    stored.props.remove(field);
                }
            }
        }
        stored.version = seq;
        stored.seq = seq;
        stored.updated = Utc::now();
        result.insert(resource.clone(), json!({"httpStatusCode": 200, "person": stored.render(resource, Some(&read))}));
    }
    json_response(200, json!({"updateResult": result}))
}

/// `POST /v1/people:batchDeleteContacts`.
pub(crate) async fn batch_delete(State(fake): State<GoogleFake>, headers: HeaderMap, body: Bytes) -> Response {
    let user = match contacts_user(&fake, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let names: Vec<String> = body
        .get("resourceNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return invalid("resourceNames must not be empty.");
    }
    if names.len() > 500 {
        return invalid("Too many resource names in the batch request. The maximum is 500.");
    }
    let mut d = fake.lock();
    for n in &names {
        if d.books.get(&user).is_none_or(|b| b.people.get(n).is_none_or(|p| p.deleted)) {
            return people_error(404, "NOT_FOUND", &format!("Requested entity was not found: {n}"), None);
        }
    }
    for n in &names {
        delete_in(&mut d, &user, n);
    }
    json_response(200, json!({}))
}

fn delete_in(d: &mut Data, user: &str, resource: &str) -> bool {
    let seq = d.next_seq();
    match d.books.get_mut(user).and_then(|b| b.people.get_mut(resource)) {
        Some(p) if !p.deleted => {
            p.deleted = true;
            p.version = seq;
            p.seq = seq;
            p.updated = Utc::now();
            true
        }
        _ => false,
    }
}

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

fn create_group_in(d: &mut Data, user: &str, name: &str, client_data: Option<Value>) -> Result<String, Response> {
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

// --- the handle's side ---------------------------------------------------------------------------

impl GoogleFake {
    /// Creates a contact for `user` as a person would (in `myContacts`); `person` holds Person
    /// properties. Returns the resource name.
    pub fn seed_contact(&self, user: &str, person: Value) -> String {
        let mut d = self.lock();
        create_in(&mut d, &user.to_lowercase(), client_props(&person))
    }

    /// Replaces the given top-level properties of a contact (`null` removes one).
    pub fn edit_contact(&self, user: &str, resource: &str, patch: Value) -> Result<(), String> {
        let patch = patch.as_object().cloned().ok_or("patch must be an object")?;
        let mut d = self.lock();
        let seq = d.next_seq();
        let p = d
            .books
            .get_mut(&user.to_lowercase())
            .and_then(|b| b.people.get_mut(resource))
            .filter(|p| !p.deleted)
            .ok_or_else(|| format!("no contact {resource}"))?;
        let mut props = p.props.clone();
        super::merge(&mut props, &patch);
        p.props = props;
        p.version = seq;
        p.seq = seq;
        p.updated = Utc::now();
        Ok(())
    }

    /// Deletes a contact as a person would.
    pub fn delete_contact(&self, user: &str, resource: &str) -> bool {
        delete_in(&mut self.lock(), &user.to_lowercase(), resource)
    }

    /// A contact as the API renders it with every field, or `None` (also once deleted).
    pub fn contact(&self, user: &str, resource: &str) -> Option<Value> {
        let d = self.lock();
        d.books.get(&user.to_lowercase())?.people.get(resource).filter(|p| !p.deleted).map(|p| p.render(resource, None))
    }

    /// Every live contact of `user`, with every field.
    pub fn contacts(&self, user: &str) -> Vec<Value> {
        let d = self.lock();
        d.books
            .get(&user.to_lowercase())
            .map(|b| b.people.iter().filter(|(_, p)| !p.deleted).map(|(r, p)| p.render(r, None)).collect())
            .unwrap_or_default()
    }

    /// Creates a user contact group; returns its resource name (`contactGroups/…`).
    pub fn seed_contact_group(&self, user: &str, name: &str) -> Result<String, String> {
        let mut d = self.lock();
        create_group_in(&mut d, &user.to_lowercase(), name, None)
            .map(|id| format!("contactGroups/{id}"))
            .map_err(|_| format!("a group named {name} exists"))
    }

    /// The resource names of the live members of group `group_id` (without `contactGroups/`).
    pub fn group_members(&self, user: &str, group_id: &str) -> Vec<String> {
        let d = self.lock();
        d.books
            .get(&user.to_lowercase())
            .map(|b| {
                b.people
                    .iter()
                    .filter(|(_, p)| !p.deleted && p.groups.contains(group_id))
                    .map(|(r, _)| r.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
