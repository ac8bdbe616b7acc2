#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeZone};
use tandem_core::model::{AttendeeRole, Event, EventTime, PhoneKind, Privacy, ShowAs};

use super::*;

fn anchor() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 15).unwrap()
}

fn non_ascii(s: &str) -> bool {
    !s.is_ascii()
}

// ---------------------------------------------------------------------------------------------
// Contacts

#[test]
fn contacts_are_deterministic() {
    assert_eq!(contacts(7, 80), contacts(7, 80));
    assert_ne!(contacts(7, 80), contacts(8, 80));
    // Record i depends only on (seed, i).
    assert_eq!(contacts(7, 80)[..20], contacts(7, 20)[..]);
}

#[test]
fn contact_primary_emails_are_unique_lowercase_ascii() {
    let cs = contacts(42, 1000);
    let mut seen = BTreeSet::new();
    for c in &cs {
        let primary = &c.emails.first().expect("a primary email").address;
        assert!(primary.is_ascii(), "{primary}");
        assert_eq!(*primary, primary.to_lowercase());
        assert_eq!(primary.matches('@').count(), 1, "{primary}");
        assert!(seen.insert(c.primary_email_key().unwrap()), "duplicate {primary}");
    }
    // Secondary addresses do not collide with anyone's primary either.
    let all: Vec<String> = cs.iter().flat_map(|c| c.emails.iter().map(|e| e.address.to_lowercase())).collect();
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), distinct.len());
}

#[test]
fn contacts_are_complete_and_within_salesforce_limits() {
    let len = |s: &Option<String>| s.as_deref().map_or(0, |v| v.chars().count());
    for c in contacts(3, 500) {
        assert!(c.family_name.as_deref().is_some_and(|f| !f.trim().is_empty()));
        assert!(c.given_name.is_some());
        assert!(len(&c.given_name) <= 40 && len(&c.family_name) <= 80);
        assert!(len(&c.title) <= 128 && len(&c.department) <= 80 && len(&c.assistant_name) <= 40);
        assert!(c.emails.iter().all(|e| e.address.len() <= 80));
        assert!(c.phones.iter().all(|p| p.number.chars().count() <= 40 && !p.number.is_empty()));
        for a in &c.addresses {
            assert!(len(&a.street) <= 255 && len(&a.city) <= 40 && len(&a.postal_code) <= 20);
        }
        assert!(c.notes.as_deref().is_none_or(|n| !n.trim().is_empty()));
    }
}

#[test]
fn contacts_cover_the_awkward_cases() {
    let cs = contacts(1, 60);
    let has = |f: &dyn Fn(&tandem_core::model::Contact) -> bool| cs.iter().any(f);
    for kind in PhoneKind::ALL {
        assert!(has(&|c| c.phones.iter().any(|p| p.kind == kind)), "no {kind:?} phone");
    }
    assert!(has(&|c| c.birthday.is_some()));
    assert!(has(&|c| c.assistant_name.is_some()));
    assert!(has(&|c| c.middle_name.is_some()));
    assert!(has(&|c| c.company.is_none()));
    assert!(has(&|c| c.emails.len() > 1));
    assert!(has(&|c| c.addresses.len() > 1));
    assert!(has(&|c| c.addresses.iter().any(|a| a.street.as_deref().is_some_and(|s| s.contains('\n')))));
    assert!(has(&|c| c.notes.as_deref().is_some_and(|n| n.contains('\n'))));
    assert!(has(&|c| c.notes.as_deref().is_some_and(|n| n.contains(',') || n.contains(';'))));
    assert!(has(&|c| c.given_name.as_deref().is_some_and(non_ascii)));
    assert!(has(&|c| c.family_name.as_deref().is_some_and(non_ascii)));
    // Names from several scripts across a larger set.
    let names: String = contacts(1, 400)
        .iter()
        .filter_map(|c| Some(format!("{} {}", c.given_name.as_deref()?, c.family_name.as_deref()?)))
        .collect();
    for probe in ['ë', 'é', 'ø', 'Ł', '美', 'Α'] {
        assert!(names.contains(probe), "no {probe} in names");
    }
}

#[test]
fn edit_contact_changes_something_but_keeps_identity() {
    let originals = contacts(5, 200);
    let mut changed_fields = BTreeSet::new();
    for (i, original) in originals.iter().enumerate() {
        let mut c = original.clone();
        edit_contact(i as u64, &mut c);
        assert_ne!(c, *original);
        assert_eq!(c.primary_email_key(), original.primary_email_key());
        assert_eq!(c.family_name, original.family_name);
        let mut again = original.clone();
        edit_contact(i as u64, &mut again);
        assert_eq!(c, again, "edits are deterministic");
        for (name, differs) in [
            ("title", c.title != original.title),
            ("department", c.department != original.department),
            ("company", c.company != original.company),
            ("phones", c.phones != original.phones),
            ("addresses", c.addresses != original.addresses),
            ("notes", c.notes != original.notes),
            ("emails", c.emails != original.emails),
        ] {
            if differs {
                changed_fields.insert(name);
            }
        }
    }
    assert!(changed_fields.len() >= 6, "edits lack variety: {changed_fields:?}");
}

// ---------------------------------------------------------------------------------------------
// Events

fn assert_time_valid(t: &EventTime) {
    if let EventTime::Zoned { zone, local } = t {
        let tz: chrono_tz::Tz = zone.parse().unwrap_or_else(|_| panic!("bad zone {zone}"));
        assert!(tz.from_local_datetime(local).earliest().is_some(), "{local} does not exist in {zone}");
    }
    assert!(t.instant().is_some());
}

fn assert_event_valid(e: &Event) {
    assert!(e.subject.as_deref().is_some_and(|s| !s.trim().is_empty()));
    assert_time_valid(&e.timing.start);
    assert_time_valid(&e.timing.end);
    assert!(e.timing.end.instant() >= e.timing.start.instant(), "end before start: {:?}", e.timing);
    if let (EventTime::AllDay { date: s }, EventTime::AllDay { date: end }) = (&e.timing.start, &e.timing.end) {
        assert!(end > s, "all-day end is exclusive");
        assert!((*end - *s).num_days() <= 14, "Salesforce caps events at 14 days");
    }
    assert_eq!(e.timing.start.is_all_day(), e.timing.end.is_all_day());
    assert!(e.attendees.len() <= 8);
    let emails: BTreeSet<&str> = e.attendees.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(emails.len(), e.attendees.len(), "duplicate attendee");
    if let Some(o) = &e.organizer {
        assert!(!emails.contains(o.email.as_str()));
    }
    if let Some(r) = &e.recurrence {
        assert_eq!(r.rules.len(), 1);
        for key in r.overrides.keys().chain(r.cancelled.iter()) {
            assert_eq!(key.is_all_day(), e.timing.start.is_all_day());
            assert_time_valid(key);
        }
        for ov in r.overrides.values() {
            if let Some(t) = &ov.timing {
                assert!(t.end.instant() >= t.start.instant());
            }
        }
        assert!(r.overrides.keys().all(|k| !r.cancelled.contains(k)));
    }
    assert!(e.crm_links.iter().all(|l| l.id.len() == 18));
}

fn start_date(t: &EventTime) -> NaiveDate {
    match t {
        EventTime::Zoned { local, .. } => local.date(),
        EventTime::AllDay { date } => *date,
    }
}

#[test]
fn events_are_deterministic() {
    assert_eq!(events(7, 80, anchor()), events(7, 80, anchor()));
    assert_ne!(events(7, 80, anchor()), events(8, 80, anchor()));
    assert_eq!(events(7, 80, anchor())[..20], events(7, 20, anchor())[..]);
}

#[test]
fn events_are_valid_and_uids_unique() {
    for seed in [0, 1, 99, u64::MAX] {
        let es = events(seed, 400, anchor());
        let mut uids = BTreeSet::new();
        for e in &es {
            assert_event_valid(e);
            let uid = e.ical_uid.clone().expect("uid");
            assert!(uid.ends_with("@tandem.test"), "{uid}");
            assert!(uids.insert(uid.clone()), "duplicate {uid}");
            let days = (start_date(&e.timing.start) - anchor()).num_days();
            assert!(days.abs() <= EVENT_WINDOW_DAYS, "{days} days from anchor");
        }
    }
}

#[test]
fn events_cover_the_mix() {
    let es = events(11, 300, anchor());
    let has = |f: &dyn Fn(&Event) -> bool| es.iter().any(f);
    let rule = |e: &Event, p: &str| e.recurrence.as_ref().is_some_and(|r| r.rules.iter().any(|x| x.contains(p)));
    assert!(has(&|e| e.timing.start.is_all_day() && e.recurrence.is_none()));
    assert!(has(&|e| matches!((&e.timing.start, &e.timing.end),
        (EventTime::AllDay { date: s }, EventTime::AllDay { date: x }) if (*x - *s).num_days() > 1)));
    for p in ["FREQ=WEEKLY", "FREQ=DAILY", "FREQ=MONTHLY", "COUNT=", "UNTIL=", "INTERVAL=2", "BYDAY=MO,TU,WE,TH,FR"] {
        assert!(has(&|e| rule(e, p)), "no series with {p}");
    }
    assert!(has(&|e| e.timing.start.is_all_day() && e.recurrence.is_some()));
    assert!(has(&|e| e.recurrence.as_ref().is_some_and(|r| !r.overrides.is_empty() && !r.cancelled.is_empty())));
    let zones: BTreeSet<String> = es
        .iter()
        .filter_map(|e| match &e.timing.start {
            EventTime::Zoned { zone, .. } => Some(zone.clone()),
            EventTime::AllDay { .. } => None,
        })
        .collect();
    for z in [
        "Europe/Paris",
        "America/New_York",
        "Asia/Tokyo",
        "Europe/London",
        "America/Los_Angeles",
        "Australia/Sydney",
        "UTC",
    ] {
        assert!(zones.contains(z), "no event in {z}");
    }
    assert!(has(&|e| match (&e.timing.start, &e.timing.end) {
        (EventTime::Zoned { zone: a, .. }, EventTime::Zoned { zone: b, .. }) => a != b,
        _ => false,
    }));
    assert!(has(&|e| e.privacy == Privacy::Private));
    for s in [ShowAs::Busy, ShowAs::Free, ShowAs::Tentative, ShowAs::OutOfOffice, ShowAs::WorkingElsewhere] {
        assert!(has(&|e| e.show_as == s), "no {s:?}");
    }
    assert!(has(&|e| e.attendees.len() >= 5));
    assert!(has(&|e| e.attendees.len() == 1));
    assert!(has(&|e| e.attendees.iter().any(|a| a.role == AttendeeRole::Resource)));
    assert!(has(&|e| e.attendees.iter().any(|a| a.role == AttendeeRole::Optional)));
    assert!(has(&|e| !e.categories.is_empty()));
    assert!(has(&|e| !e.crm_links.is_empty()));
    assert!(has(&|e| e.subject.as_deref().is_some_and(non_ascii)));
    assert!(has(&|e| e.location.as_deref().is_some_and(non_ascii)));
    assert!(has(&|e| e.description.as_deref().is_some_and(|d| d.contains('\n'))));
    // Even a tiny set has a series with both kinds of exception.
    assert!(
        events(123, 3, anchor())[2]
            .recurrence
            .as_ref()
            .is_some_and(|r| { r.overrides.len() == 1 && r.cancelled.len() == 1 })
    );
}

/// Expands the series with the `rrule` crate: rules parse, and every exception key is an actual
/// occurrence of the rule.
#[test]
fn series_exceptions_are_real_occurrences() {
    let mut checked = 0;
    for e in events(21, 300, anchor()) {
        let Some(r) = &e.recurrence else { continue };
        let dtstart = match &e.timing.start {
            EventTime::Zoned { local, zone } if zone == "UTC" => {
                format!("DTSTART:{}Z", local.format("%Y%m%dT%H%M%S"))
            }
            EventTime::Zoned { local, zone } => {
                format!("DTSTART;TZID={zone}:{}", local.format("%Y%m%dT%H%M%S"))
            }
            // Floating midnight: a DATE-valued UNTIL is then accepted (RFC 5545 pairs them).
            EventTime::AllDay { date } => format!("DTSTART:{}T000000", date.format("%Y%m%d")),
        };
        let text = format!("{dtstart}\nRRULE:{}", r.rules[0]);
        let set: rrule::RRuleSet = text.parse().unwrap_or_else(|err| panic!("{text}: {err}"));
        let occurrences = set.all(2000);
        assert!(!occurrences.limited, "{text}: unbounded");
        assert!(occurrences.dates.len() >= 4, "{text}: {} occurrences", occurrences.dates.len());
        let locals: BTreeSet<chrono::NaiveDateTime> = occurrences.dates.iter().map(|d| d.naive_local()).collect();
        assert!(locals.contains(&match &e.timing.start {
            EventTime::Zoned { local, .. } => *local,
            EventTime::AllDay { date } => date.and_time(chrono::NaiveTime::MIN),
        }));
        for key in r.overrides.keys().chain(r.cancelled.iter()) {
            let local = match key {
                EventTime::Zoned { local, .. } => *local,
                EventTime::AllDay { date } => date.and_time(chrono::NaiveTime::MIN),
            };
            assert!(locals.contains(&local), "{text}: {local} is not an occurrence");
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} exceptions checked");
}

#[test]
fn edit_event_changes_something_and_stays_valid() {
    let originals = events(9, 300, anchor());
    for (i, original) in originals.iter().enumerate() {
        let mut e = original.clone();
        edit_event(i as u64, &mut e);
        assert_ne!(e, *original);
        assert_eq!(e.ical_uid, original.ical_uid);
        assert_event_valid(&e);
        if e.recurrence.is_some() {
            assert_eq!(e.timing.start, original.timing.start, "series start moved");
            assert_eq!(e.recurrence, original.recurrence);
        }
        let mut again = original.clone();
        edit_event(i as u64, &mut again);
        assert_eq!(e, again, "edits are deterministic");
        // Edits compose: a second edit keeps things valid too.
        edit_event(i as u64 + 1000, &mut e);
        assert_event_valid(&e);
    }
}

#[test]
fn salesforce_ids_have_checksums() {
    let mut rng = Rng::new(1);
    let id = salesforce_id("003", &mut rng);
    assert_eq!(id.len(), 18);
    assert!(id.starts_with("003"));
    for _ in 0..50 {
        let id = salesforce_id("00U", &mut rng);
        let (body, suffix) = id.split_at(15);
        for (chunk, s) in body.as_bytes().chunks(5).zip(suffix.bytes()) {
            let flags =
                chunk.iter().enumerate().filter(|(_, b)| b.is_ascii_uppercase()).fold(0, |a, (j, _)| a | (1 << j));
            assert_eq!(s, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[flags]);
        }
    }
}
