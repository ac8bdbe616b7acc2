//! Unit and property tests of field keys, values, access and prints.

use chrono::NaiveDate;

use super::print::text_value_print;
use super::{FieldError, FieldKey, FieldValue, RETIRED_FIELD_NAMES, STANDARD_FIELDS, fingerprint};
use crate::model::{
    AddressKind, Attendee, Contact, EmailAddress, Event, EventTime, EventTiming, ObjectKind, Phone, PhoneKind,
    PostalAddress, Privacy, Record, ShowAs,
};

#[test]
fn static_names_are_distinct_and_parse_back() {
    let mut seen = std::collections::HashSet::new();
    for kind in ObjectKind::ALL {
        for key in FieldKey::standard(kind) {
            let name = key.static_name().unwrap_or_else(|| panic!("{key:?} has no static name"));
            assert_eq!(name.parse::<FieldKey>().as_ref(), Ok(key), "{name}");
            assert!(seen.insert((kind, name)), "{name} twice");
        }
    }
    assert_eq!(FieldKey::Phone(PhoneKind::BusinessFax).to_string(), "phone.business_fax");
    assert_eq!(FieldKey::Address(AddressKind::Home).to_string(), "address.home");
    assert_eq!(FieldKey::Custom("Region__c".into()).static_name(), None);
}

/// Serialised, a key is its name (`Display`), whichever way the name is written.
#[test]
fn field_keys_serialise_as_their_names() {
    let mut keys: Vec<FieldKey> = STANDARD_FIELDS.to_vec();
    keys.push(FieldKey::Custom("Region \"A\"\\c".into()));
    keys.push(FieldKey::Attendee("ann@example.com".into()));
    for key in keys {
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, serde_json::to_string(&key.to_string()).unwrap());
        assert_eq!(serde_json::from_str::<FieldKey>(&json).unwrap(), key, "{json}");
    }
}

#[test]
fn field_keys_round_trip_through_their_names() {
    let mut keys: Vec<FieldKey> = STANDARD_FIELDS.to_vec();
    keys.push(FieldKey::Custom("Region__c".into()));
    for key in keys {
        let name = key.to_string();
        assert_eq!(name.parse::<FieldKey>(), Ok(key.clone()), "{name}");
    }
    assert!("nope".parse::<FieldKey>().is_err());
    assert!("custom.".parse::<FieldKey>().is_err());
    assert!("phone.pager".parse::<FieldKey>().is_err());
    assert_eq!("address.home".parse::<FieldKey>(), Ok(FieldKey::Address(AddressKind::Home)));
    assert!("address.billing".parse::<FieldKey>().is_err());
    // The single list of an earlier version is no field name any more.
    assert!(RETIRED_FIELD_NAMES.iter().all(|name| name.parse::<FieldKey>().is_err()));
}

#[test]
fn address_kinds_are_one_field_each() {
    let at = |kind, city: &str| PostalAddress { kind, city: Some(city.into()), ..PostalAddress::default() };
    let mut r = Record::Contact(Contact {
        addresses: vec![at(AddressKind::Work, "Worktown"), at(AddressKind::Other, "Otherville")],
        ..Contact::default()
    });
    let work = FieldKey::Address(AddressKind::Work);
    let home = FieldKey::Address(AddressKind::Home);
    let other = FieldKey::Address(AddressKind::Other);
    assert_eq!(r.get(&work), Some(FieldValue::Addresses(vec![at(AddressKind::Work, "Worktown")])));
    assert_eq!(r.get(&home), None);
    assert_eq!(r.get(&other), Some(FieldValue::Addresses(vec![at(AddressKind::Other, "Otherville")])));
    let other_print = fingerprint(r.get(&other).as_ref());

    // Writing one kind leaves the others alone.
    r.set(&work, Some(FieldValue::Addresses(vec![at(AddressKind::Work, "Movedtown")]))).unwrap();
    assert_eq!(r.get(&work), Some(FieldValue::Addresses(vec![at(AddressKind::Work, "Movedtown")])));
    assert_eq!(fingerprint(r.get(&other).as_ref()), other_print);

    // The key decides the kind, and a new kind takes its place in the model's order.
    r.set(&home, Some(FieldValue::Addresses(vec![at(AddressKind::Work, "Hometown")]))).unwrap();
    let Record::Contact(c) = &r else { panic!("a contact") };
    assert_eq!(c.addresses.iter().map(|a| a.kind).collect::<Vec<_>>(), AddressKind::ALL);
    assert_eq!(r.get(&home), Some(FieldValue::Addresses(vec![at(AddressKind::Home, "Hometown")])));

    // Clearing one kind clears only it.
    r.set(&work, None).unwrap();
    assert_eq!(r.get(&work), None);
    assert_eq!(fingerprint(r.get(&other).as_ref()), other_print);
    assert!(r.get(&home).is_some());
    assert!(matches!(r.set(&home, Some(FieldValue::Text("x".into()))), Err(FieldError::WrongType { .. })));
}

#[test]
fn phone_slot_set_keeps_other_slots() {
    let mut r = Record::Contact(Contact {
        phones: vec![
            Phone { kind: PhoneKind::Business, number: "1".into() },
            Phone { kind: PhoneKind::Mobile, number: "2".into() },
        ],
        ..Contact::default()
    });
    r.set(&FieldKey::Phone(PhoneKind::Business), Some(FieldValue::List(vec!["9".into()]))).unwrap();
    assert_eq!(r.get(&FieldKey::Phone(PhoneKind::Business)), Some(FieldValue::List(vec!["9".into()])));
    assert_eq!(r.get(&FieldKey::Phone(PhoneKind::Mobile)), Some(FieldValue::List(vec!["2".into()])));
    r.set(&FieldKey::Phone(PhoneKind::Mobile), None).unwrap();
    assert_eq!(r.get(&FieldKey::Phone(PhoneKind::Mobile)), None);
}

#[test]
fn wrong_kind_and_type_are_typed_errors() {
    let mut r = Record::Contact(Contact::default());
    assert!(matches!(r.set(&FieldKey::Subject, None), Err(FieldError::WrongKind { .. })));
    assert!(matches!(
        r.set(&FieldKey::GivenName, Some(FieldValue::Date(NaiveDate::MIN))),
        Err(FieldError::WrongType { .. })
    ));
}

#[test]
fn one_instant_in_two_zones_has_one_fingerprint() {
    let at = |h, zone: &str| EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap().and_hms_opt(h, 0, 0).unwrap(),
        zone: zone.into(),
    };
    let paris = FieldValue::Timing(EventTiming { start: at(10, "Europe/Paris"), end: at(11, "Europe/Paris") });
    let utc = FieldValue::Timing(EventTiming { start: at(8, "UTC"), end: at(9, "UTC") });
    let later = FieldValue::Timing(EventTiming { start: at(9, "UTC"), end: at(10, "UTC") });
    assert_eq!(paris.fingerprint(), utc.fingerprint());
    assert_ne!(utc.fingerprint(), later.fingerprint());
}

#[test]
fn text_prints_hashed_in_place_equal_the_serialised_ones() {
    let long = "Ünïcödé notes, long enough for every xxh3 input size. ".repeat(40);
    for text in [
        "",
        "Ada",
        "say \"hi\"",
        "back\\slash",
        "line\nbreak",
        "tab\there",
        "\u{7f}del",
        "\u{0}\u{1}\u{8}\u{b}\u{c}\r\u{1f} \"q\" \\ / end",
        long.as_str(),
    ] {
        for len in [0, 1, 3, 16, 17, 128, 129, 240, 241, 1000, text.len()] {
            let Some(cut) = text.get(..len.min(text.len())) else { continue };
            let value = FieldValue::Text(cut.to_owned());
            assert_eq!(text_value_print(cut), value.fingerprint(), "{cut:?}");
        }
    }
}

#[test]
fn email_prints_hashed_in_place_equal_the_serialised_ones() {
    for addresses in [vec!["ada@x.com"], vec![" ADA@X.COM ", "b@y.org"], vec!["Ünï@x.de", "a b@x"], vec![]] {
        let emails = addresses
            .iter()
            .map(|a| EmailAddress { kind: AddressKind::Home, address: (*a).to_owned() })
            .collect::<Vec<_>>();
        let r = Record::Contact(Contact { emails, ..Contact::default() });
        assert_eq!(r.print(&FieldKey::Emails), fingerprint(r.get(&FieldKey::Emails).as_ref()), "{addresses:?}");
    }
}

/// The event of a record known to hold one.
fn event_of(record: &Record) -> Event {
    match record {
        Record::Event(e) => e.clone(),
        Record::Contact(_) => panic!("an event record"),
    }
}

proptest::proptest! {
    /// Lists, emails, addresses, privacy, show-as and attendees are printed from JSON written
    /// by hand: the same bytes serde_json writes, or stored prints would stop matching. Text
    /// drawn from quotes, backslashes, control characters, non-ASCII and blanks takes both
    /// paths.
    #[test]
    fn prints_written_by_hand_equal_the_serialised_ones(
        texts in proptest::collection::vec(proptest::option::of("[a-zA-Z0-9 @./\"\\\\\n\r\t\u{0}\u{1}\u{8}\u{b}\u{c}\u{1f}\u{7f}éü€]{0,12}"), 0..12),
        kinds in proptest::collection::vec(0usize..3, 12),
    ) {
        use crate::model::{AttendeeRole, Event, Phone, PhoneKind, ResponseStatus};
        let text = |i: usize| texts.get(i).cloned().flatten();
        let kind = |i: usize| AddressKind::ALL[kinds[i % kinds.len()]];
        let contact = Contact {
            phones: (0..texts.len())
                .filter_map(|i| Some(Phone { kind: PhoneKind::ALL[i % 2], number: text(i)? }))
                .collect(),
            emails: (0..texts.len())
                .filter_map(|i| Some(EmailAddress { kind: kind(i), address: text(i)? }))
                .collect(),
            addresses: (0..texts.len().div_ceil(5))
                .map(|i| PostalAddress {
                    kind: kind(i),
                    street: text(5 * i),
                    city: text(5 * i + 1),
                    region: text(5 * i + 2),
                    postal_code: text(5 * i + 3),
                    country: text(5 * i + 4),
                })
                .collect(),
            ..Contact::default()
        };
        let record = Record::Contact(contact);
        let mut keys = vec![FieldKey::Emails];
        keys.extend(PhoneKind::ALL.map(FieldKey::Phone));
        keys.extend(AddressKind::ALL.map(FieldKey::Address));
        for key in &keys {
            proptest::prop_assert_eq!(record.print(key), fingerprint(record.get(key).as_ref()), "{}", key);
        }
        let zones = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Mars/Base", "Bad\"Zone"];
        let local = |i: usize| {
            // Spring-forward days in Paris (29 March 2026) and New York (8 March 2026).
            let days = [(1, 10), (3, 29), (3, 8), (11, 1), (6, 19)];
            let (month, day) = days[(kinds[i % 12] + kinds[(i + 1) % 12] * 3) % days.len()];
            let day = chrono::NaiveDate::from_ymd_opt(2026, month, day).unwrap_or_default();
            // 02:30 on a spring-forward day does not exist in Paris or New York; nanoseconds
            // change chrono's `Debug` form.
            let time = chrono::NaiveTime::from_hms_nano_opt(2 + kinds[(i + 2) % 12] as u32, 30, 0, [0, 500_000_000, 123_456_789][kinds[(i + 3) % 12]])
                .unwrap_or_default();
            day.and_time(time)
        };
        let time = |i: usize| match kinds[(i + 4) % 12] {
            0 => EventTime::AllDay { date: local(i).date() },
            _ => EventTime::Zoned { local: local(i), zone: zones[(kinds[(i + 5) % 12] * 2 + i) % zones.len()].to_owned() },
        };
        let at = EventTime::utc(chrono::NaiveDateTime::default());
        let privacies = [Privacy::Normal, Privacy::Private];
        let shows = [ShowAs::Free, ShowAs::Tentative, ShowAs::Busy, ShowAs::OutOfOffice, ShowAs::WorkingElsewhere];
        let event = Record::Event(Event {
            subject: None,
            description: None,
            location: None,
            timing: EventTiming { start: at.clone(), end: at },
            recurrence: None,
            organizer: None,
            attendees: texts
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, t)| Attendee {
                    // Upper case, blanks and non-ASCII, as other systems spell addresses.
                    email: if i % 2 == 0 { t.to_uppercase() } else { format!(" {t}@Example.COM ") },
                    name: Some(t.clone()),
                    role: if i % 3 == 0 { AttendeeRole::Optional } else { AttendeeRole::Required },
                    response: ResponseStatus::Accepted,
                })
                .collect(),
            privacy: privacies[kinds[0] % 2],
            show_as: shows[(kinds[1] + 3 * kinds[2]) % 5],
            categories: texts.iter().flatten().cloned().collect(),
            crm_links: vec![],
            ical_uid: None,
            custom: Default::default(),
        });
        // The attendees' keys and prints in one pass are the keys and their prints one by one.
        let one_by_one: Vec<(FieldKey, u64)> = event.attendee_keys().into_iter().map(|k| {
            let print = event.print(&k);
            (k, print)
        }).collect();
        proptest::prop_assert_eq!(event.attendee_prints(), one_by_one);
        let mut keys = vec![FieldKey::Categories, FieldKey::Privacy, FieldKey::ShowAs, FieldKey::attendee("nobody@x")];
        keys.extend(event.attendee_keys());
        for key in &keys {
            proptest::prop_assert_eq!(event.print(key), fingerprint(event.get(key).as_ref()), "{}", key);
        }
        for i in 0..6 {
            let timed = Record::Event(Event { timing: EventTiming { start: time(i), end: time(i + 6) }, ..event_of(&event) });
            proptest::prop_assert_eq!(
                timed.print(&FieldKey::Timing),
                fingerprint(timed.get(&FieldKey::Timing).as_ref()),
                "{:?}",
                timed.get(&FieldKey::Timing)
            );
            // Printed from the instants validation works out, the timing prints the same.
            let bare = Record::Event(Event::at(event_of(&timed).timing));
            if let (Ok(Some(instants)), Record::Event(e)) = (crate::validate::validate_timed(&bare), &timed) {
                proptest::prop_assert_eq!(
                    super::timing_print_at(&e.timing, instants),
                    timed.print(&FieldKey::Timing),
                    "{:?}",
                    e.timing
                );
            }
        }
    }
}

use proptest::strategy::Strategy as _;

proptest::proptest! {
    /// Birthdays, organizers and timings written by hand print as their serialised values: any
    /// date chrono holds (years far outside 0–9999 take the signed form), any time of day with
    /// or without a fraction of any precision, leap seconds, in a zone that is not known (its
    /// local time is written as it is) and as all-day dates.
    #[test]
    fn dates_times_and_people_written_by_hand_equal_the_serialised_ones(
        days in proptest::prop_oneof![-95_000_000i32..95_000_000, -400_000i32..400_000, 700_000i32..740_000, 3_640_000i32..3_660_000],
        seconds in 0u32..86_400,
        nano in proptest::prop_oneof![
            proptest::strategy::Just(0u32),
            (0u32..1_000).prop_map(|ms| ms * 1_000_000),
            (0u32..1_000_000).prop_map(|us| us * 1_000),
            0u32..2_000_000_000,
        ],
        email in "[a-zA-Z@. \"é]{0,12}",
        name in proptest::option::of("[a-zA-Z \"\n]{0,8}"),
    ) {
        use crate::model::Person;
        let Some(date) = NaiveDate::from_num_days_from_ce_opt(days) else { return Ok(()) };
        // A leap second only at the end of a minute, as chrono allows it.
        let nano = if nano >= 1_000_000_000 && seconds % 60 != 59 { nano - 1_000_000_000 } else { nano };
        let Some(time) = chrono::NaiveTime::from_num_seconds_from_midnight_opt(seconds, nano) else { return Ok(()) };
        let contact = Record::Contact(Contact { birthday: Some(date), ..Contact::default() });
        proptest::prop_assert_eq!(
            contact.print(&FieldKey::Birthday),
            fingerprint(contact.get(&FieldKey::Birthday).as_ref())
        );
        let local = date.and_time(time);
        let timing = EventTiming {
            start: EventTime::Zoned { local, zone: "Mars/Base".to_owned() },
            end: EventTime::AllDay { date },
        };
        let organizer = Person { email, name };
        let event = Record::Event(Event { organizer: Some(organizer), ..Event::at(timing) });
        for key in [FieldKey::Timing, FieldKey::Organizer] {
            proptest::prop_assert_eq!(event.print(&key), fingerprint(event.get(&key).as_ref()), "{:?}", event.get(&key));
        }
        let utc = Record::Event(Event {
            timing: EventTiming { start: EventTime::utc(local), end: EventTime::utc(local) },
            ..event_of(&event)
        });
        proptest::prop_assert_eq!(utc.print(&FieldKey::Timing), fingerprint(utc.get(&FieldKey::Timing).as_ref()));
    }
}

#[test]
fn fingerprints_are_stable_and_distinguish_values() {
    let a = FieldValue::Text("Ada".into());
    let b = FieldValue::Text("Ada ".into());
    assert_eq!(a.fingerprint(), FieldValue::Text("Ada".into()).fingerprint());
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert_ne!(fingerprint(None), a.fingerprint());
    let upper =
        FieldValue::Emails(vec![EmailAddress { kind: crate::model::AddressKind::Work, address: "ADA@X.COM".into() }]);
    let lower =
        FieldValue::Emails(vec![EmailAddress { kind: crate::model::AddressKind::Work, address: "ada@x.com".into() }]);
    assert_eq!(upper.fingerprint(), lower.fingerprint());
    // Pinned: a change here silently invalidates every stored snapshot.
    assert_eq!(a.fingerprint(), xxhash_rust::xxh3::xxh3_64(br#"{"type":"text","value":"Ada"}"#));
}

/// An attendee's key printed straight (its address matches the key but for ASCII case) and one
/// that is not (non-ASCII capitals, which `print` looks up by ASCII case only and finds absent,
/// or finds under a later attendee), and repeated or blank addresses: the same prints as
/// [`Record::print`] of each key.
#[test]
fn attendee_prints_are_the_prints_of_the_attendee_keys() {
    use crate::model::{AttendeeRole, ResponseStatus};
    let attendee = |email: &str| Attendee {
        email: email.to_owned(),
        name: None,
        role: AttendeeRole::Required,
        response: ResponseStatus::NeedsAction,
    };
    let attendees = ["Ada@Example.com", " ada@example.COM ", "  ", "JOSÉ@x.com", "Émile@x.com", "émile@X.com", "b@x"]
        .map(attendee)
        .to_vec();
    let at = EventTime::utc(chrono::NaiveDateTime::default());
    let event = Record::Event(Event { attendees, ..Event::at(EventTiming { start: at.clone(), end: at }) });
    let prints = event.attendee_prints();
    let keys: Vec<FieldKey> = prints.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, event.attendee_keys());
    assert_eq!(keys.len(), 4, "{keys:?}");
    for (key, print) in &prints {
        assert_eq!(*print, event.print(key), "{key}");
    }
    // "JOSÉ@x.com" is found by no attendee; "Émile@x.com"'s key is found under "émile@X.com".
    assert_eq!(prints[1].1, 0);
    assert_ne!(prints[2].1, 0);
}

/// A timing printed from the instants validation works out is printed as from its times: zoned
/// in a zone with summer time (a time that exists twice included), in UTC, and all-day.
#[test]
fn timing_prints_from_validated_instants_are_the_timing_prints() {
    let at = |date: (i32, u32, u32), (h, m): (u32, u32), zone: &str| EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(date.0, date.1, date.2).and_then(|d| d.and_hms_opt(h, m, 0)).unwrap_or_default(),
        zone: zone.to_owned(),
    };
    let day = |d: u32| EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 7, d).unwrap_or_default() };
    let timings = [
        EventTiming {
            start: at((2026, 3, 2), (9, 0), "Europe/Paris"),
            end: at((2026, 3, 2), (10, 30), "Europe/Paris"),
        },
        // 02:30 on 25 October 2026 happens twice in Paris; the earlier is taken.
        EventTiming {
            start: at((2026, 10, 25), (2, 30), "Europe/Paris"),
            end: at((2026, 10, 25), (4, 0), "America/New_York"),
        },
        EventTiming { start: at((2026, 1, 1), (0, 0), "UTC"), end: at((2026, 1, 1), (0, 0), "UTC") },
        EventTiming { start: day(1), end: day(2) },
    ];
    for timing in timings {
        let record = Record::Event(Event::at(timing.clone()));
        let instants = crate::validate::validate_timed(&record).ok().flatten();
        let Some(instants) = instants else { panic!("{timing:?} is valid") };
        assert_eq!(super::timing_print_at(&timing, instants), record.print(&FieldKey::Timing), "{timing:?}");
    }
}
