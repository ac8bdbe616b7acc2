//! sObject collections (`…/composite/sobjects`): create, update and delete up to 200 records in
//! one call, upsert by external id, with `allOrNone` rolling every record back on a failure.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::records::{external_field, upsert};
use super::{Actor, errors, parse_body};
use crate::salesforce::store::ApiError;
use crate::salesforce::{Inner, SalesforceFake};

/// Records per collection request.
const MAX_COLLECTION: usize = 200;

// --- collections ------------------------------------------------------------------------------

struct Batch {
    all_or_none: bool,
    records: Vec<Map<String, Value>>,
}

fn batch(body: &Bytes) -> Result<Batch, Box<Response>> {
    let value = parse_body(body)?;
    let all_or_none = value.get("allOrNone").and_then(Value::as_bool).unwrap_or(false);
    let Some(records) = value.get("records").and_then(Value::as_array) else {
        return Err(Box::new(errors(
            StatusCode::BAD_REQUEST,
            &[ApiError::new("JSON_PARSER_ERROR", "records is required", &[])],
        )));
    };
    if records.len() > MAX_COLLECTION {
        return Err(Box::new(errors(
            StatusCode::BAD_REQUEST,
            &[ApiError::new(
                "EXCEEDED_ID_LIMIT",
                format!("record limit reached. cannot submit more than {MAX_COLLECTION} records into this call"),
                &[],
            )],
        )));
    }
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let Some(m) = r.as_object() else {
            return Err(Box::new(errors(
                StatusCode::BAD_REQUEST,
                &[ApiError::new("JSON_PARSER_ERROR", "a record is not an object", &[])],
            )));
        };
        out.push(m.clone());
    }
    Ok(Batch { all_or_none, records: out })
}

fn type_of(record: &Map<String, Value>) -> Option<String> {
    record.get("attributes").and_then(|a| a.get("type")).and_then(Value::as_str).map(str::to_owned)
}

/// Runs `op` on each record; with `all_or_none`, a failure rolls every record back.
fn run_batch(
    fake: &SalesforceFake,
    actor: &Actor,
    all_or_none: bool,
    count: usize,
    mut op: impl FnMut(&mut Inner, usize) -> Result<(String, Option<bool>), ApiError>,
) -> Response {
    let mut inner = fake.lock();
    let snapshot = all_or_none.then(|| inner.org.clone());
    inner.org.viewer = Some(actor.0.clone());
    let mut results: Vec<Result<(String, Option<bool>), ApiError>> = (0..count).map(|i| op(&mut inner, i)).collect();
    inner.org.viewer = None;
    if let Some(saved) = snapshot
        && results.iter().any(Result::is_err)
    {
        inner.org = saved;
        for r in &mut results {
            if r.is_ok() {
                *r = Err(ApiError::new(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                    &[],
                ));
            }
        }
    }
    let body: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok((id, created)) => {
                let mut v = json!({ "id": id, "success": true, "errors": [] });
                if let (Some(c), Some(m)) = (created, v.as_object_mut()) {
                    m.insert("created".to_owned(), Value::Bool(c));
                }
                v
            }
            Err(e) => json!({ "id": null, "success": false, "errors": [e.to_json("statusCode")] }),
        })
        .collect();
    Json(Value::Array(body)).into_response()
}

pub(crate) async fn collection_create(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Response {
    let b = match batch(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    run_batch(&fake, &actor, b.all_or_none, b.records.len(), |inner, i| {
        let record = &b.records[i];
        let sobject =
            type_of(record).ok_or_else(|| ApiError::new("INVALID_TYPE", "Must send a concrete entity type.", &[]))?;
        inner.org.insert(&sobject, record, &actor.0, true).map(|id| (id, None))
    })
}

pub(crate) async fn collection_update(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Response {
    let b = match batch(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    run_batch(&fake, &actor, b.all_or_none, b.records.len(), |inner, i| {
        let record = &b.records[i];
        let sobject =
            type_of(record).ok_or_else(|| ApiError::new("INVALID_TYPE", "Must send a concrete entity type.", &[]))?;
        let id = record
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("id"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::new("MISSING_ARGUMENT", "Id not specified in an update call", &[]))?;
        inner.org.update(&sobject, &id, record, Some(&actor.0), true).map(|()| (id, None))
    })
}

pub(crate) async fn collection_delete(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let ids: Vec<String> = params
        .get("ids")
        .map(|s| s.split(',').map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()).collect())
        .unwrap_or_default();
    if ids.len() > MAX_COLLECTION {
        return errors(
            StatusCode::BAD_REQUEST,
            &[ApiError::new(
                "EXCEEDED_ID_LIMIT",
                format!("cannot delete more than {MAX_COLLECTION} records in one call"),
                &[],
            )],
        );
    }
    let all_or_none = params.get("allOrNone").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut inner = fake.lock();
    let snapshot = all_or_none.then(|| inner.org.clone());
    inner.org.viewer = Some(actor.0.clone());
    let mut results: Vec<Result<(), ApiError>> = ids
        .iter()
        .map(|id| {
            let object = crate::salesforce::schema::object_of_id(id)
                .ok_or_else(|| ApiError::new("MALFORMED_ID", format!("malformed id {id}"), &[]))?;
            inner.org.delete(object, id, Some(&actor.0))
        })
        .collect();
    inner.org.viewer = None;
    if let Some(saved) = snapshot
        && results.iter().any(Result::is_err)
    {
        inner.org = saved;
        for r in &mut results {
            if r.is_ok() {
                *r = Err(ApiError::new("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back", &[]));
            }
        }
    }
    let body: Vec<Value> = ids
        .iter()
        .zip(results)
        .map(|(id, r)| match r {
            Ok(()) => json!({ "id": id, "success": true, "errors": [] }),
            Err(e) => json!({ "id": id, "success": false, "errors": [e.to_json("statusCode")] }),
        })
        .collect();
    Json(Value::Array(body)).into_response()
}

pub(crate) async fn collection_upsert(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path((_version, sobject, field)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let b = match batch(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let field = match external_field(&fake.lock(), &sobject, &field) {
        Ok(f) => f,
        Err(e) => return errors(StatusCode::BAD_REQUEST, &[e]),
    };
    run_batch(&fake, &actor, b.all_or_none, b.records.len(), |inner, i| {
        let record = &b.records[i];
        if type_of(record).is_none_or(|t| !t.eq_ignore_ascii_case(&sobject)) {
            return Err(ApiError::new("INVALID_TYPE", format!("every record must be of type {sobject}"), &[]));
        }
        let value = record
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&field))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::new("MISSING_ARGUMENT", format!("{field} not specified"), &[&field]))?;
        upsert(inner, &sobject, &field, &value, record, &actor.0).map(|(id, created)| (id, Some(created)))
    })
}
