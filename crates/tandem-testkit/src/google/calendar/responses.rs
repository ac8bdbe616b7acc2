//! The responses the handlers share: Calendar's errors and a JSON answer with an `ETag`.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::Value;

use crate::google::{calendar_error, json_response};

pub(super) fn bad_request(message: &str) -> Response {
    calendar_error(400, "global", "badRequest", message, None)
}

pub(super) fn invalid_param(name: &str, message: &str) -> Response {
    calendar_error(400, "global", "invalid", message, Some(("parameter", name)))
}

pub(super) fn not_found() -> Response {
    calendar_error(404, "global", "notFound", "Not Found", None)
}

pub(super) fn with_etag(status: u16, body: Value, etag: &str) -> Response {
    let mut resp = json_response(status, body);
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

pub(super) fn precondition_failed() -> Response {
    calendar_error(412, "global", "conditionNotMet", "Precondition Failed", Some(("header", "If-Match")))
}
