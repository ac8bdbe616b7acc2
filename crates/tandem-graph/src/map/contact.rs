//! Contacts: Graph `contact` ⇄ the model.
//!
//! | model | Graph |
//! | --- | --- |
//! | `given_name`, `middle_name`, `family_name` | `givenName`, `middleName`, `surname` (and `displayName` on create) |
//! | `emails` (≤ 3; kinds by position: work, home, other) | `emailAddresses[{name, address}]` |
//! | `phone.business` (≤ 2), `phone.home` (≤ 2), `phone.mobile` (1) | `businessPhones[]`, `homePhones[]`, `mobilePhone` |
//! | `phone.business_fax`, `phone.home_fax`, `phone.assistant`, `phone.other` | not in Graph: declared unsupported |
//! | `company`, `title`, `department` | `companyName`, `jobTitle`, `department` |
//! | `address.work`, `address.home`, `address.other` (one each) | `businessAddress`, `homeAddress`, `otherAddress` `{street, city, state, postalCode, countryOrRegion}` |
//! | `birthday` | `birthday` (`Edm.DateTimeOffset`, written at 11:59 UTC, read as the nearest date: local midnight east of UTC is the next day) |
//! | `assistant_name`, `notes` | `assistantName`, `personalNotes` |

use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{AddressKind, Contact, EmailAddress, Phone, PhoneKind, PostalAddress};
use tandem_core::plan::FieldChange;

use super::time::parse_instant;
use super::types::{self, PhysicalAddress};

/// Kinds of the email slots, by position: Graph keeps no type per address.
const EMAIL_KINDS: [AddressKind; 3] = [AddressKind::Work, AddressKind::Home, AddressKind::Other];

fn text(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

fn address(kind: AddressKind, a: &Option<PhysicalAddress>) -> Option<PostalAddress> {
    let a = a.as_ref()?;
    let out = PostalAddress {
        kind,
        street: text(&a.street),
        city: text(&a.city),
        region: text(&a.state),
        postal_code: text(&a.postal_code),
        country: text(&a.country_or_region),
    };
    let empty = out.street.is_none()
        && out.city.is_none()
        && out.region.is_none()
        && out.postal_code.is_none()
        && out.country.is_none();
    (!empty).then_some(out)
}

/// Reads a Graph contact into the model.
pub(crate) fn to_model(c: &types::Contact) -> Result<Contact, String> {
    let birthday = match c.birthday.as_deref().filter(|b| !b.trim().is_empty()) {
        None => None,
        Some(b) => Some(
            parse_instant(b)
                // The nearest date: clients store a birthday at local midnight (the evening
                // before in UTC east of Greenwich), Tandem and OWA at 11:59 UTC. EWS reads the
                // same property the same way, so a mailbox moved from EWS reads the same dates.
                .and_then(|t| t.checked_add_signed(chrono::TimeDelta::hours(12)))
                .map(|t| t.date_naive())
                .or_else(|| NaiveDate::parse_from_str(b.get(..10).unwrap_or(b), "%Y-%m-%d").ok())
                .ok_or_else(|| format!("birthday `{b}` is not a date"))?,
        ),
    };
    let emails: Vec<EmailAddress> = c
        .email_addresses
        .iter()
        .flatten()
        .filter_map(|e| e.address.as_deref().map(str::trim).filter(|a| !a.is_empty()))
        .enumerate()
        .map(|(i, address)| EmailAddress {
            kind: EMAIL_KINDS.get(i).copied().unwrap_or(AddressKind::Other),
            address: address.to_owned(),
        })
        .collect();
    let mut phones = Vec::new();
    let numbers = |list: &Option<Vec<String>>, kind: PhoneKind, out: &mut Vec<Phone>| {
        for n in list.iter().flatten().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            out.push(Phone { kind, number: n.to_owned() });
        }
    };
    numbers(&c.business_phones, PhoneKind::Business, &mut phones);
    if let Some(m) = text(&c.mobile_phone) {
        phones.push(Phone { kind: PhoneKind::Mobile, number: m.trim().to_owned() });
    }
    numbers(&c.home_phones, PhoneKind::Home, &mut phones);
    let addresses = [
        address(AddressKind::Work, &c.business_address),
        address(AddressKind::Home, &c.home_address),
        address(AddressKind::Other, &c.other_address),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(Contact {
        given_name: text(&c.given_name),
        middle_name: text(&c.middle_name),
        family_name: text(&c.surname),
        emails,
        phones,
        company: text(&c.company_name),
        title: text(&c.job_title),
        department: text(&c.department),
        addresses,
        birthday,
        assistant_name: text(&c.assistant_name),
        notes: text(&c.personal_notes),
        custom: Default::default(),
    })
}

fn str_or_null(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

fn emails_json(list: &[EmailAddress]) -> Value {
    Value::Array(list.iter().map(|e| json!({"address": e.address, "name": e.address})).collect())
}

fn numbers(phones: &[Phone], kind: PhoneKind) -> Vec<String> {
    phones.iter().filter(|p| p.kind == kind).map(|p| p.number.clone()).collect()
}

fn address_json(a: Option<&PostalAddress>) -> Value {
    match a {
        None => Value::Null,
        Some(a) => json!({
            "street": a.street.clone().unwrap_or_default(),
            "city": a.city.clone().unwrap_or_default(),
            "state": a.region.clone().unwrap_or_default(),
            "postalCode": a.postal_code.clone().unwrap_or_default(),
            "countryOrRegion": a.country.clone().unwrap_or_default(),
        }),
    }
}

/// The Graph property holding the address of `kind`.
fn address_property(kind: AddressKind) -> &'static str {
    match kind {
        AddressKind::Work => "businessAddress",
        AddressKind::Home => "homeAddress",
        AddressKind::Other => "otherAddress",
    }
}

fn addresses_into(out: &mut Map<String, Value>, list: &[PostalAddress]) {
    for kind in AddressKind::ALL {
        out.insert(address_property(kind).into(), address_json(list.iter().find(|a| a.kind == kind)));
    }
}

fn birthday_json(d: Option<NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| json!(format!("{}T11:59:00Z", d.format("%Y-%m-%d"))))
}

/// The body of `POST …/contacts`, carrying `key` in the sync-key extended property.
pub(crate) fn create_body(c: &Contact, key: &str, property: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let display: Vec<&str> =
        [&c.given_name, &c.middle_name, &c.family_name].iter().filter_map(|s| s.as_deref()).collect();
    if !display.is_empty() {
        out.insert("displayName".into(), json!(display.join(" ")));
    }
    for (k, v) in [
        ("givenName", &c.given_name),
        ("middleName", &c.middle_name),
        ("surname", &c.family_name),
        ("companyName", &c.company),
        ("jobTitle", &c.title),
        ("department", &c.department),
        ("assistantName", &c.assistant_name),
        ("personalNotes", &c.notes),
    ] {
        if v.is_some() {
            out.insert(k.into(), str_or_null(v));
        }
    }
    out.insert("emailAddresses".into(), emails_json(&c.emails));
    out.insert("businessPhones".into(), json!(numbers(&c.phones, PhoneKind::Business)));
    out.insert("homePhones".into(), json!(numbers(&c.phones, PhoneKind::Home)));
    if let Some(m) = numbers(&c.phones, PhoneKind::Mobile).into_iter().next() {
        out.insert("mobilePhone".into(), json!(m));
    }
    addresses_into(&mut out, &c.addresses);
    out.retain(|_, v| !v.is_null());
    if c.birthday.is_some() {
        out.insert("birthday".into(), birthday_json(c.birthday));
    }
    out.insert("singleValueExtendedProperties".into(), json!([{"id": property, "value": key}]));
    out
}

/// The body of `PATCH …/contacts/{id}` for a plan's field changes.
pub(crate) fn patch_body(patch: &[FieldChange]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let text_of = |v: &Option<FieldValue>| -> Result<Value, String> {
        match v {
            None => Ok(Value::Null),
            Some(FieldValue::Text(t)) => Ok(json!(t)),
            Some(other) => Err(format!("expected text, got {other:?}")),
        }
    };
    for change in patch {
        let v = &change.value;
        match &change.field {
            FieldKey::GivenName => {
                out.insert("givenName".into(), text_of(v)?);
            }
            FieldKey::MiddleName => {
                out.insert("middleName".into(), text_of(v)?);
            }
            FieldKey::FamilyName => {
                out.insert("surname".into(), text_of(v)?);
            }
            FieldKey::Company => {
                out.insert("companyName".into(), text_of(v)?);
            }
            FieldKey::Title => {
                out.insert("jobTitle".into(), text_of(v)?);
            }
            FieldKey::Department => {
                out.insert("department".into(), text_of(v)?);
            }
            FieldKey::AssistantName => {
                out.insert("assistantName".into(), text_of(v)?);
            }
            FieldKey::Notes => {
                out.insert("personalNotes".into(), text_of(v)?);
            }
            FieldKey::Emails => {
                let list = match v {
                    None => Vec::new(),
                    Some(FieldValue::Emails(l)) => l.clone(),
                    Some(other) => return Err(format!("expected emails, got {other:?}")),
                };
                out.insert("emailAddresses".into(), emails_json(&list));
            }
            FieldKey::Phone(kind) => {
                let list = match v {
                    None => Vec::new(),
                    Some(FieldValue::List(l)) => l.clone(),
                    Some(other) => return Err(format!("expected phone numbers, got {other:?}")),
                };
                match kind {
                    PhoneKind::Business => {
                        out.insert("businessPhones".into(), json!(list));
                    }
                    PhoneKind::Home => {
                        out.insert("homePhones".into(), json!(list));
                    }
                    PhoneKind::Mobile => {
                        out.insert("mobilePhone".into(), list.into_iter().next().map_or(Value::Null, Value::String));
                    }
                    other => return Err(format!("Graph contacts have no {} phone", other.as_str())),
                }
            }
            FieldKey::Address(kind) => {
                // Only the property of this kind: the other addresses are not this change's.
                let address = match v {
                    None => None,
                    Some(FieldValue::Addresses(l)) => l.first(),
                    Some(other) => return Err(format!("expected an address, got {other:?}")),
                };
                out.insert(address_property(*kind).into(), address_json(address));
            }
            FieldKey::Birthday => {
                let d = match v {
                    None => None,
                    Some(FieldValue::Date(d)) => Some(*d),
                    Some(other) => return Err(format!("expected a date, got {other:?}")),
                };
                out.insert("birthday".into(), birthday_json(d));
            }
            other => return Err(format!("field `{other}` is not synced to Graph contacts")),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Contact {
        Contact {
            given_name: Some("Ada".into()),
            middle_name: Some("King".into()),
            family_name: Some("Lovelace".into()),
            emails: vec![
                EmailAddress { kind: AddressKind::Work, address: "ada@example.com".into() },
                EmailAddress { kind: AddressKind::Home, address: "ada@home.example".into() },
            ],
            phones: vec![
                Phone { kind: PhoneKind::Business, number: "+44 20 1".into() },
                Phone { kind: PhoneKind::Business, number: "+44 20 2".into() },
                Phone { kind: PhoneKind::Mobile, number: "+44 7700".into() },
                Phone { kind: PhoneKind::Home, number: "+44 1".into() },
            ],
            company: Some("Analytical Engines".into()),
            title: Some("Countess".into()),
            department: Some("R&D".into()),
            addresses: vec![
                PostalAddress {
                    kind: AddressKind::Work,
                    street: Some("1 Main St\nFloor 2".into()),
                    city: Some("London".into()),
                    region: None,
                    postal_code: Some("W1".into()),
                    country: Some("UK".into()),
                },
                PostalAddress { kind: AddressKind::Home, city: Some("Marylebone".into()), ..PostalAddress::default() },
            ],
            birthday: NaiveDate::from_ymd_opt(1815, 12, 10),
            assistant_name: Some("Babbage".into()),
            notes: Some("notes; with, punctuation".into()),
            custom: Default::default(),
        }
    }

    #[test]
    fn contacts_round_trip_through_graph_json() {
        let c = sample();
        let body = create_body(&c, "tdm1", "String {x} Name K");
        assert_eq!(body["displayName"], "Ada King Lovelace");
        assert_eq!(body["jobTitle"], "Countess");
        assert!(body.get("title").is_none(), "`title` is the honorific in Graph");
        let graph: types::Contact = serde_json::from_value(json!({
            "id": "X",
            "givenName": body["givenName"], "middleName": body["middleName"], "surname": body["surname"],
            "emailAddresses": body["emailAddresses"], "businessPhones": body["businessPhones"],
            "homePhones": body["homePhones"], "mobilePhone": body["mobilePhone"],
            "companyName": body["companyName"], "jobTitle": body["jobTitle"], "department": body["department"],
            "businessAddress": body["businessAddress"], "homeAddress": body["homeAddress"], "otherAddress": {},
            "birthday": body["birthday"], "assistantName": body["assistantName"], "personalNotes": body["personalNotes"],
        }))
        .unwrap();
        assert_eq!(to_model(&graph).unwrap(), c);
    }

    #[test]
    fn patches_and_bad_values() {
        let p = patch_body(&[
            FieldChange { field: FieldKey::Phone(PhoneKind::Mobile), value: None },
            FieldChange { field: FieldKey::Title, value: Some(FieldValue::Text("Dr".into())) },
            FieldChange { field: FieldKey::Address(AddressKind::Home), value: None },
        ])
        .unwrap();
        assert_eq!(p["mobilePhone"], Value::Null);
        assert_eq!(p["jobTitle"], "Dr");
        assert_eq!(p["homeAddress"], Value::Null);
        // Issue 8: an address change touches only its own kind's property.
        assert!(!p.contains_key("businessAddress") && !p.contains_key("otherAddress"), "{p:?}");
        let moved = PostalAddress { kind: AddressKind::Work, city: Some("Movedtown".into()), ..Default::default() };
        let p = patch_body(&[FieldChange {
            field: FieldKey::Address(AddressKind::Work),
            value: Some(FieldValue::Addresses(vec![moved])),
        }])
        .unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["businessAddress"]);
        assert_eq!(p["businessAddress"]["city"], "Movedtown");
        assert!(patch_body(&[FieldChange { field: FieldKey::Phone(PhoneKind::Assistant), value: None }]).is_err());
        let bad: types::Contact = serde_json::from_value(json!({"id": "X", "birthday": "soon"})).unwrap();
        assert!(to_model(&bad).is_err());
    }
}
