//! What a side can store, as data the planner reads: which fields, how long, what is required.
//!
//! A plan never contains a write the target would reject, and never blanks a field on one side
//! because the other side cannot hold it: both follow from these declarations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fields::FieldKey;
use crate::model::ObjectKind;

/// The limits of one field on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FieldLimit {
    /// Maximum length in characters of a text value, or of each entry of a list of text.
    pub max_len: Option<usize>,
    /// Maximum number of entries of a list field; for a recurrence, of the changed occurrences
    /// (overrides) a side keeps.
    pub max_items: Option<usize>,
    /// The target rejects a create without this field.
    pub required: bool,
    /// The side reports this field but Tandem must never write it (Salesforce's Account name
    /// of a contact is a lookup, its invitees are other records). Its changes still flow to the
    /// other side.
    #[serde(default)]
    pub read_only: bool,
}

/// What one side can store for one object kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObjectCapabilities {
    /// Whether the side supports this object kind at all.
    pub supported: bool,
    /// Every field the side can store, with its limits. Fields absent here are unsupported.
    pub fields: BTreeMap<FieldKey, FieldLimit>,
    /// Whether the side can store custom fields (each still has to be mapped in configuration).
    pub custom_fields: bool,
    /// Longest event the side accepts, in minutes (Salesforce: 14 days).
    pub max_event_minutes: Option<i64>,
    /// The most write operations the side takes in one request.
    pub max_batch: usize,
}

impl ObjectCapabilities {
    /// Every standard field of `kind` with no limits; custom fields allowed; batches of 100.
    pub fn everything(kind: ObjectKind) -> Self {
        ObjectCapabilities {
            supported: true,
            fields: FieldKey::standard(kind).iter().map(|k| (k.clone(), FieldLimit::default())).collect(),
            custom_fields: true,
            max_event_minutes: None,
            max_batch: 100,
        }
    }

    /// Whether the side can store `key`.
    pub fn supports(&self, key: &FieldKey) -> bool {
        match key {
            FieldKey::Custom(_) => self.custom_fields,
            key => self.fields.contains_key(key.family()),
        }
    }

    /// Whether Tandem may write `key` on this side: supported and not read-only.
    pub fn writable(&self, key: &FieldKey) -> bool {
        self.supports(key) && !self.limit(key).is_some_and(|l| l.read_only)
    }

    /// Builder: the side reports `key` but Tandem must never write it.
    pub fn with_read_only(mut self, key: FieldKey) -> Self {
        self.fields.entry(key).or_default().read_only = true;
        self
    }

    /// The limit of `key`, if the field is supported.
    pub fn limit(&self, key: &FieldKey) -> Option<FieldLimit> {
        match key {
            FieldKey::Custom(_) if self.custom_fields => Some(self.fields.get(key).copied().unwrap_or_default()),
            key => self.fields.get(key.family()).copied(),
        }
    }

    /// Builder: removes a field (the side cannot store it).
    pub fn without(mut self, key: FieldKey) -> Self {
        self.fields.remove(&key);
        self
    }

    /// Builder: sets a field's limit.
    pub fn with_limit(mut self, key: FieldKey, max_len: Option<usize>, required: bool) -> Self {
        let entry = self.fields.entry(key).or_default();
        entry.max_len = max_len;
        entry.required = required;
        self
    }

    /// Builder: caps the number of entries of a list field.
    pub fn with_max_items(mut self, key: FieldKey, max_items: usize) -> Self {
        self.fields.entry(key).or_default().max_items = Some(max_items);
        self
    }
}

/// What one side can store, for both object kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Contacts.
    pub contacts: ObjectCapabilities,
    /// Events.
    pub events: ObjectCapabilities,
}

impl Capabilities {
    /// No limits at all: the in-memory connector's default.
    pub fn everything() -> Self {
        Capabilities {
            contacts: ObjectCapabilities::everything(ObjectKind::Contact),
            events: ObjectCapabilities::everything(ObjectKind::Event),
        }
    }

    /// The capabilities for one object kind.
    pub fn object(&self, kind: ObjectKind) -> &ObjectCapabilities {
        match kind {
            ObjectKind::Contact => &self.contacts,
            ObjectKind::Event => &self.events,
        }
    }

    /// The capabilities for one object kind, mutably.
    pub fn object_mut(&mut self, kind: ObjectKind) -> &mut ObjectCapabilities {
        match kind {
            ObjectKind::Contact => &mut self.contacts,
            ObjectKind::Event => &mut self.events,
        }
    }
}
