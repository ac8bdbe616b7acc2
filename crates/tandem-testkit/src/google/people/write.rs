//! `POST /v1/people:batchCreateContacts`, `batchUpdateContacts` and `batchDeleteContacts`, and
//! storing a new or deleted contact.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::request::{client_props, contacts_user, fields_of, invalid, parse_body};
use super::stored::{SERVER_OWNED, SYSTEM_GROUPS, StoredPerson, person_etag};
use crate::google::{Data, GoogleFake, json_response, people_error};

pub(super) fn create_in(d: &mut Data, user: &str, props: BTreeMap<String, Value>) -> String {
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

pub(super) fn delete_in(d: &mut Data, user: &str, resource: &str) -> bool {
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
