//! Contact and Event ↔ the canonical model, and what Salesforce can store (capabilities).
//!
//! Reading never panics: a record that cannot be translated becomes an error string, which the
//! connector reports as [`tandem_core::state::ChangeKind::Invalid`] (quarantine).
//!
//! Code map (one job per file):
//!
//! - `mod.rs`: `Mapping` (what the mapping knows about the org), the common `Row`, and the
//!   entry points: selects, capabilities, creates and patches dispatched to the files below, and
//!   the custom fields both objects share;
//! - `fields.rs`: the field catalogue (the Contact and Event fields read, phone, text and address
//!   slots, batch and duration limits) and the capabilities declared from it;
//! - `contact.rs`: a Contact row to a canonical contact, and contact patches to Contact fields;
//! - `event.rs`: an Event row to a canonical event (timing, show-as, privacy, Who/What links),
//!   and event patches to Event fields;
//! - `recurrence.rs`: `Recurrence2PatternText` both ways, and exception rows folded into their
//!   series' overrides;
//! - `invitees.rs`: `EventRelation` rows as attendees;
//! - `values.rs`: reading and writing a row's values (text, flags, Salesforce datetimes);
//! - `tests.rs`: the unit tests.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tandem_core::capabilities::Capabilities;
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{AddressKind, ObjectKind, Record};
use tandem_core::plan::FieldChange;

use crate::config::{AddressMapping, CustomField};
use crate::soql::Ident;

mod contact;
mod event;
mod fields;
mod invitees;
mod recurrence;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
mod values;

pub(crate) use fields::{CONTACT_TEXT, PHONE_FIELDS};
pub use fields::{MAX_BATCH, MAX_EVENT_MINUTES};
pub(crate) use invitees::attendee;
pub(crate) use recurrence::{fold_overrides, series_of};
pub(crate) use values::{parse_datetime, text};

use fields::{CONTACT_FILTER_EXTRA, MAILING, OTHER, contact_fields, event_fields};

/// What the mapping needs to know about the org.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub(crate) middle_name: bool,
    pub(crate) contact_custom: Vec<CustomField>,
    pub(crate) event_custom: Vec<CustomField>,
    pub(crate) key_field: String,
    /// The address kind each Salesforce address (Mailing, Other) holds.
    addresses: [(&'static [&'static str; 5], Option<AddressKind>); 2],
    /// Whether a contact's company is written, as a link to the Account of that name.
    match_accounts: bool,
    caps: Capabilities,
}

/// The common part of a row as read: its id, version, modification time and sync key.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) stamp: Option<DateTime<Utc>>,
    pub(crate) version: String,
    pub(crate) sync_key: Option<String>,
}

impl Mapping {
    pub(crate) fn new(
        middle_name: bool,
        contact_custom: Vec<CustomField>,
        event_custom: Vec<CustomField>,
        key_field: String,
        addresses: AddressMapping,
    ) -> Self {
        let mut m = Mapping {
            middle_name,
            contact_custom,
            event_custom,
            key_field,
            addresses: [(&MAILING, addresses.mailing.kind()), (&OTHER, addresses.other.kind())],
            match_accounts: true,
            caps: Capabilities::everything(),
        };
        m.caps = m.declare();
        m
    }

    /// Whether the company is written (as the Account of that name) or only read.
    pub(crate) fn with_account_matching(mut self, on: bool) -> Self {
        self.match_accounts = on;
        self.caps = self.declare();
        self
    }

    /// The fields to select for `object`, validated.
    pub(crate) fn select(&self, object: ObjectKind) -> Vec<Ident> {
        let mut out: Vec<Ident> = match object {
            ObjectKind::Contact => contact_fields(self.middle_name).into_iter().map(Ident::known).collect(),
            ObjectKind::Event => event_fields().into_iter().map(Ident::known).collect(),
        };
        // Validated when the connector was built.
        out.extend(Ident::new(&self.key_field));
        out.extend(self.custom(object).iter().filter_map(|c| Ident::new(&c.name).ok()));
        out
    }

    /// Every field of `object` a filter or query may name.
    pub(crate) fn known_field(&self, object: ObjectKind, name: &str) -> bool {
        let standard = match object {
            ObjectKind::Contact => {
                contact_fields(self.middle_name).contains(&name) || CONTACT_FILTER_EXTRA.contains(&name)
            }
            ObjectKind::Event => event_fields().contains(&name),
        };
        standard || name == self.key_field || self.custom(object).iter().any(|c| c.name == name)
    }

    pub(crate) fn custom(&self, object: ObjectKind) -> &[CustomField] {
        match object {
            ObjectKind::Contact => &self.contact_custom,
            ObjectKind::Event => &self.event_custom,
        }
    }

    /// What Salesforce can store, as the planner reads it.
    pub(crate) fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The common part of a row: id, version, stamp, key, owner.
    pub(crate) fn row(&self, row: &Map<String, Value>) -> Result<Row, String> {
        let id = text(row, "Id")?.ok_or("record without an Id")?;
        let version = text(row, "SystemModstamp")?.unwrap_or_default();
        let stamp = if version.is_empty() { None } else { Some(parse_datetime(&version)?) };
        Ok(Row { id, stamp, version, sync_key: text(row, &self.key_field)? })
    }

    fn read_custom(&self, object: ObjectKind, row: &Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for field in self.custom(object) {
            let value = match row.get(&field.name) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                Some(_) => return Err(format!("custom field `{}` holds a structured value", field.name)),
            };
            out.insert(field.name.clone(), value);
        }
        Ok(out)
    }

    /// The fields of a new record. Absent values are left out (Salesforce leaves them empty), and
    /// so are fields Salesforce cannot store (the planner has projected them away already).
    pub(crate) fn create_fields(&self, record: &Record, user_zone: &str) -> Result<Map<String, Value>, String> {
        let caps = self.caps.object(record.kind());
        let mut patch = Vec::new();
        for key in record.field_keys() {
            let storable = match &key {
                FieldKey::Custom(name) => self.custom(record.kind()).iter().any(|c| &c.name == name),
                key => caps.writable(key),
            };
            let value = record.get(&key);
            if storable && value.is_some() {
                patch.push(FieldChange { field: key, value });
            }
        }
        let mut fields = match record {
            Record::Contact(_) => self.contact_patch(&patch)?,
            Record::Event(e) => self.event_patch(&patch, Some(e), user_zone)?,
        };
        fields.retain(|_, v| !v.is_null());
        Ok(fields)
    }

    /// The fields a patch sets on an existing record (`null` clears).
    pub(crate) fn patch_fields(
        &self,
        object: ObjectKind,
        patch: &[FieldChange],
        user_zone: &str,
    ) -> Result<Map<String, Value>, String> {
        match object {
            ObjectKind::Contact => self.contact_patch(patch),
            ObjectKind::Event => self.event_patch(patch, None, user_zone),
        }
    }

    fn custom_out(
        &self,
        object: ObjectKind,
        name: &str,
        value: &Option<FieldValue>,
        out: &mut Map<String, Value>,
    ) -> Result<(), String> {
        if !self.custom(object).iter().any(|c| c.name == name) {
            return Err(format!("custom field `{name}` is not configured for {object}s on Salesforce"));
        }
        let v = match value {
            None => Value::Null,
            Some(FieldValue::Text(t)) => Value::String(t.clone()),
            Some(other) => return Err(format!("custom field `{name}` cannot hold {other:?}")),
        };
        out.insert(name.to_owned(), v);
        Ok(())
    }
}
