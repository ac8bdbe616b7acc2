//! [`GraphState`] playing the user on mailbox items: seeding, reading, editing and deleting
//! contacts, contact folders and events (occurrences included), and extended properties.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::GraphState;
use super::data::ApiError;
use super::util::{self, Prefer};

fn text_error(e: ApiError) -> String {
    format!("{} {}: {}", e.status, e.code, e.message)
}

impl GraphState {
    // --- contacts -----------------------------------------------------------------------------

    /// Creates a contact folder; returns its id.
    ///
    /// # Errors
    ///
    /// Unknown mailbox, empty or duplicate name.
    pub fn create_contact_folder(&self, mailbox: &str, name: &str) -> Result<String, String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        data.create_folder(&key, name).map(|f| f.id).map_err(text_error)
    }

    /// The id of the contact folder named `name`, if any.
    pub fn contact_folder_id(&self, mailbox: &str, name: &str) -> Option<String> {
        let data = self.lock();
        let key = data.mailbox_key(mailbox)?;
        let m = data.mailboxes.get(&key)?;
        m.folders.values().find(|f| f.display_name.eq_ignore_ascii_case(name)).map(|f| f.id.clone())
    }

    /// Adds a contact as the user would (Graph JSON), in the folder named `folder` (created when
    /// missing) or in the default folder; returns its id.
    ///
    /// # Errors
    ///
    /// Unknown mailbox, or a body the service would reject.
    pub fn seed_contact(&self, mailbox: &str, folder: Option<&str>, contact: Value) -> Result<String, String> {
        self.seed_contact_checked(mailbox, folder, contact, true)
    }

    /// Like [`seed_contact`](Self::seed_contact) without the service's validation: data another
    /// client stored (an unreadable birthday, more addresses than Outlook shows…), to test how
    /// connectors cope.
    ///
    /// # Errors
    ///
    /// Unknown mailbox, or a body that is not a JSON object.
    pub fn seed_contact_unchecked(
        &self,
        mailbox: &str,
        folder: Option<&str>,
        contact: Value,
    ) -> Result<String, String> {
        self.seed_contact_checked(mailbox, folder, contact, false)
    }

    fn seed_contact_checked(
        &self,
        mailbox: &str,
        folder: Option<&str>,
        contact: Value,
        check: bool,
    ) -> Result<String, String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        let folder_id = match folder {
            None => data.mailbox(&key).map_err(text_error)?.default_folder.clone(),
            Some(name) => {
                let existing = data
                    .mailbox(&key)
                    .map_err(text_error)?
                    .folders
                    .values()
                    .find(|f| f.display_name.eq_ignore_ascii_case(name))
                    .map(|f| f.id.clone());
                match existing {
                    Some(id) => id,
                    None => data.create_folder(&key, name).map_err(text_error)?.id,
                }
            }
        };
        let body = contact.as_object().cloned().ok_or("a contact is a JSON object")?;
        data.create_contact_checked(&key, &folder_id, &body, check).map_err(text_error)
    }

    /// Every live contact of the mailbox, as `GET` renders them (immutable ids).
    pub fn contacts(&self, mailbox: &str) -> Vec<Value> {
        let data = self.lock();
        let Some(key) = data.mailbox_key(mailbox) else { return Vec::new() };
        let Some(m) = data.mailboxes.get(&key) else { return Vec::new() };
        let prefer = Prefer { immutable_id: true, ..Prefer::default() };
        m.contacts
            .values()
            .filter(|c| c.deleted_seq.is_none())
            .map(|c| data.render_contact(c, &prefer, Some("")))
            .collect()
    }

    /// One contact as `GET` renders it, with all its extended properties.
    pub fn contact(&self, mailbox: &str, id: &str) -> Option<Value> {
        let data = self.lock();
        let key = data.mailbox_key(mailbox)?;
        let c = data.contact(&key, id).ok()?;
        Some(data.render_contact(c, &Prefer { immutable_id: true, ..Prefer::default() }, Some("")))
    }

    /// Edits a contact as the user would (a JSON merge of `patch`, no precondition).
    ///
    /// # Errors
    ///
    /// Unknown mailbox or contact, or a patch the service would reject.
    pub fn edit_contact(&self, mailbox: &str, id: &str, patch: Value) -> Result<(), String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        let patch = patch.as_object().cloned().ok_or("a patch is a JSON object")?;
        data.update_contact(&key, id, &patch, None).map(|_| ()).map_err(text_error)
    }

    /// Deletes a contact as the user would.
    ///
    /// # Errors
    ///
    /// Unknown mailbox or contact.
    pub fn delete_contact(&self, mailbox: &str, id: &str) -> Result<(), String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        data.delete_contact(&key, id, None).map_err(text_error)
    }

    // --- events -------------------------------------------------------------------------------

    /// Adds an event as the user would (Graph JSON); returns its id.
    ///
    /// # Errors
    ///
    /// Unknown mailbox, or a body the service would reject.
    pub fn seed_event(&self, mailbox: &str, event: Value) -> Result<String, String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        let body = event.as_object().cloned().ok_or("an event is a JSON object")?;
        data.create_event(&key, &body).map(|(id, _)| id).map_err(text_error)
    }

    /// Every live single event and series master, as `GET` renders them in UTC with
    /// `exceptionOccurrences` and extended properties expanded.
    pub fn events(&self, mailbox: &str) -> Vec<Value> {
        let data = self.lock();
        let Some(key) = data.mailbox_key(mailbox) else { return Vec::new() };
        let Some(m) = data.mailboxes.get(&key) else { return Vec::new() };
        let prefer = Prefer { immutable_id: true, ..Prefer::default() };
        m.events
            .values()
            .filter(|e| e.deleted_seq.is_none())
            .map(|e| data.render_event(m, e, &prefer, true, Some("")))
            .collect()
    }

    /// One event (single, master, occurrence or exception) as `GET` renders it in UTC.
    pub fn event(&self, mailbox: &str, id: &str) -> Option<Value> {
        let data = self.lock();
        let key = data.mailbox_key(mailbox)?;
        let (master, date) = data.resolve_event(&key, id).ok()?;
        let m = data.mailboxes.get(&key)?;
        let e = data.event(&key, &master).ok()?;
        let prefer = Prefer { immutable_id: true, ..Prefer::default() };
        match date {
            Some(d) => data.render_instance(m, e, d, &prefer, false),
            None => Some(data.render_event(m, e, &prefer, true, Some(""))),
        }
    }

    /// The occurrences and exceptions of a series overlapping `[from, to)`, as `/instances`
    /// renders them.
    pub fn instances(&self, mailbox: &str, master: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Value> {
        let data = self.lock();
        let Some(key) = data.mailbox_key(mailbox) else { return Vec::new() };
        let Some(m) = data.mailboxes.get(&key) else { return Vec::new() };
        let Ok(e) = data.event(&key, &util::canonical_id(master)) else { return Vec::new() };
        let prefer = Prefer { immutable_id: true, ..Prefer::default() };
        e.instances(from, to)
            .iter()
            .filter_map(|i| i.date.and_then(|d| data.render_instance(m, e, d, &prefer, false)))
            .collect()
    }

    /// The id of the occurrence of series `master` on local date `date` (in the series' zone).
    pub fn occurrence_id(master: &str, date: NaiveDate) -> String {
        util::occurrence_id(&util::canonical_id(master), date)
    }

    /// Edits an event as the user would (no precondition). An occurrence id makes an exception.
    ///
    /// # Errors
    ///
    /// Unknown mailbox or event, or a patch the service would reject.
    pub fn edit_event(&self, mailbox: &str, id: &str, patch: Value) -> Result<(), String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        let patch = patch.as_object().cloned().ok_or("a patch is a JSON object")?;
        data.update_event(&key, id, &patch, None).map(|_| ()).map_err(text_error)
    }

    /// Deletes an event as the user would; an occurrence id cancels that occurrence.
    ///
    /// # Errors
    ///
    /// Unknown mailbox or event.
    pub fn delete_event(&self, mailbox: &str, id: &str) -> Result<(), String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        data.delete_event(&key, id, None).map_err(text_error)
    }

    /// The value of a single-value extended property of an item (contact or event).
    pub fn extended_property(&self, mailbox: &str, id: &str, property_id: &str) -> Option<String> {
        let data = self.lock();
        let key = data.mailbox_key(mailbox)?;
        let m = data.mailboxes.get(&key)?;
        let id = util::canonical_id(id);
        let ext = m.contacts.get(&id).map(|c| &c.ext).or_else(|| m.events.get(&id).map(|e| &e.ext))?;
        ext.iter().find(|(k, _)| k.eq_ignore_ascii_case(property_id)).map(|(_, v)| v.clone())
    }
}
