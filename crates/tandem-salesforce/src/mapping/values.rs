//! A row's values: text and flags read from the JSON Salesforce returns (an error, never a panic,
//! for the wrong type), text written back, and Salesforce's datetime format both ways.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tandem_core::fields::{FieldKey, FieldValue};

pub(super) fn text_value(key: &FieldKey, value: &Option<FieldValue>) -> Result<Value, String> {
    match value {
        None => Ok(Value::Null),
        Some(FieldValue::Text(t)) => Ok(Value::String(t.clone())),
        Some(other) => Err(format!("`{key}` cannot be {other:?}")),
    }
}

/// A text field of a row: `None` for null or missing, an error for other types.
pub(crate) fn text(row: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("field `{field}` is not text: {}", kind_of(other))),
    }
}

pub(super) fn flag(row: &Map<String, Value>, field: &str) -> Result<bool, String> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("field `{field}` is not a boolean: {}", kind_of(other))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parses Salesforce's datetime format (`2026-01-05T09:00:00.000+0000`), and RFC 3339.
pub(crate) fn parse_datetime(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{s}` is not a Salesforce datetime"))
}

/// Formats a datetime as Salesforce writes it: `2026-01-05T09:00:00.000+0000`.
pub(crate) fn format_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}
