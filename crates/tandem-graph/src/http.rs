//! Requests to Graph through the shared HTTP plumbing: tokens, `Prefer` headers, the per-mailbox
//! concurrency limit and request budget; JSON batching with per-item retries is in `batch`,
//! answers and Graph's error codes in `crate::answer`.

mod batch;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tandem_connector::ConnectorError;
use tandem_connector::http::{HttpClient, RateLimit, RequestSpec, TokenCache};
use tokio::sync::Semaphore;
use url::Url;

pub(crate) use self::batch::MAX_BATCH;
pub(crate) use crate::answer::{Answer, Item};
use crate::auth::GraphTokenSource;
use crate::coalesce::SharedBatcher;
use crate::config::GraphConfig;

/// The per-mailbox request budget (10,000 requests per 10 minutes by default).
struct Budget {
    limit: u32,
    window: Duration,
    log: VecDeque<(Instant, u32)>,
    used: u32,
    total: u64,
}

impl Budget {
    fn try_take(&mut self, n: u32, now: Instant) -> Result<(), Duration> {
        while let Some((t, k)) = self.log.front().copied() {
            if now.duration_since(t) >= self.window {
                self.used = self.used.saturating_sub(k);
                self.log.pop_front();
            } else {
                break;
            }
        }
        if self.used == 0 || self.used.saturating_add(n) <= self.limit {
            self.log.push_back((now, n));
            self.used = self.used.saturating_add(n);
            self.total += u64::from(n);
            return Ok(());
        }
        // Wait until enough of the window has passed.
        let mut freed = 0u32;
        for (t, k) in &self.log {
            freed += k;
            if self.used - freed + n <= self.limit {
                return Err((*t + self.window).saturating_duration_since(now));
            }
        }
        Err(self.window)
    }
}

/// What the connector reports about its use of the mailbox's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetUse {
    /// Requests (batch items counted one each) in the current window.
    pub used: u32,
    /// The budget per window.
    pub limit: u32,
    /// Requests counted since the connector was built.
    pub total: u64,
}

/// Graph access for one mailbox.
pub(crate) struct GraphHttp {
    http: HttpClient,
    tokens: TokenCache<GraphTokenSource>,
    base: Url,
    rate_key: String,
    permits: Arc<Semaphore>,
    max_permits: usize,
    budget: Mutex<Budget>,
    max_item_retries: u32,
    max_retry_wait: Duration,
    page_size: usize,
    mailbox_path: String,
    /// The cross-mailbox coalescer this connector's batch items go through, when it shares one.
    shared: Option<SharedBatcher>,
}

/// Percent-encodes a path segment (keeps `@`, `.`, `-`, `_`, `+` and alphanumerics).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"@.-_+".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The prefer header every request carries: immutable ids, UTC times, text bodies.
pub(crate) fn prefer(page_size: Option<usize>) -> String {
    let mut p = r#"IdType="ImmutableId", outlook.timezone="UTC", outlook.body-content-type="text""#.to_owned();
    if let Some(n) = page_size {
        p.push_str(&format!(", odata.maxpagesize={n}"));
    }
    p
}

impl GraphHttp {
    pub(crate) fn new(config: &GraphConfig, http: HttpClient) -> Result<Self, ConnectorError> {
        let base = config.graph_base_url()?;
        tandem_connector::http::check_endpoint(&base)?;
        let tokens = TokenCache::new(GraphTokenSource::new(config, &http)?);
        let rate_key = format!("graph:{}", config.mailbox.to_lowercase());
        http.set_rate_limit(rate_key.clone(), Some(RateLimit::new(config.request_budget, config.budget_window)));
        let max_permits = config.max_concurrency.max(1);
        // Checked here, before anything is sent: only an app-only connection of the batcher's
        // own tenant, app and credential may put its items in the shared batches.
        let shared = match &config.shared_batcher {
            Some(b) => {
                b.attach(config, &http)?;
                Some(b.clone())
            }
            None => None,
        };
        Ok(GraphHttp {
            http,
            tokens,
            base,
            rate_key,
            permits: Arc::new(Semaphore::new(max_permits)),
            max_permits,
            budget: Mutex::new(Budget {
                limit: config.request_budget.max(1),
                window: config.budget_window,
                log: VecDeque::new(),
                used: 0,
                total: 0,
            }),
            max_item_retries: config.max_item_retries,
            max_retry_wait: config.max_retry_wait,
            page_size: config.page_size.max(1),
            mailbox_path: format!("/users/{}", segment(&config.mailbox)),
            shared,
        })
    }

    /// `/users/{mailbox}`.
    pub(crate) fn mailbox_path(&self) -> &str {
        &self.mailbox_path
    }

    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    pub(crate) fn budget_use(&self) -> BudgetUse {
        let b = self.budget.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        BudgetUse { used: b.used, limit: b.limit, total: b.total }
    }

    /// An absolute URL for a path relative to the Graph base.
    pub(crate) fn url(&self, relative: &str) -> Result<Url, ConnectorError> {
        let text = format!("{}{relative}", self.base.as_str().trim_end_matches('/'));
        Url::parse(&text).map_err(|e| ConnectorError::Config { message: format!("invalid Graph URL: {e}") })
    }

    /// Checks that a link the service returned (`@odata.nextLink`, `@odata.deltaLink`) points
    /// at the configured Graph base, so the token is never sent elsewhere.
    pub(crate) fn check_link(&self, link: &str) -> Result<Url, ConnectorError> {
        let url = Url::parse(link)
            .map_err(|_| ConnectorError::Transient { message: "the service returned an invalid link".to_owned() })?;
        let same = url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.path().starts_with(self.base.path().trim_end_matches('/'));
        if same {
            Ok(url)
        } else {
            Err(ConnectorError::Config { message: "the service returned a link outside the Graph base URL".to_owned() })
        }
    }

    async fn reserve(&self, n: u32) -> Result<(), ConnectorError> {
        loop {
            let outcome =
                self.budget.lock().unwrap_or_else(std::sync::PoisonError::into_inner).try_take(n, Instant::now());
            match outcome {
                Ok(()) => return Ok(()),
                Err(wait) if wait <= self.max_retry_wait => {
                    tracing::info!(
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "mailbox request budget spent; waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(wait) => return Err(ConnectorError::Throttled { retry_after: Some(wait) }),
            }
        }
    }

    /// Sends with a bearer token; on a 401, refreshes the token once and sends again.
    async fn send(&self, spec: RequestSpec, permits: u32, cost: u32) -> Result<Answer, ConnectorError> {
        self.reserve(cost).await?;
        let _permit = self
            .permits
            .acquire_many(permits.min(u32::try_from(self.max_permits).unwrap_or(u32::MAX)).max(1))
            .await
            .map_err(|_| ConnectorError::Transient { message: "connector shut down".to_owned() })?;
        let spec = spec.rate_key(self.rate_key.clone());
        let token = self.tokens.token().await?;
        let response = self.http.send_unmapped(spec.clone().bearer_auth(&token)).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(Answer::from_response(&response));
        }
        tracing::debug!(request = %spec.describe(), "401 from Graph: refreshing the token once");
        self.tokens.invalidate_if_current(&token).await;
        let token = self.tokens.token().await?;
        let response = self.http.send_unmapped(spec.bearer_auth(&token)).await?;
        Ok(Answer::from_response(&response))
    }

    /// A `GET` (retried by the shared client on 429 and 5xx, honouring `Retry-After`).
    pub(crate) async fn get(&self, url: Url, template: &str, paged: bool) -> Result<Answer, ConnectorError> {
        let spec = RequestSpec::get(url)
            .header("Prefer", prefer(paged.then_some(self.page_size)))
            .template(template.to_owned());
        self.send(spec, 1, 1).await
    }

    /// A single write outside a batch (folder creation).
    pub(crate) async fn post(&self, url: Url, body: &Value, template: &str) -> Result<Answer, ConnectorError> {
        let spec = RequestSpec::post(url).header("Prefer", prefer(None)).json(body).template(template.to_owned());
        self.send(spec, 1, 1).await
    }
}
