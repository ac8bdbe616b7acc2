//! # tandem-google: Google Workspace calendars and contacts (Calendar v3, People v1)
//!
//! What lives here: [`GoogleConnector`], the [`tandem_connector::Connector`] for one Workspace
//! user's calendar (default `primary`) and the members of one contact group (default
//! "Salesforce Sync"), authenticated by one of two methods ([`GoogleAuth`]), both asking for
//! only the `calendar.events` and `contacts` scopes ([`auth::SCOPES`]): a **service account
//! with domain-wide delegation** (`service_account`: an RS256 JWT assertion with `sub` = the
//! user), or **per-user OAuth** (`auth_code_pkce`: the user consents once through the
//! authorization code flow with PKCE, [`auth::AuthorizationRequest`] and
//! [`auth::redeem_authorization_code`], and the connector redeems the refresh token); the
//! mapping of Google's JSON to and from the canonical model; change feeds with sync tokens;
//! writes with etags and client-chosen ids.
//!
//! What must never live here: sync decisions (the planner in `tandem-core`), state (cursors are
//! opaque bytes handed back to the engine), generic HTTP plumbing (`tandem_connector::http`),
//! and secrets in logs, errors or `Debug` output.
//!
//! - **Events**: `events.list` with `singleEvents=false`; the first round pages over the sync
//!   window with `pageToken`, then keeps `nextSyncToken`; 410 is `CursorExpired`. A series is
//!   one record, the master; its exceptions are read with `events.list?iCalUID=` and folded
//!   into overrides, cancelled instances into cancellations. Creates use an id derived from the
//!   idempotency key ([`event_id_for`]); updates `GET` then `PATCH` with `If-Match`. Writes go
//!   through Calendar's batch endpoint (`multipart/mixed`, [`GoogleConfig::batch_size`] calls
//!   per request, [`CALENDAR_BATCH_URL`]): the `GET`s of the updates in one round, the
//!   inserts, patches and deletes in the next, each part's status mapped like a single call's.
//!   Each part's HTTP head is parsed with `httparse` (hyper's own parser, already in the
//!   dependency tree, and it reads responses as well as requests); the multipart framing is
//!   split by hand, since the multipart crates (`multer`) target `multipart/form-data` uploads
//!   as streams and would add dependencies for a few lines of RFC 2046.
//! - **Contacts**: `people.connections.list` with `requestSyncToken`/`syncToken`, filtered to
//!   the group's members; `batchCreateContacts` (200), `batchGet` + `batchUpdateContacts`
//!   (200, one `updateMask`, etags), `batchDeleteContacts` (500), one call at a time per user,
//!   a call refused as a whole retried contact by contact; the key in `clientData`, found again
//!   by a scan of the connections after a lost answer.
//! - **Errors**: 403 `rateLimitExceeded`/`userRateLimitExceeded`/`quotaExceeded` and 429 are
//!   `Throttled`; 412 and People's 400 `FAILED_PRECONDITION` are `PreconditionFailed`.

pub mod auth;
mod batch;
mod config;
mod connector;
mod factory;
mod http;
mod map;
mod read;
mod recover;
mod write;
mod write_people;

pub use auth::{ServiceAccountKey, UserOAuth};
pub use config::{
    CALENDAR_BASE, CALENDAR_BATCH_URL, GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL, GoogleAuth, GoogleConfig, MAX_BATCH_SIZE,
    PEOPLE_BASE, SendUpdates,
};
pub use connector::{GoogleConnector, google_capabilities};
pub use factory::GoogleBuilder;
/// Called with every new refresh token Google issues (per-user OAuth). One type for every
/// connector.
pub use tandem_connector::http::RefreshTokenHook;
pub use write::event_id_for;

#[cfg(test)]
mod tests;
