//! The shapes the routes answer in: collection pages, entity replies, `@odata.context`, page
//! sizes and the shared errors.

use serde_json::{Map, Value, json};

use crate::graph::data::{ApiError, Data, Reply};
use crate::graph::query::{self, Options};

use super::request::Req;

pub(super) fn method_not_allowed() -> ApiError {
    ApiError::new(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

pub(super) fn page_size(data: &Data, req: &Req) -> usize {
    let asked = req.prefer.max_page_size.or_else(|| req.param("$top").and_then(|t| t.parse().ok()));
    asked.unwrap_or(data.config.default_page_size).clamp(1, data.config.max_page_size.max(1))
}

/// `@odata.context` for a metadata fragment (`users('…')/contacts`, `Collection(event)`).
pub(super) fn context(req: &Req, fragment: &str) -> Value {
    json!(format!("{}/v1.0/$metadata#{fragment}", req.origin))
}

/// The `/users/{id}` segment as the request spelled it, for `@odata.context`.
pub(super) fn user_segment(req: &Req) -> String {
    req.path.trim_matches('/').split('/').nth(1).unwrap_or_default().to_owned()
}

/// A collection page with `@odata.context`, `$select` applied, `@odata.count` when asked and
/// `@odata.nextLink` by `$skip`. `fragment` names the entity set.
pub(super) fn list_page(data: &Data, req: &Req, items: Vec<Value>, fragment: &str, options: &Options) -> Reply {
    let size = page_size(data, req);
    let skip: usize = req.param("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(skip).take(size).map(|v| query::apply_select(v, options)).collect();
    let mut body = Map::new();
    body.insert("@odata.context".into(), context(req, &format!("{fragment}{}", query::context_suffix(options))));
    if options.count {
        body.insert("@odata.count".into(), json!(total));
    }
    body.insert("value".into(), Value::Array(page));
    if skip + size < total {
        let mut query: Vec<(&str, &str)> =
            req.query.iter().filter(|(k, _)| k != "$skip").map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let next = (skip + size).to_string();
        query.push(("$skip", &next));
        body.insert("@odata.nextLink".into(), json!(req.link(&req.path, &query)));
    }
    Reply::json(200, Value::Object(body))
}

/// The query options of a collection GET.
pub(super) const LIST_OPTIONS: &[&str] = &["$select", "$filter", "$orderby", "$top", "$skip", "$count", "$expand"];
/// The query options of an item GET.
pub(super) const ITEM_OPTIONS: &[&str] = &["$select", "$expand"];

/// An item answer with its `@odata.context` and `$select` applied.
pub(super) fn entity_reply(status: u16, req: &Req, value: Value, fragment: &str, options: &Options) -> Reply {
    let mut value = query::apply_select(value, options);
    if let Value::Object(map) = &mut value {
        let suffix = query::context_suffix(options);
        let fragment =
            if suffix.is_empty() { format!("{fragment}/$entity") } else { format!("{fragment}{suffix}/$entity") };
        map.insert("@odata.context".into(), context(req, &fragment));
    }
    Reply::json(status, value)
}
