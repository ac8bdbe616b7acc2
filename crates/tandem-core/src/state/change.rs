//! What a connector reports: one observed [`Change`] on one side and its [`ChangeKind`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{IdempotencyKey, RecordId, Version};
use crate::model::Record;

/// What happened to one record, as a connector reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeKind {
    /// Created or updated; the full current record.
    Upserted {
        /// The record as it is now.
        record: Record,
    },
    /// Deleted.
    Deleted,
    /// The connector could not translate the provider's record; it is quarantined with the reason.
    Invalid {
        /// Why it could not be read.
        reason: String,
    },
    /// Changed to [`Change::version`]; its content was not read. For feeds that list what changed
    /// without the content, whose bodies cost requests of their own (CalDAV/CardDAV
    /// `sync-collection`): the engine reads the record (`Connector::fetch`) unless the version
    /// is the one its pair holds, an echo of Tandem's own write, whose body it never needs. The
    /// engine resolves every such change before planning; the planner quarantines one that
    /// reaches it rather than guess.
    VersionOnly,
}

/// One observed change on one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The record's id on its side.
    pub id: RecordId,
    /// Its version after the change (empty for deletes when unknown).
    pub version: Version,
    /// When the system says it was last modified, if it says.
    pub modified_at: Option<DateTime<Utc>>,
    /// The idempotency key the record was created with by Tandem, when the system stores one.
    pub sync_key: Option<IdempotencyKey>,
    /// What happened.
    pub kind: ChangeKind,
}

impl Change {
    /// An upsert.
    pub fn upserted(id: impl AsRef<str>, version: impl AsRef<str>, record: Record) -> Self {
        Change {
            id: RecordId::new(id),
            version: Version::new(version),
            modified_at: None,
            sync_key: None,
            kind: ChangeKind::Upserted { record },
        }
    }

    /// A change known by its new version only (see [`ChangeKind::VersionOnly`]).
    pub fn version_only(id: impl AsRef<str>, version: impl AsRef<str>) -> Self {
        Change {
            id: RecordId::new(id),
            version: Version::new(version),
            modified_at: None,
            sync_key: None,
            kind: ChangeKind::VersionOnly,
        }
    }

    /// A delete.
    pub fn deleted(id: impl AsRef<str>) -> Self {
        Change {
            id: RecordId::new(id),
            version: Version::default(),
            modified_at: None,
            sync_key: None,
            kind: ChangeKind::Deleted,
        }
    }

    /// Sets `modified_at`.
    pub fn at(mut self, when: DateTime<Utc>) -> Self {
        self.modified_at = Some(when);
        self
    }

    /// The record, for upserts.
    pub fn record(&self) -> Option<&Record> {
        match &self.kind {
            ChangeKind::Upserted { record } => Some(record),
            _ => None,
        }
    }
}
