//! Requests to Graph through the shared HTTP plumbing: tokens, `Prefer` headers, the per-mailbox
//! concurrency limit and request budget, JSON batching with per-item retries, and Graph's error
//! codes mapped onto the connector taxonomy.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tandem_connector::ConnectorError;
use tandem_connector::http::{HttpClient, RateLimit, RequestSpec, Response, TokenCache, parse_retry_after};
use tandem_core::state::Version;
use tokio::sync::Semaphore;
use url::Url;

use crate::auth::GraphTokenSource;
use crate::config::GraphConfig;

/// Requests per `$batch`, Graph's limit.
pub(crate) const MAX_BATCH: usize = 20;

/// Items of one `$batch` Graph runs in parallel for a mailbox.
const BATCH_PARALLELISM: usize = 4;

/// One answer: a plain response or a batch item's.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// Header names lower-cased.
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn retry_after(&self) -> Option<Duration> {
        self.headers.get("retry-after").and_then(|v| parse_retry_after(v, chrono::Utc::now()))
    }

    /// Graph's error code (`error.code`), if the body has one.
    pub(crate) fn code(&self) -> &str {
        self.body.get("error").and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or_default()
    }

    fn message(&self) -> String {
        let m = self.body.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or_default();
        m.chars().take(300).collect()
    }

    /// The item's `@odata.etag`, as a version.
    pub(crate) fn etag(&self) -> Version {
        Version::new(
            self.body
                .get("@odata.etag")
                .and_then(Value::as_str)
                .or_else(|| self.headers.get("etag").map(String::as_str))
                .unwrap_or_default(),
        )
    }

    /// The item's `id`.
    pub(crate) fn id(&self) -> Option<&str> {
        self.body.get("id").and_then(Value::as_str)
    }

    /// The error this answer stands for, `None` for success.
    pub(crate) fn error(&self) -> Option<ConnectorError> {
        if self.ok() {
            return None;
        }
        let code = self.code().to_owned();
        let describe = || {
            let message = self.message();
            if code.is_empty() { format!("HTTP {}: {message}", self.status) } else { format!("{code}: {message}") }
        };
        Some(match self.status {
            429 => ConnectorError::Throttled { retry_after: self.retry_after() },
            503 | 504 if self.retry_after().is_some() => ConnectorError::Throttled { retry_after: self.retry_after() },
            401 => ConnectorError::Auth { refreshable: true, message: describe() },
            403 if code.to_ascii_lowercase().contains("throttl") => {
                ConnectorError::Throttled { retry_after: self.retry_after() }
            }
            403 => ConnectorError::Auth { refreshable: false, message: describe() },
            404 | 410 => ConnectorError::NotFound,
            412 => ConnectorError::PreconditionFailed { current: None },
            424 => ConnectorError::Transient { message: "a batch dependency failed".to_owned() },
            s if s >= 500 => ConnectorError::Transient { message: describe() },
            s => ConnectorError::Rejected {
                code: if code.is_empty() { s.to_string() } else { code.clone() },
                message: self.message(),
            },
        })
    }

    /// The error of a delta request: an expired or unknown sync state is
    /// [`ConnectorError::CursorExpired`].
    pub(crate) fn delta_error(&self) -> Option<ConnectorError> {
        let code = self.code().to_ascii_lowercase();
        let expired = self.status == 410
            || (matches!(self.status, 400 | 404)
                && ["syncstatenotfound", "resyncrequired", "syncstateinvalid", "invaliddeltatoken"]
                    .iter()
                    .any(|c| code.contains(c)));
        if expired { Some(ConnectorError::CursorExpired) } else { self.error() }
    }

    fn from_response(r: &Response) -> Answer {
        let headers = r
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned())))
            .collect();
        let body =
            if r.body().is_empty() { Value::Null } else { serde_json::from_slice(r.body()).unwrap_or(Value::Null) };
        Answer { status: r.status().as_u16(), headers, body }
    }
}

/// One request of a batch.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) method: &'static str,
    /// Relative to the Graph base: `/users/{id}/events`.
    pub(crate) url: String,
    pub(crate) body: Option<Value>,
    pub(crate) if_match: Option<String>,
}

impl Item {
    pub(crate) fn get(url: String) -> Self {
        Item { method: "GET", url, body: None, if_match: None }
    }

    pub(crate) fn post(url: String, body: serde_json::Map<String, Value>) -> Self {
        Item { method: "POST", url, body: Some(Value::Object(body)), if_match: None }
    }

    /// A PATCH, conditional on `etag` when one is given.
    pub(crate) fn patch(url: String, body: serde_json::Map<String, Value>, etag: Option<String>) -> Self {
        Item { method: "PATCH", url, body: Some(Value::Object(body)), if_match: etag }
    }

    /// A DELETE, conditional on `etag` when one is given.
    pub(crate) fn delete(url: String, etag: Option<String>) -> Self {
        Item { method: "DELETE", url, body: None, if_match: etag }
    }
}

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
fn prefer(page_size: Option<usize>) -> String {
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

    /// Runs `items` as JSON batches of at most 20 and returns one answer per item, in order.
    /// Items answered 429 are sent again in a later batch after the longest `Retry-After`
    /// (bounded); what is still throttled after the retries comes back as a 429 answer.
    pub(crate) async fn batch(&self, items: &[Item]) -> Vec<Result<Answer, ConnectorError>> {
        let mut results: Vec<Option<Result<Answer, ConnectorError>>> = vec![None; items.len()];
        let indices: Vec<usize> = (0..items.len()).collect();
        for chunk in indices.chunks(MAX_BATCH) {
            let mut pending: Vec<usize> = chunk.to_vec();
            let mut round = 0;
            loop {
                match self.batch_once(items, &pending).await {
                    Err(e) => {
                        for i in pending {
                            results[i] = Some(Err(e.clone()));
                        }
                        break;
                    }
                    Ok(mut answers) => {
                        let mut throttled = Vec::new();
                        let mut wait = Duration::ZERO;
                        for i in pending {
                            match answers.remove(&i) {
                                Some(a) => {
                                    if a.status == 429 || (a.status == 503 && a.retry_after().is_some()) {
                                        wait = wait.max(a.retry_after().unwrap_or(Duration::from_secs(1)));
                                        throttled.push(i);
                                    }
                                    results[i] = Some(Ok(a));
                                }
                                None => {
                                    results[i] = Some(Err(ConnectorError::Transient {
                                        message: "the batch response has no answer for this request".to_owned(),
                                    }));
                                }
                            }
                        }
                        if throttled.is_empty() || round >= self.max_item_retries || wait > self.max_retry_wait {
                            break;
                        }
                        round += 1;
                        tracing::debug!(
                            items = throttled.len(),
                            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                            "batch items throttled; retrying them"
                        );
                        tokio::time::sleep(wait).await;
                        pending = throttled;
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ConnectorError::Transient { message: "not sent".to_owned() })))
            .collect()
    }

    /// One `POST /$batch` of the items at `indices`; answers keyed by item index. A throttled
    /// batch as a whole ran nothing and is sent again.
    async fn batch_once(&self, items: &[Item], indices: &[usize]) -> Result<HashMap<usize, Answer>, ConnectorError> {
        let requests: Vec<Value> = indices
            .iter()
            .filter_map(|i| items.get(*i).map(|item| (i, item)))
            .map(|(i, item)| {
                let mut headers = Map::new();
                headers.insert("Prefer".into(), json!(prefer(None)));
                if let Some(tag) = item.if_match.as_deref().filter(|t| !t.is_empty()) {
                    headers.insert("If-Match".into(), json!(tag));
                }
                let mut r = Map::new();
                r.insert("id".into(), json!(i.to_string()));
                r.insert("method".into(), json!(item.method));
                r.insert("url".into(), json!(item.url));
                if let Some(body) = &item.body {
                    headers.insert("Content-Type".into(), json!("application/json"));
                    r.insert("body".into(), body.clone());
                }
                r.insert("headers".into(), Value::Object(headers));
                Value::Object(r)
            })
            .collect();
        let body = json!({ "requests": requests });
        let url = self.url("/$batch")?;
        let permits = u32::try_from(indices.len().min(BATCH_PARALLELISM)).unwrap_or(1);
        let cost = u32::try_from(indices.len()).unwrap_or(u32::MAX);
        let mut attempt = 0;
        loop {
            let spec = RequestSpec::new(Method::POST, url.clone())
                .body(serde_json::to_vec(&body).unwrap_or_default(), HeaderValue::from_static("application/json"))
                .template("/$batch");
            let answer = self.send(spec, permits, cost).await?;
            if answer.status == 200 {
                let mut out = HashMap::new();
                for r in answer.body.get("responses").and_then(Value::as_array).into_iter().flatten() {
                    let Some(index) = r.get("id").and_then(Value::as_str).and_then(|id| id.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    let status =
                        r.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
                    let headers = r
                        .get("headers")
                        .and_then(Value::as_object)
                        .map(|h| {
                            h.iter()
                                .map(|(k, v)| {
                                    (k.to_ascii_lowercase(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    out.insert(index, Answer { status, headers, body: r.get("body").cloned().unwrap_or(Value::Null) });
                }
                return Ok(out);
            }
            let throttled = answer.status == 429;
            if throttled && attempt < self.max_item_retries {
                let wait = answer.retry_after().unwrap_or(Duration::from_secs(1));
                if wait <= self.max_retry_wait {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return Err(answer.error().unwrap_or(ConnectorError::Transient {
                message: format!("unexpected $batch answer: HTTP {}", answer.status),
            }));
        }
    }
}
