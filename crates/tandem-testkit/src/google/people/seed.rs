//! The handle's side: seeding and editing contacts and groups as a person would, and reading
//! them back.

use chrono::Utc;
use serde_json::Value;

use super::groups::create_group_in;
use super::request::client_props;
use super::write::{create_in, delete_in};
use crate::google::GoogleFake;

// --- the handle's side ---------------------------------------------------------------------------

impl GoogleFake {
    /// Creates a contact for `user` as a person would (in `myContacts`); `person` holds Person
    /// properties. Returns the resource name.
    pub fn seed_contact(&self, user: &str, person: Value) -> String {
        let mut d = self.lock();
        create_in(&mut d, &user.to_lowercase(), client_props(&person))
    }

    /// Replaces the given top-level properties of a contact (`null` removes one).
    pub fn edit_contact(&self, user: &str, resource: &str, patch: Value) -> Result<(), String> {
        let patch = patch.as_object().cloned().ok_or("patch must be an object")?;
        let mut d = self.lock();
        let seq = d.next_seq();
        let p = d
            .books
            .get_mut(&user.to_lowercase())
            .and_then(|b| b.people.get_mut(resource))
            .filter(|p| !p.deleted)
            .ok_or_else(|| format!("no contact {resource}"))?;
        let mut props = p.props.clone();
        super::merge(&mut props, &patch);
        p.props = props;
        p.version = seq;
        p.seq = seq;
        p.updated = Utc::now();
        Ok(())
    }

    /// Deletes a contact as a person would.
    pub fn delete_contact(&self, user: &str, resource: &str) -> bool {
        delete_in(&mut self.lock(), &user.to_lowercase(), resource)
    }

    /// A contact as the API renders it with every field, or `None` (also once deleted).
    pub fn contact(&self, user: &str, resource: &str) -> Option<Value> {
        let d = self.lock();
        d.books.get(&user.to_lowercase())?.people.get(resource).filter(|p| !p.deleted).map(|p| p.render(resource, None))
    }

    /// Every live contact of `user`, with every field.
    pub fn contacts(&self, user: &str) -> Vec<Value> {
        let d = self.lock();
        d.books
            .get(&user.to_lowercase())
            .map(|b| b.people.iter().filter(|(_, p)| !p.deleted).map(|(r, p)| p.render(r, None)).collect())
            .unwrap_or_default()
    }

    /// Creates a user contact group; returns its resource name (`contactGroups/…`).
    pub fn seed_contact_group(&self, user: &str, name: &str) -> Result<String, String> {
        let mut d = self.lock();
        create_group_in(&mut d, &user.to_lowercase(), name, None)
            .map(|id| format!("contactGroups/{id}"))
            .map_err(|_| format!("a group named {name} exists"))
    }

    /// The resource names of the live members of group `group_id` (without `contactGroups/`).
    pub fn group_members(&self, user: &str, group_id: &str) -> Vec<String> {
        let d = self.lock();
        d.books
            .get(&user.to_lowercase())
            .map(|b| {
                b.people
                    .iter()
                    .filter(|(_, p)| !p.deleted && p.groups.contains(group_id))
                    .map(|(r, _)| r.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
