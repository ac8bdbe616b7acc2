//! The `UpdateItem` operation: conflict checks, and the set, append and delete field updates.

use super::item_schema::{SERVER_SET, position};
use super::mailbox;
use super::render::{item_id_xml, same_extended, synthesize};
use super::response::{Fault, MsgError, err, error_message, ok_message, schema};
use super::store::{Target, item_ref, kind_of, touch};
use crate::ews::ids::{self, Format, Kind};
use crate::ews::xml::Element;
use crate::ews::{Data, Item, ItemKind};

/// Merges indexed entries (`Entry Key=…`) of `new` into `old`, field by field for addresses.
fn merge_indexed(old: &mut Element, new: &Element) {
    for entry in &new.children {
        let key = entry.attr("Key");
        match old.children.iter_mut().find(|e| e.attr("Key") == key) {
            Some(existing) if !entry.children.is_empty() => {
                for f in &entry.children {
                    existing.children.retain(|c| c.name != f.name);
                    existing.children.push(f.clone());
                }
                let order = ["Street", "City", "State", "CountryOrRegion", "PostalCode"];
                existing.children.sort_by_key(|c| order.iter().position(|o| *o == c.name).unwrap_or(9));
            }
            Some(existing) => existing.text = entry.text.clone(),
            None => old.children.push(entry.clone()),
        }
    }
}

fn apply_update(item: &mut Item, upd: &Element) -> Result<(), MsgError> {
    let target =
        upd.children.iter().find(|c| matches!(c.name.as_str(), "FieldURI" | "IndexedFieldURI" | "ExtendedFieldURI"));
    let Some(target) = target else { return Err(err("ErrorInvalidPropertyRequest", "The property is missing.")) };
    let payload = upd.children.iter().find(|c| kind_of(c).is_some());
    if let Some(p) = payload
        && kind_of(p) != Some(item.kind)
    {
        return Err(err("ErrorObjectTypeChanged", "The object type cannot be changed."));
    }
    let value = payload.and_then(|p| p.children.first());
    match (upd.name.as_str(), target.name.as_str()) {
        (_, "ExtendedFieldURI") => {
            item.extended.retain(|e| !e.child("ExtendedFieldURI").is_some_and(|u| same_extended(u, target)));
            if upd.name != "DeleteItemField" {
                let v = value
                    .filter(|v| v.name == "ExtendedProperty")
                    .ok_or_else(|| err("ErrorInvalidExtendedProperty", "The extended property is invalid."))?;
                item.extended.push(v.clone());
            }
        }
        ("DeleteItemField", "IndexedFieldURI") => {
            let uri = target.attr("FieldURI").unwrap_or_default();
            let key = target.attr("FieldIndex").unwrap_or_default();
            let coll = match uri.split(':').nth(1).unwrap_or_default() {
                "EmailAddress" => "EmailAddresses",
                "PhoneNumber" => "PhoneNumbers",
                "PhysicalAddress" => "PhysicalAddresses",
                _ => "ImAddresses",
            };
            let sub = uri.split(':').nth(2);
            if let Some(c) = item.props.iter_mut().find(|p| p.name == coll) {
                match sub {
                    Some(field) => {
                        if let Some(e) = c.children.iter_mut().find(|e| e.attr("Key") == Some(key)) {
                            e.children.retain(|f| f.name != field);
                        }
                    }
                    None => c.children.retain(|e| e.attr("Key") != Some(key)),
                }
            }
            item.props.retain(|p| !(p.name == coll && p.children.is_empty()));
        }
        ("DeleteItemField", _) => {
            let uri = target.attr("FieldURI").unwrap_or_default();
            let name = uri.split_once(':').map(|(_, n)| n).unwrap_or(uri);
            item.props.retain(|p| p.name != name);
        }
        (op, _) => {
            let v = value.ok_or_else(|| err("ErrorInvalidPropertyRequest", "The update has no value."))?;
            if position(item.kind, &v.name).is_none() || SERVER_SET.contains(&v.name.as_str()) {
                return Err(err("ErrorInvalidPropertyRequest", format!("The property {} cannot be set.", v.name)));
            }
            match item.props.iter_mut().find(|p| p.name == v.name) {
                Some(old) if target.name == "IndexedFieldURI" => merge_indexed(old, v),
                Some(old) if op == "AppendToItemField" => {
                    old.text.push_str(&v.text);
                    old.children.extend(v.children.iter().cloned());
                }
                Some(old) => *old = v.clone(),
                None => item.props.push(v.clone()),
            }
        }
    }
    Ok(())
}

pub(super) fn update_item(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let resolution = op.attr("ConflictResolution").unwrap_or("AutoResolve");
    if !matches!(resolution, "NeverOverwrite" | "AutoResolve" | "AlwaysOverwrite") {
        return Err(schema(format!(
            "The 'ConflictResolution' attribute is invalid - The value '{resolution}' is invalid."
        )));
    }
    let cancellations = op.attr("SendMeetingInvitationsOrCancellations");
    let changes = op.child("ItemChanges").ok_or_else(|| schema("ItemChanges is missing."))?;
    let mut out = String::new();
    for change in changes.children_named("ItemChange") {
        let id_el =
            change.children.iter().find(|c| c.name.ends_with("ItemId")).ok_or_else(|| schema("ItemId is missing."))?;
        let updates = change.child("Updates").ok_or_else(|| schema("Updates is missing."))?;
        let m = mailbox(d, smtp)?;
        let (target, ck) = match item_ref(m, id_el) {
            Ok(x) => x,
            Err(e) => {
                out.push_str(&error_message("UpdateItem", &e, "<m:Items/>"));
                continue;
            }
        };
        let (num, index) = match target {
            Target::Item(n) => (n, None),
            Target::Occurrence(master, i) => (master, Some(i)),
        };
        let Some(current) = m.items.get(&num) else { continue };
        // What is updated: the item, or the occurrence as an item of its own.
        let (mut updated, raw) = match index {
            None => (current.clone(), m.raw(Kind::Item, num)),
            Some(i) => match synthesize(m, current, i) {
                Some((item, occ)) => (item, occ.raw),
                None => continue,
            },
        };
        if current.kind == ItemKind::CalendarItem && cancellations.is_none() {
            out.push_str(&error_message(
                "UpdateItem",
                &err(
                    "ErrorSendMeetingInvitationsOrCancellationsRequired",
                    "SendMeetingInvitationsOrCancellations attribute is required for calendar items.",
                ),
                "<m:Items/>",
            ));
            continue;
        }
        // AlwaysOverwrite needs no change key (it checks none); the other resolutions do.
        let ck = match ck {
            Some(ck) => ck,
            None if resolution == "AlwaysOverwrite" => ids::change_key(&raw, current.version),
            None => {
                out.push_str(&error_message(
                    "UpdateItem",
                    &err(
                        "ErrorChangeKeyRequiredForWriteOperations",
                        "The change key is required for write operations.",
                    ),
                    "<m:Items/>",
                ));
                continue;
            }
        };
        if ck != ids::change_key(&raw, current.version) && resolution != "AlwaysOverwrite" {
            out.push_str(&error_message(
                "UpdateItem",
                &err("ErrorIrresolvableConflict", "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."),
                "<m:Items/>",
            ));
            continue;
        }
        let mut failure = None;
        for u in &updates.children {
            if let Err(e) = apply_update(&mut updated, u) {
                failure = Some(e);
                break;
            }
        }
        if let Some(e) = failure {
            out.push_str(&error_message("UpdateItem", &e, "<m:Items/>"));
            continue;
        }
        let seq = d.bump();
        let m = d.mailboxes.get_mut(smtp).ok_or_else(|| schema("no mailbox"))?;
        let x = match index {
            None => {
                // A new pattern or new times drop the exceptions and deletions, as Outlook does.
                let timing = |i: &Item| {
                    i.props
                        .iter()
                        .filter(|p| matches!(p.name.as_str(), "Recurrence" | "Start" | "End"))
                        .cloned()
                        .collect::<Vec<_>>()
                };
                if m.items.get(&num).is_some_and(|c| timing(c) != timing(&updated)) {
                    updated.exceptions.clear();
                    updated.deleted.clear();
                }
                touch(&mut updated, seq);
                let x = format!("<t:{k}>{}</t:{k}>", item_id_xml(m, &updated), k = updated.kind.element());
                m.items.insert(num, updated);
                x
            }
            Some(i) => {
                let Some(master) = m.items.get_mut(&num) else { continue };
                master.exceptions.insert(i, updated.props);
                touch(master, seq);
                format!(
                    "<t:CalendarItem><t:ItemId Id=\"{}\" ChangeKey=\"{}\"/></t:CalendarItem>",
                    ids::encode(&raw, Format::EwsId),
                    ids::change_key(&raw, master.version)
                )
            }
        };
        out.push_str(&ok_message(
            "UpdateItem",
            &format!("<m:Items>{x}</m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"),
        ));
    }
    Ok(out)
}
