//! # tandem-ews: Exchange mailboxes over Exchange Web Services (SOAP 1.1)
//!
//! What lives here: [`EwsConnector`], the [`tandem_connector::Connector`] for one Exchange
//! mailbox's contacts and calendar, and everything EWS-specific it needs: authentication
//! ([`EwsAuth`]: NTLM, Basic, OAuth bearer tokens), impersonation (`ExchangeImpersonation` and
//! `X-AnchorMailbox` on every call), SOAP envelopes built and parsed with quick-xml
//! ([`xml`]), `SyncFolderItems` change feeds, `GetItem`/`FindItem` reads, `CreateItem`/
//! `UpdateItem`/`DeleteItem` writes, and the translation of `t:Contact` and `t:CalendarItem`
//! to and from the canonical model.
//!
//! What must never live here: sync decisions (the planner in `tandem-core` makes them), state
//! (the engine and the store keep it; this crate's cursors are opaque bytes it hands back),
//! generic HTTP plumbing (retries, rate limits, token caching and endpoint checks come from
//! `tandem_connector::http`), and secrets in logs, errors or `Debug` output.
//!
//! Crates chosen:
//!
//! - **quick-xml** (writer and event reader) rather than the Thunderbird `ews` crate: that
//!   crate's `RealItem::CalendarItem` and `RealItem::Contact` reuse its *mail* struct, so the
//!   calendar and contact properties this connector maps (Start/End and their zones,
//!   attendees, recurrence, modified and deleted occurrences, email/phone/address
//!   dictionaries…) are absent, and its operation traits are sealed. Requests are written
//!   through `quick_xml::Writer`, which escapes every text and attribute value (no string
//!   concatenation of values); responses are read into a small tree with a size bound
//!   ([`EwsConfig::max_response_bytes`]), a depth bound, DTDs and unknown entities refused, and
//!   every failure a typed error, never a panic.
//! - **sspi** (Devolutions' SSPI in Rust) for NTLM: the client side of
//!   `InitializeSecurityContext` produces the Type 1 and Type 3 messages; no NTLM crypto is
//!   written here. NTLM authenticates a connection, so it runs over a dedicated HTTP/1.1
//!   keep-alive client ([`auth`]).
//! - `tandem_core::interchange::{windows_to_iana, iana_to_windows}` (CLDR `windowsZones`) for
//!   Windows zone ids ⇄ IANA, as the Graph connector does; `chrono-tz` for zone arithmetic.
//!
//! **Panic safety.** Every response is untrusted: a body that is too large, not well-formed, a
//! SOAP Fault or an unexpected shape is a [`tandem_connector::ConnectorError`]; an item that
//! cannot be mapped becomes `ChangeKind::Invalid` with a reason (the planner quarantines it).
//! Times meet chrono only through checked operations (`tandem_core::guard::local_time`).
//!
//! # Reading
//!
//! - **Contacts** come from one folder under Contacts ([`EwsConfig::contact_folder`], default
//!   `Salesforce_Sync`, found with `FindFolder` and created with `CreateFolder` when missing);
//!   **events** from the `calendar` distinguished folder.
//! - Each [`pull`](tandem_connector::Connector::pull) page is one `SyncFolderItems` call
//!   (`IdOnly`, `MaxChangesReturned` 512); the page is `done` when `IncludesLastItemInRange` is
//!   true, so the engine loops until then. Created and updated ids are read with `GetItem` in
//!   batches of [`EwsConfig::get_item_batch`] (10, Microsoft's advice) with the mapped
//!   properties and the sync-key extended property; ids gone meanwhile are deletes.
//! - **Series**: a recurring master's `Recurrence` becomes one RRULE; its
//!   `ModifiedOccurrences` are read with `GetItem` and become overrides keyed by
//!   `OriginalStart`; its `DeletedOccurrences` become cancellations.
//! - **Cursors** are this crate's JSON: the folder and the `SyncState`. A cursor of another
//!   folder, `ErrorInvalidSyncStateData` or `ErrorSyncFolderNotFound` is
//!   [`tandem_connector::ConnectorError::CursorExpired`].
//! - [`find_by_key`](tandem_connector::Connector::find_by_key) is `FindItem` with `IsEqualTo`
//!   on the sync-key property.
//!
//! # Writing
//!
//! - Creates go in one multi-item `CreateItem` (`SavedItemFolderId`, the key in the extended
//!   property [`SyncKeyProperty`], `SendMeetingInvitations="SendToNone"` unless
//!   [`EwsConfig::send_invitations`]).
//! - Updates go in one `UpdateItem` with `SetItemField`/`DeleteItemField` for the patch's
//!   fields only, `ConflictResolution="NeverOverwrite"` and the expected `ChangeKey`;
//!   `ErrorIrresolvableConflict` is `PreconditionFailed`. Attendee patches (one attendee each)
//!   are applied to the current list (read just before, its change key checked) and written as
//!   whole `RequiredAttendees`/`OptionalAttendees`/`Resources`.
//! - Deletes go in one `DeleteItem` (`MoveToDeletedItems`, `SendMeetingCancellations=
//!   "SendToNone"`); an item already gone counts as deleted.
//! - One result per write, in order; a failed call fails its own writes only.
//! - **Series**: after the master is created or updated (its pattern is written only when it
//!   changes: Exchange drops a series' exceptions on a new pattern), its occurrences are brought
//!   to the record's overrides and cancellations (EXDATEs are cancellations), compared with the
//!   series as it is (`GetItem` with `ModifiedOccurrences`/`DeletedOccurrences`): changed ones in
//!   one `UpdateItem` (`AlwaysOverwrite`) and cancelled ones in one `DeleteItem`, each addressed
//!   with `OccurrenceItemId` (`RecurringMasterId`, the 1-based `InstanceIndex` of its original
//!   start in the rule's expansion). The version answered is the master's `ChangeKey` read
//!   afterwards. RDATEs cannot be expressed in EWS: such records are rejected (quarantined) with
//!   the reason.
//!
//! # Concurrency
//!
//! At most [`EwsConfig::max_concurrency`] calls in flight per mailbox (per connector) and at most
//! [`EwsConfig::max_account_concurrency`] per (endpoint, service account), a bound shared by every
//! connector of that account in the process (Exchange's `EWSMaxConcurrency` counts both).
//!
//! # Errors
//!
//! `ErrorServerBusy` (with `BackOffMilliseconds`), HTTP 429 and 503 → throttled;
//! `ErrorInvalidSyncStateData`/`ErrorSyncFolderNotFound` → cursor expired;
//! `ErrorIrresolvableConflict`/`ErrorStaleObject` → precondition failed; `ErrorItemNotFound` →
//! not found; `ErrorImpersonateUserDenied`/`ErrorAccessDenied`/401/403 → auth; schema and
//! validation errors and other item errors → rejected; internal and transient server errors,
//! unreadable answers → transient.

pub mod auth;
mod config;
mod connector;
mod cursor;
mod factory;
mod map;
mod read;
mod series;
mod write;
pub mod xml;

#[cfg(test)]
mod tests;

pub use config::{EwsAuth, EwsConfig, SYNC_KEY_PROPERTY_NAME, SYNC_KEY_PROPERTY_SET, SyncKeyProperty};
pub use connector::{EwsConnector, ews_capabilities};
pub use factory::EwsBuilder;
pub use read::MAX_CHANGES_RETURNED;
