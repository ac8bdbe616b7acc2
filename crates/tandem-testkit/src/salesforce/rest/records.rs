//! Single records under `…/sobjects/{type}`: create, read by id (and the `deleted`/`updated`
//! replication reads), update, delete, and upsert and read by external id.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{Actor, errors, not_found, one, parse_body};
use crate::salesforce::store::{ApiError, parse_datetime};
use crate::salesforce::{Inner, SalesforceFake};

// --- single records ---------------------------------------------------------------------------

pub(crate) async fn create_one(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path((version, sobject)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let value = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let fields = value.as_object().cloned().unwrap_or_default();
    let result = fake.lock().acting(&version, &actor.0, |org| org.insert(&sobject, &fields, &actor.0, true));
    match result {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id, "success": true, "errors": [] }))).into_response(),
        Err(e) => one(e),
    }
}

pub(crate) async fn get_one(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path((version, sobject, id)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if id == "deleted" || id == "updated" {
        let range = |k: &str| params.get(k).and_then(|v| parse_datetime(v));
        let (Some(start), Some(end)) = (range("start"), range("end")) else {
            return errors(
                StatusCode::BAD_REQUEST,
                &[ApiError::new("MALFORMED_QUERY", "start and end must be ISO 8601 datetimes", &[])],
            );
        };
        let result = fake.lock().acting(&version, &actor.0, |org| {
            if id == "deleted" {
                org.deleted_between(&sobject, start, end)
            } else {
                org.updated_between(&sobject, start, end)
            }
        });
        return match result {
            Ok(v) => Json(v).into_response(),
            Err(e) => one(e),
        };
    }
    let fields: Option<Vec<String>> = params.get("fields").map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    // A record the user cannot see does not exist for the user.
    let record = fake.lock().acting(&version, &actor.0, |org| {
        org.get(&sobject, &id)
            .filter(|r| org.visible(&sobject, r))
            .map(|r| org.project(&sobject, &r, fields.as_deref()))
    });
    match record {
        Some(r) => Json(r).into_response(),
        None => not_found(),
    }
}

pub(crate) async fn update_one(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path((version, sobject, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let value = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let fields = value.as_object().cloned().unwrap_or_default();
    let result = fake.lock().acting(&version, &actor.0, |org| org.update(&sobject, &id, &fields, Some(&actor.0), true));
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) if e.code == "INVALID_CROSS_REFERENCE_KEY" && e.fields.is_empty() => {
            one(ApiError::new("NOT_FOUND", "The requested resource does not exist", &[]))
        }
        Err(e) => one(e),
    }
}

pub(crate) async fn delete_one(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path((version, sobject, id)): Path<(String, String, String)>,
) -> Response {
    let result = fake.lock().acting(&version, &actor.0, |org| org.delete(&sobject, &id, Some(&actor.0)));
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) if e.code == "INVALID_CROSS_REFERENCE_KEY" => {
            one(ApiError::new("NOT_FOUND", "The requested resource does not exist", &[]))
        }
        Err(e) => one(e),
    }
}

/// Creates or updates the record of `sobject` whose `field` is `value`. `Ok((id, created))`.
pub(super) fn upsert(
    inner: &mut Inner,
    sobject: &str,
    field: &str,
    value: &str,
    fields: &Map<String, Value>,
    actor: &str,
) -> Result<(String, bool), ApiError> {
    let matches = inner.org.by_field(sobject, field, value);
    match matches.as_slice() {
        [] => {
            let mut fields = fields.clone();
            fields.insert(field.to_owned(), Value::String(value.to_owned()));
            inner.org.insert(sobject, &fields, actor, true).map(|id| (id, true))
        }
        [id] => {
            let mut fields = fields.clone();
            fields.retain(|k, _| !k.eq_ignore_ascii_case(field));
            inner.org.update(sobject, id, &fields, Some(actor), true).map(|()| (id.clone(), false))
        }
        _ => Err(ApiError::new(
            "DUPLICATE_EXTERNAL_ID",
            format!("{field}: more than one record found for external id field: {matches:?}"),
            &[field],
        )),
    }
}

pub(super) fn external_field(inner: &Inner, sobject: &str, field: &str) -> Result<String, ApiError> {
    let def = inner.org.object(sobject).ok_or_else(|| {
        ApiError::new("NOT_FOUND", format!("The requested resource does not exist (sObject type '{sobject}')"), &[])
    })?;
    match def.field(field) {
        Some(f) if f.external_id || f.name == "Id" => Ok(f.name.clone()),
        _ => Err(ApiError::new(
            "INVALID_FIELD",
            format!("Field name provided, {field} is not an External ID or indexed field for {}", def.name),
            &[],
        )),
    }
}

pub(crate) async fn upsert_one(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path((version, sobject, field, value)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Response {
    let body = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let fields = body.as_object().cloned().unwrap_or_default();
    let mut inner = fake.lock();
    let field = match external_field(&inner, &sobject, &field) {
        Ok(f) => f,
        Err(e) => return errors(StatusCode::BAD_REQUEST, &[e]),
    };
    let matches = inner.org.by_field(&sobject, &field, &value);
    if matches.len() > 1 {
        let urls: Vec<String> =
            matches.iter().map(|id| format!("/services/data/{version}/sobjects/{sobject}/{id}")).collect();
        return (StatusCode::MULTIPLE_CHOICES, Json(json!(urls))).into_response();
    }
    let saved = inner.org.viewer.replace(actor.0.clone());
    let result = upsert(&mut inner, &sobject, &field, &value, &fields, &actor.0);
    inner.org.viewer = saved;
    match result {
        Ok((id, true)) => {
            (StatusCode::CREATED, Json(json!({ "id": id, "success": true, "errors": [], "created": true })))
                .into_response()
        }
        Ok((id, false)) => Json(json!({ "id": id, "success": true, "errors": [], "created": false })).into_response(),
        Err(e) => one(e),
    }
}

/// GET `…/sobjects/{type}/{field}/{value}`: the record whose external id `field` is `value`
/// (`?fields=` as for a read by id), `300` with the records' URLs when several match.
pub(crate) async fn get_by_external_id(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path((version, sobject, field, value)): Path<(String, String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let fields: Option<Vec<String>> = params.get("fields").map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    let mut inner = fake.lock();
    let field = match external_field(&inner, &sobject, &field) {
        Ok(f) => f,
        Err(e) => return errors(StatusCode::BAD_REQUEST, &[e]),
    };
    // Records the user cannot see do not match.
    let matches: Vec<String> = inner
        .org
        .by_field(&sobject, &field, &value)
        .into_iter()
        .filter(|id| inner.org.get(&sobject, id).is_some_and(|r| inner.org.can_see(Some(&actor.0), &sobject, &r)))
        .collect();
    match matches.as_slice() {
        [] => not_found(),
        [id] => {
            let record = inner.acting(&version, &actor.0, |org| {
                org.get(&sobject, id).map(|r| org.project(&sobject, &r, fields.as_deref()))
            });
            match record {
                Some(r) => Json(r).into_response(),
                None => not_found(),
            }
        }
        _ => {
            let urls: Vec<String> =
                matches.iter().map(|id| format!("/services/data/{version}/sobjects/{sobject}/{id}")).collect();
            (StatusCode::MULTIPLE_CHOICES, Json(json!(urls))).into_response()
        }
    }
}
