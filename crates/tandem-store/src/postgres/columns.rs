//! The column lists PostgreSQL's queries read; the rows are decoded by [`crate::rows`], shared
//! with SQLite.

/// The columns [`crate::rows::pair`] reads.
pub(super) const PAIR_COLUMNS: &str = "pair_id, object, crm_id, crm_version, crm_fields, mailbox_id, \
     mailbox_version, mailbox_fields, synced_at, tombstone";

/// The columns [`crate::rows::audit`] reads (JSON as text, parsed by the codec).
pub(super) const AUDIT_COLUMNS: &str =
    "id, at, user_id, object, side, record_id, action, outcome, reason, detail::text AS detail";
