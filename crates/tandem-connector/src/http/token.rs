//! Access tokens: a source that fetches them and a cache that refreshes them ahead of expiry.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::HeaderValue;

use super::secret::Secret;
use crate::error::ConnectorError;

/// Called with every new refresh token an authorization server issues, so the embedder can store
/// it before the old one stops working (refresh tokens rotate). Tandem never logs it.
pub type RefreshTokenHook = std::sync::Arc<dyn Fn(&Secret) + Send + Sync>;

/// How long before expiry a cached token is refreshed by default.
pub const DEFAULT_REFRESH_SKEW: Duration = Duration::from_secs(5 * 60);

/// After a failed refresh while the old token is still valid, how long to keep using it before
/// trying again (at most until it expires).
const REFRESH_RETRY_AFTER: Duration = Duration::from_secs(30);

/// An OAuth access token (or any bearer credential) and its lifetime.
///
/// `Debug` prints `AccessToken(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    secret: Secret,
    expires_in: Option<Duration>,
}

impl AccessToken {
    /// A token without a known lifetime: it is cached until invalidated.
    pub fn new(secret: impl Into<Secret>) -> Self {
        AccessToken { secret: secret.into(), expires_in: None }
    }

    /// Sets the lifetime counted from when the token was fetched (OAuth `expires_in`).
    #[must_use]
    pub fn with_expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = Some(expires_in);
        self
    }

    /// The token itself.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The lifetime counted from when the token was fetched, when known.
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_in
    }

    /// `Bearer <token>` as a header value marked sensitive (so HTTP/2 never indexes it and
    /// `Debug` of the header map hides it).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Auth`] when the token contains bytes not allowed in a header.
    pub fn bearer_header(&self) -> Result<HeaderValue, ConnectorError> {
        let mut value =
            HeaderValue::try_from(format!("Bearer {}", self.secret.expose())).map_err(|_| ConnectorError::Auth {
                refreshable: false,
                message: "the access token is not a valid header value".to_owned(),
            })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// Something that can fetch a fresh access token (an OAuth flow, a JWT-bearer grant, a fake).
///
/// Wrap it in a [`TokenCache`] to reuse tokens until shortly before they expire.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// Fetches a new token from the provider. Called by [`TokenCache`] only when needed.
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError>;
}

#[async_trait]
impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        (**self).fetch_token().await
    }
}

#[async_trait]
impl<T: TokenSource + ?Sized> TokenSource for Box<T> {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        (**self).fetch_token().await
    }
}

/// A monotonic clock, injectable so token expiry can be tested without sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real clock ([`Instant::now`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to; for tests. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Instant>>,
}

impl ManualClock {
    /// A clock standing at the current real instant.
    pub fn new() -> Self {
        ManualClock { now: Arc::new(Mutex::new(Instant::now())) }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Caches the token of a [`TokenSource`] and refreshes it ahead of expiry.
///
/// - A token is refreshed once `now >= fetched + expires_in - skew` (default skew
///   [`DEFAULT_REFRESH_SKEW`]; for lifetimes shorter than twice the skew, half the lifetime).
///   A token without `expires_in` is cached until [`invalidate`](Self::invalidate)d.
/// - Refreshes are single-flight: concurrent callers wait for the one fetch in progress.
/// - If a refresh fails while the old token has not yet expired, the old token is returned and
///   the refresh is tried again 30 seconds later.
/// - On a 401, call [`invalidate_if_current`](Self::invalidate_if_current) with the token that
///   was refused and ask again: "one refresh and one retry". [`crate::http::HttpClient::send_authorized`]
///   does exactly that.
///
/// A `TokenCache` is itself a [`TokenSource`] that answers from the cache.
pub struct TokenCache<S> {
    source: S,
    clock: Arc<dyn Clock>,
    skew: Duration,
    slot: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    token: AccessToken,
    expires_at: Option<Instant>,
    refresh_at: Option<Instant>,
}

impl<S: TokenSource> TokenCache<S> {
    /// An empty cache in front of `source`, with the system clock and the default skew.
    pub fn new(source: S) -> Self {
        TokenCache {
            source,
            clock: Arc::new(SystemClock),
            skew: DEFAULT_REFRESH_SKEW,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// Sets how long before expiry the token is refreshed.
    #[must_use]
    pub fn with_refresh_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Replaces the clock (for tests: [`ManualClock`]).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The wrapped source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// A valid token: the cached one, or a freshly fetched one when none is cached or the cached
    /// one is within the skew of its expiry.
    ///
    /// # Errors
    ///
    /// Whatever the source returns when a fetch is needed and fails (and no unexpired token is
    /// cached).
    pub async fn token(&self) -> Result<AccessToken, ConnectorError> {
        let mut slot = self.slot.lock().await;
        let now = self.clock.now();
        if let Some(cached) = slot.as_ref()
            && cached.refresh_at.is_none_or(|at| now < at)
        {
            return Ok(cached.token.clone());
        }
        match self.source.fetch_token().await {
            Ok(token) => {
                // Lifetimes count from before the request: conservative by the round trip.
                // Absurd lifetimes that overflow `Instant` count as "no expiry".
                let expires_at = token.expires_in.and_then(|d| now.checked_add(d));
                let refresh_at = token.expires_in.and_then(|d| now.checked_add(d.saturating_sub(self.skew.min(d / 2))));
                *slot = Some(Cached { token: token.clone(), expires_at, refresh_at });
                Ok(token)
            }
            Err(error) => {
                let now = self.clock.now();
                if let Some(cached) = slot.as_mut()
                    && let Some(expires_at) = cached.expires_at
                    && now < expires_at
                {
                    tracing::warn!(error = %error, "token refresh failed; using the current token until it expires");
                    cached.refresh_at = Some((now + REFRESH_RETRY_AFTER).min(expires_at));
                    return Ok(cached.token.clone());
                }
                Err(error)
            }
        }
    }

    /// Drops the cached token so the next [`token`](Self::token) call fetches a new one.
    ///
    /// Waits for a refresh in progress (and then drops its result). Prefer
    /// [`invalidate_if_current`](Self::invalidate_if_current) after a 401.
    pub async fn invalidate(&self) {
        *self.slot.lock().await = None;
    }

    /// Drops the cached token only if it is still `refused`; returns whether it did.
    ///
    /// When several requests fail with 401 at once, only the first invalidation takes effect,
    /// so the token is refreshed once rather than once per request.
    pub async fn invalidate_if_current(&self, refused: &AccessToken) -> bool {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|c| c.token.secret == refused.secret) {
            *slot = None;
            true
        } else {
            false
        }
    }
}

#[async_trait]
impl<S: TokenSource> TokenSource for TokenCache<S> {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        self.token().await
    }
}

impl<S> fmt::Debug for TokenCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").field("skew", &self.skew).field("clock", &self.clock).finish_non_exhaustive()
    }
}
