//! # tandem-google: Google Workspace calendars and contacts (Calendar v3, People v1)
//!
//! What lives here: [`GoogleConnector`], the [`tandem_connector::Connector`] for one Workspace
//! user's calendar (default `primary`) and the members of one contact group (default
//! "Salesforce Sync"), authenticated as a service account with domain-wide delegation (an RS256
//! JWT assertion with `sub` = the user and only the `calendar.events` and `contacts` scopes,
//! [`auth::SCOPES`]); the mapping of Google's JSON to and from the canonical model; change
//! feeds with sync tokens; writes with etags and client-chosen ids.
//!
//! What must never live here: sync decisions (the planner in `tandem-core`), state (cursors are
//! opaque bytes handed back to the engine), generic HTTP plumbing (`tandem_connector::http`),
//! and secrets in logs, errors or `Debug` output.
//!
//! - **Events**: `events.list` with `singleEvents=false`; the first round pages over the sync
//!   window with `pageToken`, then keeps `nextSyncToken`; 410 is `CursorExpired`. A series is
//!   one record, the master; its exceptions are read with `events.list?iCalUID=` and folded
//!   into overrides, cancelled instances into cancellations. Creates use an id derived from the
//!   idempotency key ([`event_id_for`]); updates `GET` then `PATCH` with `If-Match`.
//! - **Contacts**: `people.connections.list` with `requestSyncToken`/`syncToken`, filtered to
//!   the group's members; `batchCreateContacts`/`batchUpdateContacts` (`updateMask`,
//!   etag)/`batchDeleteContacts`, one at a time per user; the key in `clientData`.
//! - **Errors**: 403 `rateLimitExceeded`/`userRateLimitExceeded`/`quotaExceeded` and 429 are
//!   `Throttled`; 412 and People's 400 `FAILED_PRECONDITION` are `PreconditionFailed`.

pub mod auth;
mod config;
mod connector;
mod http;
mod map;
mod read;
mod write;

pub use auth::ServiceAccountKey;
pub use config::{CALENDAR_BASE, GOOGLE_TOKEN_URL, GoogleConfig, PEOPLE_BASE, SendUpdates};
pub use connector::{GoogleConnector, google_capabilities};
pub use write::event_id_for;

#[cfg(test)]
mod tests;
