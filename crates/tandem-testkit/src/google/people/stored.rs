//! The stored contact and contact group model, and how Google renders a person.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::google::rfc3339;

pub(super) const SERVER_OWNED: &[&str] = &["resourceName", "etag", "metadata", "memberships"];
pub(super) const SYSTEM_GROUPS: &[(&str, &str)] = &[("myContacts", "My Contacts"), ("starred", "Starred")];

#[derive(Debug, Clone)]
pub(crate) struct StoredPerson {
    pub(super) props: BTreeMap<String, Value>,
    pub(super) groups: BTreeSet<String>,
    pub(super) version: u64,
    pub(super) seq: u64,
    pub(super) deleted: bool,
    pub(super) updated: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(super) name: String,
    pub(super) client_data: Option<Value>,
    pub(super) version: u64,
}

/// A user's contacts and groups.
#[derive(Debug, Clone, Default)]
pub(crate) struct Book {
    pub(super) people: BTreeMap<String, StoredPerson>,
    pub(super) groups: BTreeMap<String, Group>,
    pub(super) next_id: u64,
}

pub(super) fn person_etag(version: u64) -> String {
    use base64::Engine as _;
    format!("%{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("EgcBAgkLLjc9GgQBAgUHIgx{version}")))
}

impl StoredPerson {
    pub(super) fn render(&self, resource: &str, fields: Option<&BTreeSet<String>>) -> Value {
        let id = resource.trim_start_matches("people/");
        let etag = person_etag(self.version);
        let source = json!({"type": "CONTACT", "id": id});
        let mut out = Map::new();
        out.insert("resourceName".into(), json!(resource));
        out.insert("etag".into(), json!(etag));
        let mut metadata = json!({
            "sources": [{"type": "CONTACT", "id": id, "etag": etag, "updateTime": rfc3339(self.updated)}],
            "objectType": "PERSON",
        });
        if self.deleted {
            metadata["deleted"] = json!(true);
            out.insert("metadata".into(), metadata);
            return Value::Object(out);
        }
        out.insert("metadata".into(), metadata);
        let wanted = |k: &str| fields.is_none_or(|f| f.contains(k));
        for (k, v) in &self.props {
            if !wanted(k) {
                continue;
            }
            let v = match v {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let mut item = item.clone();
                            if let Value::Object(m) = &mut item {
                                let mut md = json!({"source": source});
                                if i == 0 {
                                    md["primary"] = json!(true);
                                    md["sourcePrimary"] = json!(true);
                                }
                                m.insert("metadata".into(), md);
                            }
                            item
                        })
                        .collect(),
                ),
                other => other.clone(),
            };
            out.insert(k.clone(), v);
        }
        if wanted("memberships") {
            let memberships: Vec<Value> = self
                .groups
                .iter()
                .map(|g| {
                    json!({
                        "metadata": {"source": source},
                        "contactGroupMembership": {"contactGroupId": g, "contactGroupResourceName": format!("contactGroups/{g}")},
                    })
                })
                .collect();
            out.insert("memberships".into(), Value::Array(memberships));
        }
        Value::Object(out)
    }
}
