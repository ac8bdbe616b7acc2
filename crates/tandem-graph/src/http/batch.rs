//! A mailbox's JSON batches: chunks of 20, per-item 429 retries, and the two ways a round is
//! sent — a `POST /$batch` of the connector's own, or through the cross-mailbox coalescer
//! ([`crate::SharedBatcher`]) when the connector shares one.
//!
//! Both ways give the same semantics to the caller: one answer per item, in order; items
//! answered 429 sent again after the longest `Retry-After` (bounded rounds and wait); a batch
//! failing as a whole fails each item it carried; at most `max_concurrency` slots per mailbox
//! (a batch of `n` of the mailbox's items holds `min(n, 4)`); one unit of the mailbox's budget
//! per item.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderValue;
use tandem_connector::ConnectorError;
use tandem_connector::http::RequestSpec;

use super::{Answer, GraphHttp, Item};
use crate::answer::{batch_answers, batch_body};
use crate::coalesce::SharedBatcher;

/// Requests per `$batch`, Graph's limit.
pub(crate) const MAX_BATCH: usize = 20;

/// Items of one `$batch` Graph runs in parallel for a mailbox.
pub(crate) const BATCH_PARALLELISM: usize = 4;

/// What one round gave for one item.
type Outcome = (usize, Result<Answer, ConnectorError>);

fn no_answer() -> ConnectorError {
    ConnectorError::Transient { message: "the batch response has no answer for this request".to_owned() }
}

/// Whether an item's answer asks for the item to be sent again later.
fn throttled(a: &Answer) -> bool {
    a.status == 429 || (a.status == 503 && a.retry_after().is_some())
}

/// Whether a delta page's answer from a batch item stands: not throttled and not failed on the
/// service's side (those are read again alone).
fn page_carried(a: &Answer) -> bool {
    !throttled(a) && a.status < 500
}

impl GraphHttp {
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
                let mut again = Vec::new();
                let mut wait = Duration::ZERO;
                for (i, outcome) in self.round(items, &pending).await {
                    if let Ok(a) = &outcome
                        && throttled(a)
                    {
                        wait = wait.max(a.retry_after().unwrap_or(Duration::from_secs(1)));
                        again.push(i);
                    }
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(outcome);
                    }
                }
                if again.is_empty() || round >= self.max_item_retries || wait > self.max_retry_wait {
                    break;
                }
                round += 1;
                tracing::debug!(
                    items = again.len(),
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "batch items throttled; retrying them"
                );
                tokio::time::sleep(wait).await;
                pending = again;
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ConnectorError::Transient { message: "not sent".to_owned() })))
            .collect()
    }

    /// Sends the items at `indices` (at most 20) once, and gives each its outcome.
    async fn round(&self, items: &[Item], indices: &[usize]) -> Vec<Outcome> {
        match &self.shared {
            Some(shared) => self.shared_round(shared, items, indices).await,
            None => match self.batch_once(items, indices).await {
                Err(e) => indices.iter().map(|i| (*i, Err(e.clone()))).collect(),
                Ok(mut answers) => indices.iter().map(|i| (*i, answers.remove(i).ok_or_else(no_answer))).collect(),
            },
        }
    }

    /// The items at `indices` through the shared coalescer. The connector pays for them exactly
    /// as for a batch of its own: one unit of the mailbox's budget per item and `min(n, 4)` of
    /// its concurrency slots, held until the shared batch that carries them has answered (the
    /// coalescer keeps the items of one call in one batch, so the slots Graph counts for the
    /// mailbox in that batch never exceed the slots held).
    async fn shared_round(&self, shared: &SharedBatcher, items: &[Item], indices: &[usize]) -> Vec<Outcome> {
        let fail_all = |e: ConnectorError| indices.iter().map(|i| (*i, Err(e.clone()))).collect::<Vec<_>>();
        let cost = u32::try_from(indices.len()).unwrap_or(u32::MAX);
        if let Err(e) = self.reserve(cost).await {
            return fail_all(e);
        }
        let wanted = indices.len().clamp(1, BATCH_PARALLELISM).min(self.max_permits);
        let permit = match self.permits.clone().acquire_many_owned(u32::try_from(wanted).unwrap_or(1)).await {
            Ok(p) => p,
            Err(_) => return fail_all(ConnectorError::Transient { message: "connector shut down".to_owned() }),
        };
        let requests = indices.iter().filter_map(|i| items.get(*i)).map(Item::request).collect();
        let answers = shared.submit(requests, permit).await;
        let mut answers = answers.into_iter();
        indices.iter().map(|i| (*i, answers.next().unwrap_or_else(|| Err(no_answer())))).collect()
    }

    /// A delta page (`GET` of a delta or next link): through the shared batcher when the
    /// connector shares one, so that a quiet cycle's delta calls of many mailboxes travel twenty
    /// to a batch, else (and whenever the item is throttled, fails on the service's side or the
    /// batch fails as a whole) a plain `GET`, which the shared client retries honouring
    /// `Retry-After`. A GET is safe to send again; the page answers the same until the round's
    /// delta link is used.
    pub(crate) async fn delta_page(&self, url: url::Url, template: &str) -> Result<Answer, ConnectorError> {
        let base = self.base.as_str().trim_end_matches('/');
        let relative = url.as_str().strip_prefix(base).filter(|r| r.starts_with('/')).map(str::to_owned);
        if let (Some(shared), Some(relative)) = (&self.shared, relative) {
            let item = Item { page_size: Some(self.page_size), ..Item::get(relative) };
            let outcome = self.shared_round(shared, std::slice::from_ref(&item), &[0]).await.into_iter().next();
            match outcome {
                Some((_, Ok(a))) if page_carried(&a) => return Ok(a),
                Some((_, Ok(a))) => {
                    tracing::debug!(status = a.status, "delta page in a shared batch failed; sending it alone")
                }
                Some((_, Err(e))) => {
                    tracing::debug!(error = %e, "shared batch with a delta page failed; sending it alone")
                }
                None => {}
            }
        }
        self.get(url, template, true).await
    }

    /// Several delta pages (of one mailbox's objects) as the items of one `$batch` (through the
    /// shared batcher when the connector shares one). One answer per URL, in order; `None` where
    /// the page must be read alone: a URL outside the Graph base, an item throttled or failed on
    /// the service's side, or a batch that failed as a whole (see [`GraphHttp::delta_page`]).
    pub(crate) async fn delta_pages(&self, urls: &[url::Url]) -> Vec<Option<Answer>> {
        let base = self.base.as_str().trim_end_matches('/');
        let relative: Vec<Option<String>> = urls
            .iter()
            .map(|url| url.as_str().strip_prefix(base).filter(|r| r.starts_with('/')).map(str::to_owned))
            .collect();
        let items: Vec<Item> = relative
            .iter()
            .flatten()
            .map(|r| Item { page_size: Some(self.page_size), ..Item::get(r.clone()) })
            .collect();
        let mut answers = self.batch(&items).await.into_iter();
        relative
            .iter()
            .map(|r| {
                r.as_ref()?;
                match answers.next() {
                    Some(Ok(a)) if page_carried(&a) => Some(a),
                    Some(Ok(a)) => {
                        tracing::debug!(status = a.status, "delta page in a batch failed; reading it alone");
                        None
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "batch with a delta page failed; reading it alone");
                        None
                    }
                    None => None,
                }
            })
            .collect()
    }

    /// One `POST /$batch` of the connector's own with the items at `indices`; answers keyed by
    /// item index. A throttled batch as a whole ran nothing and is sent again.
    async fn batch_once(&self, items: &[Item], indices: &[usize]) -> Result<HashMap<usize, Answer>, ConnectorError> {
        let present: Vec<usize> = indices.iter().copied().filter(|i| *i < items.len()).collect();
        let body = batch_body(present.iter().filter_map(|i| items.get(*i)).map(Item::request));
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| ConnectorError::Transient { message: format!("could not encode the batch: {e}") })?;
        let url = self.url("/$batch")?;
        let permits = u32::try_from(present.len().min(BATCH_PARALLELISM)).unwrap_or(1);
        let cost = u32::try_from(present.len()).unwrap_or(u32::MAX);
        let mut attempt = 0;
        loop {
            let spec = RequestSpec::new(Method::POST, url.clone())
                .body(bytes.clone(), HeaderValue::from_static("application/json"))
                .template("/$batch");
            let answer = self.send(spec, permits, cost).await?;
            if answer.status == 200 {
                // Positions in the request back to item indices.
                return Ok(batch_answers(&answer.body)
                    .into_iter()
                    .filter_map(|(n, a)| present.get(n).map(|i| (*i, a)))
                    .collect());
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
