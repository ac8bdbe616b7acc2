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

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tandem_connector::rendezvous::{Meeting, Seat, join_pair};
use tandem_connector::{ConnectorError, ObjectWrites, WriteOp, WriteResult, Written};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Attendee, ObjectKind, Record};
use tandem_core::state::{IdempotencyKey, RecordId, Unresolved, UnresolvedKind, Version};

use crate::SalesforceConnector;
use crate::api::{ApiError, ItemResult, SfError};
use crate::config::KeyMode;
use crate::config::UnrelatedEvents;
use crate::mapping::MAX_BATCH;
use crate::related::{self, Accounts, Person};
use crate::soql::{Cond, Ident, Literal, Query, check_id};

fn sobject_name(object: ObjectKind) -> &'static str {
    match object {
        ObjectKind::Contact => "Contact",
        ObjectKind::Event => "Event",
    }
}

fn rejected(code: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::Rejected { code: code.to_owned(), message: message.into() }
}

/// Whether `key` can be an idempotency key (Tandem's keys are lower-case hex with a prefix).
fn check_key(key: &IdempotencyKey) -> Result<(), ConnectorError> {
    let k = key.as_str();
    if !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err(ConnectorError::Config { message: "an idempotency key with characters Tandem never uses".to_owned() })
    }
}

/// A per-record error of a collection answer, on the taxonomy.
fn item_error(errors: &[SfError], existing: bool) -> ConnectorError {
    let Some(first) = errors.first() else {
        return ConnectorError::Transient { message: "Salesforce reported a failure without an error".to_owned() };
    };
    let mut message = first.message.chars().take(300).collect::<String>();
    if !first.fields.is_empty() {
        message.push_str(&format!(" (fields: {})", first.fields.join(", ")));
    }
    match first.code.as_str() {
        "ENTITY_IS_DELETED" | "NOT_FOUND" => ConnectorError::NotFound,
        "INVALID_CROSS_REFERENCE_KEY" if existing && first.fields.iter().all(|f| f.eq_ignore_ascii_case("id")) => {
            ConnectorError::NotFound
        }
        "REQUEST_LIMIT_EXCEEDED" => ConnectorError::Throttled { retry_after: None },
        "UNABLE_TO_LOCK_ROW" | "ALL_OR_NONE_OPERATION_ROLLED_BACK" | "SERVER_UNAVAILABLE" => {
            ConnectorError::Transient { message: format!("{}: {message}", first.code) }
        }
        code => ConnectorError::Rejected { code: code.to_owned(), message },
    }
}

/// Maps a collection answer onto the writes it was for.
fn settle(
    results: &mut [Option<WriteResult>],
    indices: &[usize],
    answer: Result<Vec<ItemResult>, ApiError>,
    ids: &[Option<String>],
    existing: bool,
) {
    match answer {
        Ok(items) if items.len() == indices.len() => {
            for ((i, item), id) in indices.iter().zip(items).zip(ids) {
                results[*i] = Some(if item.success {
                    match item.id.or_else(|| id.clone()) {
                        Some(id) => Ok(Written::new(RecordId::new(id), Version::default())),
                        None => Err(ConnectorError::Transient { message: "Salesforce returned no id".to_owned() }),
                    }
                } else {
                    Err(item_error(&item.errors, existing))
                });
            }
        }
        Ok(items) => {
            let error = ConnectorError::Transient {
                message: format!("{} results for {} records from an sObject collection", items.len(), indices.len()),
            };
            for i in indices {
                results[*i] = Some(Err(error.clone()));
            }
        }
        Err(e) => {
            let error = e.into_connector();
            for i in indices {
                results[*i] = Some(Err(error.clone()));
            }
        }
    }
}

struct Create {
    index: usize,
    key: String,
    fields: Map<String, Value>,
}

/// What a write carries besides its fields: fields not stored and why, invitations to add
/// and remove once the record exists, and the who to relate it to.
#[derive(Default)]
struct Notes {
    unstored: Vec<(FieldKey, Option<Unresolved>)>,
    /// Items about the write that withhold no field of their own.
    items: Vec<Unresolved>,
    invite: Vec<(Attendee, Person, bool)>,
    uninvite: Vec<String>,
    who: Option<String>,
}

impl Notes {
    fn skip(&mut self, field: FieldKey, why: Option<Unresolved>) {
        self.unstored.push((field, why));
    }
}

/// The company names and attendee addresses a batch writes.
fn lookups(ops: &[WriteOp]) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut emails = Vec::new();
    for op in ops {
        match op {
            WriteOp::Create { record: Record::Contact(c), .. } => names.extend(c.company.clone()),
            WriteOp::Create { record: Record::Event(e), .. } => {
                emails.extend(e.attendees.iter().map(|a| a.email.clone()));
            }
            WriteOp::Update { patch, .. } => {
                for change in patch {
                    match (&change.field, &change.value) {
                        (FieldKey::Company, Some(FieldValue::Text(name))) => names.push(name.clone()),
                        (FieldKey::Attendee(email), _) => emails.push(email.clone()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    (names, emails)
}

/// An sObject collection request's answer.
type Answer = Result<Vec<ItemResult>, ApiError>;

/// A batch's updates (records with their `attributes` and `id`) and deletes (ids), to send in
/// sObject collection requests.
#[derive(Debug)]
pub(crate) struct Collections {
    updates: Vec<Value>,
    deletes: Vec<String>,
}

/// The answers for a batch's [`Collections`]; `None` where it had nothing to send.
#[derive(Debug, Default)]
pub(crate) struct CollectionAnswers {
    updates: Option<Answer>,
    deletes: Option<Answer>,
}

impl CollectionAnswers {
    /// For a batch whose shared request went unanswered: whether it was carried out is unknown.
    fn lost(own: &Collections) -> Self {
        let lost = || {
            Err(ApiError::Connector(ConnectorError::Transient {
                message: "the sObject collection request shared with the other object's writes was not answered"
                    .to_owned(),
            }))
        };
        CollectionAnswers {
            updates: (!own.updates.is_empty()).then(lost),
            deletes: (!own.deletes.is_empty()).then(lost),
        }
    }
}

/// A batch's place at the rendezvous of [`SalesforceConnector::apply_two`].
pub(crate) type CollectionSeat = Seat<Collections, CollectionAnswers>;

struct Existing {
    index: usize,
    id: String,
    expected: Version,
    fields: Option<Map<String, Value>>,
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
                            fields.insert(key_field.clone(), Value::String(key.0.clone()));
                            if let Some(owner) = &self.config.user_id {
                                fields.insert("OwnerId".to_owned(), Value::String(owner.clone()));
                            }
                            creates.push(Create { index, key: key.0.clone(), fields });
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
                            id: id.0.clone(),
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
                    existing.push(Existing { index, id: id.0.clone(), expected: expected.clone(), fields: None });
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

    /// Sends a batch's updates and deletes: alone, or through `seat` with the other object's.
    async fn collections(&self, own: Collections, seat: Option<CollectionSeat>) -> CollectionAnswers {
        let Some(seat) = seat else {
            let mut answers = self.send_collections(vec![own]).await;
            return answers.pop().unwrap_or_default();
        };
        let lost = CollectionAnswers::lost(&own);
        match seat.meet(own).await {
            Meeting::Answered(answers) => answers,
            Meeting::Abandoned => lost,
            Meeting::Lead(mut lead) => {
                let answers = self.send_collections(lead.take_requests()).await;
                lead.answer(answers).unwrap_or(lost)
            }
        }
    }

    /// Sends the updates and then the deletes of several batches, packed into as few requests of
    /// at most 200 records as keep each batch's records in one request. One answer per batch.
    async fn send_collections(&self, batches: Vec<Collections>) -> Vec<CollectionAnswers> {
        let mut answers: Vec<CollectionAnswers> = batches.iter().map(|_| CollectionAnswers::default()).collect();
        let (update_lists, delete_lists): (Vec<Vec<Value>>, Vec<Vec<String>>) =
            batches.into_iter().map(|b| (b.updates, b.deletes)).unzip();
        for (group, answer) in self.send_packed(update_lists, Self::send_updates).await {
            for (batch, part) in group.into_iter().zip(answer) {
                if let Some(slot) = answers.get_mut(batch) {
                    slot.updates = Some(part);
                }
            }
        }
        for (group, answer) in self.send_packed(delete_lists, Self::send_deletes).await {
            for (batch, part) in group.into_iter().zip(answer) {
                if let Some(slot) = answers.get_mut(batch) {
                    slot.deletes = Some(part);
                }
            }
        }
        answers
    }

    /// Packs non-empty lists into requests of at most [`MAX_BATCH`] items without splitting a
    /// list, sends each with `send`, and splits each answer back: per request, the batches it
    /// carried and their answers, in order.
    async fn send_packed<'s, T, F, Fut>(&'s self, lists: Vec<Vec<T>>, send: F) -> Vec<(Vec<usize>, Vec<Answer>)>
    where
        F: Fn(&'s Self, Vec<T>) -> Fut,
        Fut: std::future::Future<Output = Answer>,
    {
        let mut groups: Vec<(Vec<usize>, Vec<usize>, Vec<T>)> = Vec::new();
        for (batch, list) in lists.into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            let fits = groups.last().is_some_and(|(_, _, items)| items.len() + list.len() <= MAX_BATCH);
            if !fits {
                groups.push((Vec::new(), Vec::new(), Vec::new()));
            }
            if let Some((batches, sizes, items)) = groups.last_mut() {
                batches.push(batch);
                sizes.push(list.len());
                items.extend(list);
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for (batches, sizes, items) in groups {
            let total = items.len();
            let answer = send(self, items).await;
            let parts = match answer {
                Ok(results) if results.len() == total => {
                    let mut results = results.into_iter();
                    sizes.iter().map(|n| Ok(results.by_ref().take(*n).collect())).collect()
                }
                // A count that does not match: each batch sees a count that does not match its
                // own either, which `settle` reports.
                Ok(_) => sizes.iter().map(|_| Ok(Vec::new())).collect(),
                Err(error) => sizes.iter().map(|_| Err(error.clone())).collect(),
            };
            out.push((batches, parts));
        }
        out
    }

    async fn send_updates(&self, records: Vec<Value>) -> Answer {
        let body = json!({ "allOrNone": false, "records": records });
        self.api.collection("PATCH", "composite/sobjects", &[], Some(&body), false).await
    }

    async fn send_deletes(&self, ids: Vec<String>) -> Answer {
        let list = ids.join(",");
        self.api
            .collection("DELETE", "composite/sobjects", &[("ids", &list), ("allOrNone", "false")], None, false)
            .await
    }

    /// The invitations of the events written: added, removed, and the `WhoId` of new events set
    /// last (see `related`). An invitation that cannot be added is reported unstored with an
    /// item, so it is rechecked and retried; one that cannot be removed fails the update, which
    /// the engine retries.
    async fn write_invitations(&self, results: &mut [Option<WriteResult>], notes: &mut [Notes]) {
        let mut rows = Vec::new();
        let mut owners: Vec<(usize, Attendee)> = Vec::new();
        let mut removals: Vec<(String, String)> = Vec::new();
        let mut removal_owner: Vec<usize> = Vec::new();
        let mut whos: Vec<(usize, String, String)> = Vec::new();
        for (index, note) in notes.iter_mut().enumerate() {
            let Some(Ok(w)) = results[index].as_ref() else { continue };
            let event = w.id.0.clone();
            for (attendee, person, parent) in std::mem::take(&mut note.invite) {
                rows.push(related::invitation(&event, &person, &attendee, parent));
                owners.push((index, attendee));
            }
            for person in std::mem::take(&mut note.uninvite) {
                removals.push((event.clone(), person));
                removal_owner.push(index);
            }
            if let Some(who) = note.who.take() {
                whos.push((index, event, who));
            }
        }
        if !rows.is_empty() {
            for ((index, attendee), outcome) in owners.into_iter().zip(self.create_relations(rows).await) {
                if let Err(why) = outcome {
                    let mut item = related::attendee_item(&attendee.email);
                    item.detail = format!("the invitation of `{}` could not be written: {why}", item.subject);
                    notes[index].skip(FieldKey::attendee(&attendee.email), Some(item));
                }
            }
        }
        if let Err(e) = self.delete_invitations(&removals).await {
            for index in removal_owner {
                results[index] = Some(Err(e.clone()));
            }
        }
        if !whos.is_empty() {
            let records: Vec<Value> = whos
                .iter()
                .map(|(_, event, who)| json!({ "attributes": { "type": "Event" }, "id": event, "WhoId": who }))
                .collect();
            let body = json!({ "allOrNone": false, "records": records });
            let answer = self.api.collection("PATCH", "composite/sobjects", &[], Some(&body), false).await;
            let failed = match answer {
                Ok(items) => items.iter().any(|i| !i.success),
                Err(_) => true,
            };
            if failed {
                tracing::warn!("relating new events to their contacts failed; they stay unrelated");
            }
        }
    }

    async fn create(&self, object: ObjectKind, creates: Vec<Create>, results: &mut [Option<WriteResult>]) {
        let sobject = sobject_name(object);
        let key_field = self.config.sync_key.field.clone();
        let mut to_send = creates;
        if self.key_mode() == KeyMode::LookupThenCreate {
            let keys: Vec<String> = to_send.iter().map(|c| c.key.clone()).collect();
            match self.keys_lookup(object, &keys).await {
                Ok(found) => {
                    to_send.retain(|c| match found.get(&c.key) {
                        Some(w) => {
                            results[c.index] = Some(Ok(w.clone()));
                            false
                        }
                        None => true,
                    });
                }
                Err(e) => {
                    let error = e.into_connector();
                    for c in &to_send {
                        results[c.index] = Some(Err(error.clone()));
                    }
                    return;
                }
            }
            if to_send.is_empty() {
                return;
            }
        }
        let records: Vec<Value> = to_send
            .iter()
            .map(|c| {
                let mut r = c.fields.clone();
                r.insert("attributes".to_owned(), json!({ "type": sobject }));
                Value::Object(r)
            })
            .collect();
        let body = json!({ "allOrNone": false, "records": records });
        let answer = match self.key_mode() {
            KeyMode::Upsert => {
                let path = format!("composite/sobjects/{sobject}/{key_field}");
                self.api.collection("PATCH", &path, &[], Some(&body), true).await
            }
            KeyMode::LookupThenCreate => {
                self.api.collection("POST", "composite/sobjects", &[], Some(&body), false).await
            }
        };
        let indices: Vec<usize> = to_send.iter().map(|c| c.index).collect();
        let ids = vec![None; indices.len()];
        settle(results, &indices, answer, &ids, false);
    }

    /// `SystemModstamp` of each id that exists.
    async fn current_versions(&self, object: ObjectKind, ids: &[String]) -> Result<HashMap<String, String>, ApiError> {
        let q =
            Query::select(vec![Ident::known("Id"), Ident::known("SystemModstamp")], Ident::known(sobject_name(object)))
                .and(Cond::one_of(Ident::known("Id"), ids.iter().map(|id| Literal::Text(id.clone())).collect()));
        let rows = self.api.query_all_pages(&q.to_soql(), false).await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id = crate::mapping::text(r, "Id").ok().flatten()?;
                let stamp = crate::mapping::text(r, "SystemModstamp").ok().flatten().unwrap_or_default();
                Some((id, stamp))
            })
            .collect())
    }

    /// Records holding these keys, by key (the oldest when several do).
    async fn keys_lookup(&self, object: ObjectKind, keys: &[String]) -> Result<HashMap<String, Written>, ApiError> {
        let field = Ident::new(&self.config.sync_key.field)
            .map_err(|e| ApiError::Connector(ConnectorError::Config { message: e.to_string() }))?;
        let mut values = Vec::with_capacity(keys.len());
        for k in keys {
            values.push(
                Literal::text(k).map_err(|e| ApiError::Connector(ConnectorError::Config { message: e.to_string() }))?,
            );
        }
        let q = Query::select(
            vec![Ident::known("Id"), Ident::known("SystemModstamp"), field.clone()],
            Ident::known(sobject_name(object)),
        )
        .and(Cond::one_of(field.clone(), values))
        .order_by(Ident::known("CreatedDate"))
        .order_by(Ident::known("Id"));
        let rows = self.api.query_all_pages(&q.to_soql(), false).await?;
        let mut out = HashMap::new();
        for r in &rows {
            let (Some(id), Some(key)) =
                (crate::mapping::text(r, "Id").ok().flatten(), crate::mapping::text(r, field.as_str()).ok().flatten())
            else {
                continue;
            };
            let version = crate::mapping::text(r, "SystemModstamp").ok().flatten().unwrap_or_default();
            out.entry(key).or_insert(Written::new(RecordId::new(id), Version::new(version)));
        }
        Ok(out)
    }

    pub(crate) async fn find_key(
        &self,
        object: ObjectKind,
        key: &IdempotencyKey,
    ) -> Result<Option<Written>, ConnectorError> {
        check_key(key)?;
        let found = self.keys_lookup(object, std::slice::from_ref(&key.0)).await.map_err(ApiError::into_connector)?;
        // Salesforce compares external ids case-insensitively; Tandem's keys are lower-case.
        Ok(found.into_iter().find(|(k, _)| k.eq_ignore_ascii_case(&key.0)).map(|(_, w)| w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str, fields: &[&str]) -> Vec<SfError> {
        vec![SfError {
            code: code.to_owned(),
            message: "m".to_owned(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }]
    }

    #[test]
    fn item_errors_map_onto_the_taxonomy() {
        assert_eq!(item_error(&err("ENTITY_IS_DELETED", &[]), true), ConnectorError::NotFound);
        assert_eq!(item_error(&err("INVALID_CROSS_REFERENCE_KEY", &["id"]), true), ConnectorError::NotFound);
        assert!(matches!(
            item_error(&err("INVALID_CROSS_REFERENCE_KEY", &["WhoId"]), true),
            ConnectorError::Rejected { .. }
        ));
        assert!(matches!(item_error(&err("REQUEST_LIMIT_EXCEEDED", &[]), false), ConnectorError::Throttled { .. }));
        assert!(matches!(item_error(&err("UNABLE_TO_LOCK_ROW", &[]), false), ConnectorError::Transient { .. }));
        match item_error(&err("STRING_TOO_LONG", &["LastName"]), false) {
            ConnectorError::Rejected { code, message } => {
                assert_eq!(code, "STRING_TOO_LONG");
                assert!(message.contains("LastName"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key(&IdempotencyKey("tdm0123abc".into())).is_ok());
        assert!(check_key(&IdempotencyKey("x' OR Id != '".into())).is_err());
        assert!(check_key(&IdempotencyKey(String::new())).is_err());
    }
}
