//! Calendar v3 events on a user's primary calendar.
//!
//! - `GET …/events`: `maxResults` (1..=2500, default 250), `pageToken`, `syncToken`,
//!   `showDeleted`, `timeMin`/`timeMax` (RFC 3339; not with `syncToken`: 400), `singleEvents`,
//!   `orderBy=startTime` (only with `singleEvents=true`, else 400 `badRequest`). Items come in id
//!   order; the first run pages and the last page carries `nextSyncToken` (the state when the
//!   first page was served). With `syncToken`, every event changed since (cancelled ones as
//!   `status: cancelled`, minimal unless an exception). An expired token
//!   ([`super::GoogleFake::expire_sync_tokens`]) answers 410 `fullSyncRequired`.
//! - `singleEvents=true` expands series (see the `expand` module): masters are replaced by their
//!   instances in `[timeMin, timeMax)` (without `timeMax`, up to two years after the later of
//!   `timeMin` and now), stored exceptions replace their occurrence, cancelled instances only with
//!   `showDeleted=true`; `orderBy` `startTime` or `updated` sorts (ties by id), else id order;
//!   `iCalUID` filters. The page token carries the resolved window (stable paging); the
//!   `nextSyncToken` carries the requested `timeMin`/`timeMax`, and an incremental round yields the
//!   changed single events and exceptions, and every instance of a changed master in that window
//!   (resolved anew; a token without one: no lower bound, two years ahead).
//! - `POST …/events`: client-chosen `id` (base32hex `a-v0-9`, 5..=1024 chars; 400 `invalid`,
//!   409 `duplicate`), `start`/`end` required, `recurrence` lines `RRULE:`/`EXRULE:`/`RDATE:`/
//!   `EXDATE:` only. Server-owned: `kind`, `etag`, `created`, `updated`, `htmlLink`, `creator`,
//!   `organizer`, `sequence`, `iCalUID` (unless supplied).
//! - `GET/PUT/PATCH/DELETE …/events/{eventId}` with `If-Match` (412 `conditionNotMet`). An id
//!   `{masterId}_{YYYYMMDDTHHMMSSZ}` (or `_{YYYYMMDD}`) of a recurring master names an instance:
//!   writing it creates an exception (`recurringEventId`, `originalStartTime`), deleting it a
//!   cancelled exception. Deleting a deleted event answers 410 `deleted`.
//! - `sendUpdates` (`all`, `externalOnly`, `none`) is recorded on every write.
//!
//! Code map:
//! - `stored`: the stored event model and how Google renders an event.
//! - `ids`: event ids, instance ids and the instant an `EventDateTime` names.
//! - `responses`: the error and `ETag` responses the handlers share.
//! - `request`: the checks on a request (calendar, body, `If-Match`, `sendUpdates`).
//! - `read`: `GET …/events` and `GET …/events/{eventId}`.
//! - `create`: storing a new event or an exception instance materialized from its master.
//! - `write`: `POST …/events` and `PUT`/`PATCH`/`DELETE …/events/{eventId}`.
//! - `seed`: the [`GoogleFake`] methods that seed, edit and read events.

mod create;
mod ids;
mod read;
mod request;
mod responses;
mod seed;
mod stored;
mod write;

#[cfg(doc)]
use super::GoogleFake;

pub use ids::valid_event_id;
pub(crate) use read::{get_event, list};
pub(crate) use stored::Calendar;
pub(crate) use write::{delete, insert, patch, put};
