//! [`Record::print`]: the fingerprint of one field computed in place, from JSON written by hand
//! into a reused buffer (byte for byte what serde_json writes), without copying the value out of
//! the record.

use std::fmt;

use chrono::{Datelike as _, NaiveDate, NaiveDateTime, Timelike as _};
use serde::Serialize;

#[cfg(doc)]
use super::access::{nonempty, text};
use super::key::FieldKey;
use super::value::{FieldValue, fingerprint};
use crate::byte_scan::Special;
use crate::model::{
    AddressKind, Attendee, EmailAddress, EventTime, EventTiming, Person, PostalAddress, Privacy, Record, ShowAs,
};

impl Record {
    /// The fingerprint of one field: `fingerprint(self.get(key).as_ref())`, computed without
    /// copying text, phone numbers or addresses out of the record (the planner prints every
    /// synced field of every record it sees).
    pub fn print(&self, key: &FieldKey) -> u64 {
        match (self, key) {
            (_, FieldKey::Custom(name)) => self.custom().get(name).map_or(0, |v| text_value_print(v)),
            (Record::Contact(c), key) => match key {
                FieldKey::GivenName => text_print(&c.given_name),
                FieldKey::MiddleName => text_print(&c.middle_name),
                FieldKey::FamilyName => text_print(&c.family_name),
                FieldKey::Company => text_print(&c.company),
                FieldKey::Title => text_print(&c.title),
                FieldKey::Department => text_print(&c.department),
                FieldKey::AssistantName => text_print(&c.assistant_name),
                FieldKey::Notes => text_print(&c.notes),
                FieldKey::Phone(kind) => {
                    list_print(c.phones.iter().filter(|p| p.kind == *kind).map(|p| p.number.as_str()))
                }
                FieldKey::Emails => emails_print(&c.emails),
                FieldKey::Address(kind) => addresses_print(c.addresses.iter().filter(|a| a.kind == *kind)),
                FieldKey::Birthday => c.birthday.map_or(0, date_print),
                _ => fingerprint(self.get(key).as_ref()),
            },
            (Record::Event(e), key) => match key {
                FieldKey::Subject => text_print(&e.subject),
                FieldKey::Description => text_print(&e.description),
                FieldKey::Location => text_print(&e.location),
                FieldKey::Categories => list_print(e.categories.iter().map(String::as_str)),
                FieldKey::Timing => timing_print(&e.timing),
                FieldKey::Privacy => unit_print("privacy", privacy_name(e.privacy)),
                FieldKey::ShowAs => unit_print("show_as", show_as_name(e.show_as)),
                FieldKey::Organizer => e.organizer.as_ref().map_or(0, person_print),
                FieldKey::Attendee(email) => {
                    // As `event_get` finds it, printed as `FieldValue::fingerprint` canonicalises
                    // one attendee: its address alone, lower-cased.
                    let Some(found) = e.attendees.iter().find(|a| a.email.trim().eq_ignore_ascii_case(email)) else {
                        return 0;
                    };
                    attendee_presence_print(&found.email)
                }
                _ => fingerprint(self.get(key).as_ref()),
            },
        }
    }
}

thread_local! {
    /// The JSON text of the value being printed, reused by each thread.
    static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The xxh3 hash of a value's JSON text: what a fingerprint is.
pub(super) fn hash_json<T: Serialize + fmt::Debug>(value: &T) -> u64 {
    // The JSON text goes to a buffer each thread reuses (the planner prints every synced field of
    // every changed record); the bytes hashed are those `serde_json::to_vec` would return.
    written_print(|out| serde_json::to_writer(out, value).ok()).unwrap_or_else(|| {
        // Serialising a value made of strings, lists, dates and enums cannot fail; should it ever,
        // the Debug text is an equally stable input.
        let bytes = serde_json::to_vec(value).unwrap_or_else(|_| format!("{value:?}").into_bytes());
        xxhash_rust::xxh3::xxh3_64(&bytes)
    })
}

/// A field value borrowed from its record, serialised exactly as the [`FieldValue`] that
/// [`Record::get`] would copy out (same tag, same variant names, same content), so it hashes to
/// the same fingerprint without the copy. Only for values a fingerprint does not canonicalise.
#[derive(Debug, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
enum Borrowed<'a> {
    Text(&'a str),
    List(Vec<&'a str>),
    Emails(Vec<EmailRef<'a>>),
    Addresses(Vec<&'a PostalAddress>),
}

/// An [`EmailAddress`] as a fingerprint canonicalises it (trimmed, lower-cased), serialised as
/// one: same fields, same order. Borrowed when the address is canonical already.
#[derive(Debug, Serialize)]
struct EmailRef<'a> {
    kind: AddressKind,
    address: std::borrow::Cow<'a, str>,
}

impl<'a> EmailRef<'a> {
    fn new(e: &'a EmailAddress) -> Self {
        EmailRef { kind: e.kind, address: canonical_address(&e.address) }
    }
}

/// An address as fingerprints compare it, `address.trim().to_lowercase()`: borrowed when it is
/// that already.
pub(super) fn canonical_address(address: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = address.trim();
    if trimmed.bytes().any(|b| !b.is_ascii() || b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(trimmed.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(trimmed)
    }
}

impl Borrowed<'_> {
    fn print(&self) -> u64 {
        hash_json(self)
    }
}

/// The print of a text field as [`text`] reads it.
fn text_print(v: &Option<String>) -> u64 {
    v.as_deref().filter(|s| !s.is_empty()).map_or(0, text_value_print)
}

/// The print of `FieldValue::Text(s)`: its JSON is the text, escaped, between fixed bytes, hashed
/// without a serialiser.
pub(super) fn text_value_print(s: &str) -> u64 {
    // Put together in the reused buffer and hashed in one call: for the short text of most
    // fields that is several times cheaper than setting up xxh3's streaming state.
    let written = written_print(|out| {
        out.extend_from_slice(br#"{"type":"text","value":"#);
        push_json_str(out, s)?;
        out.push(b'}');
        Some(())
    });
    written.unwrap_or_else(|| Borrowed::Text(s).print())
}

/// The print of a list field as [`nonempty`] reads it.
fn list_print<'a>(items: impl Iterator<Item = &'a str> + Clone) -> u64 {
    array_print("list", items.clone(), push_json_str).unwrap_or_else(|| Borrowed::List(items.collect()).print())
}

/// The print of a contact's email addresses as [`Record::get`] reads them (canonicalised as
/// [`FieldValue::fingerprint`] does).
fn emails_print(emails: &[EmailAddress]) -> u64 {
    let written = array_print("emails", emails.iter(), |out, email| {
        let email = EmailRef::new(email);
        out.extend_from_slice(br#"{"kind":""#);
        out.extend_from_slice(email.kind.as_str().as_bytes());
        out.extend_from_slice(br#"","address":"#);
        push_json_str(out, &email.address)?;
        out.push(b'}');
        Some(())
    });
    written.unwrap_or_else(|| Borrowed::Emails(emails.iter().map(EmailRef::new).collect()).print())
}

/// The print of a contact's addresses of one kind as [`Record::get`] reads them.
fn addresses_print<'a>(addresses: impl Iterator<Item = &'a PostalAddress> + Clone) -> u64 {
    let written = array_print("addresses", addresses.clone(), |out, a| {
        // `PostalAddress`'s fields in declaration order, absent ones as `null`: what its derived
        // `Serialize` writes.
        out.extend_from_slice(br#"{"kind":""#);
        out.extend_from_slice(a.kind.as_str().as_bytes());
        for (name, value) in [
            (&br#"","street":"#[..], &a.street),
            (br#","city":"#, &a.city),
            (br#","region":"#, &a.region),
            (br#","postal_code":"#, &a.postal_code),
            (br#","country":"#, &a.country),
        ] {
            out.extend_from_slice(name);
            match value {
                Some(v) => push_json_str(out, v)?,
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
        Some(())
    });
    written.unwrap_or_else(|| Borrowed::Addresses(addresses.collect()).print())
}

/// The print of a list value, `{"type":<type_name>,"value":[...]}`, each item written by `item`:
/// `Some(0)` (absent) without items, `None` when an item cannot be written by hand (the caller
/// then hashes through serde_json).
fn array_print<T>(
    type_name: &str,
    items: impl Iterator<Item = T> + Clone,
    item: impl Fn(&mut Vec<u8>, T) -> Option<()>,
) -> Option<u64> {
    if items.clone().next().is_none() {
        return Some(0);
    }
    written_print(|out| {
        out.extend_from_slice(br#"{"type":""#);
        out.extend_from_slice(type_name.as_bytes());
        out.extend_from_slice(br#"","value":["#);
        for (i, value) in items.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item(out, value)?;
        }
        out.extend_from_slice(b"]}");
        Some(())
    })
}

/// The print of a field whose value is one unit variant: `{"type":<field>,"value":<variant>}`.
fn unit_print(field: &str, variant: &str) -> u64 {
    let written = written_print(|out| {
        out.extend_from_slice(br#"{"type":""#);
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(br#"","value":""#);
        out.extend_from_slice(variant.as_bytes());
        out.extend_from_slice(br#""}"#);
        Some(())
    });
    // Only a thread being torn down has no buffer; it hashes the same bytes another way.
    written.unwrap_or_else(|| {
        xxhash_rust::xxh3::xxh3_64(format!(r#"{{"type":"{field}","value":"{variant}"}}"#).as_bytes())
    })
}

/// The print of an event's timing as [`FieldValue::fingerprint`] canonicalises it: a zoned time
/// whose instant is known is written in UTC, anything else as it is.
fn timing_print(timing: &EventTiming) -> u64 {
    timing_print_with(timing, timing.start.instant(), timing.end.instant())
}

/// [`Record::print`] of an event's timing, given the instants its start and end denote (as
/// [`EventTime::instant`] gives them, which validation has worked out already): the same print
/// without converting the times through their zones again. In debug builds every such print is
/// checked against the one that converts them.
pub(crate) fn timing_print_at(timing: &EventTiming, instants: crate::validate::Instants) -> u64 {
    let print = timing_print_with(timing, Some(instants.0), Some(instants.1));
    debug_assert_eq!(print, timing_print(timing), "{timing:?}");
    print
}

/// The print of a timing whose start and end denote `start` and `end`.
fn timing_print_with(
    timing: &EventTiming,
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> u64 {
    /// One `EventTime`, as its derived `Serialize` writes it (internally tagged, fields in
    /// declaration order; chrono writes dates and times in their `Debug` form): a zoned time as
    /// its instant in UTC when it has one.
    fn push_time(out: &mut Vec<u8>, time: &EventTime, instant: Option<chrono::DateTime<chrono::Utc>>) -> Option<()> {
        match (time, instant) {
            (EventTime::Zoned { .. }, Some(at)) => {
                out.extend_from_slice(br#"{"type":"zoned","local":""#);
                push_date_time(out, &at.naive_utc());
                out.extend_from_slice(br#"","zone":"UTC"}"#);
            }
            (EventTime::Zoned { local, zone }, None) => {
                out.extend_from_slice(br#"{"type":"zoned","local":""#);
                push_date_time(out, local);
                out.extend_from_slice(br#"","zone":"#);
                push_json_str(out, zone)?;
                out.push(b'}');
            }
            (EventTime::AllDay { date }, _) => {
                out.extend_from_slice(br#"{"type":"all_day","date":""#);
                push_date(out, *date);
                out.extend_from_slice(br#""}"#);
            }
        }
        Some(())
    }
    let written = written_print(|out| {
        out.extend_from_slice(br#"{"type":"timing","value":{"start":"#);
        push_time(out, &timing.start, start)?;
        out.extend_from_slice(br#","end":"#);
        push_time(out, &timing.end, end)?;
        out.extend_from_slice(b"}}");
        Some(())
    });
    written.unwrap_or_else(|| FieldValue::Timing(timing.clone()).fingerprint())
}

/// The print of `FieldValue::Date(date)` (a contact's birthday).
fn date_print(date: NaiveDate) -> u64 {
    let written = written_print(|out| {
        out.extend_from_slice(br#"{"type":"date","value":""#);
        push_date(out, date);
        out.extend_from_slice(br#""}"#);
        Some(())
    });
    written.unwrap_or_else(|| FieldValue::Date(date).fingerprint())
}

/// The print of `FieldValue::Person` (an event's organizer) as a fingerprint canonicalises it:
/// the address trimmed and lower-cased, the name as it is.
fn person_print(person: &Person) -> u64 {
    let written = written_print(|out| {
        out.extend_from_slice(br#"{"type":"person","value":{"email":"#);
        push_json_str(out, &canonical_address(&person.email))?;
        out.extend_from_slice(br#","name":"#);
        match &person.name {
            Some(name) => push_json_str(out, name)?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}}");
        Some(())
    });
    written.unwrap_or_else(|| FieldValue::Person(person.clone()).fingerprint())
}

/// Appends two decimal digits of `n` (below 100).
fn push_two_digits(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&[b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]);
}

/// Appends `date` as chrono's `Debug` writes it (what serde_json writes for a `NaiveDate`):
/// `YYYY-MM-DD`, a year outside 0–9999 signed and at least four digits.
fn push_date(out: &mut Vec<u8>, date: NaiveDate) {
    let year = date.year();
    if (0..=9999).contains(&year) {
        // `year` is within 0..=9999, so both halves are below 100.
        push_two_digits(out, year.unsigned_abs() / 100);
        push_two_digits(out, year.unsigned_abs() % 100);
    } else {
        use std::io::Write as _;
        // Writing to a vector cannot fail.
        let _ = write!(out, "{year:+05}");
    }
    out.push(b'-');
    push_two_digits(out, date.month());
    out.push(b'-');
    push_two_digits(out, date.day());
}

/// Appends `at` as chrono's `Debug` writes it: the date, `T`, `HH:MM:SS`, and a fraction of
/// three, six or nine digits when there is one (a leap second as second 60).
fn push_date_time(out: &mut Vec<u8>, at: &NaiveDateTime) {
    push_date(out, at.date());
    out.push(b'T');
    let time = at.time();
    let (second, nano) = match time.nanosecond() {
        n if n >= 1_000_000_000 => (time.second() + 1, n - 1_000_000_000),
        n => (time.second(), n),
    };
    push_two_digits(out, time.hour());
    out.push(b':');
    push_two_digits(out, time.minute());
    out.push(b':');
    push_two_digits(out, second);
    let (fraction, digits) = match nano {
        0 => return,
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    out.push(b'.');
    let start = out.len();
    out.resize(start + digits, b'0');
    let mut rest = fraction;
    for place in out[start..].iter_mut().rev() {
        *place = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

/// [`Privacy`] as serde names it (snake case).
fn privacy_name(privacy: Privacy) -> &'static str {
    match privacy {
        Privacy::Normal => "normal",
        Privacy::Private => "private",
    }
}

/// [`ShowAs`] as serde names it (snake case).
fn show_as_name(show_as: ShowAs) -> &'static str {
    match show_as {
        ShowAs::Free => "free",
        ShowAs::Tentative => "tentative",
        ShowAs::Busy => "busy",
        ShowAs::OutOfOffice => "out_of_office",
        ShowAs::WorkingElsewhere => "working_elsewhere",
    }
}

/// The print of one attendee compared by presence ([`FieldValue::canonical`]): the address
/// trimmed and lower-cased, no name, the default role and answer.
fn attendee_presence_print(email: &str) -> u64 {
    let canonical = canonical_address(email);
    canonical_attendee_print(&canonical).unwrap_or_else(|| {
        FieldValue::Attendee(Attendee {
            email: email.to_owned(),
            name: None,
            role: Default::default(),
            response: Default::default(),
        })
        .fingerprint()
    })
}

/// [`attendee_presence_print`] of an address that is canonical already (trimmed and lower-cased,
/// as a [`FieldKey::Attendee`] holds it); `None` only if the reused buffer is unavailable.
fn canonical_attendee_print(canonical: &str) -> Option<u64> {
    written_print(|out| {
        out.extend_from_slice(br#"{"type":"attendee","value":{"email":"#);
        push_json_str(out, canonical)?;
        out.extend_from_slice(br#","name":null,"role":"required","response":"needs_action"}}"#);
        Some(())
    })
}

impl Record {
    /// [`Record::attendee_keys`], each with its [`Record::print`], in one pass over the attendees.
    ///
    /// `print` finds an attendee's key again as the first attendee whose trimmed address equals
    /// it but for ASCII case, and prints that address canonicalised. For the attendee the key was
    /// made from that is the key itself whenever its address matches the key that way (always,
    /// unless the address holds non-ASCII capitals): an earlier attendee matching it would have
    /// made the same key first, since lower-casing an address that differs from the key only in
    /// ASCII case gives the key. So the key is printed as it is, with no search and no second
    /// lower-casing; the rare other address goes through `print` (in debug builds every print
    /// made here is checked against it).
    pub(crate) fn attendee_prints(&self) -> Vec<(FieldKey, u64)> {
        let Record::Event(e) = self else { return Vec::new() };
        let mut prints: Vec<(FieldKey, u64)> = Vec::with_capacity(e.attendees.len());
        for a in &e.attendees {
            let key = FieldKey::attendee(&a.email);
            let FieldKey::Attendee(canonical) = &key else { continue };
            if canonical.is_empty() || prints.iter().any(|(k, _)| *k == key) {
                continue;
            }
            let print = if a.email.trim().eq_ignore_ascii_case(canonical) {
                canonical_attendee_print(canonical).unwrap_or_else(|| self.print(&key))
            } else {
                self.print(&key)
            };
            debug_assert_eq!(print, self.print(&key), "attendee {canonical}");
            prints.push((key, print));
        }
        prints
    }
}

/// Appends `s` as a JSON string, escaped byte for byte as serde_json escapes it: a quote and a
/// backslash behind a backslash, the control characters U+0000–U+001F as `\b`, `\t`, `\n`, `\f`,
/// `\r` or `\u00xx` (lower-case hex), and nothing else (not U+007F, not `/`, not non-ASCII). Text
/// without any of them (most) is copied whole. Notes and descriptions hold line breaks, so this
/// spares them the serialiser. Always `Some`: the callers' `?` stays for writers that can give up.
fn push_json_str(out: &mut Vec<u8>, s: &str) -> Option<()> {
    const ESCAPED: Special = Special { below: 0x20, equal: [b'"', b'\\', b'"'] };
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(at) = ESCAPED.first_in(rest) {
        let (plain, from) = rest.split_at_checked(at)?;
        let (b, after) = from.split_first()?;
        out.extend_from_slice(plain);
        let escape: &[u8] = match b {
            b'"' => br#"\""#,
            b'\\' => br"\\",
            0x08 => br"\b",
            b'\t' => br"\t",
            b'\n' => br"\n",
            0x0C => br"\f",
            b'\r' => br"\r",
            _ => b"",
        };
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(br"\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xF)]);
        } else {
            out.extend_from_slice(escape);
        }
        rest = after;
    }
    out.extend_from_slice(rest);
    out.push(b'"');
    Some(())
}

/// The xxh3 hash of the JSON text `write` puts in the thread's reused buffer: serde_json's
/// ([`hash_json`]), or text put together by hand, which must be byte for byte what
/// `serde_json::to_vec` writes for the same value (the tests compare them), so that a print does
/// not depend on how it was computed. `None` when `write` gives up or the thread has no buffer
/// (while it is being torn down): the callers then serialise with serde_json.
fn written_print(write: impl FnOnce(&mut Vec<u8>) -> Option<()>) -> Option<u64> {
    JSON.try_with(|buffer| {
        let mut bytes = buffer.try_borrow_mut().ok()?;
        bytes.clear();
        let print = write(&mut bytes).map(|()| xxhash_rust::xxh3::xxh3_64(&bytes));
        // A rare huge value (a long description) does not stay allocated.
        if bytes.capacity() > 64 * 1024 {
            *bytes = Vec::new();
        }
        print
    })
    .ok()
    .flatten()
}
