//! Tests of the token cache: refresh ahead of expiry, single flight, invalidation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tandem_connector::error::ConnectorError;
use tandem_connector::http::{AccessToken, ManualClock, Secret, TokenCache, TokenSource};

/// Hands out `token-1`, `token-2`… with a fixed lifetime; optionally slow or failing.
struct Source {
    fetches: AtomicUsize,
    lifetime: Option<Duration>,
    delay: Duration,
    fail_from: usize,
}

impl Source {
    fn new(lifetime: Option<Duration>) -> Self {
        Source { fetches: AtomicUsize::new(0), lifetime, delay: Duration::ZERO, fail_from: usize::MAX }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenSource for Source {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if n >= self.fail_from {
            return Err(ConnectorError::Transient { message: "token endpoint down".into() });
        }
        let token = AccessToken::new(format!("token-{n}"));
        Ok(match self.lifetime {
            Some(l) => token.with_expires_in(l),
            None => token,
        })
    }
}

fn cache(source: Source, clock: &ManualClock) -> TokenCache<Source> {
    TokenCache::new(source).with_clock(Arc::new(clock.clone()))
}

async fn current(cache: &TokenCache<Source>) -> String {
    cache.token().await.unwrap().secret().expose().to_owned()
}

#[tokio::test]
async fn refreshes_ahead_of_expiry_with_the_default_skew() {
    let clock = ManualClock::new();
    let tokens = cache(Source::new(Some(Duration::from_secs(3600))), &clock);
    assert_eq!(current(&tokens).await, "token-1");
    // Just before the 5-minute window: cached.
    clock.advance(Duration::from_secs(3600 - 300 - 1));
    assert_eq!(current(&tokens).await, "token-1");
    assert_eq!(tokens.source().fetches(), 1);
    // Inside the window, the token still valid: refreshed anyway.
    clock.advance(Duration::from_secs(2));
    assert_eq!(current(&tokens).await, "token-2");
    assert_eq!(current(&tokens).await, "token-2");
    assert_eq!(tokens.source().fetches(), 2);
}

#[tokio::test]
async fn the_skew_is_configurable_and_bounded_by_half_the_lifetime() {
    let clock = ManualClock::new();
    let tokens = cache(Source::new(Some(Duration::from_secs(100))), &clock).with_refresh_skew(Duration::from_secs(10));
    current(&tokens).await;
    clock.advance(Duration::from_secs(89));
    assert_eq!(current(&tokens).await, "token-1");
    clock.advance(Duration::from_secs(1));
    assert_eq!(current(&tokens).await, "token-2");

    // A 60 s token with the default 5 min skew would otherwise be refreshed on every call.
    let clock = ManualClock::new();
    let tokens = cache(Source::new(Some(Duration::from_secs(60))), &clock);
    current(&tokens).await;
    clock.advance(Duration::from_secs(29));
    assert_eq!(current(&tokens).await, "token-1");
    clock.advance(Duration::from_secs(1));
    assert_eq!(current(&tokens).await, "token-2");
}

#[tokio::test]
async fn a_token_without_expiry_is_cached_until_invalidated() {
    let clock = ManualClock::new();
    let tokens = cache(Source::new(None), &clock);
    assert_eq!(current(&tokens).await, "token-1");
    clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(current(&tokens).await, "token-1");
    tokens.invalidate().await;
    assert_eq!(current(&tokens).await, "token-2");
    assert_eq!(tokens.source().fetches(), 2);
}

#[tokio::test]
async fn invalidate_if_current_only_drops_the_refused_token() {
    let clock = ManualClock::new();
    let tokens = cache(Source::new(Some(Duration::from_secs(3600))), &clock);
    let first = tokens.token().await.unwrap();
    assert!(tokens.invalidate_if_current(&first).await);
    let second = tokens.token().await.unwrap();
    assert_eq!(second.secret().expose(), "token-2");
    // A second request that also got a 401 with the first token does not cause another fetch.
    assert!(!tokens.invalidate_if_current(&first).await);
    assert_eq!(current(&tokens).await, "token-2");
    assert_eq!(tokens.source().fetches(), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let source = Source { delay: Duration::from_millis(50), ..Source::new(Some(Duration::from_secs(3600))) };
    let tokens = Arc::new(TokenCache::new(source));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let tokens = tokens.clone();
        tasks.push(tokio::spawn(async move { tokens.token().await.unwrap().secret().expose().to_owned() }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), "token-1");
    }
    assert_eq!(tokens.source().fetches(), 1);

    // And again after an invalidation.
    tokens.invalidate().await;
    let (a, b, c) = tokio::join!(tokens.token(), tokens.token(), tokens.token());
    for t in [a, b, c] {
        assert_eq!(t.unwrap().secret().expose(), "token-2");
    }
    assert_eq!(tokens.source().fetches(), 2);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_token_until_it_expires() {
    let clock = ManualClock::new();
    let source = Source { fail_from: 2, ..Source::new(Some(Duration::from_secs(3600))) };
    let tokens = cache(source, &clock);
    assert_eq!(current(&tokens).await, "token-1");
    // In the refresh window: the refresh fails, the old token is still good.
    clock.advance(Duration::from_secs(3400));
    assert_eq!(current(&tokens).await, "token-1");
    assert_eq!(tokens.source().fetches(), 2);
    // Not retried on every call.
    clock.advance(Duration::from_secs(10));
    assert_eq!(current(&tokens).await, "token-1");
    assert_eq!(tokens.source().fetches(), 2);
    clock.advance(Duration::from_secs(30));
    assert_eq!(current(&tokens).await, "token-1");
    assert_eq!(tokens.source().fetches(), 3);
    // Expired: the error comes through.
    clock.advance(Duration::from_secs(3600));
    assert!(matches!(tokens.token().await, Err(ConnectorError::Transient { .. })));
}

#[tokio::test]
async fn a_cache_is_a_token_source() {
    let tokens: Box<dyn TokenSource> = Box::new(TokenCache::new(Source::new(None)));
    assert_eq!(tokens.fetch_token().await.unwrap().secret().expose(), "token-1");
    assert_eq!(tokens.fetch_token().await.unwrap().secret().expose(), "token-1");
}

#[test]
fn tokens_and_secrets_are_redacted() {
    let token = AccessToken::new("CANARY").with_expires_in(Duration::from_secs(1));
    assert_eq!(format!("{token:?}"), "AccessToken(***)");
    let secret = Secret::new("CANARY");
    assert_eq!(format!("{secret:?}"), "Secret(***)");
    assert_eq!(format!("{secret}"), "***");
    let header = token.bearer_header().unwrap();
    assert!(header.is_sensitive());
    assert!(!format!("{header:?}").contains("CANARY"));
}
