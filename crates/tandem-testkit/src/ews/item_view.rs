//! The public face of an item: its [`ItemKind`] and the [`ItemView`] tests read.

use std::collections::BTreeMap;

/// What kind of item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// `t:Contact`.
    Contact,
    /// `t:CalendarItem`.
    CalendarItem,
}

impl ItemKind {
    pub(crate) fn element(self) -> &'static str {
        match self {
            ItemKind::Contact => "Contact",
            ItemKind::CalendarItem => "CalendarItem",
        }
    }
}

/// An item as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemView {
    /// Its `EwsId`.
    pub id: String,
    /// Its current change key.
    pub change_key: String,
    /// Contact or calendar item.
    pub kind: ItemKind,
    /// The `EwsId` of its folder.
    pub folder_id: String,
    /// Simple properties: element name → text (collections and complex values are left out;
    /// see [`ItemView::xml`]).
    pub fields: BTreeMap<String, String>,
    /// Extended properties: (property name or tag or id, value).
    pub extended: Vec<(String, String)>,
    /// The whole item as `GetItem` with `AllProperties` renders it.
    pub xml: String,
}
