//! The sync state of a mapped pair: [`PairState`] and, per side, [`SideState`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{PairId, RecordId, Side, Version};
use super::prints::FieldPrints;
use crate::model::ObjectKind;

/// What the sync state knows of one side of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideState {
    /// The record's id on that side.
    pub id: RecordId,
    /// The version last seen or written, for echo suppression and preconditions.
    pub version: Version,
    /// Fingerprints of the synced fields as that side holds them after the last sync. Kept per
    /// side because a side may hold a truncated value or lack a field altogether.
    pub fields: FieldPrints,
}

/// The sync state of one mapped pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairState {
    /// The pair's id.
    pub pair_id: PairId,
    /// Contact or event.
    pub object: ObjectKind,
    /// The CRM record.
    pub crm: SideState,
    /// The mailbox record.
    pub mailbox: SideState,
    /// When the pair last synced.
    pub synced_at: DateTime<Utc>,
    /// Set when one side's record was deleted and the delete was deliberately not propagated:
    /// the survivor stays, unlinked, and is never re-created on the side that deleted it.
    pub tombstone: Option<Side>,
}

impl PairState {
    /// One side's state.
    pub fn side(&self, side: Side) -> &SideState {
        match side {
            Side::Crm => &self.crm,
            Side::Mailbox => &self.mailbox,
        }
    }

    /// One side's state, mutably.
    pub fn side_mut(&mut self, side: Side) -> &mut SideState {
        match side {
            Side::Crm => &mut self.crm,
            Side::Mailbox => &mut self.mailbox,
        }
    }
}
