//! Event generation and editing.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use tandem_core::model::{
    Attendee, AttendeeRole, CrmLink, Event, EventTime, EventTiming, OccurrenceOverride, Person, Privacy, Recurrence,
    ResponseStatus, ShowAs,
};

use super::contacts::slug;
use super::pools::{self, CULTURES};
use crate::rng::Rng;

const EVENT_STREAM: u64 = 0xE7E7_0001;

/// How far from the anchor generated events start, in days.
pub(super) const WINDOW_DAYS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Meeting,
    Flight,
    AllDay,
    Recurring,
    Personal,
}

/// The first few events cover every kind, so even a small data set exercises each code path.
const COVER: [Kind; 8] = [
    Kind::Meeting,
    Kind::AllDay,
    Kind::Recurring,
    Kind::Meeting,
    Kind::Personal,
    Kind::Meeting,
    Kind::Recurring,
    Kind::Flight,
];

const KIND_WEIGHTS: [(u32, Kind); 5] =
    [(50, Kind::Meeting), (3, Kind::Flight), (14, Kind::AllDay), (23, Kind::Recurring), (10, Kind::Personal)];

pub(super) fn events(seed: u64, n: usize, anchor: NaiveDate) -> Vec<Event> {
    (0..n).map(|i| event(seed, i, anchor)).collect()
}

fn blank(timing: EventTiming) -> Event {
    Event::at(timing)
}

fn event(seed: u64, i: usize, anchor: NaiveDate) -> Event {
    let mut rng = Rng::derive(seed, EVENT_STREAM ^ i as u64);
    let kind = match COVER.get(i) {
        Some(k) => *k,
        None => *rng.weighted(&KIND_WEIGHTS),
    };
    // Unique by construction: the index is part of the UID.
    let uid = format!("{:016x}{:06x}@tandem.test", rng.next_u64(), i);
    let mut e = match kind {
        Kind::Meeting => meeting(&mut rng, anchor),
        Kind::Flight => flight(&mut rng, anchor),
        Kind::AllDay => all_day(&mut rng, anchor),
        Kind::Recurring => recurring(&mut rng, anchor, i == 2, i == 6),
        Kind::Personal => personal(&mut rng, anchor),
    };
    e.ical_uid = Some(uid);
    if kind != Kind::Personal && (i % 9 == 5 || rng.chance(8)) {
        e.privacy = Privacy::Private;
    }
    e
}

// ---------------------------------------------------------------------------------------------
// Times

/// A day within ±[`WINDOW_DAYS`] of `anchor`; on a weekday when `weekday_only`.
fn day_in_window(rng: &mut Rng, anchor: NaiveDate, weekday_only: bool) -> NaiveDate {
    let offset = rng.range(-WINDOW_DAYS, WINDOW_DAYS);
    let mut offset = offset;
    if weekday_only {
        let wd = (anchor + Duration::days(offset)).weekday();
        let weekend_shift = match wd {
            Weekday::Sat => 1,
            Weekday::Sun => 2,
            _ => 0,
        };
        // Move to the previous Friday when that keeps us in the window, else to Monday.
        if weekend_shift > 0 {
            if offset - weekend_shift >= -WINDOW_DAYS {
                offset -= weekend_shift;
            } else {
                offset += 3 - weekend_shift;
            }
        }
    }
    anchor + Duration::days(offset)
}

fn at(date: NaiveDate, hour: u32, minute: u32) -> NaiveDateTime {
    date.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN))
}

fn zoned(local: NaiveDateTime, zone: &str) -> EventTime {
    EventTime::Zoned { local, zone: zone.to_owned() }
}

/// `local`, moved forward past a daylight-saving gap if it does not exist in `zone`.
fn existing(local: NaiveDateTime, zone: &str) -> NaiveDateTime {
    let mut t = local;
    for _ in 0..4 {
        if zoned(t, zone).instant().is_some() {
            return t;
        }
        t += Duration::minutes(30);
    }
    t
}

fn business_start(rng: &mut Rng, date: NaiveDate, zone: &str) -> NaiveDateTime {
    let hour = rng.range(8, 17) as u32;
    let minute = *rng.weighted(&[(50, 0), (30, 30), (10, 15), (10, 45)]);
    existing(at(date, hour, minute), zone)
}

fn meeting_minutes(rng: &mut Rng) -> i64 {
    *rng.weighted(&[(30, 30), (35, 60), (10, 45), (8, 90), (5, 120), (4, 15), (3, 180)])
}

fn zoned_timing(start: NaiveDateTime, minutes: i64, zone: &str) -> EventTiming {
    let end = existing(start + Duration::minutes(minutes), zone);
    EventTiming { start: zoned(start, zone), end: zoned(end, zone) }
}

// ---------------------------------------------------------------------------------------------
// People

fn person(rng: &mut Rng) -> Person {
    let culture = rng.pick(CULTURES);
    let given = rng.pick(culture.given);
    let family = rng.pick(culture.family);
    let domain = rng.pick(pools::COMPANIES).1;
    Person {
        email: format!("{}.{}@{domain}", slug(given.1), slug(family.1)),
        name: Some(format!("{} {}", given.0, family.0)),
    }
}

fn response(rng: &mut Rng) -> ResponseStatus {
    *rng.weighted(&[
        (50, ResponseStatus::Accepted),
        (15, ResponseStatus::Tentative),
        (10, ResponseStatus::Declined),
        (25, ResponseStatus::NeedsAction),
    ])
}

fn new_attendee(rng: &mut Rng, taken: &BTreeSet<String>) -> Option<Attendee> {
    for _ in 0..8 {
        let p = person(rng);
        if !taken.contains(&p.email) {
            let role = if rng.chance(20) { AttendeeRole::Optional } else { AttendeeRole::Required };
            return Some(Attendee { email: p.email, name: p.name, role, response: response(rng) });
        }
    }
    None
}

/// An organizer and 1–8 attendees with distinct addresses; sometimes a room.
fn people(rng: &mut Rng, e: &mut Event) {
    let organizer = person(rng);
    let mut taken = BTreeSet::from([organizer.email.clone()]);
    let count = rng.range(1, 8) as usize;
    let with_room = count >= 2 && rng.chance(20);
    let humans = if with_room { count - 1 } else { count };
    for _ in 0..humans {
        if let Some(a) = new_attendee(rng, &taken) {
            taken.insert(a.email.clone());
            e.attendees.push(a);
        }
    }
    if with_room {
        let (name, email) = rng.pick(pools::ROOMS);
        e.attendees.push(Attendee {
            email: (*email).to_owned(),
            name: Some((*name).to_owned()),
            role: AttendeeRole::Resource,
            response: ResponseStatus::Accepted,
        });
    }
    e.organizer = Some(organizer);
}

fn categories(rng: &mut Rng) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let n = *rng.weighted(&[(50, 0), (35, 1), (15, 2)]);
    for _ in 0..n {
        let c = (*rng.pick(pools::CATEGORIES)).to_owned();
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// An 18-character Salesforce record id with the given 3-character key prefix (`003` Contact,
/// `001` Account, `006` Opportunity), including the case-insensitivity checksum suffix.
pub(super) fn salesforce_id(key_prefix: &str, rng: &mut Rng) -> String {
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let mut id: String = key_prefix.chars().take(3).collect();
    while id.len() < 15 {
        id.push(char::from(BASE62[rng.index(BASE62.len())]));
    }
    let bytes: Vec<u8> = id.bytes().collect();
    let mut suffix = String::with_capacity(3);
    for chunk in bytes.chunks(5).take(3) {
        let flags =
            chunk.iter().enumerate().filter(|(_, b)| b.is_ascii_uppercase()).fold(0usize, |acc, (j, _)| acc | (1 << j));
        suffix.push(char::from(SUFFIX[flags & 31]));
    }
    id.push_str(&suffix);
    id
}

fn crm_links(rng: &mut Rng) -> Vec<CrmLink> {
    if !rng.chance(25) {
        return Vec::new();
    }
    let mut links = vec![CrmLink { object: "Contact".to_owned(), id: salesforce_id("003", rng) }];
    if rng.chance(50) {
        let (object, prefix) = *rng.pick(&[("Account", "001"), ("Opportunity", "006")]);
        links.push(CrmLink { object: object.to_owned(), id: salesforce_id(prefix, rng) });
    }
    links
}

fn maybe(rng: &mut Rng, percent: u32, pool: &[&str]) -> Option<String> {
    if rng.chance(percent) { Some((*rng.pick(pool)).to_owned()) } else { None }
}

// ---------------------------------------------------------------------------------------------
// Kinds

fn meeting(rng: &mut Rng, anchor: NaiveDate) -> Event {
    let zone = *rng.pick(pools::ZONES);
    let date = day_in_window(rng, anchor, true);
    let start = business_start(rng, date, zone);
    let minutes = meeting_minutes(rng);
    let mut e = blank(zoned_timing(start, minutes, zone));
    e.subject = Some((*rng.pick(pools::MEETING_SUBJECTS)).to_owned());
    e.location = maybe(rng, 80, pools::LOCATIONS);
    e.description = maybe(rng, 60, pools::DESCRIPTIONS);
    people(rng, &mut e);
    e.show_as = *rng.weighted(&[
        (70, ShowAs::Busy),
        (12, ShowAs::Tentative),
        (8, ShowAs::Free),
        (6, ShowAs::WorkingElsewhere),
        (4, ShowAs::OutOfOffice),
    ]);
    e.categories = categories(rng);
    e.crm_links = crm_links(rng);
    e
}

fn flight(rng: &mut Rng, anchor: NaiveDate) -> Event {
    let (subject, from, to, minutes) = *rng.pick(pools::FLIGHTS);
    let date = day_in_window(rng, anchor, false);
    let start = existing(at(date, rng.range(7, 20) as u32, *rng.pick(&[0, 5, 25, 40, 55])), from);
    let end_instant = zoned(start, from).instant().map(|t| t + Duration::minutes(minutes));
    let end = match (end_instant, to.parse::<chrono_tz::Tz>()) {
        (Some(t), Ok(tz)) => zoned(tz.from_utc_datetime(&t.naive_utc()).naive_local(), to),
        _ => zoned(start + Duration::minutes(minutes), from),
    };
    let mut e = blank(EventTiming { start: zoned(start, from), end });
    e.subject = Some(subject.to_owned());
    e.location = Some(format!("{subject} — gate TBA"));
    e.description = Some("Booking ref: TNDM42\nSeat 14A; vegetarian meal.".to_owned());
    e.show_as = if rng.chance(50) { ShowAs::OutOfOffice } else { ShowAs::Busy };
    e.categories = vec!["Travel".to_owned()];
    e
}

fn all_day(rng: &mut Rng, anchor: NaiveDate) -> Event {
    let date = day_in_window(rng, anchor, false);
    let days = *rng.weighted(&[(70, 1), (12, 2), (10, 3), (8, 5)]);
    let (subject, ooo) = *rng.pick(pools::ALL_DAY_SUBJECTS);
    let mut e = blank(EventTiming {
        start: EventTime::AllDay { date },
        end: EventTime::AllDay { date: date + Duration::days(days) },
    });
    e.subject = Some(subject.to_owned());
    e.show_as = if ooo { ShowAs::OutOfOffice } else { ShowAs::Free };
    e.location = maybe(rng, 30, pools::LOCATIONS);
    e.description = maybe(rng, 25, pools::DESCRIPTIONS);
    if !ooo && rng.chance(30) {
        people(rng, &mut e);
    }
    e.categories = categories(rng);
    e
}

fn personal(rng: &mut Rng, anchor: NaiveDate) -> Event {
    let culture = rng.pick(CULTURES);
    let zone = culture.zone;
    let date = day_in_window(rng, anchor, false);
    let start = existing(at(date, rng.range(7, 19) as u32, *rng.pick(&[0, 30])), zone);
    let minutes = *rng.pick(&[30, 60, 90, 120]);
    let mut e = blank(zoned_timing(start, minutes, zone));
    e.subject = Some((*rng.pick(pools::PERSONAL_SUBJECTS)).to_owned());
    e.privacy = if rng.chance(60) { Privacy::Private } else { Privacy::Normal };
    e.show_as = *rng.weighted(&[(60, ShowAs::Busy), (25, ShowAs::OutOfOffice), (15, ShowAs::Free)]);
    e.description = if rng.chance(30) { Some("Personal — do not book over this.".to_owned()) } else { None };
    e
}

// ---------------------------------------------------------------------------------------------
// Recurrence

#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// Every `interval` weeks on the start's weekday.
    Weekly { interval: u32 },
    /// Weekly on the start's weekday and one more day.
    WeeklyTwo { other: Weekday },
    /// Every day.
    Daily,
    /// Monday to Friday.
    Weekdays,
    /// The start's day of the month (≤ 28).
    MonthlyDay,
    /// The n-th (1–4) weekday of the month, like the start.
    MonthlyNth { n: u32 },
}

fn byday(wd: Weekday) -> &'static str {
    match wd {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

/// The n-th `wd` of the month `months` after `start`'s month.
fn nth_weekday(start: NaiveDate, months: u32, wd: Weekday, n: u32) -> Option<NaiveDate> {
    let first = start.with_day(1)?.checked_add_months(Months::new(months))?;
    let shift = (7 + wd.num_days_from_monday() - first.weekday().num_days_from_monday()) % 7;
    first.checked_add_signed(Duration::days(i64::from(shift + 7 * (n - 1))))
}

impl Pattern {
    fn choose(rng: &mut Rng, start: NaiveDate, force_monthly: bool) -> Pattern {
        let monthly_ok = start.day() <= 28;
        let roll = if force_monthly && monthly_ok { 5 } else { rng.below(7) };
        match roll {
            0 | 1 => Pattern::Weekly { interval: if rng.chance(25) { 2 } else { 1 } },
            2 => {
                let wd = start.weekday();
                // Two days apart, staying within Monday–Friday.
                let other = if wd.num_days_from_monday() <= 2 { wd.succ().succ() } else { wd.pred().pred() };
                Pattern::WeeklyTwo { other }
            }
            3 => Pattern::Daily,
            4 => Pattern::Weekdays,
            5 if monthly_ok => Pattern::MonthlyDay,
            6 if monthly_ok => Pattern::MonthlyNth { n: (start.day() - 1) / 7 + 1 },
            _ => Pattern::Weekly { interval: 1 },
        }
    }

    /// The RRULE parts before the end condition.
    fn rule(self, start: NaiveDate) -> String {
        let wd = start.weekday();
        match self {
            Pattern::Weekly { interval: 1 } => format!("FREQ=WEEKLY;BYDAY={}", byday(wd)),
            Pattern::Weekly { interval } => {
                format!("FREQ=WEEKLY;INTERVAL={interval};BYDAY={}", byday(wd))
            }
            Pattern::WeeklyTwo { other } => {
                let (a, b) =
                    if other.num_days_from_monday() < wd.num_days_from_monday() { (other, wd) } else { (wd, other) };
                format!("FREQ=WEEKLY;BYDAY={},{}", byday(a), byday(b))
            }
            Pattern::Daily => "FREQ=DAILY".to_owned(),
            Pattern::Weekdays => "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR".to_owned(),
            Pattern::MonthlyDay => format!("FREQ=MONTHLY;BYMONTHDAY={}", start.day()),
            Pattern::MonthlyNth { n } => format!("FREQ=MONTHLY;BYDAY={n}{}", byday(wd)),
        }
    }

    /// The date of the k-th "marker" occurrence: a subset of the real occurrences that is easy to
    /// compute (for multi-day weekly rules, only those on the start's weekday).
    fn marker(self, start: NaiveDate, k: u32) -> Option<NaiveDate> {
        let k64 = i64::from(k);
        match self {
            Pattern::Weekly { interval } => start.checked_add_signed(Duration::weeks(k64 * i64::from(interval))),
            Pattern::WeeklyTwo { .. } | Pattern::Weekdays => start.checked_add_signed(Duration::weeks(k64)),
            Pattern::Daily => start.checked_add_signed(Duration::days(k64)),
            Pattern::MonthlyDay => start.checked_add_months(Months::new(k)),
            Pattern::MonthlyNth { n } => nth_weekday(start, k, start.weekday(), n),
        }
    }

    /// The COUNT that ends the series exactly on marker `m - 1`.
    fn count_for_markers(self, m: u32) -> u32 {
        match self {
            Pattern::WeeklyTwo { .. } => 2 * (m - 1) + 1,
            Pattern::Weekdays => 5 * (m - 1) + 1,
            _ => m,
        }
    }
}

fn recurring(rng: &mut Rng, anchor: NaiveDate, force_exceptions: bool, force_monthly: bool) -> Event {
    let all_day = !force_exceptions && rng.chance(15);
    let date = day_in_window(rng, anchor, true);
    let pattern = if all_day {
        if date.day() <= 28 && rng.chance(30) { Pattern::MonthlyDay } else { Pattern::Weekly { interval: 1 } }
    } else {
        Pattern::choose(rng, date, force_monthly)
    };
    let markers = rng.range(4, 12) as u32;
    let use_until = force_monthly || (!force_exceptions && rng.chance(40));

    let zone = *rng.pick(pools::ZONES);
    let start_time = if all_day { None } else { Some(business_start(rng, date, zone).time()) };
    let minutes = match pattern {
        Pattern::Daily | Pattern::Weekdays => *rng.pick(&[15, 15, 30]),
        _ => meeting_minutes(rng),
    };
    let time_at = |d: NaiveDate| -> EventTime {
        match start_time {
            Some(t) => zoned(existing(d.and_time(t), zone), zone),
            None => EventTime::AllDay { date: d },
        }
    };
    let timing_at = |d: NaiveDate| -> EventTiming {
        match start_time {
            Some(t) => zoned_timing(existing(d.and_time(t), zone), minutes, zone),
            None => EventTiming {
                start: EventTime::AllDay { date: d },
                end: EventTime::AllDay { date: d + Duration::days(1) },
            },
        }
    };

    let end_condition = if use_until {
        let last = pattern.marker(date, markers - 1).unwrap_or(date);
        match time_at(last) {
            EventTime::AllDay { date } => format!("UNTIL={}", date.format("%Y%m%d")),
            zoned_last => match zoned_last.instant() {
                Some(t) => format!("UNTIL={}", t.format("%Y%m%dT%H%M%SZ")),
                None => format!("COUNT={}", pattern.count_for_markers(markers)),
            },
        }
    } else {
        format!("COUNT={}", pattern.count_for_markers(markers))
    };
    let mut recurrence =
        Recurrence { rules: vec![format!("{};{end_condition}", pattern.rule(date))], ..Recurrence::default() };

    // Exceptions are keyed by an occurrence's original start.
    let with_override = force_exceptions || rng.chance(40);
    let with_cancel = force_exceptions || rng.chance(30);
    let k_override = rng.range(1, i64::from(markers) - 1) as u32;
    let mut k_cancel = rng.range(1, i64::from(markers) - 1) as u32;
    if k_cancel == k_override {
        k_cancel = if k_override + 1 < markers { k_override + 1 } else { 1 };
    }
    if with_override && let Some(d) = pattern.marker(date, k_override) {
        let original = time_at(d);
        let moved = match &original {
            EventTime::AllDay { date } => timing_at(*date + Duration::days(1)),
            EventTime::Zoned { local, .. } => {
                let delta = *rng.pick(&[60, 120, -30, 24 * 60]);
                zoned_timing(existing(*local + Duration::minutes(delta), zone), minutes, zone)
            }
        };
        let ov = OccurrenceOverride {
            timing: Some(moved),
            subject: if rng.chance(30) { Some("Rescheduled — see note".to_owned()) } else { None },
            location: maybe(rng, 30, pools::LOCATIONS),
            description: None,
        };
        recurrence.overrides.insert(original, ov);
    }
    if with_cancel
        && k_cancel != k_override
        && let Some(d) = pattern.marker(date, k_cancel)
    {
        recurrence.cancelled.insert(time_at(d));
    }

    let mut e = blank(timing_at(date));
    e.recurrence = Some(recurrence);
    if all_day {
        e.subject = Some((*rng.pick(&["Working from home", "Home office", "Payroll day"])).to_owned());
        e.show_as = if rng.chance(50) { ShowAs::WorkingElsewhere } else { ShowAs::Free };
    } else {
        let subjects = match pattern {
            Pattern::Daily | Pattern::Weekdays => pools::DAILY_SUBJECTS,
            Pattern::MonthlyDay | Pattern::MonthlyNth { .. } => pools::MONTHLY_SUBJECTS,
            Pattern::Weekly { .. } | Pattern::WeeklyTwo { .. } => pools::WEEKLY_SUBJECTS,
        };
        e.subject = Some((*rng.pick(subjects)).to_owned());
        e.location = maybe(rng, 70, pools::LOCATIONS);
        e.description = maybe(rng, 40, pools::DESCRIPTIONS);
        people(rng, &mut e);
        e.show_as = if rng.chance(85) { ShowAs::Busy } else { ShowAs::Tentative };
        e.categories = categories(rng);
    }
    e
}

// ---------------------------------------------------------------------------------------------
// Edits

const SUBJECT_SUFFIXES: &[&str] = &[" (moved)", " – updated agenda", " [confirmed]", " — rescheduled"];

pub(super) fn edit_event(rng_seed: u64, e: &mut Event) {
    let identity = super::hash_str(e.ical_uid.as_deref().or(e.subject.as_deref()).unwrap_or_default());
    let mut rng = Rng::derive(rng_seed, EVENT_STREAM.rotate_left(23) ^ identity);
    let before = e.clone();
    for _ in 0..rng.range(1, 2) {
        one_edit(&mut rng, e);
    }
    let mut tries = 0;
    while *e == before && tries < 8 {
        one_edit(&mut rng, e);
        tries += 1;
    }
    if *e == before {
        e.description = Some(format!("{}\nUpdated.", e.description.as_deref().unwrap_or_default()));
    }
}

fn shift(t: &EventTime, minutes: i64) -> EventTime {
    match t {
        EventTime::Zoned { local, zone } => zoned(existing(*local + Duration::minutes(minutes), zone), zone),
        EventTime::AllDay { date } => EventTime::AllDay { date: *date + Duration::days((minutes / (24 * 60)).max(1)) },
    }
}

fn one_edit(rng: &mut Rng, e: &mut Event) {
    let recurring = e.recurrence.is_some();
    match rng.below(9) {
        0 => {
            let current = e.subject.clone().unwrap_or_default();
            let base = SUBJECT_SUFFIXES.iter().find_map(|s| current.strip_suffix(s)).unwrap_or(&current).to_owned();
            let base = if base.is_empty() { "Meeting".to_owned() } else { base };
            e.subject = Some(format!("{base}{}", rng.pick(SUBJECT_SUFFIXES)));
        }
        1 => e.location = Some((*rng.pick(pools::LOCATIONS)).to_owned()),
        2 => e.description = Some((*rng.pick(pools::DESCRIPTIONS)).to_owned()),
        3 if !recurring => {
            // Moved: a shift of both ends keeps the duration (and zones) intact.
            let minutes = if e.timing.start.is_all_day() { 24 * 60 } else { *rng.pick(&[30, 60, 24 * 60]) };
            e.timing = EventTiming { start: shift(&e.timing.start, minutes), end: shift(&e.timing.end, minutes) };
        }
        3 | 4 => {
            // Longer (or, for long ones, shorter) on the same start.
            if let EventTime::Zoned { local, zone } = &e.timing.end {
                let start_instant = e.timing.start.instant();
                let shorter = zoned(*local - Duration::minutes(15), zone);
                e.timing.end = match (shorter.instant(), start_instant) {
                    (Some(end), Some(start)) if rng.chance(30) && end - start >= Duration::minutes(30) => shorter,
                    _ => shift(&e.timing.end, 30),
                };
            } else {
                e.show_as = if e.show_as == ShowAs::Free { ShowAs::OutOfOffice } else { ShowAs::Free };
            }
        }
        5 => {
            let humans: Vec<usize> =
                (0..e.attendees.len()).filter(|&i| e.attendees[i].role != AttendeeRole::Resource).collect();
            if humans.is_empty() {
                add_attendee(rng, e);
            } else {
                let a = &mut e.attendees[*rng.pick(&humans)];
                let choices: Vec<ResponseStatus> = [
                    ResponseStatus::Accepted,
                    ResponseStatus::Tentative,
                    ResponseStatus::Declined,
                    ResponseStatus::NeedsAction,
                ]
                .into_iter()
                .filter(|r| *r != a.response)
                .collect();
                a.response = *rng.pick(&choices);
            }
        }
        6 => {
            if e.attendees.len() >= 8 || (e.attendees.len() > 1 && rng.chance(30)) {
                let i = rng.index(e.attendees.len());
                e.attendees.remove(i);
            } else {
                add_attendee(rng, e);
            }
        }
        7 => {
            if rng.chance(50) {
                e.privacy = match e.privacy {
                    Privacy::Normal => Privacy::Private,
                    Privacy::Private => Privacy::Normal,
                };
            } else {
                let choices: Vec<ShowAs> =
                    [ShowAs::Busy, ShowAs::Tentative, ShowAs::Free, ShowAs::OutOfOffice, ShowAs::WorkingElsewhere]
                        .into_iter()
                        .filter(|s| *s != e.show_as)
                        .collect();
                e.show_as = *rng.pick(&choices);
            }
        }
        _ => {
            if e.categories.len() >= 2 {
                e.categories.pop();
            } else {
                let c = (*rng.pick(pools::CATEGORIES)).to_owned();
                if !e.categories.contains(&c) {
                    e.categories.push(c);
                }
            }
        }
    }
}

fn add_attendee(rng: &mut Rng, e: &mut Event) {
    let mut taken: BTreeSet<String> = e.attendees.iter().map(|a| a.email.clone()).collect();
    if let Some(o) = &e.organizer {
        taken.insert(o.email.clone());
    }
    if let Some(a) = new_attendee(rng, &taken) {
        e.attendees.push(a);
    }
}
