//! What the org shares with the REST layer and the crate's users: Salesforce's error
//! (`ApiError`, one entry of its error array) and its datetime format.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::super::soql::SoqlError;

/// One error of Salesforce's error array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The error code (`STRING_TOO_LONG`, `REQUIRED_FIELD_MISSING`, …).
    pub code: String,
    /// The message.
    pub message: String,
    /// The fields concerned.
    pub fields: Vec<String>,
}

impl ApiError {
    pub(crate) fn new(code: &str, message: impl Into<String>, fields: &[&str]) -> ApiError {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    /// As Salesforce's `{"message","errorCode","fields"}` (`statusCode` inside collection results).
    pub(crate) fn to_json(&self, key: &str) -> Value {
        json!({ "message": self.message, key: self.code, "fields": self.fields })
    }
}

impl std::error::Error for ApiError {}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<SoqlError> for ApiError {
    fn from(e: SoqlError) -> Self {
        ApiError { code: e.code.to_owned(), message: e.message, fields: Vec::new() }
    }
}

/// Formats a datetime as Salesforce does: `2026-01-05T09:00:00.000+0000`.
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Parses Salesforce's datetime format, or RFC 3339.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
