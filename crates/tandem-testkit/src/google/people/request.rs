//! The checks on a request shared by the handlers: authorization, body, field masks, and the
//! `INVALID_ARGUMENT` answer.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value};

use super::stored::SERVER_OWNED;
use crate::google::{Api, GoogleFake, SCOPE_CONTACTS, authorize, people_error};

pub(super) fn invalid(message: &str) -> Response {
    people_error(400, "INVALID_ARGUMENT", message, None)
}

pub(super) fn fields_of(mask: &str) -> BTreeSet<String> {
    mask.split(',').map(|f| f.trim().trim_start_matches("person.").to_owned()).filter(|f| !f.is_empty()).collect()
}

pub(super) fn contacts_user(fake: &GoogleFake, headers: &HeaderMap) -> Result<String, Response> {
    authorize(fake, headers, Api::People, &[SCOPE_CONTACTS]).map(|g| g.user)
}

pub(super) fn parse_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("Invalid JSON payload received.")),
    }
}

pub(super) fn client_props(person: &Value) -> BTreeMap<String, Value> {
    person
        .as_object()
        .map(|m| {
            m.iter().filter(|(k, _)| !SERVER_OWNED.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
        })
        .unwrap_or_default()
}
