//! Client settings ([`HttpConfig`]) and building the underlying reqwest clients: rustls,
//! timeouts, user agent and the redirect policy.

use std::time::Duration;

use reqwest::redirect;

use super::redact::describe_reqwest_error;
use crate::error::ConnectorError;
use crate::http::endpoint::check_endpoint;
use crate::http::rate::RateLimit;

// Only named in doc links.
#[cfg(doc)]
use super::request::RequestSpec;
#[cfg(doc)]
use super::send::HttpClient;

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
