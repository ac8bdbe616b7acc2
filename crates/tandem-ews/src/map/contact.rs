//! Contacts ⇄ `t:Contact`.
//!
//! | model | EWS |
//! |---|---|
//! | given, middle, family name | `GivenName`, `MiddleName`, `Surname` |
//! | company, title, department | `CompanyName`, `JobTitle`, `Department` |
//! | `emails` (≤ 3; kinds by position: work, home, other) | `EmailAddresses/Entry[@Key=EmailAddress1..3]` |
//! | `phone.business` (≤ 2), `phone.home` (≤ 2), `phone.mobile`, `phone.business_fax`, `phone.home_fax`, `phone.assistant`, `phone.other` | `PhoneNumbers/Entry[@Key=BusinessPhone, BusinessPhone2, HomePhone, HomePhone2, MobilePhone, BusinessFax, HomeFax, AssistantPhone, OtherTelephone]` |
//! | `address.work`, `address.home`, `address.other` | `PhysicalAddresses/Entry[@Key=Business, Home, Other]` (`Street`, `City`, `State`, `CountryOrRegion`, `PostalCode`) |
//! | birthday | `Birthday` (written at midnight UTC; read as the nearest date, since clients store it at local midnight or 11:59 UTC) |
//! | assistant name | `AssistantName` |
//! | notes | `Body` (`BodyType="Text"`) |

use chrono::{NaiveDate, TimeDelta};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{AddressKind, Contact, EmailAddress, Phone, PhoneKind, PostalAddress, Record};
use tandem_core::plan::FieldChange;

use super::{delete_field, delete_indexed, set_field, set_indexed, text};
use crate::xml::{Element, XmlWriter};

/// The properties read for a contact (besides the sync key).
pub(crate) const PROPERTIES: [&str; 13] = [
    "item:Body",
    "item:LastModifiedTime",
    "contacts:GivenName",
    "contacts:MiddleName",
    "contacts:Surname",
    "contacts:CompanyName",
    "contacts:JobTitle",
    "contacts:Department",
    "contacts:EmailAddresses",
    "contacts:PhoneNumbers",
    "contacts:PhysicalAddresses",
    "contacts:Birthday",
    "contacts:AssistantName",
];

const EMAIL_KEYS: [(&str, AddressKind); 3] =
    [("EmailAddress1", AddressKind::Work), ("EmailAddress2", AddressKind::Home), ("EmailAddress3", AddressKind::Other)];

/// Phone slots by kind, in order.
pub(crate) const PHONE_KEYS: [(PhoneKind, &[&str]); 7] = [
    (PhoneKind::Business, &["BusinessPhone", "BusinessPhone2"]),
    (PhoneKind::Home, &["HomePhone", "HomePhone2"]),
    (PhoneKind::Mobile, &["MobilePhone"]),
    (PhoneKind::BusinessFax, &["BusinessFax"]),
    (PhoneKind::HomeFax, &["HomeFax"]),
    (PhoneKind::Assistant, &["AssistantPhone"]),
    (PhoneKind::Other, &["OtherTelephone"]),
];

const ADDRESS_KEYS: [(AddressKind, &str); 3] =
    [(AddressKind::Work, "Business"), (AddressKind::Home, "Home"), (AddressKind::Other, "Other")];

const ADDRESS_PARTS: [&str; 5] = ["Street", "City", "State", "CountryOrRegion", "PostalCode"];

/// The simple text properties: (field, field URI, element), in schema order.
const TEXTS: [(FieldKey, &str, &str); 8] = [
    (FieldKey::GivenName, "contacts:GivenName", "t:GivenName"),
    (FieldKey::MiddleName, "contacts:MiddleName", "t:MiddleName"),
    (FieldKey::Company, "contacts:CompanyName", "t:CompanyName"),
    (FieldKey::AssistantName, "contacts:AssistantName", "t:AssistantName"),
    (FieldKey::Department, "contacts:Department", "t:Department"),
    (FieldKey::Title, "contacts:JobTitle", "t:JobTitle"),
    (FieldKey::FamilyName, "contacts:Surname", "t:Surname"),
    (FieldKey::Notes, "item:Body", "t:Body"),
];

fn entry<'a>(dict: Option<&'a Element>, key: &str) -> Option<&'a Element> {
    dict?.children.iter().find(|e| e.name == "Entry" && e.attr("Key") == Some(key))
}

/// A `t:Contact` as a canonical contact.
pub(crate) fn parse(item: &Element) -> Result<Contact, String> {
    let mut c = Contact {
        given_name: text(item, "GivenName"),
        middle_name: text(item, "MiddleName"),
        family_name: text(item, "Surname"),
        company: text(item, "CompanyName"),
        title: text(item, "JobTitle"),
        department: text(item, "Department"),
        assistant_name: text(item, "AssistantName"),
        notes: text(item, "Body"),
        ..Contact::default()
    };
    let emails = item.child("EmailAddresses");
    for (key, kind) in EMAIL_KEYS {
        if let Some(address) = entry(emails, key).map(|e| e.text.trim()).filter(|t| !t.is_empty()) {
            c.emails.push(EmailAddress { kind, address: address.to_owned() });
        }
    }
    let phones = item.child("PhoneNumbers");
    for (kind, keys) in PHONE_KEYS {
        for key in keys {
            if let Some(number) = entry(phones, key).map(|e| e.text.trim()).filter(|t| !t.is_empty()) {
                c.phones.push(Phone { kind, number: number.to_owned() });
            }
        }
    }
    let addresses = item.child("PhysicalAddresses");
    for (kind, key) in ADDRESS_KEYS {
        if let Some(e) = entry(addresses, key) {
            let a = PostalAddress {
                kind,
                street: text(e, "Street"),
                city: text(e, "City"),
                region: text(e, "State"),
                postal_code: text(e, "PostalCode"),
                country: text(e, "CountryOrRegion"),
            };
            if a.street.is_some()
                || a.city.is_some()
                || a.region.is_some()
                || a.postal_code.is_some()
                || a.country.is_some()
            {
                c.addresses.push(a);
            }
        }
    }
    if let Some(b) = item.text_of("Birthday") {
        let t = super::time::parse_instant(b).ok_or_else(|| format!("invalid Birthday `{b}`"))?;
        let nearest = t.checked_add_signed(TimeDelta::hours(12)).ok_or("Birthday out of range")?;
        c.birthday = Some(nearest.date_naive());
    }
    Ok(c)
}

fn birthday(d: NaiveDate) -> String {
    format!("{}T00:00:00Z", d.format("%Y-%m-%d"))
}

fn text_value(c: &Contact, key: &FieldKey) -> Option<String> {
    match Record::Contact(c.clone()).get(key) {
        Some(FieldValue::Text(t)) => Some(t),
        _ => None,
    }
}

fn write_text(w: &mut XmlWriter, element: &str, value: &str) {
    if element == "t:Body" {
        w.text_with("t:Body", &[("BodyType", "Text")], value);
    } else {
        w.text(element, value);
    }
}

/// The slots of one phone kind, filled in order.
fn phone_slots<'a>(
    c: &'a Contact,
    kind: PhoneKind,
    keys: &'a [&'a str],
) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
    let mut numbers = c.phones.iter().filter(move |p| p.kind == kind).map(|p| p.number.as_str());
    keys.iter().map(move |k| (*k, numbers.next()))
}

/// Writes a whole `<t:Contact>` for CreateItem, in schema order, with the sync key.
pub(crate) fn write_create(w: &mut XmlWriter, c: &Contact, key: impl FnOnce(&mut XmlWriter)) {
    w.open("t:Contact", &[]);
    if let Some(notes) = &c.notes {
        write_text(w, "t:Body", notes);
    }
    key(w);
    let display: Vec<&str> =
        [&c.given_name, &c.middle_name, &c.family_name].into_iter().flatten().map(String::as_str).collect();
    if !display.is_empty() {
        w.text("t:DisplayName", &display.join(" "));
    }
    let simple = |w: &mut XmlWriter, k: &FieldKey| {
        if let Some((_, _, el)) = TEXTS.iter().find(|(f, _, _)| f == k)
            && let Some(v) = text_value(c, k)
        {
            write_text(w, el, &v);
        }
    };
    simple(w, &FieldKey::GivenName);
    simple(w, &FieldKey::MiddleName);
    simple(w, &FieldKey::Company);
    if !c.emails.is_empty() {
        w.open("t:EmailAddresses", &[]);
        for ((key, _), email) in EMAIL_KEYS.iter().zip(&c.emails) {
            w.text_with("t:Entry", &[("Key", key)], &email.address);
        }
        w.close("t:EmailAddresses");
    }
    if !c.addresses.is_empty() {
        w.open("t:PhysicalAddresses", &[]);
        for (kind, key) in ADDRESS_KEYS {
            if let Some(a) = c.addresses.iter().find(|a| a.kind == kind) {
                w.open("t:Entry", &[("Key", key)]);
                write_address_parts(w, a);
                w.close("t:Entry");
            }
        }
        w.close("t:PhysicalAddresses");
    }
    if !c.phones.is_empty() {
        w.open("t:PhoneNumbers", &[]);
        for (kind, keys) in PHONE_KEYS {
            for (key, number) in phone_slots(c, kind, keys) {
                if let Some(n) = number {
                    w.text_with("t:Entry", &[("Key", key)], n);
                }
            }
        }
        w.close("t:PhoneNumbers");
    }
    simple(w, &FieldKey::AssistantName);
    if let Some(b) = c.birthday {
        w.text("t:Birthday", &birthday(b));
    }
    simple(w, &FieldKey::Department);
    simple(w, &FieldKey::Title);
    simple(w, &FieldKey::FamilyName);
    w.close("t:Contact");
}

fn part<'a>(a: &'a PostalAddress, name: &str) -> Option<&'a str> {
    match name {
        "Street" => a.street.as_deref(),
        "City" => a.city.as_deref(),
        "State" => a.region.as_deref(),
        "CountryOrRegion" => a.country.as_deref(),
        _ => a.postal_code.as_deref(),
    }
}

fn write_address_parts(w: &mut XmlWriter, a: &PostalAddress) {
    for name in ADDRESS_PARTS {
        if let Some(v) = part(a, name) {
            w.text(&format!("t:{name}"), v);
        }
    }
}

/// Writes the `SetItemField`/`DeleteItemField` updates of `patch` (only its fields).
pub(crate) fn write_updates(w: &mut XmlWriter, patch: &[FieldChange]) -> Result<(), String> {
    let mut c = Record::Contact(Contact::default());
    for change in patch {
        c.set(&change.field, change.value.clone()).map_err(|e| e.to_string())?;
    }
    let Record::Contact(c) = c else { return Err("not a contact".to_owned()) };
    for change in patch {
        let key = &change.field;
        if let Some((_, uri, el)) = TEXTS.iter().find(|(f, _, _)| f == key) {
            match text_value(&c, key) {
                Some(v) => set_field(w, uri, "t:Contact", |w| write_text(w, el, &v)),
                None => delete_field(w, uri),
            }
            continue;
        }
        match key {
            FieldKey::Emails => {
                for (i, (slot, _)) in EMAIL_KEYS.iter().enumerate() {
                    match c.emails.get(i) {
                        Some(e) => set_indexed(w, "contacts:EmailAddress", slot, "t:Contact", |w| {
                            w.open("t:EmailAddresses", &[]);
                            w.text_with("t:Entry", &[("Key", slot)], &e.address);
                            w.close("t:EmailAddresses");
                        }),
                        None => delete_indexed(w, "contacts:EmailAddress", slot),
                    }
                }
            }
            FieldKey::Phone(kind) => {
                let keys = PHONE_KEYS.iter().find(|(k, _)| k == kind).map(|(_, keys)| *keys).unwrap_or_default();
                for (slot, number) in phone_slots(&c, *kind, keys) {
                    match number {
                        Some(n) => set_indexed(w, "contacts:PhoneNumber", slot, "t:Contact", |w| {
                            w.open("t:PhoneNumbers", &[]);
                            w.text_with("t:Entry", &[("Key", slot)], n);
                            w.close("t:PhoneNumbers");
                        }),
                        None => delete_indexed(w, "contacts:PhoneNumber", slot),
                    }
                }
            }
            FieldKey::Address(kind) => {
                let slot = ADDRESS_KEYS.iter().find(|(k, _)| k == kind).map_or("Other", |(_, s)| *s);
                let address = c.addresses.iter().find(|a| a.kind == *kind);
                for name in ADDRESS_PARTS {
                    let uri = format!("contacts:PhysicalAddress:{name}");
                    match address.and_then(|a| part(a, name)) {
                        Some(v) => set_indexed(w, &uri, slot, "t:Contact", |w| {
                            w.open("t:PhysicalAddresses", &[]);
                            w.open("t:Entry", &[("Key", slot)]);
                            w.text(&format!("t:{name}"), v);
                            w.close("t:Entry");
                            w.close("t:PhysicalAddresses");
                        }),
                        None => delete_indexed(w, &uri, slot),
                    }
                }
            }
            FieldKey::Birthday => match c.birthday {
                Some(b) => set_field(w, "contacts:Birthday", "t:Contact", |w| w.text("t:Birthday", &birthday(b))),
                None => delete_field(w, "contacts:Birthday"),
            },
            other => return Err(format!("EWS contacts have no field `{other:?}`")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml;

    fn ada() -> Contact {
        Contact {
            given_name: Some("Ada".into()),
            middle_name: Some("King".into()),
            family_name: Some("Lovelace & <Byron>".into()),
            emails: vec![
                EmailAddress { kind: AddressKind::Work, address: "ada@example.com".into() },
                EmailAddress { kind: AddressKind::Home, address: "ada@home.example".into() },
            ],
            phones: vec![
                Phone { kind: PhoneKind::Business, number: "+44 1".into() },
                Phone { kind: PhoneKind::Business, number: "+44 2".into() },
                Phone { kind: PhoneKind::Mobile, number: "+44 3".into() },
                Phone { kind: PhoneKind::BusinessFax, number: "+44 4".into() },
                Phone { kind: PhoneKind::HomeFax, number: "+44 5".into() },
                Phone { kind: PhoneKind::Assistant, number: "+44 6".into() },
                Phone { kind: PhoneKind::Other, number: "+44 7".into() },
            ],
            company: Some("Analytical Engines Ltd".into()),
            title: Some("Countess".into()),
            department: Some("R&D".into()),
            addresses: vec![PostalAddress {
                kind: AddressKind::Home,
                street: Some("12 St James's Square".into()),
                city: Some("London".into()),
                region: None,
                postal_code: Some("SW1".into()),
                country: Some("UK".into()),
            }],
            birthday: NaiveDate::from_ymd_opt(1815, 12, 10),
            assistant_name: Some("Babbage".into()),
            notes: Some("first line\nsecond ]]> line".into()),
            custom: Default::default(),
        }
    }

    #[test]
    fn contacts_round_trip_through_create_xml() {
        let mut w = XmlWriter::new();
        write_create(&mut w, &ada(), |_| {});
        let bytes = w.into_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("Lovelace &amp; &lt;Byron&gt;"), "{text}");
        let root = xml::parse(&bytes, 1 << 20).unwrap();
        assert_eq!(root.name, "Contact");
        assert_eq!(parse(&root).unwrap(), ada());
    }

    #[test]
    fn birthdays_read_as_the_nearest_date() {
        let item =
            xml::parse(b"<t:Contact xmlns:t=\"x\"><t:Birthday>1990-05-16T22:00:00Z</t:Birthday></t:Contact>", 1024)
                .unwrap();
        assert_eq!(parse(&item).unwrap().birthday, NaiveDate::from_ymd_opt(1990, 5, 17));
        let item = xml::parse(b"<Contact><Birthday>1990-05-17T11:59:00Z</Birthday></Contact>", 1024).unwrap();
        assert_eq!(parse(&item).unwrap().birthday, NaiveDate::from_ymd_opt(1990, 5, 17));
    }

    #[test]
    fn updates_touch_only_the_patched_fields() {
        let patch = vec![
            FieldChange { field: FieldKey::GivenName, value: Some(FieldValue::Text("Ada <b>".into())) },
            FieldChange { field: FieldKey::Department, value: None },
            FieldChange { field: FieldKey::Phone(PhoneKind::Mobile), value: Some(FieldValue::List(vec!["+1".into()])) },
        ];
        let mut w = XmlWriter::new();
        w.open("t:Updates", &[]);
        write_updates(&mut w, &patch).unwrap();
        w.close("t:Updates");
        let text = String::from_utf8(w.into_bytes()).unwrap();
        assert!(
            text.contains(
                "<t:FieldURI FieldURI=\"contacts:GivenName\"/><t:Contact><t:GivenName>Ada &lt;b&gt;</t:GivenName>"
            ),
            "{text}"
        );
        assert!(text.contains("<t:DeleteItemField><t:FieldURI FieldURI=\"contacts:Department\"/></t:DeleteItemField>"));
        assert!(text.contains("FieldIndex=\"MobilePhone\""));
        assert!(!text.contains("Surname"));
        assert!(!text.contains("BusinessPhone"));
    }
}
