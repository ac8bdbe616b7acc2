//! The canonical model: what a contact and an event are, whichever system holds them.
//!
//! Connectors translate their provider's representation to and from these types; the planner
//! never sees a provider's shape. Empty strings and empty lists mean "absent": [`Record::normalize`]
//! folds them to `None` so that two systems that spell "nothing" differently compare equal.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// The two kinds of object Tandem synchronises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// People: Salesforce Contacts, Outlook/Exchange contacts, Google People connections.
    Contact,
    /// Calendar events, including recurring series.
    Event,
}

impl ObjectKind {
    /// Both kinds, in the order a cycle processes them.
    pub const ALL: [ObjectKind; 2] = [ObjectKind::Contact, ObjectKind::Event];

    /// A stable lower-case name, used in the store and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Contact => "contact",
            ObjectKind::Event => "event",
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kind of address an email, phone or postal address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// Work or business.
    #[default]
    Work,
    /// Home or personal.
    Home,
    /// Anything else.
    Other,
}

impl AddressKind {
    /// Every address kind, in the model's order.
    pub const ALL: [AddressKind; 3] = [AddressKind::Work, AddressKind::Home, AddressKind::Other];

    /// A stable snake_case name, as used in field keys (`address.work`).
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Work => "work",
            AddressKind::Home => "home",
            AddressKind::Other => "other",
        }
    }

    /// The inverse of [`AddressKind::as_str`].
    pub fn parse(name: &str) -> Option<AddressKind> {
        AddressKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One email address of a contact. Order in [`Contact::emails`] is significant: the first is primary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EmailAddress {
    /// Work, home or other.
    pub kind: AddressKind,
    /// The address as the user typed it; matching compares it case-insensitively.
    pub address: String,
}

/// The phone number slots Tandem knows. Each provider supports a subset (see capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    /// Business or work phone.
    Business,
    /// Mobile phone.
    Mobile,
    /// Home phone.
    Home,
    /// Business fax.
    BusinessFax,
    /// Home fax.
    HomeFax,
    /// The contact's assistant's phone.
    Assistant,
    /// Any other phone.
    Other,
}

impl PhoneKind {
    /// Every phone kind, in a fixed order.
    pub const ALL: [PhoneKind; 7] = [
        PhoneKind::Business,
        PhoneKind::Mobile,
        PhoneKind::Home,
        PhoneKind::BusinessFax,
        PhoneKind::HomeFax,
        PhoneKind::Assistant,
        PhoneKind::Other,
    ];

    /// A stable snake_case name, as used in field keys (`phone.business_fax`).
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneKind::Business => "business",
            PhoneKind::Mobile => "mobile",
            PhoneKind::Home => "home",
            PhoneKind::BusinessFax => "business_fax",
            PhoneKind::HomeFax => "home_fax",
            PhoneKind::Assistant => "assistant",
            PhoneKind::Other => "other",
        }
    }

    /// The inverse of [`PhoneKind::as_str`].
    pub fn parse(name: &str) -> Option<PhoneKind> {
        PhoneKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One phone number with its slot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Phone {
    /// Which slot the number occupies.
    pub kind: PhoneKind,
    /// The number as entered; Tandem does not reformat numbers.
    pub number: String,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct PostalAddress {
    /// Work, home or other.
    pub kind: AddressKind,
    /// Street lines, newline separated.
    pub street: Option<String>,
    /// City or locality.
    pub city: Option<String>,
    /// State, province or region.
    pub region: Option<String>,
    /// Postal or ZIP code.
    pub postal_code: Option<String>,
    /// Country or region name.
    pub country: Option<String>,
}

/// A person in the canonical model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Contact {
    /// Given (first) name.
    pub given_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Family (last) name.
    pub family_name: Option<String>,
    /// Email addresses; the first is primary.
    pub emails: Vec<EmailAddress>,
    /// Phone numbers, several per kind allowed.
    pub phones: Vec<Phone>,
    /// Company or (in Salesforce) account name.
    pub company: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Postal addresses, each with its kind. Synced per kind (`address.work`, `address.home`,
    /// `address.other`), so a side that cannot hold a kind never converts or blanks it.
    pub addresses: Vec<PostalAddress>,
    /// Birthday (no time, no zone).
    pub birthday: Option<NaiveDate>,
    /// The assistant's name.
    pub assistant_name: Option<String>,
    /// Free-text notes (Salesforce Description, Outlook personal notes).
    pub notes: Option<String>,
    /// Custom fields by their canonical name (see the field mapping configuration).
    pub custom: BTreeMap<String, String>,
}

impl Contact {
    /// The primary email address, lower-cased, as matching uses it.
    pub fn primary_email_key(&self) -> Option<String> {
        self.emails.iter().map(|e| e.address.trim().to_lowercase()).find(|a| !a.is_empty())
    }
}

/// A point in time as calendars store it: a wall-clock time in a named IANA zone, or a whole day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventTime {
    /// A local date-time in an IANA time zone (`UTC` is a zone too).
    Zoned {
        /// The wall-clock time in `zone`.
        local: NaiveDateTime,
        /// An IANA zone name such as `Europe/Paris`. Windows names are translated at the edge.
        zone: String,
    },
    /// An all-day date. For an end time it is exclusive, as in iCalendar.
    AllDay {
        /// The date.
        date: NaiveDate,
    },
}

/// The IANA zone of this name. The last few names looked up on each thread are remembered: the
/// planner asks for every timed event's zone several times (validation, prints, matching), one
/// user's events are in a handful of zones, and finding a name among chrono-tz's ~600 hashes it
/// with SipHash, about as much work as printing one of the event's fields.
pub(crate) fn zone_named(name: &str) -> Option<chrono_tz::Tz> {
    /// How many zones each thread remembers; the oldest is forgotten first.
    const REMEMBERED: usize = 8;
    /// The zones remembered, and where the next one goes.
    type Remembered = (Vec<(String, chrono_tz::Tz)>, usize);
    thread_local! {
        static ZONES: std::cell::RefCell<Remembered> = const { std::cell::RefCell::new((Vec::new(), 0)) };
    }
    let remembered = |zones: &std::cell::RefCell<Remembered>| {
        zones.try_borrow().ok()?.0.iter().find(|(known, _)| known == name).map(|(_, tz)| *tz)
    };
    if let Some(tz) = ZONES.try_with(remembered).ok().flatten() {
        return Some(tz);
    }
    let tz: chrono_tz::Tz = name.parse().ok()?;
    // A thread being torn down (no storage left) or a nested borrow just does not remember.
    let _ = ZONES.try_with(|zones| {
        let Ok(mut zones) = zones.try_borrow_mut() else { return };
        let (known, next) = &mut *zones;
        match known.get_mut(*next) {
            // The forgotten name's buffer is reused.
            Some((old, old_tz)) => {
                old.clear();
                old.push_str(name);
                *old_tz = tz;
            }
            None => known.push((name.to_owned(), tz)),
        }
        *next = (*next + 1) % REMEMBERED;
    });
    Some(tz)
}

impl EventTime {
    /// A zoned time in UTC.
    pub fn utc(local: NaiveDateTime) -> Self {
        EventTime::Zoned { local, zone: "UTC".to_owned() }
    }

    /// The instant this time denotes, or `None` when the zone is unknown or the local time does
    /// not exist in it. All-day dates are taken at midnight UTC, which is how matching and
    /// ordering treat them.
    pub fn instant(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        use chrono::TimeZone;
        match self {
            EventTime::Zoned { local, zone } => {
                let tz = zone_named(zone)?;
                tz.from_local_datetime(local).earliest().map(|t| t.with_timezone(&chrono::Utc))
            }
            EventTime::AllDay { date } => Some(date.and_time(chrono::NaiveTime::MIN).and_utc()),
        }
    }

    /// True for an all-day date.
    pub fn is_all_day(&self) -> bool {
        matches!(self, EventTime::AllDay { .. })
    }
}

/// When an event happens: start and end together, because one is meaningless without the other.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventTiming {
    /// Start time.
    pub start: EventTime,
    /// End time (exclusive for all-day events).
    pub end: EventTime,
}

/// An occurrence of a series that differs from the pattern, keyed by its original start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OccurrenceOverride {
    /// The new timing of this occurrence, when it moved.
    pub timing: Option<EventTiming>,
    /// A different subject, when changed.
    pub subject: Option<String>,
    /// A different location, when changed.
    pub location: Option<String>,
    /// A different description, when changed.
    pub description: Option<String>,
}

/// How a series repeats. Overrides and cancellations are keyed by the occurrence's original start,
/// as iCalendar's RECURRENCE-ID and Graph's `originalStart` do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Recurrence {
    /// RRULE values without the `RRULE:` prefix, e.g. `FREQ=WEEKLY;BYDAY=MO;COUNT=10`.
    pub rules: Vec<String>,
    /// Extra occurrences (RDATE).
    pub rdates: Vec<EventTime>,
    /// Excluded occurrences (EXDATE).
    pub exdates: Vec<EventTime>,
    /// Occurrences that were changed, keyed by original start. Serialised as a list of
    /// `[original start, override]` entries, since JSON keys must be strings.
    #[serde(with = "map_as_entries")]
    pub overrides: BTreeMap<EventTime, OccurrenceOverride>,
    /// Occurrences that were cancelled, by original start.
    pub cancelled: BTreeSet<EventTime>,
}

/// A person on an event: organizer or attendee.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Person {
    /// Email address.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
}

/// An attendee's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AttendeeRole {
    /// A required attendee.
    #[default]
    Required,
    /// An optional attendee.
    Optional,
    /// A room or piece of equipment.
    Resource,
}

/// An attendee's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    /// Not answered yet.
    #[default]
    NeedsAction,
    /// Accepted.
    Accepted,
    /// Tentatively accepted.
    Tentative,
    /// Declined.
    Declined,
}

/// One attendee of an event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Attendee {
    /// Email address.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Required, optional or resource.
    pub role: AttendeeRole,
    /// Their answer.
    pub response: ResponseStatus,
}

/// Whether an event is private.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Privacy {
    /// Visible as usual.
    #[default]
    Normal,
    /// Private: details hidden from others who can see the calendar.
    Private,
}

/// How an event shows on free/busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ShowAs {
    /// Free.
    Free,
    /// Tentative.
    Tentative,
    /// Busy.
    #[default]
    Busy,
    /// Out of office.
    OutOfOffice,
    /// Working elsewhere.
    WorkingElsewhere,
}

/// A link from an event to a CRM record (Salesforce WhoId/WhatId and EventRelation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CrmLink {
    /// The CRM object type, e.g. `Contact`, `Account`, `Opportunity`.
    pub object: String,
    /// The CRM record id.
    pub id: String,
}

/// A calendar event in the canonical model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Subject (title).
    pub subject: Option<String>,
    /// Plain-text description.
    pub description: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Start and end.
    pub timing: EventTiming,
    /// Recurrence, for a series master.
    pub recurrence: Option<Recurrence>,
    /// The organizer, when it is someone other than the calendar's owner (connectors that know
    /// leave it out for the owner's own meetings, as Graph's `isOrganizer` tells); `None` also
    /// when unknown.
    pub organizer: Option<Person>,
    /// Attendees.
    pub attendees: Vec<Attendee>,
    /// Privacy.
    pub privacy: Privacy,
    /// Free/busy status.
    pub show_as: ShowAs,
    /// Categories or labels.
    pub categories: Vec<String>,
    /// Links to CRM records.
    pub crm_links: Vec<CrmLink>,
    /// The iCalendar UID, when the system exposes one; used for matching.
    pub ical_uid: Option<String>,
    /// Custom fields by canonical name.
    pub custom: BTreeMap<String, String>,
}

impl Event {
    /// An event with this timing and nothing else: no subject, no attendees, busy, not private.
    /// The other fields are set with struct update syntax:
    ///
    /// ```
    /// use tandem_core::model::{Event, EventTime, EventTiming};
    ///
    /// let start = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap().and_hms_opt(9, 0, 0).unwrap();
    /// let timing = EventTiming { start: EventTime::utc(start), end: EventTime::utc(start + chrono::Duration::hours(1)) };
    /// let review = Event { subject: Some("Review".into()), ..Event::at(timing) };
    /// assert!(review.attendees.is_empty());
    /// ```
    pub fn at(timing: EventTiming) -> Self {
        Event {
            subject: None,
            description: None,
            location: None,
            timing,
            recurrence: None,
            organizer: None,
            attendees: vec![],
            privacy: Privacy::Normal,
            show_as: ShowAs::Busy,
            categories: vec![],
            crm_links: vec![],
            ical_uid: None,
            custom: Default::default(),
        }
    }
}

/// A record of either kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A contact.
    Contact(Contact),
    /// An event.
    Event(Event),
}

impl Record {
    /// Moves the record out, leaving an empty record of the same kind in its place (an event
    /// without fields, all day on chrono's default date). Allocates nothing: for handing a
    /// record on (to a connector's write) where the structure holding it must stay.
    ///
    /// ```
    /// use tandem_core::model::{Contact, Record};
    ///
    /// let mut held = Record::Contact(Contact { given_name: Some("Ada".into()), ..Contact::default() });
    /// let taken = held.take();
    /// assert!(matches!(taken, Record::Contact(c) if c.given_name.as_deref() == Some("Ada")));
    /// assert_eq!(held, Record::Contact(Contact::default()));
    /// ```
    pub fn take(&mut self) -> Record {
        let empty = match self {
            Record::Contact(_) => Record::Contact(Contact::default()),
            Record::Event(_) => {
                let day = EventTime::AllDay { date: chrono::NaiveDate::default() };
                Record::Event(Event {
                    subject: None,
                    description: None,
                    location: None,
                    timing: EventTiming { start: day.clone(), end: day },
                    recurrence: None,
                    organizer: None,
                    attendees: Vec::new(),
                    privacy: Privacy::default(),
                    show_as: ShowAs::default(),
                    categories: Vec::new(),
                    crm_links: Vec::new(),
                    ical_uid: None,
                    custom: BTreeMap::new(),
                })
            }
        };
        std::mem::replace(self, empty)
    }

    /// Which kind of record this is.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Record::Contact(_) => ObjectKind::Contact,
            Record::Event(_) => ObjectKind::Event,
        }
    }

    /// The custom-field map of either kind.
    pub fn custom(&self) -> &BTreeMap<String, String> {
        match self {
            Record::Contact(c) => &c.custom,
            Record::Event(e) => &e.custom,
        }
    }

    /// The custom-field map of either kind, mutably.
    pub fn custom_mut(&mut self) -> &mut BTreeMap<String, String> {
        match self {
            Record::Contact(c) => &mut c.custom,
            Record::Event(e) => &mut e.custom,
        }
    }

    /// True when [`Record::normalize`] would leave the record as it is (no blank text, no blank
    /// list entry, no empty address or recurrence), so it can be used without a copy.
    pub fn is_normalized(&self) -> bool {
        // `trim().is_empty()` without trimming: white space throughout (as `trim` decides it),
        // found out at the first character that is not, where `trim` would look from both ends.
        // The planner asks this of every record it reads.
        fn blank(s: &str) -> bool {
            s.chars().all(char::is_whitespace)
        }
        fn folded(s: &Option<String>) -> bool {
            !s.as_deref().is_some_and(blank)
        }
        match self {
            Record::Contact(c) => {
                [
                    &c.given_name,
                    &c.middle_name,
                    &c.family_name,
                    &c.company,
                    &c.title,
                    &c.department,
                    &c.assistant_name,
                    &c.notes,
                ]
                .into_iter()
                .all(folded)
                    && !c.emails.iter().any(|e| blank(&e.address))
                    && !c.phones.iter().any(|p| blank(&p.number))
                    && c.addresses.iter().all(|a| {
                        let parts = [&a.street, &a.city, &a.region, &a.postal_code, &a.country];
                        parts.into_iter().all(folded) && parts.into_iter().any(Option::is_some)
                    })
                    && !c.custom.values().any(|v| blank(v))
            }
            Record::Event(e) => {
                [&e.subject, &e.description, &e.location, &e.ical_uid].into_iter().all(folded)
                    && !e.categories.iter().any(|c| blank(c))
                    && !e.custom.values().any(|v| blank(v))
                    && !e.recurrence.as_ref().is_some_and(|r| r.rules.is_empty() && r.rdates.is_empty())
            }
        }
    }

    /// Folds empty strings to `None`, drops empty list entries and trims nothing else, so that
    /// "absent" has one spelling.
    pub fn normalize(&mut self) {
        fn fold(s: &mut Option<String>) {
            if s.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *s = None;
            }
        }
        match self {
            Record::Contact(c) => {
                for s in [
                    &mut c.given_name,
                    &mut c.middle_name,
                    &mut c.family_name,
                    &mut c.company,
                    &mut c.title,
                    &mut c.department,
                    &mut c.assistant_name,
                    &mut c.notes,
                ] {
                    fold(s);
                }
                c.emails.retain(|e| !e.address.trim().is_empty());
                c.phones.retain(|p| !p.number.trim().is_empty());
                for a in &mut c.addresses {
                    for s in [&mut a.street, &mut a.city, &mut a.region, &mut a.postal_code, &mut a.country] {
                        fold(s);
                    }
                }
                c.addresses.retain(|a| {
                    a.street.is_some()
                        || a.city.is_some()
                        || a.region.is_some()
                        || a.postal_code.is_some()
                        || a.country.is_some()
                });
                c.custom.retain(|_, v| !v.trim().is_empty());
            }
            Record::Event(e) => {
                for s in [&mut e.subject, &mut e.description, &mut e.location, &mut e.ical_uid] {
                    fold(s);
                }
                e.categories.retain(|c| !c.trim().is_empty());
                e.custom.retain(|_, v| !v.trim().is_empty());
                if e.recurrence.as_ref().is_some_and(|r| r.rules.is_empty() && r.rdates.is_empty()) {
                    e.recurrence = None;
                }
            }
        }
    }
}

/// Serialises a map with structured keys as a list of `[key, value]` entries.
mod map_as_entries {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?.into_iter().collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The remembered zone answers as a fresh lookup does, whatever names came before: repeats,
    /// changes, unknown names, names differing only in case, and the empty name.
    #[test]
    fn a_remembered_zone_is_the_zone_of_that_name() {
        let mut names =
            vec!["Europe/Paris", "Europe/Paris", "UTC", "Mars/Base", "europe/paris", "Europe/Paris", "", "UTC"];
        // More zones than are remembered, so that some are forgotten and their places reused.
        names.extend(["Asia/Tokyo", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]);
        names.extend(["America/Los_Angeles", "Europe/Berlin", "Africa/Lagos", "Europe/Paris", "UTC", "Asia/Tokyo"]);
        for name in names.iter().chain(names.iter().rev()) {
            assert_eq!(zone_named(name), name.parse::<chrono_tz::Tz>().ok(), "{name:?}");
        }
    }

    #[test]
    fn recurrence_with_overrides_serialises_to_json_and_back() {
        let start = EventTime::utc(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(9, 0, 0).unwrap());
        let mut r = Recurrence { rules: vec!["FREQ=WEEKLY;COUNT=3".into()], ..Recurrence::default() };
        r.overrides.insert(
            start.clone(),
            OccurrenceOverride { timing: None, subject: Some("moved".into()), location: None, description: None },
        );
        r.cancelled.insert(start);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Recurrence>(&json).unwrap(), r);
    }
}
