//! [`CannedResponse`]: the fixed, provider-shaped answer a fake sends instead of running its
//! handler.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A fixed response a fake answers with instead of running its handler: a provider-shaped error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// Extra headers, in order. Invalid names or values are skipped (and logged).
    pub headers: Vec<(String, String)>,
    /// The body, sent verbatim.
    pub body: String,
}

impl CannedResponse {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        CannedResponse { status, headers: Vec::new(), body: String::new() }
    }

    /// A JSON body (`application/json`), e.g. Graph's `{"error":{"code":…,"message":…}}` or
    /// Salesforce's `[{"errorCode":…,"message":…}]`.
    pub fn json(status: StatusCode, body: &serde_json::Value) -> Self {
        CannedResponse::new(status).with_header("content-type", "application/json").with_body(body.to_string())
    }

    /// A plain-text body.
    pub fn text(status: StatusCode, body: impl Into<String>) -> Self {
        CannedResponse::new(status).with_header("content-type", "text/plain; charset=utf-8").with_body(body)
    }

    /// An XML body (`text/xml; charset=utf-8`), as EWS sends SOAP faults.
    pub fn xml(status: StatusCode, body: impl Into<String>) -> Self {
        CannedResponse::new(status).with_header("content-type", "text/xml; charset=utf-8").with_body(body)
    }

    /// A plain 429 with a short text body: for tests that do not care about the error shape.
    pub fn too_many_requests() -> Self {
        CannedResponse::text(StatusCode::TOO_MANY_REQUESTS, "throttled by tandem-testkit")
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Replaces the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// This response with a `Retry-After: <seconds>` header, unless it already has one.
    pub(super) fn with_retry_after(&self, secs: Option<u64>) -> CannedResponse {
        let mut r = self.clone();
        if let Some(secs) = secs
            && !r.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
        {
            r.headers.push(("retry-after".to_owned(), secs.to_string()));
        }
        r
    }
}

impl IntoResponse for CannedResponse {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        for (name, value) in &self.headers {
            match (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
                (Ok(n), Ok(v)) => {
                    response.headers_mut().insert(n, v);
                }
                _ => tracing::warn!(%name, %value, "invalid header in canned response; skipped"),
            }
        }
        if !response.headers().contains_key(header::CONTENT_TYPE) {
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        }
        response
    }
}
