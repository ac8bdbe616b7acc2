//! Applying query options to rendered entities: `$select` (and its `@odata.context` suffix) and
//! the `$orderby` sort, with the value comparisons `$filter` shares.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::super::util::parse_instant;
use super::options::Options;

// --- $select --------------------------------------------------------------------------------

/// Keeps the selected properties of an entity, plus `id`, annotations (`@odata.etag`,
/// `@odata.type`, `@removed`) and expanded navigation properties.
pub(crate) fn apply_select(value: Value, options: &Options) -> Value {
    let Some(select) = &options.select else { return value };
    if select.iter().any(|s| s == "*") {
        return value;
    }
    let Value::Object(map) = value else { return value };
    let keep = |k: &str| {
        k == "id"
            || k.starts_with('@')
            || select.iter().any(|s| s == k)
            || (k == "singleValueExtendedProperties" && options.expand_ext.is_some())
            || (k == "exceptionOccurrences" && options.expand_exceptions)
    };
    Value::Object(map.into_iter().filter(|(k, _)| keep(k)).collect::<Map<String, Value>>())
}

/// The `(a,b)` suffix Graph adds to `@odata.context` for a `$select`.
pub(crate) fn context_suffix(options: &Options) -> String {
    match &options.select {
        Some(list) if !list.is_empty() => format!("({})", list.join(",")),
        _ => String::new(),
    }
}

// --- $orderby -------------------------------------------------------------------------------

pub(super) fn at_path<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = value;
    for s in path {
        v = v.get(s.as_str())?;
    }
    Some(v)
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal)
        }
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::String(x)), Some(Value::String(y))) => compare_strings(x, y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

pub(super) fn compare_strings(x: &str, y: &str) -> Ordering {
    match (parse_instant(x), parse_instant(y)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => x.to_lowercase().cmp(&y.to_lowercase()),
    }
}

/// Sorts rendered entities by `$orderby` (stable).
pub(crate) fn sort(items: &mut [Value], options: &Options) {
    if options.orderby.is_empty() {
        return;
    }
    items.sort_by(|a, b| {
        for (path, desc) in &options.orderby {
            let o = compare_values(at_path(a, path), at_path(b, path));
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}
