//! [`FieldValue`], the value of one field, and its fingerprint: the stable hash sync state keeps
//! instead of the data.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::key::FieldKey;
use super::print::{canonical_address, hash_json};
use crate::model::{
    Attendee, CrmLink, EmailAddress, EventTime, EventTiming, Person, PostalAddress, Privacy, Recurrence, ShowAs,
};

/// The value of one field. `None` in the surrounding `Option` means absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    /// Free text.
    Text(String),
    /// A list of strings (phone numbers of one slot, categories).
    List(Vec<String>),
    /// Email addresses.
    Emails(Vec<EmailAddress>),
    /// Postal addresses (of one kind, as [`FieldKey::Address`] reads them).
    Addresses(Vec<PostalAddress>),
    /// A date.
    Date(NaiveDate),
    /// Event timing.
    Timing(EventTiming),
    /// Recurrence.
    Recurrence(Recurrence),
    /// A person.
    Person(Person),
    /// Attendees.
    Attendees(Vec<Attendee>),
    /// One attendee ([`FieldKey::Attendee`]).
    Attendee(Attendee),
    /// Privacy.
    Privacy(Privacy),
    /// Show-as.
    ShowAs(ShowAs),
    /// CRM links.
    CrmLinks(Vec<CrmLink>),
}

impl FieldValue {
    /// A stable 64-bit fingerprint of the value, independent of process, platform and run.
    /// The sync state keeps fingerprints, not data, so Tandem stores no copy of the records.
    ///
    /// Email addresses compare case-insensitively, as mail systems treat them: `ADA@X.COM` and
    /// `ada@x.com` have one fingerprint. Timed starts and ends compare as instants, whatever zone
    /// they are written in.
    pub fn fingerprint(&self) -> u64 {
        let canonical = self.canonical();
        hash_json(canonical.as_ref().unwrap_or(self))
    }

    /// The value with email addresses lower-cased, when it holds any.
    fn canonical(&self) -> Option<FieldValue> {
        let lower = |s: &str| canonical_address(s).into_owned();
        match self {
            FieldValue::Emails(list) => Some(FieldValue::Emails(
                list.iter().map(|e| EmailAddress { kind: e.kind, address: lower(&e.address) }).collect(),
            )),
            FieldValue::Attendees(list) => Some(FieldValue::Attendees(
                list.iter().map(|a| Attendee { email: lower(&a.email), ..a.clone() }).collect(),
            )),
            // One attendee is compared by presence only: its address. Systems spell names
            // differently, and roles and answers are each side's own.
            FieldValue::Attendee(a) => Some(FieldValue::Attendee(Attendee {
                email: lower(&a.email),
                name: None,
                role: Default::default(),
                response: Default::default(),
            })),
            FieldValue::Person(p) => Some(FieldValue::Person(Person { email: lower(&p.email), name: p.name.clone() })),
            // One instant written in two zones is one time: Salesforce answers in the user's zone,
            // Graph in UTC. A zone change alone is not an edit.
            FieldValue::Timing(t) => {
                let utc = |time: &EventTime| match (time, time.instant()) {
                    (EventTime::Zoned { .. }, Some(at)) => EventTime::utc(at.naive_utc()),
                    _ => time.clone(),
                };
                Some(FieldValue::Timing(EventTiming { start: utc(&t.start), end: utc(&t.end) }))
            }
            _ => None,
        }
    }

    /// The text, for text values.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// The fingerprint of an optional value; absent has its own fixed fingerprint.
pub fn fingerprint(value: Option<&FieldValue>) -> u64 {
    value.map_or(0, FieldValue::fingerprint)
}
