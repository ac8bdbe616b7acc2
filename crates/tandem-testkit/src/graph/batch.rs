//! JSON batching (`POST /v1.0/$batch`): at most 20 requests, `dependsOn`, 424 on a failed
//! dependency, per-item throttling, responses in any order, no nested batches.
//!
//! The items of one batch may address different mailboxes (`/users/A/…`, `/users/B/…`), as an
//! app-only token allows: each item is authorised against its own mailbox (a scoped app or a
//! delegated token gets 403 for a mailbox it may not reach, on that item alone), holds and is
//! throttled against its own mailbox's concurrency slots, and is counted under its own template.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value, json};

use super::api::{Req, dispatch, parse_query};
use super::data::{ApiError, Data, Reply};
use super::util::Prefer;

/// One request of a batch.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) id: String,
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Option<Value>,
    pub(crate) depends_on: Vec<String>,
}

impl Item {
    /// The mailbox key part of the item's URL (`users/{mailbox}/…`), lower-cased.
    pub(crate) fn mailbox(&self) -> Option<String> {
        let path = self.url.split('?').next().unwrap_or_default();
        let mut parts = path.trim_start_matches('/').split('/');
        (parts.next() == Some("users")).then(|| parts.next().map(str::to_lowercase)).flatten()
    }
}

fn bad(message: &str) -> ApiError {
    ApiError::new(400, "BadRequest", message)
}

/// Parses and validates a batch body.
pub(crate) fn parse(body: &Value, limit: usize) -> Result<Vec<Item>, ApiError> {
    let requests =
        body.get("requests").and_then(Value::as_array).ok_or_else(|| bad("Invalid batch payload format."))?;
    if requests.len() > limit {
        return Err(bad(&format!("Number of requests in batch exceeds the maximum of {limit}.")));
    }
    if requests.is_empty() {
        return Err(bad("Batch request must contain at least one request."));
    }
    let mut items = Vec::new();
    let mut ids = HashSet::new();
    for r in requests {
        let id = r.get("id").and_then(|v| v.as_str().map(str::to_owned).or_else(|| v.as_i64().map(|n| n.to_string())));
        let id = id.filter(|i| !i.is_empty()).ok_or_else(|| bad("Each request in a batch must have an id."))?;
        if !ids.insert(id.to_lowercase()) {
            return Err(bad("Request Id must be unique within a batch."));
        }
        let method = r.get("method").and_then(Value::as_str).ok_or_else(|| bad("Each request must have a method."))?;
        let url = r.get("url").and_then(Value::as_str).ok_or_else(|| bad("Each request must have a url."))?;
        let headers: BTreeMap<String, String> = r
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| h.iter().map(|(k, v)| (k.to_lowercase(), v.as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default();
        let depends_on: Vec<String> = r
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|d| d.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        items.push(Item {
            id,
            method: method.to_ascii_uppercase(),
            url: url.to_owned(),
            headers,
            body: r.get("body").cloned().filter(|b| !b.is_null()),
            depends_on,
        });
    }
    for item in &items {
        for dep in &item.depends_on {
            if !ids.contains(&dep.to_lowercase()) {
                return Err(bad(&format!("Request {} depends on an unknown request {dep}.", item.id)));
            }
        }
    }
    Ok(items)
}

fn item_json(id: &str, reply: &Reply) -> Value {
    let mut headers = Map::new();
    for (k, v) in &reply.headers {
        headers.insert(k.clone(), json!(v));
    }
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("status".into(), json!(reply.status));
    if let Some(body) = &reply.body {
        headers.insert("Content-Type".into(), json!("application/json"));
        out.insert("body".into(), body.clone());
    }
    out.insert("headers".into(), Value::Object(headers));
    Value::Object(out)
}

/// Runs the items in dependency order and returns the `responses` array.
///
/// `throttled` holds the mailboxes over their concurrency limit: their items answer 429.
pub(crate) fn execute(
    data: &mut Data,
    items: &[Item],
    bearer: Option<String>,
    origin: &str,
    throttled: &HashSet<String>,
) -> Value {
    let mut done: BTreeMap<String, u16> = BTreeMap::new();
    let mut responses: Vec<Value> = Vec::new();
    let mut pending: Vec<&Item> = items.iter().collect();
    while !pending.is_empty() {
        let ready = pending.iter().position(|i| i.depends_on.iter().all(|d| done.contains_key(&d.to_lowercase())));
        let Some(index) = ready else {
            // A cycle: the rest can never run.
            for item in pending.drain(..) {
                let reply = Reply::from(ApiError::new(424, "FailedDependency", "Dependency cycle."));
                responses.push(item_json(&item.id, &reply));
            }
            break;
        };
        let item = pending.remove(index);
        let failed_dep = item.depends_on.iter().any(|d| done.get(&d.to_lowercase()).is_some_and(|s| *s >= 400));
        let reply = if failed_dep {
            Reply::from(ApiError::new(424, "FailedDependency", "A request this one depends on failed."))
        } else {
            run_item(data, item, bearer.clone(), origin, throttled)
        };
        done.insert(item.id.to_lowercase(), reply.status);
        responses.push(item_json(&item.id, &reply));
    }
    if data.config.shuffle_batch_responses {
        responses.reverse();
    }
    json!({ "responses": responses })
}

fn run_item(data: &mut Data, item: &Item, bearer: Option<String>, origin: &str, throttled: &HashSet<String>) -> Reply {
    let (path, query) = match item.url.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (item.url.clone(), None),
    };
    let path = format!("/{}", path.trim_start_matches('/').trim_start_matches("v1.0/"));
    let template = super::api::template_of(&path.trim_matches('/').split('/').collect::<Vec<_>>());
    *data.counters.entry(format!("$batch: {} {template}", item.method)).or_default() += 1;
    if item.url.starts_with("http://") || item.url.starts_with("https://") {
        return Reply::from(bad("The url of a batch request must be relative."));
    }
    // JSON batches do not nest: an item addressing `$batch` is refused on its own (the rest of
    // the batch runs). The service's exact answer is unverified; 400 is its answer to a request
    // it cannot route.
    if path.trim_matches('/').eq_ignore_ascii_case("$batch") {
        return Reply::from(bad("A batch request cannot contain another batch request."));
    }
    if item.body.is_some() {
        match item.headers.get("content-type") {
            None => return Reply::from(bad("Content-Type header must be specified when a body is present.")),
            Some(ct) => {
                if let Err(e) = super::util::check_json_content_type(Some(ct)) {
                    return Reply::from(e);
                }
            }
        }
    }
    // Injected failures, oldest first.
    let body_ref = item.body.as_ref();
    if let Some(pos) = data
        .item_failures
        .iter()
        .position(|f| f.remaining > 0 && f.predicate.as_ref().is_none_or(|p| p(&item.method, &item.url, body_ref)))
        && let Some(f) = data.item_failures.get_mut(pos)
    {
        f.remaining -= 1;
        let (status, code, retry_after) = (f.status, f.code.clone(), f.retry_after);
        if f.remaining == 0 {
            data.item_failures.remove(pos);
        }
        let message =
            if status == 429 { "Application is over its MailboxConcurrency limit." } else { "Injected failure." };
        let mut reply = Reply::from(ApiError::new(status, &code, message));
        if let Some(secs) = retry_after {
            reply = reply.header("Retry-After", secs.to_string());
        }
        if status == 429 {
            data.inner_throttled += 1;
        }
        return reply;
    }
    if item.mailbox().and_then(|m| data.mailbox_key(&m)).is_some_and(|k| throttled.contains(&k)) {
        data.inner_throttled += 1;
        return Reply::from(ApiError::new(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
        ))
        .header("Retry-After", "1");
    }
    let req = Req {
        method: item.method.clone(),
        path,
        query: parse_query(query.as_deref()),
        prefer: Prefer::parse(item.headers.get("prefer").map(String::as_str)),
        if_match: item.headers.get("if-match").cloned(),
        bearer,
        body: item.body.clone(),
        origin: origin.to_owned(),
    };
    dispatch(data, &req).1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let too_many: Vec<Value> =
            (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"})).collect();
        assert_eq!(parse(&json!({"requests": too_many}), 20).unwrap_err().status, 400);
        let dup = json!({"requests": [{"id": "a", "method": "GET", "url": "/me"}, {"id": "A", "method": "GET", "url": "/me"}]});
        assert!(parse(&dup, 20).is_err());
        let ok = json!({"requests": [{"id": "1", "method": "get", "url": "/users/x@y/events", "dependsOn": []}]});
        let items = parse(&ok, 20).unwrap();
        assert_eq!(items[0].method, "GET");
        assert_eq!(items[0].mailbox().as_deref(), Some("x@y"));
    }
}
