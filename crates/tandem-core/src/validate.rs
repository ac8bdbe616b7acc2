//! Checks that a record is sane before the planner lets it travel: text without control
//! characters, sizes under a hard ceiling, events that end after they start in zones that exist,
//! recurrence rules that parse. A record that fails is quarantined with the error as its reason;
//! the rest of the cycle goes on.

use crate::byte_scan::Special;
use crate::model::{Contact, Event, EventTime, Record};

/// No text field may be longer than this many bytes, whatever the target allows. Anything bigger is
/// almost certainly a bug or an attack, not a note.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// No list field may have more entries than this.
pub const MAX_LIST_ENTRIES: usize = 1000;

/// Why a record is not fit to sync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A text field holds control characters (other than tab, newline, carriage return).
    #[error("field `{field}` contains control characters")]
    ControlCharacters {
        /// The field.
        field: String,
    },
    /// A field is larger than [`MAX_TEXT_BYTES`] or a list longer than [`MAX_LIST_ENTRIES`].
    #[error("field `{field}` is oversized ({size} > {limit})")]
    Oversized {
        /// The field.
        field: String,
        /// Its size.
        size: usize,
        /// The ceiling.
        limit: usize,
    },
    /// An email address without an `@` or with spaces.
    #[error("invalid email address in `{field}`")]
    InvalidEmail {
        /// The field.
        field: String,
    },
    /// The time zone is not a known IANA zone.
    #[error("unknown time zone `{0}`")]
    UnknownTimeZone(String),
    /// The event ends before it starts.
    #[error("event ends before it starts")]
    EndBeforeStart,
    /// Start and end mix an all-day date with a timed value.
    #[error("event mixes an all-day date with a timed value")]
    MixedTiming,
    /// A local time that does not exist in its zone (skipped by a DST change).
    #[error("time {0} does not exist in its zone")]
    NonexistentLocalTime(String),
    /// A recurrence rule does not parse.
    #[error("invalid recurrence rule `{rule}`: {detail}")]
    InvalidRecurrence {
        /// The rule.
        rule: String,
        /// The parser's message.
        detail: String,
    },
}

fn check_text(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(ValidationError::Oversized { field: field.to_owned(), size: value.len(), limit: MAX_TEXT_BYTES });
    }
    if has_control(value) {
        return Err(ValidationError::ControlCharacters { field: field.to_owned() });
    }
    Ok(())
}

/// Whether `value` holds a control character (Unicode's `Cc`: U+0000–U+001F and U+007F–U+009F)
/// other than tab, newline and carriage return: `char::is_control` over the bytes, without
/// decoding every character (the planner validates every text field of every record it reads).
/// In UTF-8 the first range is single bytes and U+0080–U+009F is `C2 80`–`C2 9F`. The bytes a
/// control character can start with are looked for eight at a time ([`Special`]); only those
/// found are looked at closer.
fn has_control(value: &str) -> bool {
    const STARTS: Special = Special { below: 0x20, equal: [0x7F, 0xC2, 0x7F] };
    let mut rest = value.as_bytes();
    while let Some(at) = STARTS.first_in(rest) {
        let Some((b, after)) = rest.get(at..).and_then(<[u8]>::split_first) else { return false };
        let control = match b {
            b'\t' | b'\n' | b'\r' => false,
            0xC2 => after.first().is_some_and(|next| (0x80..=0x9F).contains(next)),
            _ => true,
        };
        if control {
            return true;
        }
        rest = after;
    }
    false
}

fn check_opt(field: &str, value: &Option<String>) -> Result<(), ValidationError> {
    value.as_deref().map_or(Ok(()), |v| check_text(field, v))
}

fn check_len(field: &str, len: usize) -> Result<(), ValidationError> {
    if len > MAX_LIST_ENTRIES {
        return Err(ValidationError::Oversized { field: field.to_owned(), size: len, limit: MAX_LIST_ENTRIES });
    }
    Ok(())
}

fn check_email(field: &str, address: &str) -> Result<(), ValidationError> {
    check_text(field, address)?;
    if email_shaped(address) { Ok(()) } else { Err(ValidationError::InvalidEmail { field: field.to_owned() }) }
}

/// Something `@` something, with no white space once trimmed. ASCII addresses (nearly all) are
/// checked byte by byte; others by character, as `char::is_whitespace` decides.
fn email_shaped(address: &str) -> bool {
    let trimmed = if address.is_ascii() {
        // `char::is_whitespace` on ASCII: space, tab, line feed, vertical tab, form feed, return.
        let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
        let bytes = address.as_bytes();
        let start = bytes.iter().position(|b| !space(b)).unwrap_or(bytes.len());
        let end = bytes.iter().rposition(|b| !space(b)).map_or(start, |i| i + 1);
        let trimmed = &bytes[start..end];
        if trimmed.iter().any(space) {
            return false;
        }
        // ASCII throughout, so any cut is on a character boundary.
        address.get(start..end).unwrap_or_default()
    } else {
        let trimmed = address.trim();
        if trimmed.contains(char::is_whitespace) {
            return false;
        }
        trimmed
    };
    // The first `@` with something on either side, as `split_once('@')` would split: found as a
    // byte (an ASCII byte in UTF-8 is always that character), which costs a few instructions a
    // byte where the character searcher's set-up cost about 150 a call, for every attendee.
    trimmed.bytes().position(|b| b == b'@').is_some_and(|at| at > 0 && at + 1 < trimmed.len())
}

/// Validates a record of either kind.
pub fn validate(record: &Record) -> Result<(), ValidationError> {
    validate_timed(record).map(|_| ())
}

/// The instants an event's start and end denote, as [`EventTime::instant`] gives them: what
/// validation works out for an event on the way, handed on so that its timing print need not
/// convert its times through their zones again.
pub(crate) type Instants = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);

/// [`validate`], giving a valid event's [`Instants`] (`None` for a contact).
pub(crate) fn validate_timed(record: &Record) -> Result<Option<Instants>, ValidationError> {
    let instants = match record {
        Record::Contact(c) => validate_contact(c).map(|()| None),
        Record::Event(e) => validate_event(e).map(Some),
    }?;
    for (name, value) in record.custom() {
        check_text(&format!("custom.{name}"), name)?;
        check_text(&format!("custom.{name}"), value)?;
    }
    Ok(instants)
}

fn validate_contact(c: &Contact) -> Result<(), ValidationError> {
    check_opt("given_name", &c.given_name)?;
    check_opt("middle_name", &c.middle_name)?;
    check_opt("family_name", &c.family_name)?;
    check_opt("company", &c.company)?;
    check_opt("title", &c.title)?;
    check_opt("department", &c.department)?;
    check_opt("assistant_name", &c.assistant_name)?;
    check_opt("notes", &c.notes)?;
    check_len("emails", c.emails.len())?;
    check_len("phones", c.phones.len())?;
    check_len("addresses", c.addresses.len())?;
    for e in &c.emails {
        check_email("emails", &e.address)?;
    }
    for p in &c.phones {
        check_text("phones", &p.number)?;
    }
    for a in &c.addresses {
        for v in [&a.street, &a.city, &a.region, &a.postal_code, &a.country] {
            check_opt("addresses", v)?;
        }
    }
    Ok(())
}

/// Checks that a time names a known zone and exists in it, and gives its instant (the event's
/// start and end are compared with what this works out, rather than converting them again).
fn check_time(t: &EventTime) -> Result<chrono::DateTime<chrono::Utc>, ValidationError> {
    if let EventTime::Zoned { zone, .. } = t
        && crate::model::zone_named(zone).is_none()
    {
        return Err(ValidationError::UnknownTimeZone(zone.clone()));
    }
    t.instant().ok_or_else(|| match t {
        EventTime::Zoned { local, zone } => ValidationError::NonexistentLocalTime(format!("{local} {zone}")),
        // An all-day date always has an instant (its midnight in UTC).
        EventTime::AllDay { date } => ValidationError::NonexistentLocalTime(date.to_string()),
    })
}

fn validate_event(e: &Event) -> Result<Instants, ValidationError> {
    check_opt("subject", &e.subject)?;
    check_opt("description", &e.description)?;
    check_opt("location", &e.location)?;
    check_opt("ical_uid", &e.ical_uid)?;
    check_len("attendees", e.attendees.len())?;
    check_len("categories", e.categories.len())?;
    for a in &e.attendees {
        check_email("attendees", &a.email)?;
        check_opt("attendees", &a.name)?;
    }
    if let Some(o) = &e.organizer {
        check_email("organizer", &o.email)?;
    }
    for c in &e.categories {
        check_text("categories", c)?;
    }
    let start = check_time(&e.timing.start)?;
    let end = check_time(&e.timing.end)?;
    if e.timing.start.is_all_day() != e.timing.end.is_all_day() {
        return Err(ValidationError::MixedTiming);
    }
    if end < start {
        return Err(ValidationError::EndBeforeStart);
    }
    if let Some(r) = &e.recurrence {
        check_len("recurrence", r.rules.len() + r.rdates.len() + r.exdates.len() + r.overrides.len())?;
        for rule in &r.rules {
            validate_rrule(rule)?;
        }
        for t in r.rdates.iter().chain(&r.exdates).chain(r.overrides.keys()).chain(&r.cancelled) {
            check_time(t)?;
        }
    }
    Ok((start, end))
}

/// Checks one RRULE value (without the `RRULE:` prefix) with the `rrule` crate.
///
/// The rule is checked to be one line of ASCII first: RFC 5545's `recur` grammar has no other
/// characters, and `rrule` 0.14 panics on some non-ASCII input (it slices `BYDAY=ña` inside a
/// character). The parser call is contained all the same ([`crate::guard::contain`]): a panic
/// becomes [`ValidationError::InvalidRecurrence`].
pub fn validate_rrule(rule: &str) -> Result<(), ValidationError> {
    let invalid = |detail: String| ValidationError::InvalidRecurrence { rule: rule.to_owned(), detail };
    check_text("recurrence", rule).map_err(|e| invalid(e.to_string()))?;
    if rule.contains(['\n', '\r']) {
        return Err(invalid("a rule is one line".into()));
    }
    if !rule.is_ascii() {
        return Err(invalid("a rule holds only ASCII characters".into()));
    }
    // Syntax only: whether UNTIL fits DTSTART's form depends on the event and is the providers'
    // concern (iCalendar allows a date UNTIL with an all-day start).
    crate::guard::contain("the rrule parser", || rule.parse::<rrule::RRule<rrule::Unvalidated>>())
        .map_err(|e| invalid(e.to_string()))?
        .map(|_| ())
        .map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::model::{EventTiming, Recurrence};

    #[test]
    fn control_characters_are_found_in_the_bytes_as_char_is_control_finds_them() {
        let by_chars = |s: &str| s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("a{c}"), format!("{c}\u{e9}"), format!("\u{c2}{c}")] {
                assert_eq!(has_control(&text), by_chars(&text), "{:?}", text);
            }
        }
    }

    #[test]
    fn email_shapes_are_judged_as_by_characters() {
        let by_chars = |s: &str| {
            let trimmed = s.trim();
            trimmed.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !trimmed.contains(char::is_whitespace)
            })
        };
        let parts = ["", "a", "@", " ", "\t", "\u{b}", "\u{c}", "\r\n", "\u{a0}", "\u{2003}", "é", "b.c", "@@"];
        for a in parts {
            for b in parts {
                for c in parts {
                    let text = format!("{a}{b}x{c}{a}");
                    assert_eq!(email_shaped(&text), by_chars(&text), "{text:?}");
                    let text = format!("{a}x{b}@{c}y{a}");
                    assert_eq!(email_shaped(&text), by_chars(&text), "{text:?}");
                }
            }
        }
        assert!(email_shaped(" ada@example.com "));
        assert!(!email_shaped("ada @example.com"));
        assert!(!email_shaped("@example.com"));
    }

    fn event(start: EventTime, end: EventTime) -> Event {
        Event { subject: Some("Review".into()), ..Event::at(EventTiming { start, end }) }
    }

    fn at(h: u32, zone: &str) -> EventTime {
        EventTime::Zoned {
            local: NaiveDate::from_ymd_opt(2026, 3, 2).and_then(|d| d.and_hms_opt(h, 0, 0)).unwrap_or_default(),
            zone: zone.into(),
        }
    }

    #[test]
    fn bad_events_are_typed_errors() {
        assert_eq!(
            validate(&Record::Event(event(at(10, "Europe/Paris"), at(9, "Europe/Paris")))),
            Err(ValidationError::EndBeforeStart)
        );
        assert_eq!(
            validate(&Record::Event(event(at(10, "Mars/Olympus"), at(11, "Europe/Paris")))),
            Err(ValidationError::UnknownTimeZone("Mars/Olympus".into()))
        );
        // 10:00 in Paris is 09:00 UTC, so an end at 09:30 UTC is after the start.
        let mut e = event(at(10, "Europe/Paris"), at(9, "UTC"));
        assert_eq!(validate(&Record::Event(e.clone())), Ok(()));
        e.recurrence = Some(Recurrence { rules: vec!["FREQ=SOMETIMES".into()], ..Default::default() });
        assert!(matches!(validate(&Record::Event(e.clone())), Err(ValidationError::InvalidRecurrence { .. })));
        e.recurrence = Some(Recurrence { rules: vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=10".into()], ..Default::default() });
        assert_eq!(validate(&Record::Event(e.clone())), Ok(()));
        e.recurrence =
            Some(Recurrence { rules: vec!["FREQ=WEEKLY;BYDAY=FR;UNTIL=20270115".into()], ..Default::default() });
        assert_eq!(validate(&Record::Event(e)), Ok(()));
    }

    #[test]
    fn rules_that_panic_the_rrule_crate_are_typed_errors() {
        // Issue 8: `rrule` slices a non-ASCII BYDAY inside a character and panics.
        for rule in ["FREQ=WEEKLY;BYDAY=ña", "FREQ=WEEKLY;BYDAY=2ña", "FREQ=DAILY;BYDAY=MOñ", "FREQ=ÑO"] {
            assert!(
                matches!(validate_rrule(rule), Err(ValidationError::InvalidRecurrence { .. })),
                "{rule}: {:?}",
                validate_rrule(rule)
            );
        }
        let mut e = event(at(10, "Europe/Paris"), at(11, "Europe/Paris"));
        e.recurrence = Some(Recurrence { rules: vec!["FREQ=WEEKLY;BYDAY=ña".into()], ..Default::default() });
        assert!(matches!(validate(&Record::Event(e)), Err(ValidationError::InvalidRecurrence { .. })));
    }

    #[test]
    fn bad_contacts_are_typed_errors() {
        let mut c = Contact { family_name: Some("Lovelace".into()), ..Contact::default() };
        assert_eq!(validate(&Record::Contact(c.clone())), Ok(()));
        c.custom.insert("Region__c".into(), "EMEA\u{0}".into());
        assert!(matches!(validate(&Record::Contact(c.clone())), Err(ValidationError::ControlCharacters { .. })));
        c.custom.clear();
        c.notes = Some("x".repeat(MAX_TEXT_BYTES + 1));
        assert!(matches!(validate(&Record::Contact(c)), Err(ValidationError::Oversized { .. })));
    }
}
