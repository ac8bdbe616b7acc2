//! Contacts: a Contact row as a canonical contact, and a contact patch as the Contact fields it
//! sets (the Lightning Sync mapping).

use chrono::NaiveDate;
use serde_json::{Map, Value};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{AddressKind, Contact, EmailAddress, ObjectKind, Phone, PostalAddress, Record};
use tandem_core::plan::FieldChange;

use super::Mapping;
use super::fields::{CONTACT_TEXT, PHONE_FIELDS};
use super::values::{text, text_value};

impl Mapping {
    /// A Contact row as a canonical contact.
    pub(crate) fn contact(&self, row: &Map<String, Value>) -> Result<Record, String> {
        let mut c = Contact {
            given_name: text(row, "FirstName")?,
            middle_name: if self.middle_name { text(row, "MiddleName")? } else { None },
            family_name: text(row, "LastName")?,
            title: text(row, "Title")?,
            department: text(row, "Department")?,
            assistant_name: text(row, "AssistantName")?,
            notes: text(row, "Description")?,
            company: row.get("Account").and_then(Value::as_object).map(|a| text(a, "Name")).transpose()?.flatten(),
            ..Contact::default()
        };
        if let Some(email) = text(row, "Email")? {
            c.emails.push(EmailAddress { kind: AddressKind::Work, address: email });
        }
        for (field, kind) in PHONE_FIELDS {
            if let Some(number) = text(row, field)? {
                c.phones.push(Phone { kind, number });
            }
        }
        if let Some(b) = text(row, "Birthdate")? {
            c.birthday =
                Some(NaiveDate::parse_from_str(&b, "%Y-%m-%d").map_err(|_| format!("Birthdate `{b}` is not a date"))?);
        }
        for (fields, kind) in &self.addresses {
            let Some(kind) = *kind else { continue };
            let parts: Vec<Option<String>> = fields.iter().map(|f| text(row, f)).collect::<Result<_, _>>()?;
            if parts.iter().any(Option::is_some) {
                let mut it = parts.into_iter();
                c.addresses.push(PostalAddress {
                    kind,
                    street: it.next().flatten(),
                    city: it.next().flatten(),
                    region: it.next().flatten(),
                    postal_code: it.next().flatten(),
                    country: it.next().flatten(),
                });
            }
        }
        // The model's order (work, home, other), whichever Salesforce address holds which kind.
        c.addresses.sort_by_key(|a| a.kind);
        c.custom = self.read_custom(ObjectKind::Contact, row)?;
        Ok(Record::Contact(c))
    }

    pub(super) fn contact_patch(&self, patch: &[FieldChange]) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for change in patch {
            let value = &change.value;
            match &change.field {
                FieldKey::Custom(name) => self.custom_out(ObjectKind::Contact, name, value, &mut out)?,
                // The Account link: resolved by name when the batch is written.
                FieldKey::Company if self.match_accounts => {}
                FieldKey::MiddleName if !self.middle_name => {
                    return Err("middle names are not enabled on this org".to_owned());
                }
                key if CONTACT_TEXT.iter().any(|(_, k)| k == key) => {
                    let field = CONTACT_TEXT.iter().find(|(_, k)| k == key).map_or("", |(f, _)| *f);
                    out.insert(field.to_owned(), text_value(key, value)?);
                }
                FieldKey::Emails => {
                    let first = match value {
                        None => Value::Null,
                        Some(FieldValue::Emails(list)) => {
                            list.first().map_or(Value::Null, |e| Value::String(e.address.clone()))
                        }
                        Some(other) => return Err(format!("emails cannot be {other:?}")),
                    };
                    out.insert("Email".to_owned(), first);
                }
                FieldKey::Phone(kind) => {
                    let Some((field, _)) = PHONE_FIELDS.iter().find(|(_, k)| k == kind) else {
                        return Err(format!("Salesforce has no {} phone field", kind.as_str()));
                    };
                    let first = match value {
                        None => Value::Null,
                        Some(FieldValue::List(list)) => list.first().map_or(Value::Null, |n| Value::String(n.clone())),
                        Some(other) => return Err(format!("a phone cannot be {other:?}")),
                    };
                    out.insert((*field).to_owned(), first);
                }
                FieldKey::Birthday => {
                    let v = match value {
                        None => Value::Null,
                        Some(FieldValue::Date(d)) => Value::String(d.format("%Y-%m-%d").to_string()),
                        Some(other) => return Err(format!("a birthday cannot be {other:?}")),
                    };
                    out.insert("Birthdate".to_owned(), v);
                }
                FieldKey::Address(kind) => {
                    // Only the Salesforce address mapped to this kind is written (or cleared); a
                    // kind no Salesforce address holds is never written into another address.
                    let Some((fields, _)) = self.addresses.iter().find(|(_, k)| *k == Some(*kind)) else {
                        return Err(format!("no Salesforce address holds the {} address", kind.as_str()));
                    };
                    let address = match value {
                        None => None,
                        Some(FieldValue::Addresses(list)) => list.first().cloned(),
                        Some(other) => return Err(format!("an address cannot be {other:?}")),
                    };
                    let parts = address.map_or_else(
                        || [None, None, None, None, None],
                        |a| [a.street, a.city, a.region, a.postal_code, a.country],
                    );
                    for (field, part) in fields.iter().zip(parts) {
                        out.insert((*field).to_owned(), part.map_or(Value::Null, Value::String));
                    }
                }
                other => return Err(format!("Salesforce cannot store the contact field `{other}`")),
            }
        }
        Ok(out)
    }
}
