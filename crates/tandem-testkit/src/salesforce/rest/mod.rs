//! The fake's HTTP handlers: OAuth and identity, queries, sObject rows and collections.
//!
//! Code map:
//! - `mod.rs`: the acting user ([`Actor`]) and what every handler shares: Salesforce's error
//!   array, `404 NOT_FOUND`, API version numbers, the session token, JSON bodies.
//! - `gate.rs`: the middleware: the version, session and daily-limit gate in front of
//!   `/services/data/vXX.X`, and the conformance layer (trailing slashes, 404/405 as error
//!   arrays, `Sforce-Limit-Info`, `Date`).
//! - `queries.rs`: `query` and `queryAll`, their next pages, `Sforce-Query-Options`.
//! - `records.rs`: single records: create, read (with `deleted`/`updated`), update, delete,
//!   upsert and read by external id.
//! - `collections.rs`: sObject collections: create, update, delete and upsert, `allOrNone`.
//! - `oauth.rs`: the token endpoint (JWT bearer, client credentials, authorization code,
//!   refresh token), the authorize page and the identity service.

mod collections;
mod gate;
mod oauth;
mod queries;
mod records;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub(crate) use self::collections::{collection_create, collection_delete, collection_update, collection_upsert};
pub(crate) use self::gate::{conform, data_gate};
pub(crate) use self::oauth::{authorize, identity, token};
pub(crate) use self::queries::{query, query_all, query_all_more, query_more};
pub(crate) use self::records::{create_one, delete_one, get_by_external_id, get_one, update_one, upsert_one};
use crate::salesforce::store::ApiError;

/// The user a request acts as.
#[derive(Debug, Clone)]
pub(crate) struct Actor(pub(crate) String);

/// Codes of errors about the request as a whole: Salesforce sends them without `fields`.
const REQUEST_ERRORS: [&str; 10] = [
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "INVALID_SESSION_ID",
    "REQUEST_LIMIT_EXCEEDED",
    "MALFORMED_QUERY",
    "INVALID_QUERY_LOCATOR",
    "JSON_PARSER_ERROR",
    "INVALID_FIELD",
    "INVALID_TYPE",
    "EXCEEDED_ID_LIMIT",
];

/// Salesforce's error array; `fields` only on errors about records.
pub(crate) fn errors(status: StatusCode, errs: &[ApiError]) -> Response {
    let body: Vec<Value> = errs
        .iter()
        .map(|e| {
            let mut v = e.to_json("errorCode");
            if e.fields.is_empty()
                && REQUEST_ERRORS.contains(&e.code.as_str())
                && let Some(m) = v.as_object_mut()
            {
                m.remove("fields");
            }
            v
        })
        .collect();
    (status, Json(Value::Array(body))).into_response()
}

/// `404 NOT_FOUND`, as Salesforce answers for a path, version or object it does not serve.
pub(crate) fn not_found() -> Response {
    errors(StatusCode::NOT_FOUND, &[ApiError::new("NOT_FOUND", "The requested resource does not exist", &[])])
}

/// The major number of an API version segment: `v62.0` is 62; anything else (`v62.5`, `62.0`,
/// `v062.0`) is `None`.
pub(crate) fn version_number(segment: &str) -> Option<u32> {
    let n = segment.strip_prefix('v')?.strip_suffix(".0")?;
    if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

fn status_of(e: &ApiError) -> StatusCode {
    match e.code.as_str() {
        "NOT_FOUND" | "ENTITY_IS_DELETED" => StatusCode::NOT_FOUND,
        "REQUEST_LIMIT_EXCEEDED" => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn one(e: ApiError) -> Response {
    errors(status_of(&e), &[e])
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth")).then(|| token.trim().to_owned())
}

fn parse_body(body: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(errors(
            StatusCode::BAD_REQUEST,
            &[ApiError::new("JSON_PARSER_ERROR", format!("Unexpected JSON: {e}"), &[])],
        ))
    })
}
