//! Shared HTTP plumbing for the connectors.
//!
//! Crates chosen, and what for:
//!
//! - **reqwest 0.13 on rustls** (aws-lc-rs provider, OS certificate store) for HTTP: one
//!   [`HttpClient`] holds one connection pool shared by every connector, with connect and
//!   request timeouts from [`HttpConfig`].
//! - **backon** for retries: exponential backoff with jitter, honouring `Retry-After` on 429
//!   and 503 (both delta-seconds and HTTP-date), capped at [`HttpConfig::max_backoff`]. Only
//!   requests that may be repeated are retried: idempotent methods, or a request marked
//!   [`RequestSpec::with_idempotency_key`]. (The `backoff` crate is unmaintained.) backon's
//!   schedule is driven by a plain loop rather than its `Retryable` combinators, whose futures
//!   the compiler cannot prove `Send`; every future of [`HttpClient`] is `Send`, so connectors
//!   can await them inside `async_trait` methods.
//! - **governor** for client-side rate limits: one token bucket per endpoint key, the host by
//!   default or a caller-given key such as a mailbox ([`RequestSpec::rate_key`]).
//! - **oauth2 5** (default features off) for OAuth flows, through [`OAuthHttp`], a newtype
//!   around a no-redirect `reqwest::Client` implementing [`oauth2::AsyncHttpClient`] (oauth2's
//!   own reqwest support is built on reqwest 0.12). The JWT-bearer grant, which oauth2 lacks,
//!   is [`jwt_bearer_token`] / [`post_form_token`].
//! - **url** for endpoint validation ([`check_endpoint`]: `https://` only, `http://` to
//!   loopback for tests and fakes).
//!
//! Tokens: [`TokenCache`] in front of a [`TokenSource`] caches an [`AccessToken`], refreshes it
//! ahead of expiry (single-flight), and is invalidated on a 401
//! ([`HttpClient::send_authorized`] does one refresh and one retry).
//!
//! Secrets: tokens live in [`Secret`] (`tandem_policy::Secret`, re-exported: redacted
//! `Debug`/`Display`, zeroed on drop, no `Serialize`). Logs and
//! errors name a request as `METHOD host/path` only: never headers, queries or form bodies;
//! body excerpts quoted in errors are scrubbed of the request's credentials.
//!
//! Error mapping ([`Response::error`]): 429 → `Throttled`, 401 → `Auth { refreshable: true }`,
//! 403 → `Auth { refreshable: false }`, 404/410 → `NotFound`, 412 → `PreconditionFailed`,
//! 5xx and network failures → `Transient`, other 4xx → `Rejected`. Connectors that need the
//! provider's own error codes use [`HttpClient::send_unmapped`] or [`HttpClient::send_once`].

mod client;
mod endpoint;
mod oauth;
mod rate;
mod retry;
mod secret;
mod token;

pub use client::{BODY_EXCERPT_CHARS, HttpClient, HttpConfig, RequestSpec, Response};
pub use endpoint::check_endpoint;
pub use oauth::{JWT_BEARER_GRANT_TYPE, OAuthHttp, TokenResponse, jwt_bearer_token, map_oauth_error, post_form_token};
pub use rate::RateLimit;
pub use retry::{is_idempotent, is_retryable_status, parse_retry_after};
pub use secret::Secret;
pub use token::{
    AccessToken, Clock, DEFAULT_REFRESH_SKEW, ManualClock, RefreshTokenHook, SystemClock, TokenCache, TokenSource,
};
