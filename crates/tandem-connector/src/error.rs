//! The one error taxonomy every connector maps its provider's errors into.
//!
//! The engine reacts to the kind, never to provider details: it backs off on [`ConnectorError::Throttled`],
//! resyncs on [`ConnectorError::CursorExpired`], refetches and replans on
//! [`ConnectorError::PreconditionFailed`], quarantines on [`ConnectorError::Rejected`].
//! Messages carry the provider's words but never a token, key or password.

use std::time::Duration;

use tandem_core::state::{Unresolved, Version};

/// What went wrong talking to a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The provider asked us to slow down (HTTP 429, Salesforce `REQUEST_LIMIT_EXCEEDED`, Google
    /// `rateLimitExceeded`, EWS `ErrorServerBusy`). Retry after the given delay, when known.
    #[error("throttled by the provider{}", retry_hint(*retry_after))]
    Throttled {
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The change-feed cursor is no longer valid (Graph 410 / `syncStateNotFound`, Google 410,
    /// EWS `ErrorInvalidSyncStateData`, a Salesforce watermark older than the delete log).
    /// The engine performs a full resync, which re-links existing pairs.
    #[error("the change cursor expired; a full resync is needed")]
    CursorExpired,
    /// A write's version precondition failed (HTTP 412, EWS `ErrorIrresolvableConflict`).
    /// The engine refetches the record and replans it.
    #[error("the record changed since it was read{}", current.as_ref().map(|v| format!(" (now at version {})", v.as_str())).unwrap_or_default())]
    PreconditionFailed {
        /// The record's current version, when the provider says.
        current: Option<Version>,
    },
    /// The record does not exist (any more).
    #[error("record not found")]
    NotFound,
    /// Authentication or authorisation failed.
    #[error("authentication failed: {message}")]
    Auth {
        /// Whether refreshing the token may help.
        refreshable: bool,
        /// The provider's message, scrubbed of credentials.
        message: String,
    },
    /// The provider rejected this record permanently (validation, field limits, permissions on
    /// the record). Retrying will not help; the record is quarantined.
    #[error("rejected by the provider: {code}: {message}")]
    Rejected {
        /// The provider's error code (e.g. `FIELD_INTEGRITY_EXCEPTION`, `ErrorInvalidPropertyValue`).
        code: String,
        /// The provider's message.
        message: String,
    },
    /// The record was deliberately not written because the target lacks something an
    /// administrator can supply (an event that relates to no contact or lead, with the
    /// configuration skipping such events). The source record is set aside with the item and
    /// written once a recheck finds the cause gone.
    #[error("not written: {}", item.detail)]
    Unresolved {
        /// What is missing.
        item: Unresolved,
    },
    /// A temporary failure (network, 5xx, timeouts). Safe to retry later.
    #[error("temporary failure: {message}")]
    Transient {
        /// What happened.
        message: String,
    },
    /// The connector is misconfigured (bad URL, forbidden endpoint, missing setting).
    #[error("connector configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

fn retry_hint(after: Option<Duration>) -> String {
    after.map(|d| format!("; retry after {} ms", d.as_millis())).unwrap_or_default()
}

impl ConnectorError {
    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::Throttled { .. }
                | ConnectorError::Transient { .. }
                | ConnectorError::Auth { refreshable: true, .. }
        )
    }

    /// A short stable name of the kind, for reports and the store.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ConnectorError::Throttled { .. } => "throttled",
            ConnectorError::CursorExpired => "cursor_expired",
            ConnectorError::PreconditionFailed { .. } => "precondition_failed",
            ConnectorError::NotFound => "not_found",
            ConnectorError::Auth { .. } => "auth",
            ConnectorError::Rejected { .. } => "rejected",
            ConnectorError::Unresolved { .. } => "unresolved",
            ConnectorError::Transient { .. } => "transient",
            ConnectorError::Config { .. } => "config",
        }
    }
}
