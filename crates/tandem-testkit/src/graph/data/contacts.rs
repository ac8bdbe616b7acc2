//! Contact folders and contacts: create, read, update, delete and render.

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::change_keys::{etag, matches_etag, new_change_key, precondition_failed};
use super::extended::{extended_properties, render_ext};
use super::validate::{CONTACT_WRITABLE, validate_contact, validate_keys};
use super::{ApiError, ContactRec, Data, Folder};
use crate::compact::CompactJson;
use crate::graph::util::{Prefer, format_instant, new_item_id, present_id};

impl Data {
    // --- folders ------------------------------------------------------------------------------

    pub(crate) fn create_folder(&mut self, mb: &str, name: &str) -> Result<Folder, ApiError> {
        let mailbox = self.mailbox_mut(mb)?;
        if name.trim().is_empty() {
            return Err(ApiError::bad_request("The folder name is required."));
        }
        if mailbox.folders.values().any(|f| f.display_name.eq_ignore_ascii_case(name)) {
            return Err(ApiError::new(409, "ErrorFolderExists", "A folder with the specified name already exists."));
        }
        let folder =
            Folder { id: new_item_id(), display_name: name.to_owned(), parent: mailbox.default_folder.clone() };
        mailbox.folders.insert(folder.id.clone(), folder.clone());
        Ok(folder)
    }

    pub(crate) fn folder_key(&self, mb: &str, folder: &str) -> Result<String, ApiError> {
        let mailbox = self.mailbox(mb)?;
        let id = super::util::canonical_id(folder);
        if id == mailbox.default_folder || mailbox.folders.contains_key(&id) || folder.eq_ignore_ascii_case("contacts")
        {
            if folder.eq_ignore_ascii_case("contacts") {
                return Ok(mailbox.default_folder.clone());
            }
            return Ok(id);
        }
        Err(ApiError::not_found())
    }

    // --- contacts -----------------------------------------------------------------------------

    pub(crate) fn create_contact(
        &mut self,
        mb: &str,
        folder: &str,
        body: &Map<String, Value>,
    ) -> Result<String, ApiError> {
        self.create_contact_checked(mb, folder, body, true)
    }

    /// Creates a contact; `check` false stores what another client might have stored.
    pub(crate) fn create_contact_checked(
        &mut self,
        mb: &str,
        folder: &str,
        body: &Map<String, Value>,
        check: bool,
    ) -> Result<String, ApiError> {
        if check {
            validate_keys(body, CONTACT_WRITABLE, "Contact", &["singleValueExtendedProperties"])?;
            validate_contact(body, &self.config)?;
        }
        let ext = extended_properties(body)?;
        let seq = self.tick();
        let now = Utc::now();
        let mailbox = self.mailbox_mut(mb)?;
        let mut data = body.clone();
        data.remove("singleValueExtendedProperties");
        data.retain(|k, _| !k.starts_with("@odata."));
        let id = new_item_id();
        mailbox.contacts.insert(
            id.clone(),
            ContactRec {
                id: id.clone(),
                change_key: new_change_key(),
                created: now,
                modified: now,
                seq,
                deleted_seq: None,
                folder: folder.to_owned(),
                data: CompactJson::new(&data),
                ext: ext.into_iter().collect(),
            },
        );
        Ok(id)
    }

    pub(crate) fn contact(&self, mb: &str, id: &str) -> Result<&ContactRec, ApiError> {
        let id = super::util::canonical_id(id);
        self.mailbox(mb)?.contacts.get(&id).filter(|c| c.deleted_seq.is_none()).ok_or_else(ApiError::not_found)
    }

    pub(crate) fn update_contact(
        &mut self,
        mb: &str,
        id: &str,
        patch: &Map<String, Value>,
        if_match: Option<&str>,
    ) -> Result<String, ApiError> {
        validate_keys(patch, CONTACT_WRITABLE, "Contact", &["singleValueExtendedProperties"])?;
        validate_contact(patch, &self.config)?;
        let ext = extended_properties(patch)?;
        let seq = self.tick();
        let id = super::util::canonical_id(id);
        let contact = self
            .mailbox_mut(mb)?
            .contacts
            .get_mut(&id)
            .filter(|c| c.deleted_seq.is_none())
            .ok_or_else(ApiError::not_found)?;
        if !matches_etag(if_match, &contact.change_key) {
            return Err(precondition_failed());
        }
        let mut data = contact.data();
        for (k, v) in patch {
            if k.starts_with("@odata.") || k == "singleValueExtendedProperties" {
                continue;
            }
            data.insert(k.clone(), v.clone());
        }
        contact.data = CompactJson::new(&data);
        contact.ext.extend(ext);
        contact.change_key = new_change_key();
        contact.modified = Utc::now();
        contact.seq = seq;
        Ok(id)
    }

    pub(crate) fn delete_contact(&mut self, mb: &str, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
        let seq = self.tick();
        let id = super::util::canonical_id(id);
        let contact = self
            .mailbox_mut(mb)?
            .contacts
            .get_mut(&id)
            .filter(|c| c.deleted_seq.is_none())
            .ok_or_else(ApiError::not_found)?;
        if !matches_etag(if_match, &contact.change_key) {
            return Err(precondition_failed());
        }
        contact.deleted_seq = Some(seq);
        Ok(())
    }

    pub(crate) fn render_contact(&self, c: &ContactRec, prefer: &Prefer, expand_ext: Option<&str>) -> Value {
        let data = c.data();
        let mut out = Map::new();
        out.insert("@odata.etag".into(), json!(etag(&c.change_key)));
        out.insert("id".into(), json!(present_id(&c.id, prefer.immutable_id)));
        out.insert("createdDateTime".into(), json!(format_instant(c.created)));
        out.insert("lastModifiedDateTime".into(), json!(format_instant(c.modified)));
        out.insert("changeKey".into(), json!(c.change_key));
        out.insert("categories".into(), data.get("categories").cloned().unwrap_or_else(|| json!([])));
        out.insert("parentFolderId".into(), json!(present_id(&c.folder, prefer.immutable_id)));
        for key in CONTACT_WRITABLE {
            if *key == "categories" {
                continue;
            }
            let default = match *key {
                "businessPhones" | "homePhones" | "imAddresses" | "children" | "emailAddresses" => json!([]),
                "businessAddress" | "homeAddress" | "otherAddress" => json!({}),
                _ => Value::Null,
            };
            let value = match data.get(*key) {
                Some(Value::Null) | None => default,
                Some(v) => v.clone(),
            };
            out.insert((*key).to_owned(), value);
        }
        if out.get("displayName").is_some_and(Value::is_null) {
            let name: Vec<&str> = ["givenName", "middleName", "surname"]
                .iter()
                .filter_map(|k| data.get(*k).and_then(Value::as_str))
                .filter(|s| !s.is_empty())
                .collect();
            out.insert("displayName".into(), json!(name.join(" ")));
        }
        if let Some(filter) = expand_ext {
            out.insert("singleValueExtendedProperties".into(), render_ext(&c.ext, filter));
        }
        Value::Object(out)
    }
}
