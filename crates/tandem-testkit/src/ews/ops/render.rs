//! Rendering items: item shapes, occurrences synthesized from their series, the item XML a shape
//! asks for, and the view tests read.

use std::fmt::Write as _;

use super::folders::base_shape;
use super::item_schema::position;
use super::response::{Fault, schema};
use crate::ews::ids::{self, Format, Kind, RawId};
use crate::ews::recur;
use crate::ews::xml::{self, Element};
use crate::ews::{Data, Item, ItemKind, ItemView, Mailbox};

/// What properties a shape asks for.
pub(super) struct Shape {
    all: bool,
    names: Vec<String>,
    extended: Vec<Element>,
}

pub(super) fn shape(el: Option<&Element>) -> Result<Shape, Fault> {
    let base = base_shape(el)?;
    let mut s = Shape { all: base != "IdOnly", names: Vec::new(), extended: Vec::new() };
    if let Some(add) = el.and_then(|e| e.child("AdditionalProperties")) {
        for p in &add.children {
            match p.name.as_str() {
                "FieldURI" | "IndexedFieldURI" => {
                    let uri = p.attr("FieldURI").ok_or_else(|| schema("FieldURI is missing."))?;
                    let (_, local) =
                        uri.split_once(':').ok_or_else(|| schema(format!("The FieldURI '{uri}' is invalid.")))?;
                    let local = local.split(':').next().unwrap_or(local);
                    let name = match local {
                        "EmailAddress" => "EmailAddresses",
                        "PhoneNumber" => "PhoneNumbers",
                        "PhysicalAddress" => "PhysicalAddresses",
                        "ImAddress" => "ImAddresses",
                        other => other,
                    };
                    s.names.push(name.to_owned());
                }
                "ExtendedFieldURI" => s.extended.push(p.clone()),
                other => return Err(schema(format!("The element '{other}' is not expected."))),
            }
        }
    }
    Ok(s)
}

pub(super) fn same_extended(a: &Element, b: &Element) -> bool {
    let keys = ["DistinguishedPropertySetId", "PropertySetId", "PropertyTag", "PropertyName", "PropertyId"];
    keys.iter().all(|k| a.attr(k).map(str::to_lowercase) == b.attr(k).map(str::to_lowercase))
}

pub(super) fn item_id_xml(m: &Mailbox, item: &Item) -> String {
    let raw = m.raw(Kind::Item, item.num);
    format!(
        "<t:ItemId Id=\"{}\" ChangeKey=\"{}\"/>",
        ids::encode(&raw, Format::EwsId),
        ids::change_key(&raw, item.version)
    )
}

/// An occurrence or exception being rendered in place of its master.
pub(super) struct Occ {
    pub(super) raw: RawId,
    exception: bool,
    original_start: String,
}

fn occurrence_raw(m: &Mailbox, master: u64, index: u32) -> RawId {
    m.raw(Kind::Occurrence, (master << 20) | u64::from(index))
}

/// The occurrence `index` of `master` as an item of its own (its exception when modified).
pub(super) fn synthesize(m: &Mailbox, master: &Item, index: u32) -> Option<(Item, Occ)> {
    let (start, end) = recur::occurrence(&master.props, index)?;
    let exception = master.exceptions.get(&index);
    let props = match exception {
        Some(p) => p.clone(),
        None => master
            .props
            .iter()
            .filter(|p| p.name != "Recurrence")
            .map(|p| match p.name.as_str() {
                "Start" => Element::t("Start").with_text(recur::format_time(start)),
                "End" => Element::t("End").with_text(recur::format_time(end)),
                _ => p.clone(),
            })
            .collect(),
    };
    let mut item = master.clone();
    item.props = props;
    item.exceptions.clear();
    item.deleted.clear();
    let occ = Occ {
        raw: occurrence_raw(m, master.num, index),
        exception: exception.is_some(),
        original_start: recur::format_time(start),
    };
    Some((item, occ))
}

pub(super) fn render(m: &Mailbox, item: &Item, shape: &Shape) -> String {
    render_as(m, item, shape, None)
}

pub(super) fn render_as(m: &Mailbox, item: &Item, shape: &Shape, occ: Option<&Occ>) -> String {
    let want = |n: &str| shape.all || shape.names.iter().any(|x| x == n);
    let mut props: Vec<(usize, String)> = Vec::new();
    let raw = m.raw(Kind::Item, item.num);
    match occ {
        Some(o) => props.push((
            0,
            format!(
                "<t:ItemId Id=\"{}\" ChangeKey=\"{}\"/>",
                ids::encode(&o.raw, Format::EwsId),
                ids::change_key(&o.raw, item.version)
            ),
        )),
        None => props.push((0, item_id_xml(m, item))),
    }
    let fold = m.raw(Kind::Folder, item.folder);
    let fv = m.folders.get(&item.folder).map(|f| f.version).unwrap_or(1);
    let mut server = vec![
        (
            "ParentFolderId",
            format!(
                "<t:ParentFolderId Id=\"{}\" ChangeKey=\"{}\"/>",
                ids::encode(&fold, Format::EwsId),
                ids::change_key(&fold, fv)
            ),
        ),
        (
            "ItemClass",
            format!(
                "<t:ItemClass>{}</t:ItemClass>",
                if item.kind == ItemKind::Contact { "IPM.Contact" } else { "IPM.Appointment" }
            ),
        ),
        (
            "DateTimeCreated",
            format!("<t:DateTimeCreated>{}</t:DateTimeCreated>", item.created.format("%Y-%m-%dT%H:%M:%SZ")),
        ),
        (
            "LastModifiedTime",
            format!("<t:LastModifiedTime>{}</t:LastModifiedTime>", item.modified.format("%Y-%m-%dT%H:%M:%SZ")),
        ),
    ];
    if item.kind == ItemKind::CalendarItem {
        let master = item.props.iter().any(|p| p.name == "Recurrence");
        let kind = match occ {
            Some(o) if o.exception => "Exception",
            Some(_) => "Occurrence",
            None if master => "RecurringMaster",
            None => "Single",
        };
        server.push(("CalendarItemType", format!("<t:CalendarItemType>{kind}</t:CalendarItemType>")));
        // As documented for the organizer's copy: false on single items and (sic) on masters.
        server.push(("IsRecurring", format!("<t:IsRecurring>{}</t:IsRecurring>", occ.is_some())));
        if let Some(o) = occ {
            server.push(("OriginalStart", format!("<t:OriginalStart>{}</t:OriginalStart>", o.original_start)));
        }
        if occ.is_none() && !item.exceptions.is_empty() {
            let mut x = String::from("<t:ModifiedOccurrences>");
            for (index, props) in &item.exceptions {
                let get =
                    |n: &str| props.iter().find(|p| p.name == n).map(|p| p.text.trim().to_owned()).unwrap_or_default();
                let original =
                    recur::occurrence(&item.props, *index).map(|(s, _)| recur::format_time(s)).unwrap_or_default();
                let oraw = occurrence_raw(m, item.num, *index);
                let _ = write!(
                    x,
                    "<t:Occurrence><t:ItemId Id=\"{}\" ChangeKey=\"{}\"/><t:Start>{}</t:Start><t:End>{}</t:End><t:OriginalStart>{original}</t:OriginalStart></t:Occurrence>",
                    ids::encode(&oraw, Format::EwsId),
                    ids::change_key(&oraw, item.version),
                    xml::escape(&get("Start")),
                    xml::escape(&get("End"))
                );
            }
            x.push_str("</t:ModifiedOccurrences>");
            server.push(("ModifiedOccurrences", x));
        }
        if occ.is_none() && !item.deleted.is_empty() {
            let mut x = String::from("<t:DeletedOccurrences>");
            for index in &item.deleted {
                if let Some((s, _)) = recur::occurrence(&item.props, *index) {
                    let _ = write!(
                        x,
                        "<t:DeletedOccurrence><t:Start>{}</t:Start></t:DeletedOccurrence>",
                        recur::format_time(s)
                    );
                }
            }
            x.push_str("</t:DeletedOccurrences>");
            server.push(("DeletedOccurrences", x));
        }
        if !item.props.iter().any(|p| p.name == "UID") {
            server.push(("UID", format!("<t:UID>{:016X}{:016X}</t:UID>", raw.num, raw.mailbox.len())));
        }
    }
    for (name, x) in server {
        if want(name)
            && let Some(pos) = position(item.kind, name)
        {
            props.push((pos, x));
        }
    }
    for p in &item.props {
        if want(&p.name)
            && let Some(pos) = position(item.kind, &p.name)
        {
            props.push((pos, p.to_xml()));
        }
    }
    let ext_pos = position(item.kind, "ExtendedProperty").unwrap_or(0);
    for e in &item.extended {
        let uri = e.child("ExtendedFieldURI");
        let asked = shape.extended.iter().any(|s| uri.is_some_and(|u| same_extended(u, s)));
        if asked {
            props.push((ext_pos, e.to_xml()));
        }
    }
    props.sort_by_key(|(p, _)| *p);
    let el = item.kind.element();
    let body: String = props.into_iter().map(|(_, x)| x).collect();
    format!("<t:{el}>{body}</t:{el}>")
}

pub(crate) fn view(d: &Data, smtp: &str, num: u64) -> Option<ItemView> {
    let m = d.mailboxes.get(smtp)?;
    let item = m.items.get(&num)?;
    let raw = m.raw(Kind::Item, num);
    let fields =
        item.props.iter().filter(|p| p.children.is_empty()).map(|p| (p.name.clone(), p.text.clone())).collect();
    let extended = item
        .extended
        .iter()
        .map(|e| {
            let uri = e.child("ExtendedFieldURI");
            let key = uri
                .and_then(|u| u.attr("PropertyName").or(u.attr("PropertyTag")).or(u.attr("PropertyId")))
                .unwrap_or_default();
            (key.to_owned(), e.child_text("Value").unwrap_or_default().to_owned())
        })
        .collect();
    let all = Shape {
        all: true,
        names: Vec::new(),
        extended: item.extended.iter().filter_map(|e| e.child("ExtendedFieldURI").cloned()).collect(),
    };
    Some(ItemView {
        id: ids::encode(&raw, Format::EwsId),
        change_key: ids::change_key(&raw, item.version),
        kind: item.kind,
        folder_id: ids::encode(&m.raw(Kind::Folder, item.folder), Format::EwsId),
        fields,
        extended,
        xml: render(m, item, &all),
    })
}
