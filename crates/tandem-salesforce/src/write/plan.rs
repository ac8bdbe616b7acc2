//! What a batch gathers per write before sending: creates, writes to existing records and what
//! each carries besides its fields, and the company names and attendee addresses it looks up.

use serde_json::{Map, Value};
use tandem_connector::WriteOp;
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Attendee, Record};
use tandem_core::state::{Unresolved, Version};

use crate::related::Person;

pub(super) struct Create {
    pub(super) index: usize,
    pub(super) key: String,
    pub(super) fields: Map<String, Value>,
}

/// What a write carries besides its fields: fields not stored and why, invitations to add
/// and remove once the record exists, and the who to relate it to.
#[derive(Default)]
pub(super) struct Notes {
    pub(super) unstored: Vec<(FieldKey, Option<Unresolved>)>,
    /// Items about the write that withhold no field of their own.
    pub(super) items: Vec<Unresolved>,
    pub(super) invite: Vec<(Attendee, Person, bool)>,
    pub(super) uninvite: Vec<String>,
    pub(super) who: Option<String>,
}

impl Notes {
    pub(super) fn skip(&mut self, field: FieldKey, why: Option<Unresolved>) {
        self.unstored.push((field, why));
    }
}

/// The company names and attendee addresses a batch writes.
pub(super) fn lookups(ops: &[WriteOp]) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut emails = Vec::new();
    for op in ops {
        match op {
            WriteOp::Create { record: Record::Contact(c), .. } => names.extend(c.company.clone()),
            WriteOp::Create { record: Record::Event(e), .. } => {
                emails.extend(e.attendees.iter().map(|a| a.email.clone()));
            }
            WriteOp::Update { patch, .. } => {
                for change in patch {
                    match (&change.field, &change.value) {
                        (FieldKey::Company, Some(FieldValue::Text(name))) => names.push(name.clone()),
                        (FieldKey::Attendee(email), _) => emails.push(email.clone()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    (names, emails)
}

pub(super) struct Existing {
    pub(super) index: usize,
    pub(super) id: String,
    pub(super) expected: Version,
    pub(super) fields: Option<Map<String, Value>>,
}
