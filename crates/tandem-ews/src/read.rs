//! Reading: the contacts folder (found or created), `SyncFolderItems` pages, `GetItem` batches,
//! series exceptions, and `FindItem` by sync key.

use tandem_connector::{ConnectorError, PullPage, Written};
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Version};

use crate::connector::EwsConnector;
use crate::cursor::SyncCursor;
use crate::map::{self, contact, event, time::parse_instant};
use crate::xml::{self, Element, XmlError, XmlWriter};

/// Changes per `SyncFolderItems` call (EWS's maximum).
pub const MAX_CHANGES_RETURNED: usize = 512;

/// Writes a `DistinguishedFolderId` of the mailbox.
pub(crate) fn distinguished(w: &mut XmlWriter, id: &str, mailbox: &str) {
    w.open("t:DistinguishedFolderId", &[("Id", id)]);
    w.open("t:Mailbox", &[]);
    w.text("t:EmailAddress", mailbox.trim());
    w.close("t:Mailbox");
    w.close("t:DistinguishedFolderId");
}

/// The folder a kind lives in: the contacts folder's id, or `calendar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Folder {
    Id(String),
    Calendar,
}

impl Folder {
    fn write(&self, w: &mut XmlWriter, mailbox: &str) {
        match self {
            Folder::Id(id) => w.empty("t:FolderId", &[("Id", id)]),
            Folder::Calendar => distinguished(w, "calendar", mailbox),
        }
    }

    fn name(&self) -> &str {
        match self {
            Folder::Id(id) => id,
            Folder::Calendar => "calendar",
        }
    }
}

fn items_of(message: &Element) -> Vec<&Element> {
    message.child("Items").map(|i| i.children.iter().collect()).unwrap_or_default()
}

fn shape(w: &mut XmlWriter, object: ObjectKind, key: &crate::config::SyncKeyProperty) {
    w.open("m:ItemShape", &[]);
    w.text("t:BaseShape", "IdOnly");
    w.text("t:BodyType", "Text");
    w.open("t:AdditionalProperties", &[]);
    let props: &[&str] = match object {
        ObjectKind::Contact => &contact::PROPERTIES,
        ObjectKind::Event => &event::PROPERTIES,
    };
    for p in props {
        w.empty("t:FieldURI", &[("FieldURI", p)]);
    }
    map::write_key_uri(w, key);
    w.close("t:AdditionalProperties");
    w.close("m:ItemShape");
}

impl EwsConnector {
    /// The folder of `object`, finding or creating the contacts folder once.
    pub(crate) async fn folder_of(&self, object: ObjectKind) -> Result<Folder, ConnectorError> {
        if object == ObjectKind::Event {
            return Ok(Folder::Calendar);
        }
        let mut cached = self.folder.lock().await;
        if let Some(id) = cached.as_ref() {
            return Ok(Folder::Id(id.clone()));
        }
        let id = match self.find_contact_folder().await? {
            Some(id) => id,
            None => match self.create_contact_folder().await {
                Ok(id) => id,
                // Created meanwhile by another client.
                Err(ConnectorError::Rejected { code, .. }) if code == "ErrorFolderExists" => {
                    self.find_contact_folder().await?.ok_or(ConnectorError::NotFound)?
                }
                Err(e) => return Err(e),
            },
        };
        *cached = Some(id.clone());
        Ok(Folder::Id(id))
    }

    async fn find_contact_folder(&self) -> Result<Option<String>, ConnectorError> {
        let name = self.config.contact_folder.clone();
        let mailbox = self.config.mailbox.clone();
        let body = self.envelope(|w| {
            w.open("m:FindFolder", &[("Traversal", "Shallow")]);
            w.open("m:FolderShape", &[]);
            w.text("t:BaseShape", "IdOnly");
            w.close("m:FolderShape");
            w.open("m:Restriction", &[]);
            w.open("t:IsEqualTo", &[]);
            w.empty("t:FieldURI", &[("FieldURI", "folder:DisplayName")]);
            w.open("t:FieldURIOrConstant", &[]);
            w.empty("t:Constant", &[("Value", &name)]);
            w.close("t:FieldURIOrConstant");
            w.close("t:IsEqualTo");
            w.close("m:Restriction");
            w.open("m:ParentFolderIds", &[]);
            distinguished(w, "contacts", &mailbox);
            w.close("m:ParentFolderIds");
            w.close("m:FindFolder");
        });
        let m = xml::single(self.call("FindFolder", body).await?)?;
        Ok(m.element
            .at(&["RootFolder", "Folders"])
            .and_then(|f| f.find("FolderId"))
            .and_then(|f| f.attr("Id"))
            .map(str::to_owned))
    }

    async fn create_contact_folder(&self) -> Result<String, ConnectorError> {
        let name = self.config.contact_folder.clone();
        let mailbox = self.config.mailbox.clone();
        let body = self.envelope(|w| {
            w.open("m:CreateFolder", &[]);
            w.open("m:ParentFolderId", &[]);
            distinguished(w, "contacts", &mailbox);
            w.close("m:ParentFolderId");
            w.open("m:Folders", &[]);
            w.open("t:ContactsFolder", &[]);
            w.text("t:DisplayName", &name);
            w.close("t:ContactsFolder");
            w.close("m:Folders");
            w.close("m:CreateFolder");
        });
        let m = xml::single(self.call("CreateFolder", body).await?)?;
        m.element
            .find("FolderId")
            .and_then(|f| f.attr("Id"))
            .map(str::to_owned)
            .ok_or_else(|| XmlError::Shape("CreateFolder answered no FolderId".to_owned()).into())
    }

    /// One `SyncFolderItems` page, with the changed items read in full.
    pub(crate) async fn pull_page(
        &self,
        object: ObjectKind,
        cursor: Option<&Cursor>,
    ) -> Result<PullPage, ConnectorError> {
        let folder = self.folder_of(object).await?;
        let state = cursor.map(|c| SyncCursor::decode(c, folder.name())).transpose()?.map(|c| c.state);
        let mailbox = self.config.mailbox.clone();
        let body = self.envelope(|w| {
            w.open("m:SyncFolderItems", &[]);
            w.open("m:ItemShape", &[]);
            w.text("t:BaseShape", "IdOnly");
            w.close("m:ItemShape");
            w.open("m:SyncFolderId", &[]);
            folder.write(w, &mailbox);
            w.close("m:SyncFolderId");
            if let Some(s) = &state {
                w.text("m:SyncState", s);
            }
            w.text("m:MaxChangesReturned", &MAX_CHANGES_RETURNED.to_string());
            w.close("m:SyncFolderItems");
        });
        let answer = self.call("SyncFolderItems", body).await.and_then(xml::single);
        let m = match answer {
            Ok(m) => m,
            Err(e) => {
                if matches!(e, ConnectorError::CursorExpired | ConnectorError::NotFound) {
                    // The contacts folder may be gone: look it up again next time.
                    *self.folder.lock().await = None;
                }
                return Err(e);
            }
        };
        let sync = parse_sync(&m.element)?;
        let upserts: Vec<String> = sync.changes.iter().filter(|(_, up)| *up).map(|(id, _)| id.clone()).collect();
        let mut read = self.read_items(object, &upserts).await?.into_iter();
        let mut changes = Vec::with_capacity(sync.changes.len());
        for (id, upsert) in sync.changes {
            if upsert {
                // `read_items` answers one change per id, in order.
                changes.push(read.next().unwrap_or_else(|| Change::deleted(id)));
            } else {
                changes.push(Change::deleted(id));
            }
        }
        Ok(PullPage { changes, cursor: SyncCursor::new(folder.name(), &sync.state).encode(), done: sync.last })
    }

    /// Reads items by id, in batches; ids that are gone come back as deletes. Series masters
    /// have their exceptions read and folded in.
    pub(crate) async fn read_items(&self, object: ObjectKind, ids: &[String]) -> Result<Vec<Change>, ConnectorError> {
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(self.config.get_item_batch.max(1)) {
            let items = self.get_items(object, batch).await?;
            for (id, item) in batch.iter().zip(items) {
                let change = match item {
                    Err(ConnectorError::NotFound) => Change::deleted(id.clone()),
                    Err(
                        e @ (ConnectorError::Throttled { .. }
                        | ConnectorError::Auth { .. }
                        | ConnectorError::Transient { .. }),
                    ) => {
                        return Err(e);
                    }
                    Err(e) => invalid(id, e.to_string()),
                    Ok(item) => self.to_change(object, id, &item).await?,
                };
                out.push(change);
            }
        }
        Ok(out)
    }

    async fn to_change(&self, object: ObjectKind, id: &str, item: &Element) -> Result<Change, ConnectorError> {
        let (item_id, change_key) = map::item_id(item).unwrap_or_else(|| (id.to_owned(), String::new()));
        let modified = item.text_of("LastModifiedTime").and_then(parse_instant);
        let sync_key = map::key_of(item, &self.config.sync_key).map(IdempotencyKey::from);
        let record = match object {
            ObjectKind::Contact => contact::parse(item).map(Record::Contact),
            ObjectKind::Event => match event::parse(item, &self.config.mailbox) {
                Ok(mut parsed) => match self.read_exceptions(&parsed.modified).await? {
                    Ok(exceptions) => {
                        event::apply_exceptions(&mut parsed, &exceptions).map(|()| Record::Event(parsed.event))
                    }
                    Err(reason) => Err(reason),
                },
                Err(e) => Err(e),
            },
        };
        let mut change = match record {
            Ok(record) => Change::upserted(item_id, change_key, record),
            Err(reason) => invalid(&item_id, reason),
        };
        change.modified_at = modified;
        change.sync_key = sync_key;
        Ok(change)
    }

    async fn read_exceptions(
        &self,
        modified: &[(String, chrono::DateTime<chrono::Utc>)],
    ) -> Result<Result<Vec<(chrono::DateTime<chrono::Utc>, tandem_core::model::Event)>, String>, ConnectorError> {
        let mut out = Vec::new();
        for batch in modified.chunks(self.config.get_item_batch.max(1)) {
            let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
            let items = self.get_items(ObjectKind::Event, &ids).await?;
            for ((_, original), item) in batch.iter().zip(items) {
                match item {
                    Ok(item) => match event::parse(&item, &self.config.mailbox) {
                        Ok(p) => out.push((*original, p.event)),
                        Err(reason) => {
                            return Err(ConnectorError::Transient {
                                message: format!("unreadable exception: {reason}"),
                            });
                        }
                    },
                    Err(ConnectorError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Ok(out))
    }

    /// `GetItem` of `ids`: one result per id, in order.
    pub(crate) async fn get_items(
        &self,
        object: ObjectKind,
        ids: &[String],
    ) -> Result<Vec<Result<Element, ConnectorError>>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let body = self.envelope(|w| {
            w.open("m:GetItem", &[]);
            shape(w, object, &self.config.sync_key);
            w.open("m:ItemIds", &[]);
            for id in ids {
                w.empty("t:ItemId", &[("Id", id)]);
            }
            w.close("m:ItemIds");
            w.close("m:GetItem");
        });
        let messages = self.call("GetItem", body).await?;
        if let Some(e) = xml::call_level_error(&messages) {
            return Err(e);
        }
        if messages.len() != ids.len() {
            return Err(
                XmlError::Shape(format!("GetItem answered {} messages for {} ids", messages.len(), ids.len())).into()
            );
        }
        Ok(messages
            .into_iter()
            .map(|m| match m.error() {
                Some(e) => Err(e),
                None => items_of(&m.element)
                    .into_iter()
                    .next()
                    .cloned()
                    .ok_or_else(|| XmlError::Shape("GetItem answered no item".to_owned()).into()),
            })
            .collect())
    }

    /// `FindItem` with `IsEqualTo` on the sync-key property.
    pub(crate) async fn lookup(
        &self,
        object: ObjectKind,
        key: &IdempotencyKey,
    ) -> Result<Option<Written>, ConnectorError> {
        let folder = self.folder_of(object).await?;
        let mailbox = self.config.mailbox.clone();
        let body = self.envelope(|w| {
            w.open("m:FindItem", &[("Traversal", "Shallow")]);
            w.open("m:ItemShape", &[]);
            w.text("t:BaseShape", "IdOnly");
            w.close("m:ItemShape");
            w.empty(
                "m:IndexedPageItemView",
                &[("MaxEntriesReturned", "2"), ("Offset", "0"), ("BasePoint", "Beginning")],
            );
            w.open("m:Restriction", &[]);
            w.open("t:IsEqualTo", &[]);
            map::write_key_uri(w, &self.config.sync_key);
            w.open("t:FieldURIOrConstant", &[]);
            w.empty("t:Constant", &[("Value", key.as_str())]);
            w.close("t:FieldURIOrConstant");
            w.close("t:IsEqualTo");
            w.close("m:Restriction");
            w.open("m:ParentFolderIds", &[]);
            folder.write(w, &mailbox);
            w.close("m:ParentFolderIds");
            w.close("m:FindItem");
        });
        let m = xml::single(self.call("FindItem", body).await?)?;
        let found =
            m.element.at(&["RootFolder", "Items"]).and_then(|items| items.children.first()).and_then(map::item_id);
        Ok(found.map(|(id, ck)| Written::new(RecordId::new(id), Version::new(ck))))
    }
}

fn invalid(id: &str, reason: String) -> Change {
    let mut c = Change::deleted(id);
    c.kind = ChangeKind::Invalid { reason };
    c
}

/// What one `SyncFolderItems` answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyncAnswer {
    pub(crate) state: String,
    pub(crate) last: bool,
    /// `(item id, upserted)`: creates and updates are upserts, deletes are not; read-flag
    /// changes are left out. Later changes to one id replace earlier ones.
    pub(crate) changes: Vec<(String, bool)>,
}

/// Reads a `SyncFolderItemsResponseMessage`.
pub(crate) fn parse_sync(message: &Element) -> Result<SyncAnswer, ConnectorError> {
    let state = message.text_of("SyncState").ok_or_else(|| XmlError::Shape("no SyncState".to_owned()))?.to_owned();
    let last = match message.text_of("IncludesLastItemInRange") {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(XmlError::Shape("no IncludesLastItemInRange".to_owned()).into()),
    };
    let mut changes: Vec<(String, bool)> = Vec::new();
    if let Some(list) = message.child("Changes") {
        for change in &list.children {
            let upsert = match change.name.as_str() {
                "Create" | "Update" => true,
                "Delete" => false,
                _ => continue,
            };
            let id = if upsert {
                change.children.first().and_then(|item| item.child("ItemId"))
            } else {
                change.child("ItemId")
            };
            let Some(id) = id.and_then(|i| i.attr("Id")) else {
                return Err(XmlError::Shape(format!("a {} change without ItemId", change.name)).into());
            };
            changes.retain(|(other, _)| other != id);
            changes.push((id.to_owned(), upsert));
        }
    }
    Ok(SyncAnswer { state, last, changes })
}
