//! People v1 contacts and contact groups of the authorized user.
//!
//! - `GET /v1/people/me/connections`: `personFields` required (400 `INVALID_ARGUMENT`),
//!   `pageSize` 1..=1000 (default 100), `pageToken`, `requestSyncToken` (the last page carries
//!   `nextSyncToken`), `syncToken` (changes since, deletions as `metadata.deleted: true`; expired
//!   after 7 days or [`super::GoogleFake::expire_sync_tokens`]: `FAILED_PRECONDITION` with
//!   `ErrorInfo` reason `EXPIRED_SYNC_TOKEN`, HTTP 400 or 410 as configured).
//! - `POST /v1/people:batchCreateContacts` (≤ 200, `readMask` required),
//!   `POST /v1/people:batchUpdateContacts` (≤ 200, `updateMask` and `readMask` required, every
//!   person's `etag` must be current or the whole call answers 400 `FAILED_PRECONDITION`),
//!   `POST /v1/people:batchDeleteContacts` (≤ 500). New contacts belong to `myContacts` and to
//!   the existing groups named in their `memberships`.
//! - `GET /v1/people/{id}` (`people.get`, `personFields` required) and
//!   `GET /v1/people:batchGet` (`resourceNames` repeated, 1..=200, `personFields` required; a
//!   missing person is a 404 entry of `responses`, not a failed call).
//! - `GET/POST /v1/contactGroups` (system groups `myContacts` and `starred` plus user groups;
//!   a duplicate name answers 409 `ALREADY_EXISTS`), `POST /v1/contactGroups/{id}/members:modify`.
//! - Client properties are kept as sent (`clientData` included); `resourceName`, `etag`,
//!   `metadata` and `memberships` are the server's (memberships change through groups, or on
//!   create).
//!
//! Code map:
//! - `stored`: the stored contact and group model and how Google renders a person.
//! - `request`: the checks on a request (authorization, body, field masks) and `INVALID_ARGUMENT`.
//! - `read`: `GET /v1/people/me/connections`, `GET /v1/people/{id}` and `GET /v1/people:batchGet`.
//! - `write`: `POST /v1/people:batch{Create,Update,Delete}Contacts`, storing new and deleted contacts.
//! - `groups`: `GET/POST /v1/contactGroups` and `POST /v1/contactGroups/{id}/members:modify`.
//! - `seed`: the [`GoogleFake`] methods that seed, edit and read contacts and groups.

mod groups;
mod read;
mod request;
mod seed;
mod stored;
mod write;

// `seed` merges a contact's edits with `super::merge`.
#[cfg(doc)]
use super::GoogleFake;
use super::merge;

pub(crate) use groups::{create_group, list_groups, modify_members};
pub use read::SYNC_TOKEN_LIFETIME_DAYS;
pub(crate) use read::{batch_get, connections, get_person};
pub(crate) use stored::Book;
pub(crate) use write::{batch_create, batch_delete, batch_update};
