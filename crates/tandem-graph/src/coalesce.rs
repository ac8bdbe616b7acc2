//! [`SharedBatcher`]: one stream of `POST /$batch` requests for many mailboxes of one app-only
//! connection, so that thousands of mailboxes that each write a few items per cycle share full
//! batches instead of sending one nearly empty batch each.
//!
//! Why this is allowed: under app-only auth (client credentials, certificate or secret) one
//! token serves every mailbox of the tenant the app may reach, and the items of a JSON batch
//! are separate requests with their own URLs, so one batch may address `/users/A/…` and
//! `/users/B/…`; Graph authorises and throttles each item against its own mailbox. A delegated
//! token is one user's, so delegated connections never share (they are refused).
//!
//! What stays per mailbox: the connector (`http/batch.rs`) reserves its mailbox's budget (one
//! unit per item) and concurrency slots (`min(n, 4)` for `n` items) before it hands its items
//! over, keeps them until the batch that carries them has answered, maps each answer itself,
//! and retries its own 429s after their `Retry-After`, in later shared batches. The coalescer
//! only packs, sends and routes answers back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use sha2::Digest as _;
use tandem_connector::ConnectorError;
use tandem_connector::http::{HttpClient, RequestSpec, TokenCache};
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use url::Url;

use crate::answer::{Answer, batch_answers, batch_body};
use crate::auth::GraphTokenSource;
use crate::config::{AssertionAlgorithm, GraphAuth, GraphConfig};
use crate::http::MAX_BATCH;

/// The default linger: how long the first item of a batch waits for others to join it.
pub const DEFAULT_BATCH_LINGER: Duration = Duration::from_millis(5);

/// What makes two connections' tokens interchangeable: the same identity platform, tenant, app,
/// app-only method, credential, scopes and Graph host. The credential is kept as a SHA-256
/// digest only (two apps' secrets never compare equal by accident, and no secret is kept here).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct BatchKey {
    authority: String,
    tenant: String,
    client_id: String,
    method: &'static str,
    graph_base: String,
    scopes: Vec<String>,
    credential: [u8; 32],
}

impl std::fmt::Debug for BatchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchKey")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .field("graph_base", &self.graph_base)
            .finish_non_exhaustive()
    }
}

impl BatchKey {
    /// The key of an app-only connection.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for a delegated connection: its token is one user's.
    pub(crate) fn of(config: &GraphConfig) -> Result<Self, ConnectorError> {
        let mut digest = sha2::Sha256::new();
        match &config.auth {
            GraphAuth::ClientSecret { secret, .. } => {
                digest.update(b"secret\0");
                digest.update(secret.expose().as_bytes());
            }
            GraphAuth::Certificate { certificate_pem, private_key_pem, algorithm, .. } => {
                digest.update(b"certificate\0");
                digest.update(certificate_pem.as_bytes());
                digest.update(b"\0");
                digest.update(private_key_pem.expose().as_bytes());
                digest.update(match algorithm {
                    AssertionAlgorithm::Ps256 => b"\0ps256",
                    AssertionAlgorithm::Rs256 => b"\0rs256",
                });
            }
            GraphAuth::AuthCodePkce { .. } => {
                return Err(ConnectorError::Config {
                    message: "a shared batcher serves app-only connections only: a delegated token reaches one \
                              user's mailbox"
                        .to_owned(),
                });
            }
        }
        Ok(BatchKey {
            authority: config.authority.trim_end_matches('/').to_ascii_lowercase(),
            tenant: config.tenant.to_ascii_lowercase(),
            client_id: config.auth.client_id().to_ascii_lowercase(),
            method: config.auth.method(),
            graph_base: config.graph_base.trim_end_matches('/').to_ascii_lowercase(),
            scopes: config.scopes(),
            credential: digest.finalize().into(),
        })
    }
}

/// Counters of a [`SharedBatcher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SharedBatchStats {
    /// `POST /$batch` requests sent.
    pub batches: u64,
    /// Items those batches carried (an item retried after a 429 counts again).
    pub items: u64,
    /// Batches that failed as a whole (every item they carried failed with them).
    pub failed_batches: u64,
}

/// A cross-mailbox `$batch` coalescer for the app-only connectors of one tenant and app.
///
/// Create one, put it in the [`GraphConfig`] of every app-only connector of that tenant, app and
/// credential ([`GraphConfig::with_shared_batcher`]; [`crate::GraphBuilder`] does it by
/// default), and their batch items travel together: a `$batch` leaves as soon as 20 items wait,
/// or [`linger`](Self::linger) after the first one arrived. Each connector gets exactly its own
/// answers back, in order, with the semantics of its own batches (see the crate documentation).
///
/// The first connector attached binds the batcher: its tenant, app, credential, endpoints and
/// HTTP client are the batcher's from then on (it keeps one token of its own for the batches);
/// building a connector of another tenant, app or credential, or a delegated one, with it fails
/// with [`ConnectorError::Config`]. Cheap to clone (clones share the queue). Needs a Tokio
/// runtime: the batches are sent by tasks of their own, so a caller that gives up never strands
/// the other mailboxes' items.
#[derive(Clone)]
pub struct SharedBatcher {
    inner: Arc<Inner>,
}

struct Inner {
    linger: Duration,
    binding: Mutex<Option<Arc<Binding>>>,
    queue: Mutex<Queue>,
    batches: AtomicU64,
    items: AtomicU64,
    failed: AtomicU64,
}

/// What the first connector attached brought: the key, the client, a token and the URL.
struct Binding {
    key: BatchKey,
    http: HttpClient,
    tokens: TokenCache<GraphTokenSource>,
    url: Url,
    rate_key: String,
}

#[derive(Default)]
struct Queue {
    /// The batch being filled: at most 20 items, the items of one call always together.
    open: Vec<Entry>,
    /// Whether a linger timer will send `open`.
    timer_armed: bool,
}

/// One waiting item: its request, where its answer goes, and (on one item of each call) the
/// mailbox's concurrency slots, released when the batch carrying it is done.
struct Entry {
    request: Map<String, Value>,
    reply: oneshot::Sender<Result<Answer, ConnectorError>>,
    _slots: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for SharedBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.inner.binding().map(|b| b.key.clone());
        f.debug_struct("SharedBatcher")
            .field("linger", &self.inner.linger)
            .field("bound_to", &key)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for SharedBatcher {
    fn default() -> Self {
        SharedBatcher::new()
    }
}

impl SharedBatcher {
    /// A batcher with the default linger ([`DEFAULT_BATCH_LINGER`], 5 ms).
    pub fn new() -> Self {
        SharedBatcher::with_linger(DEFAULT_BATCH_LINGER)
    }

    /// A batcher whose first item waits at most `linger` for others. Longer fills batches
    /// better when writes trickle in; every write waits up to that long more. Zero still
    /// gathers what arrives while the scheduler runs other tasks.
    pub fn with_linger(linger: Duration) -> Self {
        SharedBatcher {
            inner: Arc::new(Inner {
                linger,
                binding: Mutex::new(None),
                queue: Mutex::new(Queue::default()),
                batches: AtomicU64::new(0),
                items: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// The linger.
    pub fn linger(&self) -> Duration {
        self.inner.linger
    }

    /// Batches and items sent so far.
    pub fn stats(&self) -> SharedBatchStats {
        SharedBatchStats {
            batches: self.inner.batches.load(Ordering::Relaxed),
            items: self.inner.items.load(Ordering::Relaxed),
            failed_batches: self.inner.failed.load(Ordering::Relaxed),
        }
    }

    /// Whether two handles are the same batcher.
    pub fn same_as(&self, other: &SharedBatcher) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Admits a connector of `config` sending through `http`: binds the batcher on first use,
    /// refuses a connection whose token would differ.
    pub(crate) fn attach(&self, config: &GraphConfig, http: &HttpClient) -> Result<(), ConnectorError> {
        let key = BatchKey::of(config)?;
        let mut binding = self.inner.binding.lock().unwrap_or_else(PoisonError::into_inner);
        match binding.as_ref() {
            Some(b) if b.key == key => Ok(()),
            Some(_) => Err(ConnectorError::Config {
                message: "this shared batcher already serves another tenant, app or credential: give each \
                          app-only connection its own"
                    .to_owned(),
            }),
            None => {
                let url = config.graph_base_url()?;
                let url = Url::parse(&format!("{}/$batch", url.as_str().trim_end_matches('/')))
                    .map_err(|e| ConnectorError::Config { message: format!("invalid Graph URL: {e}") })?;
                tandem_connector::http::check_endpoint(&url)?;
                let tokens = TokenCache::new(GraphTokenSource::new(config, http)?);
                // The shared batches get a rate key of their own, without a client-side limit:
                // a connector's own batches are limited per mailbox, not by the client's default
                // per-host limit (10 per second), and the shared ones must not fall back to it,
                // as one stream carries every mailbox. What is limited stays limited: each
                // connector takes its mailbox's budget (one unit per item) and slots before its
                // items join a batch.
                let rate_key = format!("graph:$batch:{}:{}", key.tenant, key.client_id);
                http.set_rate_limit(rate_key.clone(), None);
                *binding = Some(Arc::new(Binding { key, http: http.clone(), tokens, url, rate_key }));
                Ok(())
            }
        }
    }

    /// Queues the requests of one call (at most 20; they always travel in one batch) and waits
    /// for their answers, in order. `slots` are the mailbox's concurrency slots, held until the
    /// batch is done.
    pub(crate) async fn submit(
        &self,
        requests: Vec<Map<String, Value>>,
        slots: OwnedSemaphorePermit,
    ) -> Vec<Result<Answer, ConnectorError>> {
        let n = requests.len();
        let fail = |message: &str| vec![Err(ConnectorError::Config { message: message.to_owned() }); n];
        if n == 0 {
            return Vec::new();
        }
        if n > MAX_BATCH {
            return fail("more than 20 requests in one call to the shared batcher");
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return fail("the shared batcher needs a Tokio runtime");
        };
        let mut slots = Some(slots);
        let mut receivers = Vec::with_capacity(n);
        let mut entries = Vec::with_capacity(n);
        for request in requests {
            let (reply, rx) = oneshot::channel();
            receivers.push(rx);
            entries.push(Entry { request, reply, _slots: slots.take() });
        }
        let mut ready = Vec::new();
        {
            let mut queue = self.inner.queue();
            // A call never straddles two batches: Graph counts a mailbox's slots per batch
            // (`min(n, 4)` each), so splitting one call's items could take more slots than the
            // connector holds. Send what waits first when the call does not fit.
            if queue.open.len() + n > MAX_BATCH {
                ready.push(std::mem::take(&mut queue.open));
            }
            queue.open.extend(entries);
            if queue.open.len() >= MAX_BATCH {
                ready.push(std::mem::take(&mut queue.open));
            } else if !queue.timer_armed {
                queue.timer_armed = true;
                runtime.spawn(linger_then_send(self.inner.clone()));
            }
        }
        for batch in ready.into_iter().filter(|b| !b.is_empty()) {
            runtime.spawn(send(self.inner.clone(), batch));
        }
        let mut answers = Vec::with_capacity(n);
        for rx in receivers {
            answers.push(rx.await.unwrap_or_else(|_| {
                Err(ConnectorError::Transient { message: "the shared batch was dropped before it answered".to_owned() })
            }));
        }
        answers
    }
}

impl Inner {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn binding(&self) -> Option<Arc<Binding>> {
        self.binding.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Sends what waits once the linger has passed (what a full batch left behind included).
async fn linger_then_send(inner: Arc<Inner>) {
    tokio::time::sleep(inner.linger).await;
    let batch = {
        let mut queue = inner.queue();
        queue.timer_armed = false;
        std::mem::take(&mut queue.open)
    };
    if !batch.is_empty() {
        send(inner, batch).await;
    }
}

/// Sends one batch and routes each answer to its caller.
async fn send(inner: Arc<Inner>, entries: Vec<Entry>) {
    let Some(binding) = inner.binding() else {
        let e = ConnectorError::Config { message: "the shared batcher serves no connection yet".to_owned() };
        for entry in entries {
            let _ = entry.reply.send(Err(e.clone()));
        }
        return;
    };
    inner.batches.fetch_add(1, Ordering::Relaxed);
    inner.items.fetch_add(u64::try_from(entries.len()).unwrap_or(u64::MAX), Ordering::Relaxed);
    let body = batch_body(entries.iter().map(|e| e.request.clone()));
    let whole = match binding.post(&body).await {
        Ok(answer) if answer.status == 200 => {
            let mut answers = batch_answers(&answer.body);
            for (n, entry) in entries.into_iter().enumerate() {
                let answer = answers.remove(&n).ok_or_else(|| ConnectorError::Transient {
                    message: "the batch response has no answer for this request".to_owned(),
                });
                // A caller that gave up has dropped its receiver: nothing to tell it.
                let _ = entry.reply.send(answer);
            }
            return;
        }
        // Refused as a whole with 429: nothing ran. Each item gets the 429 (with its
        // `Retry-After`) as its answer, and its own connector retries it within its own bounds.
        Ok(answer) if answer.status == 429 => Ok(answer),
        Ok(answer) => Err(answer.error().unwrap_or(ConnectorError::Transient {
            message: format!("unexpected $batch answer: HTTP {}", answer.status),
        })),
        Err(e) => Err(e),
    };
    if whole.is_err() {
        inner.failed.fetch_add(1, Ordering::Relaxed);
    }
    for entry in entries {
        let _ = entry.reply.send(whole.clone());
    }
}

impl Binding {
    /// `POST /$batch` with the batcher's token; on a 401 (nothing ran), one refresh and one
    /// more try, as a connector's own requests do.
    async fn post(&self, body: &Value) -> Result<Answer, ConnectorError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ConnectorError::Transient { message: format!("could not encode the batch: {e}") })?;
        let spec = RequestSpec::new(Method::POST, self.url.clone())
            .body(bytes, HeaderValue::from_static("application/json"))
            .rate_key(self.rate_key.clone())
            .template("/$batch");
        let token = self.tokens.token().await?;
        let response = self.http.send_unmapped(spec.clone().bearer_auth(&token)).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(Answer::from_response(&response));
        }
        tracing::debug!("401 on a shared $batch: refreshing the token once");
        self.tokens.invalidate_if_current(&token).await;
        let token = self.tokens.token().await?;
        let response = self.http.send_unmapped(spec.bearer_auth(&token)).await?;
        Ok(Answer::from_response(&response))
    }
}
