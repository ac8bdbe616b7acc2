//! # tandem-graph: Microsoft 365 mailboxes over Microsoft Graph v1.0
//!
//! What lives here: [`GraphConnector`], the [`tandem_connector::Connector`] for one mailbox's
//! contacts and calendar, and everything Graph-specific it needs: authentication against the
//! Microsoft identity platform ([`GraphAuth`]: client credentials with a certificate assertion or
//! a client secret, and the authorization code flow with PKCE and refresh tokens,
//! [`auth::AuthorizationRequest`]), delta reading, JSON batch writing, and the translation of
//! Graph's JSON to and from the canonical model.
//!
//! What must never live here: sync decisions (the planner in `tandem-core` makes them), state
//! (the engine and the store keep it; this crate's cursors are opaque bytes it hands back),
//! generic HTTP plumbing (retries, rate limits, token caching and endpoint checks come from
//! `tandem_connector::http`), and secrets in logs, errors or cursors' `Debug` output.
//!
//! Crates chosen: `oauth2` for the token requests (through
//! [`tandem_connector::http::OAuthHttp`]; certificate credentials go through its extra
//! parameters as `client_assertion_type`/`client_assertion`), `jsonwebtoken` (aws-lc-rs) to sign
//! client assertions, `sha1`/`sha2`/`base64` for certificate thumbprints, `chrono-tz` and
//! `tandem_core::interchange::{windows_to_iana, iana_to_windows}` for zones, `serde_json` for
//! the wire format, `uuid` for assertion ids.
//!
//! **Panic safety.** Every row Graph returns is untrusted: a row that cannot be mapped becomes
//! `ChangeKind::Invalid` with a reason (the planner quarantines it), never a panic. Times meet
//! chrono only through checked operations (`tandem_core::guard::local_time` for zone shifts,
//! `checked_add_signed` for occurrence ends), since `naive_local` and `+` panic at the ends of
//! chrono's range, which `+262142-12-31T23:59:59` reaches; the RRULE reader splits on
//! characters, not bytes. `tests/panic_safety.rs` (property tests) and the cargo-fuzz targets in
//! `crates/tandem-fuzz` (entry points in the hidden `fuzzing` module) check it.
//!
//! # Reading
//!
//! - **Contacts**: `GET /users/{mailbox}/contactFolders/{folder}/contacts/delta` on one folder
//!   (display name [`GraphConfig::contact_folder`], default `Tandem`, created when missing): only
//!   contacts in it flow to the CRM, and CRM contacts are written there. Rows with `@removed`
//!   are deletes; rows that lack properties are read again by id.
//! - **Events**: `GET /users/{mailbox}/calendarView/delta?startDateTime&endDateTime` over a
//!   window of [`GraphConfig::window_past`] back and [`GraphConfig::window_future`] ahead, moved
//!   forward once it falls [`GraphConfig::window_roll`] behind. Every request carries
//!   `Prefer: IdType="ImmutableId"`, `outlook.timezone="UTC"`, `outlook.body-content-type="text"`
//!   and, on delta pages, `odata.maxpagesize`.
//! - **Series**: the calendar view lists occurrences and exceptions, not the series. The
//!   connector maps a series to **one record, the master**: each occurrence or exception row
//!   leads to `GET /users/{mailbox}/events/{seriesMasterId}?$expand=exceptionOccurrences` (once
//!   per round, batched), whose `recurrence` becomes the RRULE, whose exceptions become
//!   `Recurrence::overrides` keyed by `originalStart` (only the subject, location, description
//!   and timing that differ from the master), and whose `cancelledOccurrences` become
//!   `Recurrence::cancelled`. The cursor remembers which series each occurrence id belongs to
//!   (hashed), so a removed occurrence leads back to its series: the series is read again, and
//!   deleted if it is gone.
//! - **Removals**: the calendar view also reports as `@removed` events that changed *outside*
//!   the window. Each removed id that is not a known occurrence is read by id: gone means
//!   deleted; still there but outside the window means it left the window (not a delete, and not
//!   reported); inside the window it is reported as changed.
//! - **Expiry**: `410 Gone`, or `syncStateNotFound`/`resyncRequired` on 400/404, is
//!   [`tandem_connector::ConnectorError::CursorExpired`]; the engine then reads both sides in
//!   full and re-links its pairs, with no duplicates.
//! - `identity` reads the owner of the primary calendar (`GET /users/{mailbox}/calendar`), which
//!   `Calendars.ReadWrite` allows app-only and delegated alike.
//! - Cursors are this crate's JSON (the next or delta link and the series map); they carry
//!   tokens, so they are never logged, and links are only followed to the configured Graph host.
//!
//! # Writing
//!
//! - `POST /$batch` with at most 20 requests, run in parallel (no `dependsOn`: the writes of
//!   one call are independent); answers are matched by id, in any order. Items answered 429 are
//!   sent again, in a batch of their own, after the longest `Retry-After` (bounded by
//!   [`GraphConfig::max_retry_wait`]; beyond it the item fails as throttled for the engine to
//!   schedule).
//! - At most [`GraphConfig::max_concurrency`] (4) requests in flight per mailbox: a batch holds
//!   up to four slots, as Graph runs up to four of its requests at once. The mailbox's budget
//!   (10,000 requests per 10 minutes, batch items counted one by one) is tracked
//!   ([`GraphConnector::budget`]) and also set as the shared client's rate limit for the mailbox.
//! - **Shared batches across mailboxes** (opt-in for [`GraphConnector::new`], on by default in
//!   [`GraphBuilder`] for app-only connections): with [`GraphConfig::with_shared_batcher`], the
//!   batch items of every connector given the same [`SharedBatcher`] are coalesced into common
//!   `$batch` requests that mix mailboxes, sent when 20 items wait or after a short linger
//!   ([`DEFAULT_BATCH_LINGER`], 5 ms). One app-only token serves every mailbox and Graph
//!   authorises and throttles each item against its own mailbox, so at thousands of mailboxes
//!   writing a few items each, one round trip carries twenty mailboxes' writes instead of one's.
//!   Nothing else changes for a connector: it takes its mailbox's budget (one per item) and
//!   slots (`min(n, 4)`) before its items join a batch and holds them until that batch has
//!   answered; the items of one call always travel together; it maps and retries its own
//!   answers (a 429 is sent again, in a later shared batch, after its `Retry-After`, without
//!   holding up anyone else's items); a batch failing as a whole fails each item it carried,
//!   and only those; `If-Match` and `transactionId` travel untouched. Only connections with the
//!   same token may share (same authority, tenant, app, app-only method, credential and Graph
//!   host): the first connector binds the batcher, a delegated connection or another app is
//!   refused with [`tandem_connector::ConnectorError::Config`]. Delta pages join the shared
//!   batches too (a quiet cycle's delta calls of many mailboxes then cost one round trip per
//!   twenty), falling back to a plain `GET` when their item is throttled or fails on the
//!   service's side; folder lookups, `identity` and `find_by_key` stay plain, per mailbox.
//! - **Idempotency**: event creates carry `transactionId` = the plan's idempotency key; contact
//!   (and event) creates carry it in a single-value extended property
//!   ([`SYNC_KEY_PROPERTY`]). [`tandem_connector::Connector::find_by_key`] looks it up with
//!   `$filter=singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')` (for
//!   events too: filtering on `transactionId` is not documented). A 409 on an event create is
//!   resolved the same way.
//! - **Preconditions**: updates and deletes send `If-Match` with the `@odata.etag` (the
//!   record's version); 412 is `PreconditionFailed`, and the engine refetches and replans.
//! - **Series**: a created or moved series has its overrides applied by `PATCH` on the
//!   occurrences and its cancellations (and EXDATEs) by `DELETE` on them, found with
//!   `/events/{id}/instances`; the write's version is the master's etag afterwards.
//!   Changing a series' times or pattern makes Graph drop its exceptions, so they are applied
//!   again. Extra dates (RDATE) and rules Graph cannot express are rejected (quarantined).

mod answer;
pub mod auth;
mod coalesce;
mod config;
mod connector;
mod cursor;
mod factory;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod map;
mod read;
mod translate;
mod write;

pub use coalesce::{DEFAULT_BATCH_LINGER, SharedBatchStats, SharedBatcher};
pub use config::{
    AssertionAlgorithm, CLIENT_ASSERTION_TYPE, DELEGATED_SCOPES, GLOBAL_APP_SCOPE, GLOBAL_AUTHORITY, GLOBAL_GRAPH,
    GraphAuth, GraphConfig, RefreshTokenHook, SYNC_KEY_PROPERTY,
};
pub use connector::{Clock, GraphConnector, graph_capabilities};
pub use factory::GraphBuilder;
pub use http::BudgetUse;
pub use translate::MAX_TRANSLATE_IDS;
