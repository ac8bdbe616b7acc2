//! [`GraphState::import_from_ews`]: the same mailbox content behind both fakes, as one Exchange
//! Online mailbox is reachable over EWS and over Graph.
//!
//! Every contacts folder of the EWS mailbox becomes a contact folder of the Graph mailbox with
//! the same display name (the distinguished `contacts` folder is the default folder), every
//! contact in them a Graph contact, every item of the `calendar` folder an event. Ids follow the
//! scheme the two fakes share ([`super::translate`]): the Graph (immutable) id of an item is what
//! `translateExchangeIds` answers for its `EwsId` with `targetIdType: restImmutableEntryId`.
//!
//! Properties carry over as the same MAPI properties read through Graph would:
//!
//! | EWS | Graph |
//! | --- | --- |
//! | `GivenName`, `MiddleName`, `Surname`, `DisplayName`, `CompanyName`, `JobTitle`, `Department`, `AssistantName`, `FileAs` | `givenName`, `middleName`, `surname`, `displayName`, `companyName`, `jobTitle`, `department`, `assistantName`, `fileAs` |
//! | contact `Body` | `personalNotes` (the contact's notes) |
//! | `EmailAddresses` (`EmailAddress1..3`) | `emailAddresses` in key order |
//! | `PhoneNumbers` (`BusinessPhone`, `BusinessPhone2`, `HomePhone`, `HomePhone2`, `MobilePhone`) | `businessPhones`, `homePhones`, `mobilePhone` (Graph has no other phone slots) |
//! | `PhysicalAddresses` (`Business`, `Home`, `Other`) | `businessAddress`, `homeAddress`, `otherAddress` |
//! | `Birthday` | `birthday` (the same instant) |
//! | `Categories` | `categories` |
//! | `Subject`, `Body` (`BodyType`), `Location` | `subject`, `body` (`contentType`), `location.displayName` |
//! | `Start`/`End` (UTC) with `StartTimeZone`/`EndTimeZone` | `start`/`end` in that zone (the zone kept as `originalStartTimeZone`) |
//! | `IsAllDayEvent`, `LegacyFreeBusyStatus`, `Sensitivity` | `isAllDay`, `showAs`, `sensitivity` |
//! | `Organizer`, `RequiredAttendees`, `OptionalAttendees`, `Resources` | `organizer`, `attendees` (`type`, `status.response`) |
//! | `UID` | `iCalUId` |
//! | `Recurrence` | `recurrence` (pattern, range, `recurrenceTimeZone`) |
//! | `ModifiedOccurrences`, `DeletedOccurrences` | exceptions and cancellations keyed by the occurrence's original date |
//! | `ExtendedProperty` (`PropertySetId`, `PropertyName`, `PropertyType`) | `singleValueExtendedProperties` (`String {guid} Name X`), so a sync key written over EWS reads over Graph |

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::GraphState;
use super::data::{ContactRec, EventRec, ExceptionRec, ExtProps, Folder, new_change_key};
use super::translate::immutable_of_ews;
use super::util::{format_local, resolve_tz};
use crate::compact::CompactJson;
use crate::ews::ids::{self, Format, Kind};
use crate::ews::xml::Element;
use crate::ews::{EwsFake, ItemKind, recur};

/// What [`GraphState::import_from_ews`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EwsImport {
    /// Contact folders (the default one included).
    pub folders: usize,
    /// Contacts.
    pub contacts: usize,
    /// Events (single events and series masters).
    pub events: usize,
}

impl GraphState {
    /// Copies the contacts folders and the calendar of `mailbox` in `ews` into the Graph mailbox
    /// of the same address (added when missing), so that both fakes hold the same content, with
    /// Graph ids derived from the EWS ids (see the module documentation of
    /// `tandem_testkit::graph` and `translateExchangeIds`). Items already imported are replaced.
    ///
    /// # Errors
    ///
    /// The EWS fake has no such mailbox, or an item cannot be expressed in Graph (an unreadable
    /// time, zone or recurrence).
    pub fn import_from_ews(&self, ews: &EwsFake, mailbox: &str) -> Result<EwsImport, String> {
        let smtp = mailbox.to_lowercase();
        let source = ews.lock().mailboxes.get(&smtp).cloned().ok_or_else(|| format!("no EWS mailbox `{mailbox}`"))?;
        let mut data = self.lock();
        let key = match data.mailbox_key(&smtp) {
            Some(k) => k,
            None => {
                data.add_mailbox(&smtp, &source.display);
                data.mailbox_key(&smtp).ok_or("the mailbox could not be added")?
            }
        };
        let upn = data.mailbox(&key).map_err(|e| e.message.clone())?.upn.clone();
        let display = data.mailbox(&key).map_err(|e| e.message.clone())?.display_name.clone();
        let ews_id = |kind: Kind, num: u64| ids::encode(&source.raw(kind, num), Format::EwsId);
        let graph_id = |kind: Kind, num: u64| {
            immutable_of_ews(&ews_id(kind, num)).ok_or_else(|| format!("item {num} has no translatable id"))
        };
        let mut summary = EwsImport::default();

        // Contact folders.
        let contacts_root = source.distinguished("contacts");
        let mut folders: BTreeMap<u64, String> = BTreeMap::new();
        for f in source.folders.values().filter(|f| f.element == "ContactsFolder") {
            let id = graph_id(Kind::Folder, f.num)?;
            let m = data.mailbox_mut(&key).map_err(|e| e.message.clone())?;
            if Some(f.num) == contacts_root {
                if m.contacts.values().any(|c| c.folder == m.default_folder && c.folder != id) {
                    // Keep the default folder's id: contacts already live there.
                    folders.insert(f.num, m.default_folder.clone());
                } else {
                    m.default_folder = id.clone();
                    folders.insert(f.num, id);
                }
            } else {
                m.folders.retain(|_, g| !g.display_name.eq_ignore_ascii_case(&f.name) || g.id == id);
                let parent = m.default_folder.clone();
                m.folders.insert(id.clone(), Folder { id: id.clone(), display_name: f.name.clone(), parent });
                folders.insert(f.num, id);
            }
            summary.folders += 1;
        }

        // Contacts and events.
        let calendar = source.distinguished("calendar");
        for item in source.items.values() {
            let id = graph_id(Kind::Item, item.num)?;
            let seq = data.tick();
            let ext = extended(&item.extended);
            match item.kind {
                ItemKind::Contact => {
                    let Some(folder) = folders.get(&item.folder) else { continue };
                    let rec = ContactRec {
                        id: id.clone(),
                        change_key: new_change_key(),
                        created: item.created,
                        modified: item.modified,
                        seq,
                        deleted_seq: None,
                        folder: folder.clone(),
                        data: CompactJson::new(
                            &contact_json(&item.props)
                                .map_err(|e| format!("contact {}: {e}", ews_id(Kind::Item, item.num)))?,
                        ),
                        ext,
                    };
                    data.mailbox_mut(&key).map_err(|e| e.message.clone())?.contacts.insert(id, rec);
                    summary.contacts += 1;
                }
                ItemKind::CalendarItem => {
                    if Some(item.folder) != calendar {
                        continue;
                    }
                    let context = || format!("event {}", ews_id(Kind::Item, item.num));
                    let mut json =
                        event_json(&item.props, &upn, &display).map_err(|e| format!("{}: {e}", context()))?;
                    let mut exceptions = BTreeMap::new();
                    let mut cancelled = BTreeMap::new();
                    if let Some(r) = item.props.iter().find(|p| p.name == "Recurrence") {
                        let (zone_name, tz) = start_zone(&item.props)?;
                        json.insert(
                            "recurrence".into(),
                            recurrence_json(r, &zone_name).map_err(|e| format!("{}: {e}", context()))?,
                        );
                        let date_of = |index: u32| -> Result<NaiveDate, String> {
                            let (start, _) = recur::occurrence(&item.props, index)
                                .ok_or_else(|| format!("{}: occurrence {index} out of range", context()))?;
                            Ok(start.with_timezone(&tz).date_naive())
                        };
                        for (index, props) in &item.exceptions {
                            let mut x = event_json(props, &upn, &display).map_err(|e| format!("{}: {e}", context()))?;
                            x.remove("recurrence");
                            x.remove("organizer");
                            x.remove("isOrganizer");
                            exceptions.insert(
                                date_of(*index)?,
                                ExceptionRec { change_key: new_change_key(), seq, modified: item.modified, data: x },
                            );
                        }
                        for index in &item.deleted {
                            cancelled.insert(date_of(*index)?, seq);
                        }
                    }
                    let ical_uid = item
                        .props
                        .iter()
                        .find(|p| p.name == "UID")
                        .map(|p| p.text.trim().to_owned())
                        .unwrap_or_else(|| format!("{:016X}{:016X}", item.num, source.smtp.len()));
                    let transaction_id = ext.iter().next().map(|(_, v)| v.clone());
                    let rec = EventRec {
                        id: id.clone(),
                        change_key: new_change_key(),
                        created: item.created,
                        modified: item.modified,
                        seq,
                        deleted_seq: None,
                        data: CompactJson::new(&json),
                        transaction_id,
                        ical_uid,
                        ext,
                        exceptions,
                        cancelled,
                    };
                    data.mailbox_mut(&key).map_err(|e| e.message.clone())?.events.insert(id, rec);
                    summary.events += 1;
                }
            }
        }
        Ok(summary)
    }
}

fn text(props: &[Element], name: &str) -> Option<String> {
    props.iter().find(|p| p.name == name).map(|p| p.text.trim().to_owned()).filter(|t| !t.is_empty())
}

fn prop<'a>(props: &'a [Element], name: &str) -> Option<&'a Element> {
    props.iter().find(|p| p.name == name)
}

fn entry<'a>(dict: Option<&'a Element>, key: &str) -> Option<&'a Element> {
    dict?.children.iter().find(|e| e.name == "Entry" && e.attr("Key") == Some(key))
}

fn entry_text(dict: Option<&Element>, key: &str) -> Option<String> {
    entry(dict, key).map(|e| e.text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Extended properties as Graph names them: `String {guid} Name X`, `… Id 0x…`, or a tag.
fn extended(list: &[Element]) -> ExtProps {
    let mut out = ExtProps::default();
    for e in list {
        let Some(uri) = e.child("ExtendedFieldURI") else { continue };
        let ty = uri.attr("PropertyType").unwrap_or("String");
        let set = uri.attr("PropertySetId").map(|g| format!("{{{}}}", g.trim_matches(|c| c == '{' || c == '}')));
        let id = match (set, uri.attr("PropertyName"), uri.attr("PropertyId"), uri.attr("PropertyTag")) {
            (Some(set), Some(name), _, _) => format!("{ty} {set} Name {name}"),
            (Some(set), None, Some(num), _) => format!("{ty} {set} Id {num}"),
            (_, _, _, Some(tag)) => format!("{ty} {tag}"),
            _ => continue,
        };
        out.insert(id, e.child_text("Value").unwrap_or_default().to_owned());
    }
    out
}

fn categories(props: &[Element]) -> Option<Value> {
    prop(props, "Categories").map(|c| {
        Value::Array(
            c.children_named("String").map(|s| s.text.trim()).filter(|s| !s.is_empty()).map(|s| json!(s)).collect(),
        )
    })
}

/// A `t:Contact`'s properties as a Graph contact.
fn contact_json(props: &[Element]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (ews, graph) in [
        ("GivenName", "givenName"),
        ("MiddleName", "middleName"),
        ("Surname", "surname"),
        ("DisplayName", "displayName"),
        ("CompanyName", "companyName"),
        ("JobTitle", "jobTitle"),
        ("Department", "department"),
        ("AssistantName", "assistantName"),
        ("FileAs", "fileAs"),
        ("Body", "personalNotes"),
        ("Nickname", "nickName"),
        ("Generation", "generation"),
        ("Initials", "initials"),
        ("OfficeLocation", "officeLocation"),
        ("Profession", "profession"),
        ("Manager", "manager"),
        ("SpouseName", "spouseName"),
    ] {
        if let Some(v) = text(props, ews) {
            out.insert(graph.into(), json!(v));
        }
    }
    let emails = prop(props, "EmailAddresses");
    let list: Vec<Value> = ["EmailAddress1", "EmailAddress2", "EmailAddress3"]
        .iter()
        .filter_map(|k| entry(emails, k))
        .filter(|e| !e.text.trim().is_empty())
        .map(|e| json!({"name": e.attr("Name").unwrap_or(e.text.trim()), "address": e.text.trim()}))
        .collect();
    out.insert("emailAddresses".into(), Value::Array(list));
    let phones = prop(props, "PhoneNumbers");
    let numbers = |keys: &[&str]| -> Value {
        Value::Array(keys.iter().filter_map(|k| entry_text(phones, k)).map(Value::String).collect())
    };
    out.insert("businessPhones".into(), numbers(&["BusinessPhone", "BusinessPhone2"]));
    out.insert("homePhones".into(), numbers(&["HomePhone", "HomePhone2"]));
    if let Some(m) = entry_text(phones, "MobilePhone") {
        out.insert("mobilePhone".into(), json!(m));
    }
    let addresses = prop(props, "PhysicalAddresses");
    for (key, graph) in [("Business", "businessAddress"), ("Home", "homeAddress"), ("Other", "otherAddress")] {
        if let Some(a) = entry(addresses, key) {
            let part = |n: &str| a.child_text(n).unwrap_or_default().to_owned();
            out.insert(
                graph.into(),
                json!({"street": part("Street"), "city": part("City"), "state": part("State"),
                       "countryOrRegion": part("CountryOrRegion"), "postalCode": part("PostalCode")}),
            );
        }
    }
    if let Some(b) = text(props, "Birthday") {
        let t = recur::parse_time(&b).ok_or_else(|| format!("invalid Birthday `{b}`"))?;
        out.insert("birthday".into(), json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()));
    }
    if let Some(c) = categories(props) {
        out.insert("categories".into(), c);
    }
    Ok(out)
}

/// The zone of a calendar item's start: (the name as EWS holds it, the zone).
fn start_zone(props: &[Element]) -> Result<(String, Tz), String> {
    zone(props, "StartTimeZone")
}

fn zone(props: &[Element], name: &str) -> Result<(String, Tz), String> {
    match prop(props, name).and_then(|z| z.attr("Id")) {
        Some(id) => Ok((id.to_owned(), resolve_tz(id).ok_or_else(|| format!("unknown time zone `{id}`"))?)),
        None => Ok(("UTC".to_owned(), chrono_tz::UTC)),
    }
}

fn time(props: &[Element], name: &str) -> Result<DateTime<Utc>, String> {
    let t = text(props, name).ok_or_else(|| format!("no {name}"))?;
    recur::parse_time(&t).ok_or_else(|| format!("invalid {name} `{t}`"))
}

fn person(mailbox: &Element) -> Option<Value> {
    let address = mailbox.child_text("EmailAddress").filter(|a| !a.is_empty())?;
    let name = mailbox.child_text("Name").filter(|n| !n.is_empty()).unwrap_or(address);
    Some(json!({"emailAddress": {"name": name, "address": address}}))
}

/// A `t:CalendarItem`'s properties as a Graph event (without its recurrence).
fn event_json(props: &[Element], upn: &str, display: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    if let Some(s) = text(props, "Subject") {
        out.insert("subject".into(), json!(s));
    }
    if let Some(b) = prop(props, "Body") {
        let html = b.attr("BodyType").is_some_and(|t| t.eq_ignore_ascii_case("HTML"));
        out.insert("body".into(), json!({"contentType": if html { "html" } else { "text" }, "content": b.text.trim()}));
    }
    if let Some(l) = text(props, "Location") {
        out.insert("location".into(), json!({"displayName": l}));
    }
    let (start_name, start_tz) = start_zone(props)?;
    let (end_name, end_tz) =
        if prop(props, "EndTimeZone").is_some() { zone(props, "EndTimeZone")? } else { (start_name.clone(), start_tz) };
    let all_day = text(props, "IsAllDayEvent").as_deref() == Some("true");
    let start = time(props, "Start")?;
    let end = time(props, "End")?;
    let (end_name, end_tz) = if all_day { (start_name.clone(), start_tz) } else { (end_name, end_tz) };
    out.insert(
        "start".into(),
        json!({"dateTime": format_local(start.with_timezone(&start_tz).naive_local()), "timeZone": start_name}),
    );
    out.insert(
        "end".into(),
        json!({"dateTime": format_local(end.with_timezone(&end_tz).naive_local()), "timeZone": end_name}),
    );
    out.insert("isAllDay".into(), json!(all_day));
    let show_as = match text(props, "LegacyFreeBusyStatus").as_deref() {
        Some("Free") => "free",
        Some("Tentative") => "tentative",
        Some("OOF") => "oof",
        Some("WorkingElsewhere") => "workingElsewhere",
        Some("NoData") => "unknown",
        _ => "busy",
    };
    out.insert("showAs".into(), json!(show_as));
    let sensitivity = match text(props, "Sensitivity").as_deref() {
        Some("Personal") => "personal",
        Some("Private") => "private",
        Some("Confidential") => "confidential",
        _ => "normal",
    };
    out.insert("sensitivity".into(), json!(sensitivity));
    if let Some(c) = categories(props) {
        out.insert("categories".into(), c);
    }
    let mut attendees = Vec::new();
    for (list, ty) in [("RequiredAttendees", "required"), ("OptionalAttendees", "optional"), ("Resources", "resource")]
    {
        let Some(list) = prop(props, list) else { continue };
        for a in list.children_named("Attendee") {
            let Some(mut p) = a.child("Mailbox").and_then(person) else { continue };
            let response = match a.child_text("ResponseType") {
                Some("Accept") => "accepted",
                Some("Tentative") => "tentativelyAccepted",
                Some("Decline") => "declined",
                Some("Organizer") => "organizer",
                Some("NoResponseReceived") => "notResponded",
                _ => "none",
            };
            if let Some(o) = p.as_object_mut() {
                o.insert("type".into(), json!(ty));
                o.insert("status".into(), json!({"response": response, "time": "0001-01-01T00:00:00Z"}));
            }
            attendees.push(p);
        }
    }
    out.insert("attendees".into(), Value::Array(attendees));
    let organizer = prop(props, "Organizer")
        .and_then(|o| o.child("Mailbox"))
        .and_then(person)
        .unwrap_or_else(|| json!({"emailAddress": {"name": display, "address": upn}}));
    let own =
        organizer.pointer("/emailAddress/address").and_then(Value::as_str).is_none_or(|a| a.eq_ignore_ascii_case(upn));
    out.insert("organizer".into(), organizer);
    out.insert("isOrganizer".into(), json!(own));
    Ok(out)
}

fn day_name(ews: &str) -> Option<&'static str> {
    Some(match ews {
        "Sunday" => "sunday",
        "Monday" => "monday",
        "Tuesday" => "tuesday",
        "Wednesday" => "wednesday",
        "Thursday" => "thursday",
        "Friday" => "friday",
        "Saturday" => "saturday",
        _ => return None,
    })
}

fn days(pattern: &Element) -> Result<Value, String> {
    let text = pattern.child_text("DaysOfWeek").unwrap_or_default();
    let mut out = Vec::new();
    for d in text.split_whitespace() {
        match d {
            "Day" => out.extend(["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]),
            "Weekday" => out.extend(["monday", "tuesday", "wednesday", "thursday", "friday"]),
            "WeekendDay" => out.extend(["saturday", "sunday"]),
            other => out.push(day_name(other).ok_or_else(|| format!("unknown day `{other}`"))?),
        }
    }
    Ok(json!(out))
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    MONTHS.iter().position(|m| *m == name).and_then(|i| u32::try_from(i + 1).ok())
}

fn number(e: &Element, name: &str) -> Result<Option<i64>, String> {
    e.child_text(name).map(|t| t.parse::<i64>().map_err(|_| format!("invalid {name} `{t}`"))).transpose()
}

/// EWS `Recurrence` (pattern, range) as Graph's `patternedRecurrence`.
fn recurrence_json(r: &Element, zone: &str) -> Result<Value, String> {
    let pattern = r
        .children
        .iter()
        .find(|c| c.name.ends_with("Recurrence") && !c.name.contains("End") && c.name != "NumberedRecurrence")
        .ok_or("a Recurrence without a pattern")?;
    let range = r
        .children
        .iter()
        .find(|c| matches!(c.name.as_str(), "NoEndRecurrence" | "EndDateRecurrence" | "NumberedRecurrence"))
        .ok_or("a Recurrence without a range")?;
    let interval = number(pattern, "Interval")?.unwrap_or(1);
    let index = |p: &Element| -> String { p.child_text("DayOfWeekIndex").unwrap_or("First").to_lowercase() };
    let month = |p: &Element| -> Result<u32, String> {
        let m = p.child_text("Month").unwrap_or_default();
        month_number(m).ok_or_else(|| format!("unknown month `{m}`"))
    };
    let first_day = pattern.child_text("FirstDayOfWeek").and_then(day_name).unwrap_or("sunday");
    let p = match pattern.name.as_str() {
        "DailyRecurrence" => json!({"type": "daily", "interval": interval}),
        "WeeklyRecurrence" => {
            json!({"type": "weekly", "interval": interval, "daysOfWeek": days(pattern)?, "firstDayOfWeek": first_day})
        }
        "AbsoluteMonthlyRecurrence" => {
            json!({"type": "absoluteMonthly", "interval": interval, "dayOfMonth": number(pattern, "DayOfMonth")?.unwrap_or(1)})
        }
        "RelativeMonthlyRecurrence" => json!({"type": "relativeMonthly", "interval": interval,
            "daysOfWeek": days(pattern)?, "index": index(pattern)}),
        "AbsoluteYearlyRecurrence" => json!({"type": "absoluteYearly", "interval": 1,
            "dayOfMonth": number(pattern, "DayOfMonth")?.unwrap_or(1), "month": month(pattern)?}),
        "RelativeYearlyRecurrence" => json!({"type": "relativeYearly", "interval": 1,
            "daysOfWeek": days(pattern)?, "index": index(pattern), "month": month(pattern)?}),
        other => return Err(format!("unknown recurrence pattern `{other}`")),
    };
    let date = |name: &str| -> Result<String, String> {
        let t = range.child_text(name).ok_or_else(|| format!("no {name}"))?;
        t.get(..10).map(str::to_owned).ok_or_else(|| format!("invalid {name} `{t}`"))
    };
    let start_date = date("StartDate")?;
    let range = match range.name.as_str() {
        "EndDateRecurrence" => json!({"type": "endDate", "startDate": start_date, "endDate": date("EndDate")?,
            "recurrenceTimeZone": zone, "numberOfOccurrences": 0}),
        "NumberedRecurrence" => json!({"type": "numbered", "startDate": start_date, "endDate": "0001-01-01",
            "recurrenceTimeZone": zone,
            "numberOfOccurrences": number(range, "NumberOfOccurrences")?.unwrap_or(1)}),
        _ => json!({"type": "noEnd", "startDate": start_date, "endDate": "0001-01-01",
            "recurrenceTimeZone": zone, "numberOfOccurrences": 0}),
    };
    Ok(json!({"pattern": p, "range": range}))
}
