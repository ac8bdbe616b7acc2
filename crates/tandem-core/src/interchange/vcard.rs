//! vCard import (3.0 and 4.0) and export (3.0) of [`Contact`]s.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::InterchangeError;
use super::text::{self, ContentWriter, Prop, VCARD};
use crate::model::{AddressKind, Contact, EmailAddress, Phone, PhoneKind, PostalAddress};

/// Prefix of custom-field properties.
const PREFIX: &str = "X-TANDEM-";

/// Parses vCard text (one or more `VCARD`s, version 3.0 or 4.0) into contacts.
///
/// - `N` gives family, given and middle name; without a usable `N`, `FN` is split at its last
///   space into given and family name (a single word is the family name), unless `FN` just
///   repeats the organisation or an email address.
/// - `EMAIL` keeps document order, except that preferred addresses (`TYPE=PREF`, `PREF=n`)
///   come first; `TYPE=WORK` / `HOME` give the kind, anything else is "other".
/// - `TEL` kinds: `fax` with `home` is home fax, with `work` business fax; `cell` (also Apple's
///   `iPhone` and "mobile" labels) is mobile; `home` is home; `work` or `voice` is business;
///   `x-assistant` / `assistant` is the assistant's phone; anything else is "other". Apple's
///   `itemN.X-ABLabel` labels count as types. A `tel:` URI prefix is removed.
/// - `ORG` gives company and department, `ADR` the address (its post-office box and extended
///   address are added as further street lines), `BDAY` the birthday (`YYYY-MM-DD` or
///   `YYYYMMDD`; dates without a year such as `--0415` are ignored), `X-ASSISTANT` /
///   `X-MS-ASSISTANT` (or Apple's related name labelled "Assistant") the assistant's name, `NOTE` the notes, and `X-TANDEM-<name>` custom
///   fields.
///
/// Text that is empty or only white space gives no contacts.
///
/// # Errors
///
/// [`InterchangeError::Parse`] for malformed text, [`InterchangeError::InvalidValue`] for a
/// `BDAY` that is neither a date nor a reduced form without year.
pub fn parse_vcard(text: &str) -> Result<Vec<Contact>, InterchangeError> {
    let prepared = text::prepare(text, &VCARD)?;
    let cards = text::contained_parse(ical::VcardParser::new(prepared.text.as_bytes()))?;
    let mut contacts = Vec::new();
    for card in cards {
        let card = card.map_err(|e| prepared.error(e))?;
        contacts.push(contact(&text::props(card.properties))?);
    }
    Ok(contacts)
}

/// Apple's `_$!<Mobile>!$_` label, or a plain label, as a lower-case type token.
fn label_token(label: &str) -> String {
    let label = label.trim();
    let label = label.strip_prefix("_$!<").and_then(|l| l.strip_suffix(">!$_")).unwrap_or(label);
    label.to_lowercase()
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.is_empty()).cloned()
}

fn contact(props: &[Prop]) -> Result<Contact, InterchangeError> {
    let labels: HashMap<&str, String> = props
        .iter()
        .filter(|p| p.name == "X-ABLABEL")
        .filter_map(|p| p.group.as_deref().map(|g| (g, label_token(&p.text()))))
        .collect();
    let types = |p: &Prop| {
        let mut tokens = p.tokens("TYPE");
        if let Some(label) = p.group.as_deref().and_then(|g| labels.get(g)) {
            tokens.push(label.clone());
        }
        tokens
    };
    let first = |name: &str| props.iter().find(|p| p.name == name);
    let mut c = Contact::default();

    if let Some(org) = first("ORG") {
        let parts = text::split_unescaped(&org.value, ';');
        c.company = non_empty(parts.first());
        c.department = non_empty(parts.get(1));
    }
    c.title = first("TITLE").and_then(Prop::text_opt);
    c.notes = first("NOTE").and_then(Prop::text_opt);
    c.assistant_name = props
        .iter()
        .filter(|p| matches!(p.name.as_str(), "X-ASSISTANT" | "X-MS-ASSISTANT" | "X-EVOLUTION-ASSISTANT"))
        .find_map(Prop::text_opt)
        .or_else(|| {
            // Apple: `itemN.X-ABRELATEDNAMES` labelled `_$!<Assistant>!$_`.
            props
                .iter()
                .filter(|p| p.name == "X-ABRELATEDNAMES" && types(p).iter().any(|t| t == "assistant"))
                .find_map(Prop::text_opt)
        });

    let mut emails: Vec<(u32, EmailAddress)> = Vec::new();
    for p in props.iter().filter(|p| p.name == "EMAIL") {
        let address = p.text();
        if address.trim().is_empty() {
            continue;
        }
        let t = types(p);
        let rank = p
            .param("PREF")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .or_else(|| t.iter().any(|x| x == "pref").then_some(1))
            .unwrap_or(u32::MAX);
        emails.push((rank, EmailAddress { kind: address_kind(&t), address }));
    }
    emails.sort_by_key(|(rank, _)| *rank);
    c.emails = emails.into_iter().map(|(_, e)| e).collect();

    for p in props.iter().filter(|p| p.name == "TEL") {
        let mut number = p.text();
        if let Some(rest) = number.get(..4).filter(|h| h.eq_ignore_ascii_case("tel:")).map(|_| number[4..].to_owned()) {
            number = rest;
        }
        if number.trim().is_empty() {
            continue;
        }
        c.phones.push(Phone { kind: phone_kind(&types(p)), number });
    }

    for p in props.iter().filter(|p| p.name == "ADR") {
        let parts = text::split_unescaped(&p.value, ';');
        let street: Vec<&str> =
            [2, 1, 0].iter().filter_map(|&i| parts.get(i).map(String::as_str)).filter(|s| !s.is_empty()).collect();
        let address = PostalAddress {
            kind: address_kind(&types(p)),
            street: (!street.is_empty()).then(|| street.join("\n")),
            city: non_empty(parts.get(3)),
            region: non_empty(parts.get(4)),
            postal_code: non_empty(parts.get(5)),
            country: non_empty(parts.get(6)),
        };
        if address.street.is_some()
            || address.city.is_some()
            || address.region.is_some()
            || address.postal_code.is_some()
            || address.country.is_some()
        {
            c.addresses.push(address);
        }
    }

    if let Some(bday) = first("BDAY") {
        c.birthday = birthday(bday)?;
    }

    let mut custom = BTreeMap::new();
    for p in props {
        if let Some(rest) = p
            .raw_name
            .get(..PREFIX.len())
            .filter(|h| h.eq_ignore_ascii_case(PREFIX))
            .map(|_| &p.raw_name[PREFIX.len()..])
            && let Some(value) = p.text_opt()
        {
            custom.insert(text::decode_name(rest), value);
        }
    }
    c.custom = custom;

    if let Some(n) = first("N") {
        let parts = text::split_unescaped(&n.value, ';');
        c.family_name = non_empty(parts.first());
        c.given_name = non_empty(parts.get(1));
        c.middle_name = non_empty(parts.get(2));
    }
    if c.family_name.is_none()
        && c.given_name.is_none()
        && c.middle_name.is_none()
        && let Some(full) = first("FN").map(|p| p.text())
    {
        let full = full.trim();
        let repeats_other_field = c.company.as_deref().map(str::trim) == Some(full)
            || c.emails.iter().any(|e| e.address.trim().eq_ignore_ascii_case(full));
        if !full.is_empty() && !repeats_other_field {
            match full.rsplit_once(char::is_whitespace) {
                Some((given, family)) => {
                    c.given_name = Some(given.trim_end().to_owned());
                    c.family_name = Some(family.to_owned());
                }
                None => c.family_name = Some(full.to_owned()),
            }
        }
    }
    Ok(c)
}

fn address_kind(types: &[String]) -> AddressKind {
    if types.iter().any(|t| t == "work") {
        AddressKind::Work
    } else if types.iter().any(|t| t == "home") {
        AddressKind::Home
    } else {
        AddressKind::Other
    }
}

fn phone_kind(types: &[String]) -> PhoneKind {
    let has = |x: &str| types.iter().any(|t| t == x);
    if has("x-assistant") || has("assistant") {
        PhoneKind::Assistant
    } else if has("fax") {
        if has("home") {
            PhoneKind::HomeFax
        } else if has("work") {
            PhoneKind::BusinessFax
        } else {
            PhoneKind::Other
        }
    } else if has("cell") || has("mobile") || has("iphone") {
        PhoneKind::Mobile
    } else if has("home") {
        PhoneKind::Home
    } else if has("work") || has("voice") {
        PhoneKind::Business
    } else {
        PhoneKind::Other
    }
}

/// `YYYY-MM-DD` or `YYYYMMDD` (a time part is ignored); `None` for forms without a year
/// (`--MMDD`, `--MM-DD`), a year or month alone, and `VALUE=text`.
fn birthday(prop: &Prop) -> Result<Option<NaiveDate>, InterchangeError> {
    let value = prop.text();
    let value = value.trim();
    if value.is_empty()
        || value.starts_with("--")
        || prop.param("VALUE").is_some_and(|v| v.trim().eq_ignore_ascii_case("text"))
    {
        return Ok(None);
    }
    let date = value.split(['T', 't']).next().unwrap_or(value);
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Reduced precision: `YYYY` or `YYYY-MM`.
    if (date.len() == 4 && all_digits(date))
        || (date.len() == 7
            && date.as_bytes().get(4) == Some(&b'-')
            && all_digits(&date[..4])
            && all_digits(&date[5..]))
    {
        return Ok(None);
    }
    let parsed = match date.len() {
        10 if all_digits(&date.replace('-', "")) => NaiveDate::parse_from_str(date, "%Y-%m-%d").ok(),
        8 if all_digits(date) => NaiveDate::parse_from_str(date, "%Y%m%d").ok(),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| InterchangeError::InvalidValue { property: "BDAY".to_owned(), value: value.to_owned() })
}

/// Writes contacts as vCard 3.0: CRLF line endings, folded at 75 octets, text escaped.
///
/// `FN` is the full name, or the company or first email address for a contact without a name
/// (which [`parse_vcard`] does not mistake for a name). Writing never fails; [`parse_vcard`]
/// reads the result back into the same values.
pub fn write_vcard(contacts: &[Contact]) -> String {
    let mut w = ContentWriter::default();
    for c in contacts {
        write_contact(&mut w, c);
    }
    w.finish()
}

fn structured(parts: &[Option<&str>]) -> String {
    parts.iter().map(|p| text::escape(p.unwrap_or_default())).collect::<Vec<_>>().join(";")
}

fn write_contact(w: &mut ContentWriter, c: &Contact) {
    w.line("BEGIN", &[], "VCARD");
    w.line("VERSION", &[], "3.0");
    w.line(
        "N",
        &[],
        &structured(&[c.family_name.as_deref(), c.given_name.as_deref(), c.middle_name.as_deref(), None, None]),
    );
    let names: Vec<&str> = [&c.given_name, &c.middle_name, &c.family_name]
        .into_iter()
        .filter_map(|n| n.as_deref())
        .filter(|n| !n.is_empty())
        .collect();
    let full = if names.is_empty() {
        c.company
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| c.emails.first().map(|e| e.address.clone()))
            .unwrap_or_default()
    } else {
        names.join(" ")
    };
    w.text("FN", &[], &full);
    match (c.company.as_deref(), c.department.as_deref()) {
        (None, None) => {}
        (company, None) => w.line("ORG", &[], &structured(&[company])),
        (company, department) => w.line("ORG", &[], &structured(&[company, department])),
    }
    if let Some(title) = c.title.as_deref().filter(|t| !t.is_empty()) {
        w.text("TITLE", &[], title);
    }
    for (i, email) in c.emails.iter().enumerate() {
        let mut types = vec!["INTERNET"];
        match email.kind {
            AddressKind::Work => types.push("WORK"),
            AddressKind::Home => types.push("HOME"),
            AddressKind::Other => {}
        }
        if i == 0 {
            types.push("PREF");
        }
        w.text("EMAIL", &[("TYPE", types.join(","))], &email.address);
    }
    for phone in &c.phones {
        let types = match phone.kind {
            PhoneKind::Business => Some("WORK,VOICE"),
            PhoneKind::Mobile => Some("CELL,VOICE"),
            PhoneKind::Home => Some("HOME,VOICE"),
            PhoneKind::BusinessFax => Some("WORK,FAX"),
            PhoneKind::HomeFax => Some("HOME,FAX"),
            PhoneKind::Assistant => Some("X-ASSISTANT"),
            PhoneKind::Other => None,
        };
        let params: Vec<_> = types.map(|t| ("TYPE", t.to_owned())).into_iter().collect();
        w.text("TEL", &params, &phone.number);
    }
    for a in &c.addresses {
        let params: Vec<_> = match a.kind {
            AddressKind::Work => Some("WORK"),
            AddressKind::Home => Some("HOME"),
            AddressKind::Other => None,
        }
        .map(|t| ("TYPE", t.to_owned()))
        .into_iter()
        .collect();
        let value = structured(&[
            None,
            None,
            a.street.as_deref(),
            a.city.as_deref(),
            a.region.as_deref(),
            a.postal_code.as_deref(),
            a.country.as_deref(),
        ]);
        w.line("ADR", &params, &value);
    }
    if let Some(bday) = c.birthday {
        w.line("BDAY", &[], &bday.format("%Y-%m-%d").to_string());
    }
    if let Some(assistant) = c.assistant_name.as_deref().filter(|a| !a.is_empty()) {
        w.text("X-ASSISTANT", &[], assistant);
    }
    if let Some(notes) = c.notes.as_deref().filter(|n| !n.is_empty()) {
        w.text("NOTE", &[], notes);
    }
    for (name, value) in &c.custom {
        w.text(&format!("{PREFIX}{}", text::encode_name(name)), &[], value);
    }
    w.line("END", &[], "VCARD");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn card(body: &str) -> Result<Contact, InterchangeError> {
        parse_vcard(&format!("BEGIN:VCARD\r\nVERSION:3.0\r\n{body}END:VCARD\r\n")).map(|mut c| c.remove(0))
    }

    #[test]
    fn names() {
        let c = card("N:Doe\\;Smith;John;Q.;Dr.;Jr.\r\nFN:ignored\r\n").unwrap();
        assert_eq!(
            (c.family_name.as_deref(), c.given_name.as_deref(), c.middle_name.as_deref()),
            (Some("Doe;Smith"), Some("John"), Some("Q."))
        );
        let c = card("FN:Mary Ann  O'Neil\r\n").unwrap();
        assert_eq!((c.given_name.as_deref(), c.family_name.as_deref()), (Some("Mary Ann"), Some("O'Neil")));
        let c = card("N:;;;;\r\nFN:Cher\r\n").unwrap();
        assert_eq!((c.given_name, c.family_name.as_deref()), (None, Some("Cher")));
        // FN repeating the company or an email is not a name.
        let c = card("N:;;;;\r\nFN:Acme Corp\r\nORG:Acme Corp\r\n").unwrap();
        assert_eq!((c.given_name, c.family_name, c.company.as_deref()), (None, None, Some("Acme Corp")));
        let c = card("FN:info@acme.test\r\nEMAIL:info@acme.test\r\n").unwrap();
        assert_eq!(c.family_name, None);
    }

    #[test]
    fn emails_prefer_pref() {
        let c = card(
            "EMAIL;TYPE=INTERNET;TYPE=HOME:home@x.test\r\nEMAIL:other@x.test\r\n\
             EMAIL;TYPE=INTERNET,WORK,PREF:work@x.test\r\nEMAIL;PREF=2;TYPE=work:v4@x.test\r\n",
        )
        .unwrap();
        let got: Vec<_> = c.emails.iter().map(|e| (e.kind, e.address.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (AddressKind::Work, "work@x.test"),
                (AddressKind::Work, "v4@x.test"),
                (AddressKind::Home, "home@x.test"),
                (AddressKind::Other, "other@x.test"),
            ]
        );
    }

    #[test]
    fn phone_kinds() {
        let cases = [
            ("TYPE=WORK,VOICE", PhoneKind::Business),
            ("TYPE=VOICE", PhoneKind::Business),
            ("TYPE=work", PhoneKind::Business),
            ("TYPE=CELL", PhoneKind::Mobile),
            ("TYPE=\"voice,cell\";PREF=1", PhoneKind::Mobile),
            ("type=IPHONE", PhoneKind::Mobile),
            ("TYPE=HOME;TYPE=VOICE", PhoneKind::Home),
            ("TYPE=WORK,FAX", PhoneKind::BusinessFax),
            ("TYPE=HOME,FAX", PhoneKind::HomeFax),
            ("TYPE=FAX", PhoneKind::Other),
            ("TYPE=X-ASSISTANT", PhoneKind::Assistant),
            ("TYPE=assistant", PhoneKind::Assistant),
            ("TYPE=PAGER", PhoneKind::Other),
            ("VALUE=uri", PhoneKind::Other),
        ];
        for (params, kind) in cases {
            let c = card(&format!("TEL;{params}:tel:+1 555 0100\r\n")).unwrap();
            assert_eq!(c.phones, vec![Phone { kind, number: "+1 555 0100".into() }], "{params}");
        }
        let c = card("item1.TEL:+1 555 0101\r\nitem1.X-ABLabel:_$!<Assistant>!$_\r\n").unwrap();
        assert_eq!(c.phones[0].kind, PhoneKind::Assistant);
    }

    #[test]
    fn addresses_and_org() {
        let c = card(
            "ADR;TYPE=WORK:PO Box 7;Suite 5;1 Main St\\nBuilding B;Springfield;IL;62701;USA\r\n\
             ADR;TYPE=HOME:;;;;;;\r\nADR:;;;Paris;;;France\r\nORG:Müller\\; Söhne;Vertrieb;Team 2\r\n",
        )
        .unwrap();
        assert_eq!(
            c.addresses,
            vec![
                PostalAddress {
                    kind: AddressKind::Work,
                    street: Some("1 Main St\nBuilding B\nSuite 5\nPO Box 7".into()),
                    city: Some("Springfield".into()),
                    region: Some("IL".into()),
                    postal_code: Some("62701".into()),
                    country: Some("USA".into()),
                },
                PostalAddress {
                    kind: AddressKind::Other,
                    city: Some("Paris".into()),
                    country: Some("France".into()),
                    ..PostalAddress::default()
                },
            ]
        );
        assert_eq!((c.company.as_deref(), c.department.as_deref()), (Some("Müller; Söhne"), Some("Vertrieb")));
    }

    #[test]
    fn birthdays() {
        let d = NaiveDate::from_ymd_opt(1980, 7, 4);
        for (value, expected) in [
            ("1980-07-04", d),
            ("19800704", d),
            ("1980-07-04T00:00:00Z", d),
            ("--0704", None),
            ("--07-04", None),
            ("1980", None),
            ("1980-07", None),
            ("", None),
        ] {
            assert_eq!(card(&format!("BDAY:{value}\r\n")).unwrap().birthday, expected, "{value}");
        }
        assert_eq!(card("BDAY;VALUE=text:circa 1800\r\n").unwrap().birthday, None);
        for bad in ["1980-02-30", "yesterday", "1980-7-4", "+1980-07-04"] {
            assert_eq!(
                card(&format!("BDAY:{bad}\r\n")).unwrap_err(),
                InterchangeError::InvalidValue { property: "BDAY".into(), value: bad.into() },
            );
        }
    }

    #[test]
    fn assistant_notes_custom() {
        let c = card(
            "X-MS-ASSISTANT:Anna\r\nNOTE:Line 1\\nLine 2\\, more\r\nX-TANDEM-Region__c:EMEA\r\n\
             x-tandem-Kunden%20Nr%2E:42\r\nX-TANDEM-EMPTY:\r\n",
        )
        .unwrap();
        assert_eq!(c.assistant_name.as_deref(), Some("Anna"));
        assert_eq!(c.notes.as_deref(), Some("Line 1\nLine 2, more"));
        assert_eq!(
            c.custom,
            BTreeMap::from([("Region__c".to_owned(), "EMEA".to_owned()), ("Kunden Nr.".to_owned(), "42".to_owned())])
        );
    }

    #[test]
    fn writes_round_trip() {
        let c = card(
            "N:Zoë;Café;;;\r\nEMAIL;TYPE=HOME:z@x.test\r\nTEL;TYPE=X-ASSISTANT:1\r\nTEL:2\r\n\
             ADR:;;Rue 1\\nEtage 2;Paris;;75001;France\r\nBDAY:19900101\r\nORG:;Dept\r\n",
        )
        .unwrap();
        let out = write_vcard(std::slice::from_ref(&c));
        assert!(out.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Zoë;Café;;;\r\nFN:Café Zoë\r\n"), "{out}");
        assert!(out.contains("ORG:;Dept\r\n"));
        assert!(out.contains("ADR:;;Rue 1\\nEtage 2;Paris;;75001;France\r\n"));
        assert_eq!(parse_vcard(&out).unwrap(), vec![c]);

        let nameless = Contact { company: Some("Acme".into()), ..Contact::default() };
        let out = write_vcard(std::slice::from_ref(&nameless));
        assert!(out.contains("FN:Acme\r\n"));
        assert_eq!(parse_vcard(&out).unwrap(), vec![nameless]);
    }
}
