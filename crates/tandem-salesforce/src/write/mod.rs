//! Writing: one `apply` batch of at most 200 writes becomes at most one precondition query and one
//! sObject collection request per kind of write (upsert or create, update, delete), with
//! `allOrNone=false`, and one result per write, in order.
//!
//! - **Creates** carry the plan's idempotency key in the sync-key field. With an External ID
//!   field they are upserts on it (`PATCH /composite/sobjects/{SObject}/{field}`), so a create
//!   replayed after a crash updates the record it made instead of making another. Without one,
//!   the batch's keys are looked up first and only the missing ones created.
//! - **Updates and deletes** honour the version precondition: collections have no ETag, so the
//!   batch's current `SystemModstamp`s are read in one query first and stale writes fail with
//!   `PreconditionFailed` without being sent. A change landing between that read and the write
//!   is not caught (the window is one round trip).
//! - The version of a record after a write is not known without reading it again, which could
//!   pick up a user's edit made in between and mistake it for Tandem's own; writes report an
//!   empty version instead, and the next pull brings the real one.
//!
//! Code map:
//! - `mod.rs`: the entry points, [`SalesforceConnector::apply_batch`] and
//!   [`SalesforceConnector::apply_two`], which plan a batch, check its preconditions and send it.
//! - `plan.rs`: what a batch gathers per write before sending (creates, writes to existing
//!   records, their notes) and the names and addresses it looks up.
//! - `settle.rs`: write errors on the taxonomy and collection answers mapped onto the writes.
//! - `keys.rs`: idempotency keys, checked and looked up.
//! - `precondition.rs`: the current versions of the records a batch updates or deletes.
//! - `create.rs`: creates, as upserts on the External ID field or after a key lookup.
//! - `collections.rs`: updates and deletes in sObject collection requests, shared between two
//!   objects' batches at a rendezvous.
//! - `invitations.rs`: the invitations of the events written and their `WhoId`.
//! - `tests.rs`: unit tests of the per-record error mapping and the key check.

mod collections;
mod create;
mod invitations;
mod keys;
mod plan;
mod precondition;
mod settle;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde_json::{Value, json};
use tandem_connector::rendezvous::join_pair;
use tandem_connector::{ConnectorError, ObjectWrites, WriteOp, WriteResult, Written};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Attendee, ObjectKind, Record};
use tandem_core::state::{RecordId, Unresolved, UnresolvedKind, Version};

use crate::SalesforceConnector;
use crate::config::UnrelatedEvents;
use crate::mapping::MAX_BATCH;
use crate::related::{self, Accounts, Person};
use crate::soql::check_id;

pub(crate) use collections::CollectionSeat;
use collections::Collections;
use keys::check_key;
use plan::{Create, Existing, Notes, lookups};
use settle::{rejected, settle};

fn sobject_name(object: ObjectKind) -> &'static str {
    match object {
        ObjectKind::Contact => "Contact",
        ObjectKind::Event => "Event",
    }
}

impl SalesforceConnector {
    /// One object's batch; with `seat`, its updates and deletes go in the same sObject
    /// collection requests as the other object's (see [`SalesforceConnector::apply_two`]).
    pub(crate) async fn apply_batch(
        &self,
        object: ObjectKind,
        ops: &[WriteOp],
        seat: Option<CollectionSeat>,
    ) -> Result<Vec<WriteResult>, ConnectorError> {
        if ops.len() > MAX_BATCH {
            return Err(rejected("BATCH_TOO_LARGE", format!("{} writes in one batch; at most {MAX_BATCH}", ops.len())));
        }
        let mut results: Vec<Option<WriteResult>> = vec![None; ops.len()];
        let needs_zone = object == ObjectKind::Event && ops.iter().any(|op| !matches!(op, WriteOp::Delete { .. }));
        let zone = if needs_zone {
            match self.zone().await {
                Ok(z) => z,
                Err(e) => return Ok(ops.iter().map(|_| Err(e.clone())).collect()),
            }
        } else {
            String::new()
        };
        let key_field = self.config.sync_key.field.clone();
        let related = &self.config.related;
        let (names, emails) = lookups(ops);
        let accounts: Option<Accounts> = if object == ObjectKind::Contact && related.match_accounts && !names.is_empty()
        {
            match self.accounts_named(&names).await {
                Ok(a) => Some(a),
                Err(e) => return Ok(ops.iter().map(|_| Err(e.clone().into_connector())).collect()),
            }
        } else {
            None
        };
        let people = if object == ObjectKind::Event && !emails.is_empty() {
            match self.people(&emails).await {
                Ok(p) => p,
                Err(e) => return Ok(ops.iter().map(|_| Err(e.clone().into_connector())).collect()),
            }
        } else {
            HashMap::new()
        };
        let mut notes: Vec<Notes> = ops.iter().map(|_| Notes::default()).collect();
        let mut creates = Vec::new();
        let mut existing = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            match op {
                WriteOp::Create { key, record } => {
                    if record.kind() != object {
                        results[index] =
                            Some(Err(rejected("WRONG_KIND", format!("a {} in a {object} batch", record.kind()))));
                        continue;
                    }
                    if let Err(e) = check_key(key) {
                        results[index] = Some(Err(e));
                        continue;
                    }
                    let note = &mut notes[index];
                    let mut account = None;
                    match record {
                        Record::Contact(c) => {
                            if let (Some(name), Some(accounts)) = (&c.company, &accounts) {
                                match accounts.resolve(name) {
                                    Ok(id) => account = Some(id),
                                    Err(item) => note.skip(FieldKey::Company, Some(item)),
                                }
                            }
                        }
                        Record::Event(e) => {
                            let attendees = related::distinct(&e.attendees);
                            let mut matched: Vec<(Attendee, Person)> = Vec::new();
                            let over = attendees.len().saturating_sub(related.max_attendees);
                            for (n, a) in attendees.into_iter().enumerate() {
                                let key = FieldKey::attendee(&a.email);
                                if n >= related.max_attendees {
                                    note.skip(key, None);
                                    continue;
                                }
                                match people.get(&a.email.trim().to_lowercase()) {
                                    Some(p) => matched.push((a, p.clone())),
                                    None => note.skip(key, Some(related::attendee_item(&a.email))),
                                }
                            }
                            if over > 0 {
                                note.items.push(Unresolved {
                                    kind: UnresolvedKind::AttendeeLimit,
                                    field: Some(FieldKey::Attendees),
                                    subject: format!("{} attendees", over + related.max_attendees),
                                    detail: format!(
                                        "{over} attendees beyond the limit of {} were not invited in Salesforce",
                                        related.max_attendees
                                    ),
                                });
                            }
                            let mut parents = Vec::new();
                            if related.relate_events {
                                let relate = related::relate(&matched, related.shared_activities);
                                if relate.who.is_none() {
                                    let subject = e
                                        .attendees
                                        .iter()
                                        .take(20)
                                        .map(|a| a.email.trim().to_lowercase())
                                        .collect::<Vec<_>>()
                                        .join(", ");
                                    let item = |field| Unresolved {
                                        kind: UnresolvedKind::EventUnrelated,
                                        field,
                                        subject: subject.clone(),
                                        detail: "the event relates to no contact or lead the user can see".to_owned(),
                                    };
                                    if related.unrelated_events == UnrelatedEvents::Skip {
                                        results[index] = Some(Err(ConnectorError::Unresolved { item: item(None) }));
                                        continue;
                                    }
                                    note.items.push(item(Some(FieldKey::CrmLinks)));
                                }
                                note.who = relate.who;
                                parents = relate.parents;
                            }
                            note.invite = matched
                                .into_iter()
                                .map(|(a, p)| {
                                    let parent = parents.contains(&p.id);
                                    (a, p, parent)
                                })
                                .collect();
                        }
                    }
                    match self.mapping.create_fields(record, &zone) {
                        Ok(mut fields) => {
                            if let Some(id) = account {
                                fields.insert("AccountId".to_owned(), Value::String(id));
                            }
                            fields.insert(key_field.clone(), Value::String(key.0.to_string()));
                            if let Some(owner) = &self.config.user_id {
                                fields.insert("OwnerId".to_owned(), Value::String(owner.clone()));
                            }
                            creates.push(Create { index, key: key.0.to_string(), fields });
                        }
                        Err(reason) => results[index] = Some(Err(rejected("CANNOT_MAP", reason))),
                    }
                }
                WriteOp::Update { id, expected, patch } => {
                    if check_id(id.as_str()).is_err() {
                        results[index] = Some(Err(ConnectorError::NotFound));
                        continue;
                    }
                    let note = &mut notes[index];
                    let mut account = None;
                    for change in patch {
                        match (&change.field, &change.value) {
                            (FieldKey::Company, None) if related.match_accounts && object == ObjectKind::Contact => {
                                note.skip(
                                    FieldKey::Company,
                                    Some(Unresolved {
                                        kind: UnresolvedKind::AccountKept,
                                        field: Some(FieldKey::Company),
                                        subject: String::new(),
                                        detail: "the company was cleared in the mailbox; Tandem never detaches a \
                                                 contact from its Account"
                                            .to_owned(),
                                    }),
                                );
                            }
                            (FieldKey::Company, Some(FieldValue::Text(name))) => {
                                if let Some(accounts) = &accounts {
                                    match accounts.resolve(name) {
                                        Ok(id) => account = Some(id),
                                        Err(item) => note.skip(FieldKey::Company, Some(item)),
                                    }
                                }
                            }
                            (FieldKey::Attendee(email), Some(FieldValue::Attendee(a))) => match people.get(email) {
                                Some(p) => note.invite.push((a.clone(), p.clone(), false)),
                                None => note.skip(change.field.clone(), Some(related::attendee_item(email))),
                            },
                            (FieldKey::Attendee(email), None) => {
                                // An address never invited has nothing to remove.
                                if let Some(p) = people.get(email) {
                                    note.uninvite.push(p.id.clone());
                                }
                            }
                            _ => {}
                        }
                    }
                    match self.mapping.patch_fields(object, patch, &zone).map(|mut fields| {
                        if let Some(id) = account {
                            fields.insert("AccountId".to_owned(), Value::String(id));
                        }
                        fields
                    }) {
                        Ok(fields) => existing.push(Existing {
                            index,
                            id: id.0.to_string(),
                            expected: expected.clone(),
                            fields: Some(fields),
                        }),
                        Err(reason) => results[index] = Some(Err(rejected("CANNOT_MAP", reason))),
                    }
                }
                WriteOp::Delete { id, expected } => {
                    if check_id(id.as_str()).is_err() {
                        results[index] = Some(Err(ConnectorError::NotFound));
                        continue;
                    }
                    existing.push(Existing { index, id: id.0.to_string(), expected: expected.clone(), fields: None });
                }
            }
        }

        // Preconditions, in one query for the batch.
        let mut updates = Vec::new();
        let mut deletes = Vec::new();
        if !existing.is_empty() {
            let ids: Vec<String> = existing.iter().map(|e| e.id.clone()).collect();
            match self.current_versions(object, &ids).await {
                Ok(current) => {
                    for e in existing {
                        match current.get(&e.id) {
                            None => results[e.index] = Some(Err(ConnectorError::NotFound)),
                            Some(now) if !e.expected.as_str().is_empty() && now != e.expected.as_str() => {
                                results[e.index] = Some(Err(ConnectorError::PreconditionFailed {
                                    current: Some(Version::new(now.clone())),
                                }));
                            }
                            Some(now) => match &e.fields {
                                Some(fields) if fields.is_empty() => {
                                    results[e.index] =
                                        Some(Ok(Written::new(RecordId::new(e.id.clone()), Version::new(now.clone()))));
                                }
                                Some(_) => updates.push(e),
                                None => deletes.push(e),
                            },
                        }
                    }
                }
                Err(error) => {
                    let error = error.into_connector();
                    for e in existing {
                        results[e.index] = Some(Err(error.clone()));
                    }
                }
            }
        }

        let sobject = sobject_name(object);
        if !creates.is_empty() {
            self.create(object, creates, &mut results).await;
        }
        let records: Vec<Value> = updates
            .iter()
            .map(|u| {
                let mut r = u.fields.clone().unwrap_or_default();
                r.insert("attributes".to_owned(), json!({ "type": sobject }));
                r.insert("id".to_owned(), Value::String(u.id.clone()));
                Value::Object(r)
            })
            .collect();
        let delete_ids: Vec<String> = deletes.iter().map(|d| d.id.clone()).collect();
        let answers = self.collections(Collections { updates: records, deletes: delete_ids }, seat).await;
        if let Some(answer) = answers.updates {
            let indices: Vec<usize> = updates.iter().map(|u| u.index).collect();
            let ids: Vec<Option<String>> = updates.iter().map(|u| Some(u.id.clone())).collect();
            settle(&mut results, &indices, answer, &ids, true);
        }
        if let Some(answer) = answers.deletes {
            let indices: Vec<usize> = deletes.iter().map(|d| d.index).collect();
            let ids: Vec<Option<String>> = deletes.iter().map(|d| Some(d.id.clone())).collect();
            settle(&mut results, &indices, answer, &ids, true);
        }
        if object == ObjectKind::Event {
            self.write_invitations(&mut results, &mut notes).await;
        }
        Ok(results
            .into_iter()
            .zip(notes)
            .map(|(r, note)| {
                let r = r
                    .unwrap_or_else(|| Err(ConnectorError::Transient { message: "the write was not sent".to_owned() }));
                r.map(|w| {
                    let w = note.unstored.into_iter().fold(w, |w, (field, why)| w.not_stored(field, why));
                    note.items.into_iter().fold(w, Written::with_unresolved)
                })
            })
            .collect())
    }

    /// Two objects' batches with their updates in one `PATCH /composite/sobjects` and their
    /// deletes in one `DELETE /composite/sobjects` (collections take records of several types,
    /// up to 200 in all). Everything else (lookups, precondition queries, creates, which upsert
    /// on one type's External ID, invitations) stays per object; each object's path runs as
    /// alone up to its updates and deletes, which meet at a rendezvous so that one sends both.
    pub(crate) async fn apply_two(
        &self,
        first: &ObjectWrites,
        second: &ObjectWrites,
    ) -> [Result<Vec<WriteResult>, ConnectorError>; 2] {
        let (a, b) = join_pair(
            |seat| self.apply_batch(first.0, &first.1, Some(seat)),
            |seat| self.apply_batch(second.0, &second.1, Some(seat)),
        )
        .await;
        [a, b]
    }
}
