//! Reading: one page of a round per `pull` call, `fetch` by id.
//!
//! Contacts: `Changed` (the user's or all visible contacts, with the configured filter),
//! `Followed` (contacts the user follows, when configured), `Accounts` (contacts whose Account was
//! renamed, when accounts are matched), then `Deleted`. Events: `Changed` (events the user owns, not invitee copies), `Invited` (events the
//! user is invited to, through EventRelation), `Relations` (invitations added or removed), then
//! `Deleted`. A full read (no cursor) skips the last two.
//!
//! The feed phases (`Changed`, `Invited`, `Deleted`) page by keyset over `(SystemModstamp, Id)`:
//! each `pull` asks for at most [`PAGE`] rows after the cursor's position, so the cursor stays the
//! same small size whatever the number of records (see `cursor`).
//!
//! Code map:
//! - `mod.rs`: the limits of a read ([`PAGE`], the delete window, `IN (…)` chunks) and the
//!   SOQL names of the objects read.
//! - `round.rs`: the entry points, [`SalesforceConnector::pull_page`] and
//!   [`SalesforceConnector::pull_round`], which run a round's phases in order, one step per
//!   page, and move the keyset position.
//! - `query.rs`: the feed phases' queries and the conditions they are built from (keyset
//!   position, contact scope, field filter).
//! - `rows.rs`: one row read as a change.
//! - `attendees.rs`: the invitees of a page of events.
//! - `side.rs`: the phases outside the keyset feed: followed contacts, renamed Accounts and the
//!   user's invitations.
//! - `series.rs`: recurring series completed with their moved occurrences.
//! - `fetch.rs`: records read by id.
//! - `tests.rs`: unit tests of the keyset condition.

mod attendees;
mod fetch;
mod query;
mod round;
mod rows;
mod series;
mod side;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use tandem_core::model::ObjectKind;

#[cfg(doc)]
use crate::SalesforceConnector;
use crate::mapping::MAX_BATCH;
use crate::soql::Ident;

/// How far back Salesforce keeps deleted records for `queryAll` and `getDeleted`.
pub(crate) const DELETE_WINDOW_DAYS: i64 = 15;

/// Rows per page of a feed phase: Salesforce's largest query batch, so one page is one request.
pub(crate) const PAGE: u32 = 2000;

/// Ids per `IN (…)` list, keeping GET URLs well under Salesforce's 16 KB limit.
pub(crate) const IN_CHUNK: usize = MAX_BATCH;

pub(crate) fn ident(name: &'static str) -> Ident {
    Ident::known(name)
}

pub(crate) fn sobject(object: ObjectKind) -> Ident {
    match object {
        ObjectKind::Contact => ident("Contact"),
        ObjectKind::Event => ident("Event"),
    }
}
