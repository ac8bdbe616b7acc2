//! The handle's side: seeding and editing events as a person would, and reading them back.

use chrono::Utc;
use serde_json::Value;

use super::create::{materialize_instance, store_new};
use super::ids::{instance_id, parse_instance_id, valid_event_id};
use super::request::{check_body, strip_owned};
use crate::google::{GoogleFake, merge};

// --- the handle's side ---------------------------------------------------------------------------

impl GoogleFake {
    /// Creates (or replaces) an event in `user`'s primary calendar as a person would in the
    /// Calendar UI; `props` are Event properties (`start`, `end`, `summary`, `recurrence`, …).
    /// Returns the id.
    pub fn seed_event(&self, user: &str, id: Option<&str>, props: Value) -> Result<String, String> {
        let Value::Object(mut map) = props else { return Err("event properties must be an object".into()) };
        strip_owned(&mut map);
        check_body(&map).map_err(|_| "invalid event: start/end or recurrence".to_owned())?;
        let id = id.map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
        if !valid_event_id(&id) && parse_instance_id(&id).is_none() {
            return Err(format!("invalid event id {id}"));
        }
        let mut d = self.lock();
        store_new(&mut d, &user.to_lowercase(), &id, map.into_iter().collect(), false);
        Ok(id)
    }

    /// Changes (merges) properties of an event, as a person would; `null` removes one.
    pub fn edit_event(&self, user: &str, id: &str, patch: Value) -> Result<(), String> {
        let Value::Object(mut patch) = patch else { return Err("patch must be an object".into()) };
        strip_owned(&mut patch);
        let mut d = self.lock();
        let seq = d.next_seq();
        let owner = user.to_lowercase();
        let event =
            d.calendars.get_mut(&owner).and_then(|c| c.events.get_mut(id)).ok_or_else(|| format!("no event {id}"))?;
        merge(&mut event.props, &patch);
        event.version = seq;
        event.seq = seq;
        event.updated = Utc::now();
        event.sequence += 1;
        Ok(())
    }

    /// Makes an exception of the series `master_id` at `original_start` (an `EventDateTime`) with
    /// `patch` applied; returns the instance id.
    pub fn edit_instance(
        &self,
        user: &str,
        master_id: &str,
        original_start: Value,
        patch: Value,
    ) -> Result<String, String> {
        let id = instance_id(master_id, &original_start).ok_or("bad original start")?;
        let Value::Object(mut patch) = patch else { return Err("patch must be an object".into()) };
        strip_owned(&mut patch);
        let owner = user.to_lowercase();
        let mut d = self.lock();
        let mut event = match d.calendars.get(&owner).and_then(|c| c.events.get(&id)).cloned() {
            Some(e) => e,
            None => materialize_instance(&d, &owner, &id).ok_or("no such recurring master")?,
        };
        merge(&mut event.props, &patch);
        let seq = d.next_seq();
        event.version = seq;
        event.seq = seq;
        event.updated = Utc::now();
        event.cancelled = patch.get("status").and_then(Value::as_str) == Some("cancelled");
        d.calendars.entry(owner).or_default().events.insert(id.clone(), event);
        Ok(id)
    }

    /// Deletes an event (it becomes `status: cancelled`, as Google keeps it for sync).
    pub fn delete_event(&self, user: &str, id: &str) -> bool {
        let mut d = self.lock();
        let seq = d.next_seq();
        match d.calendars.get_mut(&user.to_lowercase()).and_then(|c| c.events.get_mut(id)) {
            Some(e) if !e.cancelled => {
                e.cancelled = true;
                e.version = seq;
                e.seq = seq;
                e.updated = Utc::now();
                true
            }
            _ => false,
        }
    }

    /// An event as the API renders it (cancelled ones included), or `None`.
    pub fn event(&self, user: &str, id: &str) -> Option<Value> {
        let owner = user.to_lowercase();
        let d = self.lock();
        d.calendars.get(&owner)?.events.get(id).map(|e| e.render(id, &owner, false))
    }

    /// Every event of `user` (cancelled ones included), in id order.
    pub fn events(&self, user: &str) -> Vec<Value> {
        let owner = user.to_lowercase();
        let d = self.lock();
        d.calendars
            .get(&owner)
            .map(|c| c.events.iter().map(|(id, e)| e.render(id, &owner, false)).collect())
            .unwrap_or_default()
    }
}
