//! [`HttpClient`] itself: construction, request counters, and sending with rate limits,
//! retries that honour `Retry-After`, and one token refresh on a 401.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::StatusCode;

use super::config::{HttpConfig, build_reqwest};
use super::redact::{Redactor, describe_reqwest_error};
use super::request::{RequestSpec, host_port};
use super::response::Response;
use crate::error::ConnectorError;
use crate::http::oauth::OAuthHttp;
use crate::http::rate::{RateLimit, RateLimiters};
use crate::http::retry::{honours_retry_after, is_retryable_status};
use crate::http::token::{TokenCache, TokenSource};

// Only named in doc links.
#[cfg(doc)]
use crate::http::endpoint::check_endpoint;

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
