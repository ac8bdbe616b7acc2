//! The fake's HTTP handlers: OAuth and identity, queries, sObject rows and collections.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::soql;
use super::store::{ApiError, parse_datetime};
use super::{Code, Inner, SalesforceFake};

/// The user a request acts as.
#[derive(Debug, Clone)]
pub(crate) struct Actor(pub(crate) String);

/// Records per collection request.
const MAX_COLLECTION: usize = 200;

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

/// The first API version serving the resource at `path` (`/services/data/vXX.X/…`).
fn introduced_in(path: &str) -> u32 {
    let rest: Vec<&str> = path.split('/').skip(4).collect();
    match rest.as_slice() {
        // sObject collections: v42.0; their upsert by external id: v46.0.
        ["composite", "sobjects", _, _] => 46,
        ["composite", "sobjects", ..] => 42,
        _ => 0,
    }
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

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
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

/// In front of every `/services/data/vXX.X` route: the version, the session, the daily limit.
pub(crate) async fn data_gate(State(fake): State<SalesforceFake>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let version = version_number(path.split('/').nth(3).unwrap_or(""));
    let token = bearer(req.headers());
    let admitted = {
        let mut inner = fake.lock();
        let served = version.is_some_and(|n| {
            n >= inner.config.oldest_api_version && n <= inner.config.newest_api_version && n >= introduced_in(&path)
        });
        let actor = token.and_then(|t| inner.sessions.get(&t).cloned());
        match actor {
            _ if !served => {
                Err((StatusCode::NOT_FOUND, ApiError::new("NOT_FOUND", "The requested resource does not exist", &[])))
            }
            None => {
                Err((StatusCode::UNAUTHORIZED, ApiError::new("INVALID_SESSION_ID", "Session expired or invalid", &[])))
            }
            Some(_) if inner.api_used >= inner.config.daily_limit => Err((
                StatusCode::FORBIDDEN,
                ApiError::new("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", &[]),
            )),
            Some(actor) => {
                inner.api_used += 1;
                Ok(actor)
            }
        }
    };
    match admitted {
        Ok(actor) => {
            req.extensions_mut().insert(Actor(actor));
            next.run(req).await
        }
        Err((status, e)) => errors(status, &[e]),
    }
}

/// In front of the whole fake, for `/services/data`: strips trailing slashes before routing (as
/// Salesforce serves `…/query/` like `…/query`), turns the router's own 404 and 405 into the
/// error array, and puts `Sforce-Limit-Info` (except on the versions resource, which is outside
/// any org) and `Date` on every answer.
pub(crate) async fn conform(State(fake): State<SalesforceFake>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path != "/services/data" && !path.starts_with("/services/data/") {
        return next.run(req).await;
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() != path.len() {
        let target = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = PathAndQuery::try_from(target) {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    let versions = trimmed == "/services/data";
    let method = req.method().clone();
    let mut response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status == StatusCode::NOT_FOUND && !is_json {
        response = not_found();
    } else if status == StatusCode::METHOD_NOT_ALLOWED && !is_json {
        let allow = response.headers().get(header::ALLOW).cloned();
        let allowed = allow.as_ref().and_then(|a| a.to_str().ok()).unwrap_or("").to_owned();
        response = errors(
            StatusCode::METHOD_NOT_ALLOWED,
            &[ApiError::new(
                "METHOD_NOT_ALLOWED",
                format!("HTTP method '{method}' is not allowed for this resource; allowed: {allowed}"),
                &[],
            )],
        );
        if let Some(a) = allow {
            response.headers_mut().insert(header::ALLOW, a);
        }
    }
    let (usage, date) = {
        let inner = fake.lock();
        (format!("api-usage={}/{}", inner.api_used, inner.config.daily_limit), http_date(inner.org.now()))
    };
    let mut set = vec![("date", date)];
    if !versions {
        set.push(("sforce-limit-info", usage));
    }
    for (name, value) in set {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

fn batch_size(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get("sforce-query-options")?.to_str().ok()?;
    value
        .split(',')
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("batchSize")).then(|| v.trim().parse::<usize>().ok()).flatten()
        })
        .map(|n| n.clamp(200, 2000))
}

async fn run_query(
    fake: &SalesforceFake,
    actor: &Actor,
    version: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    all: bool,
) -> Response {
    let Some(q) = params.get("q") else {
        return errors(StatusCode::BAD_REQUEST, &[ApiError::new("MALFORMED_QUERY", "q parameter is required", &[])]);
    };
    let select = match soql::parse(q) {
        Ok(s) => s,
        Err(e) => return errors(StatusCode::BAD_REQUEST, &[e.into()]),
    };
    let result = fake.lock().acting(version, &actor.0, |org| org.query(&select, all, batch_size(headers)));
    match result {
        Ok(page) => Json(page).into_response(),
        Err(e) => errors(StatusCode::BAD_REQUEST, &[e]),
    }
}

pub(crate) async fn query(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path(version): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    run_query(&fake, &actor, &version, &params, &headers, false).await
}

pub(crate) async fn query_all(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path(version): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    run_query(&fake, &actor, &version, &params, &headers, true).await
}

/// The next page of a query; a locator answers only the user whose query it is.
pub(crate) async fn query_more(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    Path((version, locator)): Path<(String, String)>,
) -> Response {
    let result = fake.lock().acting(&version, &actor.0, |org| org.more(&locator, batch_size(&headers)));
    match result {
        Ok(page) => Json(page).into_response(),
        Err(e) => errors(StatusCode::BAD_REQUEST, &[e]),
    }
}

pub(crate) async fn query_all_more(
    state: State<SalesforceFake>,
    actor: Extension<Actor>,
    headers: HeaderMap,
    path: Path<(String, String)>,
) -> Response {
    query_more(state, actor, headers, path).await
}

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
        org.get(&sobject, &id).filter(|r| org.visible(&sobject, r)).map(|r| org.project(&sobject, r, fields.as_deref()))
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
fn upsert(
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

fn external_field(inner: &Inner, sobject: &str, field: &str) -> Result<String, ApiError> {
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
        .filter(|id| inner.org.get(&sobject, id).is_some_and(|r| inner.org.can_see(Some(&actor.0), &sobject, r)))
        .collect();
    match matches.as_slice() {
        [] => not_found(),
        [id] => {
            let record = inner.acting(&version, &actor.0, |org| {
                org.get(&sobject, id).map(|r| org.project(&sobject, r, fields.as_deref()))
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
            let object = super::schema::object_of_id(id)
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

// --- OAuth and identity -----------------------------------------------------------------------

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn issue(inner: &mut Inner, user: &str, base: &str, refresh: Option<String>) -> Value {
    inner.tokens_issued += 1;
    let token = format!("{}!{}", inner.config.org_id, uuid::Uuid::new_v4().simple());
    inner.sessions.insert(token.clone(), user.to_owned());
    inner.issued.push(token.clone());
    let id = format!("{base}/id/{}/{user}", inner.config.org_id);
    let issued_at = inner.org.now().timestamp_millis().to_string();
    let signature = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(format!("{id}{issued_at}")));
    let mut body = json!({
        "access_token": token,
        "signature": signature,
        "scope": "api refresh_token",
        "instance_url": base,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    });
    if let (Some(r), Some(m)) = (refresh, body.as_object_mut()) {
        m.insert("refresh_token".to_owned(), Value::String(r));
    }
    body
}

fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (form.get("client_id").cloned(), form.get("client_secret").cloned()),
    }
}

/// Verifies a JWT bearer assertion; the user's id when it is good.
fn verify_assertion(inner: &Inner, assertion: &str, base: &str) -> Result<String, (&'static str, &'static str)> {
    let invalid = ("invalid_grant", "invalid assertion");
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid)?;
    if header.alg != Algorithm::RS256 {
        return Err(invalid);
    }
    let key = DecodingKey::from_rsa_pem(inner.config.certificate_pem.as_bytes())
        .map_err(|_| ("server_error", "the connected app's certificate cannot be read"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let data = jsonwebtoken::decode::<Value>(assertion, &key, &validation).map_err(|_| invalid)?;
    let claims = data.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(inner.config.consumer_key.as_str()) {
        return Err(("invalid_client_id", "client identifier invalid"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let accepted = |a: &str| {
        let a = a.trim_end_matches('/');
        a == base || inner.config.audiences.iter().any(|x| x.trim_end_matches('/') == a)
    };
    if !audiences.iter().any(|a| accepted(a)) {
        return Err(("invalid_grant", "audience is invalid"));
    }
    let now = inner.org.now().timestamp();
    // `exp` as a number, or as a string of digits: simple-salesforce sends `"exp": "1767225600"`
    // and Salesforce accepts it (the library's JWT login is in wide use against the service).
    let exp = match claims.get("exp") {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        other => other.and_then(Value::as_i64),
    };
    match exp {
        None => return Err(("invalid_grant", "expiration time is missing")),
        Some(exp) if exp <= now => return Err(("invalid_grant", "expired authorization code")),
        Some(exp) if exp > now + 180 + 30 => {
            return Err(("invalid_grant", "the assertion must expire within 3 minutes"));
        }
        Some(_) => {}
    }
    let username = claims.get("sub").or_else(|| claims.get("prn")).and_then(Value::as_str).ok_or(invalid)?;
    SalesforceFake::user_id_of(inner, username).ok_or(("invalid_grant", "user hasn't approved this consumer"))
}

pub(crate) async fn token(State(fake): State<SalesforceFake>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let base = base_url(&headers);
    let mut inner = fake.lock();
    let bad = |e: &str, d: &str| oauth_error(StatusCode::BAD_REQUEST, e, d);
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let Some(assertion) = form.get("assertion") else { return bad("invalid_request", "assertion is required") };
            match verify_assertion(&inner, assertion, &base) {
                Ok(user) => Json(issue(&mut inner, &user, &base, None)).into_response(),
                Err((e, d)) => bad(e, d),
            }
        }
        Some("client_credentials") => {
            let (id, secret) = client_credentials(&headers, &form);
            if id.as_deref() != Some(inner.config.consumer_key.as_str())
                || secret.as_deref() != Some(inner.config.consumer_secret.as_str())
            {
                return bad("invalid_client", "invalid client credentials");
            }
            let run_as = inner.config.run_as.clone();
            match SalesforceFake::user_id_of(&inner, &run_as) {
                Some(user) => Json(issue(&mut inner, &user, &base, None)).into_response(),
                None => bad("invalid_grant", "no client credentials user enabled"),
            }
        }
        Some("authorization_code") => {
            let (client_id, secret) = client_credentials(&headers, &form);
            let Some(code) = form.get("code").and_then(|c| inner.codes.remove(c)) else {
                return bad("invalid_grant", "invalid authorization code");
            };
            if client_id.as_deref() != Some(code.client_id.as_str()) {
                return bad("invalid_client_id", "client identifier invalid");
            }
            if secret.as_deref().is_some_and(|s| s != inner.config.consumer_secret) {
                return bad("invalid_client", "invalid client credentials");
            }
            if form.get("redirect_uri") != Some(&code.redirect_uri) {
                return bad("redirect_uri_mismatch", "redirect_uri must match configuration");
            }
            if let Some(challenge) = &code.challenge {
                let Some(verifier) = form.get("code_verifier") else {
                    return bad("invalid_grant", "code verifier is required");
                };
                let computed =
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if &computed != challenge {
                    return bad("invalid_grant", "invalid code verifier");
                }
            }
            let refresh = format!("5Aep{}", uuid::Uuid::new_v4().simple());
            inner.refresh_tokens.insert(refresh.clone(), (code.user.clone(), code.client_id.clone()));
            Json(issue(&mut inner, &code.user, &base, Some(refresh))).into_response()
        }
        Some("refresh_token") => {
            let (client_id, _) = client_credentials(&headers, &form);
            let Some(refresh) = form.get("refresh_token").cloned() else {
                return bad("invalid_request", "refresh_token is required");
            };
            let Some((user, client)) = inner.refresh_tokens.get(&refresh).cloned() else {
                return bad("invalid_grant", "expired access/refresh token");
            };
            if client_id.as_deref() != Some(client.as_str()) {
                return bad("invalid_client_id", "client identifier invalid");
            }
            let rotated = if inner.config.rotate_refresh_tokens {
                inner.refresh_tokens.remove(&refresh);
                let next = format!("5Aep{}", uuid::Uuid::new_v4().simple());
                inner.refresh_tokens.insert(next.clone(), (user.clone(), client));
                Some(next)
            } else {
                None
            };
            Json(issue(&mut inner, &user, &base, rotated)).into_response()
        }
        _ => bad("unsupported_grant_type", "grant type not supported"),
    }
}

/// The web-server flow's authorization page, approving at once: redirects with a code.
pub(crate) async fn authorize(
    State(fake): State<SalesforceFake>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = fake.lock();
    if params.get("response_type").map(String::as_str) != Some("code") {
        return (StatusCode::BAD_REQUEST, "error=unsupported_response_type").into_response();
    }
    if params.get("client_id") != Some(&inner.config.consumer_key) {
        return (StatusCode::BAD_REQUEST, "error=invalid_client_id").into_response();
    }
    let Some(redirect) = params.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return (StatusCode::BAD_REQUEST, "error=redirect_uri_missing").into_response();
    };
    let challenge = match (params.get("code_challenge"), params.get("code_challenge_method").map(String::as_str)) {
        (Some(c), Some("S256") | None) => Some(c.clone()),
        (Some(_), Some(_)) => return (StatusCode::BAD_REQUEST, "error=invalid_request").into_response(),
        (None, _) => None,
    };
    let user = params
        .get("login_hint")
        .and_then(|u| SalesforceFake::user_id_of(&inner, u))
        .unwrap_or_else(|| inner.default_user.id.clone());
    let code = format!("aPrx{}", uuid::Uuid::new_v4().simple());
    let client_id = inner.config.consumer_key.clone();
    inner.codes.insert(code.clone(), Code { user, client_id, redirect_uri: redirect.to_string(), challenge });
    let mut location = redirect;
    location.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = params.get("state") {
        location.query_pairs_mut().append_pair("state", state);
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location.as_str()) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The identity service.
pub(crate) async fn identity(
    State(fake): State<SalesforceFake>,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
) -> Response {
    let inner = fake.lock();
    let session_user = bearer(&headers).and_then(|t| inner.sessions.get(&t).cloned());
    let Some(session_user) = session_user else {
        return errors(
            StatusCode::UNAUTHORIZED,
            &[ApiError::new("INVALID_SESSION_ID", "Session expired or invalid", &[])],
        );
    };
    if session_user != user || org != inner.config.org_id {
        return (StatusCode::FORBIDDEN, "Bad_Id").into_response();
    }
    let Some(u) = inner.org.get("User", &user) else {
        return (StatusCode::NOT_FOUND, "Bad_Id").into_response();
    };
    let field = |k: &str| u.get(k).cloned().unwrap_or(Value::Null);
    Json(json!({
        "id": format!("{}/id/{org}/{user}", base_url(&headers)),
        "asserted_user": true,
        "user_id": user,
        "organization_id": org,
        "username": field("Username"),
        "nick_name": field("FirstName"),
        "display_name": field("Name"),
        "email": field("Email"),
        "first_name": field("FirstName"),
        "last_name": field("LastName"),
        "timezone": field("TimeZoneSidKey"),
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_GB",
    }))
    .into_response()
}
