//! The `/v1.0` handlers: plain API requests (with the mailbox concurrency accounting shared
//! with running batches), `POST /$batch` (holding concurrency slots per mailbox while its items
//! run) and the fallback for paths the fake does not serve.

use std::collections::{BTreeMap, HashSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;

use super::api::{self, Req, parse_query};
use super::data::{ApiError, Reply};
use super::wire::{bearer, check_content_type, origin, parse_body, prefer, to_response};
use super::{GraphState, batch, util};

pub(super) async fn api_handler(
    State(state): State<GraphState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(reply) = check_content_type(&method, &headers, &body) {
        return to_response(reply);
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(reply) => return to_response(reply),
    };
    let path = uri.path().strip_prefix("/v1.0").unwrap_or(uri.path()).to_owned();
    let req = Req {
        method: method.as_str().to_owned(),
        path,
        query: parse_query(uri.query()),
        prefer: prefer(&headers),
        if_match: headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned),
        bearer: bearer(&headers),
        body,
        origin: origin(&headers),
    };
    let raw_user = {
        let mut parts = uri.path().split('/');
        parts.by_ref().find(|p| *p == "users");
        parts.next().map(str::to_lowercase)
    };
    let in_flight = raw_user.as_deref().map_or(0, |u| state.controls.in_flight(u));
    let mut data = state.lock();
    if let Some(user) = &raw_user
        && let Some(key) = data.mailbox_key(user)
    {
        let slots = data.batch_slots.get(&key).copied().unwrap_or(0);
        let total = in_flight.max(1) + slots;
        let peak = data.peak.entry(key).or_insert(0);
        *peak = (*peak).max(total);
        // Running batches hold slots of the mailbox too.
        if slots > 0 && total > data.config.mailbox_concurrency {
            let template = api::template_of(&req.path.trim_matches('/').split('/').collect::<Vec<_>>());
            *data.counters.entry(format!("{} {template}", req.method)).or_default() += 1;
            drop(data);
            let reply = Reply::from(ApiError::new(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            ))
            .header("Retry-After", "1");
            return to_response(reply);
        }
    }
    let (key, reply) = api::dispatch(&mut data, &req);
    *data.counters.entry(key).or_default() += 1;
    drop(data);
    to_response(reply)
}

/// Releases the concurrency slots a batch holds, also when the request is cancelled.
struct Slots {
    state: GraphState,
    held: Vec<(String, usize)>,
}

impl Drop for Slots {
    fn drop(&mut self) {
        let mut data = self.state.lock();
        for (key, n) in &self.held {
            if let Some(v) = data.batch_slots.get_mut(key) {
                *v = v.saturating_sub(*n);
            }
        }
    }
}

pub(super) async fn batch_handler(State(state): State<GraphState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(reply) = check_content_type(&Method::POST, &headers, &body) {
        return to_response(reply);
    }
    let parsed = match parse_body(&body) {
        Ok(Some(v)) => v,
        Ok(None) => return to_response(Reply::from(ApiError::new(400, "BadRequest", "Empty Payload."))),
        Err(reply) => return to_response(reply),
    };
    let limit = state.config().max_batch;
    let items = match batch::parse(&parsed, limit) {
        Ok(items) => items,
        Err(e) => {
            *state.lock().counters.entry("POST /$batch".into()).or_default() += 1;
            return to_response(Reply::from(e));
        }
    };
    // Reserve concurrency slots per mailbox: up to four items of a batch run in parallel.
    let mut per_mailbox: BTreeMap<String, usize> = BTreeMap::new();
    for item in &items {
        if let Some(m) = item.mailbox() {
            *per_mailbox.entry(m).or_default() += 1;
        }
    }
    let in_flight: Vec<(String, usize, usize)> = per_mailbox
        .into_iter()
        .map(|(m, n)| {
            let f = state.controls.in_flight(&m);
            (m, n, f)
        })
        .collect();
    let mut throttled = HashSet::new();
    let slots = {
        let mut data = state.lock();
        *data.counters.entry("POST /$batch".into()).or_default() += 1;
        data.batch_sizes.push(items.len());
        let cap = data.config.mailbox_concurrency;
        let mut held = Vec::new();
        for (m, n, controls_in_flight) in in_flight {
            let Some(key) = data.mailbox_key(&m) else { continue };
            let used = controls_in_flight + data.batch_slots.get(&key).copied().unwrap_or(0);
            if used >= cap {
                throttled.insert(key.clone());
                let peak = data.peak.entry(key).or_insert(0);
                *peak = (*peak).max(used + 1);
                continue;
            }
            let take = n.min(cap - used).min(4);
            *data.batch_slots.entry(key.clone()).or_default() += take;
            let peak = data.peak.entry(key.clone()).or_insert(0);
            *peak = (*peak).max(used + take);
            held.push((key, take));
        }
        Slots { state: state.clone(), held }
    };
    let latency = state.config().batch_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let origin = origin(&headers);
    let (responses, lost) = {
        let mut data = state.lock();
        let responses = batch::execute(&mut data, &items, bearer(&headers), &origin, &throttled);
        let lost = data.lose_batch_responses > 0;
        if lost {
            data.lose_batch_responses -= 1;
        }
        (responses, lost)
    };
    drop(slots);
    if lost {
        return to_response(Reply::from(ApiError::new(504, "UnknownError", "Gateway timeout.")));
    }
    to_response(Reply::json(200, responses))
}

pub(super) async fn fallback(uri: Uri) -> Response {
    let segment = uri.path().trim_start_matches('/').split('/').nth(1).unwrap_or_default().to_owned();
    let body = util::error_body("BadRequest", &format!("Resource not found for the segment '{segment}'."));
    to_response(Reply::json(400, body))
}
