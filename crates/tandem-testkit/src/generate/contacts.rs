//! Contact generation and editing.

use chrono::NaiveDate;
use tandem_core::model::{AddressKind, Contact, EmailAddress, Phone, PhoneKind, PostalAddress};

use super::pools::{self, CULTURES, Culture};
use crate::rng::Rng;

/// Stream offsets so that contacts and their edits draw from unrelated sequences.
const CONTACT_STREAM: u64 = 0x0C0A_7AC7;

pub(super) fn contacts(seed: u64, n: usize) -> Vec<Contact> {
    (0..n).map(|i| contact(seed, i)).collect()
}

fn contact(seed: u64, i: usize) -> Contact {
    let mut rng = Rng::derive(seed, CONTACT_STREAM ^ i as u64);
    // One in ten people gets a given name from another culture than their family name.
    let culture = rng.pick(CULTURES);
    let given_culture = if rng.chance(10) { rng.pick(CULTURES) } else { culture };
    let given = *rng.pick(given_culture.given);
    let family = *rng.pick(culture.family);
    let (company, domain) = *rng.pick(pools::COMPANIES);

    let mut c =
        Contact { given_name: Some(given.0.to_owned()), family_name: Some(family.0.to_owned()), ..Contact::default() };
    if !culture.middle.is_empty() && rng.chance(15) {
        c.middle_name = Some((*rng.pick(culture.middle)).to_owned());
    }

    // The primary email is unique by construction: it carries the index.
    c.emails.push(EmailAddress {
        kind: AddressKind::Work,
        address: format!("{}.{}.{i}@{domain}", slug(given.1), slug(family.1)),
    });
    if rng.chance(25) {
        c.emails.push(EmailAddress {
            kind: AddressKind::Home,
            address: format!("{}{i}@{}", slug(given.1), rng.pick(pools::HOME_DOMAINS)),
        });
    }

    if i % 13 != 7 {
        c.company = Some(company.to_owned());
    }
    if rng.chance(85) {
        c.title = Some((*rng.pick(pools::TITLES)).to_owned());
    }
    if rng.chance(60) {
        c.department = Some((*rng.pick(pools::DEPARTMENTS)).to_owned());
    }

    phones(&mut rng, culture, i, &mut c);

    if rng.chance(70) {
        c.addresses.push(address(&mut rng, culture, AddressKind::Work));
    }
    if i % 7 == 4 || rng.chance(20) {
        c.addresses.push(address(&mut rng, culture, AddressKind::Home));
    }
    if i % 5 == 1 || rng.chance(25) {
        c.birthday = birthday(&mut rng);
    }
    if i % 4 == 2 || rng.chance(20) {
        c.notes = Some(notes(&mut rng));
    }
    c
}

fn phones(rng: &mut Rng, culture: &Culture, i: usize, c: &mut Contact) {
    let mut kinds = Vec::new();
    if rng.chance(85) {
        kinds.push(PhoneKind::Business);
        if rng.chance(8) {
            kinds.push(PhoneKind::Business);
        }
    }
    if rng.chance(70) {
        kinds.push(PhoneKind::Mobile);
    }
    if rng.chance(25) {
        kinds.push(PhoneKind::Home);
    }
    if i % 6 == 3 || rng.chance(10) {
        kinds.push(PhoneKind::BusinessFax);
    }
    if i % 11 == 5 || rng.chance(3) {
        kinds.push(PhoneKind::HomeFax);
    }
    if i % 8 == 6 || rng.chance(6) {
        kinds.push(PhoneKind::Other);
    }
    if i % 9 == 4 || rng.chance(8) {
        c.assistant_name = Some((*rng.pick(pools::ASSISTANTS)).to_owned());
        if rng.chance(80) {
            kinds.push(PhoneKind::Assistant);
        }
    }
    for kind in kinds {
        let number = phone_number(rng, culture);
        c.phones.push(Phone { kind, number });
    }
}

pub(super) fn phone_number(rng: &mut Rng, culture: &Culture) -> String {
    rng.pick(culture.phones)
        .chars()
        .map(|ch| if ch == '#' { char::from(b'0' + rng.below(10) as u8) } else { ch })
        .collect()
}

fn address(rng: &mut Rng, culture: &Culture, kind: AddressKind) -> PostalAddress {
    let city = rng.pick(culture.cities);
    PostalAddress {
        kind,
        street: Some((*rng.pick(city.streets)).to_owned()),
        city: Some(city.city.to_owned()),
        region: city.region.map(str::to_owned),
        postal_code: Some((*rng.pick(city.postal_codes)).to_owned()),
        country: Some(city.country.to_owned()),
    }
}

fn birthday(rng: &mut Rng) -> Option<NaiveDate> {
    let year = rng.range(1955, 2002) as i32;
    let ordinal = rng.range(1, 365) as u32;
    NaiveDate::from_yo_opt(year, ordinal)
}

fn notes(rng: &mut Rng) -> String {
    let lines = rng.range(1, 3) as usize;
    let mut picked: Vec<&str> = Vec::with_capacity(lines);
    while picked.len() < lines {
        let line = *rng.pick(pools::NOTES);
        if !picked.contains(&line) {
            picked.push(line);
        }
    }
    picked.join("\n")
}

/// Lowercase ASCII letters, digits and hyphens only.
pub(super) fn slug(s: &str) -> String {
    s.chars()
        .filter_map(|ch| {
            let ch = ch.to_ascii_lowercase();
            (ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-').then_some(ch)
        })
        .collect()
}

pub(super) fn edit_contact(rng_seed: u64, c: &mut Contact) {
    // Mix in the contact's identity so that one seed edits different contacts differently.
    let identity = super::hash_str(&c.primary_email_key().unwrap_or_default());
    let mut rng = Rng::derive(rng_seed, CONTACT_STREAM.rotate_left(17) ^ identity);
    let before = c.clone();
    let edits = rng.range(1, 2);
    for _ in 0..edits {
        one_edit(&mut rng, c);
    }
    // A no-op edit (e.g. a title replaced by itself) would make a useless test; guarantee change.
    let mut tries = 0;
    while *c == before && tries < 8 {
        one_edit(&mut rng, c);
        tries += 1;
    }
    if *c == before {
        let extra = format!("Updated (edit {:04x}).", rng.below(0x1_0000));
        c.notes = Some(match c.notes.take() {
            Some(n) => format!("{n}\n{extra}"),
            None => extra,
        });
    }
}

fn one_edit(rng: &mut Rng, c: &mut Contact) {
    match rng.below(9) {
        0 => c.title = Some((*rng.pick(pools::TITLES)).to_owned()),
        1 => c.department = Some((*rng.pick(pools::DEPARTMENTS)).to_owned()),
        2 => c.company = Some(rng.pick(pools::COMPANIES).0.to_owned()),
        3 => {
            // A new direct line, or a first mobile.
            let culture = rng.pick(CULTURES);
            let number = phone_number(rng, culture);
            match c.phones.iter_mut().find(|p| p.kind == PhoneKind::Business) {
                Some(p) => p.number = number,
                None => c.phones.push(Phone { kind: PhoneKind::Mobile, number }),
            }
        }
        4 => {
            // Moved offices.
            let culture = rng.pick(CULTURES);
            let new = address(rng, culture, AddressKind::Work);
            match c.addresses.iter_mut().find(|a| a.kind == AddressKind::Work) {
                Some(a) => *a = new,
                None => c.addresses.push(new),
            }
        }
        5 => {
            let line = *rng.pick(pools::NOTES);
            c.notes = Some(match c.notes.take() {
                Some(n) if !n.contains(line) => format!("{n}\n{line}"),
                Some(n) => format!("{n}\nCalled again; no answer."),
                None => line.to_owned(),
            });
        }
        6 => {
            if c.birthday.is_none() {
                c.birthday = birthday(rng);
            } else {
                c.middle_name = match c.middle_name {
                    Some(_) => None,
                    None => Some("Marie".to_owned()),
                };
            }
        }
        7 => {
            // A personal address, unique because it reuses the (unique) primary local part.
            if let Some(local) = c.primary_email_key().and_then(|e| e.split('@').next().map(str::to_owned)) {
                let address = format!("{local}@{}", rng.pick(pools::HOME_DOMAINS));
                if !c.emails.iter().any(|e| e.address == address) {
                    c.emails.push(EmailAddress { kind: AddressKind::Home, address });
                }
            }
        }
        _ => {
            if c.assistant_name.is_some() {
                c.assistant_name = Some((*rng.pick(pools::ASSISTANTS)).to_owned());
            } else {
                c.title = Some((*rng.pick(pools::TITLES)).to_owned());
            }
        }
    }
}
