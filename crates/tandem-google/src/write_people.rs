//! Contact writes through People's batch mutations, in Google's batch sizes, one call at a time
//! per user (Google asks that mutations for one user be sequential):
//!
//! - creates: `people:batchCreateContacts`, 200 a call, each with the key in `clientData` and a
//!   membership of the contact group;
//! - updates: `people:batchGet` (200 a call) for the current people, etags compared here, then
//!   `people:batchUpdateContacts` (200 a call) with one `updateMask`: the union of the chunk's
//!   patched fields. A person is sent, for each field of the mask, its patched value when its
//!   own patch touches the field and **its current value exactly as Google sent it** otherwise,
//!   so a field Tandem does not map (a third email, a custom label) is never rewritten;
//! - deletes: `people:batchDeleteContacts`, 500 a call.
//!
//! Google's batch mutations are all or nothing. When a call of several is refused as a whole
//! (one person invalid, one etag that moved since the read, one delete already gone), the
//! chunk is sent again one contact at a time, so the refusal lands on the record that caused
//! it and the others are written. Transport failures, throttling and auth errors fail the
//! whole chunk (the engine's journal settles them).

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tandem_connector::http::RequestSpec;
use tandem_connector::{ConnectorError, WriteOp, WriteResult, Written};
use tandem_core::model::{Contact, Record};
use tandem_core::plan::FieldChange;
use tandem_core::state::{IdempotencyKey, RecordId, Version};

use crate::connector::GoogleConnector;
use crate::http::Context;
use crate::map::contact;

/// People's limits per call.
pub(crate) const MAX_CREATE: usize = 200;
/// `batchUpdateContacts` and `batchGet`.
pub(crate) const MAX_UPDATE: usize = 200;
/// `batchDeleteContacts`.
pub(crate) const MAX_DELETE: usize = 500;

fn rejected(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Rejected { code: "mapping".to_owned(), message: message.into() }
}

fn etag(body: &Value) -> Version {
    Version::new(body.get("etag").and_then(Value::as_str).unwrap_or_default())
}

/// Whether a refusal of a whole call is worth retrying contact by contact: it was about the
/// content of one of them, not about the connection.
fn isolates(error: &ConnectorError) -> bool {
    matches!(
        error,
        ConnectorError::Rejected { .. } | ConnectorError::PreconditionFailed { .. } | ConnectorError::NotFound
    )
}

/// One update ready to send: its slot in the chunk, the person as Google holds it, the patched
/// rendering, and the People fields its own patch touches.
struct Prepared<'a> {
    slot: usize,
    now: &'a Value,
    full: Map<String, Value>,
    own: Vec<&'static str>,
}

struct Update<'a> {
    index: usize,
    id: &'a RecordId,
    expected: &'a Version,
    patch: &'a [FieldChange],
}

impl GoogleConnector {
    /// Creates, updates and deletes of contacts: one result per op, in order.
    pub(crate) async fn apply_contacts(&self, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        let group = self.contact_group().await?;
        let _one_at_a_time = self.mutations.lock().await;
        let mut results: Vec<Option<WriteResult>> = ops.iter().map(|_| None).collect();
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        let mut deletes = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            match op {
                WriteOp::Create { key, record: Record::Contact(c) } => creates.push((index, key, c)),
                WriteOp::Create { .. } => results[index] = Some(Err(rejected("not a contact"))),
                WriteOp::Update { id, expected, patch } => updates.push(Update { index, id, expected, patch }),
                WriteOp::Delete { id, .. } => deletes.push((index, id)),
            }
        }
        for chunk in creates.chunks(MAX_CREATE) {
            let batch: Vec<(&IdempotencyKey, &Contact)> = chunk.iter().map(|(_, k, c)| (*k, *c)).collect();
            let mut outcome = self.create_contacts(&batch, &group).await;
            if chunk.len() > 1 && matches!(&outcome, Err(e) if isolates(e)) {
                let mut one_by_one = Vec::with_capacity(chunk.len());
                for single in &batch {
                    one_by_one.push(self.create_contacts(std::slice::from_ref(single), &group).await.and_then(first));
                }
                outcome = Ok(one_by_one);
            }
            settle(&mut results, chunk.iter().map(|(i, ..)| *i), outcome);
        }
        for chunk in updates.chunks(MAX_UPDATE) {
            let outcome = self.update_contacts(chunk).await;
            let outcome = match outcome {
                Err(e) if chunk.len() > 1 && isolates(&e) => {
                    let mut one_by_one = Vec::with_capacity(chunk.len());
                    for single in chunk {
                        one_by_one.push(self.update_contacts(std::slice::from_ref(single)).await.and_then(first));
                    }
                    Ok(one_by_one)
                }
                other => other,
            };
            settle(&mut results, chunk.iter().map(|u| u.index), outcome);
        }
        for chunk in deletes.chunks(MAX_DELETE) {
            let ids: Vec<&RecordId> = chunk.iter().map(|(_, id)| *id).collect();
            let outcome = match self.delete_contacts(&ids).await {
                Err(e) if ids.len() > 1 && isolates(&e) => {
                    let mut one_by_one = Vec::with_capacity(ids.len());
                    for id in &ids {
                        one_by_one.push(self.delete_contacts(std::slice::from_ref(id)).await.and_then(first));
                    }
                    Ok(one_by_one)
                }
                other => other,
            };
            settle(&mut results, chunk.iter().map(|(i, _)| *i), outcome);
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ConnectorError::Transient { message: "not sent".to_owned() })))
            .collect())
    }

    /// One `batchCreateContacts`: a result per contact, in order.
    async fn create_contacts(
        &self,
        batch: &[(&IdempotencyKey, &Contact)],
        group: &str,
    ) -> Result<Vec<WriteResult>, ConnectorError> {
        let contacts: Vec<Value> = batch
            .iter()
            .map(|(key, c)| {
                let mut person = contact::contact_to_json(c);
                person.insert("clientData".into(), json!([{"key": contact::KEY_CLIENT_DATA, "value": key.as_str()}]));
                person.insert(
                    "memberships".into(),
                    json!([{"contactGroupMembership": {"contactGroupResourceName": group}}]),
                );
                json!({"contactPerson": person})
            })
            .collect();
        let body = json!({"contacts": contacts, "readMask": "metadata"});
        let req = RequestSpec::post(self.config.people_url("people:batchCreateContacts")?)
            .json(&body)
            .template("POST /people:batchCreateContacts");
        let (_, answer) = self.http.call(req, Context::Item).await?;
        let created = answer.get("createdPeople").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok((0..batch.len())
            .map(|i| {
                let response = created.get(i).ok_or_else(|| rejected("no person created"))?;
                person_response(response)
            })
            .collect())
    }

    /// The current people of `ids` (`people:batchGet`): `None` for one that is gone.
    async fn current_people(&self, ids: &[&RecordId]) -> Result<HashMap<String, Value>, ConnectorError> {
        let mut query: Vec<(&str, &str)> = vec![("personFields", contact::PERSON_FIELDS)];
        query.extend(ids.iter().map(|id| ("resourceNames", id.as_str())));
        let req =
            RequestSpec::get(self.config.people_url("people:batchGet")?).query(&query).template("GET /people:batchGet");
        let (_, answer) = self.http.call(req, Context::Item).await?;
        Ok(answer
            .get("responses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.get("httpStatusCode").and_then(Value::as_u64).unwrap_or(200) == 200)
            .filter_map(|r| {
                let person = r.get("person")?;
                let name =
                    person.get("resourceName").or_else(|| r.get("requestedResourceName")).and_then(Value::as_str)?;
                Some((name.to_owned(), person.clone()))
            })
            .collect())
    }

    /// Reads, compares etags, then one `batchUpdateContacts` for the chunk: a result per update,
    /// in order.
    async fn update_contacts(&self, chunk: &[Update<'_>]) -> Result<Vec<WriteResult>, ConnectorError> {
        let ids: Vec<&RecordId> = chunk.iter().map(|u| u.id).collect();
        let current = self.current_people(&ids).await?;
        let mut results: Vec<Option<WriteResult>> = chunk.iter().map(|_| None).collect();
        // Per update: its current person and the full patched rendering.
        let mut planned: Vec<Prepared<'_>> = Vec::new();
        for (slot, u) in chunk.iter().enumerate() {
            let Some(now_person) = current.get(u.id.as_str()) else {
                results[slot] = Some(Err(ConnectorError::NotFound));
                continue;
            };
            let now = etag(now_person);
            if !u.expected.as_str().is_empty() && now != *u.expected {
                results[slot] = Some(Err(ConnectorError::PreconditionFailed { current: Some(now) }));
                continue;
            }
            let mut masks: Vec<&'static str> = u.patch.iter().filter_map(|c| contact::mask_of(&c.field)).collect();
            masks.sort_unstable();
            masks.dedup();
            if masks.is_empty() {
                results[slot] = Some(Ok(Written::new(u.id.clone(), now)));
                continue;
            }
            let patched = contact::contact_from_json(now_person).map_err(rejected).and_then(|c| {
                let mut record = Record::Contact(c);
                for change in u.patch {
                    record.set(&change.field, change.value.clone()).map_err(|e| rejected(e.to_string()))?;
                }
                match record {
                    Record::Contact(c) => Ok(contact::contact_to_json(&c)),
                    Record::Event(_) => Err(rejected("not a contact")),
                }
            });
            match patched {
                Ok(full) => planned.push(Prepared { slot, now: now_person, full, own: masks }),
                Err(e) => results[slot] = Some(Err(e)),
            }
        }
        if !planned.is_empty() {
            let mut union: Vec<&'static str> = planned.iter().flat_map(|p| p.own.iter().copied()).collect();
            union.sort_unstable();
            union.dedup();
            let mut people = Map::new();
            for Prepared { slot, now: now_person, full, own } in &planned {
                let mut person = Map::new();
                person.insert("etag".into(), json!(etag(now_person).as_str()));
                for field in &union {
                    // Its own patched fields from the patched rendering; the others exactly as
                    // Google holds them.
                    let value = if own.contains(field) { full.get(*field) } else { now_person.get(*field) };
                    if let Some(v) = value {
                        person.insert((*field).to_owned(), v.clone());
                    }
                }
                people.insert(chunk[*slot].id.as_str().to_owned(), Value::Object(person));
            }
            let body = json!({"contacts": people, "updateMask": union.join(","), "readMask": "metadata"});
            let req = RequestSpec::post(self.config.people_url("people:batchUpdateContacts")?)
                .json(&body)
                .template("POST /people:batchUpdateContacts");
            let (_, answer) = self.http.call(req, Context::Item).await?;
            for Prepared { slot, .. } in &planned {
                let id = chunk[*slot].id;
                let response = answer.pointer("/updateResult").and_then(|r| r.get(id.as_str()));
                results[*slot] = Some(match response {
                    Some(r) => person_response(r).map(|w| Written::new(id.clone(), w.version)),
                    None => Err(rejected("no update result")),
                });
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(rejected("no result")))).collect())
    }

    /// One `batchDeleteContacts`: a result per id. Gone already counts as deleted.
    async fn delete_contacts(&self, ids: &[&RecordId]) -> Result<Vec<WriteResult>, ConnectorError> {
        let body = json!({"resourceNames": ids.iter().map(|id| id.as_str()).collect::<Vec<_>>()});
        let req = RequestSpec::post(self.config.people_url("people:batchDeleteContacts")?)
            .json(&body)
            .template("POST /people:batchDeleteContacts");
        match self.http.call(req, Context::Item).await {
            Ok(_) => Ok(ids.iter().map(|id| Ok(Written::new((*id).clone(), Version::default()))).collect()),
            Err(ConnectorError::NotFound) if ids.len() == 1 => {
                Ok(ids.iter().map(|id| Ok(Written::new((*id).clone(), Version::default()))).collect())
            }
            Err(e) => Err(e),
        }
    }
}

/// A `PersonResponse` (`httpStatusCode`, `person`, `status`) → the written person.
fn person_response(response: &Value) -> WriteResult {
    let code = response.get("httpStatusCode").and_then(Value::as_u64).unwrap_or(200);
    if code != 200 {
        let message = response.pointer("/status/message").and_then(Value::as_str).unwrap_or("refused").to_owned();
        return Err(match code {
            404 => ConnectorError::NotFound,
            429 | 503 => ConnectorError::Transient { message },
            _ => ConnectorError::Rejected { code: format!("http_{code}"), message },
        });
    }
    let person = response.get("person").ok_or_else(|| rejected("no person in the answer"))?;
    let id = person.get("resourceName").and_then(Value::as_str).ok_or_else(|| rejected("no resourceName"))?;
    Ok(Written::new(RecordId::new(id), etag(person)))
}

/// The only result of a one-contact call.
fn first(results: Vec<WriteResult>) -> WriteResult {
    results.into_iter().next().unwrap_or_else(|| Err(rejected("no result")))
}

/// Puts a chunk's results (or its common error) in their slots.
fn settle(
    results: &mut [Option<WriteResult>],
    slots: impl Iterator<Item = usize>,
    outcome: Result<Vec<WriteResult>, ConnectorError>,
) {
    match outcome {
        Ok(each) => {
            for (slot, result) in slots.zip(each) {
                results[slot] = Some(result);
            }
        }
        Err(e) => {
            for slot in slots {
                results[slot] = Some(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_responses_map_to_results() {
        let ok = json!({"httpStatusCode": 200, "person": {"resourceName": "people/c1", "etag": "e1"}});
        let w = person_response(&ok).unwrap();
        assert_eq!((w.id.as_str(), w.version.as_str()), ("people/c1", "e1"));
        let gone = json!({"httpStatusCode": 404, "status": {"code": 5, "message": "gone"}});
        assert!(matches!(person_response(&gone), Err(ConnectorError::NotFound)));
        let bad = json!({"httpStatusCode": 400, "status": {"message": "Invalid birthday"}});
        assert!(
            matches!(person_response(&bad), Err(ConnectorError::Rejected { message, .. }) if message == "Invalid birthday")
        );
        assert!(person_response(&json!({"httpStatusCode": 200})).is_err());
    }

    #[test]
    fn only_content_refusals_are_retried_one_by_one() {
        assert!(isolates(&rejected("x")));
        assert!(isolates(&ConnectorError::NotFound));
        assert!(isolates(&ConnectorError::PreconditionFailed { current: None }));
        assert!(!isolates(&ConnectorError::Transient { message: "x".into() }));
    }
}
