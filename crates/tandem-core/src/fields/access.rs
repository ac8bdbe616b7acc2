//! Reading and writing one field of a record: [`Record::get`], [`Record::set`], and the keys of
//! the fields a record carries.

use super::error::FieldError;
use super::key::FieldKey;
use super::value::FieldValue;
use crate::model::{Contact, Event, ObjectKind, Phone, PostalAddress, Privacy, Record, ShowAs};

fn type_name(v: &FieldValue) -> &'static str {
    match v {
        FieldValue::Text(_) => "text",
        FieldValue::List(_) => "list",
        FieldValue::Emails(_) => "emails",
        FieldValue::Addresses(_) => "addresses",
        FieldValue::Date(_) => "date",
        FieldValue::Timing(_) => "timing",
        FieldValue::Recurrence(_) => "recurrence",
        FieldValue::Person(_) => "person",
        FieldValue::Attendees(_) => "attendees",
        FieldValue::Attendee(_) => "attendee",
        FieldValue::Privacy(_) => "privacy",
        FieldValue::ShowAs(_) => "show_as",
        FieldValue::CrmLinks(_) => "crm_links",
    }
}

pub(super) fn text(v: &Option<String>) -> Option<FieldValue> {
    v.as_ref().filter(|s| !s.is_empty()).map(|s| FieldValue::Text(s.clone()))
}

pub(super) fn nonempty<T: Clone>(v: &[T], wrap: fn(Vec<T>) -> FieldValue) -> Option<FieldValue> {
    if v.is_empty() { None } else { Some(wrap(v.to_vec())) }
}

impl Record {
    /// Reads one field. Fields of the other kind read as absent.
    pub fn get(&self, key: &FieldKey) -> Option<FieldValue> {
        match (self, key) {
            (_, FieldKey::Custom(name)) => self.custom().get(name).map(|v| FieldValue::Text(v.clone())),
            (Record::Contact(c), key) => contact_get(c, key),
            (Record::Event(e), key) => event_get(e, key),
        }
    }

    /// Writes one field; `None` clears it.
    pub fn set(&mut self, key: &FieldKey, value: Option<FieldValue>) -> Result<(), FieldError> {
        let kind = self.kind();
        if !key.applies_to(kind) {
            return Err(FieldError::WrongKind { field: key.clone(), kind });
        }
        let wrong = |v: &FieldValue| FieldError::WrongType { field: key.clone(), got: type_name(v) };
        if let FieldKey::Custom(name) = key {
            match value {
                None => {
                    self.custom_mut().remove(name);
                }
                Some(FieldValue::Text(t)) => {
                    self.custom_mut().insert(name.clone(), t);
                }
                Some(other) => return Err(wrong(&other)),
            }
            return Ok(());
        }
        match self {
            Record::Contact(c) => contact_set(c, key, value, wrong),
            Record::Event(e) => event_set(e, key, value, wrong),
        }
    }

    /// Every field this record could carry: the standard fields of its kind, one
    /// [`FieldKey::Attendee`] per attendee in place of [`FieldKey::Attendees`], and its custom
    /// fields.
    pub fn field_keys(&self) -> Vec<FieldKey> {
        let mut keys: Vec<FieldKey> =
            FieldKey::standard(self.kind()).iter().filter(|k| **k != FieldKey::Attendees).cloned().collect();
        keys.extend(self.attendee_keys());
        keys.extend(self.custom().keys().map(|k| FieldKey::Custom(k.clone())));
        keys
    }

    /// One [`FieldKey::Attendee`] per distinct attendee address, in the record's order.
    pub fn attendee_keys(&self) -> Vec<FieldKey> {
        let Record::Event(e) = self else { return Vec::new() };
        let mut keys: Vec<FieldKey> = Vec::with_capacity(e.attendees.len());
        for a in &e.attendees {
            let key = FieldKey::attendee(&a.email);
            if !matches!(&key, FieldKey::Attendee(email) if email.is_empty()) && !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }
}

fn contact_get(c: &Contact, key: &FieldKey) -> Option<FieldValue> {
    match key {
        FieldKey::GivenName => text(&c.given_name),
        FieldKey::MiddleName => text(&c.middle_name),
        FieldKey::FamilyName => text(&c.family_name),
        FieldKey::Emails => nonempty(&c.emails, FieldValue::Emails),
        FieldKey::Phone(kind) => {
            let numbers: Vec<String> = c.phones.iter().filter(|p| p.kind == *kind).map(|p| p.number.clone()).collect();
            if numbers.is_empty() { None } else { Some(FieldValue::List(numbers)) }
        }
        FieldKey::Company => text(&c.company),
        FieldKey::Title => text(&c.title),
        FieldKey::Department => text(&c.department),
        FieldKey::Address(kind) => {
            let list: Vec<PostalAddress> = c.addresses.iter().filter(|a| a.kind == *kind).cloned().collect();
            if list.is_empty() { None } else { Some(FieldValue::Addresses(list)) }
        }
        FieldKey::Birthday => c.birthday.map(FieldValue::Date),
        FieldKey::AssistantName => text(&c.assistant_name),
        FieldKey::Notes => text(&c.notes),
        _ => None,
    }
}

fn set_text(
    slot: &mut Option<String>,
    value: Option<FieldValue>,
    wrong: impl Fn(&FieldValue) -> FieldError,
) -> Result<(), FieldError> {
    match value {
        None => *slot = None,
        Some(FieldValue::Text(t)) => *slot = Some(t),
        Some(other) => return Err(wrong(&other)),
    }
    Ok(())
}

fn contact_set(
    c: &mut Contact,
    key: &FieldKey,
    value: Option<FieldValue>,
    wrong: impl Fn(&FieldValue) -> FieldError,
) -> Result<(), FieldError> {
    match key {
        FieldKey::GivenName => set_text(&mut c.given_name, value, wrong),
        FieldKey::MiddleName => set_text(&mut c.middle_name, value, wrong),
        FieldKey::FamilyName => set_text(&mut c.family_name, value, wrong),
        FieldKey::Company => set_text(&mut c.company, value, wrong),
        FieldKey::Title => set_text(&mut c.title, value, wrong),
        FieldKey::Department => set_text(&mut c.department, value, wrong),
        FieldKey::AssistantName => set_text(&mut c.assistant_name, value, wrong),
        FieldKey::Notes => set_text(&mut c.notes, value, wrong),
        FieldKey::Emails => match value {
            None => {
                c.emails.clear();
                Ok(())
            }
            Some(FieldValue::Emails(v)) => {
                c.emails = v;
                Ok(())
            }
            Some(other) => Err(wrong(&other)),
        },
        FieldKey::Phone(kind) => {
            let numbers = match value {
                None => Vec::new(),
                Some(FieldValue::List(v)) => v,
                Some(FieldValue::Text(t)) => vec![t],
                Some(other) => return Err(wrong(&other)),
            };
            // Keep the slot's position among the other phones stable.
            let at = c.phones.iter().position(|p| p.kind == *kind).unwrap_or(c.phones.len());
            c.phones.retain(|p| p.kind != *kind);
            let at = at.min(c.phones.len());
            let new: Vec<Phone> = numbers.into_iter().map(|number| Phone { kind: *kind, number }).collect();
            c.phones.splice(at..at, new);
            Ok(())
        }
        FieldKey::Address(kind) => {
            let list = match value {
                None => Vec::new(),
                Some(FieldValue::Addresses(v)) => v,
                Some(other) => return Err(wrong(&other)),
            };
            // The key decides the kind: an address written to `address.home` is a home address.
            // The kind keeps its place among the others; a new kind goes before later kinds.
            let at = c
                .addresses
                .iter()
                .position(|a| a.kind == *kind)
                .or_else(|| c.addresses.iter().position(|a| a.kind > *kind))
                .unwrap_or(c.addresses.len());
            c.addresses.retain(|a| a.kind != *kind);
            let at = at.min(c.addresses.len());
            let new: Vec<PostalAddress> = list.into_iter().map(|a| PostalAddress { kind: *kind, ..a }).collect();
            c.addresses.splice(at..at, new);
            Ok(())
        }
        FieldKey::Birthday => match value {
            None => {
                c.birthday = None;
                Ok(())
            }
            Some(FieldValue::Date(d)) => {
                c.birthday = Some(d);
                Ok(())
            }
            Some(other) => Err(wrong(&other)),
        },
        other => Err(FieldError::WrongKind { field: other.clone(), kind: ObjectKind::Contact }),
    }
}

fn event_get(e: &Event, key: &FieldKey) -> Option<FieldValue> {
    match key {
        FieldKey::Subject => text(&e.subject),
        FieldKey::Description => text(&e.description),
        FieldKey::Location => text(&e.location),
        FieldKey::Timing => Some(FieldValue::Timing(e.timing.clone())),
        FieldKey::Recurrence => e.recurrence.clone().map(FieldValue::Recurrence),
        FieldKey::Organizer => e.organizer.clone().map(FieldValue::Person),
        FieldKey::Attendees => nonempty(&e.attendees, FieldValue::Attendees),
        FieldKey::Attendee(email) => {
            e.attendees.iter().find(|a| a.email.trim().eq_ignore_ascii_case(email)).cloned().map(FieldValue::Attendee)
        }
        FieldKey::Privacy => Some(FieldValue::Privacy(e.privacy)),
        FieldKey::ShowAs => Some(FieldValue::ShowAs(e.show_as)),
        FieldKey::Categories => nonempty(&e.categories, FieldValue::List),
        FieldKey::CrmLinks => nonempty(&e.crm_links, FieldValue::CrmLinks),
        _ => None,
    }
}

fn event_set(
    e: &mut Event,
    key: &FieldKey,
    value: Option<FieldValue>,
    wrong: impl Fn(&FieldValue) -> FieldError,
) -> Result<(), FieldError> {
    match (key, value) {
        (FieldKey::Subject, v) => set_text(&mut e.subject, v, wrong),
        (FieldKey::Description, v) => set_text(&mut e.description, v, wrong),
        (FieldKey::Location, v) => set_text(&mut e.location, v, wrong),
        (FieldKey::Timing, None) => Err(FieldError::Required(FieldKey::Timing)),
        (FieldKey::Timing, Some(FieldValue::Timing(t))) => {
            e.timing = t;
            Ok(())
        }
        (FieldKey::Recurrence, None) => {
            e.recurrence = None;
            Ok(())
        }
        (FieldKey::Recurrence, Some(FieldValue::Recurrence(r))) => {
            e.recurrence = Some(r);
            Ok(())
        }
        (FieldKey::Organizer, None) => {
            e.organizer = None;
            Ok(())
        }
        (FieldKey::Organizer, Some(FieldValue::Person(p))) => {
            e.organizer = Some(p);
            Ok(())
        }
        (FieldKey::Attendees, None) => {
            e.attendees.clear();
            Ok(())
        }
        (FieldKey::Attendees, Some(FieldValue::Attendees(a))) => {
            e.attendees = a;
            Ok(())
        }
        (FieldKey::Attendee(email), None) => {
            e.attendees.retain(|a| !a.email.trim().eq_ignore_ascii_case(email));
            Ok(())
        }
        // An attendee the event has already keeps its name, role and answer there.
        (FieldKey::Attendee(email), Some(FieldValue::Attendee(a))) => {
            if !e.attendees.iter().any(|x| x.email.trim().eq_ignore_ascii_case(email)) {
                e.attendees.push(a);
            }
            Ok(())
        }
        (FieldKey::Privacy, None) => {
            e.privacy = Privacy::default();
            Ok(())
        }
        (FieldKey::Privacy, Some(FieldValue::Privacy(p))) => {
            e.privacy = p;
            Ok(())
        }
        (FieldKey::ShowAs, None) => {
            e.show_as = ShowAs::default();
            Ok(())
        }
        (FieldKey::ShowAs, Some(FieldValue::ShowAs(s))) => {
            e.show_as = s;
            Ok(())
        }
        (FieldKey::Categories, None) => {
            e.categories.clear();
            Ok(())
        }
        (FieldKey::Categories, Some(FieldValue::List(c))) => {
            e.categories = c;
            Ok(())
        }
        (FieldKey::CrmLinks, None) => {
            e.crm_links.clear();
            Ok(())
        }
        (FieldKey::CrmLinks, Some(FieldValue::CrmLinks(l))) => {
            e.crm_links = l;
            Ok(())
        }
        (
            FieldKey::Timing
            | FieldKey::Recurrence
            | FieldKey::Organizer
            | FieldKey::Attendees
            | FieldKey::Attendee(_)
            | FieldKey::Privacy
            | FieldKey::ShowAs
            | FieldKey::Categories
            | FieldKey::CrmLinks,
            Some(other),
        ) => Err(wrong(&other)),
        (other, _) => Err(FieldError::WrongKind { field: other.clone(), kind: ObjectKind::Event }),
    }
}
