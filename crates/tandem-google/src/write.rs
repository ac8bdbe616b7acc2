//! Writes: Calendar inserts with client-chosen ids, patches and deletes guarded by `If-Match`;
//! People batch mutations, one at a time per user.

use serde_json::{Map, Value, json};
use sha2::Digest as _;
use tandem_connector::http::RequestSpec;
use tandem_connector::{ConnectorError, WriteOp, WriteResult, Written};
use tandem_core::model::Record;
use tandem_core::plan::FieldChange;
use tandem_core::state::{IdempotencyKey, RecordId, Version};

use crate::connector::GoogleConnector;
use crate::http::Context;
use crate::map::{contact, event};

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

    pub(crate) async fn apply_events(&self, ops: &[WriteOp]) -> Vec<WriteResult> {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            out.push(match op {
                WriteOp::Create { key, record: Record::Event(e) } => self.create_event(key, e).await,
                WriteOp::Create { .. } => Err(rejected("not an event")),
                WriteOp::Update { id, expected, patch } => self.update_event(id, expected, patch).await,
                WriteOp::Delete { id, expected } => self.delete_event(id, expected).await,
            });
        }
        out
    }

    async fn create_event(&self, key: &IdempotencyKey, e: &tandem_core::model::Event) -> WriteResult {
        let id = event_id_for(key);
        let mut body = event::event_to_json(e);
        body.insert("id".into(), json!(id));
        body.insert("extendedProperties".into(), json!({"private": {event::KEY_PROPERTY: key.as_str()}}));
        let req = RequestSpec::post(self.events_url(None)?)
            .query(&[("sendUpdates", self.config.send_updates.as_str())])
            .json(&Value::Object(body))
            .template("POST /calendars/{id}/events");
        match self.http.call(req, Context::Item).await {
            Ok((_, answer)) => {
                self.write_instances(&id, e).await?;
                Ok(Written::new(RecordId::new(id), etag(&answer)))
            }
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

    async fn update_event(&self, id: &RecordId, expected: &Version, patch: &[FieldChange]) -> WriteResult {
        let current = self.get_event(id.as_str()).await?.ok_or(ConnectorError::NotFound)?;
        let now = etag(&current);
        if !expected.as_str().is_empty() && now != *expected {
            return Err(ConnectorError::PreconditionFailed { current: Some(now) });
        }
        let record = Record::Event(event::event_from_json(&current).map_err(rejected)?);
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
        let req = RequestSpec::patch(self.events_url(Some(id.as_str()))?)
            .query(&[("sendUpdates", self.config.send_updates.as_str())])
            .header("If-Match", now.as_str())
            .json(&Value::Object(body))
            .template("PATCH /calendars/{id}/events/{id}");
        let (_, answer) = self.http.call(req, Context::Item).await?;
        if patch.iter().any(|c| c.field == tandem_core::fields::FieldKey::Recurrence) {
            self.write_instances(id.as_str(), &updated).await?;
        }
        Ok(Written::new(id.clone(), etag(&answer)))
    }

    /// Overrides and cancellations of a series, written on its instances (ids by Google's
    /// `{master}_{original start}` convention, unverified). Already-gone instances are fine.
    async fn write_instances(&self, master: &str, e: &tandem_core::model::Event) -> Result<(), ConnectorError> {
        let Some(r) = &e.recurrence else { return Ok(()) };
        for original in &r.cancelled {
            let Some(iid) = event::instance_id(master, original) else { continue };
            let req = RequestSpec::delete(self.events_url(Some(&iid))?)
                .query(&[("sendUpdates", self.config.send_updates.as_str())])
                .template("DELETE /calendars/{id}/events/{instance}");
            match self.http.call(req, Context::Item).await {
                Ok(_) | Err(ConnectorError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        for (original, over) in &r.overrides {
            let Some(iid) = event::instance_id(master, original) else { continue };
            let req = RequestSpec::patch(self.events_url(Some(&iid))?)
                .query(&[("sendUpdates", self.config.send_updates.as_str())])
                .json(&Value::Object(event::override_to_json(over)))
                .template("PATCH /calendars/{id}/events/{instance}");
            self.http.call(req, Context::Item).await?;
        }
        Ok(())
    }

    async fn delete_event(&self, id: &RecordId, expected: &Version) -> WriteResult {
        let mut req = RequestSpec::delete(self.events_url(Some(id.as_str()))?)
            .query(&[("sendUpdates", self.config.send_updates.as_str())])
            .template("DELETE /calendars/{id}/events/{id}");
        if !expected.as_str().is_empty() {
            req = req.header("If-Match", expected.as_str());
        }
        match self.http.call(req, Context::Item).await {
            Ok(_) | Err(ConnectorError::NotFound) => Ok(Written::new(id.clone(), Version::default())),
            Err(e) => Err(e),
        }
    }

    /// People mutations, one call at a time for the user (the connector's mutation lock).
    pub(crate) async fn apply_contacts(&self, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        let group = self.contact_group().await?;
        let _one_at_a_time = self.mutations.lock().await;
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            out.push(match op {
                WriteOp::Create { key, record: Record::Contact(c) } => self.create_contact(key, c, &group).await,
                WriteOp::Create { .. } => Err(rejected("not a contact")),
                WriteOp::Update { id, expected, patch } => self.update_contact(id, expected, patch).await,
                WriteOp::Delete { id, .. } => self.delete_contact(id).await,
            });
        }
        Ok(out)
    }

    async fn create_contact(&self, key: &IdempotencyKey, c: &tandem_core::model::Contact, group: &str) -> WriteResult {
        let mut person = contact::contact_to_json(c);
        person.insert("clientData".into(), json!([{"key": contact::KEY_CLIENT_DATA, "value": key.as_str()}]));
        person.insert("memberships".into(), json!([{"contactGroupMembership": {"contactGroupResourceName": group}}]));
        let body = json!({"contacts": [{"contactPerson": person}], "readMask": "metadata"});
        let req = RequestSpec::post(self.config.people_url("people:batchCreateContacts")?)
            .json(&body)
            .template("POST /people:batchCreateContacts");
        let (_, answer) = self.http.call(req, Context::Item).await?;
        let created = answer.pointer("/createdPeople/0/person").ok_or_else(|| rejected("no person created"))?;
        let id = created.get("resourceName").and_then(Value::as_str).ok_or_else(|| rejected("no resourceName"))?;
        Ok(Written::new(RecordId::new(id), etag(created)))
    }

    async fn update_contact(&self, id: &RecordId, expected: &Version, patch: &[FieldChange]) -> WriteResult {
        let current = self.get_person(id.as_str()).await?.ok_or(ConnectorError::NotFound)?;
        let now = etag(&current);
        if !expected.as_str().is_empty() && now != *expected {
            return Err(ConnectorError::PreconditionFailed { current: Some(now) });
        }
        let record = Record::Contact(contact::contact_from_json(&current).map_err(rejected)?);
        let Record::Contact(updated) = patched(record, patch)? else { return Err(rejected("not a contact")) };
        let full = contact::contact_to_json(&updated);
        let mut masks: Vec<&str> = patch.iter().filter_map(|c| contact::mask_of(&c.field)).collect();
        masks.sort_unstable();
        masks.dedup();
        if masks.is_empty() {
            return Ok(Written::new(id.clone(), now));
        }
        let mut person = Map::new();
        person.insert("etag".into(), json!(now.as_str()));
        for m in &masks {
            if let Some(v) = full.get(*m) {
                person.insert((*m).to_owned(), v.clone());
            }
        }
        let mask = masks.join(",");
        let body = json!({"contacts": {id.as_str(): person}, "updateMask": mask, "readMask": "metadata"});
        let req = RequestSpec::post(self.config.people_url("people:batchUpdateContacts")?)
            .json(&body)
            .template("POST /people:batchUpdateContacts");
        let (_, answer) = self.http.call(req, Context::Item).await?;
        let result = answer.pointer("/updateResult").and_then(|r| r.get(id.as_str()));
        let version = result.and_then(|r| r.get("person")).map(etag).unwrap_or_default();
        Ok(Written::new(id.clone(), version))
    }

    async fn delete_contact(&self, id: &RecordId) -> WriteResult {
        let body = json!({"resourceNames": [id.as_str()]});
        let req = RequestSpec::post(self.config.people_url("people:batchDeleteContacts")?)
            .json(&body)
            .template("POST /people:batchDeleteContacts");
        match self.http.call(req, Context::Item).await {
            Ok(_) | Err(ConnectorError::NotFound) => Ok(Written::new(id.clone(), Version::default())),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_base32hex_and_stable() {
        let key = IdempotencyKey("pair-1".to_owned());
        let id = event_id_for(&key);
        assert_eq!(id.len(), 52);
        assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b)));
        assert_eq!(id, event_id_for(&key));
        assert_ne!(id, event_id_for(&IdempotencyKey("pair-2".to_owned())));
    }
}
