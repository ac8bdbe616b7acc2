//! Contact and Event ↔ the canonical model, and what Salesforce can store (capabilities).
//!
//! Reading never panics: a record that cannot be translated becomes an error string, which the
//! connector reports as [`tandem_core::state::ChangeKind::Invalid`] (quarantine).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};
use tandem_core::capabilities::{Capabilities, ObjectCapabilities};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::guard::{add_days, add_minutes, local_time};
use tandem_core::model::{
    AddressKind, Attendee, AttendeeRole, Contact, CrmLink, EmailAddress, Event, EventTime, EventTiming, ObjectKind,
    OccurrenceOverride, Phone, PhoneKind, PostalAddress, Privacy, Record, Recurrence, ResponseStatus, ShowAs,
};
use tandem_core::plan::FieldChange;

use crate::config::{AddressMapping, CustomField};
use crate::soql::Ident;

/// Salesforce's longest event, in minutes (14 days).
pub const MAX_EVENT_MINUTES: i64 = 14 * 24 * 60;

/// Records per sObject collection request.
pub const MAX_BATCH: usize = 200;

/// Contact phone fields and the slot each maps to (Lightning Sync's mapping).
pub(crate) const PHONE_FIELDS: [(&str, PhoneKind); 6] = [
    ("Phone", PhoneKind::Business),
    ("MobilePhone", PhoneKind::Mobile),
    ("HomePhone", PhoneKind::Home),
    ("Fax", PhoneKind::BusinessFax),
    ("OtherPhone", PhoneKind::Other),
    ("AssistantPhone", PhoneKind::Assistant),
];

pub(crate) const CONTACT_TEXT: [(&str, FieldKey); 7] = [
    ("FirstName", FieldKey::GivenName),
    ("LastName", FieldKey::FamilyName),
    ("Title", FieldKey::Title),
    ("Department", FieldKey::Department),
    ("AssistantName", FieldKey::AssistantName),
    ("Description", FieldKey::Notes),
    ("MiddleName", FieldKey::MiddleName),
];

const MAILING: [&str; 5] = ["MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry"];

const OTHER: [&str; 5] = ["OtherStreet", "OtherCity", "OtherState", "OtherPostalCode", "OtherCountry"];

/// The Contact fields the connector reads (besides the configured custom and key fields).
pub(crate) fn contact_fields(middle_name: bool) -> Vec<&'static str> {
    let mut f = vec!["Id", "SystemModstamp", "OwnerId", "FirstName", "LastName"];
    if middle_name {
        f.push("MiddleName");
    }
    f.extend(["Email", "Title", "Department", "AssistantName", "Birthdate", "Description"]);
    f.extend(PHONE_FIELDS.iter().map(|(n, _)| *n));
    f.extend(MAILING);
    f.extend(OTHER);
    f.push("Account.Name");
    f
}

/// The Event fields the connector reads (besides the configured custom and key fields).
pub(crate) fn event_fields() -> Vec<&'static str> {
    vec![
        "Id",
        "SystemModstamp",
        "OwnerId",
        "IsChild",
        "Subject",
        "Description",
        "Location",
        "StartDateTime",
        "EndDateTime",
        "IsAllDayEvent",
        "ActivityDate",
        "DurationInMinutes",
        "IsPrivate",
        "ShowAs",
        "WhoId",
        "WhatId",
        "IsRecurrence2",
        "Recurrence2PatternText",
        "Recurrence2PatternTimeZone",
        "IsRecurrence2Exception",
        "IsRecurrence2Exclusion",
        "RecurrenceActivityId",
    ]
}

/// The series an Event row is an exception of (a moved or edited occurrence Salesforce keeps as
/// its own row, pointing at the series' main record), if it is one.
pub(crate) fn series_of(row: &Map<String, Value>) -> Option<String> {
    let exception = flag(row, "IsRecurrence2Exception").ok()? && !flag(row, "IsRecurrence2Exclusion").ok()?;
    let series = text(row, "RecurrenceActivityId").ok().flatten()?;
    (exception && crate::soql::check_id(&series).is_ok()).then_some(series)
}

/// Folds a series' exception rows (read as single events) into its overrides, keyed by the
/// original start of the occurrence each replaces, as iCalendar and Graph key them. Salesforce
/// does not store that original start; it is the series' occurrence nearest to the exception's
/// start that no other exception claimed (ties: the earlier). Fields equal to the series' read as
/// inherited, as Graph reads them. Exceptions that match no occurrence are left out.
pub(crate) fn fold_overrides(series: &mut Event, exceptions: &[Event]) -> Result<(), String> {
    let Some(recurrence) = series.recurrence.as_mut() else { return Ok(()) };
    let (Some(start), Some(end)) = (series.timing.start.instant(), series.timing.end.instant()) else {
        return Ok(());
    };
    let duration = end - start;
    let (zone, all_day) = match &series.timing.start {
        EventTime::Zoned { zone, .. } => (zone.clone(), false),
        EventTime::AllDay { .. } => ("UTC".to_owned(), true),
    };
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone `{zone}`"))?;
    let mut exceptions: Vec<&Event> = exceptions.iter().collect();
    exceptions.sort_by_key(|e| e.timing.start.instant());
    let excluded: Vec<Option<DateTime<Utc>>> =
        recurrence.exdates.iter().chain(recurrence.cancelled.iter()).map(EventTime::instant).collect();
    let mut claimed: Vec<DateTime<Utc>> = Vec::new();
    for x in exceptions {
        let Some(at) = x.timing.start.instant() else { continue };
        let candidates = occurrences_near(&recurrence.rules, start, &zone, at)?;
        let original = candidates
            .into_iter()
            .filter(|o| !claimed.contains(o) && !excluded.contains(&Some(*o)))
            .min_by_key(|o| ((*o - at).num_seconds().abs(), *o));
        let Some(original) = original else { continue };
        claimed.push(original);
        let in_series = |t: DateTime<Utc>| -> Result<EventTime, String> {
            if all_day {
                return Ok(EventTime::AllDay { date: t.date_naive() });
            }
            let local = local_time(t, &tz).ok_or_else(|| format!("{t} is out of range in {zone}"))?;
            Ok(EventTime::Zoned { local, zone: zone.clone() })
        };
        let key = in_series(original)?;
        let original_end = original.checked_add_signed(duration).ok_or("an occurrence out of range")?;
        let original_timing = EventTiming { start: key.clone(), end: in_series(original_end)? };
        let timing = match (&x.timing.start, &x.timing.end) {
            (EventTime::AllDay { .. }, EventTime::AllDay { .. }) => x.timing.clone(),
            _ => {
                let (Some(s), Some(e)) = (x.timing.start.instant(), x.timing.end.instant()) else { continue };
                EventTiming { start: in_series(s)?, end: in_series(e)? }
            }
        };
        let differs = |v: &Option<String>, master: &Option<String>| v.clone().filter(|v| Some(v) != master.as_ref());
        let ov = OccurrenceOverride {
            timing: (timing != original_timing).then_some(timing),
            subject: differs(&x.subject, &series.subject),
            location: differs(&x.location, &series.location),
            description: differs(&x.description, &series.description),
        };
        if ov.timing.is_some() || ov.subject.is_some() || ov.location.is_some() || ov.description.is_some() {
            recurrence.overrides.insert(key, ov);
        }
    }
    Ok(())
}

/// The series' occurrences (as instants) within a year either side of `at`.
fn occurrences_near(
    rules: &[String],
    start: DateTime<Utc>,
    zone: &str,
    at: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, String> {
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone `{zone}`"))?;
    let local = local_time(start, &tz).ok_or("the series' start is out of range")?;
    let mut out = Vec::new();
    for rule in rules {
        let text = format!("DTSTART;TZID={zone}:{}\nRRULE:{rule}", local.format("%Y%m%dT%H%M%S"));
        let year = Duration::days(366);
        let (Some(lo), Some(hi)) = (at.checked_sub_signed(year), at.checked_add_signed(year)) else { continue };
        let found = tandem_core::guard::contain("the rrule expansion", || {
            let set: rrule::RRuleSet = text.parse().ok()?;
            let set = set.after(lo.with_timezone(&rrule::Tz::UTC)).before(hi.with_timezone(&rrule::Tz::UTC));
            Some(set.all(2_000).dates.into_iter().map(|d| d.with_timezone(&Utc)).collect::<Vec<_>>())
        })
        .map_err(|e| format!("the recurrence rule `{rule}` cannot be expanded: {e}"))?;
        out.extend(found.unwrap_or_default());
    }
    Ok(out)
}

/// Other Contact fields a filter may name (standard fields the mapping does not sync).
pub(crate) const CONTACT_FILTER_EXTRA: [&str; 8] = [
    "LeadSource",
    "AccountId",
    "OwnerId",
    "CreatedDate",
    "LastModifiedDate",
    "IsEmailBounced",
    "HasOptedOutOfEmail",
    "DoNotCall",
];

/// What the mapping needs to know about the org.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub(crate) middle_name: bool,
    pub(crate) contact_custom: Vec<CustomField>,
    pub(crate) event_custom: Vec<CustomField>,
    pub(crate) key_field: String,
    /// The address kind each Salesforce address (Mailing, Other) holds.
    addresses: [(&'static [&'static str; 5], Option<AddressKind>); 2],
    /// Whether a contact's company is written, as a link to the Account of that name.
    match_accounts: bool,
    caps: Capabilities,
}

/// The common part of a row as read: its id, version, modification time and sync key.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) stamp: Option<DateTime<Utc>>,
    pub(crate) version: String,
    pub(crate) sync_key: Option<String>,
}

impl Mapping {
    pub(crate) fn new(
        middle_name: bool,
        contact_custom: Vec<CustomField>,
        event_custom: Vec<CustomField>,
        key_field: String,
        addresses: AddressMapping,
    ) -> Self {
        let mut m = Mapping {
            middle_name,
            contact_custom,
            event_custom,
            key_field,
            addresses: [(&MAILING, addresses.mailing.kind()), (&OTHER, addresses.other.kind())],
            match_accounts: true,
            caps: Capabilities::everything(),
        };
        m.caps = m.declare();
        m
    }

    /// Whether the company is written (as the Account of that name) or only read.
    pub(crate) fn with_account_matching(mut self, on: bool) -> Self {
        self.match_accounts = on;
        self.caps = self.declare();
        self
    }

    /// The fields to select for `object`, validated.
    pub(crate) fn select(&self, object: ObjectKind) -> Vec<Ident> {
        let mut out: Vec<Ident> = match object {
            ObjectKind::Contact => contact_fields(self.middle_name).into_iter().map(Ident::known).collect(),
            ObjectKind::Event => event_fields().into_iter().map(Ident::known).collect(),
        };
        // Validated when the connector was built.
        out.extend(Ident::new(&self.key_field));
        out.extend(self.custom(object).iter().filter_map(|c| Ident::new(&c.name).ok()));
        out
    }

    /// Every field of `object` a filter or query may name.
    pub(crate) fn known_field(&self, object: ObjectKind, name: &str) -> bool {
        let standard = match object {
            ObjectKind::Contact => {
                contact_fields(self.middle_name).contains(&name) || CONTACT_FILTER_EXTRA.contains(&name)
            }
            ObjectKind::Event => event_fields().contains(&name),
        };
        standard || name == self.key_field || self.custom(object).iter().any(|c| c.name == name)
    }

    pub(crate) fn custom(&self, object: ObjectKind) -> &[CustomField] {
        match object {
            ObjectKind::Contact => &self.contact_custom,
            ObjectKind::Event => &self.event_custom,
        }
    }

    /// What Salesforce can store, as the planner reads it.
    pub(crate) fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn declare(&self) -> Capabilities {
        let mut contacts =
            ObjectCapabilities { supported: true, max_batch: MAX_BATCH, custom_fields: true, ..Default::default() };
        contacts = contacts
            .with_limit(FieldKey::GivenName, Some(40), false)
            .with_limit(FieldKey::FamilyName, Some(80), true)
            .with_limit(FieldKey::Emails, Some(80), false)
            .with_max_items(FieldKey::Emails, 1)
            .with_limit(FieldKey::Title, Some(128), false)
            .with_limit(FieldKey::Department, Some(80), false)
            .with_limit(FieldKey::AssistantName, Some(40), false)
            .with_limit(FieldKey::Notes, Some(32_000), false)
            .with_limit(FieldKey::Birthday, None, false);
        // One address of each mapped kind, one field per kind: a kind no Salesforce address holds
        // is not declared, so the planner never compares it here nor blanks it on the mailbox.
        for kind in self.addresses.iter().filter_map(|(_, kind)| *kind) {
            contacts =
                contacts.with_limit(FieldKey::Address(kind), None, false).with_max_items(FieldKey::Address(kind), 1);
        }
        if self.middle_name {
            contacts = contacts.with_limit(FieldKey::MiddleName, Some(40), false);
        }
        for (_, kind) in PHONE_FIELDS {
            contacts =
                contacts.with_limit(FieldKey::Phone(kind), Some(40), false).with_max_items(FieldKey::Phone(kind), 1);
        }
        // `company` is the Account's name. With account matching it is written as the link to
        // the one Account of that name (`related`), and what cannot be linked is reported
        // unstored, never guessed; without, it is read-only: a change of account still reaches
        // the mailbox.
        contacts = contacts.with_limit(FieldKey::Company, Some(255), false);
        if !self.match_accounts {
            contacts = contacts.with_read_only(FieldKey::Company);
        }
        for c in &self.contact_custom {
            contacts = contacts.with_limit(FieldKey::Custom(c.name.clone()), c.max_len, false);
        }
        let mut events = ObjectCapabilities {
            supported: true,
            max_batch: MAX_BATCH,
            custom_fields: true,
            max_event_minutes: Some(MAX_EVENT_MINUTES),
            ..Default::default()
        };
        events = events
            .with_limit(FieldKey::Subject, Some(255), false)
            .with_limit(FieldKey::Location, Some(255), false)
            .with_limit(FieldKey::Description, Some(32_000), false)
            .with_limit(FieldKey::Timing, None, true)
            .with_limit(FieldKey::Recurrence, None, false)
            .with_limit(FieldKey::Privacy, None, false)
            .with_limit(FieldKey::ShowAs, None, false)
            .with_limit(FieldKey::CrmLinks, None, false)
            .with_max_items(FieldKey::CrmLinks, 2)
            // Salesforce generates a series' occurrences from its pattern when the series is
            // written: moved occurrences are not kept, so its fingerprint must not hold them.
            .with_max_items(FieldKey::Recurrence, 0);
        // Attendees are invitees (EventRelation), one by one: an address that matches a Contact,
        // Lead or User is written as an invitation (`related`); one that matches none cannot be
        // stored and is reported unstored. The organizer (the owner) is not written.
        events = events.with_limit(FieldKey::Attendees, None, false);
        for c in &self.event_custom {
            events = events.with_limit(FieldKey::Custom(c.name.clone()), c.max_len, false);
        }
        Capabilities { contacts, events }
    }

    /// The common part of a row: id, version, stamp, key, owner.
    pub(crate) fn row(&self, row: &Map<String, Value>) -> Result<Row, String> {
        let id = text(row, "Id")?.ok_or("record without an Id")?;
        let version = text(row, "SystemModstamp")?.unwrap_or_default();
        let stamp = if version.is_empty() { None } else { Some(parse_datetime(&version)?) };
        Ok(Row { id, stamp, version, sync_key: text(row, &self.key_field)? })
    }

    /// A Contact row as a canonical contact.
    pub(crate) fn contact(&self, row: &Map<String, Value>) -> Result<Record, String> {
        let mut c = Contact {
            given_name: text(row, "FirstName")?,
            middle_name: if self.middle_name { text(row, "MiddleName")? } else { None },
            family_name: text(row, "LastName")?,
            title: text(row, "Title")?,
            department: text(row, "Department")?,
            assistant_name: text(row, "AssistantName")?,
            notes: text(row, "Description")?,
            company: row.get("Account").and_then(Value::as_object).map(|a| text(a, "Name")).transpose()?.flatten(),
            ..Contact::default()
        };
        if let Some(email) = text(row, "Email")? {
            c.emails.push(EmailAddress { kind: AddressKind::Work, address: email });
        }
        for (field, kind) in PHONE_FIELDS {
            if let Some(number) = text(row, field)? {
                c.phones.push(Phone { kind, number });
            }
        }
        if let Some(b) = text(row, "Birthdate")? {
            c.birthday =
                Some(NaiveDate::parse_from_str(&b, "%Y-%m-%d").map_err(|_| format!("Birthdate `{b}` is not a date"))?);
        }
        for (fields, kind) in &self.addresses {
            let Some(kind) = *kind else { continue };
            let parts: Vec<Option<String>> = fields.iter().map(|f| text(row, f)).collect::<Result<_, _>>()?;
            if parts.iter().any(Option::is_some) {
                let mut it = parts.into_iter();
                c.addresses.push(PostalAddress {
                    kind,
                    street: it.next().flatten(),
                    city: it.next().flatten(),
                    region: it.next().flatten(),
                    postal_code: it.next().flatten(),
                    country: it.next().flatten(),
                });
            }
        }
        // The model's order (work, home, other), whichever Salesforce address holds which kind.
        c.addresses.sort_by_key(|a| a.kind);
        c.custom = self.read_custom(ObjectKind::Contact, row)?;
        Ok(Record::Contact(c))
    }

    fn read_custom(&self, object: ObjectKind, row: &Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for field in self.custom(object) {
            let value = match row.get(&field.name) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                Some(_) => return Err(format!("custom field `{}` holds a structured value", field.name)),
            };
            out.insert(field.name.clone(), value);
        }
        Ok(out)
    }

    /// An Event row as a canonical event. `zone` is the user's time zone; invitees come from
    /// EventRelation rows.
    pub(crate) fn event(
        &self,
        row: &Map<String, Value>,
        zone: &str,
        attendees: Vec<Attendee>,
    ) -> Result<Record, String> {
        let recurring = flag(row, "IsRecurrence2")?
            && !flag(row, "IsRecurrence2Exception")?
            && !flag(row, "IsRecurrence2Exclusion")?;
        let pattern_zone = text(row, "Recurrence2PatternTimeZone")?;
        let zone = match (&pattern_zone, recurring) {
            (Some(z), true) => {
                z.parse::<chrono_tz::Tz>().map_err(|_| format!("unknown Recurrence2PatternTimeZone `{z}`"))?;
                z.clone()
            }
            _ => zone.to_owned(),
        };
        let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone `{zone}`"))?;
        let all_day = flag(row, "IsAllDayEvent")?;
        let start = text(row, "StartDateTime")?.map(|s| parse_datetime(&s)).transpose()?;
        let end = text(row, "EndDateTime")?.map(|s| parse_datetime(&s)).transpose()?;
        let minutes = row.get("DurationInMinutes").and_then(Value::as_i64);
        let timing = if all_day {
            let first = match text(row, "ActivityDate")? {
                Some(d) => NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|_| format!("ActivityDate `{d}` is not a date"))?,
                None => start.ok_or("an all-day event without ActivityDate or StartDateTime")?.date_naive(),
            };
            // Salesforce keeps the last day (inclusive) in EndDateTime; the model's end is exclusive.
            let last = match (end, minutes) {
                (Some(e), _) => e.date_naive(),
                (None, Some(m)) => add_days(first, (m.saturating_add(1439) / 1440 - 1).max(0))
                    .ok_or_else(|| format!("DurationInMinutes {m} is out of range"))?,
                (None, None) => first,
            };
            if last < first {
                return Err("an all-day event that ends before it starts".to_owned());
            }
            EventTiming {
                start: EventTime::AllDay { date: first },
                end: EventTime::AllDay {
                    date: last.succ_opt().ok_or("an all-day event that ends after the last date")?,
                },
            }
        } else {
            let start = start.ok_or("an event without StartDateTime")?;
            let end = match (end, minutes) {
                (Some(e), _) => e,
                (None, Some(m)) => {
                    add_minutes(start, m).ok_or_else(|| format!("DurationInMinutes {m} is out of range"))?
                }
                (None, None) => return Err("an event without EndDateTime or DurationInMinutes".to_owned()),
            };
            let local = |t: DateTime<Utc>| -> Result<EventTime, String> {
                let local = local_time(t, &tz).ok_or_else(|| format!("{t} is out of range in {zone}"))?;
                Ok(EventTime::Zoned { local, zone: zone.clone() })
            };
            EventTiming { start: local(start)?, end: local(end)? }
        };
        let recurrence = if recurring {
            match text(row, "Recurrence2PatternText")? {
                Some(pattern) => Some(parse_pattern(&pattern, &zone)?),
                None => None,
            }
        } else {
            None
        };
        let show_as = match text(row, "ShowAs")?.as_deref() {
            Some("Free") => ShowAs::Free,
            Some("OutOfOffice") => ShowAs::OutOfOffice,
            _ => ShowAs::Busy,
        };
        let mut crm_links = Vec::new();
        if let Some(who) = text(row, "WhoId")? {
            crm_links.push(CrmLink { object: object_of(&who, "Who").to_owned(), id: who });
        }
        if let Some(what) = text(row, "WhatId")? {
            crm_links.push(CrmLink { object: object_of(&what, "What").to_owned(), id: what });
        }
        Ok(Record::Event(Event {
            subject: text(row, "Subject")?,
            description: text(row, "Description")?,
            location: text(row, "Location")?,
            timing,
            recurrence,
            organizer: None,
            attendees,
            privacy: if flag(row, "IsPrivate")? { Privacy::Private } else { Privacy::Normal },
            show_as,
            categories: Vec::new(),
            crm_links,
            ical_uid: None,
            custom: self.read_custom(ObjectKind::Event, row)?,
        }))
    }

    /// The fields of a new record. Absent values are left out (Salesforce leaves them empty), and
    /// so are fields Salesforce cannot store (the planner has projected them away already).
    pub(crate) fn create_fields(&self, record: &Record, user_zone: &str) -> Result<Map<String, Value>, String> {
        let caps = self.caps.object(record.kind());
        let mut patch = Vec::new();
        for key in record.field_keys() {
            let storable = match &key {
                FieldKey::Custom(name) => self.custom(record.kind()).iter().any(|c| &c.name == name),
                key => caps.writable(key),
            };
            let value = record.get(&key);
            if storable && value.is_some() {
                patch.push(FieldChange { field: key, value });
            }
        }
        let mut fields = match record {
            Record::Contact(_) => self.contact_patch(&patch)?,
            Record::Event(e) => self.event_patch(&patch, Some(e), user_zone)?,
        };
        fields.retain(|_, v| !v.is_null());
        Ok(fields)
    }

    /// The fields a patch sets on an existing record (`null` clears).
    pub(crate) fn patch_fields(
        &self,
        object: ObjectKind,
        patch: &[FieldChange],
        user_zone: &str,
    ) -> Result<Map<String, Value>, String> {
        match object {
            ObjectKind::Contact => self.contact_patch(patch),
            ObjectKind::Event => self.event_patch(patch, None, user_zone),
        }
    }

    fn custom_out(
        &self,
        object: ObjectKind,
        name: &str,
        value: &Option<FieldValue>,
        out: &mut Map<String, Value>,
    ) -> Result<(), String> {
        if !self.custom(object).iter().any(|c| c.name == name) {
            return Err(format!("custom field `{name}` is not configured for {object}s on Salesforce"));
        }
        let v = match value {
            None => Value::Null,
            Some(FieldValue::Text(t)) => Value::String(t.clone()),
            Some(other) => return Err(format!("custom field `{name}` cannot hold {other:?}")),
        };
        out.insert(name.to_owned(), v);
        Ok(())
    }

    fn contact_patch(&self, patch: &[FieldChange]) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for change in patch {
            let value = &change.value;
            match &change.field {
                FieldKey::Custom(name) => self.custom_out(ObjectKind::Contact, name, value, &mut out)?,
                // The Account link: resolved by name when the batch is written.
                FieldKey::Company if self.match_accounts => {}
                FieldKey::MiddleName if !self.middle_name => {
                    return Err("middle names are not enabled on this org".to_owned());
                }
                key if CONTACT_TEXT.iter().any(|(_, k)| k == key) => {
                    let field = CONTACT_TEXT.iter().find(|(_, k)| k == key).map_or("", |(f, _)| *f);
                    out.insert(field.to_owned(), text_value(key, value)?);
                }
                FieldKey::Emails => {
                    let first = match value {
                        None => Value::Null,
                        Some(FieldValue::Emails(list)) => {
                            list.first().map_or(Value::Null, |e| Value::String(e.address.clone()))
                        }
                        Some(other) => return Err(format!("emails cannot be {other:?}")),
                    };
                    out.insert("Email".to_owned(), first);
                }
                FieldKey::Phone(kind) => {
                    let Some((field, _)) = PHONE_FIELDS.iter().find(|(_, k)| k == kind) else {
                        return Err(format!("Salesforce has no {} phone field", kind.as_str()));
                    };
                    let first = match value {
                        None => Value::Null,
                        Some(FieldValue::List(list)) => list.first().map_or(Value::Null, |n| Value::String(n.clone())),
                        Some(other) => return Err(format!("a phone cannot be {other:?}")),
                    };
                    out.insert((*field).to_owned(), first);
                }
                FieldKey::Birthday => {
                    let v = match value {
                        None => Value::Null,
                        Some(FieldValue::Date(d)) => Value::String(d.format("%Y-%m-%d").to_string()),
                        Some(other) => return Err(format!("a birthday cannot be {other:?}")),
                    };
                    out.insert("Birthdate".to_owned(), v);
                }
                FieldKey::Address(kind) => {
                    // Only the Salesforce address mapped to this kind is written (or cleared); a
                    // kind no Salesforce address holds is never written into another address.
                    let Some((fields, _)) = self.addresses.iter().find(|(_, k)| *k == Some(*kind)) else {
                        return Err(format!("no Salesforce address holds the {} address", kind.as_str()));
                    };
                    let address = match value {
                        None => None,
                        Some(FieldValue::Addresses(list)) => list.first().cloned(),
                        Some(other) => return Err(format!("an address cannot be {other:?}")),
                    };
                    let parts = address.map_or_else(
                        || [None, None, None, None, None],
                        |a| [a.street, a.city, a.region, a.postal_code, a.country],
                    );
                    for (field, part) in fields.iter().zip(parts) {
                        out.insert((*field).to_owned(), part.map_or(Value::Null, Value::String));
                    }
                }
                other => return Err(format!("Salesforce cannot store the contact field `{other}`")),
            }
        }
        Ok(out)
    }

    fn event_patch(
        &self,
        patch: &[FieldChange],
        whole: Option<&Event>,
        user_zone: &str,
    ) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        // The zone a series' pattern is written in: the zone of its start when it has one.
        let timing_zone = patch
            .iter()
            .find_map(|c| match &c.value {
                Some(FieldValue::Timing(EventTiming { start: EventTime::Zoned { zone, .. }, .. })) => {
                    Some(zone.clone())
                }
                _ => None,
            })
            .or_else(|| match whole.map(|e| &e.timing.start) {
                Some(EventTime::Zoned { zone, .. }) => Some(zone.clone()),
                _ => None,
            })
            .unwrap_or_else(|| user_zone.to_owned());
        for change in patch {
            let value = &change.value;
            match &change.field {
                FieldKey::Custom(name) => self.custom_out(ObjectKind::Event, name, value, &mut out)?,
                // Invitations: EventRelation records written after the event (`related`).
                FieldKey::Attendee(_) | FieldKey::Attendees => {}
                key @ (FieldKey::Subject | FieldKey::Description | FieldKey::Location) => {
                    let field = match key {
                        FieldKey::Subject => "Subject",
                        FieldKey::Description => "Description",
                        _ => "Location",
                    };
                    out.insert(field.to_owned(), text_value(key, value)?);
                }
                FieldKey::Timing => match value {
                    Some(FieldValue::Timing(t)) => write_timing(t, &mut out)?,
                    _ => return Err("an event's timing cannot be cleared".to_owned()),
                },
                FieldKey::Recurrence => match value {
                    None => {
                        out.insert("IsRecurrence2".to_owned(), Value::Bool(false));
                        out.insert("Recurrence2PatternText".to_owned(), Value::Null);
                    }
                    Some(FieldValue::Recurrence(r)) => {
                        if !r.overrides.is_empty() {
                            tracing::warn!(
                                overrides = r.overrides.len(),
                                "Salesforce keeps no per-occurrence changes in a series pattern; they are not written"
                            );
                        }
                        out.insert("IsRecurrence2".to_owned(), Value::Bool(true));
                        out.insert("Recurrence2PatternText".to_owned(), Value::String(pattern_text(r)?));
                        out.insert("Recurrence2PatternTimeZone".to_owned(), Value::String(timing_zone.clone()));
                        out.insert("Recurrence2PatternVersion".to_owned(), Value::String("1".to_owned()));
                    }
                    Some(other) => return Err(format!("a recurrence cannot be {other:?}")),
                },
                FieldKey::Privacy => {
                    let private = matches!(value, Some(FieldValue::Privacy(Privacy::Private)));
                    out.insert("IsPrivate".to_owned(), Value::Bool(private));
                }
                FieldKey::ShowAs => {
                    let v = match value {
                        Some(FieldValue::ShowAs(ShowAs::Free)) => "Free",
                        Some(FieldValue::ShowAs(ShowAs::OutOfOffice)) => "OutOfOffice",
                        _ => "Busy",
                    };
                    out.insert("ShowAs".to_owned(), Value::String(v.to_owned()));
                }
                FieldKey::CrmLinks => {
                    let links = match value {
                        None => Vec::new(),
                        Some(FieldValue::CrmLinks(l)) => l.clone(),
                        Some(other) => return Err(format!("CRM links cannot be {other:?}")),
                    };
                    let (mut who, mut what) = (Value::Null, Value::Null);
                    for link in links {
                        crate::soql::check_id(&link.id).map_err(|e| e.to_string())?;
                        let slot = if is_who(&link) { &mut who } else { &mut what };
                        if !slot.is_null() {
                            return Err(format!(
                                "an event holds one WhoId and one WhatId; the {} link to {} does not fit",
                                link.object, link.id
                            ));
                        }
                        *slot = Value::String(link.id);
                    }
                    out.insert("WhoId".to_owned(), who);
                    out.insert("WhatId".to_owned(), what);
                }
                other => return Err(format!("Salesforce cannot store the event field `{other}`")),
            }
        }
        Ok(out)
    }
}

fn is_who(link: &CrmLink) -> bool {
    matches!(link.object.as_str(), "Contact" | "Lead" | "Who")
        || link.id.starts_with("003")
        || link.id.starts_with("00Q")
}

/// The object a record id belongs to, by its key prefix; `fallback` for prefixes not listed.
pub(crate) fn object_of<'a>(id: &str, fallback: &'a str) -> &'a str {
    match id.get(..3) {
        Some("003") => "Contact",
        Some("00Q") => "Lead",
        Some("001") => "Account",
        Some("006") => "Opportunity",
        Some("500") => "Case",
        Some("701") => "Campaign",
        Some("800") => "Contract",
        Some("005") => "User",
        _ => fallback,
    }
}

fn write_timing(t: &EventTiming, out: &mut Map<String, Value>) -> Result<(), String> {
    match (&t.start, &t.end) {
        (EventTime::AllDay { date: first }, EventTime::AllDay { date: end }) => {
            let last = end.pred_opt().ok_or("an all-day event must last at least one day")?;
            if last < *first {
                return Err("an all-day event must last at least one day".to_owned());
            }
            out.insert("IsAllDayEvent".to_owned(), Value::Bool(true));
            out.insert("ActivityDate".to_owned(), Value::String(first.format("%Y-%m-%d").to_string()));
            out.insert("StartDateTime".to_owned(), Value::String(format_datetime(midnight(*first))));
            out.insert("EndDateTime".to_owned(), Value::String(format_datetime(midnight(last))));
        }
        (EventTime::Zoned { .. }, EventTime::Zoned { .. }) => {
            let start = t.start.instant().ok_or("the event's start does not exist in its time zone")?;
            let end = t.end.instant().ok_or("the event's end does not exist in its time zone")?;
            out.insert("IsAllDayEvent".to_owned(), Value::Bool(false));
            out.insert("StartDateTime".to_owned(), Value::String(format_datetime(start)));
            out.insert("EndDateTime".to_owned(), Value::String(format_datetime(end)));
        }
        _ => return Err("an event cannot mix an all-day date with a timed value".to_owned()),
    }
    Ok(())
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn text_value(key: &FieldKey, value: &Option<FieldValue>) -> Result<Value, String> {
    match value {
        None => Ok(Value::Null),
        Some(FieldValue::Text(t)) => Ok(Value::String(t.clone())),
        Some(other) => Err(format!("`{key}` cannot be {other:?}")),
    }
}

/// A text field of a row: `None` for null or missing, an error for other types.
pub(crate) fn text(row: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("field `{field}` is not text: {}", kind_of(other))),
    }
}

fn flag(row: &Map<String, Value>, field: &str) -> Result<bool, String> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("field `{field}` is not a boolean: {}", kind_of(other))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parses Salesforce's datetime format (`2026-01-05T09:00:00.000+0000`), and RFC 3339.
pub(crate) fn parse_datetime(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{s}` is not a Salesforce datetime"))
}

/// Formats a datetime as Salesforce writes it: `2026-01-05T09:00:00.000+0000`.
pub(crate) fn format_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Renders a recurrence as `Recurrence2PatternText`: one `RRULE:` line per rule, `RDATE` and
/// `EXDATE` lines (timed values in UTC, dates as `VALUE=DATE`). Cancelled occurrences become
/// `EXDATE`s. Per-occurrence overrides have no place in the pattern and are left out.
pub(crate) fn pattern_text(r: &Recurrence) -> Result<String, String> {
    let mut lines = Vec::new();
    for rule in &r.rules {
        let rule = rule.trim().trim_start_matches("RRULE:");
        if rule.is_empty() || rule.contains(['\n', '\r']) {
            return Err("a recurrence rule is empty or spans lines".to_owned());
        }
        lines.push(format!("RRULE:{rule}"));
    }
    let times = |name: &str, list: &mut dyn Iterator<Item = &EventTime>| -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for t in list {
            out.push(match t {
                EventTime::AllDay { date } => format!("{name};VALUE=DATE:{}", date.format("%Y%m%d")),
                EventTime::Zoned { .. } => {
                    let at = t.instant().ok_or("a recurrence date does not exist in its time zone")?;
                    format!("{name}:{}", at.format("%Y%m%dT%H%M%SZ"))
                }
            });
        }
        Ok(out)
    };
    lines.extend(times("RDATE", &mut r.rdates.iter())?);
    let mut excluded: Vec<&EventTime> = r.exdates.iter().chain(r.cancelled.iter()).collect();
    excluded.sort();
    excluded.dedup();
    lines.extend(times("EXDATE", &mut excluded.into_iter())?);
    Ok(lines.join("\n"))
}

/// Parses `Recurrence2PatternText`: `RRULE:`, `RDATE` and `EXDATE` lines (with `TZID=`,
/// `VALUE=DATE` or UTC values, comma-separated lists). Timed values are expressed in `zone`.
pub(crate) fn parse_pattern(text: &str, zone: &str) -> Result<Recurrence, String> {
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone `{zone}`"))?;
    let mut r = Recurrence::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (head, value) = line.split_once(':').ok_or_else(|| format!("recurrence line `{line}` has no value"))?;
        let mut params = head.split(';');
        let name = params.next().unwrap_or("").to_ascii_uppercase();
        let mut value_date = false;
        let mut tzid: Option<chrono_tz::Tz> = None;
        for p in params {
            match p.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("VALUE") => value_date = v.eq_ignore_ascii_case("DATE"),
                Some((k, v)) if k.eq_ignore_ascii_case("TZID") => {
                    tzid = Some(v.parse().map_err(|_| format!("unknown TZID `{v}` in the recurrence pattern"))?);
                }
                _ => {}
            }
        }
        match name.as_str() {
            "RRULE" => {
                // Checked (ASCII, parser panics contained) so that a rule the `rrule` crate
                // cannot read quarantines this record here rather than failing later.
                tandem_core::validate::validate_rrule(value).map_err(|e| e.to_string())?;
                r.rules.push(value.to_owned());
            }
            "RDATE" | "EXDATE" | "DTSTART" => {
                let mut parsed = Vec::new();
                for v in value.split(',') {
                    parsed.push(parse_ical_time(v.trim(), value_date, tzid, tz, zone)?);
                }
                match name.as_str() {
                    "RDATE" => r.rdates.extend(parsed),
                    "EXDATE" => r.exdates.extend(parsed),
                    _ => {}
                }
            }
            other => return Err(format!("unsupported recurrence line `{other}`")),
        }
    }
    if r.rules.is_empty() && r.rdates.is_empty() {
        return Err("a recurring event whose pattern has no RRULE".to_owned());
    }
    Ok(r)
}

fn parse_ical_time(
    v: &str,
    date: bool,
    tzid: Option<chrono_tz::Tz>,
    tz: chrono_tz::Tz,
    zone: &str,
) -> Result<EventTime, String> {
    if date || v.len() == 8 {
        let d = NaiveDate::parse_from_str(v, "%Y%m%d").map_err(|_| format!("`{v}` is not an iCalendar date"))?;
        return Ok(EventTime::AllDay { date: d });
    }
    let (body, utc) = match v.strip_suffix('Z') {
        Some(b) => (b, true),
        None => (v, false),
    };
    let naive = NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S")
        .map_err(|_| format!("`{v}` is not an iCalendar date-time"))?;
    let instant = if utc {
        naive.and_utc()
    } else {
        let source = tzid.unwrap_or(tz);
        source
            .from_local_datetime(&naive)
            .earliest()
            .ok_or_else(|| format!("`{v}` does not exist in its time zone"))?
            .with_timezone(&Utc)
    };
    let local = local_time(instant, &tz).ok_or_else(|| format!("`{v}` is out of range in {zone}"))?;
    Ok(EventTime::Zoned { local, zone: zone.to_owned() })
}

/// An EventRelation status as an attendee response.
pub(crate) fn response_of(status: Option<&str>) -> ResponseStatus {
    match status {
        Some("Accepted") => ResponseStatus::Accepted,
        Some("Declined") => ResponseStatus::Declined,
        Some("Maybe" | "Tentative") => ResponseStatus::Tentative,
        _ => ResponseStatus::NeedsAction,
    }
}

/// An invitee row (`EventRelation` with `Relation.Name`, `Relation.Email`, `Status`) as an
/// attendee; `None` when the invitee has no email address.
pub(crate) fn attendee(row: &Map<String, Value>) -> Option<Attendee> {
    let relation = row.get("Relation").and_then(Value::as_object)?;
    let email = text(relation, "Email").ok().flatten()?;
    Some(Attendee {
        email,
        name: text(relation, "Name").ok().flatten(),
        role: AttendeeRole::Required,
        response: response_of(text(row, "Status").ok().flatten().as_deref()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mapping() -> Mapping {
        Mapping::new(
            true,
            vec![CustomField::text("Region__c", 20)],
            vec![],
            "Tandem_Sync_Id__c".into(),
            AddressMapping::default(),
        )
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn contact_round_trip() {
        let row = obj(json!({
            "attributes": {"type": "Contact"},
            "Id": "003000000000001AAA", "SystemModstamp": "2026-01-05T09:00:00.000+0000",
            "FirstName": "Ada", "MiddleName": "King", "LastName": "Lovelace", "Email": "ada@example.com",
            "Phone": "+44 1", "MobilePhone": "+44 2", "HomePhone": null, "Fax": "+44 3", "OtherPhone": "",
            "AssistantPhone": "+44 4", "AssistantName": "Babbage", "Title": "Countess", "Department": "Engines",
            "Birthdate": "1815-12-10", "Description": "Notes\nhere", "MailingStreet": "12 St James's Square",
            "MailingCity": "London", "MailingState": null, "MailingPostalCode": "SW1Y", "MailingCountry": "UK",
            "Account": {"attributes": {"type": "Account"}, "Name": "Analytical Engines Ltd"},
            "Region__c": "EMEA", "Tandem_Sync_Id__c": "tdm1"
        }));
        let m = mapping();
        let r = m.row(&row).unwrap();
        assert_eq!(r.sync_key.as_deref(), Some("tdm1"));
        let record = m.contact(&row).unwrap();
        let Record::Contact(c) = &record else { panic!() };
        assert_eq!(c.company.as_deref(), Some("Analytical Engines Ltd"));
        assert_eq!(c.phones.len(), 4);
        assert_eq!(c.birthday, NaiveDate::from_ymd_opt(1815, 12, 10));
        assert_eq!(c.addresses[0].region, None);
        assert_eq!(c.custom["Region__c"], "EMEA");
        let fields = m.create_fields(&record, "UTC").unwrap();
        assert_eq!(fields["LastName"], "Lovelace");
        assert_eq!(fields["Fax"], "+44 3");
        assert_eq!(fields["Birthdate"], "1815-12-10");
        assert_eq!(fields["Description"], "Notes\nhere");
        assert!(!fields.contains_key("Account"), "company is never written");
        assert!(!fields.contains_key("MailingState"), "absent values are left out of creates");
        let mut back = row.clone();
        for (k, v) in &fields {
            back.insert(k.clone(), v.clone());
        }
        assert_eq!(m.contact(&back).unwrap(), record);
    }

    #[test]
    fn unreadable_rows_are_errors_not_panics() {
        let m = mapping();
        let bad_date = obj(json!({"Id": "003000000000001AAA", "LastName": "X", "Birthdate": "1815-13-40"}));
        assert!(m.contact(&bad_date).unwrap_err().contains("not a date"));
        let bad_type = obj(json!({"Id": "003000000000001AAA", "LastName": 7}));
        assert!(m.contact(&bad_type).unwrap_err().contains("not text"));
        let no_start = obj(json!({"Id": "00U000000000001AAA", "IsAllDayEvent": false}));
        assert!(m.event(&no_start, "UTC", vec![]).is_err());
        assert!(m.row(&obj(json!({}))).is_err());
    }

    #[test]
    fn hostile_events_are_errors_not_panics() {
        // Issue 8: each of these panicked the mapper (chrono overflow) or the `rrule` crate.
        let m = mapping();
        let event = |fields: Value| {
            let mut row = obj(json!({"Id": "00U000000000001AAA", "IsAllDayEvent": false,
                "StartDateTime": "2026-01-05T08:00:00.000+0000"}));
            row.extend(obj(fields));
            m.event(&row, "Asia/Tokyo", vec![])
        };
        let huge = event(json!({"DurationInMinutes": i64::MAX})).unwrap_err();
        assert!(huge.contains("DurationInMinutes"), "{huge}");
        assert!(event(json!({"DurationInMinutes": i64::MIN})).is_err());
        let all_day =
            event(json!({"IsAllDayEvent": true, "ActivityDate": "2026-03-02", "DurationInMinutes": i64::MAX}))
                .unwrap_err();
        assert!(all_day.contains("DurationInMinutes"), "{all_day}");
        // The last representable dates and instants: no room for the exclusive end or the zone.
        assert!(event(json!({"IsAllDayEvent": true, "ActivityDate": "+262142-12-31"})).is_err());
        assert!(event(json!({"StartDateTime": "+262142-12-31T23:59:59.000+0000", "DurationInMinutes": 0})).is_err());
        assert!(event(json!({"StartDateTime": "2026-01-05T08:00:00.000+0000", "EndDateTime": "+262142-12-31T23:59:59.000+0000"})).is_err());
        // A recurrence rule the `rrule` crate panics on.
        let rule = event(json!({"EndDateTime": "2026-01-05T09:00:00.000+0000", "IsRecurrence2": true,
            "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=ña"}))
        .unwrap_err();
        assert!(rule.contains("recurrence rule"), "{rule}");
        assert!(parse_pattern("RRULE:FREQ=WEEKLY;BYDAY=ña", "UTC").is_err());
        assert!(parse_pattern("EXDATE:+2621421231T235959Z\nRRULE:FREQ=DAILY", "Asia/Tokyo").is_err());
        // Writing an all-day event that ends on the first representable date.
        let first = EventTime::AllDay { date: NaiveDate::MIN };
        assert!(write_timing(&EventTiming { start: first.clone(), end: first }, &mut Map::new()).is_err());
    }

    #[test]
    fn patches_clear_with_null() {
        let m = mapping();
        let patch = vec![
            FieldChange { field: FieldKey::Title, value: None },
            FieldChange { field: FieldKey::Phone(PhoneKind::Mobile), value: Some(FieldValue::List(vec!["1".into()])) },
            FieldChange { field: FieldKey::Address(AddressKind::Work), value: None },
        ];
        let f = m.patch_fields(ObjectKind::Contact, &patch, "UTC").unwrap();
        assert_eq!(f["Title"], Value::Null);
        assert_eq!(f["MobilePhone"], "1");
        assert_eq!(f["MailingCity"], Value::Null);
        assert!(!f.contains_key("OtherCity"), "only the Mailing address is touched: {f:?}");
        let bad = vec![FieldChange { field: FieldKey::Phone(PhoneKind::HomeFax), value: None }];
        assert!(m.patch_fields(ObjectKind::Contact, &bad, "UTC").is_err());
        let unknown = vec![FieldChange { field: FieldKey::Custom("Other__c".into()), value: None }];
        assert!(m.patch_fields(ObjectKind::Contact, &unknown, "UTC").is_err());
        // The company is the Account link, resolved by name when the batch is written: never a
        // field of the record itself; without account matching it cannot be written at all.
        let company = vec![FieldChange { field: FieldKey::Company, value: Some(FieldValue::Text("Acme".into())) }];
        assert!(m.patch_fields(ObjectKind::Contact, &company, "UTC").unwrap().is_empty());
        let read_only = mapping().with_account_matching(false);
        assert!(read_only.patch_fields(ObjectKind::Contact, &company, "UTC").is_err());
    }

    #[test]
    fn all_day_events_use_an_inclusive_last_day() {
        let m = mapping();
        // A two-day all-day event, as Salesforce stores it.
        let row = obj(json!({
            "Id": "00U000000000001AAA", "IsAllDayEvent": true, "ActivityDate": "2026-03-02",
            "StartDateTime": "2026-03-02T00:00:00.000+0000", "EndDateTime": "2026-03-03T00:00:00.000+0000",
            "DurationInMinutes": 2880, "Subject": "Offsite", "ShowAs": "OutOfOffice", "IsPrivate": true
        }));
        let record = m.event(&row, "Europe/Paris", vec![]).unwrap();
        let Record::Event(e) = &record else { panic!() };
        let d = |day| EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 3, day).unwrap() };
        assert_eq!(e.timing, EventTiming { start: d(2), end: d(4) });
        assert_eq!(e.show_as, ShowAs::OutOfOffice);
        assert_eq!(e.privacy, Privacy::Private);
        let fields = m.create_fields(&record, "Europe/Paris").unwrap();
        assert_eq!(fields["ActivityDate"], "2026-03-02");
        assert_eq!(fields["EndDateTime"], "2026-03-03T00:00:00.000+0000");
        assert_eq!(fields["IsAllDayEvent"], true);
        // Only a duration: one day.
        let one = obj(
            json!({"Id": "00U000000000001AAA", "IsAllDayEvent": true, "ActivityDate": "2026-03-02", "DurationInMinutes": 1440}),
        );
        let Record::Event(e) = m.event(&one, "UTC", vec![]).unwrap() else { panic!() };
        assert_eq!(e.timing, EventTiming { start: d(2), end: d(3) });
    }

    #[test]
    fn timed_events_read_in_the_user_zone_and_write_utc() {
        let m = mapping();
        let row = obj(json!({
            "Id": "00U000000000001AAA", "IsAllDayEvent": false,
            "StartDateTime": "2026-07-01T08:00:00.000+0000", "EndDateTime": "2026-07-01T09:30:00.000+0000",
            "ShowAs": "Busy", "WhoId": "003000000000001AAA", "WhatId": "006000000000001AAA"
        }));
        let record = m.event(&row, "Europe/Paris", vec![]).unwrap();
        let Record::Event(e) = &record else { panic!() };
        let EventTime::Zoned { local, zone } = &e.timing.start else { panic!() };
        assert_eq!((local.to_string().as_str(), zone.as_str()), ("2026-07-01 10:00:00", "Europe/Paris"));
        assert_eq!(e.crm_links.iter().map(|l| l.object.as_str()).collect::<Vec<_>>(), ["Contact", "Opportunity"]);
        let f = m.create_fields(&record, "Europe/Paris").unwrap();
        assert_eq!(f["StartDateTime"], "2026-07-01T08:00:00.000+0000");
        assert_eq!(f["EndDateTime"], "2026-07-01T09:30:00.000+0000");
        assert_eq!(f["WhoId"], "003000000000001AAA");
        assert_eq!(f["WhatId"], "006000000000001AAA");
        // Tentative and working elsewhere become Busy.
        let patch = vec![FieldChange { field: FieldKey::ShowAs, value: Some(FieldValue::ShowAs(ShowAs::Tentative)) }];
        assert_eq!(m.patch_fields(ObjectKind::Event, &patch, "UTC").unwrap()["ShowAs"], "Busy");
        let two_whos = vec![FieldChange {
            field: FieldKey::CrmLinks,
            value: Some(FieldValue::CrmLinks(vec![
                CrmLink { object: "Contact".into(), id: "003000000000001AAA".into() },
                CrmLink { object: "Lead".into(), id: "00Q000000000001AAA".into() },
            ])),
        }];
        assert!(m.patch_fields(ObjectKind::Event, &two_whos, "UTC").is_err());
    }

    #[test]
    fn recurrence_patterns_round_trip() {
        let m = mapping();
        let row = obj(json!({
            "Id": "00U000000000001AAA", "IsAllDayEvent": false, "IsRecurrence2": true,
            "StartDateTime": "2026-01-05T08:00:00.000+0000", "EndDateTime": "2026-01-05T09:00:00.000+0000",
            "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=13\nEXDATE:20260112T080000Z,20260119T080000Z",
            "Recurrence2PatternTimeZone": "Europe/Paris"
        }));
        let record = m.event(&row, "America/New_York", vec![]).unwrap();
        let Record::Event(e) = &record else { panic!() };
        let r = e.recurrence.as_ref().unwrap();
        assert_eq!(r.rules, ["FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=13"]);
        assert_eq!(r.exdates.len(), 2);
        let at9 = |day| EventTime::Zoned {
            local: NaiveDate::from_ymd_opt(2026, 1, day).unwrap().and_hms_opt(9, 0, 0).unwrap(),
            zone: "Europe/Paris".into(),
        };
        assert_eq!(r.exdates[0], at9(12));
        assert_eq!(e.timing.start, at9(5), "a series reads in its pattern's zone");
        let f = m.create_fields(&record, "America/New_York").unwrap();
        assert_eq!(f["Recurrence2PatternTimeZone"], "Europe/Paris");
        assert_eq!(
            f["Recurrence2PatternText"],
            "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=13\nEXDATE:20260112T080000Z\nEXDATE:20260119T080000Z"
        );
        let mut back = row.clone();
        back.insert("Recurrence2PatternText".into(), f["Recurrence2PatternText"].clone());
        assert_eq!(m.event(&back, "America/New_York", vec![]).unwrap(), record);
        // Exceptions and exclusions are single events, not series.
        let mut exception = row.clone();
        exception.insert("IsRecurrence2Exception".into(), json!(true));
        let Record::Event(x) = m.event(&exception, "America/New_York", vec![]).unwrap() else { panic!() };
        assert!(x.recurrence.is_none());
        // TZID and all-day values.
        let r = parse_pattern(
            "RRULE:FREQ=DAILY;COUNT=3\nEXDATE;TZID=America/New_York:20260106T030000\nRDATE;VALUE=DATE:20260201",
            "Europe/Paris",
        )
        .unwrap();
        assert_eq!(r.exdates[0], at9(6));
        assert_eq!(r.rdates[0], EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap() });
        assert!(parse_pattern("EXDATE:20260106T030000Z", "UTC").is_err());
        assert!(parse_pattern("X-FOO:1", "UTC").is_err());
    }

    #[test]
    fn address_kinds_keep_their_salesforce_address() {
        use crate::config::AddressSlot;
        let m = mapping();
        let home = PostalAddress { kind: AddressKind::Home, city: Some("Hometown".into()), ..PostalAddress::default() };
        let other =
            PostalAddress { kind: AddressKind::Other, city: Some("Otherville".into()), ..PostalAddress::default() };
        // Home goes to Other and touches nothing else; an other address has no Salesforce address.
        let change = |kind, a: &PostalAddress| FieldChange {
            field: FieldKey::Address(kind),
            value: Some(FieldValue::Addresses(vec![a.clone()])),
        };
        let f = m.patch_fields(ObjectKind::Contact, &[change(AddressKind::Home, &home)], "UTC").unwrap();
        assert_eq!(f["OtherCity"], "Hometown");
        assert!(f.keys().all(|k| k.starts_with("Other")), "only the Other address: {f:?}");
        let never = m.patch_fields(ObjectKind::Contact, &[change(AddressKind::Other, &other)], "UTC");
        assert!(never.is_err(), "never converted: {never:?}");
        // A whole contact: each mapped kind to its address, the other kind left out.
        let whole = Record::Contact(Contact {
            family_name: Some("X".into()),
            addresses: vec![home.clone(), other],
            ..Contact::default()
        });
        let f = m.create_fields(&whole, "UTC").unwrap();
        assert_eq!(f["OtherCity"], "Hometown");
        assert!(!f.contains_key("MailingCity"), "{f:?}");
        assert!(!f.values().any(|v| v == "Otherville"), "never converted: {f:?}");
        // Read back as written: home stays home.
        let row = obj(json!({"Id": "003000000000001AAA", "LastName": "X", "OtherCity": "Hometown",
            "MailingCity": "Worktown"}));
        let Record::Contact(c) = m.contact(&row).unwrap() else { panic!() };
        assert_eq!(c.addresses.iter().map(|a| a.kind).collect::<Vec<_>>(), [AddressKind::Work, AddressKind::Home]);
        assert_eq!(c.addresses[1], home);
        let caps = &m.capabilities().contacts;
        assert_eq!(caps.limit(&FieldKey::Address(AddressKind::Work)).unwrap().max_items, Some(1));
        assert_eq!(caps.limit(&FieldKey::Address(AddressKind::Home)).unwrap().max_items, Some(1));
        assert!(!caps.supports(&FieldKey::Address(AddressKind::Other)));
        // Configured: Mailing holds home, Other is off.
        let only_home = Mapping::new(
            false,
            vec![],
            vec![],
            "Tandem_Sync_Id__c".into(),
            AddressMapping { mailing: AddressSlot::Home, other: AddressSlot::Off },
        );
        let Record::Contact(c) = only_home.contact(&row).unwrap() else { panic!() };
        assert_eq!(
            c.addresses,
            [PostalAddress { kind: AddressKind::Home, city: Some("Worktown".into()), ..Default::default() }]
        );
        let caps = &only_home.capabilities().contacts;
        assert!(caps.supports(&FieldKey::Address(AddressKind::Home)));
        assert!(!caps.supports(&FieldKey::Address(AddressKind::Work)));
        assert!(!caps.supports(&FieldKey::Address(AddressKind::Other)));
        let f = only_home.patch_fields(ObjectKind::Contact, &[change(AddressKind::Home, &home)], "UTC").unwrap();
        assert_eq!(f["MailingCity"], "Hometown");
        assert!(!f.contains_key("OtherCity"), "{f:?}");
        let off = Mapping::new(
            false,
            vec![],
            vec![],
            "Tandem_Sync_Id__c".into(),
            AddressMapping { mailing: AddressSlot::Off, other: AddressSlot::Off },
        );
        assert!(AddressKind::ALL.iter().all(|k| !off.capabilities().contacts.supports(&FieldKey::Address(*k))));
    }

    #[test]
    fn exception_rows_fold_into_their_series() {
        let m = mapping();
        let series = obj(json!({
            "Id": "00U000000000001AAA", "IsAllDayEvent": false, "IsRecurrence2": true, "Subject": "Standup",
            "StartDateTime": "2026-01-05T08:00:00.000+0000", "EndDateTime": "2026-01-05T08:30:00.000+0000",
            "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", "Recurrence2PatternTimeZone": "Europe/Paris"
        }));
        // The second Monday moved two hours later, in an exception row pointing at the series.
        let moved = obj(json!({
            "Id": "00U000000000002AAA", "IsAllDayEvent": false, "IsRecurrence2": true,
            "IsRecurrence2Exception": true, "RecurrenceActivityId": "00U000000000001AAA", "Subject": "Standup",
            "StartDateTime": "2026-01-12T10:00:00.000+0000", "EndDateTime": "2026-01-12T10:30:00.000+0000",
            "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6"
        }));
        assert_eq!(series_of(&moved).as_deref(), Some("00U000000000001AAA"));
        assert_eq!(series_of(&series), None);
        let Record::Event(mut e) = m.event(&series, "UTC", vec![]).unwrap() else { panic!() };
        let Record::Event(x) = m.event(&moved, "UTC", vec![]).unwrap() else { panic!() };
        fold_overrides(&mut e, &[x]).unwrap();
        let at = |day, h| EventTime::Zoned {
            local: NaiveDate::from_ymd_opt(2026, 1, day).unwrap().and_hms_opt(h, 0, 0).unwrap(),
            zone: "Europe/Paris".into(),
        };
        let r = e.recurrence.unwrap();
        assert_eq!(r.overrides.len(), 1);
        let ov = &r.overrides[&at(12, 9)];
        assert_eq!(ov.subject, None, "equal to the series' reads as inherited");
        let end = EventTime::Zoned {
            local: NaiveDate::from_ymd_opt(2026, 1, 12).unwrap().and_hms_opt(11, 30, 0).unwrap(),
            zone: "Europe/Paris".into(),
        };
        assert_eq!(ov.timing, Some(EventTiming { start: at(12, 11), end }));
    }

    #[test]
    fn attendees_from_relations() {
        let row = obj(json!({"EventId": "00U000000000001AAA", "Status": "Accepted",
            "Relation": {"attributes": {"type": "Name"}, "Name": "Grace Hopper", "Email": "grace@example.com"}}));
        let a = attendee(&row).unwrap();
        assert_eq!(a.email, "grace@example.com");
        assert_eq!(a.response, ResponseStatus::Accepted);
        assert!(attendee(&obj(json!({"Relation": {"Name": "No Mail"}}))).is_none());
    }

    #[test]
    fn capabilities_declare_salesforce_limits() {
        let m = mapping();
        let caps = m.capabilities();
        assert_eq!(caps.contacts.limit(&FieldKey::FamilyName).unwrap().max_len, Some(80));
        assert!(caps.contacts.limit(&FieldKey::FamilyName).unwrap().required);
        assert!(caps.contacts.writable(&FieldKey::Company));
        assert!(caps.events.writable(&FieldKey::attendee("ada@example.com")));
        let read_only = mapping().with_account_matching(false);
        assert!(
            read_only.capabilities().contacts.supports(&FieldKey::Company)
                && !read_only.capabilities().contacts.writable(&FieldKey::Company)
        );
        assert!(!caps.contacts.supports(&FieldKey::Phone(PhoneKind::HomeFax)));
        assert_eq!(caps.contacts.limit(&FieldKey::Custom("Region__c".into())).unwrap().max_len, Some(20));
        assert_eq!(caps.events.max_event_minutes, Some(20_160));
        assert_eq!(caps.events.max_batch, 200);
        assert!(caps.events.writable(&FieldKey::Attendees));
    }
}
