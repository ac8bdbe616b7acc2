//! The per-request decision: which rule, if any, answers a request, and what happens after its
//! handler ran.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use tokio::time::Instant;

use super::state::ControlState;
use super::{CannedResponse, Controls, Fault, FaultRecord, RequestPredicate};

/// What happens after the handler ran.
pub(super) enum After {
    Send,
    Replace(CannedResponse),
    Hold(Duration),
}

pub(super) enum Admission {
    Reject(CannedResponse),
    Admit { slot: Option<Slot>, latency: Duration, after: After },
}

/// A held concurrency slot; frees itself on drop (also when the request is cancelled).
pub(super) struct Slot {
    controls: Controls,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.controls.lock();
        if let Some(n) = s.in_flight.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.in_flight.remove(&self.key);
            }
        }
    }
}

impl Controls {
    // --- the decision -----------------------------------------------------------------------

    pub(super) fn admit(&self, req: &Request) -> Admission {
        let method = req.method().as_str().to_owned();
        let path = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_else(|| req.uri().path().to_owned());

        // Caller-supplied functions run without the lock held, so they may use these controls.
        let (predicates, chaos_predicates, rate_key, cap_key) = {
            let mut s = self.lock();
            *s.counts.entry((method.clone(), path)).or_insert(0) += 1;
            s.total += 1;
            let predicates: Vec<(u64, RequestPredicate)> = s
                .failures
                .iter()
                .chain(s.losses.iter())
                .filter_map(|f| f.predicate.as_ref().map(|p| (f.id, Arc::clone(p))))
                .collect();
            let chaos_predicates: Vec<Option<RequestPredicate>> =
                s.chaos.as_ref().map(|c| c.rules.iter().map(|r| r.predicate.clone()).collect()).unwrap_or_default();
            let rate_key = s.rate.as_ref().and_then(|r| r.key.clone());
            let cap_key = s.cap.as_ref().map(|c| Arc::clone(&c.key));
            (predicates, chaos_predicates, rate_key, cap_key)
        };
        let matched: HashSet<u64> = predicates.into_iter().filter(|(_, p)| p(req)).map(|(id, _)| id).collect();
        let chaos_matched: Vec<bool> = chaos_predicates.iter().map(|p| p.as_ref().is_none_or(|p| p(req))).collect();
        let rate_key = rate_key.map(|k| k(req));
        let cap_key = cap_key.and_then(|k| k(req));

        let mut s = self.lock();
        let request = s.total;
        let log = |s: &mut ControlState, rule: String| {
            s.fault_log.push(FaultRecord { request, method: method.clone(), path: req.uri().path().to_owned(), rule });
        };
        let chaos = Self::draw_chaos(&mut s, &chaos_matched);
        // A chaos fault that answers in place of the handler comes before the rate limit and the
        // cap (it never reaches the "server"); injected failures and throttling come first.
        let early = Self::injected(&mut s, &matched);
        if let Some(response) = early {
            s.rejected += 1;
            return Admission::Reject(response);
        }
        let mut after = After::Send;
        if let Some((name, fault)) = chaos {
            log(&mut s, name);
            match fault {
                Fault::Answer(response) => {
                    s.rejected += 1;
                    return Admission::Reject(response);
                }
                Fault::Lose(response) => after = After::Replace(response),
                Fault::Delay(d) => after = After::Hold(d),
            }
        }
        let decision = Self::decide(&mut s, rate_key, cap_key.as_deref());
        match decision {
            Ok(slot_key) => {
                if matches!(after, After::Send)
                    && let Some(response) = Self::take_loss(&mut s, &matched)
                {
                    log(&mut s, "lose_next".to_owned());
                    after = After::Replace(response);
                }
                if matches!(after, After::Send) && !s.response_latency.is_zero() {
                    after = After::Hold(s.response_latency);
                }
                let latency = s.latency;
                drop(s);
                Admission::Admit { slot: slot_key.map(|key| Slot { controls: self.clone(), key }), latency, after }
            }
            Err(response) => {
                if !matches!(after, After::Send) {
                    // The request was not served after all: it lost no answer.
                    s.fault_log.pop();
                }
                s.rejected += 1;
                Admission::Reject(response)
            }
        }
    }

    /// One draw for the request: the chaos rule that fires, if any.
    fn draw_chaos(s: &mut ControlState, matched: &[bool]) -> Option<(String, Fault)> {
        let chaos = s.chaos.as_mut()?;
        // 53 random bits as a number in [0, 1).
        let draw = (chaos.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut below = 0.0;
        for (rule, hit) in chaos.rules.iter().zip(matched) {
            if !*hit {
                continue;
            }
            below += rule.probability.clamp(0.0, 1.0);
            if draw < below {
                return Some((rule.name.clone(), rule.fault.clone()));
            }
        }
        None
    }

    /// 2 and 3: injected failures, then throttling of the next N.
    fn injected(s: &mut ControlState, matched: &HashSet<u64>) -> Option<CannedResponse> {
        let hit = s.failures.iter().position(|f| f.remaining > 0 && (f.predicate.is_none() || matched.contains(&f.id)));
        if let Some(i) = hit
            && let Some(f) = s.failures.get_mut(i)
        {
            f.remaining -= 1;
            let response = f.response.clone();
            if f.remaining == 0 {
                s.failures.remove(i);
            }
            return Some(response);
        }
        if let Some(t) = s.throttle.as_mut() {
            t.remaining = t.remaining.saturating_sub(1);
            let response = t.response.with_retry_after(Some(t.retry_after_secs));
            if t.remaining == 0 {
                s.throttle = None;
            }
            return Some(response);
        }
        None
    }

    /// The answer that replaces the handler's, when a [`Controls::lose_next_matching`] applies.
    fn take_loss(s: &mut ControlState, matched: &HashSet<u64>) -> Option<CannedResponse> {
        let i = s
            .losses
            .iter()
            .position(|f| f.remaining > 0 && f.predicate.as_ref().is_none_or(|_| matched.contains(&f.id)))?;
        let f = s.losses.get_mut(i)?;
        f.remaining -= 1;
        let response = f.response.clone();
        if f.remaining == 0 {
            s.losses.remove(i);
        }
        Some(response)
    }

    /// 4 and 5: `Ok(slot key)` to admit, `Err(response)` to reject.
    fn decide(
        s: &mut ControlState,
        rate_key: Option<Option<String>>,
        cap_key: Option<&str>,
    ) -> Result<Option<String>, CannedResponse> {
        // 4. Sliding-window rate limit (rate_key is Some when a limit is set).
        if let Some(limit) = s.rate.clone() {
            let key = match rate_key {
                Some(Some(k)) => Some(k),
                Some(None) => None, // the key function exempts this request
                None => Some("*".to_owned()),
            };
            if let Some(key) = key {
                let now = Instant::now();
                let log = s.rate_log.entry(key).or_default();
                while log.front().is_some_and(|t| now.duration_since(*t) >= limit.window) {
                    log.pop_front();
                }
                if log.len() >= limit.max as usize {
                    let secs = limit.retry_after_secs.unwrap_or_else(|| {
                        let free_at = log.front().map_or(now, |t| *t + limit.window);
                        let wait = free_at.saturating_duration_since(now);
                        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
                    });
                    return Err(limit.response.with_retry_after(Some(secs.max(1))));
                }
                log.push_back(now);
            }
        }

        // 5. Concurrency cap.
        if let (Some(cap), Some(key)) = (s.cap.as_ref(), cap_key) {
            let limit = cap.limit;
            let rejection = cap.response.with_retry_after(cap.retry_after_secs);
            let current = s.in_flight.get(key).copied().unwrap_or(0);
            if current >= limit {
                return Err(rejection);
            }
            s.in_flight.insert(key.to_owned(), current + 1);
            let peak = s.peak.entry(key.to_owned()).or_insert(0);
            *peak = (*peak).max(current + 1);
            return Ok(Some(key.to_owned()));
        }
        Ok(None)
    }
}
