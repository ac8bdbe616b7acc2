//! The org's indexes: live records by the value of an indexed field (external ids, usernames),
//! every record by owner and by `SystemModstamp`, kept in step with each write; and lookups by
//! field value.

use serde_json::Value;

use super::{Fields, Org, dt};

impl Org {
    /// The indexed fields of `object`.
    fn indexed(&self, object: &str) -> Vec<String> {
        let Some(def) = self.object(object) else { return Vec::new() };
        def.fields
            .iter()
            .filter(|f| f.external_id || (def.name == "User" && f.name == "Username"))
            .map(|f| f.name.clone())
            .collect()
    }

    pub(super) fn reindex(&mut self, object: &'static str, id: &str, before: Option<&Fields>, after: Option<&Fields>) {
        for field in self.indexed(object) {
            let value =
                |r: Option<&Fields>| r.and_then(|r| r.get(&field)).and_then(Value::as_str).map(str::to_lowercase);
            if let Some(old) = value(before) {
                let key = (object, field.clone(), old);
                if let Some(set) = self.index.get_mut(&key) {
                    set.remove(id);
                    if set.is_empty() {
                        self.index.remove(&key);
                    }
                }
            }
            if let Some(new) = value(after) {
                self.index.entry((object, field.clone(), new)).or_default().insert(id.to_owned());
            }
        }
    }

    /// Keeps `by_owner` and `by_stamp` in step with a write of any record, live or deleted.
    pub(super) fn track(&mut self, object: &'static str, id: &str, before: Option<&Fields>, after: Option<&Fields>) {
        let owner = |r: &Fields| r.get("OwnerId").and_then(Value::as_str).map(str::to_owned);
        if let Some(b) = before {
            if let Some(o) = owner(b) {
                let key = (object, o);
                if let Some(set) = self.by_owner.get_mut(&key) {
                    set.remove(id);
                    if set.is_empty() {
                        self.by_owner.remove(&key);
                    }
                }
            }
            if let Some(set) = self.by_stamp.get_mut(object) {
                set.remove(&(dt(b, "SystemModstamp"), id.to_owned()));
            }
        }
        if let Some(a) = after {
            if let Some(o) = owner(a) {
                self.by_owner.entry((object, o)).or_default().insert(id.to_owned());
            }
            self.by_stamp.entry(object).or_default().insert((dt(a, "SystemModstamp"), id.to_owned()));
        }
    }

    /// Live records of `object` whose `field` equals `value` (case-insensitive).
    pub(crate) fn by_field(&self, object: &str, field: &str, value: &str) -> Vec<String> {
        let Some(def) = self.object(object) else { return Vec::new() };
        if let Some(f) = def.field(field)
            && self.indexed(def.name).contains(&f.name)
        {
            return self
                .index
                .get(&(def.name, f.name.clone(), value.to_lowercase()))
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default();
        }
        self.tables
            .get(def.name)
            .map(|t| {
                t.values()
                    .filter(Self::is_live)
                    .filter(|r| r.get(field).and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case(value)))
                    .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}
