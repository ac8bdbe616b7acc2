//! Calendar's batch endpoint: `POST /batch/calendar/v3` with a `multipart/mixed` body.
//!
//! - Each part is `Content-Type: application/http` with an optional `Content-ID: <id>`; its body
//!   is one HTTP request: a request line (`PATCH /calendar/v3/calendars/primary/events/abc
//!   HTTP/1.1`, the target a path or a full URL), headers, a blank line and the JSON body. Line
//!   ends may be CRLF or LF (Google's Python client sends LF).
//! - The outer request needs the bearer token (401 `authError` otherwise); its headers other
//!   than `Content-*` apply to every inner request, an inner header of the same name wins.
//! - Each inner request is dispatched in-process (`tower::ServiceExt::oneshot`) to the same
//!   Calendar handlers the single-call routes use, in order; so each counts against quota on its
//!   own ([`super::GoogleFake::quota_error_next`] fails single parts) while the outer call does
//!   not. The [`crate::server::Controls`] count the batch call once as
//!   `POST /batch/calendar/v3`; their rules (failures, latency) apply to it, not to the parts.
//! - The answer is 200 `multipart/mixed; boundary=batch_…`, one part per call in order:
//!   `Content-Type: application/http`, `Content-ID: <response-{id}>`, then `HTTP/1.1 {status}
//!   {reason}`, the inner response's headers and body.
//! - Refused: a body that is not `multipart/mixed` with a boundary or cannot be split (400
//!   `badRequest` for the whole call), no parts or more than 1000 (400), and, per part, a part
//!   that is not an HTTP request (400 `parseError`), a nested batch (400 `badRequest`), a People
//!   call (400 `badRequest`: People has no batch endpoint of this kind) or any other path outside
//!   `/calendar/v3/` (404 `notFound`).
//!
//! Inner request heads are parsed with `httparse` (hyper's own parser, already in the tree); the
//! `multipart/mixed` framing is split by hand (it is a few lines of RFC 2046, and the multipart
//! crates are made for `multipart/form-data` uploads).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use tower::ServiceExt as _;

use super::{GoogleFake, calendar, calendar_error, random_token};

/// Google's limit of calls in one Calendar batch.
pub(crate) const MAX_CALLS: usize = 1000;
/// Headers read per part and per inner request.
const MAX_HEADERS: usize = 64;
/// The largest inner response body read back.
const MAX_INNER_BODY: usize = 16 * 1024 * 1024;

/// Why a batch body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BatchError {
    /// The `Content-Type` is not `multipart/mixed` with a boundary.
    #[error("the Content-Type must be multipart/mixed with a boundary")]
    NotMultipart,
    /// The body does not start with the boundary.
    #[error("the body does not start with the multipart boundary")]
    NoOpeningBoundary,
    /// A part has no following boundary (the body was cut).
    #[error("the multipart body ends without its closing boundary")]
    Unterminated,
}

/// Why one part is not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PartError {
    /// The part's MIME headers are malformed.
    #[error("malformed part headers")]
    Headers,
    /// The part's `Content-Type` is not `application/http`.
    #[error("the part's Content-Type must be application/http")]
    NotHttp,
    /// The inner request line or headers are malformed.
    #[error("malformed HTTP request in the part")]
    Request,
}

/// One inner request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InnerRequest {
    /// The part's `Content-ID` without angle brackets.
    pub(crate) content_id: Option<String>,
    /// The method.
    pub(crate) method: String,
    /// The request target as written (a path or a full URL).
    pub(crate) target: String,
    /// The inner headers.
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub(crate) body: Vec<u8>,
}

/// One part: its `Content-ID` (when readable) and the request, or why it is none.
pub(crate) type Part = (Option<String>, Result<InnerRequest, PartError>);

/// The boundary of a `multipart/mixed` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 200).then(|| v.to_owned())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The parts of a `multipart/mixed` body (RFC 2046 framing; CRLF or LF line ends). A preamble
/// before the first boundary and an epilogue after the last are ignored.
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

fn header_text<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Option<&'a str> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(h.value).ok())
}

/// A part: MIME headers, a blank line, then an HTTP request.
pub(crate) fn parse_part(part: &[u8]) -> Part {
    let mut mime = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let (offset, mime) = match httparse::parse_headers(part, &mut mime) {
        Ok(httparse::Status::Complete((offset, headers))) => (offset, headers),
        _ => return (None, Err(PartError::Headers)),
    };
    let content_id =
        header_text(mime, "content-id").map(|v| v.trim().trim_start_matches('<').trim_end_matches('>').to_owned());
    let is_http = header_text(mime, "content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/http"));
    if !is_http {
        return (content_id, Err(PartError::NotHttp));
    }
    let payload = part.get(offset..).unwrap_or_default();
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let body_at = match req.parse(payload) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return (content_id, Err(PartError::Request)),
    };
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return (content_id, Err(PartError::Request));
    };
    let mut body = payload.get(body_at..).unwrap_or_default();
    if let Some(len) = header_text(req.headers, "content-length").and_then(|v| v.trim().parse::<usize>().ok())
        && len <= body.len()
    {
        body = body.get(..len).unwrap_or_default();
    }
    let inner = InnerRequest {
        content_id: content_id.clone(),
        method: method.to_owned(),
        target: target.to_owned(),
        headers: req.headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect(),
        body: body.to_vec(),
    };
    (content_id, Ok(inner))
}

/// The Calendar routes the parts are dispatched to: the same handlers as the single calls,
/// without the [`crate::server::Controls`] in front.
fn calendar_router(fake: GoogleFake) -> Router {
    Router::new()
        .route("/calendar/v3/calendars/{calendar_id}/events", get(calendar::list).post(calendar::insert))
        .route(
            "/calendar/v3/calendars/{calendar_id}/events/{event_id}",
            get(calendar::get_event).put(calendar::put).patch(calendar::patch).delete(calendar::delete),
        )
        .with_state(fake)
}

/// The outer bearer token is valid (without using up an injected quota error: only the inner
/// calls count against quota).
fn authenticated(fake: &GoogleFake, headers: &HeaderMap) -> bool {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let d = fake.lock();
    token.and_then(|t| d.tokens.get(t)).is_some_and(|g| g.expires > Utc::now())
}

fn bad_request(message: &str) -> Response {
    calendar_error(400, "global", "badRequest", message, None)
}

/// The path and query of a request target (a path or a full URL).
fn path_and_query(target: &str) -> Option<String> {
    if target.starts_with('/') {
        return Some(target.to_owned());
    }
    let url = url::Url::parse(target).ok()?;
    Some(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    })
}

/// Dispatches one inner request to the Calendar handlers.
async fn dispatch(fake: &GoogleFake, outer: &HeaderMap, inner: InnerRequest) -> Response {
    let Some(target) = path_and_query(&inner.target) else {
        return calendar_error(400, "global", "parseError", "Invalid request target in batch part.", None);
    };
    let path = target.split('?').next().unwrap_or_default();
    if path.starts_with("/batch") {
        return bad_request("Nested batch requests are not allowed.");
    }
    if path.starts_with("/v1/") || path.starts_with("/people/") {
        return bad_request(
            "This batch endpoint serves the Calendar API only; People v1 has no batch endpoint of this kind.",
        );
    }
    if !path.starts_with("/calendar/v3/") {
        return calendar_error(404, "global", "notFound", "Not Found", None);
    }
    let Ok(method) = Method::from_bytes(inner.method.as_bytes()) else {
        return calendar_error(400, "global", "parseError", "Invalid method in batch part.", None);
    };
    let mut builder = Request::builder().method(method).uri(target);
    let mut headers = HeaderMap::new();
    for (name, value) in outer {
        let n = name.as_str();
        if !n.starts_with("content-") && n != "host" && n != "transfer-encoding" {
            headers.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &inner.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
            headers.insert(n, v);
        }
    }
    if let Some(h) = builder.headers_mut() {
        *h = headers;
    }
    let Ok(request) = builder.body(Body::from(inner.body)) else {
        return calendar_error(400, "global", "parseError", "Invalid request in batch part.", None);
    };
    match calendar_router(fake.clone()).oneshot(request).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// One answer part.
async fn encode_answer(out: &mut Vec<u8>, boundary: &str, response_id: &str, resp: Response) {
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, MAX_INNER_BODY).await.unwrap_or_default();
    let status = parts.status;
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(b"Content-Type: application/http\r\n");
    out.extend_from_slice(format!("Content-ID: <{response_id}>\r\n\r\n").as_bytes());
    out.extend_from_slice(
        format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("Unknown")).as_bytes(),
    );
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\r\n");
}

/// `POST /batch/calendar/v3`.
pub(crate) async fn calendar(State(fake): State<GoogleFake>, headers: HeaderMap, body: Bytes) -> Response {
    if !authenticated(&fake, &headers) {
        return calendar_error(401, "global", "authError", "Invalid Credentials", Some(("header", "Authorization")));
    }
    let Some(boundary) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(self::boundary)
    else {
        return bad_request(&BatchError::NotMultipart.to_string());
    };
    let parts = match split_parts(&body, &boundary) {
        Ok(p) => p,
        Err(e) => return bad_request(&e.to_string()),
    };
    if parts.is_empty() {
        return bad_request("The batch request contains no requests.");
    }
    if parts.len() > MAX_CALLS {
        return bad_request(&format!("Too many requests in batch: {} (at most {MAX_CALLS}).", parts.len()));
    }
    let answer_boundary = format!("batch_{}", random_token());
    let mut out = Vec::new();
    for (n, part) in parts.into_iter().enumerate() {
        let (content_id, request) = parse_part(part);
        let response_id = format!("response-{}", content_id.unwrap_or_else(|| format!("item{}", n + 1)));
        let resp = match request {
            Ok(inner) => dispatch(&fake, &headers, inner).await,
            Err(e) => calendar_error(400, "global", "parseError", &e.to_string(), None),
        };
        encode_answer(&mut out, &answer_boundary, &response_id, resp).await;
    }
    out.extend_from_slice(format!("--{answer_boundary}--\r\n").as_bytes());
    let mut resp = (StatusCode::OK, out).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("multipart/mixed; boundary={answer_boundary}")) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn boundaries_are_read_quoted_or_not() {
        assert_eq!(boundary("multipart/mixed; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(boundary("Multipart/Mixed; charset=x; boundary=\"==a b==\"").as_deref(), Some("==a b=="));
        assert_eq!(boundary("multipart/form-data; boundary=abc"), None);
        assert_eq!(boundary("multipart/mixed"), None);
        assert_eq!(boundary("multipart/mixed; boundary=\"\""), None);
    }

    #[test]
    fn parts_split_with_crlf_or_lf() {
        let crlf = b"pre\r\n--b\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\nepilogue";
        assert_eq!(split_parts(crlf, "b").unwrap(), vec![&b"A: 1\r\n\r\none"[..], &b"\r\ntwo"[..]]);
        let lf = b"--b\nA: 1\n\none\n--b\n\ntwo\n--b--\n";
        assert_eq!(split_parts(lf, "b").unwrap(), vec![&b"A: 1\n\none"[..], &b"\ntwo"[..]]);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        assert_eq!(split_parts(b"", "b"), Err(BatchError::NoOpeningBoundary));
        assert_eq!(split_parts(b"--b", "b"), Err(BatchError::Unterminated));
        assert_eq!(split_parts(b"--b\r\nA: 1\r\n\r\nno end", "b"), Err(BatchError::Unterminated));
        assert_eq!(split_parts(b"--b--", "b"), Ok(vec![]));
        assert_eq!(parse_part(b"garbage without headers").1, Err(PartError::Headers));
        assert_eq!(parse_part(b"Content-Type: text/plain\r\n\r\nGET / HTTP/1.1\r\n\r\n").1, Err(PartError::NotHttp));
        assert_eq!(parse_part(b"Content-Type: application/http\r\n\r\nnot a request").1, Err(PartError::Request));
        for cut in 0..40 {
            let whole = b"--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\n\r\n\r\n--b--";
            if let Ok(parts) = split_parts(&whole[..cut], "b") {
                for p in parts {
                    let _ = parse_part(p);
                }
            }
        }
    }

    #[test]
    fn a_part_reads_as_a_request() {
        let part = b"Content-Type: application/http\nContent-ID: <abc+1>\n\nPATCH https://www.googleapis.com/calendar/v3/calendars/primary/events/e1?sendUpdates=none HTTP/1.1\nIf-Match: \"1\"\nContent-Type: application/json\ncontent-length: 2\n\n{}";
        let (id, req) = parse_part(part);
        assert_eq!(id.as_deref(), Some("abc+1"));
        let req = req.unwrap();
        assert_eq!(req.method, "PATCH");
        assert_eq!(req.body, b"{}");
        assert_eq!(
            path_and_query(&req.target).as_deref(),
            Some("/calendar/v3/calendars/primary/events/e1?sendUpdates=none")
        );
        assert!(req.headers.iter().any(|(n, v)| n == "If-Match" && v == b"\"1\""));
    }
}
