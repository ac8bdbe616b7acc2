//! [`RequestSpec`], one request to send: its builder, the credential-like headers and query
//! keys it remembers as secrets, and how it is described in logs and errors.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use url::Url;

use super::redact::json_error_kind;
use crate::error::ConnectorError;
use crate::http::endpoint::check_endpoint;
use crate::http::retry::is_idempotent;
use crate::http::secret::Secret;
use crate::http::token::AccessToken;

// Only named in doc links.
#[cfg(doc)]
use super::send::HttpClient;

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
pub(super) fn host_port(url: &Url) -> String {
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
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) headers: HeaderMap,
    pub(super) body: Option<Vec<u8>>,
    idempotency_key: bool,
    rate_key: Option<String>,
    template: Option<String>,
    pub(super) timeout: Option<Duration>,
    pub(super) secrets: Vec<Secret>,
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

    pub(super) fn stats_key(&self) -> String {
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
    pub(super) fn validate(&self) -> Result<(), ConnectorError> {
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
