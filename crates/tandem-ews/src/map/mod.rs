//! The translation of EWS items to and from the canonical model.

pub(crate) mod contact;
pub(crate) mod event;
pub(crate) mod recurrence;
pub(crate) mod time;

use crate::config::SyncKeyProperty;
use crate::xml::{Element, XmlWriter};

/// Writes the `ExtendedFieldURI` of the sync-key property.
pub(crate) fn write_key_uri(w: &mut XmlWriter, p: &SyncKeyProperty) {
    w.empty(
        "t:ExtendedFieldURI",
        &[("PropertySetId", &p.property_set_id), ("PropertyName", &p.name), ("PropertyType", "String")],
    );
}

/// Writes `<t:ExtendedProperty>` carrying `key`.
pub(crate) fn write_key(w: &mut XmlWriter, p: &SyncKeyProperty, key: &str) {
    w.open("t:ExtendedProperty", &[]);
    write_key_uri(w, p);
    w.text("t:Value", key);
    w.close("t:ExtendedProperty");
}

/// The sync key an item carries, when it carries one.
pub(crate) fn key_of(item: &Element, p: &SyncKeyProperty) -> Option<String> {
    item.children_named("ExtendedProperty")
        .find(|e| {
            e.child("ExtendedFieldURI").is_some_and(|u| {
                u.attr("PropertyName") == Some(p.name.as_str())
                    && u.attr("PropertySetId").is_some_and(|s| s.eq_ignore_ascii_case(&p.property_set_id))
            })
        })
        .and_then(|e| e.text_of("Value"))
        .map(str::to_owned)
}

/// `(id, change key)` of an item's `ItemId`.
pub(crate) fn item_id(item: &Element) -> Option<(String, String)> {
    let id = item.child("ItemId")?;
    Some((id.attr("Id")?.to_owned(), id.attr("ChangeKey").unwrap_or_default().to_owned()))
}

/// Writes `<t:SetItemField>` for a property `uri`, with `value` writing the item element
/// (`t:Contact`, `t:CalendarItem`) holding the new value.
pub(crate) fn set_field(w: &mut XmlWriter, uri: &str, item: &str, value: impl FnOnce(&mut XmlWriter)) {
    w.open("t:SetItemField", &[]);
    w.empty("t:FieldURI", &[("FieldURI", uri)]);
    w.open(item, &[]);
    value(w);
    w.close(item);
    w.close("t:SetItemField");
}

/// Writes `<t:SetItemField>` for an indexed property.
pub(crate) fn set_indexed(w: &mut XmlWriter, uri: &str, index: &str, item: &str, value: impl FnOnce(&mut XmlWriter)) {
    w.open("t:SetItemField", &[]);
    w.empty("t:IndexedFieldURI", &[("FieldURI", uri), ("FieldIndex", index)]);
    w.open(item, &[]);
    value(w);
    w.close(item);
    w.close("t:SetItemField");
}

/// Writes `<t:DeleteItemField>` for a property.
pub(crate) fn delete_field(w: &mut XmlWriter, uri: &str) {
    w.open("t:DeleteItemField", &[]);
    w.empty("t:FieldURI", &[("FieldURI", uri)]);
    w.close("t:DeleteItemField");
}

/// Writes `<t:DeleteItemField>` for an indexed property.
pub(crate) fn delete_indexed(w: &mut XmlWriter, uri: &str, index: &str) {
    w.open("t:DeleteItemField", &[]);
    w.empty("t:IndexedFieldURI", &[("FieldURI", uri), ("FieldIndex", index)]);
    w.close("t:DeleteItemField");
}

/// Text with its trailing and leading blanks removed, `None` when empty.
pub(crate) fn text(e: &Element, name: &str) -> Option<String> {
    e.text_of(name).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
}
