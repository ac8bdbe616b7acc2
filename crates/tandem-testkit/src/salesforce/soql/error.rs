//! Query errors in Salesforce's terms, and the `MALFORMED_QUERY` shorthand.

/// A query error in Salesforce's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoqlError {
    /// `MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`.
    pub(crate) code: &'static str,
    /// The message.
    pub(crate) message: String,
}

pub(crate) fn malformed(message: impl Into<String>) -> SoqlError {
    SoqlError { code: "MALFORMED_QUERY", message: message.into() }
}
