//! Seeding, reading, editing and deleting items and occurrences as a person in Outlook would.

use super::fake::EwsFake;
use super::ids::{self, Kind};
use super::item_view::ItemView;
use super::xml::{self, Element};
use super::{ops, recur};

impl EwsFake {
    /// The `EwsId` of a distinguished folder (`contacts`, `calendar`, `msgfolderroot`, …).
    pub fn folder_id(&self, mailbox: &str, distinguished: &str) -> Option<String> {
        let d = self.lock();
        let m = d.mailboxes.get(&mailbox.to_lowercase())?;
        let num = m.distinguished(distinguished)?;
        Some(ids::encode(&m.raw(Kind::Folder, num), ids::Format::EwsId))
    }

    /// The `EwsId` of the folder named `name` (display name), if any.
    pub fn folder_id_by_name(&self, mailbox: &str, name: &str) -> Option<String> {
        let d = self.lock();
        let m = d.mailboxes.get(&mailbox.to_lowercase())?;
        let f = m.folders.values().find(|f| f.name == name)?;
        Some(ids::encode(&m.raw(Kind::Folder, f.num), ids::Format::EwsId))
    }

    /// Creates an item as a person would in Outlook, from `item_xml` (a `<t:Contact>` or
    /// `<t:CalendarItem>` element with `xmlns:t` declared, as in a `CreateItem`), in `folder` (a
    /// distinguished name or an `EwsId`). Returns the new item's view.
    pub fn seed_item_xml(&self, mailbox: &str, folder: &str, item_xml: &str) -> Result<ItemView, String> {
        let element = xml::parse(item_xml).map_err(|e| e.message)?;
        let mut d = self.lock();
        let num = ops::seed(&mut d, &mailbox.to_lowercase(), folder, &element)?;
        ops::view(&d, &mailbox.to_lowercase(), num).ok_or_else(|| "vanished".to_owned())
    }

    /// Creates a contact with these simple fields (`GivenName`, `Surname`, `CompanyName`, …;
    /// `EmailAddress1` is shorthand for the first email entry) in the default Contacts folder.
    pub fn add_contact(&self, mailbox: &str, fields: &[(&str, &str)]) -> Result<ItemView, String> {
        let mut body = String::new();
        let mut emails = String::new();
        for (k, v) in fields {
            if let Some(n) = k.strip_prefix("EmailAddress") {
                emails.push_str(&format!("<t:Entry Key=\"EmailAddress{n}\">{}</t:Entry>", xml::escape(v)));
            } else {
                body.push_str(&format!("<t:{k}>{}</t:{k}>", xml::escape(v)));
            }
        }
        if !emails.is_empty() {
            body.push_str(&format!("<t:EmailAddresses>{emails}</t:EmailAddresses>"));
        }
        let doc = format!("<t:Contact xmlns:t=\"{}\">{body}</t:Contact>", xml::NS_T);
        self.seed_item_xml(mailbox, "contacts", &doc)
    }

    /// Creates a single calendar item in the default calendar.
    pub fn add_calendar_item(&self, mailbox: &str, subject: &str, start: &str, end: &str) -> Result<ItemView, String> {
        let doc = format!(
            "<t:CalendarItem xmlns:t=\"{}\"><t:Subject>{}</t:Subject><t:Start>{}</t:Start><t:End>{}</t:End></t:CalendarItem>",
            xml::NS_T,
            xml::escape(subject),
            xml::escape(start),
            xml::escape(end)
        );
        self.seed_item_xml(mailbox, "calendar", &doc)
    }

    /// The item with `EwsId` `id`.
    pub fn item(&self, mailbox: &str, id: &str) -> Option<ItemView> {
        let d = self.lock();
        let raw = ids::decode(id, ids::Format::EwsId)?;
        ops::view(&d, &mailbox.to_lowercase(), raw.num)
    }

    /// Every item in `folder` (a distinguished name or an `EwsId`).
    pub fn items(&self, mailbox: &str, folder: &str) -> Vec<ItemView> {
        let d = self.lock();
        let mbx = mailbox.to_lowercase();
        let Some(m) = d.mailboxes.get(&mbx) else { return Vec::new() };
        let Some(f) = ops::resolve_folder_name(m, folder) else { return Vec::new() };
        m.items.values().filter(|i| i.folder == f).filter_map(|i| ops::view(&d, &mbx, i.num)).collect()
    }

    /// Sets (or with `None` removes) the simple property `field` of an item, as a person editing
    /// it would: the change key advances.
    pub fn edit_item(&self, mailbox: &str, id: &str, field: &str, value: Option<&str>) -> Result<ItemView, String> {
        let raw = ids::decode(id, ids::Format::EwsId).ok_or("malformed id")?;
        let mbx = mailbox.to_lowercase();
        let mut d = self.lock();
        let seq = d.bump();
        let item = d.mailboxes.get_mut(&mbx).and_then(|m| m.items.get_mut(&raw.num)).ok_or("no such item")?;
        item.props.retain(|p| p.name != field);
        if let Some(v) = value {
            item.props.push(Element::t(field).with_text(v));
        }
        ops::touch(item, seq);
        ops::view(&d, &mbx, raw.num).ok_or_else(|| "vanished".to_owned())
    }

    /// Edits occurrence `index` (1-based) of the recurring master `master_id` as a person would:
    /// the occurrence becomes an exception with `field` set (or removed), the master's change key
    /// advances.
    pub fn edit_occurrence(
        &self,
        mailbox: &str,
        master_id: &str,
        index: u32,
        field: &str,
        value: Option<&str>,
    ) -> Result<ItemView, String> {
        let raw = ids::decode(master_id, ids::Format::EwsId).ok_or("malformed id")?;
        let mbx = mailbox.to_lowercase();
        let mut d = self.lock();
        let seq = d.bump();
        ops::edit_occurrence(&mut d, &mbx, raw.num, index, field, value, seq)?;
        ops::view(&d, &mbx, raw.num).ok_or_else(|| "vanished".to_owned())
    }

    /// Deletes occurrence `index` (1-based) of a recurring master as a person would.
    pub fn delete_occurrence(&self, mailbox: &str, master_id: &str, index: u32) -> Result<ItemView, String> {
        let raw = ids::decode(master_id, ids::Format::EwsId).ok_or("malformed id")?;
        let mbx = mailbox.to_lowercase();
        let mut d = self.lock();
        let seq = d.bump();
        let item = d.mailboxes.get_mut(&mbx).and_then(|m| m.items.get_mut(&raw.num)).ok_or("no such item")?;
        if recur::occurrence(&item.props, index).is_none() {
            return Err("no such occurrence".to_owned());
        }
        item.exceptions.remove(&index);
        item.deleted.insert(index);
        ops::touch(item, seq);
        ops::view(&d, &mbx, raw.num).ok_or_else(|| "vanished".to_owned())
    }

    /// Deletes an item as a person would (hard delete).
    pub fn delete_item(&self, mailbox: &str, id: &str) -> bool {
        let Some(raw) = ids::decode(id, ids::Format::EwsId) else { return false };
        let mut d = self.lock();
        d.mailboxes.get_mut(&mailbox.to_lowercase()).and_then(|m| m.items.remove(&raw.num)).is_some()
    }
}
