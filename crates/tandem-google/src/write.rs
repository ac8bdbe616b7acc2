//! Event writes: Calendar inserts with client-chosen ids, patches and deletes guarded by
//! `If-Match`, sent through the batch endpoint ([`crate::batch`]). Contact writes live in
//! `write_people`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sha2::Digest as _;
use tandem_connector::{ConnectorError, WriteOp, WriteResult, Written};
use tandem_core::model::Record;
use tandem_core::plan::FieldChange;
use tandem_core::state::{IdempotencyKey, RecordId, Version};

use crate::batch::{Answer, Call};
use crate::connector::GoogleConnector;
use crate::map::event;

const BASE32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The event id derived from an idempotency key: SHA-256 in lowercase base32hex (52
/// characters of `0-9a-v`), so a create whose answer was lost is settled by an `events.get`.
pub fn event_id_for(key: &IdempotencyKey) -> String {
    let digest = sha2::Sha256::digest(key.as_str().as_bytes());
    let mut out = String::with_capacity(52);
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in digest {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32HEX[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32HEX[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

fn rejected(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Rejected { code: "mapping".to_owned(), message: message.into() }
}

fn etag(body: &Value) -> Version {
    Version::new(body.get("etag").and_then(Value::as_str).unwrap_or_default())
}

/// The etag of a batch part's answer: the body's, else the `ETag` header.
fn answer_etag(a: &Answer) -> Version {
    match a.body.get("etag").and_then(Value::as_str) {
        Some(tag) => Version::new(tag),
        None => Version::new(a.etag.as_deref().unwrap_or_default()),
    }
}

/// Applies a patch to the record as it is now (attendees one by one onto the current list).
fn patched(mut record: Record, patch: &[FieldChange]) -> Result<Record, ConnectorError> {
    for change in patch {
        record.set(&change.field, change.value.clone()).map_err(|e| rejected(e.to_string()))?;
    }
    Ok(record)
}

impl GoogleConnector {
    fn events_url(&self, id: Option<&str>) -> Result<url::Url, ConnectorError> {
        match id {
            Some(id) => self.config.calendar_url(&["calendars", &self.config.calendar_id, "events", id]),
            None => self.config.calendar_url(&["calendars", &self.config.calendar_id, "events"]),
        }
    }

    /// Event writes through Calendar's batch endpoint, in chunks of `batch_size`: first the
    /// current state of every updated event (batched `GET`s), then the inserts, patches
    /// (`If-Match`) and deletes (batched), then the instances of the series written (overrides
    /// and cancellations, batched). One result per op, in order.
    pub(crate) async fn apply_events(&self, ops: &[WriteOp]) -> Vec<WriteResult> {
        let mut results: Vec<Option<WriteResult>> = ops.iter().map(|_| None).collect();

        // 1. What each updated event is now.
        let mut gets = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let WriteOp::Update { id, .. } = op {
                match self.events_url(Some(id.as_str())) {
                    Ok(url) => gets.push((i, Call { method: "GET", url, if_match: None, body: None })),
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
        }
        let calls: Vec<Call> = gets.iter().map(|(_, c)| c.clone()).collect();
        let mut current: HashMap<usize, Value> = HashMap::new();
        for ((i, _), answer) in gets.iter().zip(self.batch(&calls).await) {
            match answer.and_then(Answer::into_result) {
                Ok(a) => {
                    current.insert(*i, a.body);
                }
                Err(e) => results[*i] = Some(Err(e)),
            }
        }

        // 2. The writes.
        let mut writes: Vec<(usize, Call, Option<tandem_core::model::Event>)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            let prepared = match op {
                WriteOp::Create { key, record: Record::Event(e) } => self.create_call(key, e).map(|c| (c, None)),
                WriteOp::Create { .. } => Err(rejected("not an event")),
                WriteOp::Update { id, expected, patch } => match current.remove(&i) {
                    Some(now) => self.update_call(id, expected, patch, &now).map(|(c, e)| (c, Some(e))),
                    None => Err(ConnectorError::NotFound),
                },
                WriteOp::Delete { id, expected } => self.delete_call(id, expected).map(|c| (c, None)),
            };
            match prepared {
                Ok((call, updated)) => writes.push((i, call, updated)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let calls: Vec<Call> = writes.iter().map(|(_, c, _)| c.clone()).collect();
        let answers = self.batch(&calls).await;

        // 3. Settling each answer; the series' instances (overrides, cancellations) wait for
        // one more batch round of their own.
        let mut instance_work: Vec<(usize, Vec<Call>)> = Vec::new();
        for ((i, _, updated), answer) in writes.into_iter().zip(answers) {
            let result = match &ops[i] {
                // The instances are written whether this call inserted the master or an earlier
                // attempt did (a 409): that attempt may have stopped before its instances, and
                // writing them again changes nothing.
                WriteOp::Create { key, record: Record::Event(e) } => match self.created(key, answer).await {
                    Ok(written) => match self.instance_calls(written.id.as_str(), e) {
                        Ok(calls) => {
                            if !calls.is_empty() {
                                instance_work.push((i, calls));
                            }
                            Ok(written)
                        }
                        Err(err) => Err(err),
                    },
                    Err(err) => Err(err),
                },
                WriteOp::Update { id, patch, .. } => match (answer.and_then(Answer::into_result), updated) {
                    (Ok(a), Some(updated)) => {
                        if patch.iter().any(|c| c.field == tandem_core::fields::FieldKey::Recurrence) {
                            match self.instance_calls(id.as_str(), &updated) {
                                Ok(calls) if !calls.is_empty() => instance_work.push((i, calls)),
                                Ok(_) => {}
                                Err(err) => {
                                    results[i] = Some(Err(err));
                                    continue;
                                }
                            }
                        }
                        Ok(Written::new(id.clone(), answer_etag(&a)))
                    }
                    (Ok(_), None) => Err(rejected("not an event")),
                    (Err(e), _) => Err(e),
                },
                WriteOp::Delete { id, .. } => match answer.and_then(Answer::into_result) {
                    Ok(_) | Err(ConnectorError::NotFound) => Ok(Written::new(id.clone(), Version::default())),
                    Err(e) => Err(e),
                },
                WriteOp::Create { .. } => Err(rejected("not an event")),
            };
            results[i] = Some(result);
        }

        // 4. The instances of every series written above, in one batch round: an op whose
        // instances failed fails (the engine re-reads and retries it); an instance already gone
        // is fine for a cancellation.
        let calls: Vec<Call> = instance_work.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
        let mut answers = self.batch(&calls).await.into_iter();
        for (i, op_calls) in instance_work {
            for call in op_calls {
                let outcome = answers.next().unwrap_or_else(|| {
                    Err(ConnectorError::Transient { message: "no answer for an instance write".into() })
                });
                let failed = match outcome.and_then(Answer::into_result) {
                    Ok(_) => None,
                    Err(ConnectorError::NotFound) if call.method == "DELETE" => None,
                    Err(e) => Some(e),
                };
                if let Some(e) = failed {
                    results[i] = Some(Err(e));
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ConnectorError::Transient { message: "event write not sent".into() })))
            .collect()
    }

    /// The insert of a new event, its id derived from the key.
    fn create_call(&self, key: &IdempotencyKey, e: &tandem_core::model::Event) -> Result<Call, ConnectorError> {
        let id = event_id_for(key);
        let mut body = event::event_to_json(e);
        body.insert("id".into(), json!(id));
        body.insert("extendedProperties".into(), json!({"private": {event::KEY_PROPERTY: key.as_str()}}));
        let mut url = self.events_url(None)?;
        url.query_pairs_mut().append_pair("sendUpdates", self.config.send_updates.as_str());
        Ok(Call { method: "POST", url, if_match: None, body: Some(Value::Object(body)) })
    }

    /// The answer to an insert; a 409 is settled by a get (an earlier attempt inserted it).
    async fn created(&self, key: &IdempotencyKey, answer: Result<Answer, ConnectorError>) -> WriteResult {
        let id = event_id_for(key);
        match answer.and_then(Answer::into_result) {
            Ok(a) => Ok(Written::new(RecordId::new(id), answer_etag(&a))),
            // 409 duplicate: an earlier attempt got through; settle it with a get.
            Err(ConnectorError::Rejected { code, .. }) if code == "409" => match self.get_event(&id).await? {
                Some(found) if event::sync_key(&found).as_deref() == Some(key.as_str()) => {
                    Ok(Written::new(RecordId::new(id), etag(&found)))
                }
                _ => Err(ConnectorError::Rejected {
                    code: "duplicate".into(),
                    message: format!("event id {id} is taken"),
                }),
            },
            Err(err) => Err(err),
        }
    }

    /// The patch of an event as it is `now` (`If-Match` its etag), and the event it makes.
    fn update_call(
        &self,
        id: &RecordId,
        expected: &Version,
        patch: &[FieldChange],
        now: &Value,
    ) -> Result<(Call, tandem_core::model::Event), ConnectorError> {
        let tag = etag(now);
        if !expected.as_str().is_empty() && tag != *expected {
            return Err(ConnectorError::PreconditionFailed { current: Some(tag) });
        }
        let record = Record::Event(event::event_from_json(now).map_err(rejected)?);
        let Record::Event(updated) = patched(record, patch)? else { return Err(rejected("not an event")) };
        let full = event::event_to_json(&updated);
        let mut body = Map::new();
        for change in patch {
            for prop in event::properties_of(&change.field) {
                if let Some(v) = full.get(*prop) {
                    body.insert((*prop).to_owned(), v.clone());
                }
            }
        }
        let mut url = self.events_url(Some(id.as_str()))?;
        url.query_pairs_mut().append_pair("sendUpdates", self.config.send_updates.as_str());
        let call =
            Call { method: "PATCH", url, if_match: Some(tag.as_str().to_owned()), body: Some(Value::Object(body)) };
        Ok((call, updated))
    }

    /// The writes of a series' overrides and cancellations on its instances (ids by Google's
    /// `{master}_{original start}` convention): a `DELETE` per cancelled occurrence, a `PATCH`
    /// per changed one.
    fn instance_calls(&self, master: &str, e: &tandem_core::model::Event) -> Result<Vec<Call>, ConnectorError> {
        let Some(r) = &e.recurrence else { return Ok(Vec::new()) };
        let url = |iid: &str| -> Result<url::Url, ConnectorError> {
            let mut url = self.events_url(Some(iid))?;
            url.query_pairs_mut().append_pair("sendUpdates", self.config.send_updates.as_str());
            Ok(url)
        };
        let mut calls = Vec::new();
        for original in &r.cancelled {
            let Some(iid) = event::instance_id(master, original) else { continue };
            calls.push(Call { method: "DELETE", url: url(&iid)?, if_match: None, body: None });
        }
        for (original, over) in &r.overrides {
            let Some(iid) = event::instance_id(master, original) else { continue };
            let body = Value::Object(event::override_to_json(over));
            calls.push(Call { method: "PATCH", url: url(&iid)?, if_match: None, body: Some(body) });
        }
        Ok(calls)
    }

    /// The delete of an event (`If-Match` the expected etag, when known).
    fn delete_call(&self, id: &RecordId, expected: &Version) -> Result<Call, ConnectorError> {
        let mut url = self.events_url(Some(id.as_str()))?;
        url.query_pairs_mut().append_pair("sendUpdates", self.config.send_updates.as_str());
        let if_match = (!expected.as_str().is_empty()).then(|| expected.as_str().to_owned());
        Ok(Call { method: "DELETE", url, if_match, body: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_base32hex_and_stable() {
        let key = IdempotencyKey::from("pair-1");
        let id = event_id_for(&key);
        assert_eq!(id.len(), 52);
        assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b)));
        assert_eq!(id, event_id_for(&key));
        assert_ne!(id, event_id_for(&IdempotencyKey::from("pair-2")));
    }
}
