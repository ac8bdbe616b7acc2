//! People v1 `Person` ⇄ [`Contact`].

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value, json};
use tandem_core::fields::FieldKey;
use tandem_core::model::{AddressKind, Contact, EmailAddress, Phone, PhoneKind, PostalAddress};

/// The `clientData` key holding Tandem's idempotency key.
pub(crate) const KEY_CLIENT_DATA: &str = "tandemKey";

/// The person fields read (mapped ones plus what reading needs).
pub(crate) const PERSON_FIELDS: &str =
    "names,emailAddresses,phoneNumbers,organizations,addresses,birthdays,biographies,clientData,memberships,metadata";

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn first<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).and_then(Value::as_array).and_then(|a| a.first())
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn address_kind(t: Option<&str>) -> AddressKind {
    match t {
        Some("work") => AddressKind::Work,
        Some("home") => AddressKind::Home,
        _ => AddressKind::Other,
    }
}

fn phone_kind(t: Option<&str>) -> PhoneKind {
    match t {
        Some("work") => PhoneKind::Business,
        Some("mobile") => PhoneKind::Mobile,
        Some("home") => PhoneKind::Home,
        Some("workFax") => PhoneKind::BusinessFax,
        Some("homeFax") => PhoneKind::HomeFax,
        _ => PhoneKind::Other,
    }
}

fn phone_type(k: PhoneKind) -> &'static str {
    match k {
        PhoneKind::Business => "work",
        PhoneKind::Mobile => "mobile",
        PhoneKind::Home => "home",
        PhoneKind::BusinessFax => "workFax",
        PhoneKind::HomeFax => "homeFax",
        PhoneKind::Assistant | PhoneKind::Other => "other",
    }
}

/// A `Person` → the model.
pub(crate) fn contact_from_json(p: &Value) -> Result<Contact, String> {
    let name = first(p, "names");
    let org = first(p, "organizations");
    let birthday = match first(p, "birthdays").and_then(|b| b.get("date")) {
        Some(d) => {
            let n = |k: &str| d.get(k).and_then(Value::as_i64);
            match (n("year"), n("month"), n("day")) {
                (Some(y), Some(m), Some(day)) => Some(
                    i32::try_from(y)
                        .ok()
                        .zip(u32::try_from(m).ok().zip(u32::try_from(day).ok()))
                        .and_then(|(y, (m, d))| NaiveDate::from_ymd_opt(y, m, d))
                        .ok_or("an invalid birthday")?,
                ),
                _ => None,
            }
        }
        None => None,
    };
    Ok(Contact {
        given_name: name.and_then(|n| text(n, "givenName")),
        middle_name: name.and_then(|n| text(n, "middleName")),
        family_name: name.and_then(|n| text(n, "familyName")),
        emails: list(p, "emailAddresses")
            .filter_map(|e| {
                Some(EmailAddress {
                    kind: address_kind(e.get("type").and_then(Value::as_str)),
                    address: text(e, "value")?,
                })
            })
            .collect(),
        phones: list(p, "phoneNumbers")
            .filter_map(|e| {
                Some(Phone { kind: phone_kind(e.get("type").and_then(Value::as_str)), number: text(e, "value")? })
            })
            .collect(),
        company: org.and_then(|o| text(o, "name")),
        title: org.and_then(|o| text(o, "title")),
        department: org.and_then(|o| text(o, "department")),
        addresses: list(p, "addresses")
            .map(|a| PostalAddress {
                kind: address_kind(a.get("type").and_then(Value::as_str)),
                street: text(a, "streetAddress"),
                city: text(a, "city"),
                region: text(a, "region"),
                postal_code: text(a, "postalCode"),
                country: text(a, "country"),
            })
            .collect(),
        birthday,
        notes: first(p, "biographies").and_then(|b| text(b, "value")),
        ..Contact::default()
    })
}

/// The idempotency key in `clientData`, if Tandem created the person.
pub(crate) fn sync_key(p: &Value) -> Option<String> {
    list(p, "clientData")
        .find(|d| d.get("key").and_then(Value::as_str) == Some(KEY_CLIENT_DATA))
        .and_then(|d| text(d, "value"))
}

/// Whether the person is a member of the contact group `group` (a resource name).
pub(crate) fn in_group(p: &Value, group: &str) -> bool {
    list(p, "memberships")
        .any(|m| m.pointer("/contactGroupMembership/contactGroupResourceName").and_then(Value::as_str) == Some(group))
}

/// Whether People reports the person as deleted.
pub(crate) fn is_deleted(p: &Value) -> bool {
    p.pointer("/metadata/deleted").and_then(Value::as_bool).unwrap_or(false)
}

fn kind_type(k: AddressKind) -> &'static str {
    match k {
        AddressKind::Work => "work",
        AddressKind::Home => "home",
        AddressKind::Other => "other",
    }
}

/// The model → the mapped `Person` fields (all of them, empty lists clearing).
pub(crate) fn contact_to_json(c: &Contact) -> Map<String, Value> {
    let mut o = Map::new();
    let mut name = Map::new();
    for (k, v) in [("givenName", &c.given_name), ("middleName", &c.middle_name), ("familyName", &c.family_name)] {
        if let Some(v) = v {
            name.insert(k.into(), json!(v));
        }
    }
    o.insert("names".into(), if name.is_empty() { json!([]) } else { json!([name]) });
    o.insert(
        "emailAddresses".into(),
        c.emails.iter().map(|e| json!({"value": e.address, "type": kind_type(e.kind)})).collect(),
    );
    o.insert(
        "phoneNumbers".into(),
        c.phones.iter().map(|p| json!({"value": p.number, "type": phone_type(p.kind)})).collect(),
    );
    let mut org = Map::new();
    for (k, v) in [("name", &c.company), ("title", &c.title), ("department", &c.department)] {
        if let Some(v) = v {
            org.insert(k.into(), json!(v));
        }
    }
    o.insert("organizations".into(), if org.is_empty() { json!([]) } else { json!([org]) });
    o.insert(
        "addresses".into(),
        c.addresses
            .iter()
            .map(|a| {
                let mut m = Map::new();
                m.insert("type".into(), json!(kind_type(a.kind)));
                for (k, v) in [
                    ("streetAddress", &a.street),
                    ("city", &a.city),
                    ("region", &a.region),
                    ("postalCode", &a.postal_code),
                    ("country", &a.country),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), json!(v));
                    }
                }
                Value::Object(m)
            })
            .collect(),
    );
    o.insert(
        "birthdays".into(),
        match c.birthday {
            Some(d) => json!([{"date": {"year": d.year(), "month": d.month(), "day": d.day()}}]),
            None => json!([]),
        },
    );
    o.insert(
        "biographies".into(),
        match &c.notes {
            Some(n) => json!([{"value": n, "contentType": "TEXT_PLAIN"}]),
            None => json!([]),
        },
    );
    o
}

/// The `updateMask` entry of a field.
pub(crate) fn mask_of(key: &FieldKey) -> Option<&'static str> {
    Some(match key {
        FieldKey::GivenName | FieldKey::MiddleName | FieldKey::FamilyName => "names",
        FieldKey::Emails => "emailAddresses",
        FieldKey::Phone(_) => "phoneNumbers",
        FieldKey::Company | FieldKey::Title | FieldKey::Department => "organizations",
        FieldKey::Address(_) => "addresses",
        FieldKey::Birthday => "birthdays",
        FieldKey::Notes => "biographies",
        _ => return None,
    })
}
