//! Storing items: new items from a client's XML, seeding, touching and editing occurrences, and
//! resolving item ids to what they name.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;

use super::folders::resolve_folder_name;
use super::item_schema::{SERVER_SET, position};
use super::render::synthesize;
use super::response::{MsgError, err};
use crate::ews::ids::{self, Format, Kind};
use crate::ews::recur;
use crate::ews::xml::{Element, NS_T};
use crate::ews::{Data, Item, ItemKind, Mailbox};

/// Makes occurrence `index` of master `num` an exception with `field` set or removed.
pub(crate) fn edit_occurrence(
    d: &mut Data,
    smtp: &str,
    num: u64,
    index: u32,
    field: &str,
    value: Option<&str>,
    seq: u64,
) -> Result<(), String> {
    let m = d.mailboxes.get(smtp).ok_or("no such mailbox")?;
    let master = m.items.get(&num).ok_or("no such item")?;
    if master.deleted.contains(&index) {
        return Err("occurrence deleted".to_owned());
    }
    let (mut occ, _) = synthesize(m, master, index).ok_or("no such occurrence")?;
    occ.props.retain(|p| p.name != field);
    if let Some(v) = value {
        occ.props.push(Element::t(field).with_text(v));
    }
    let m = d.mailboxes.get_mut(smtp).ok_or("no such mailbox")?;
    let master = m.items.get_mut(&num).ok_or("no such item")?;
    master.exceptions.insert(index, occ.props);
    touch(master, seq);
    Ok(())
}

pub(crate) fn touch(item: &mut Item, seq: u64) {
    item.version += 1;
    item.seq = seq;
    item.modified = Utc::now();
}

/// Splits a client's item element into stored properties and extended properties.
pub(super) fn item_from(kind: ItemKind, el: &Element) -> Result<(Vec<Element>, Vec<Element>), String> {
    let mut props = Vec::new();
    let mut ext = Vec::new();
    for c in &el.children {
        if c.name == "ExtendedProperty" {
            if c.child("ExtendedFieldURI").is_none() {
                return Err("ExtendedFieldURI is missing.".to_owned());
            }
            ext.push(c.clone());
            continue;
        }
        if position(kind, &c.name).is_none() {
            return Err(format!("The element '{}' in namespace '{NS_T}' is not expected.", c.name));
        }
        if SERVER_SET.contains(&c.name.as_str()) {
            continue;
        }
        props.retain(|p: &Element| p.name != c.name);
        props.push(c.clone());
    }
    Ok((props, ext))
}

pub(super) fn kind_of(el: &Element) -> Option<ItemKind> {
    match el.name.as_str() {
        "Contact" => Some(ItemKind::Contact),
        "CalendarItem" => Some(ItemKind::CalendarItem),
        _ => None,
    }
}

pub(super) fn insert(
    d: &mut Data,
    smtp: &str,
    folder: u64,
    kind: ItemKind,
    props: Vec<Element>,
    extended: Vec<Element>,
) -> Option<u64> {
    let seq = d.bump();
    let m = d.mailboxes.get_mut(smtp)?;
    let num = m.next;
    m.next += 1;
    let now = Utc::now();
    m.items.insert(
        num,
        Item {
            num,
            folder,
            kind,
            version: 1,
            seq,
            props,
            extended,
            created: now,
            modified: now,
            exceptions: BTreeMap::new(),
            deleted: BTreeSet::new(),
        },
    );
    Some(num)
}

pub(crate) fn seed(d: &mut Data, smtp: &str, folder: &str, el: &Element) -> Result<u64, String> {
    let kind = kind_of(el).ok_or("expected t:Contact or t:CalendarItem")?;
    let m = d.mailboxes.get(smtp).ok_or("no such mailbox")?;
    let f = resolve_folder_name(m, folder).ok_or("no such folder")?;
    let (props, ext) = item_from(kind, el)?;
    insert(d, smtp, f, kind, props, ext).ok_or_else(|| "no such mailbox".to_owned())
}

/// What an item id element names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Item(u64),
    /// Master number, instance index (1-based).
    Occurrence(u64, u32),
}

fn not_found() -> MsgError {
    err("ErrorItemNotFound", "The specified object was not found in the store.")
}

/// An `ItemId`, `OccurrenceItemId` or `RecurringMasterItemId` element → what it names.
pub(super) fn item_ref(m: &Mailbox, el: &Element) -> Result<(Target, Option<String>), MsgError> {
    let malformed = || err("ErrorInvalidIdMalformed", "Id is malformed.");
    let decode = |attr: &str| ids::decode(el.attr(attr).unwrap_or_default(), Format::EwsId).ok_or_else(malformed);
    let target = match el.name.as_str() {
        "OccurrenceItemId" => {
            let raw = decode("RecurringMasterId")?;
            if raw.kind != Kind::Item {
                return Err(malformed());
            }
            let index = el
                .attr("InstanceIndex")
                .and_then(|i| i.parse::<u32>().ok())
                .filter(|i| *i < (1 << 20))
                .ok_or_else(|| err("ErrorInvalidRequest", "InstanceIndex is invalid."))?;
            if raw.mailbox != m.smtp {
                return Err(not_found());
            }
            Target::Occurrence(raw.num, index)
        }
        "RecurringMasterItemId" => {
            let raw = decode("OccurrenceId")?;
            match raw.kind {
                Kind::Occurrence => Target::Item(raw.num >> 20),
                Kind::Item => Target::Item(raw.num),
                Kind::Folder => return Err(malformed()),
            }
        }
        _ => {
            let raw = decode("Id")?;
            if raw.mailbox != m.smtp {
                return Err(not_found());
            }
            match raw.kind {
                Kind::Item => Target::Item(raw.num),
                Kind::Occurrence => Target::Occurrence(raw.num >> 20, u32::try_from(raw.num & 0xF_FFFF).unwrap_or(0)),
                Kind::Folder => return Err(malformed()),
            }
        }
    };
    match target {
        Target::Item(n) if !m.items.contains_key(&n) => return Err(not_found()),
        Target::Item(_) => {}
        Target::Occurrence(master, index) => {
            let item = m.items.get(&master).ok_or_else(not_found)?;
            if !item.props.iter().any(|p| p.name == "Recurrence") {
                return Err(not_found());
            }
            if item.deleted.contains(&index) {
                return Err(err(
                    "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                    "Occurrence with this index was previously deleted from the recurrence.",
                ));
            }
            if recur::occurrence(&item.props, index).is_none() {
                return Err(err(
                    "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                    "Occurrence index is out of recurrence range.",
                ));
            }
        }
    }
    Ok((target, el.attr("ChangeKey").map(str::to_owned)))
}
