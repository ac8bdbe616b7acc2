//! Folders: folder references and folder XML, and the `GetFolder`, `FindFolder` and
//! `CreateFolder` operations.

use std::fmt::Write as _;

use super::mailbox;
use super::response::{Fault, MsgError, err, error_message, ok_message, schema};
use crate::ews::ids::{self, Format, Kind};
use crate::ews::xml::{self, Element};
use crate::ews::{Data, Folder, Mailbox};

pub(crate) fn resolve_folder_name(m: &Mailbox, name: &str) -> Option<u64> {
    m.distinguished(name).or_else(|| {
        ids::decode(name, Format::EwsId)
            .filter(|r| r.kind == Kind::Folder && r.mailbox == m.smtp && m.folders.contains_key(&r.num))
            .map(|r| r.num)
    })
}

/// A `FolderId`/`DistinguishedFolderId` element → folder number.
pub(super) fn folder_ref(m: &Mailbox, el: &Element) -> Result<u64, MsgError> {
    match el.name.as_str() {
        "DistinguishedFolderId" => {
            let id = el.attr("Id").unwrap_or_default();
            if let Some(mb) = el.path(&["Mailbox", "EmailAddress"]).map(|e| e.text.trim().to_lowercase())
                && mb != m.smtp
            {
                return Err(err("ErrorAccessDenied", "Access is denied. Check credentials and try again."));
            }
            m.distinguished(id)
                .ok_or_else(|| err("ErrorFolderNotFound", "The specified folder could not be found in the store."))
        }
        "FolderId" => {
            let raw = ids::decode(el.attr("Id").unwrap_or_default(), Format::EwsId)
                .filter(|r| r.kind == Kind::Folder)
                .ok_or_else(|| err("ErrorInvalidIdMalformed", "Id is malformed."))?;
            if raw.mailbox != m.smtp || !m.folders.contains_key(&raw.num) {
                return Err(err("ErrorFolderNotFound", "The specified folder could not be found in the store."));
            }
            Ok(raw.num)
        }
        _ => Err(err("ErrorInvalidRequest", "The request is invalid.")),
    }
}

fn folder_xml(m: &Mailbox, f: &Folder, full: bool) -> String {
    let id = m.raw(Kind::Folder, f.num);
    let mut out = format!(
        "<t:{el}><t:FolderId Id=\"{}\" ChangeKey=\"{}\"/>",
        ids::encode(&id, Format::EwsId),
        ids::change_key(&id, f.version),
        el = f.element
    );
    if full {
        if let Some(p) = f.parent {
            let pid = m.raw(Kind::Folder, p);
            let pv = m.folders.get(&p).map(|f| f.version).unwrap_or(1);
            let _ = write!(
                out,
                "<t:ParentFolderId Id=\"{}\" ChangeKey=\"{}\"/>",
                ids::encode(&pid, Format::EwsId),
                ids::change_key(&pid, pv)
            );
        }
        if !f.class.is_empty() {
            let _ = write!(out, "<t:FolderClass>{}</t:FolderClass>", xml::escape(&f.class));
        }
        let total = m.items.values().filter(|i| i.folder == f.num).count();
        let children = m.folders.values().filter(|c| c.parent == Some(f.num)).count();
        let _ = write!(
            out,
            "<t:DisplayName>{}</t:DisplayName><t:TotalCount>{total}</t:TotalCount><t:ChildFolderCount>{children}</t:ChildFolderCount>",
            xml::escape(&f.name)
        );
        if f.element == "Folder" {
            out.push_str("<t:UnreadCount>0</t:UnreadCount>");
        }
    }
    let _ = write!(out, "</t:{}>", f.element);
    out
}

pub(super) fn base_shape(shape: Option<&Element>) -> Result<&str, Fault> {
    let base = shape.and_then(|s| s.child_text("BaseShape")).ok_or_else(|| schema("BaseShape is missing."))?;
    match base {
        "IdOnly" | "Default" | "AllProperties" => Ok(base),
        other => Err(schema(format!("The value '{other}' is invalid for BaseShape."))),
    }
}

pub(super) fn get_folder(d: &Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let full =
        base_shape(op.child("FolderShape"))? != "IdOnly" || op.path(&["FolderShape", "AdditionalProperties"]).is_some();
    let m = mailbox(d, smtp)?;
    let ids = op.child("FolderIds").ok_or_else(|| schema("FolderIds is missing."))?;
    let mut out = String::new();
    for el in &ids.children {
        match folder_ref(m, el) {
            Ok(num) => {
                let f = m.folders.get(&num).map(|f| folder_xml(m, f, full)).unwrap_or_default();
                out.push_str(&ok_message("GetFolder", &format!("<m:Folders>{f}</m:Folders>")));
            }
            Err(e) => out.push_str(&error_message("GetFolder", &e, "")),
        }
    }
    Ok(out)
}

pub(super) fn find_folder(d: &Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let full =
        base_shape(op.child("FolderShape"))? != "IdOnly" || op.path(&["FolderShape", "AdditionalProperties"]).is_some();
    let deep = match op.attr("Traversal") {
        Some("Shallow") => false,
        Some("Deep") => true,
        Some("SoftDeleted") => false,
        _ => return Err(schema("The 'Traversal' attribute is invalid.")),
    };
    let m = mailbox(d, smtp)?;
    let parents = op.child("ParentFolderIds").ok_or_else(|| schema("ParentFolderIds is missing."))?;
    let mut out = String::new();
    for el in &parents.children {
        match folder_ref(m, el) {
            Ok(num) => {
                let mut found = Vec::new();
                let mut queue = vec![num];
                while let Some(p) = queue.pop() {
                    for f in m.folders.values().filter(|f| f.parent == Some(p)) {
                        found.push(f);
                        if deep {
                            queue.push(f.num);
                        }
                    }
                }
                let folders: String = found.iter().map(|f| folder_xml(m, f, full)).collect();
                out.push_str(&ok_message(
                    "FindFolder",
                    &format!(
                        "<m:RootFolder TotalItemsInView=\"{n}\" IncludesLastItemInRange=\"true\"><t:Folders>{folders}</t:Folders></m:RootFolder>",
                        n = found.len()
                    ),
                ));
            }
            Err(e) => out.push_str(&error_message("FindFolder", &e, "")),
        }
    }
    Ok(out)
}

pub(super) fn create_folder(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let parent_el = op
        .child("ParentFolderId")
        .and_then(|p| p.children.first())
        .ok_or_else(|| schema("ParentFolderId is missing."))?;
    let folders = op.child("Folders").ok_or_else(|| schema("Folders is missing."))?;
    let mut out = String::new();
    for f in &folders.children {
        let m = d.mailboxes.get_mut(smtp).ok_or_else(|| schema("no mailbox"))?;
        let parent = match folder_ref(m, parent_el) {
            Ok(p) => p,
            Err(e) => {
                out.push_str(&error_message("CreateFolder", &e, ""));
                continue;
            }
        };
        let element: &'static str = match f.name.as_str() {
            "ContactsFolder" => "ContactsFolder",
            "CalendarFolder" => "CalendarFolder",
            "Folder" => "Folder",
            other => return Err(schema(format!("The element '{other}' is not expected."))),
        };
        let name = f.child_text("DisplayName").unwrap_or_default().to_owned();
        if m.folders.values().any(|x| x.parent == Some(parent) && x.name.eq_ignore_ascii_case(&name)) {
            out.push_str(&error_message(
                "CreateFolder",
                &err("ErrorFolderExists", "A folder with the specified name already exists."),
                "",
            ));
            continue;
        }
        let class = f.child_text("FolderClass").map(str::to_owned).unwrap_or_else(|| {
            match element {
                "ContactsFolder" => "IPF.Contact",
                "CalendarFolder" => "IPF.Appointment",
                _ => "IPF.Note",
            }
            .to_owned()
        });
        let num = m.next;
        m.next += 1;
        let folder = Folder { num, parent: Some(parent), distinguished: None, name, class, element, version: 1 };
        let xml = folder_xml(m, &folder, false);
        m.folders.insert(num, folder);
        if let Some(p) = m.folders.get_mut(&parent) {
            p.version += 1;
        }
        out.push_str(&ok_message("CreateFolder", &format!("<m:Folders>{xml}</m:Folders>")));
    }
    Ok(out)
}
