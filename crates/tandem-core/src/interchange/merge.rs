//! Writing the model into iCalendar and vCard text that someone else wrote: the properties Tandem
//! owns are rewritten from the model, everything else is kept as written.
//!
//! Both mergers work on the unfolded content lines of the existing text (`text::unfold`), never on
//! the `ical` crate's lossy reading of it, and fold what they write at 75 octets like the writers.
//! "Owned" is one list per format ([`OWNED_EVENT`], [`OWNED_CALENDAR`], [`OWNED_CARD`], plus
//! Tandem's own `X-TANDEM-*` properties): the names [`write_icalendar`] / [`write_vcard`] write
//! or [`parse_icalendar`](super::parse_icalendar) / [`parse_vcard`](super::parse_vcard) read into
//! the model. An owned property is replaced wholesale (its parameters too); an unowned one is
//! copied byte for byte, in its original order, after the owned ones of the same component.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::text::{self, ContentWriter, ICALENDAR, VCARD};
use super::{InterchangeError, write_icalendar, write_vcard, zones};
use crate::model::{Contact, Event, EventTime};

/// `VEVENT` properties Tandem owns. Two carry a rule: `STATUS` is owned only with the value
/// `CANCELLED` (which the model cannot hold on a live event; `CONFIRMED`/`TENTATIVE` are kept),
/// and an existing `DTSTAMP` is kept rather than replaced by the writer's clock-less placeholder.
/// `SEQUENCE` is **not** owned: it is kept as written, never bumped — Tandem is not an iTIP
/// organizer, and bumping it would make merging the same event twice change the text twice.
pub(crate) const OWNED_EVENT: &[&str] = &[
    "UID",
    "DTSTAMP",
    "DTSTART",
    "DTEND",
    "DURATION",
    "SUMMARY",
    "LOCATION",
    "DESCRIPTION",
    "CLASS",
    "TRANSP",
    "X-MICROSOFT-CDO-BUSYSTATUS",
    "X-MICROSOFT-CDO-INTENDEDSTATUS",
    "ORGANIZER",
    "ATTENDEE",
    "CATEGORIES",
    "RRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    "STATUS",
];

/// `VCALENDAR` properties Tandem owns (the writer's header).
pub(crate) const OWNED_CALENDAR: &[&str] = &["VERSION", "PRODID", "CALSCALE"];

/// `VCARD` properties Tandem owns. `VERSION` is kept from the existing card when it has one;
/// `X-ABRELATEDNAMES` is owned only when labelled as the assistant (the model's
/// `assistant_name`). A vCard group (`item1.`) holding an owned property is owned as a whole, so
/// Apple's `item1.X-ABLabel` goes with the `item1.TEL` it labels.
pub(crate) const OWNED_CARD: &[&str] = &[
    "VERSION",
    "N",
    "FN",
    "ORG",
    "TITLE",
    "EMAIL",
    "TEL",
    "ADR",
    "BDAY",
    "X-ASSISTANT",
    "X-MS-ASSISTANT",
    "X-EVOLUTION-ASSISTANT",
    "NOTE",
    "X-ABRELATEDNAMES",
];

/// Prefix of Tandem's own properties (custom fields, CRM links), always owned.
const PREFIX: &str = "X-TANDEM-";
/// Parameter on `UID` marking a UID Tandem made up.
const GENERATED: &str = "X-TANDEM-GENERATED";

/// One unfolded content line.
#[derive(Debug, Clone)]
struct Line {
    /// The line as written (unfolded).
    raw: String,
    /// The property name, upper-cased, without a group.
    name: String,
    /// The vCard group, upper-cased.
    group: Option<String>,
    /// Byte index of the end of the name (with group).
    name_end: usize,
    /// Byte index of the first byte of the value.
    value_start: usize,
}

impl Line {
    fn parse(raw: String, line_no: usize) -> Result<Line, InterchangeError> {
        let parts = text::split_content_line(&raw).ok_or_else(|| InterchangeError::Parse {
            line: Some(line_no),
            message: "expected a content line `NAME[;PARAM=...]:value`".to_owned(),
        })?;
        let full = &raw[..parts.name_end];
        let (group, name) = match full.rsplit_once('.') {
            Some((group, name)) => (Some(group.to_ascii_uppercase()), name.to_ascii_uppercase()),
            None => (None, full.to_ascii_uppercase()),
        };
        Ok(Line { name, group, name_end: parts.name_end, value_start: parts.value_start, raw })
    }

    fn value(&self) -> &str {
        &self.raw[self.value_start..]
    }

    /// The first parameter `key` (upper-case), unquoted and RFC 6868-decoded.
    fn param(&self, key: &str) -> Option<String> {
        let params = self.raw.get(self.name_end..self.value_start.saturating_sub(1))?;
        let mut quoted = false;
        let mut start = 0;
        let mut found = None;
        let mut check = |piece: &str| {
            if found.is_none()
                && let Some((k, v)) = piece.split_once('=')
                && k.trim().eq_ignore_ascii_case(key)
            {
                found = Some(text::decode_param(v.trim().trim_matches('"')));
            }
        };
        for (i, c) in params.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ';' if !quoted => {
                    check(&params[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        check(&params[start..]);
        found
    }

    fn write(&self, w: &mut ContentWriter) {
        // `line` adds the colon back; the name part already holds the parameters as written.
        w.line(&self.raw[..self.value_start.saturating_sub(1)], &[], self.value());
    }
}

/// A component with its properties and sub-components, in document order.
#[derive(Debug, Clone, Default)]
struct Component {
    name: String,
    lines: Vec<Line>,
    children: Vec<Component>,
}

impl Component {
    fn get(&self, name: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.name == name)
    }

    fn write(&self, w: &mut ContentWriter) {
        w.line("BEGIN", &[], &self.name);
        for line in &self.lines {
            line.write(w);
        }
        for child in &self.children {
            child.write(w);
        }
        w.line("END", &[], &self.name);
    }

    /// The `TZID`s this component and its sub-components reference.
    fn tzids(&self, into: &mut HashSet<String>) {
        for line in &self.lines {
            if let Some(tzid) = line.param("TZID") {
                into.insert(tzid_key(&tzid).to_owned());
            }
        }
        for child in &self.children {
            child.tzids(into);
        }
    }

    /// The `UID`, unescaped and trimmed.
    fn uid(&self) -> Option<String> {
        self.get("UID").map(|l| text::unescape(l.value()).trim().to_owned())
    }
}

fn tzid_key(tzid: &str) -> &str {
    tzid.trim().trim_matches('"').trim()
}

/// Reads text into its top-level components, after the same structure check the parsers make.
fn components(input: &str, dialect: &text::Dialect) -> Result<Vec<Component>, InterchangeError> {
    text::prepare(input, dialect)?;
    let input = input.strip_prefix('\u{FEFF}').unwrap_or(input);
    let mut roots = Vec::new();
    let mut stack: Vec<Component> = Vec::new();
    let error = |line: usize, message: &str| InterchangeError::Parse { line: Some(line), message: message.to_owned() };
    for (line_no, raw) in text::unfold(input) {
        let line = Line::parse(raw.into_owned(), line_no)?;
        let component = || line.value().trim().to_ascii_uppercase();
        if line.group.is_none() && line.name == "BEGIN" {
            stack.push(Component { name: component(), ..Component::default() });
        } else if line.group.is_none() && line.name == "END" {
            let done = stack.pop().filter(|c| c.name == component()).ok_or_else(|| error(line_no, "unbalanced END"))?;
            match stack.last_mut() {
                Some(parent) => parent.children.push(done),
                None => roots.push(done),
            }
        } else {
            stack.last_mut().ok_or_else(|| error(line_no, "property outside of a component"))?.lines.push(line);
        }
    }
    match stack.pop() {
        Some(open) => {
            Err(InterchangeError::Parse { line: None, message: format!("BEGIN:{} is never closed", open.name) })
        }
        None => Ok(roots),
    }
}

/// Whether Tandem owns `line` of a `VEVENT`.
fn event_owns(line: &Line) -> bool {
    if line.name.starts_with(PREFIX) {
        return true;
    }
    match line.name.as_str() {
        "STATUS" => line.value().trim().eq_ignore_ascii_case("CANCELLED"),
        name => OWNED_EVENT.contains(&name),
    }
}

/// A `RECURRENCE-ID` as something comparable across zones and spellings.
#[derive(Debug, PartialEq, Eq)]
enum TimeKey {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
    Text(String),
}

fn time_key(line: &Line, declared: &HashMap<String, String>) -> TimeKey {
    let value = line.value().trim();
    let is_date = line.param("VALUE").is_some_and(|v| v.trim().eq_ignore_ascii_case("DATE"));
    if (is_date || value.len() == 8)
        && let Ok(date) = NaiveDate::parse_from_str(value, "%Y%m%d")
    {
        return TimeKey::Date(date);
    }
    let (body, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(body) => (body, true),
        None => (value, false),
    };
    let Ok(local) = NaiveDateTime::parse_from_str(&body.to_ascii_uppercase(), "%Y%m%dT%H%M%S") else {
        return TimeKey::Text(value.to_owned());
    };
    let zone = match line.param("TZID") {
        Some(tzid) if !utc => {
            let key = tzid_key(&tzid);
            declared.get(key).cloned().or_else(|| zones::resolve(key)).unwrap_or_else(|| "UTC".to_owned())
        }
        _ => "UTC".to_owned(),
    };
    match (EventTime::Zoned { local, zone }).instant() {
        Some(instant) => TimeKey::Instant(instant),
        None => TimeKey::Text(value.to_owned()),
    }
}

/// The zones existing `VTIMEZONE`s declare, resolved as the parser does.
fn declared_zones(timezones: &[&Component]) -> HashMap<String, String> {
    let mut declared = HashMap::new();
    for tz in timezones {
        let Some(tzid) = tz.get("TZID").map(|l| text::unescape(l.value())) else {
            continue;
        };
        let zone = zones::resolve(&tzid).or_else(|| {
            tz.lines
                .iter()
                .filter(|l| l.name == "X-LIC-LOCATION")
                .find_map(|l| zones::resolve(&text::unescape(l.value())))
        });
        if let Some(zone) = zone {
            declared.insert(tzid_key(&tzid).to_owned(), zone);
        }
    }
    declared
}

/// Writes `event` (one series: master and overrides, as [`write_icalendar`] writes it) into
/// `existing`, keeping everything Tandem does not own.
///
/// - Calendar level: `VERSION`, `PRODID` and `CALSCALE` are Tandem's; other properties (`METHOD`,
///   `X-WR-CALNAME`, ...) are kept; `VTIMEZONE`s are kept when something in the output still
///   references their `TZID`; other components (`VTODO`, `VJOURNAL`, unknown ones) and
///   `VEVENT`s of other UIDs are kept as written, after the series.
/// - The series is the existing `VEVENT`s with the event's `UID`, or, when none has it, with the
///   first `VEVENT`'s `UID`. Each written `VEVENT` is matched to an existing one by
///   `RECURRENCE-ID` (compared as instants, whatever the zone or spelling) and keeps that one's
///   unowned properties (`X-` properties, `ATTACH`, `SEQUENCE`, unknown IANA properties) and all
///   its sub-components (`VALARM`, ...). Existing overrides the model no longer has are dropped.
/// - An existing `DTSTAMP` is kept; an event without `ical_uid` keeps an existing generated
///   `UID` (`X-TANDEM-GENERATED`), so that its `UID` does not change with its content.
///
/// [`parse_icalendar`](super::parse_icalendar) of the result gives `event` back.
///
/// # Errors
///
/// [`InterchangeError::Parse`] when `existing` is not well-formed iCalendar.
pub fn merge_icalendar(existing: &str, event: &Event) -> Result<String, InterchangeError> {
    let old_roots = components(existing, &ICALENDAR)?;
    let written = write_icalendar(std::slice::from_ref(event));
    // Nothing of `existing` to keep (no component, no property but the writer's header, as in
    // every new item): the merge is the writer's output, without reading it back and writing it
    // again (a tenth of a 10,000-event first sync into a folder). The property test
    // `a_merge_into_nothing_is_the_writers_output` holds the general path to the same text.
    if old_roots
        .iter()
        .all(|root| root.children.is_empty() && root.lines.iter().all(|l| OWNED_CALENDAR.contains(&l.name.as_str())))
    {
        return Ok(written);
    }
    merge_written(&old_roots, &written, event)
}

/// The general case of [`merge_icalendar`]: `written` (the writer's text of `event`) merged into
/// the components of the existing text.
fn merge_written(old_roots: &[Component], written: &str, event: &Event) -> Result<String, InterchangeError> {
    let new_cal = components(written, &ICALENDAR)?.into_iter().next().unwrap_or_default();

    let old_lines: Vec<&Line> = old_roots.iter().flat_map(|c| &c.lines).collect();
    let old_children: Vec<&Component> = old_roots.iter().flat_map(|c| &c.children).collect();
    let timezones: Vec<&Component> = old_children.iter().copied().filter(|c| c.name == "VTIMEZONE").collect();
    let declared = declared_zones(&timezones);

    let new_uid = new_cal.children.first().and_then(Component::uid);
    let old_events: Vec<&Component> = old_children.iter().copied().filter(|c| c.name == "VEVENT").collect();
    let series_uid = old_events
        .iter()
        .find(|c| c.uid().is_some() && c.uid() == new_uid)
        .or_else(|| old_events.first())
        .and_then(|c| c.uid());
    let in_series = |c: &Component| c.name == "VEVENT" && c.uid() == series_uid;
    let mut series: Vec<(TimeKey, Option<&Component>)> = old_events
        .iter()
        .copied()
        .filter(|c| in_series(c))
        .map(|c| {
            (c.get("RECURRENCE-ID").map(|l| time_key(l, &declared)).unwrap_or(TimeKey::Text(String::new())), Some(c))
        })
        .collect();
    // Keep a generated UID stable across merges: the model says "no UID" either way.
    let kept_uid = (event.ical_uid.as_deref().is_none_or(str::is_empty))
        .then(|| series.iter().find_map(|(_, c)| c.and_then(|c| c.get("UID"))))
        .flatten()
        .filter(|l| l.param(GENERATED).is_some())
        .cloned();

    let mut merged_events = Vec::new();
    for new in &new_cal.children {
        let key = new.get("RECURRENCE-ID").map(|l| time_key(l, &declared)).unwrap_or(TimeKey::Text(String::new()));
        let old = series.iter_mut().find(|(k, c)| c.is_some() && *k == key).and_then(|(_, c)| c.take());
        let mut out = Component { name: new.name.clone(), ..Component::default() };
        for line in &new.lines {
            let replacement = match line.name.as_str() {
                "UID" => kept_uid.as_ref(),
                "DTSTAMP" => old.and_then(|o| o.get("DTSTAMP")),
                _ => None,
            };
            out.lines.push(replacement.unwrap_or(line).clone());
        }
        if let Some(old) = old {
            out.lines.extend(old.lines.iter().filter(|l| !event_owns(l)).cloned());
            out.children.extend(old.children.iter().cloned());
        }
        merged_events.push(out);
    }

    let mut calendar = Component { name: "VCALENDAR".to_owned(), ..Component::default() };
    calendar.lines.extend(new_cal.lines.iter().cloned());
    calendar.lines.extend(old_lines.into_iter().filter(|l| !OWNED_CALENDAR.contains(&l.name.as_str())).cloned());
    let others: Vec<Component> =
        old_children.iter().filter(|c| c.name != "VTIMEZONE" && !in_series(c)).map(|c| (*c).clone()).collect();
    let mut referenced = HashSet::new();
    calendar.tzids(&mut referenced);
    for c in merged_events.iter().chain(&others) {
        c.tzids(&mut referenced);
    }
    calendar.children.extend(
        timezones
            .into_iter()
            .filter(|tz| tz.get("TZID").is_some_and(|l| referenced.contains(tzid_key(&text::unescape(l.value())))))
            .cloned(),
    );
    calendar.children.extend(merged_events);
    calendar.children.extend(others);

    let mut w = ContentWriter::default();
    calendar.write(&mut w);
    Ok(w.finish())
}

/// Whether an `X-ABRELATEDNAMES` line names the assistant, by its `TYPE` or its group's label.
fn is_assistant(line: &Line, labels: &HashMap<String, String>) -> bool {
    let typed = line.param("TYPE").is_some_and(|t| t.split(',').any(|t| t.trim().eq_ignore_ascii_case("assistant")));
    let labelled = line.group.as_ref().and_then(|g| labels.get(g)).is_some_and(|l| {
        let l = l.trim();
        l.strip_prefix("_$!<").and_then(|l| l.strip_suffix(">!$_")).unwrap_or(l).eq_ignore_ascii_case("assistant")
    });
    typed || labelled
}

/// Whether Tandem owns `line` of a `VCARD` (without the group rule).
fn card_owns(line: &Line, labels: &HashMap<String, String>) -> bool {
    if line.name.starts_with(PREFIX) {
        return true;
    }
    match line.name.as_str() {
        "X-ABRELATEDNAMES" => is_assistant(line, labels),
        name => OWNED_CARD.contains(&name),
    }
}

/// Writes `contact` into the vCard `existing`, keeping everything Tandem does not own.
///
/// The first `VCARD` of `existing` is the contact's: its `VERSION` is kept (the writer's `3.0`
/// when it has none), the properties Tandem owns (`N`, `FN`, `ORG`, `TITLE`, `EMAIL`, `TEL`, `ADR`,
/// `BDAY`, `NOTE`, the assistant's name, `X-TANDEM-*`) are replaced by what
/// [`write_vcard`] writes, everything else (`UID`, `PHOTO`, `URL`, `X-` properties, unknown
/// properties, groups such as `item2.URL` with `item2.X-ABLabel` whose property Tandem does not
/// own) is kept as written, after the owned properties. Further `VCARD`s are kept as written.
///
/// [`parse_vcard`](super::parse_vcard) of the result gives `contact` back.
///
/// # Errors
///
/// [`InterchangeError::Parse`] when `existing` is not well-formed vCard.
pub fn merge_vcard(existing: &str, contact: &Contact) -> Result<String, InterchangeError> {
    let mut old_cards = components(existing, &VCARD)?.into_iter();
    let old = old_cards.next().unwrap_or_default();
    let written = write_vcard(std::slice::from_ref(contact));
    let new = components(&written, &VCARD)?.into_iter().next().unwrap_or_default();

    let labels: HashMap<String, String> = old
        .lines
        .iter()
        .filter(|l| l.name == "X-ABLABEL")
        .filter_map(|l| l.group.clone().map(|g| (g, text::unescape(l.value()))))
        .collect();
    let owned_groups: HashSet<&str> =
        old.lines.iter().filter(|l| card_owns(l, &labels)).filter_map(|l| l.group.as_deref()).collect();
    let kept = |l: &&Line| !card_owns(l, &labels) && l.group.as_deref().is_none_or(|g| !owned_groups.contains(g));

    let mut card = Component { name: "VCARD".to_owned(), ..Component::default() };
    card.lines.extend(old.get("VERSION").or_else(|| new.get("VERSION")).cloned());
    card.lines.extend(new.lines.iter().filter(|l| l.name != "VERSION").cloned());
    card.lines.extend(old.lines.iter().filter(kept).cloned());
    card.children = old.children;

    let mut w = ContentWriter::default();
    card.write(&mut w);
    for other in old_cards {
        other.write(&mut w);
    }
    Ok(w.finish())
}

#[cfg(test)]
mod tests;
