//! The `GetItem`, `CreateItem` and `DeleteItem` operations.

use super::folders::folder_ref;
use super::mailbox;
use super::render::{item_id_xml, render, render_as, shape, synthesize};
use super::response::{Fault, err, error_message, ok_message, schema};
use super::store::{Target, insert, item_from, item_ref, kind_of, touch};
use crate::ews::xml::Element;
use crate::ews::{Data, ItemKind};

pub(super) fn get_item(d: &Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let shape = shape(op.child("ItemShape"))?;
    let ids_el = op.child("ItemIds").ok_or_else(|| schema("ItemIds is missing."))?;
    let m = mailbox(d, smtp)?;
    let mut out = String::new();
    for el in &ids_el.children {
        match item_ref(m, el) {
            Ok((target, _)) => {
                let x = match target {
                    Target::Item(num) => m.items.get(&num).map(|i| render(m, i, &shape)),
                    Target::Occurrence(master, index) => m
                        .items
                        .get(&master)
                        .and_then(|i| synthesize(m, i, index))
                        .map(|(item, occ)| render_as(m, &item, &shape, Some(&occ))),
                }
                .unwrap_or_default();
                out.push_str(&ok_message("GetItem", &format!("<m:Items>{x}</m:Items>")));
            }
            Err(e) => out.push_str(&error_message("GetItem", &e, "<m:Items/>")),
        }
    }
    Ok(out)
}

pub(super) fn create_item(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let items = op.child("Items").ok_or_else(|| schema("Items is missing."))?;
    let invitations = op.attr("SendMeetingInvitations");
    if let Some(v) = invitations
        && !matches!(v, "SendToNone" | "SendOnlyToAll" | "SendToAllAndSaveCopy")
    {
        return Err(schema(format!("The 'SendMeetingInvitations' attribute is invalid - The value '{v}' is invalid.")));
    }
    let m = mailbox(d, smtp)?;
    let saved = op.child("SavedItemFolderId").and_then(|s| s.children.first()).map(|el| folder_ref(m, el));
    let mut out = String::new();
    for el in &items.children {
        let kind =
            kind_of(el).ok_or_else(|| schema(format!("The element '{}' is not supported by the fake.", el.name)))?;
        let (props, ext) = item_from(kind, el).map_err(schema)?;
        if kind == ItemKind::CalendarItem && invitations.is_none() {
            out.push_str(&error_message(
                "CreateItem",
                &err(
                    "ErrorSendMeetingInvitationsRequired",
                    "SendMeetingInvitations attribute is required for calendar items.",
                ),
                "<m:Items/>",
            ));
            continue;
        }
        let m = mailbox(d, smtp)?;
        let folder = match &saved {
            Some(Ok(f)) => *f,
            Some(Err(e)) => {
                out.push_str(&error_message("CreateItem", &err(e.code, e.text.clone()), "<m:Items/>"));
                continue;
            }
            None => m.distinguished(if kind == ItemKind::Contact { "contacts" } else { "calendar" }).unwrap_or(3),
        };
        let Some(num) = insert(d, smtp, folder, kind, props, ext) else { continue };
        let m = mailbox(d, smtp)?;
        let x = m
            .items
            .get(&num)
            .map(|i| format!("<t:{k}>{}</t:{k}>", item_id_xml(m, i), k = kind.element()))
            .unwrap_or_default();
        out.push_str(&ok_message("CreateItem", &format!("<m:Items>{x}</m:Items>")));
    }
    Ok(out)
}

pub(super) fn delete_item(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let delete_type = op.attr("DeleteType").ok_or_else(|| schema("The required attribute 'DeleteType' is missing."))?;
    if !matches!(delete_type, "HardDelete" | "SoftDelete" | "MoveToDeletedItems") {
        return Err(schema(format!("The 'DeleteType' attribute is invalid - The value '{delete_type}' is invalid.")));
    }
    let cancellations = op.attr("SendMeetingCancellations");
    let ids_el = op.child("ItemIds").ok_or_else(|| schema("ItemIds is missing."))?;
    let mut out = String::new();
    for el in &ids_el.children {
        let m = mailbox(d, smtp)?;
        let (num, index) = match item_ref(m, el) {
            Ok((Target::Item(n), _)) => (n, None),
            Ok((Target::Occurrence(master, i), _)) => (master, Some(i)),
            Err(e) => {
                out.push_str(&error_message("DeleteItem", &e, ""));
                continue;
            }
        };
        if m.items.get(&num).is_some_and(|i| i.kind == ItemKind::CalendarItem) && cancellations.is_none() {
            out.push_str(&error_message(
                "DeleteItem",
                &err(
                    "ErrorSendMeetingCancellationsRequired",
                    "SendMeetingCancellations attribute is required for calendar items.",
                ),
                "",
            ));
            continue;
        }
        let deleted_items = m.distinguished("deleteditems");
        let seq = d.bump();
        let Some(m) = d.mailboxes.get_mut(smtp) else { continue };
        if let Some(i) = index {
            // Deleting an occurrence deletes it from the series (whatever the DeleteType).
            if let Some(master) = m.items.get_mut(&num) {
                master.exceptions.remove(&i);
                master.deleted.insert(i);
                touch(master, seq);
            }
        } else if delete_type == "MoveToDeletedItems"
            && let (Some(di), Some(item)) = (deleted_items, m.items.get_mut(&num))
        {
            item.folder = di;
            touch(item, seq);
        } else {
            m.items.remove(&num);
        }
        out.push_str(&ok_message("DeleteItem", ""));
    }
    Ok(out)
}
