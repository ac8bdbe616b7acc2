//! Writing: `CreateItem` (the sync key in the extended property), `UpdateItem` with
//! `SetItemField`/`DeleteItemField` for the patch's fields only and `NeverOverwrite` against
//! the expected change key, `DeleteItem` to Deleted Items; then a series' changed and cancelled
//! occurrences ([`crate::series`]). One result per write, in order.

use tandem_connector::{ConnectorError, WriteOp, WriteResult, Written};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{ObjectKind, Record, Recurrence};
use tandem_core::plan::FieldChange;
use tandem_core::state::{IdempotencyKey, RecordId, Version};

use crate::connector::EwsConnector;
use crate::map::{self, contact, event};
#[cfg(test)]
use crate::xml;
use crate::xml::{ResponseMessage, XmlError, XmlWriter};

pub(crate) fn rejected(message: String) -> ConnectorError {
    ConnectorError::Rejected { code: "TandemCannotWrite".to_owned(), message }
}

/// Writes one record's item element for CreateItem.
fn write_record(
    w: &mut XmlWriter,
    record: &Record,
    key: &IdempotencyKey,
    prop: &crate::config::SyncKeyProperty,
) -> Result<(), String> {
    let write_key = |w: &mut XmlWriter| map::write_key(w, prop, key.as_str());
    match record {
        Record::Contact(c) => {
            contact::write_create(w, c, write_key);
            Ok(())
        }
        Record::Event(e) => event::write_create(w, e, write_key),
    }
}

fn write_patch(
    w: &mut XmlWriter,
    object: ObjectKind,
    patch: &[FieldChange],
    current: Option<&tandem_core::model::Event>,
) -> Result<(), String> {
    match object {
        ObjectKind::Contact => contact::write_updates(w, patch),
        ObjectKind::Event => event::write_updates(w, patch, current),
    }
}

/// The written item's id and change key.
fn written_of(m: &ResponseMessage) -> Result<Written, ConnectorError> {
    if let Some(e) = m.error() {
        return Err(e);
    }
    let item = m.element.child("Items").and_then(|i| i.children.first());
    match item.and_then(map::item_id) {
        Some((id, ck)) => Ok(Written::new(RecordId::new(id), Version::new(ck))),
        None => Err(XmlError::Shape("the answer names no item".to_owned()).into()),
    }
}

impl EwsConnector {
    /// Applies `ops`: creates in one `CreateItem`, updates in one `UpdateItem`, deletes in one
    /// `DeleteItem`; a failed call fails its own writes only.
    pub(crate) async fn write(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        let mut results: Vec<Option<WriteResult>> = vec![None; ops.len()];
        let calendar = object == ObjectKind::Event;
        let invitations = if self.config.send_invitations { "SendToAllAndSaveCopy" } else { "SendToNone" };
        let mailbox = self.config.mailbox.clone();

        // Series whose changed or cancelled occurrences are written after them: (op, desired).
        let mut fixes: Vec<(usize, Recurrence)> = Vec::new();

        // Creates.
        let mut creates = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let WriteOp::Create { key, record } = op {
                if record.kind() != object {
                    results[i] = Some(Err(rejected(format!("a {:?} record in a {object:?} write", record.kind()))));
                    continue;
                }
                match write_record(&mut XmlWriter::new(), record, key, &self.config.sync_key) {
                    Ok(()) => {
                        if let Record::Event(e) = record
                            && let Some(r) = e.recurrence.as_ref().filter(|r| event::has_exceptions(r))
                        {
                            fixes.push((i, r.clone()));
                        }
                        creates.push((i, key, record))
                    }
                    Err(reason) => results[i] = Some(Err(rejected(reason))),
                }
            }
        }
        if !creates.is_empty() {
            let folder = self.folder_of(object).await?;
            let body = self.envelope(|w| {
                let mut attrs = vec![];
                if calendar {
                    attrs.push(("SendMeetingInvitations", invitations));
                }
                w.open("m:CreateItem", &attrs);
                w.open("m:SavedItemFolderId", &[]);
                match &folder {
                    crate::read::Folder::Id(id) => w.empty("t:FolderId", &[("Id", id)]),
                    crate::read::Folder::Calendar => crate::read::distinguished(w, "calendar", &mailbox),
                }
                w.close("m:SavedItemFolderId");
                w.open("m:Items", &[]);
                for (_, key, record) in &creates {
                    // Checked above: cannot fail here.
                    let _ = write_record(w, record, key, &self.config.sync_key);
                }
                w.close("m:Items");
                w.close("m:CreateItem");
            });
            let answers = self.call("CreateItem", body).await;
            self.settle(&mut results, creates.iter().map(|(i, _, _)| *i), answers, written_of);
        }

        // Updates.
        let mut updates = Vec::new();
        let mut need_current = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let WriteOp::Update { id, expected, patch } = op {
                if calendar && event::needs_current(patch) {
                    need_current.push(id.as_str().to_owned());
                }
                updates.push((i, id, expected, patch));
            }
        }
        let mut current = std::collections::BTreeMap::new();
        if !need_current.is_empty() {
            match self.get_items(ObjectKind::Event, &need_current).await {
                Ok(items) => {
                    for (id, item) in need_current.iter().zip(items) {
                        current.insert(id.clone(), item);
                    }
                }
                Err(e) => {
                    for (i, id, _, _) in &updates {
                        if need_current.iter().any(|n| n == id.as_str()) {
                            results[*i] = Some(Err(e.clone()));
                        }
                    }
                }
            }
        }
        let mut sendable = Vec::new();
        for (i, id, expected, patch) in updates {
            if results[i].is_some() {
                continue;
            }
            let now = match current.get(id.as_str()) {
                None => None,
                Some(Err(e)) => {
                    results[i] = Some(Err(e.clone()));
                    continue;
                }
                Some(Ok(item)) => {
                    let ck = map::item_id(item).map(|(_, ck)| ck).unwrap_or_default();
                    if !expected.as_str().is_empty() && ck != expected.as_str() {
                        results[i] = Some(Err(ConnectorError::PreconditionFailed { current: Some(Version::new(ck)) }));
                        continue;
                    }
                    match event::parse(item, &self.config.mailbox) {
                        Ok(p) => {
                            let had = !p.modified.is_empty()
                                || p.event.recurrence.as_ref().is_some_and(|r| !r.cancelled.is_empty());
                            Some((p.event, had))
                        }
                        Err(reason) => {
                            results[i] =
                                Some(Err(rejected(format!("the event as it is now cannot be read: {reason}"))));
                            continue;
                        }
                    }
                }
            };
            let had_exceptions = now.as_ref().is_some_and(|(_, had)| *had);
            let now = now.map(|(e, _)| e);
            if calendar {
                let desired = patch.iter().find(|c| c.field == FieldKey::Recurrence).and_then(|c| match &c.value {
                    Some(FieldValue::Recurrence(r)) => Some(r),
                    _ => None,
                });
                if let Some(r) = desired.filter(|r| had_exceptions || event::has_exceptions(r)) {
                    fixes.push((i, r.clone()));
                }
            }
            let mut probe = XmlWriter::new();
            match write_patch(&mut probe, object, patch, now.as_ref()) {
                Err(reason) => results[i] = Some(Err(rejected(reason))),
                Ok(()) if probe.into_bytes().is_empty() => {
                    results[i] = Some(Ok(Written::new(id.clone(), expected.clone())));
                }
                Ok(()) => sendable.push((i, id, expected, patch, now)),
            }
        }
        if !sendable.is_empty() {
            let body = self.envelope(|w| {
                let mut attrs = vec![("ConflictResolution", "NeverOverwrite")];
                if calendar {
                    attrs.push(("SendMeetingInvitationsOrCancellations", invitations));
                }
                w.open("m:UpdateItem", &attrs);
                w.open("m:ItemChanges", &[]);
                for (_, id, expected, patch, now) in &sendable {
                    w.open("t:ItemChange", &[]);
                    if expected.as_str().is_empty() {
                        w.empty("t:ItemId", &[("Id", id.as_str())]);
                    } else {
                        w.empty("t:ItemId", &[("Id", id.as_str()), ("ChangeKey", expected.as_str())]);
                    }
                    w.open("t:Updates", &[]);
                    // Checked above: cannot fail here.
                    let _ = write_patch(w, object, patch, now.as_ref());
                    w.close("t:Updates");
                    w.close("t:ItemChange");
                }
                w.close("m:ItemChanges");
                w.close("m:UpdateItem");
            });
            let answers = self.call("UpdateItem", body).await;
            self.settle(&mut results, sendable.iter().map(|(i, ..)| *i), answers, |m| {
                let conflicts = m.element.at(&["ConflictResults", "Count"]).map(|c| c.text.trim() != "0");
                if m.error().is_none() && conflicts == Some(true) {
                    return Err(ConnectorError::PreconditionFailed { current: None });
                }
                written_of(m)
            });
        }

        // Changed and cancelled occurrences of the series written above.
        for (i, desired) in fixes {
            let Some(Some(Ok(w))) = results.get(i) else { continue };
            let id = w.id.clone();
            let outcome = match self.fix_series(&id, &desired).await {
                Ok(version) => Ok(Written::new(id, version)),
                Err(e) => Err(ConnectorError::Transient {
                    message: format!("the series was written but its changed or cancelled occurrences were not: {e}"),
                }),
            };
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(outcome);
            }
        }

        // Deletes.
        let deletes: Vec<(usize, &RecordId)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match op {
                WriteOp::Delete { id, .. } => Some((i, id)),
                _ => None,
            })
            .collect();
        if !deletes.is_empty() {
            let body = self.envelope(|w| {
                let mut attrs = vec![("DeleteType", "MoveToDeletedItems")];
                if calendar {
                    attrs.push(("SendMeetingCancellations", invitations_for_delete(self.config.send_invitations)));
                }
                w.open("m:DeleteItem", &attrs);
                w.open("m:ItemIds", &[]);
                for (_, id) in &deletes {
                    w.empty("t:ItemId", &[("Id", id.as_str())]);
                }
                w.close("m:ItemIds");
                w.close("m:DeleteItem");
            });
            let answers = self.call("DeleteItem", body).await;
            let ids: Vec<RecordId> = deletes.iter().map(|(_, id)| (*id).clone()).collect();
            let mut n = 0usize;
            self.settle(&mut results, deletes.iter().map(|(i, _)| *i), answers, |m| {
                let id = ids.get(n).cloned().unwrap_or_else(|| RecordId::new(String::new()));
                n += 1;
                match m.error() {
                    // Already gone: the delete holds.
                    None | Some(ConnectorError::NotFound) => Ok(Written::new(id, Version::default())),
                    Some(e) => Err(e),
                }
            });
        }

        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ConnectorError::Transient { message: "write not attempted".to_owned() })))
            .collect())
    }

    /// Spreads one call's answers (or its failure) over the writes it carried.
    fn settle(
        &self,
        results: &mut [Option<WriteResult>],
        indexes: impl Iterator<Item = usize>,
        answers: Result<Vec<ResponseMessage>, ConnectorError>,
        mut each: impl FnMut(&ResponseMessage) -> WriteResult,
    ) {
        let indexes: Vec<usize> = indexes.collect();
        let answers = answers.and_then(|m| {
            if m.len() == indexes.len() {
                Ok(m)
            } else {
                Err(XmlError::Shape(format!("{} answers for {} writes", m.len(), indexes.len())).into())
            }
        });
        match answers {
            Ok(messages) => {
                for (i, m) in indexes.into_iter().zip(messages.iter()) {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(each(m));
                    }
                }
            }
            Err(e) => {
                for i in indexes {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(Err(e.clone()));
                    }
                }
            }
        }
    }
}

fn invitations_for_delete(send: bool) -> &'static str {
    if send { "SendToAllAndSaveCopy" } else { "SendToNone" }
}

/// Parses a write call's answer, for tests.
#[cfg(test)]
pub(crate) fn answers(body: &[u8]) -> Result<Vec<WriteResult>, ConnectorError> {
    Ok(xml::parse_messages(body, 1 << 20)?.iter().map(written_of).collect())
}
