//! The `SyncFolderItems` operation: changes since a sync state, and the states it hands out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::folders::folder_ref;
use super::mailbox;
use super::render::{render, shape};
use super::response::{Fault, err, error_message, ok_message, schema};
use crate::ews::ids::{self, Format, Kind};
use crate::ews::xml::Element;
use crate::ews::{Data, SyncState};

pub(super) fn sync_folder_items(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let shape = shape(op.child("ItemShape"))?;
    let folder_el =
        op.child("SyncFolderId").and_then(|s| s.children.first()).ok_or_else(|| schema("SyncFolderId is missing."))?;
    let max: usize = op
        .child_text("MaxChangesReturned")
        .ok_or_else(|| schema("MaxChangesReturned is missing."))?
        .parse()
        .ok()
        .filter(|n| (1..=512).contains(n))
        .ok_or_else(|| schema("The 'MaxChangesReturned' element is invalid - The value must be between 1 and 512."))?;
    let ignore: Vec<u64> = op
        .child("Ignore")
        .map(|i| {
            i.children
                .iter()
                .filter_map(|c| ids::decode(c.attr("Id").unwrap_or_default(), Format::EwsId))
                .map(|r| r.num)
                .collect()
        })
        .unwrap_or_default();
    let m = mailbox(d, smtp)?;
    let folder = match folder_ref(m, folder_el) {
        Ok(f) => f,
        Err(_) => {
            let e = err("ErrorSyncFolderNotFound", "The specified folder could not be found in the store.");
            return Ok(error_message(
                "SyncFolderItems",
                &e,
                "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
            ));
        }
    };
    let state_text = op.child_text("SyncState").filter(|s| !s.is_empty());
    let known = match state_text {
        None => BTreeMap::new(),
        Some(s) => match d.sync_states.get(s) {
            Some(st) if st.mailbox == smtp && st.folder == folder => st.known.clone(),
            _ => {
                let e = err("ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid.");
                return Ok(error_message(
                    "SyncFolderItems",
                    &e,
                    "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
                ));
            }
        },
    };
    // (seq, num, what): newest first.
    let mut changes: Vec<(u64, u64, &str)> = Vec::new();
    for item in m.items.values().filter(|i| i.folder == folder) {
        match known.get(&item.num) {
            None => changes.push((item.seq, item.num, "Create")),
            Some(v) if *v != item.version => changes.push((item.seq, item.num, "Update")),
            Some(_) => {}
        }
    }
    for num in known.keys() {
        if m.items.get(num).is_none_or(|i| i.folder != folder) {
            changes.push((u64::MAX, *num, "Delete"));
        }
    }
    changes.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let more = changes.len() > max;
    changes.truncate(max);
    let mut new_known = known;
    let mut body = String::new();
    for (_, num, what) in &changes {
        if what == &"Delete" {
            new_known.remove(num);
            if !ignore.contains(num) {
                let raw = m.raw(Kind::Item, *num);
                let _ = write!(body, "<t:Delete><t:ItemId Id=\"{}\"/></t:Delete>", ids::encode(&raw, Format::EwsId));
            }
            continue;
        }
        let Some(item) = m.items.get(num) else { continue };
        new_known.insert(*num, item.version);
        if !ignore.contains(num) {
            let _ = write!(body, "<t:{what}>{}</t:{what}>", render(m, item, &shape));
        }
    }
    d.next_state += 1;
    let token = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!(
            "H4sI-tandem-sync-{}-{}-{}",
            smtp.len(),
            folder,
            d.next_state
        ))
    };
    d.sync_states.insert(token.clone(), SyncState { mailbox: smtp.to_owned(), folder, known: new_known });
    Ok(ok_message(
        "SyncFolderItems",
        &format!(
            "<m:SyncState>{token}</m:SyncState><m:IncludesLastItemInRange>{}</m:IncludesLastItemInRange><m:Changes>{body}</m:Changes>",
            !more
        ),
    ))
}
