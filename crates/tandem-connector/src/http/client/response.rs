//! [`Response`], a response read to the end, and the standard mapping of its error status
//! onto the [`ConnectorError`] taxonomy.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde::de::DeserializeOwned;
use tandem_core::state::Version;

use super::redact::{Redactor, excerpt, json_error_kind};
use crate::error::ConnectorError;
use crate::http::retry::parse_retry_after;

/// How many characters of a response body an error message quotes.
pub const BODY_EXCERPT_CHARS: usize = 500;

/// A response read to the end: status, headers and body.
#[derive(Clone)]
pub struct Response {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
    pub(super) request: String,
    pub(super) redactor: Redactor,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, taken.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Transient`] naming the request and the position of the syntax error
    /// (never quoting the body).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| ConnectorError::Transient {
            message: format!(
                "{}: unexpected response body ({} at line {} column {})",
                self.request,
                json_error_kind(&e),
                e.line(),
                e.column()
            ),
        })
    }

    /// The `Retry-After` delay, when the header is present and valid.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header(header::RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(v, chrono::Utc::now()))
    }

    /// `METHOD host/path` of the request that produced this response.
    pub fn request(&self) -> &str {
        &self.request
    }

    /// The body as text, scrubbed of the request's secrets and cut to `max_chars`.
    pub fn body_excerpt(&self, max_chars: usize) -> String {
        excerpt(&self.redactor.redact(&self.text()), max_chars)
    }

    /// The standard mapping of an error status onto the taxonomy; `None` for 1xx, 2xx and 3xx.
    ///
    /// 429 → `Throttled` (with `Retry-After`), 401 → `Auth { refreshable: true }`,
    /// 403 → `Auth { refreshable: false }`, 404 and 410 → `NotFound`, 412 →
    /// `PreconditionFailed` (with the `ETag`, when sent), 503 with `Retry-After` → `Throttled`,
    /// other 5xx → `Transient`, other 4xx → `Rejected { code: "<status>", message }` with a body
    /// excerpt of at most [`BODY_EXCERPT_CHARS`] characters.
    pub fn error(&self) -> Option<ConnectorError> {
        let status = self.status;
        if !(status.is_client_error() || status.is_server_error()) {
            return None;
        }
        let reason = || format!("{}: HTTP {status}", self.request);
        let error = match status {
            StatusCode::TOO_MANY_REQUESTS => ConnectorError::Throttled { retry_after: self.retry_after() },
            StatusCode::SERVICE_UNAVAILABLE if self.retry_after().is_some() => {
                ConnectorError::Throttled { retry_after: self.retry_after() }
            }
            StatusCode::UNAUTHORIZED => ConnectorError::Auth { refreshable: true, message: self.quote(reason()) },
            StatusCode::FORBIDDEN => ConnectorError::Auth { refreshable: false, message: self.quote(reason()) },
            StatusCode::NOT_FOUND | StatusCode::GONE => ConnectorError::NotFound,
            StatusCode::PRECONDITION_FAILED => {
                ConnectorError::PreconditionFailed { current: self.header(header::ETAG.as_str()).map(Version::new) }
            }
            s if s.is_server_error() => ConnectorError::Transient { message: self.quote(reason()) },
            s => ConnectorError::Rejected { code: s.as_u16().to_string(), message: self.quote(reason()) },
        };
        Some(error)
    }

    /// `Ok(self)` unless [`error`](Self::error) maps the status to an error.
    ///
    /// # Errors
    ///
    /// The mapped error.
    pub fn error_for_status(self) -> Result<Self, ConnectorError> {
        match self.error() {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }

    fn quote(&self, prefix: String) -> String {
        let body = self.body_excerpt(BODY_EXCERPT_CHARS);
        if body.is_empty() { prefix } else { format!("{prefix}: {body}") }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("request", &self.request)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}
