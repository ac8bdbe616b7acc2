//! What Graph answers and what a `$batch` carries: [`Answer`] (a plain response or one batch
//! item's, with Graph's error codes mapped onto the connector taxonomy), [`Item`] (one request of
//! a batch) and their JSON batching wire format, shared by a connector's own batches and the
//! cross-mailbox coalescer ([`crate::SharedBatcher`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tandem_connector::ConnectorError;
use tandem_connector::http::{Response, parse_retry_after};
use tandem_core::state::Version;

use crate::http::prefer;

/// One answer: a plain response or a batch item's.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// Header names lower-cased.
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        self.headers.get("retry-after").and_then(|v| parse_retry_after(v, chrono::Utc::now()))
    }

    /// Graph's error code (`error.code`), if the body has one.
    pub(crate) fn code(&self) -> &str {
        self.body.get("error").and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or_default()
    }

    fn message(&self) -> String {
        let m = self.body.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or_default();
        m.chars().take(300).collect()
    }

    /// The item's `@odata.etag`, as a version.
    pub(crate) fn etag(&self) -> Version {
        Version::new(
            self.body
                .get("@odata.etag")
                .and_then(Value::as_str)
                .or_else(|| self.headers.get("etag").map(String::as_str))
                .unwrap_or_default(),
        )
    }

    /// The item's `id`.
    pub(crate) fn id(&self) -> Option<&str> {
        self.body.get("id").and_then(Value::as_str)
    }

    /// The error this answer stands for, `None` for success.
    pub(crate) fn error(&self) -> Option<ConnectorError> {
        if self.ok() {
            return None;
        }
        let code = self.code().to_owned();
        let describe = || {
            let message = self.message();
            if code.is_empty() { format!("HTTP {}: {message}", self.status) } else { format!("{code}: {message}") }
        };
        Some(match self.status {
            429 => ConnectorError::Throttled { retry_after: self.retry_after() },
            503 | 504 if self.retry_after().is_some() => ConnectorError::Throttled { retry_after: self.retry_after() },
            401 => ConnectorError::Auth { refreshable: true, message: describe() },
            403 if code.to_ascii_lowercase().contains("throttl") => {
                ConnectorError::Throttled { retry_after: self.retry_after() }
            }
            403 => ConnectorError::Auth { refreshable: false, message: describe() },
            404 | 410 => ConnectorError::NotFound,
            412 => ConnectorError::PreconditionFailed { current: None },
            424 => ConnectorError::Transient { message: "a batch dependency failed".to_owned() },
            s if s >= 500 => ConnectorError::Transient { message: describe() },
            s => ConnectorError::Rejected {
                code: if code.is_empty() { s.to_string() } else { code.clone() },
                message: self.message(),
            },
        })
    }

    /// The error of a delta request: an expired or unknown sync state is
    /// [`ConnectorError::CursorExpired`].
    pub(crate) fn delta_error(&self) -> Option<ConnectorError> {
        let code = self.code().to_ascii_lowercase();
        let expired = self.status == 410
            || (matches!(self.status, 400 | 404)
                && ["syncstatenotfound", "resyncrequired", "syncstateinvalid", "invaliddeltatoken"]
                    .iter()
                    .any(|c| code.contains(c)));
        if expired { Some(ConnectorError::CursorExpired) } else { self.error() }
    }

    pub(crate) fn from_response(r: &Response) -> Answer {
        let headers = r
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned())))
            .collect();
        let body =
            if r.body().is_empty() { Value::Null } else { serde_json::from_slice(r.body()).unwrap_or(Value::Null) };
        Answer { status: r.status().as_u16(), headers, body }
    }
}

/// One request of a batch.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) method: &'static str,
    /// Relative to the Graph base: `/users/{id}/events`.
    pub(crate) url: String,
    pub(crate) body: Option<Value>,
    pub(crate) if_match: Option<String>,
    /// `Prefer: odata.maxpagesize` (delta pages).
    pub(crate) page_size: Option<usize>,
}

impl Item {
    pub(crate) fn get(url: String) -> Self {
        Item { method: "GET", url, body: None, if_match: None, page_size: None }
    }

    pub(crate) fn post(url: String, body: serde_json::Map<String, Value>) -> Self {
        Item { method: "POST", url, body: Some(Value::Object(body)), if_match: None, page_size: None }
    }

    /// A PATCH, conditional on `etag` when one is given.
    pub(crate) fn patch(url: String, body: serde_json::Map<String, Value>, etag: Option<String>) -> Self {
        Item { method: "PATCH", url, body: Some(Value::Object(body)), if_match: etag, page_size: None }
    }

    /// A DELETE, conditional on `etag` when one is given.
    pub(crate) fn delete(url: String, etag: Option<String>) -> Self {
        Item { method: "DELETE", url, body: None, if_match: etag, page_size: None }
    }
}

impl Item {
    /// The item as a `$batch` request, without its `id` (the sender numbers the requests of each
    /// batch it sends): method, relative URL, the `Prefer` header every request carries, the
    /// item's `If-Match`, and the body with its `Content-Type`.
    pub(crate) fn request(&self) -> Map<String, Value> {
        let mut headers = Map::new();
        headers.insert("Prefer".into(), json!(prefer(self.page_size)));
        if let Some(tag) = self.if_match.as_deref().filter(|t| !t.is_empty()) {
            headers.insert("If-Match".into(), json!(tag));
        }
        let mut r = Map::new();
        r.insert("method".into(), json!(self.method));
        r.insert("url".into(), json!(self.url));
        if let Some(body) = &self.body {
            headers.insert("Content-Type".into(), json!("application/json"));
            r.insert("body".into(), body.clone());
        }
        r.insert("headers".into(), Value::Object(headers));
        r
    }
}

/// The body of a `$batch`: `requests`, each numbered by its position (`"0"`, `"1"`, …).
pub(crate) fn batch_body(requests: impl IntoIterator<Item = Map<String, Value>>) -> Value {
    let requests: Vec<Value> = requests
        .into_iter()
        .enumerate()
        .map(|(n, mut r)| {
            r.insert("id".into(), json!(n.to_string()));
            Value::Object(r)
        })
        .collect();
    json!({ "requests": requests })
}

/// The answers of a `200` `$batch` response, keyed by the position in the request (the `id`
/// [`batch_body`] gave); answers with an id that is not a position are ignored.
pub(crate) fn batch_answers(body: &Value) -> HashMap<usize, Answer> {
    let mut out = HashMap::new();
    for r in body.get("responses").and_then(Value::as_array).into_iter().flatten() {
        let Some(index) = r.get("id").and_then(Value::as_str).and_then(|id| id.parse::<usize>().ok()) else {
            continue;
        };
        let status = r.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
        let headers = r
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect()
            })
            .unwrap_or_default();
        out.insert(index, Answer { status, headers, body: r.get("body").cloned().unwrap_or(Value::Null) });
    }
    out
}
