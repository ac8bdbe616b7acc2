//! The `FindItem` operation: restrictions over item properties, and paging.

use super::folders::folder_ref;
use super::mailbox;
use super::render::{render, same_extended, shape};
use super::response::{Fault, error_message, ok_message, schema};
use crate::ews::xml::Element;
use crate::ews::{Data, Item};

fn constant_of(el: &Element) -> Option<&str> {
    el.child("FieldURIOrConstant").and_then(|c| c.child("Constant")).and_then(|c| c.attr("Value"))
}

fn item_value(item: &Item, target: &Element) -> Option<String> {
    match target.name.as_str() {
        "ExtendedFieldURI" => item
            .extended
            .iter()
            .find(|e| e.child("ExtendedFieldURI").is_some_and(|u| same_extended(u, target)))
            .and_then(|e| e.child_text("Value").map(str::to_owned)),
        "FieldURI" => {
            let uri = target.attr("FieldURI")?;
            let name = uri.split_once(':').map(|(_, n)| n)?;
            item.props.iter().find(|p| p.name == name).map(|p| p.text.trim().to_owned())
        }
        _ => None,
    }
}

fn matches(item: &Item, r: &Element) -> Result<bool, Fault> {
    let target =
        || r.children.iter().find(|c| matches!(c.name.as_str(), "FieldURI" | "ExtendedFieldURI" | "IndexedFieldURI"));
    Ok(match r.name.as_str() {
        "And" => {
            let mut all = true;
            for c in &r.children {
                all &= matches(item, c)?;
            }
            all
        }
        "Or" => {
            let mut any = false;
            for c in &r.children {
                any |= matches(item, c)?;
            }
            any
        }
        "Not" => !matches(item, r.children.first().ok_or_else(|| schema("Not needs a child."))?)?,
        "Exists" => item_value(item, target().ok_or_else(|| schema("Exists needs a property."))?).is_some(),
        "IsEqualTo" | "IsNotEqualTo" => {
            let t = target().ok_or_else(|| schema("IsEqualTo needs a property."))?;
            let c = constant_of(r).ok_or_else(|| schema("FieldURIOrConstant/Constant is missing."))?;
            let eq = item_value(item, t).is_some_and(|v| v.eq_ignore_ascii_case(c));
            if r.name == "IsEqualTo" { eq } else { !eq }
        }
        other => return Err(schema(format!("The restriction '{other}' is not supported by the fake."))),
    })
}

pub(super) fn find_item(d: &Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let shape = shape(op.child("ItemShape"))?;
    if op.attr("Traversal").is_none() {
        return Err(schema("The required attribute 'Traversal' is missing."));
    }
    let (offset, max) = match op.child("IndexedPageItemView") {
        Some(v) => (
            v.attr("Offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0),
            v.attr("MaxEntriesReturned").and_then(|o| o.parse::<usize>().ok()).unwrap_or(1000),
        ),
        None => (0, 1000),
    };
    let restriction = op.child("Restriction").and_then(|r| r.children.first());
    let parents = op.child("ParentFolderIds").ok_or_else(|| schema("ParentFolderIds is missing."))?;
    let m = mailbox(d, smtp)?;
    let mut out = String::new();
    for el in &parents.children {
        let folder = match folder_ref(m, el) {
            Ok(f) => f,
            Err(e) => {
                out.push_str(&error_message("FindItem", &e, ""));
                continue;
            }
        };
        let mut found = Vec::new();
        for item in m.items.values().filter(|i| i.folder == folder) {
            if let Some(r) = restriction
                && !matches(item, r)?
            {
                continue;
            }
            found.push(item);
        }
        found.sort_by_key(|i| std::cmp::Reverse(i.seq));
        let total = found.len();
        let page: Vec<_> = found.into_iter().skip(offset).take(max.min(1000)).collect();
        let last = offset + page.len() >= total;
        let items: String = page.iter().map(|i| render(m, i, &shape)).collect();
        out.push_str(&ok_message(
            "FindItem",
            &format!(
                "<m:RootFolder IndexedPagingOffset=\"{}\" TotalItemsInView=\"{total}\" IncludesLastItemInRange=\"{last}\"><t:Items>{items}</t:Items></m:RootFolder>",
                offset + page.len()
            ),
        ));
    }
    Ok(out)
}
