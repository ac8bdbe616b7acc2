//! Writing: creates, updates and deletes as JSON batches, then the exceptions and cancellations
//! of series, which Graph keeps on the occurrences.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tandem_connector::rendezvous::{Meeting, Seat, join_pair};
use tandem_connector::{ConnectorError, ObjectWrites, WriteOp, WriteResult, Written};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Event, EventTime, ObjectKind, Record, Recurrence};
use tandem_core::state::{RecordId, Version};

use crate::connector::GraphConnector;
use crate::http::{Answer, Item, segment};
use crate::map::event::{WriteOptions, is_occurrence, override_body};
use crate::map::time::parse_instant;
use crate::map::{contact, event};
use crate::read::query;

/// A write path's place at the rendezvous of [`GraphConnector::apply_two`]: its batch items in,
/// their answers out.
type ItemSeat = Seat<Vec<Item>, Vec<Result<Answer, ConnectorError>>>;

fn shared_batch_lost() -> ConnectorError {
    ConnectorError::Transient { message: "the batch shared with the other object's writes was not answered".to_owned() }
}

fn rejected(code: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::Rejected { code: code.to_owned(), message: message.into() }
}

/// The outcome of an answered write.
fn written(op: &WriteOp, answer: Result<Answer, ConnectorError>) -> WriteResult {
    let answer = answer?;
    if let Some(e) = answer.error() {
        return Err(e);
    }
    match op {
        WriteOp::Delete { id, .. } => Ok(Written::new(id.clone(), Version::default())),
        WriteOp::Update { id, .. } => {
            Ok(Written::new(RecordId::from(answer.id().unwrap_or(&id.0).to_owned()), answer.etag()))
        }
        WriteOp::Create { .. } => {
            let id = answer
                .id()
                .ok_or_else(|| ConnectorError::Transient { message: "the created item has no id".to_owned() })?;
            Ok(Written::new(RecordId::from(id), answer.etag()))
        }
    }
}

/// Where each op's result comes from: a batch item, or already known.
enum Slot {
    Item(usize),
    Done(WriteResult),
}

/// A series whose exceptions and cancellations must be (re)applied after a write.
struct SeriesFix {
    op: usize,
    master: String,
    desired: Recurrence,
}

fn key_instant(key: &EventTime) -> Option<DateTime<Utc>> {
    key.instant()
}

impl GraphConnector {
    fn write_options(&self) -> WriteOptions<'_> {
        WriteOptions { all_day_zone: &self.config.all_day_zone, iana_names: self.config.iana_zone_names }
    }

    /// Two objects' writes with their JSON batch items sent together (`$batch` takes items of
    /// both, `http::batch` splits rounds of more than 20): each object's path runs as alone, up
    /// to its items, which meet at a rendezvous so that one sends both lists.
    pub(crate) async fn apply_two(
        &self,
        first: &ObjectWrites,
        second: &ObjectWrites,
    ) -> [Result<Vec<WriteResult>, ConnectorError>; 2] {
        let (a, b) = join_pair(
            |seat| self.apply_object(first.0, &first.1, seat),
            |seat| self.apply_object(second.0, &second.1, seat),
        )
        .await;
        [a, b]
    }

    async fn apply_object(
        &self,
        object: ObjectKind,
        ops: &[WriteOp],
        seat: ItemSeat,
    ) -> Result<Vec<WriteResult>, ConnectorError> {
        match object {
            ObjectKind::Contact => self.apply_contacts(ops, Some(seat)).await,
            ObjectKind::Event => self.apply_events(ops, Some(seat)).await,
        }
    }

    /// Sends a write path's batch items: alone, or through `seat` together with the other
    /// object's. The seat goes with the call, so the other path never waits for this one after
    /// its items are sent or it returned early.
    async fn send_items(&self, items: Vec<Item>, seat: Option<ItemSeat>) -> Vec<Result<Answer, ConnectorError>> {
        let Some(seat) = seat else { return self.http.batch(&items).await };
        let count = items.len();
        match seat.meet(items).await {
            Meeting::Answered(answers) => answers,
            Meeting::Abandoned => (0..count).map(|_| Err(shared_batch_lost())).collect(),
            Meeting::Lead(mut lead) => {
                let lists = lead.take_requests();
                let sizes: Vec<usize> = lists.iter().map(Vec::len).collect();
                let all: Vec<Item> = lists.into_iter().flatten().collect();
                let mut answers = self.http.batch(&all).await.into_iter();
                let split = sizes.into_iter().map(|n| answers.by_ref().take(n).collect()).collect();
                lead.answer(split).unwrap_or_else(|| (0..count).map(|_| Err(shared_batch_lost())).collect())
            }
        }
    }

    pub(crate) async fn apply_contacts(
        &self,
        ops: &[WriteOp],
        seat: Option<ItemSeat>,
    ) -> Result<Vec<WriteResult>, ConnectorError> {
        let folder = if ops.iter().any(|o| matches!(o, WriteOp::Create { .. })) {
            self.folder_id(true).await?.unwrap_or_default()
        } else {
            String::new()
        };
        let mb = self.http.mailbox_path().to_owned();
        let mut items = Vec::new();
        let mut slots = Vec::new();
        for op in ops {
            let slot = match op {
                WriteOp::Create { key, record: Record::Contact(c) } => {
                    let body = contact::create_body(c, key.as_str(), &self.config.sync_key_property);
                    items.push(Item::post(format!("{mb}/contactFolders/{}/contacts", segment(&folder)), body));
                    Slot::Item(items.len() - 1)
                }
                WriteOp::Create { .. } => Slot::Done(Err(rejected("WRONG_KIND", "not a contact"))),
                WriteOp::Update { id, expected, patch } if patch.is_empty() => {
                    Slot::Done(Ok(Written::new(id.clone(), expected.clone())))
                }
                WriteOp::Update { id, expected, patch } => match contact::patch_body(patch) {
                    Ok(body) => {
                        items.push(Item::patch(
                            format!("{mb}/contacts/{}", segment(&id.0)),
                            body,
                            Some(expected.0.to_string()),
                        ));
                        Slot::Item(items.len() - 1)
                    }
                    Err(m) => Slot::Done(Err(rejected("UNSUPPORTED_FIELD", m))),
                },
                WriteOp::Delete { id, expected } => {
                    items.push(Item::delete(format!("{mb}/contacts/{}", segment(&id.0)), Some(expected.0.to_string())));
                    Slot::Item(items.len() - 1)
                }
            };
            slots.push(slot);
        }
        let mut answers: Vec<Option<Result<Answer, ConnectorError>>> =
            self.send_items(items, seat).await.into_iter().map(Some).collect();
        Ok(ops
            .iter()
            .zip(slots)
            .map(|(op, slot)| match slot {
                Slot::Done(r) => r,
                Slot::Item(i) => written(op, answers.get_mut(i).and_then(Option::take).unwrap_or_else(not_sent)),
            })
            .collect())
    }

    pub(crate) async fn apply_events(
        &self,
        ops: &[WriteOp],
        seat: Option<ItemSeat>,
    ) -> Result<Vec<WriteResult>, ConnectorError> {
        let opts = self.write_options();
        let mb = self.http.mailbox_path().to_owned();
        // Updates that move an event or change its pattern need the event as it is: a series'
        // range starts on its first day, and Graph drops a series' exceptions when it moves; attendee
        // changes apply to the list as it is.
        let touches_series = |patch: &[tandem_core::plan::FieldChange]| {
            patch.iter().any(|c| matches!(c.field, FieldKey::Timing | FieldKey::Recurrence | FieldKey::Attendee(_)))
        };
        let prefetch: Vec<String> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Update { id, patch, .. } if touches_series(patch) => Some(id.0.to_string()),
                _ => None,
            })
            .collect();
        let mut current: std::collections::HashMap<String, Result<(Version, Option<Event>), ConnectorError>> =
            std::collections::HashMap::new();
        if !prefetch.is_empty() {
            for (id, row) in prefetch.iter().zip(self.fetch_event_rows(&prefetch).await?) {
                let entry = match row {
                    None => Err(ConnectorError::NotFound),
                    Some(e) => {
                        Ok((Version::new(e.etag.clone().unwrap_or_default()), event::to_model(&e).ok().flatten()))
                    }
                };
                current.insert(id.clone(), entry);
            }
        }
        let mut items = Vec::new();
        let mut slots = Vec::new();
        let mut fixes: Vec<(usize, Recurrence)> = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            let slot = match op {
                WriteOp::Create { key, record: Record::Event(e) } => {
                    match event::create_body(e, key.as_str(), &self.config.sync_key_property, opts) {
                        Ok(body) => {
                            if let Some(r) = e.recurrence.as_ref().filter(|r| needs_fix(r)) {
                                fixes.push((index, r.clone()));
                            }
                            items.push(Item::post(format!("{mb}/events"), body));
                            Slot::Item(items.len() - 1)
                        }
                        Err(m) => Slot::Done(Err(rejected("UNSUPPORTED_EVENT", m))),
                    }
                }
                WriteOp::Create { .. } => Slot::Done(Err(rejected("WRONG_KIND", "not an event"))),
                WriteOp::Update { id, expected, patch } if patch.is_empty() => {
                    Slot::Done(Ok(Written::new(id.clone(), expected.clone())))
                }
                WriteOp::Update { id, expected, patch } => {
                    let now = current.get(&*id.0);
                    match now {
                        Some(Err(e)) => Slot::Done(Err(e.clone())),
                        Some(Ok((version, _))) if !expected.0.is_empty() && version != expected => {
                            Slot::Done(Err(ConnectorError::PreconditionFailed { current: Some(version.clone()) }))
                        }
                        _ => {
                            let model = now.and_then(|r| r.as_ref().ok()).and_then(|(_, m)| m.as_ref());
                            match event::patch_body(patch, model, opts) {
                                Ok(body) => {
                                    let new_recurrence = patch.iter().find(|c| c.field == FieldKey::Recurrence);
                                    let desired = match new_recurrence {
                                        Some(c) => match &c.value {
                                            Some(FieldValue::Recurrence(r)) => Some(r.clone()),
                                            _ => None,
                                        },
                                        None => model.and_then(|m| m.recurrence.clone()),
                                    };
                                    if let Some(r) = desired.filter(needs_fix) {
                                        fixes.push((index, r));
                                    }
                                    items.push(Item::patch(
                                        format!("{mb}/events/{}", segment(&id.0)),
                                        body,
                                        Some(expected.0.to_string()),
                                    ));
                                    Slot::Item(items.len() - 1)
                                }
                                Err(m) => Slot::Done(Err(rejected("UNSUPPORTED_FIELD", m))),
                            }
                        }
                    }
                }
                WriteOp::Delete { id, expected } => {
                    items.push(Item::delete(format!("{mb}/events/{}", segment(&id.0)), Some(expected.0.to_string())));
                    Slot::Item(items.len() - 1)
                }
            };
            slots.push(slot);
        }
        let mut answers: Vec<Option<Result<Answer, ConnectorError>>> =
            self.send_items(items, seat).await.into_iter().map(Some).collect();
        let mut results: Vec<WriteResult> = Vec::with_capacity(ops.len());
        for (op, slot) in ops.iter().zip(slots) {
            let result = match slot {
                Slot::Done(r) => r,
                Slot::Item(i) => {
                    let answer = answers.get_mut(i).and_then(Option::take).unwrap_or_else(not_sent);
                    match (op, &answer) {
                        // A create already made with this transactionId: find it.
                        (WriteOp::Create { key, .. }, Ok(a)) if a.status == 409 => {
                            match self.lookup(tandem_core::model::ObjectKind::Event, key).await {
                                Ok(Some(w)) => Ok(w),
                                Ok(None) => written(op, answer),
                                Err(e) => Err(e),
                            }
                        }
                        _ => written(op, answer),
                    }
                }
            };
            results.push(result);
        }
        // Exceptions and cancellations of the series written above.
        let fixes: Vec<SeriesFix> = fixes
            .into_iter()
            .filter_map(|(op, desired)| match results.get(op) {
                Some(Ok(w)) => Some(SeriesFix { op, master: w.id.0.to_string(), desired }),
                _ => None,
            })
            .collect();
        if !fixes.is_empty() {
            for (op, outcome) in self.fix_series(fixes).await {
                if let Some(slot) = results.get_mut(op) {
                    *slot = match (outcome, slot.as_ref()) {
                        (Ok(version), Ok(w)) => Ok(Written::new(w.id.clone(), version)),
                        (Err(e), _) => Err(ConnectorError::Transient {
                            message: format!("the series was written but its exceptions were not: {e}"),
                        }),
                        (_, Err(e)) => Err(e.clone()),
                    };
                }
            }
        }
        Ok(results)
    }

    /// Applies the overrides and cancellations of `fixes` to their series' occurrences and
    /// returns each series' version afterwards.
    async fn fix_series(&self, fixes: Vec<SeriesFix>) -> Vec<(usize, Result<Version, ConnectorError>)> {
        let mb = self.http.mailbox_path().to_owned();
        let opts = self.write_options();
        let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        // 1. Their occurrences around the keys.
        let listing: Vec<Item> = fixes
            .iter()
            .map(|f| {
                let keys = keys_of(&f.desired);
                let instants: Vec<DateTime<Utc>> = keys.iter().filter_map(key_instant).collect();
                // Checked: a key can sit at the end of chrono's range (a cancelled occurrence's date is
                // read from text), where `±` would panic.
                let margin = chrono::Duration::days(2);
                let from = instants.iter().min().copied().unwrap_or_else(Utc::now);
                let from = from.checked_sub_signed(margin).unwrap_or(from);
                let to = instants.iter().max().copied().unwrap_or_else(Utc::now);
                let to = to.checked_add_signed(margin).unwrap_or(to);
                Item::get(format!(
                    "{mb}/events/{}/instances?{}",
                    segment(&f.master),
                    query(&[
                        ("startDateTime", &fmt(from)),
                        ("endDateTime", &fmt(to)),
                        ("$select", "id,originalStart,start,type"),
                        ("$top", "200"),
                    ])
                ))
            })
            .collect();
        let mut out = Vec::new();
        let mut edits: Vec<(usize, Item)> = Vec::new();
        let mut failed: BTreeSet<usize> = BTreeSet::new();
        for (n, (fix, answer)) in fixes.iter().zip(self.http.batch(&listing).await).enumerate() {
            let instances = match self.all_pages(answer).await {
                Ok(rows) => rows,
                Err(e) => {
                    out.push((fix.op, Err(e)));
                    failed.insert(n);
                    continue;
                }
            };
            let find = |key: &EventTime| -> Option<String> {
                instances.iter().find_map(|row| {
                    let original = row.get("originalStart").and_then(Value::as_str).and_then(parse_instant)?;
                    let zone = row.get("start").and_then(|s| s.get("timeZone")).and_then(Value::as_str);
                    is_occurrence(key, original, zone)
                        .then(|| row.get("id").and_then(Value::as_str).map(str::to_owned))?
                })
            };
            let cancelled: BTreeSet<&EventTime> = fix.desired.cancelled.iter().chain(&fix.desired.exdates).collect();
            for key in &cancelled {
                match find(key) {
                    Some(id) => edits.push((n, Item::delete(format!("{mb}/events/{}", segment(&id)), None))),
                    None => {
                        tracing::warn!("a cancelled occurrence is not an occurrence of the series in Graph; skipped")
                    }
                }
            }
            for (key, ov) in &fix.desired.overrides {
                if cancelled.contains(key) {
                    continue;
                }
                let Some(id) = find(key) else {
                    tracing::warn!("an overridden occurrence is not an occurrence of the series in Graph; skipped");
                    continue;
                };
                match override_body(ov, opts) {
                    Ok(body) if !body.is_empty() => {
                        edits.push((n, Item::patch(format!("{mb}/events/{}", segment(&id)), body, None)))
                    }
                    Ok(_) => {}
                    Err(m) => {
                        out.push((fix.op, Err(rejected("UNSUPPORTED_EVENT", m))));
                        failed.insert(n);
                    }
                }
            }
        }
        // 2. The edits.
        let edit_items: Vec<Item> = edits.iter().map(|(_, i)| i.clone()).collect();
        for ((n, _), answer) in edits.iter().zip(self.http.batch(&edit_items).await) {
            let error = match answer {
                Ok(a) => a.error(),
                Err(e) => Some(e),
            };
            if let Some(e) = error
                && failed.insert(*n)
                && let Some(fix) = fixes.get(*n)
            {
                out.push((fix.op, Err(e)));
            }
        }
        // 3. The series' versions now.
        let remaining: Vec<&SeriesFix> =
            fixes.iter().enumerate().filter(|(n, _)| !failed.contains(n)).map(|(_, f)| f).collect();
        let reads: Vec<Item> =
            remaining.iter().map(|f| Item::get(format!("{mb}/events/{}", segment(&f.master)))).collect();
        for (fix, answer) in remaining.iter().zip(self.http.batch(&reads).await) {
            let outcome = answer.and_then(|a| match a.error() {
                Some(e) => Err(e),
                None => Ok(a.etag()),
            });
            out.push((fix.op, outcome));
        }
        out
    }

    /// The rows of a listing and of its further pages.
    async fn all_pages(&self, first: Result<Answer, ConnectorError>) -> Result<Vec<Value>, ConnectorError> {
        let mut answer = first?;
        let mut rows = Vec::new();
        loop {
            if let Some(e) = answer.error() {
                return Err(e);
            }
            rows.extend(answer.body.get("value").and_then(Value::as_array).cloned().unwrap_or_default());
            let Some(next) = answer.body.get("@odata.nextLink").and_then(Value::as_str) else { return Ok(rows) };
            let url = self.http.check_link(next)?;
            answer = self.http.get(url, "/users/{id}/events/{id}/instances", false).await?;
        }
    }
}

fn needs_fix(r: &Recurrence) -> bool {
    !r.overrides.is_empty() || !r.cancelled.is_empty() || !r.exdates.is_empty()
}

fn keys_of(r: &Recurrence) -> Vec<EventTime> {
    r.overrides.keys().chain(&r.cancelled).chain(&r.exdates).cloned().collect()
}

fn not_sent() -> Result<Answer, ConnectorError> {
    Err(ConnectorError::Transient { message: "the write was not sent".to_owned() })
}
