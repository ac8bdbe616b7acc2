//! [`Unresolved`] items: writes that carried a record across incompletely, for a reason an
//! administrator can resolve, and their [`UnresolvedKind`]s.

use serde::{Deserialize, Serialize};

use crate::fields::FieldKey;

/// Why a write carried a record across without part of it, or not at all, for a reason an
/// administrator can resolve in the target system: what Lightning Sync calls an **unresolved
/// item**. The connector that made the write reports it; the engine keeps it per user against the
/// record whose content did not arrive, lists it, rechecks it, and retries the write once the
/// cause is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unresolved {
    /// What is missing.
    pub kind: UnresolvedKind,
    /// The field that was not written, when one was (`company`, `attendee.ada@example.com`);
    /// `None` when the whole record was not written.
    pub field: Option<FieldKey>,
    /// What the target lacks, as the source has it: the company name, the attendee address.
    pub subject: String,
    /// In words, for administrators.
    pub detail: String,
}

/// The kinds of [`Unresolved`] item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnresolvedKind {
    /// No Account has the contact's company name (or the user sees none).
    AccountNotFound,
    /// Several Accounts have the contact's company name.
    AccountAmbiguous,
    /// The user may not read Accounts.
    AccountNoAccess,
    /// The company was cleared in the mailbox; Tandem never detaches a contact from its Account.
    AccountKept,
    /// An attendee matches no contact, lead or user the user can see.
    AttendeeNotFound,
    /// The event has more attendees than the configured limit; the rest were not written.
    AttendeeLimit,
    /// The event relates to no contact or lead and the configuration skips such events.
    EventUnrelated,
    /// The user already syncs as many records as the configured limit allows.
    OverLimit,
}

impl UnresolvedKind {
    /// A stable snake_case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            UnresolvedKind::AccountNotFound => "account_not_found",
            UnresolvedKind::AccountAmbiguous => "account_ambiguous",
            UnresolvedKind::AccountNoAccess => "account_no_access",
            UnresolvedKind::AccountKept => "account_kept",
            UnresolvedKind::AttendeeNotFound => "attendee_not_found",
            UnresolvedKind::AttendeeLimit => "attendee_limit",
            UnresolvedKind::EventUnrelated => "event_unrelated",
            UnresolvedKind::OverLimit => "over_limit",
        }
    }

    /// The inverse of [`UnresolvedKind::as_str`].
    pub fn parse(name: &str) -> Option<UnresolvedKind> {
        [
            UnresolvedKind::AccountNotFound,
            UnresolvedKind::AccountAmbiguous,
            UnresolvedKind::AccountNoAccess,
            UnresolvedKind::AccountKept,
            UnresolvedKind::AttendeeNotFound,
            UnresolvedKind::AttendeeLimit,
            UnresolvedKind::EventUnrelated,
            UnresolvedKind::OverLimit,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for UnresolvedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
