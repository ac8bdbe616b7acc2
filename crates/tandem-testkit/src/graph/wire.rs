//! HTTP plumbing of the Graph fake: the middleware putting Graph's ids and `Date` on every
//! answer, the media-type check of writes, request parsing (`Authorization`, `Prefer`, `Host`,
//! JSON bodies) and turning a [`Reply`] into a response.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::Value;

use super::data::{ApiError, Reply};
use super::util::{self, Prefer};
#[cfg(doc)]
use crate::server::Controls;

/// Every Graph answer (the [`Controls`]' canned ones included) carries `request-id`,
/// `client-request-id` (the client's when it sent one) and `Date`; an error body's `innerError`
/// names the same ids.
pub(super) async fn graph_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if !request.uri().path().starts_with("/v1.0") {
        return next.run(request).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map_or_else(|| request_id.clone(), str::to_owned);
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = if parts.status.as_u16() >= 400 && json {
        match axum::body::to_bytes(body, 1 << 24).await {
            Ok(bytes) => {
                parts.headers.remove(header::CONTENT_LENGTH);
                axum::body::Body::from(util::with_request_ids(&bytes, &request_id, &client_request_id))
            }
            Err(_) => axum::body::Body::empty(),
        }
    } else {
        body
    };
    for (name, value) in [("request-id", request_id.as_str()), ("client-request-id", client_request_id.as_str())] {
        if let Ok(v) = header::HeaderValue::from_str(value) {
            parts.headers.insert(name, v);
        }
    }
    if !parts.headers.contains_key(header::DATE)
        && let Ok(v) = header::HeaderValue::from_str(&Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string())
    {
        parts.headers.insert(header::DATE, v);
    }
    Response::from_parts(parts, body)
}

/// Graph refuses a write whose body is not JSON: 400 `BadRequest` without a `Content-Type`, 415
/// `RequestBodyRead` with another media type.
pub(super) fn check_content_type(method: &Method, headers: &HeaderMap, body: &Bytes) -> Result<(), Reply> {
    if body.is_empty() || !matches!(*method, Method::POST | Method::PATCH | Method::PUT) {
        return Ok(());
    }
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or_default());
    util::check_json_content_type(content_type).map_err(Reply::from)
}

pub(super) fn to_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(body) => (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response(),
        None => status.into_response(),
    };
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) =
            (header::HeaderName::try_from(name.as_str()), header::HeaderValue::try_from(value.as_str()))
        {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

pub(super) fn origin(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

pub(super) fn prefer(headers: &HeaderMap) -> Prefer {
    Prefer::parse(headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()))
}

pub(super) fn parse_body(body: &Bytes) -> Result<Option<Value>, Reply> {
    if body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|_| Reply::from(ApiError::new(400, "BadRequest", "Unable to read JSON request payload.")))
}
