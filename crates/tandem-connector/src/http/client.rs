//! The shared HTTP client: endpoint checks, rate limits, retries and error mapping.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, redirect};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tandem_core::state::Version;
use url::Url;

use super::endpoint::check_endpoint;
use super::oauth::OAuthHttp;
use super::rate::{RateLimit, RateLimiters};
use super::retry::{honours_retry_after, is_idempotent, is_retryable_status, parse_retry_after};
use super::secret::Secret;
use super::token::{AccessToken, TokenCache, TokenSource};
use crate::error::ConnectorError;

/// How many characters of a response body an error message quotes.
pub const BODY_EXCERPT_CHARS: usize = 500;

/// Values shorter than this are not treated as secrets to scrub from error messages.
const MIN_SECRET_LEN: usize = 6;

/// Redirects followed at most by the API client.
const MAX_REDIRECTS: usize = 10;

/// Settings of an [`HttpClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Timeout for establishing a connection (TCP and TLS). Default 10 s.
    pub connect_timeout: Duration,
    /// Timeout for one whole request, from sending to the end of the body. Default 60 s.
    pub request_timeout: Duration,
    /// Retries after the first attempt, for requests that may be repeated. Default 4.
    pub max_retries: u32,
    /// The first backoff delay; it doubles on every retry, plus up to 100% jitter. Default 500 ms.
    pub base_backoff: Duration,
    /// No single wait is longer than this. A `Retry-After` asking for more ends the retries
    /// with [`ConnectorError::Throttled`] carrying the provider's delay. Default 30 s.
    pub max_backoff: Duration,
    /// The `User-Agent` header. Default `tandem/<version>`.
    pub user_agent: String,
    /// The default client-side rate limit per endpoint key (host, or the request's
    /// [`RequestSpec::rate_key`]); `None` for no limit. Default 10 requests per second.
    pub rate_limit: Option<RateLimit>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_retries: 4,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            user_agent: concat!("tandem/", env!("CARGO_PKG_VERSION")).to_owned(),
            rate_limit: Some(RateLimit::per_second(10)),
        }
    }
}

/// How the client waits between retries: a function from a delay to a future that completes
/// after it. The default is [`tokio::time::sleep`]; tests may record the delays instead.
pub(crate) type SleepFn = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Counts of requests sent, for reports.
#[derive(Default)]
pub(crate) struct Stats {
    total: AtomicU64,
    by_template: Mutex<HashMap<String, u64>>,
}

impl Stats {
    pub(crate) fn record(&self, key: String) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut map = self.by_template.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(key).or_default() += 1;
    }
}

/// Secret values of one request, scrubbed from anything quoted in an error message (in case a
/// provider echoes them in an error body).
#[derive(Clone, Default)]
pub(crate) struct Redactor(Arc<Vec<Secret>>);

impl Redactor {
    pub(crate) fn new(secrets: &[Secret]) -> Self {
        let mut values = Vec::new();
        for s in secrets {
            let raw = s.expose();
            if raw.len() < MIN_SECRET_LEN {
                continue;
            }
            let encoded: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
            if encoded != raw {
                values.push(Secret::new(encoded));
            }
            values.push(s.clone());
        }
        // Longest first, so a secret containing another is scrubbed whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.expose().len()));
        Redactor(Arc::new(values))
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in self.0.iter() {
            if out.contains(secret.expose()) {
                out = out.replace(secret.expose(), "***");
            }
        }
        out
    }
}

/// The first `max` characters of `text`, with an ellipsis when cut.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Describes a reqwest error without its URL (which may carry a query with tokens).
pub(crate) fn describe_reqwest_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "redirect refused"
    } else if error.is_body() || error.is_decode() {
        "failed reading the response body"
    } else if error.is_builder() {
        "invalid request"
    } else {
        "request failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(&error);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// What kind of JSON error this is, without the message (which may quote data).
pub(crate) fn json_error_kind(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected JSON content",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

fn header_is_sensitive(name: &HeaderName, value: &HeaderValue) -> bool {
    let n = name.as_str();
    value.is_sensitive()
        || name == header::AUTHORIZATION
        || name == header::PROXY_AUTHORIZATION
        || name == header::COOKIE
        || ["token", "secret", "key", "auth", "password", "signature"].iter().any(|w| n.contains(w))
}

fn query_key_is_sensitive(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["token", "key", "secret", "sig", "password", "passwd", "assertion", "code", "auth", "credential"]
        .iter()
        .any(|w| key.contains(w))
}

/// `host[:port]` of a URL, for rate-limit keys and messages.
fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Describes a request as `METHOD host[:port]/path`: never the query, headers or body.
fn describe(method: &Method, url: &Url) -> String {
    format!("{method} {}{}", host_port(url), url.path())
}

/// One HTTP request to send through an [`HttpClient`]. Cheap to clone for retries.
///
/// Builder methods never fail; a bad header value or an unserialisable body is reported when
/// the request is sent.
#[derive(Clone)]
pub struct RequestSpec {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    idempotency_key: bool,
    rate_key: Option<String>,
    template: Option<String>,
    timeout: Option<Duration>,
    secrets: Vec<Secret>,
    invalid: Option<ConnectorError>,
}

impl RequestSpec {
    /// A request with the given method and URL.
    pub fn new(method: Method, url: Url) -> Self {
        let mut secrets = Vec::new();
        for (key, value) in url.query_pairs() {
            if query_key_is_sensitive(&key) {
                secrets.push(Secret::new(value.into_owned()));
            }
        }
        RequestSpec {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            idempotency_key: false,
            rate_key: None,
            template: None,
            timeout: None,
            secrets,
            invalid: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: Url) -> Self {
        RequestSpec::new(Method::GET, url)
    }

    /// A `POST` request (not retried unless [`with_idempotency_key`](Self::with_idempotency_key)).
    pub fn post(url: Url) -> Self {
        RequestSpec::new(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(url: Url) -> Self {
        RequestSpec::new(Method::PUT, url)
    }

    /// A `PATCH` request (not retried unless [`with_idempotency_key`](Self::with_idempotency_key)).
    pub fn patch(url: Url) -> Self {
        RequestSpec::new(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(url: Url) -> Self {
        RequestSpec::new(Method::DELETE, url)
    }

    /// Adds a header. Values of credential-like headers (`Authorization`, `Cookie`, names
    /// containing `token`, `key`, `secret`…) are marked sensitive and scrubbed from errors.
    #[must_use]
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        let Ok(name) = HeaderName::try_from(name) else {
            self.invalidate(ConnectorError::Config { message: "invalid header name".to_owned() });
            return self;
        };
        let Ok(mut value) = HeaderValue::try_from(value) else {
            self.invalidate(ConnectorError::Config { message: format!("invalid value for header `{name}`") });
            return self;
        };
        if header_is_sensitive(&name, &value) {
            value.set_sensitive(true);
            self.remember_header_secret(&value);
        }
        self.headers.append(name, value);
        self
    }

    /// Sets `Authorization: Bearer <token>`.
    #[must_use]
    pub fn bearer_auth(mut self, token: &AccessToken) -> Self {
        match token.bearer_header() {
            Ok(value) => {
                self.secrets.push(token.secret().clone());
                self.headers.insert(header::AUTHORIZATION, value);
            }
            Err(e) => self.invalidate(e),
        }
        self
    }

    /// Appends query parameters. Values of credential-like keys (`access_token`, `key`,
    /// `code`…) are scrubbed from errors; the query is never logged or quoted anyway.
    #[must_use]
    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        for (key, value) in pairs {
            if query_key_is_sensitive(key) {
                self.secrets.push(Secret::new(*value));
            }
        }
        self.url.query_pairs_mut().extend_pairs(pairs);
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    #[must_use]
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.body = Some(bytes);
                self.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Err(e) => self.invalidate(ConnectorError::Config {
                message: format!("could not serialise the request body as JSON ({})", json_error_kind(&e)),
            }),
        }
        self
    }

    /// Sets a `application/x-www-form-urlencoded` body. Every value is treated as a secret
    /// (forms here carry credentials).
    #[must_use]
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        self.secrets.extend(pairs.iter().map(|(_, v)| Secret::new(*v)));
        self.body = Some(body.into_bytes());
        self.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        self
    }

    /// Sets a raw body with its content type.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>, content_type: HeaderValue) -> Self {
        self.body = Some(body.into());
        self.headers.insert(header::CONTENT_TYPE, content_type);
        self
    }

    /// Declares that the request carries an idempotency key (in a header or in the body, such
    /// as Graph's `transactionId` or a Salesforce external id), so repeating it cannot apply
    /// it twice: a `POST` or `PATCH` so marked is retried like a `PUT`.
    #[must_use]
    pub fn with_idempotency_key(mut self) -> Self {
        self.idempotency_key = true;
        self
    }

    /// Adds an idempotency-key header (e.g. `Idempotency-Key`) and marks the request as
    /// carrying one (see [`with_idempotency_key`](Self::with_idempotency_key)).
    #[must_use]
    pub fn idempotency_header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        self.header(name, value).with_idempotency_key()
    }

    /// Rate-limits this request under `key` (e.g. a mailbox) instead of its host.
    #[must_use]
    pub fn rate_key(mut self, key: impl Into<String>) -> Self {
        self.rate_key = Some(key.into());
        self
    }

    /// Counts this request under a path template (e.g. `/users/{id}/events`) in
    /// [`HttpClient::requests_by_template`]; without one it is counted under its host.
    #[must_use]
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }

    /// Overrides the client's request timeout for this request.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL, including any query.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body, if any.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Whether the request may be repeated: its method is idempotent or it carries an
    /// idempotency key.
    pub fn is_retry_safe(&self) -> bool {
        self.idempotency_key || is_idempotent(&self.method)
    }

    /// The rate-limit key: the one given, or `host[:port]`.
    pub fn rate_limit_key(&self) -> String {
        self.rate_key.clone().unwrap_or_else(|| host_port(&self.url))
    }

    /// `METHOD host[:port]/path`: how the request appears in logs and errors.
    pub fn describe(&self) -> String {
        describe(&self.method, &self.url)
    }

    fn stats_key(&self) -> String {
        match &self.template {
            Some(t) => format!("{} {t}", self.method),
            None => format!("{} {}", self.method, host_port(&self.url)),
        }
    }

    fn invalidate(&mut self, error: ConnectorError) {
        self.invalid.get_or_insert(error);
    }

    fn remember_header_secret(&mut self, value: &HeaderValue) {
        if let Ok(text) = value.to_str() {
            self.secrets.push(Secret::new(text));
            // `Bearer abc`: the bare credential too.
            if let Some((_, credential)) = text.split_once(' ') {
                self.secrets.push(Secret::new(credential.trim()));
            }
        }
    }

    /// Checks the endpoint and the builder errors.
    fn validate(&self) -> Result<(), ConnectorError> {
        check_endpoint(&self.url)?;
        match &self.invalid {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for RequestSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpec")
            .field("request", &self.describe())
            .field("retry_safe", &self.is_retry_safe())
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

/// A response read to the end: status, headers and body.
#[derive(Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    request: String,
    redactor: Redactor,
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

/// Why one attempt failed, for the retry loop.
enum AttemptError {
    /// No response. `connect` when the connection was never established (so the request
    /// was certainly not processed and may be repeated whatever its method).
    Network { error: ConnectorError, connect: bool },
    /// A response with a retryable status.
    Status(Response),
}

impl AttemptError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            AttemptError::Status(r) if honours_retry_after(r.status) => r.retry_after(),
            _ => None,
        }
    }

    fn reason(&self) -> String {
        match self {
            AttemptError::Network { error, .. } => error.to_string(),
            AttemptError::Status(r) => format!("HTTP {}", r.status),
        }
    }
}

struct Inner {
    api: reqwest::Client,
    token: reqwest::Client,
    config: HttpConfig,
    limiters: RateLimiters,
    stats: Arc<Stats>,
}

/// The shared HTTP client of all connectors: one connection pool, cheap to clone.
///
/// Every request goes through [`check_endpoint`], the rate limiter of its key, and (with
/// [`send`](Self::send)) retries with exponential backoff and jitter that honour `Retry-After`.
/// Only requests that may be repeated are retried (see [`RequestSpec::is_retry_safe`]); a
/// request whose connection could not even be established is retried whatever its method.
///
/// Redirects are followed (up to 10) only to endpoints [`check_endpoint`] accepts and never
/// from `https` to `http`; reqwest drops `Authorization` on redirects to another host. The
/// separate client behind [`oauth`](Self::oauth), for token endpoints, follows no redirects.
///
/// Logs and errors name requests as `METHOD host/path`; headers, queries and bodies never
/// appear in them, and body excerpts in errors are scrubbed of the request's secrets.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
    sleep: SleepFn,
}

impl HttpClient {
    /// Builds a client from `config`.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when the TLS stack or the user agent cannot be set up.
    pub fn new(config: HttpConfig) -> Result<Self, ConnectorError> {
        let api = build_reqwest(&config, true)?;
        let token = build_reqwest(&config, false)?;
        let limiters = RateLimiters::new(config.rate_limit);
        Ok(HttpClient {
            inner: Arc::new(Inner { api, token, config, limiters, stats: Arc::new(Stats::default()) }),
            sleep: Arc::new(|d| Box::pin(tokio::time::sleep(d))),
        })
    }

    /// A client with [`HttpConfig::default`].
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_defaults() -> Result<Self, ConnectorError> {
        HttpClient::new(HttpConfig::default())
    }

    /// Replaces how the client waits between retries (for tests: record the delays and return
    /// at once). Rate-limiter waits are not affected.
    #[must_use]
    pub fn with_sleep<F, Fut>(mut self, sleep: F) -> Self
    where
        F: Fn(Duration) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.sleep = Arc::new(move |d| Box::pin(sleep(d)));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    /// Sets the rate limit of one key (a host as `host[:port]`, or a [`RequestSpec::rate_key`]);
    /// `None` lifts the limit for that key. Replaces the key's current limiter.
    pub fn set_rate_limit(&self, key: impl Into<String>, limit: Option<RateLimit>) {
        self.inner.limiters.set(key.into(), limit);
    }

    /// An [`oauth2::AsyncHttpClient`] for token endpoints: shares this client's settings and
    /// request counter, and follows no redirects.
    pub fn oauth(&self) -> OAuthHttp {
        OAuthHttp::with_stats(self.inner.token.clone(), Some(self.inner.stats.clone()))
    }

    /// How many HTTP requests were sent (every attempt counts, token requests through
    /// [`oauth`](Self::oauth) included).
    pub fn requests_sent(&self) -> u64 {
        self.inner.stats.total.load(Ordering::Relaxed)
    }

    /// Requests sent per `METHOD template` (see [`RequestSpec::template`]; `METHOD host`
    /// without a template).
    pub fn requests_by_template(&self) -> BTreeMap<String, u64> {
        let map = self.inner.stats.by_template.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Sends `req` with retries and maps an error status onto the taxonomy (see
    /// [`Response::error`]).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for a forbidden endpoint or an invalid request,
    /// [`ConnectorError::Transient`] for network failures and timeouts, and the mapped error
    /// status after retries are exhausted.
    pub async fn send(&self, req: RequestSpec) -> Result<Response, ConnectorError> {
        self.send_unmapped(req).await?.error_for_status()
    }

    /// Like [`send`](Self::send) but returns the final response whatever its status, for
    /// connectors that read provider error bodies (a Graph 403 that is really throttling, a
    /// 410 that means an expired cursor). Map the rest with [`Response::error_for_status`].
    ///
    /// # Errors
    ///
    /// Only for requests that got no response: see [`send`](Self::send).
    pub async fn send_unmapped(&self, req: RequestSpec) -> Result<Response, ConnectorError> {
        req.validate()?;
        let config = &self.inner.config;
        let retry_safe = req.is_retry_safe();
        let max_backoff = config.max_backoff;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(config.base_backoff)
            .with_max_delay(config.max_backoff)
            .with_max_times(usize::try_from(config.max_retries).unwrap_or(usize::MAX))
            .with_jitter();
        let redactor = Redactor::new(&req.secrets);
        let host = host_port(&req.url);
        // A plain loop over backon's backoff schedule rather than its `Retryable` combinators:
        // the compiler cannot prove the combinators' future `Send` (their closures take
        // references, which makes them higher-ranked), and connectors must be able to await
        // this inside `async_trait` methods.
        let mut delays = backoff.build();
        loop {
            let error = match self.attempt(&req, &redactor).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let retry = match &error {
                AttemptError::Network { connect, .. } => retry_safe || *connect,
                AttemptError::Status(_) => retry_safe,
            };
            let delay = if retry {
                delays.next().and_then(|next| match error.retry_after() {
                    // Waiting that long in-process would hold up the sync; let the engine
                    // schedule it.
                    Some(asked) if asked > max_backoff => None,
                    Some(asked) => Some(asked),
                    None => Some(next.min(max_backoff)),
                })
            } else {
                None
            };
            let Some(delay) = delay else {
                return match error {
                    AttemptError::Status(response) => Ok(response),
                    AttemptError::Network { error, .. } => Err(error),
                };
            };
            tracing::info!(
                method = %req.method,
                host = %host,
                path = %req.url.path(),
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                reason = %error.reason(),
                "retrying HTTP request"
            );
            (self.sleep)(delay).await;
        }
    }

    /// Sends `req` once: endpoint check, rate limit, one attempt, no retries and no status
    /// mapping.
    ///
    /// # Errors
    ///
    /// Only for requests that got no response: see [`send`](Self::send).
    pub async fn send_once(&self, req: RequestSpec) -> Result<Response, ConnectorError> {
        req.validate()?;
        let redactor = Redactor::new(&req.secrets);
        match self.attempt(&req, &redactor).await {
            Ok(response) | Err(AttemptError::Status(response)) => Ok(response),
            Err(AttemptError::Network { error, .. }) => Err(error),
        }
    }

    /// Sends `req` with a bearer token from `tokens`; on a 401, invalidates that token, fetches
    /// a new one and sends once more ("one refresh and one retry"). Then maps as
    /// [`send`](Self::send) does.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and the token source's errors.
    pub async fn send_authorized<S: TokenSource>(
        &self,
        req: RequestSpec,
        tokens: &TokenCache<S>,
    ) -> Result<Response, ConnectorError> {
        let token = tokens.token().await?;
        let response = self.send_unmapped(req.clone().bearer_auth(&token)).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return response.error_for_status();
        }
        tracing::debug!(request = %req.describe(), "401: refreshing the token and retrying once");
        tokens.invalidate_if_current(&token).await;
        let token = tokens.token().await?;
        self.send(req.bearer_auth(&token)).await
    }

    async fn attempt(&self, req: &RequestSpec, redactor: &Redactor) -> Result<Response, AttemptError> {
        let request = req.describe();
        let host = host_port(&req.url);
        self.inner.limiters.wait(&req.rate_limit_key()).await;

        let mut builder = self.inner.api.request(req.method.clone(), req.url.clone()).headers(req.headers.clone());
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        if let Some(timeout) = req.timeout {
            builder = builder.timeout(timeout);
        }
        self.inner.stats.record(req.stats_key());
        let started = Instant::now();
        let network = |e: reqwest::Error| {
            let connect = e.is_connect();
            let message = redactor.redact(&format!("{request}: {}", describe_reqwest_error(e)));
            AttemptError::Network { error: ConnectorError::Transient { message }, connect }
        };
        let response = builder.send().await.map_err(network)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(network)?;
        tracing::debug!(
            method = %req.method,
            host = %host,
            path = %req.url.path(),
            status = status.as_u16(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "HTTP request"
        );
        let response = Response { status, headers, body: Vec::from(body), request, redactor: redactor.clone() };
        if is_retryable_status(status) { Err(AttemptError::Status(response)) } else { Ok(response) }
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.inner.config)
            .field("requests_sent", &self.requests_sent())
            .finish_non_exhaustive()
    }
}

/// Builds a reqwest client on rustls with the configured timeouts. `follow_redirects: false`
/// for token endpoints.
pub(crate) fn build_reqwest(config: &HttpConfig, follow_redirects: bool) -> Result<reqwest::Client, ConnectorError> {
    let policy = if follow_redirects {
        redirect::Policy::custom(|attempt| {
            let downgrade = attempt.previous().last().is_some_and(|prev| prev.scheme() == "https")
                && attempt.url().scheme() != "https";
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if downgrade {
                attempt.error("redirect from https to http refused")
            } else if let Err(e) = check_endpoint(attempt.url()) {
                attempt.error(e.to_string())
            } else {
                attempt.follow()
            }
        })
    } else {
        redirect::Policy::none()
    };
    reqwest::Client::builder()
        .tls_backend_rustls()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(config.user_agent.as_str())
        .redirect(policy)
        .build()
        .map_err(|e| ConnectorError::Config {
            message: format!("could not build the HTTP client: {}", describe_reqwest_error(e)),
        })
}
