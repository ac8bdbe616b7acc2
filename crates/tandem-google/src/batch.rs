//! Calendar's batch endpoint (`POST {root}/batch/calendar/v3`, `multipart/mixed`): many event
//! calls in one HTTP request, each answered in its own part.
//!
//! Each call is a part `Content-Type: application/http` with `Content-ID: <item{n}>` holding an
//! HTTP request (request line with the path and query, `If-Match`, the JSON body); the outer
//! request carries the bearer token, which the inner ones inherit. Google answers 200
//! `multipart/mixed` with one `application/http` part per call, `Content-ID: <response-item{n}>`,
//! each an HTTP status line, headers and JSON body; every inner call counts against quota, so a
//! part can be 403 `rateLimitExceeded` or 429 on its own. Parts are matched to calls by
//! `Content-ID` (Google does not promise their order). The answer's heads are parsed with
//! `httparse` (hyper's parser, already in the tree); the framing is split here.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use tandem_connector::ConnectorError;
use tandem_connector::http::RequestSpec;
use tandem_core::state::Version;
use url::{Position, Url};

use crate::connector::GoogleConnector;
use crate::http::{Context, classify, reasons};

/// Headers read per part and per inner response.
const MAX_HEADERS: usize = 64;

/// One call of a batch.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// `GET`, `POST`, `PATCH` or `DELETE`.
    pub(crate) method: &'static str,
    /// The full URL of the single call (its path and query go in the request line).
    pub(crate) url: Url,
    /// `If-Match`, when set.
    pub(crate) if_match: Option<String>,
    /// The JSON body, when any.
    pub(crate) body: Option<Value>,
}

/// One part of the answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// The inner status.
    pub(crate) status: u16,
    /// The inner `ETag`, when sent.
    pub(crate) etag: Option<String>,
    /// The inner `Retry-After` in seconds, when sent.
    pub(crate) retry_after: Option<Duration>,
    /// The inner body as JSON (`Null` when empty or not JSON).
    pub(crate) body: Value,
}

/// Why a batch answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BatchError {
    /// The answer's `Content-Type` is not `multipart/mixed` with a boundary.
    NotMultipart,
    /// The body does not start with the boundary.
    NoOpeningBoundary,
    /// A part has no following boundary.
    Unterminated,
    /// Part `n` (from 1) is not an HTTP response.
    BadPart(usize),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::NotMultipart => f.write_str("the batch answer is not multipart/mixed with a boundary"),
            BatchError::NoOpeningBoundary => f.write_str("the batch answer does not start with its boundary"),
            BatchError::Unterminated => f.write_str("the batch answer ends without its closing boundary"),
            BatchError::BadPart(n) => write!(f, "part {n} of the batch answer is not an HTTP response"),
        }
    }
}

impl std::error::Error for BatchError {}

impl From<BatchError> for ConnectorError {
    fn from(e: BatchError) -> Self {
        ConnectorError::Transient { message: format!("Calendar batch: {e}") }
    }
}

/// The boundary of a `multipart/mixed` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty()).then(|| v.to_owned())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The parts of a `multipart/mixed` body (CRLF or LF line ends; preamble and epilogue ignored).
pub(crate) fn split_parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, BatchError> {
    let delim = format!("--{boundary}").into_bytes();
    let line_delim = [b"\n".as_slice(), &delim].concat();
    let mut pos =
        if body.starts_with(&delim) { 0 } else { find(body, &line_delim, 0).ok_or(BatchError::NoOpeningBoundary)? + 1 };
    let mut parts = Vec::new();
    loop {
        let after = pos + delim.len();
        if body.get(after..).is_some_and(|rest| rest.starts_with(b"--")) {
            return Ok(parts);
        }
        let start = find(body, b"\n", after).ok_or(BatchError::Unterminated)? + 1;
        if body.get(start..).is_some_and(|rest| rest.starts_with(&delim)) {
            parts.push(body.get(start..start).unwrap_or_default());
            pos = start;
            continue;
        }
        let next = find(body, &line_delim, start).ok_or(BatchError::Unterminated)?;
        let end = if next > start && body.get(next - 1) == Some(&b'\r') { next - 1 } else { next };
        parts.push(body.get(start..end).unwrap_or_default());
        pos = next + 1;
    }
}

/// A boundary that occurs nowhere in `parts`.
fn fresh_boundary(parts: &[Vec<u8>]) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut n = 0u32;
    loop {
        let candidate = format!("tandem_batch_{nanos:x}_{n}");
        if !parts.iter().any(|p| find(p, candidate.as_bytes(), 0).is_some()) {
            return candidate;
        }
        n += 1;
    }
}

/// The `Content-ID` of call `n` (from 0).
fn content_id(n: usize) -> String {
    format!("item{}", n + 1)
}

/// The request body of `calls` and its boundary.
pub(crate) fn encode(calls: &[Call]) -> (Vec<u8>, String) {
    let parts: Vec<Vec<u8>> = calls
        .iter()
        .enumerate()
        .map(|(n, call)| {
            let mut p = Vec::new();
            p.extend_from_slice(b"Content-Type: application/http\r\n");
            p.extend_from_slice(format!("Content-ID: <{}>\r\n\r\n", content_id(n)).as_bytes());
            p.extend_from_slice(
                format!("{} {} HTTP/1.1\r\n", call.method, &call.url[Position::BeforePath..]).as_bytes(),
            );
            if let Some(tag) = &call.if_match {
                p.extend_from_slice(format!("If-Match: {tag}\r\n").as_bytes());
            }
            match &call.body {
                Some(body) => {
                    let json = body.to_string();
                    p.extend_from_slice(b"Content-Type: application/json; charset=UTF-8\r\n");
                    p.extend_from_slice(format!("Content-Length: {}\r\n\r\n", json.len()).as_bytes());
                    p.extend_from_slice(json.as_bytes());
                }
                None => p.extend_from_slice(b"\r\n"),
            }
            p
        })
        .collect();
    let boundary = fresh_boundary(&parts);
    let mut out = Vec::new();
    for p in &parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (out, boundary)
}

fn header_text<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Option<&'a str> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(h.value).ok())
}

/// One answer part: its `Content-ID` (without angle brackets) and the inner response.
fn parse_part(part: &[u8], n: usize) -> Result<(Option<String>, Answer), BatchError> {
    let mut mime = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let (offset, mime) = match httparse::parse_headers(part, &mut mime) {
        Ok(httparse::Status::Complete(done)) => done,
        _ => return Err(BatchError::BadPart(n)),
    };
    let id = header_text(mime, "content-id").map(|v| v.trim().trim_start_matches('<').trim_end_matches('>').to_owned());
    let payload = part.get(offset..).unwrap_or_default();
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let body_at = match resp.parse(payload) {
        Ok(httparse::Status::Complete(at)) => at,
        _ => return Err(BatchError::BadPart(n)),
    };
    let status = resp.code.ok_or(BatchError::BadPart(n))?;
    let mut body = payload.get(body_at..).unwrap_or_default();
    if let Some(len) = header_text(resp.headers, "content-length").and_then(|v| v.trim().parse::<usize>().ok())
        && len <= body.len()
    {
        body = body.get(..len).unwrap_or_default();
    }
    let answer = Answer {
        status,
        etag: header_text(resp.headers, "etag").map(|v| v.trim().to_owned()),
        retry_after: header_text(resp.headers, "retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    };
    Ok((id, answer))
}

/// The answer to `calls` calls, one result per call in order: parts matched by
/// `Content-ID` (`response-item{n}`), a call without a part a `Transient` error.
pub(crate) fn parse_answer(
    content_type: &str,
    body: &[u8],
    calls: usize,
) -> Result<Vec<Result<Answer, ConnectorError>>, BatchError> {
    let boundary = boundary(content_type).ok_or(BatchError::NotMultipart)?;
    let mut out: Vec<Option<Answer>> = vec![None; calls];
    for (n, part) in split_parts(body, &boundary)?.into_iter().enumerate() {
        let (id, answer) = parse_part(part, n + 1)?;
        let index = id
            .as_deref()
            .and_then(|id| id.strip_prefix("response-"))
            .and_then(|id| id.strip_prefix("item"))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1));
        if let Some(slot) = index.and_then(|i| out.get_mut(i)) {
            *slot = Some(answer);
        }
    }
    Ok(out
        .into_iter()
        .enumerate()
        .map(|(n, a)| {
            a.ok_or_else(|| ConnectorError::Transient {
                message: format!("Calendar batch: no answer for call {}", n + 1),
            })
        })
        .collect())
}

impl Answer {
    /// The error a failed part means, in the taxonomy of single calls; `None` for success.
    pub(crate) fn error(&self) -> Option<ConnectorError> {
        let status = self.status;
        if status < 400 {
            return None;
        }
        if let Some(e) = classify(status, &reasons(&self.body), self.retry_after, Context::Item) {
            return Some(e);
        }
        let message = self
            .body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map_or_else(|| format!("Calendar batch part: HTTP {status}"), |m| format!("HTTP {status}: {m}"));
        Some(match status {
            429 => ConnectorError::Throttled { retry_after: self.retry_after },
            503 if self.retry_after.is_some() => ConnectorError::Throttled { retry_after: self.retry_after },
            401 => ConnectorError::Auth { refreshable: true, message },
            403 => ConnectorError::Auth { refreshable: false, message },
            404 | 410 => ConnectorError::NotFound,
            412 => ConnectorError::PreconditionFailed { current: self.etag.as_deref().map(Version::new) },
            s if s >= 500 => ConnectorError::Transient { message },
            s => ConnectorError::Rejected { code: s.to_string(), message },
        })
    }

    /// `Ok(self)`, or the error the part means.
    pub(crate) fn into_result(self) -> Result<Answer, ConnectorError> {
        match self.error() {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }
}

impl GoogleConnector {
    /// Sends `calls` through the batch endpoint in chunks of `batch_size`: one result per call,
    /// in order. A chunk that fails as a whole gives every call in it that error.
    pub(crate) async fn batch(&self, calls: &[Call]) -> Vec<Result<Answer, ConnectorError>> {
        let size = usize::try_from(self.config.batch_size.max(1)).unwrap_or(50);
        let mut out = Vec::with_capacity(calls.len());
        for chunk in calls.chunks(size) {
            match self.batch_chunk(chunk).await {
                Ok(answers) => out.extend(answers),
                Err(e) => out.extend(chunk.iter().map(|_| Err(e.clone()))),
            }
        }
        out
    }

    async fn batch_chunk(&self, calls: &[Call]) -> Result<Vec<Result<Answer, ConnectorError>>, ConnectorError> {
        let url = self.config.batch_endpoint()?;
        let (body, boundary) = encode(calls);
        let content_type = format!("multipart/mixed; boundary={boundary}")
            .as_str()
            .try_into()
            .map_err(|_| ConnectorError::Config { message: "invalid batch boundary".to_owned() })?;
        let req = RequestSpec::post(url).body(body, content_type).template("POST /batch/calendar/v3");
        let response = self.http.call_raw(req, Context::Item).await?;
        let content_type = response.header("content-type").unwrap_or_default();
        Ok(parse_answer(content_type, response.body(), calls.len())?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(method: &'static str, path: &str, if_match: Option<&str>, body: Option<Value>) -> Call {
        Call {
            method,
            url: Url::parse(&format!("https://www.googleapis.com/calendar/v3{path}")).unwrap(),
            if_match: if_match.map(str::to_owned),
            body,
        }
    }

    #[test]
    fn calls_encode_as_http_parts() {
        let calls = [
            call("POST", "/calendars/primary/events?sendUpdates=none", None, Some(json!({"id": "abcde"}))),
            call("DELETE", "/calendars/primary/events/abcde", Some("\"7\""), None),
        ];
        let (body, boundary) = encode(&calls);
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            text.starts_with(&format!("--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item1>\r\n"))
        );
        assert!(text.contains("POST /calendar/v3/calendars/primary/events?sendUpdates=none HTTP/1.1\r\n"));
        assert!(text.contains("Content-Length: 14\r\n\r\n{\"id\":\"abcde\"}\r\n"));
        assert!(text.contains("Content-ID: <item2>\r\n\r\nDELETE /calendar/v3/calendars/primary/events/abcde HTTP/1.1\r\nIf-Match: \"7\"\r\n\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        let parts = split_parts(&body, &boundary).unwrap();
        assert_eq!(parts.len(), 2);
    }

    #[test]
    fn answers_parse_and_match_by_content_id() {
        let body = "--batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item2>\r\n\r\n\
                    HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json\r\n\r\n\
                    {\"error\":{\"errors\":[{\"reason\":\"conditionNotMet\"}],\"code\":412}}\r\n\
                    --batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item1>\r\n\r\n\
                    HTTP/1.1 200 OK\r\nETag: \"5\"\r\nContent-Type: application/json\r\n\r\n{\"etag\":\"\\\"5\\\"\"}\r\n\
                    --batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item3>\r\n\r\n\
                    HTTP/1.1 403 Forbidden\r\n\r\n{\"error\":{\"errors\":[{\"domain\":\"usageLimits\",\"reason\":\"rateLimitExceeded\"}],\"code\":403}}\r\n\
                    --batch_x--\r\n";
        let out = parse_answer("multipart/mixed; boundary=batch_x", body.as_bytes(), 4).unwrap();
        let first = out[0].clone().unwrap();
        assert_eq!((first.status, first.etag.as_deref()), (200, Some("\"5\"")));
        assert_eq!(first.body["etag"], "\"5\"");
        assert_eq!(out[1].clone().unwrap().error(), Some(ConnectorError::PreconditionFailed { current: None }));
        assert_eq!(out[2].clone().unwrap().error(), Some(ConnectorError::Throttled { retry_after: None }));
        assert!(matches!(out[3], Err(ConnectorError::Transient { .. })));
    }

    #[test]
    fn statuses_map_like_single_calls() {
        let a = |status, body: Value| Answer { status, etag: None, retry_after: None, body };
        assert_eq!(a(204, Value::Null).error(), None);
        assert_eq!(a(404, Value::Null).error(), Some(ConnectorError::NotFound));
        assert_eq!(
            a(410, json!({"error": {"errors": [{"reason": "deleted"}]}})).error(),
            Some(ConnectorError::NotFound)
        );
        assert_eq!(a(429, Value::Null).error(), Some(ConnectorError::Throttled { retry_after: None }));
        assert!(matches!(a(503, Value::Null).error(), Some(ConnectorError::Transient { .. })));
        assert!(matches!(a(409, Value::Null).error(), Some(ConnectorError::Rejected { code, .. }) if code == "409"));
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        assert_eq!(parse_answer("application/json", b"{}", 1), Err(BatchError::NotMultipart));
        assert_eq!(parse_answer("multipart/mixed; boundary=b", b"", 1), Err(BatchError::NoOpeningBoundary));
        assert_eq!(
            parse_answer("multipart/mixed; boundary=b", b"--b\r\n\r\nHTTP/1.1 200 OK", 1),
            Err(BatchError::Unterminated)
        );
        assert_eq!(
            parse_answer(
                "multipart/mixed; boundary=b",
                b"--b\r\nContent-ID: <response-item1>\r\n\r\nnot http\r\n--b--",
                1
            ),
            Err(BatchError::BadPart(1))
        );
        let whole =
            b"--b\r\nContent-ID: <response-item1>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{}\r\n--b--\r\n";
        for cut in 0..=whole.len() {
            let _ = parse_answer("multipart/mixed; boundary=\"b\"", &whole[..cut], 1);
        }
        let ok = parse_answer("multipart/mixed; boundary=\"b\"", whole, 1).unwrap();
        assert_eq!(ok[0].clone().unwrap().body, json!({}));
    }
}
