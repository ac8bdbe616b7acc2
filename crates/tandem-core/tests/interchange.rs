//! Integration tests of `tandem_core::interchange`: realistic Outlook, Google and Apple exports,
//! round trips (parse → write → parse gives equal values), the `ical 0.11` gaps, and "bad input
//! never panics" properties.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;
use tandem_core::fields::{FieldKey, fingerprint};
use tandem_core::interchange::{
    InterchangeError, iana_to_windows, parse_icalendar, parse_vcard, windows_to_iana, write_icalendar, write_vcard,
};
use tandem_core::model::{
    AddressKind, Attendee, AttendeeRole, Contact, CrmLink, EmailAddress, Event, EventTime, EventTiming,
    OccurrenceOverride, Person, Phone, PhoneKind, PostalAddress, Privacy, Record, Recurrence, ResponseStatus, ShowAs,
};

const OUTLOOK_ICS: &str = include_str!("fixtures/outlook.ics");
const GOOGLE_ICS: &str = include_str!("fixtures/google.ics");
const APPLE_ICS: &str = include_str!("fixtures/apple.ics");
const OUTLOOK_VCF: &str = include_str!("fixtures/outlook.vcf");
const GOOGLE_VCF: &str = include_str!("fixtures/google.vcf");
const APPLE_VCF: &str = include_str!("fixtures/apple.vcf");

const SAMPLES: [&str; 6] = [OUTLOOK_ICS, GOOGLE_ICS, APPLE_ICS, OUTLOOK_VCF, GOOGLE_VCF, APPLE_VCF];

fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn zoned(s: &str, zone: &str) -> EventTime {
    EventTime::Zoned { local: dt(s), zone: zone.to_owned() }
}

fn day(s: &str) -> EventTime {
    EventTime::AllDay { date: NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap() }
}

/// Checks that the output is well-formed: CRLF everywhere, no physical line over 75 octets.
fn assert_well_formed(out: &str) {
    assert!(out.ends_with("\r\n"));
    for line in out.split_terminator("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        assert!(!line.contains(['\r', '\n']), "bare line break in {line:?}");
    }
}

/// parse → write → parse gives equal values, and writing again gives the same text.
fn round_trip_events(text: &str) -> Vec<Event> {
    let first = parse_icalendar(text).unwrap();
    let out = write_icalendar(&first);
    assert_well_formed(&out);
    let second = parse_icalendar(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(first, second, "\n{out}");
    assert_eq!(write_icalendar(&second), out);
    first
}

fn round_trip_contacts(text: &str) -> Vec<Contact> {
    let first = parse_vcard(text).unwrap();
    let out = write_vcard(&first);
    assert_well_formed(&out);
    let second = parse_vcard(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(first, second, "\n{out}");
    assert_eq!(write_vcard(&second), out);
    first
}

#[test]
fn outlook_calendar_export() {
    let events = round_trip_events(OUTLOOK_ICS);
    assert_eq!(events.len(), 4);
    let berlin = |s| zoned(s, "Europe/Berlin");

    let series = &events[0];
    assert_eq!(series.subject.as_deref(), Some("Pipeline-Review"));
    assert_eq!(
        series.description.as_deref(),
        Some(
            "Wöchentlicher Abgleich der Vertriebspipeline für das Team Nord und Süd.\nAgenda: Zahlen, Risiken; \
             nächste Schritte.\n\nPfad: \\\\fileserver\\vertrieb\\pipeline.xlsx\n"
        )
    );
    assert_eq!(series.timing, EventTiming { start: berlin("2024-01-08 10:00"), end: berlin("2024-01-08 11:00") });
    assert_eq!(series.show_as, ShowAs::Busy);
    assert_eq!(series.privacy, Privacy::Normal);
    assert_eq!(
        series.organizer,
        Some(Person { email: "juergen.mueller@contoso.example".into(), name: Some("Jürgen Müller".into()) })
    );
    assert_eq!(
        series.attendees,
        vec![
            Attendee {
                email: "anna.schmidt@contoso.example".into(),
                name: Some("Anna Schmidt".into()),
                role: AttendeeRole::Required,
                response: ResponseStatus::NeedsAction,
            },
            Attendee {
                email: "rhein@contoso.example".into(),
                name: Some("Besprechungsraum Rhein (12)".into()),
                role: AttendeeRole::Resource,
                response: ResponseStatus::NeedsAction,
            },
            Attendee {
                email: "pierre.dupont@fabrikam.example".into(),
                name: Some("Pierre Dupont".into()),
                role: AttendeeRole::Optional,
                response: ResponseStatus::NeedsAction,
            },
        ]
    );
    assert!(series.ical_uid.as_deref().unwrap().starts_with("040000008200E00074C5B7101A82E008"));
    let recurrence = series.recurrence.as_ref().unwrap();
    assert_eq!(recurrence.rules, vec!["FREQ=WEEKLY;UNTIL=20240226T090000Z;INTERVAL=1;BYDAY=MO;WKST=MO"]);
    assert_eq!(recurrence.exdates, vec![berlin("2024-01-22 10:00")]);
    assert!(recurrence.cancelled.is_empty());
    assert_eq!(
        recurrence.overrides,
        BTreeMap::from([(
            berlin("2024-01-15 10:00"),
            OccurrenceOverride {
                timing: Some(EventTiming { start: berlin("2024-01-16 14:00"), end: berlin("2024-01-16 15:00") }),
                subject: None,
                location: Some("Microsoft Teams-Besprechung".into()),
                description: None,
            }
        )])
    );

    let vacation = &events[1];
    assert_eq!(vacation.timing, EventTiming { start: day("2024-02-12"), end: day("2024-02-17") });
    assert_eq!(vacation.privacy, Privacy::Private);
    assert_eq!(vacation.show_as, ShowAs::OutOfOffice, "BUSYSTATUS wins over TRANSP");

    let qbr = &events[2];
    assert_eq!(qbr.timing.start, zoned("2024-03-07 09:00", "America/Los_Angeles"));
    assert_eq!(qbr.show_as, ShowAs::Tentative);
    assert_eq!(qbr.location.as_deref(), Some("Fabrikam HQ, 1 Microsoft Way; Redmond"));

    let elsewhere = &events[3];
    assert_eq!(elsewhere.timing.start, zoned("2024-03-01 09:00", "America/Los_Angeles"));
    assert_eq!(elsewhere.show_as, ShowAs::WorkingElsewhere);
    assert_eq!(elsewhere.categories, vec!["Reise", "Kunde Fabrikam"]);
}

#[test]
fn google_calendar_export() {
    let events = round_trip_events(GOOGLE_ICS);
    // The cancelled one-off event is skipped: the model has no cancelled events.
    assert_eq!(events.len(), 3);
    let ny = |s| zoned(s, "America/New_York");

    let standup = &events[0];
    assert_eq!(standup.subject.as_deref(), Some("Team standup"));
    assert_eq!(standup.ical_uid.as_deref(), Some("7kukuqrfedlm2f9t0vr40hsrjk@google.com"));
    assert!(standup.description.as_deref().unwrap().contains("Notes, questions; all welcome.\n-::~:~::~"));
    let responses: Vec<_> = standup.attendees.iter().map(|a| (a.name.as_deref(), a.role, a.response)).collect();
    assert_eq!(
        responses,
        vec![
            (Some("Jane Doe"), AttendeeRole::Required, ResponseStatus::Accepted),
            (Some("bob@example.com"), AttendeeRole::Required, ResponseStatus::NeedsAction),
            (Some("Ana García"), AttendeeRole::Required, ResponseStatus::Declined),
            (Some("Wei Zhang"), AttendeeRole::Optional, ResponseStatus::Tentative),
            (Some("NYC-5-Hudson (8)"), AttendeeRole::Resource, ResponseStatus::Accepted),
        ]
    );
    let recurrence = standup.recurrence.as_ref().unwrap();
    assert_eq!(recurrence.rules, vec!["FREQ=WEEKLY;WKST=SU;UNTIL=20240430T035959Z;BYDAY=TU,TH"]);
    assert_eq!(recurrence.exdates, vec![ny("2024-04-02 09:30"), ny("2024-04-04 09:30")]);
    assert_eq!(recurrence.cancelled.iter().collect::<Vec<_>>(), vec![&ny("2024-03-14 09:30")]);
    let moved = &recurrence.overrides[&ny("2024-03-21 09:30")];
    assert_eq!(moved.timing, Some(EventTiming { start: ny("2024-03-21 11:00"), end: ny("2024-03-21 11:30") }));
    assert_eq!(moved.subject.as_deref(), Some("Team standup (moved)"));
    assert_eq!(moved.description.as_deref(), Some("Moved because of the all-hands."));
    assert_eq!(moved.location, None, "unchanged location is not an override");

    let holiday = &events[1];
    assert_eq!(holiday.timing, EventTiming { start: day("2024-05-27"), end: day("2024-05-28") });
    assert_eq!(holiday.subject.as_deref(), Some("Memorial Day – long weekend"));
    assert_eq!((holiday.description.as_deref(), holiday.location.as_deref()), (None, None));
    assert_eq!((holiday.privacy, holiday.show_as), (Privacy::Private, ShowAs::Free));

    let dinner = &events[2];
    assert_eq!(dinner.timing.start, zoned("2024-04-10 19:00", "Europe/Madrid"));
    assert_eq!(dinner.location.as_deref(), Some("Restaurante Botín, Calle de Cuchilleros 17, 28005 Madrid, España"));
}

#[test]
fn apple_calendar_export() {
    let events = round_trip_events(APPLE_ICS);
    assert_eq!(events.len(), 4);

    let cafe = &events[0];
    assert_eq!(cafe.subject.as_deref(), Some("Café Zoë — 東京"));
    assert_eq!(cafe.location.as_deref(), Some("Café Zoë\n1-2-3 Shibuya, Tokyo"));
    assert!(
        cafe.description
            .as_deref()
            .unwrap()
            .contains("Crêpes, Matcha und 抹茶ラテ. Ça va être très bien — 東京で会いましょう！")
    );
    assert!(cafe.description.as_deref().unwrap().ends_with("crossing 🚦."));
    // Floating times are read as UTC.
    assert_eq!(
        cafe.timing,
        EventTiming { start: zoned("2024-03-15 09:00", "UTC"), end: zoned("2024-03-15 10:30", "UTC") }
    );

    let birthday = &events[1];
    assert_eq!(birthday.timing, EventTiming { start: day("2024-04-01"), end: day("2024-04-02") });
    assert_eq!(birthday.subject.as_deref(), Some("Geburtstag Ökö 🎂"));
    assert_eq!(birthday.recurrence.as_ref().unwrap().rules, vec!["FREQ=YEARLY"]);
    assert_eq!(birthday.show_as, ShowAs::Free);

    assert_eq!(events[2].timing.start, zoned("2024-04-10 19:00", "Asia/Tokyo"));
    assert_eq!(events[2].location.as_deref(), Some("銀座 久兵衛"));
    assert_eq!(events[3].timing.end, day("2024-04-23"));
}

#[test]
fn outlook_vcards() {
    let contacts = round_trip_contacts(OUTLOOK_VCF);
    assert_eq!(contacts.len(), 2);
    let c = &contacts[0];
    assert_eq!(
        (c.given_name.as_deref(), c.middle_name.as_deref(), c.family_name.as_deref()),
        (Some("Jürgen"), Some("Karl"), Some("Müller"))
    );
    assert_eq!((c.company.as_deref(), c.department.as_deref()), (Some("Müller & Söhne GmbH"), Some("Vertrieb")));
    assert_eq!(c.title.as_deref(), Some("Leiter Vertrieb"));
    assert_eq!(c.notes.as_deref(), Some("Bevorzugt Anrufe vormittags.\nRückruf über Frau Weiß, Durchwahl -12."));
    assert_eq!(c.assistant_name.as_deref(), Some("Sabine Weiß"));
    assert_eq!(c.birthday, NaiveDate::from_ymd_opt(1975, 3, 21));
    assert_eq!(
        c.emails,
        vec![
            EmailAddress { kind: AddressKind::Other, address: "juergen.mueller@mueller-soehne.example".into() },
            EmailAddress { kind: AddressKind::Other, address: "j.mueller@privat.example".into() },
        ]
    );
    let kinds: Vec<_> = c.phones.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        vec![PhoneKind::Business, PhoneKind::Home, PhoneKind::Mobile, PhoneKind::BusinessFax, PhoneKind::Assistant]
    );
    assert_eq!(
        c.addresses[0],
        PostalAddress {
            kind: AddressKind::Work,
            street: Some("Friedrichstraße 123".into()),
            city: Some("Berlin".into()),
            region: Some("Berlin".into()),
            postal_code: Some("10117".into()),
            country: Some("Deutschland".into()),
        }
    );
    assert_eq!(c.addresses[1].kind, AddressKind::Home);

    // A company card: FN repeats ORG, so it is not taken as a person's name.
    let company = &contacts[1];
    assert_eq!((company.given_name.as_deref(), company.family_name.as_deref()), (None, None));
    assert_eq!(company.company.as_deref(), Some("Contoso Ltd."));
    assert_eq!(company.addresses[0].street.as_deref(), Some("One Contoso Way\nBuilding 4"));
}

#[test]
fn google_vcards() {
    let contacts = round_trip_contacts(GOOGLE_VCF);
    assert_eq!(contacts.len(), 3);
    let jose = &contacts[0];
    assert_eq!((jose.given_name.as_deref(), jose.family_name.as_deref()), (Some("José"), Some("Álvarez")));
    assert_eq!(jose.emails.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![AddressKind::Work, AddressKind::Home]);
    assert_eq!(
        jose.phones,
        vec![
            Phone { kind: PhoneKind::Mobile, number: "+34 600 123 456".into() },
            Phone { kind: PhoneKind::Business, number: "+34 91 123 45 67".into() },
            Phone { kind: PhoneKind::Other, number: "+34 91 765 43 21".into() },
        ]
    );
    assert_eq!(jose.addresses[0].street.as_deref(), Some("Calle Mayor 1, 3º B"));
    assert_eq!(jose.addresses[0].country.as_deref(), Some("España"));
    assert_eq!(jose.notes.as_deref(), Some("Conocido en la feria de Valencia; muy interesado en la oferta «Premium»."));
    assert_eq!(jose.birthday, NaiveDate::from_ymd_opt(1980, 7, 4));

    let lukasz = &contacts[1];
    assert_eq!(lukasz.family_name.as_deref(), Some("Żółć"));
    assert_eq!(lukasz.birthday, None, "--MM-DD has no year and is ignored");
    assert_eq!(lukasz.phones[0].kind, PhoneKind::HomeFax);
    assert_eq!(lukasz.addresses[0].kind, AddressKind::Other);

    let priya = &contacts[2];
    assert_eq!((priya.given_name.as_deref(), priya.family_name.as_deref()), (Some("Priya"), None));
    assert_eq!(
        priya.custom,
        BTreeMap::from([("Kunden Nr.".to_owned(), "4711".to_owned()), ("Region__c".to_owned(), "APAC".to_owned())])
    );
}

#[test]
fn apple_vcards() {
    let contacts = round_trip_contacts(APPLE_VCF);
    assert_eq!(contacts.len(), 2);
    let zoe = &contacts[0];
    assert_eq!(
        (zoe.given_name.as_deref(), zoe.middle_name.as_deref(), zoe.family_name.as_deref()),
        (Some("Zoë"), Some("Anaïs"), Some("Lefèvre"))
    );
    assert_eq!((zoe.company.as_deref(), zoe.department.as_deref()), (Some("Café Zoë"), Some("Direction")));
    // The preferred address comes first.
    assert_eq!(
        zoe.emails,
        vec![
            EmailAddress { kind: AddressKind::Work, address: "zoe@cafe-zoe.example".into() },
            EmailAddress { kind: AddressKind::Home, address: "zoe.lefevre@icloud.example".into() },
        ]
    );
    assert_eq!(
        zoe.phones.iter().map(|p| p.kind).collect::<Vec<_>>(),
        vec![PhoneKind::Mobile, PhoneKind::Mobile, PhoneKind::Assistant]
    );
    assert_eq!(zoe.assistant_name.as_deref(), Some("Marc Dubois"));
    assert_eq!(zoe.addresses[0].kind, AddressKind::Work);
    assert_eq!(zoe.birthday, NaiveDate::from_ymd_opt(1988, 11, 2));
    assert_eq!(zoe.notes.as_deref(), Some("Rencontrée au salon « Goût de France ».\nPréfère le thé au café."));

    let taro = &contacts[1];
    assert_eq!((taro.given_name.as_deref(), taro.family_name.as_deref()), (Some("太郎"), Some("山田")));
    assert_eq!((taro.company.as_deref(), taro.department.as_deref()), (Some("東京商事株式会社"), Some("営業部")));
    assert_eq!(
        taro.phones,
        vec![
            Phone { kind: PhoneKind::Mobile, number: "+81-90-1234-5678".into() },
            Phone { kind: PhoneKind::Business, number: "+81-3-1234-5678".into() },
        ]
    );
    assert_eq!(taro.emails[0].address, "taro.yamada@tokyo-shoji.example");
    assert_eq!(taro.addresses[0].city.as_deref(), Some("千代田区"));
    assert_eq!(taro.birthday, None);
    assert_eq!(taro.notes.as_deref(), Some("日本語のメモ — テスト, 二行目\n三行目"));
}

/// Gap 1 of `ical 0.11`: escaped text is not unescaped by the parser.
#[test]
fn gap_escapes_are_decoded() {
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\n\
               SUMMARY:a\\, b\\; c\\\\d\\ne\\Nf\r\nCATEGORIES:x\\,y,z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let e = &parse_icalendar(ics).unwrap()[0];
    assert_eq!(e.subject.as_deref(), Some("a, b; c\\d\ne\nf"));
    assert_eq!(e.categories, vec!["x,y", "z"]);
    let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:O\\;Brien;Se\\,án;;;\r\nNOTE:1\\n2\\\\n\r\nEND:VCARD\r\n";
    let c = &parse_vcard(vcf).unwrap()[0];
    assert_eq!((c.family_name.as_deref(), c.given_name.as_deref()), (Some("O;Brien"), Some("Se,án")));
    assert_eq!(c.notes.as_deref(), Some("1\n2\\n"));
}

/// Gap 2 of `ical 0.11`: the space right before a fold is dropped on unfolding.
#[test]
fn gap_space_before_fold() {
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nSUMMARY:Quarterly \r\n review \r\n\tmeeting\r\n\
               END:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(parse_icalendar(ics).unwrap()[0].subject.as_deref(), Some("Quarterly review meeting"));
    let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:van der \r\n Berg;Jan;;;\r\nEND:VCARD\r\n";
    assert_eq!(parse_vcard(vcf).unwrap()[0].family_name.as_deref(), Some("van der Berg"));
}

/// Gap 3 of `ical 0.11`: its writer does not escape text. Ours does, and folds at 75 octets.
#[test]
fn gap_writer_escapes_and_folds() {
    let event = Event {
        subject: Some("Budget; Q3, final\\draft\nsecond line".into()),
        description: Some("Zoë ".repeat(40)),
        location: Some("東京".repeat(30)),
        timing: EventTiming {
            start: zoned("2024-01-01 10:00", "Europe/Paris"),
            end: zoned("2024-01-01 11:00", "Europe/Paris"),
        },
        recurrence: None,
        organizer: Some(Person { email: "o@x.test".into(), name: Some("Doe, \"JD\" Jane".into()) }),
        attendees: vec![],
        privacy: Privacy::Normal,
        show_as: ShowAs::Busy,
        categories: vec!["a,b".into()],
        crm_links: vec![],
        ical_uid: Some("uid-1".into()),
        custom: BTreeMap::new(),
    };
    let out = write_icalendar(std::slice::from_ref(&event));
    assert_well_formed(&out);
    assert!(out.contains("SUMMARY:Budget\\; Q3\\, final\\\\draft\\nsecond line\r\n"), "{out}");
    assert!(out.contains("DTSTART;TZID=Europe/Paris:20240101T100000\r\n"));
    assert!(out.contains("ORGANIZER;CN=\"Doe, ^'JD^' Jane\":mailto:o@x.test\r\n"));
    assert!(out.contains("CATEGORIES:a\\,b\r\n"));
    assert!(!out.contains("BEGIN:VTIMEZONE"));
    assert_eq!(parse_icalendar(&out).unwrap(), vec![event]);
}

#[test]
fn errors_are_reported_not_panicked() {
    let wrap = |body: &str| format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n");
    assert!(matches!(
        parse_icalendar(&wrap("BEGIN:VEVENT\r\nDTSTART:20240102T100000Z\r\nDTEND:20240101T100000Z\r\nEND:VEVENT\r\n")),
        Err(InterchangeError::EndBeforeStart { .. })
    ));
    assert!(matches!(
        parse_icalendar(&wrap("BEGIN:VEVENT\r\nDTSTART;TZID=Atlantis/Capital:20240102T100000\r\nEND:VEVENT\r\n")),
        Err(InterchangeError::UnknownTimeZone(z)) if z == "Atlantis/Capital"
    ));
    assert!(matches!(
        parse_icalendar(&wrap("BEGIN:VEVENT\r\nSUMMARY:no start\r\nEND:VEVENT\r\n")),
        Err(InterchangeError::MissingProperty { property: "DTSTART", .. })
    ));
    assert!(matches!(
        parse_icalendar("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20240102T100000Z\r\n"),
        Err(InterchangeError::Parse { line: Some(2), .. })
    ));
    assert!(matches!(parse_icalendar("\u{0}\u{1}garbage\u{7f}"), Err(InterchangeError::Parse { line: Some(1), .. })));
    assert!(matches!(parse_vcard(GOOGLE_ICS), Err(InterchangeError::Parse { line: Some(1), .. })));
    assert!(matches!(parse_icalendar(GOOGLE_VCF), Err(InterchangeError::Parse { line: Some(1), .. })));
    assert_eq!(parse_icalendar("").unwrap(), vec![]);
    assert_eq!(parse_vcard(" \r\n\r\n").unwrap(), vec![]);
    let err = parse_icalendar("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VTODO\r\n").unwrap_err();
    assert_eq!(err.to_string(), "malformed input at line 3: END:VTODO does not close BEGIN:VEVENT of line 2");
}

#[test]
fn zone_tables_are_public() {
    assert_eq!(windows_to_iana("W. Europe Standard Time"), Some("Europe/Berlin"));
    assert_eq!(iana_to_windows("Asia/Tokyo"), Some("Tokyo Standard Time"));
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// Printable-or-not text without carriage returns or U+FFFF (see the module documentation).
fn text() -> impl Strategy<Value = String> {
    "[^\\r\\x{FFFF}]{1,40}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn email() -> impl Strategy<Value = String> {
    "[a-z0-9._%+-]{1,12}@[a-z0-9-]{1,10}\\.(test|example|de)"
}

fn local_time() -> impl Strategy<Value = NaiveDateTime> {
    (0i64..4_000_000_000).prop_map(|secs| chrono::DateTime::from_timestamp(secs, 0).unwrap().naive_utc())
}

fn zone() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
        .prop_map(str::to_owned)
}

fn contact() -> impl Strategy<Value = Contact> {
    let names = (opt_text(), opt_text(), opt_text());
    let emails = prop::collection::vec(
        (prop::sample::select(vec![AddressKind::Work, AddressKind::Home, AddressKind::Other]), email()),
        0..3,
    );
    let phones = prop::collection::vec(
        (prop::sample::select(PhoneKind::ALL.to_vec()), text().prop_filter("not blank", |s| !s.trim().is_empty())),
        0..4,
    );
    let address = (
        prop::sample::select(vec![AddressKind::Work, AddressKind::Home, AddressKind::Other]),
        text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
    )
        .prop_map(|(kind, street, city, region, postal_code, country)| PostalAddress {
            kind,
            street: Some(street),
            city,
            region,
            postal_code,
            country,
        });
    let org = (opt_text(), opt_text(), opt_text());
    let more = (
        prop::collection::vec(address, 0..2),
        proptest::option::of(
            (1900i32..2100, 1u32..13, 1u32..29).prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap()),
        ),
        opt_text(),
        opt_text(),
        prop::collection::btree_map("[^\\x{FFFF}]{0,12}", text(), 0..3),
    );
    (names, emails, phones, org, more).prop_map(
        |(
            (given, middle, family),
            emails,
            phones,
            (company, title, department),
            (addresses, birthday, assistant, notes, custom),
        )| {
            Contact {
                given_name: given,
                middle_name: middle,
                family_name: family,
                emails: emails.into_iter().map(|(kind, address)| EmailAddress { kind, address }).collect(),
                phones: phones
                    .into_iter()
                    .filter(|(_, n)| !n.to_ascii_lowercase().starts_with("tel:"))
                    .map(|(kind, number)| Phone { kind, number })
                    .collect(),
                company,
                title,
                department,
                addresses,
                birthday,
                assistant_name: assistant,
                notes,
                custom,
            }
        },
    )
}

fn event() -> impl Strategy<Value = Event> {
    let timing = (zone(), local_time(), 0i64..200_000, any::<bool>()).prop_map(|(zone, start, length, all_day)| {
        if all_day {
            let date = start.date();
            EventTiming {
                start: EventTime::AllDay { date },
                end: EventTime::AllDay { date: date + chrono::Days::new(1 + (length % 5) as u64) },
            }
        } else {
            let end = start + chrono::TimeDelta::try_seconds(length).unwrap();
            EventTiming {
                start: EventTime::Zoned { local: start, zone: zone.clone() },
                end: EventTime::Zoned { local: end, zone },
            }
        }
    });
    let people = (
        proptest::option::of((email(), opt_text()).prop_map(|(email, name)| Person { email, name })),
        prop::collection::vec(
            (
                email(),
                opt_text(),
                prop::sample::select(vec![AttendeeRole::Required, AttendeeRole::Optional, AttendeeRole::Resource]),
                prop::sample::select(vec![
                    ResponseStatus::NeedsAction,
                    ResponseStatus::Accepted,
                    ResponseStatus::Tentative,
                    ResponseStatus::Declined,
                ]),
            )
                .prop_map(|(email, name, role, response)| Attendee { email, name, role, response }),
            0..3,
        ),
    );
    let flags = (
        prop::sample::select(vec![Privacy::Normal, Privacy::Private]),
        prop::sample::select(vec![
            ShowAs::Free,
            ShowAs::Tentative,
            ShowAs::Busy,
            ShowAs::OutOfOffice,
            ShowAs::WorkingElsewhere,
        ]),
        prop::collection::vec(text(), 0..3),
        prop::collection::vec(
            ("[A-Za-z_]{1,12}", "[A-Za-z0-9]{15,18}").prop_map(|(object, id)| CrmLink { object, id }),
            0..2,
        ),
        proptest::option::of("[A-Za-z0-9@._-]{1,30}"),
        prop::collection::btree_map("[^\\x{FFFF}]{0,12}", text(), 0..3),
    );
    let series = proptest::option::of((
        prop::sample::select(vec![
            "FREQ=DAILY;COUNT=10",
            "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20300101T000000Z",
            "FREQ=MONTHLY;BYMONTHDAY=15",
        ]),
        prop::collection::vec((1u64..30, opt_text(), opt_text(), opt_text(), any::<bool>(), 0i64..7200), 0..3),
        prop::collection::vec(1u64..30, 0..3),
        prop::collection::vec(1u64..30, 0..3),
    ));
    (opt_text(), opt_text(), opt_text(), timing, people, flags, series).prop_map(
        |(subject, description, location, timing, (organizer, attendees), flags, series)| {
            let (privacy, show_as, categories, crm_links, ical_uid, custom) = flags;
            let shift = |n: u64| -> EventTime {
                match &timing.start {
                    EventTime::AllDay { date } => EventTime::AllDay { date: *date + chrono::Days::new(n) },
                    EventTime::Zoned { local, zone } => {
                        EventTime::Zoned { local: *local + chrono::Days::new(n), zone: zone.clone() }
                    }
                }
            };
            let recurrence = series.map(|(rule, overrides, exdates, cancelled)| {
                let mut r = Recurrence { rules: vec![rule.to_owned()], ..Recurrence::default() };
                for (n, new_subject, new_location, new_description, moved, delay) in overrides {
                    let key = shift(n);
                    let timing = (moved && !key.is_all_day()).then(|| {
                        let bump = |t: &EventTime| match t {
                            EventTime::Zoned { local, zone } => EventTime::Zoned {
                                local: *local
                                    + chrono::Days::new(n)
                                    + chrono::TimeDelta::try_seconds(delay + 60).unwrap(),
                                zone: zone.clone(),
                            },
                            other => other.clone(),
                        };
                        EventTiming { start: bump(&timing.start), end: bump(&timing.end) }
                    });
                    let differs = |new: Option<String>, old: &Option<String>| new.filter(|v| Some(v) != old.as_ref());
                    r.overrides.insert(
                        key,
                        OccurrenceOverride {
                            timing,
                            subject: differs(new_subject, &subject),
                            location: differs(new_location, &location),
                            description: differs(new_description, &description),
                        },
                    );
                }
                r.exdates = exdates.into_iter().map(shift).collect();
                r.cancelled = cancelled.into_iter().map(shift).collect();
                r
            });
            Event {
                subject,
                description,
                location,
                timing,
                recurrence,
                organizer,
                attendees,
                privacy,
                show_as,
                categories: categories.iter().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect(),
                crm_links,
                ical_uid,
                custom,
            }
        },
    )
}

/// Small edits of a valid sample: delete, insert, replace, duplicate a line, cut off.
fn mutate(sample: &str, edits: &[(usize, u8, String)]) -> String {
    let mut s = sample.to_owned();
    for (pos, kind, insert) in edits {
        let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
        let at = boundaries[pos % boundaries.len()];
        let next = boundaries.iter().copied().find(|&b| b > at).unwrap_or(s.len());
        match kind % 6 {
            0 => s.replace_range(at..next, ""),
            1 => s.insert_str(at, insert),
            2 => s.replace_range(at..next, insert),
            3 => {
                let start = s[..at].rfind('\n').map_or(0, |i| i + 1);
                let end = s[at..].find('\n').map_or(s.len(), |i| at + i + 1);
                let line = s[start..end].to_owned();
                s.insert_str(start, &line);
            }
            4 => s.truncate(at),
            _ => {
                let tokens =
                    [":", ";", "\r\n ", "\\", "\"", "=", ",", "\r\n", "BEGIN:VEVENT\r\n", "END:VCARD\r\n", "T", "Z"];
                s.insert_str(at, tokens[pos % tokens.len()]);
            }
        }
    }
    s
}

fn soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "BEGIN:VCALENDAR",
        "END:VCALENDAR",
        "BEGIN:VEVENT",
        "END:VEVENT",
        "BEGIN:VCARD",
        "END:VCARD",
        "BEGIN:VTIMEZONE",
        "END:VTIMEZONE",
        "BEGIN:STANDARD",
        "END:STANDARD",
        "VERSION:3.0",
        "DTSTART:",
        "DTEND;VALUE=DATE:",
        "DTSTART;TZID=",
        "RECURRENCE-ID:",
        "UID:u",
        "STATUS:CANCELLED",
        "RRULE:FREQ=",
        "EXDATE:",
        "DURATION:P",
        "N:",
        "FN:",
        "EMAIL;TYPE=",
        "TEL;TYPE=",
        "ADR:",
        "BDAY:",
        "ORG:",
        "X-TANDEM-",
        "20240101T100000",
        "Z",
        "20240101",
        "W. Europe Standard Time",
        "Europe/Berlin",
        "\r\n",
        "\r\n ",
        "\n",
        ";",
        ":",
        ",",
        "\\",
        "\"",
        "=",
        "é",
        "東京",
        "-",
        "PT1H",
        "T",
    ]);
    prop::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = parse_icalendar(&s);
        let _ = parse_vcard(&s);
    }

    #[test]
    fn token_soup_never_panics(s in soup()) {
        let _ = parse_icalendar(&s);
        let _ = parse_vcard(&s);
    }

    #[test]
    fn mutated_samples_never_panic(
        sample in 0..SAMPLES.len(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), "[^\\x{0}]{0,8}"), 1..8),
    ) {
        let s = mutate(SAMPLES[sample], &edits);
        // Whatever parses must also survive writing and parsing again.
        if let Ok(events) = parse_icalendar(&s) {
            let out = write_icalendar(&events);
            prop_assert_eq!(parse_icalendar(&out).ok(), Some(events));
        }
        if let Ok(contacts) = parse_vcard(&s) {
            let out = write_vcard(&contacts);
            prop_assert_eq!(parse_vcard(&out).ok(), Some(contacts));
        }
    }

    #[test]
    fn contacts_round_trip(contacts in prop::collection::vec(contact(), 1..3)) {
        let out = write_vcard(&contacts);
        for line in out.split_terminator("\r\n") {
            prop_assert!(line.len() <= 75);
        }
        prop_assert_eq!(parse_vcard(&out).map_err(|e| e.to_string()), Ok(contacts));
    }

    /// `Record::print` (the planner's in-place fingerprint) equals the fingerprint of the value
    /// `Record::get` copies out, for every field; `is_normalized` tells exactly when `normalize`
    /// changes a record.
    #[test]
    fn in_place_prints_and_normal_form_agree(c in contact(), e in event(), blank in 0u8..8) {
        for mut record in [Record::Contact(c.clone()), Record::Event(e.clone())] {
            record.custom_mut().insert("Region__c".into(), "North".into());
            match (blank, &mut record) {
                (0, Record::Contact(c)) => c.title = Some(" ".into()),
                (0, Record::Event(e)) => e.location = Some("\t".into()),
                (1, Record::Contact(c)) => c.phones.push(Phone { kind: PhoneKind::Mobile, number: " ".into() }),
                (1, Record::Event(e)) => e.categories.push(String::new()),
                (2, r) => {
                    r.custom_mut().insert("Blank__c".into(), " ".into());
                }
                (3, Record::Contact(c)) => c.addresses.push(PostalAddress { kind: AddressKind::Other, ..PostalAddress::default() }),
                (3, Record::Event(e)) => e.recurrence = Some(Recurrence::default()),
                (4, Record::Contact(c)) => c.emails.push(EmailAddress { kind: AddressKind::Home, address: " ".into() }),
                _ => {}
            }
            let mut keys: Vec<FieldKey> = FieldKey::standard(record.kind()).to_vec();
            keys.extend(record.attendee_keys());
            keys.extend(record.custom().keys().map(|k| FieldKey::Custom(k.clone())));
            keys.push(FieldKey::Custom("Missing__c".into()));
            for key in &keys {
                prop_assert_eq!(record.print(key), fingerprint(record.get(key).as_ref()), "{}", key);
            }
            let mut normal = record.clone();
            normal.normalize();
            prop_assert_eq!(record.is_normalized(), normal == record);
            prop_assert!(normal.is_normalized());
        }
    }

    #[test]
    fn events_round_trip(events in prop::collection::vec(event(), 1..3)) {
        let out = write_icalendar(&events);
        for line in out.split_terminator("\r\n") {
            prop_assert!(line.len() <= 75);
        }
        prop_assert_eq!(parse_icalendar(&out).map_err(|e| e.to_string()), Ok(events));
    }
}
