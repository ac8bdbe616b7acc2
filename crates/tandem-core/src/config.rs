//! Per-object sync configuration: direction, conflict policy, delete propagation, filters, field
//! mapping and the mass-delete guard. Plain serde data, loadable from TOML.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::fields::FieldKey;
use crate::filter::Filter;
use crate::model::ObjectKind;
use crate::state::Side;

/// Which way records flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Both ways.
    #[default]
    Both,
    /// CRM to mailbox only.
    CrmToMailbox,
    /// Mailbox to CRM only.
    MailboxToCrm,
    /// Not synced.
    Off,
}

impl Direction {
    /// Whether changes made on `from` flow to the other side.
    pub fn flows_from(self, from: Side) -> bool {
        matches!(
            (self, from),
            (Direction::Both, _) | (Direction::CrmToMailbox, Side::Crm) | (Direction::MailboxToCrm, Side::Mailbox)
        )
    }
}

/// How to settle a record edited on both sides since the last sync.
///
/// The three "wins" strategies work on the whole record: when both sides changed it, the winner's
/// values replace the loser's for every field either side changed. [`ConflictStrategy::FieldMerge`]
/// works per field, so edits to different fields both survive. Fields both sides changed to the
/// same value are never a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStrategy {
    /// The CRM's version wins the whole record.
    CrmWins,
    /// The mailbox's version wins the whole record.
    MailboxWins,
    /// The most recently modified side wins the whole record (ties: `fallback`).
    NewestWins,
    /// Fields edited on one side only are taken from that side; a field edited on both sides
    /// falls back to `fallback`.
    #[default]
    FieldMerge,
    /// Report the conflict and change nothing until someone resolves it.
    Manual,
}

/// The conflict policy of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConflictPolicy {
    /// The strategy.
    pub strategy: ConflictStrategy,
    /// The side that wins ties and same-field edits under field merge, and unequal fields when
    /// two existing records are first linked.
    pub fallback: Side,
}

impl Default for ConflictPolicy {
    fn default() -> Self {
        ConflictPolicy { strategy: ConflictStrategy::FieldMerge, fallback: Side::Crm }
    }
}

/// Whether deletes propagate, per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DeletePropagation {
    /// A CRM delete deletes the mailbox record.
    pub crm_to_mailbox: bool,
    /// A mailbox delete deletes the CRM record.
    pub mailbox_to_crm: bool,
}

impl DeletePropagation {
    /// Whether a delete on `from` is mirrored on the other side.
    pub fn from(self, from: Side) -> bool {
        match from {
            Side::Crm => self.crm_to_mailbox,
            Side::Mailbox => self.mailbox_to_crm,
        }
    }
}

/// Holds back deletes when one side suddenly reports many of them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MassDeleteGuard {
    /// The share of mapped records above which a cycle's deletes from one side are held.
    pub max_share: f64,
    /// The guard only trips at or above this many deletes.
    pub min_records: usize,
}

impl Default for MassDeleteGuard {
    fn default() -> Self {
        MassDeleteGuard { max_share: 0.5, min_records: 10 }
    }
}

/// A custom field synced between differently named fields on the two sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldMapping {
    /// The canonical name the planner uses (`custom.<name>`).
    pub name: String,
    /// The field's name on the CRM side, e.g. `Region__c`.
    pub crm: String,
    /// The field's name on the mailbox side, e.g. an extended property name.
    pub mailbox: String,
}

impl CustomFieldMapping {
    /// The field's name on `side`.
    pub fn on(&self, side: Side) -> &str {
        match side {
            Side::Crm => &self.crm,
            Side::Mailbox => &self.mailbox,
        }
    }
}

/// Which fields sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FieldSelection {
    /// When set, only these standard fields sync; otherwise all standard fields do.
    pub only: Option<BTreeSet<FieldKey>>,
    /// Standard fields that never sync.
    pub exclude: BTreeSet<FieldKey>,
    /// Custom fields that sync, with their names on each side.
    pub custom: Vec<CustomFieldMapping>,
}

impl FieldSelection {
    /// A field as `side` names it (`custom.Region__c`), under its canonical name
    /// (`custom.region`). Standard fields and unmapped custom fields are returned unchanged.
    pub fn canonical_name(&self, side: Side, key: &FieldKey) -> FieldKey {
        match key {
            FieldKey::Custom(name) => self
                .custom
                .iter()
                .find(|m| m.on(side) == name)
                .map_or_else(|| key.clone(), |m| FieldKey::Custom(m.name.clone())),
            other => other.clone(),
        }
    }

    /// A canonical field under the name `side` gives it: the inverse of
    /// [`FieldSelection::canonical_name`].
    pub fn side_name(&self, side: Side, key: &FieldKey) -> FieldKey {
        match key {
            FieldKey::Custom(name) => self
                .custom
                .iter()
                .find(|m| &m.name == name)
                .map_or_else(|| key.clone(), |m| FieldKey::Custom(m.on(side).to_owned())),
            other => other.clone(),
        }
    }

    /// The synced fields of `kind`, in a fixed order.
    pub fn synced(&self, kind: ObjectKind) -> Vec<FieldKey> {
        let mut keys: Vec<FieldKey> = FieldKey::standard(kind)
            .iter()
            .filter(|k| self.only.as_ref().is_none_or(|only| only.contains(k)))
            .filter(|k| !self.exclude.contains(k))
            .cloned()
            .collect();
        keys.extend(self.custom.iter().map(|m| FieldKey::Custom(m.name.clone())));
        keys
    }
}

/// The span of time whose events sync, relative to now: from `past_days` ago to `future_days`
/// ahead. Applied by the planner to both sides alike: an event outside it is neither created
/// nor deleted on the other side, and a pair whose events leave it is kept, not deleted.
/// Connectors that read a window of their own (Microsoft Graph's calendar view) must read at
/// least this one.
///
/// An event is inside when it overlaps the span; a recurring series is inside when it starts
/// before the span ends, since it may recur into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncWindow {
    /// How many days back the window reaches.
    pub past_days: u32,
    /// How many days ahead the window reaches.
    pub future_days: u32,
}

impl Default for SyncWindow {
    /// 30 days back and 365 ahead: the Microsoft Graph connector's default calendar view.
    fn default() -> Self {
        SyncWindow { past_days: 30, future_days: 365 }
    }
}

impl SyncWindow {
    /// The window's bounds at `now`.
    pub fn bounds(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
        let start = now.checked_sub_signed(chrono::Duration::days(i64::from(self.past_days))).unwrap_or(now);
        let end = now.checked_add_signed(chrono::Duration::days(i64::from(self.future_days))).unwrap_or(now);
        (start, end)
    }
}

/// Lightning Sync's limit of contacts per user, the default [`ObjectConfig::max_records`].
pub const DEFAULT_MAX_RECORDS: usize = 50_000;

/// The configuration of one object kind in one sync configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectConfig {
    /// Which way records flow.
    pub direction: Direction,
    /// Conflict policy.
    pub conflicts: ConflictPolicy,
    /// Delete propagation.
    pub deletes: DeletePropagation,
    /// Only CRM records passing this filter sync to the mailbox.
    pub crm_filter: Option<Filter>,
    /// Only mailbox records passing this filter sync to the CRM.
    pub mailbox_filter: Option<Filter>,
    /// Which fields sync.
    pub fields: FieldSelection,
    /// The mass-delete guard.
    pub mass_delete_guard: MassDeleteGuard,
    /// The span of time whose events sync (`None`: all time). Only events have a time, so
    /// contacts ignore it. The default, [`SyncWindow::default`], also applies to a TOML section
    /// that leaves it out.
    pub window: Option<SyncWindow>,
    /// The most records of this kind one user syncs (`None`: no limit). Default 50,000, Lightning
    /// Sync's limit for contacts. New records beyond it are not copied; they are reported
    /// (unresolved items, kind `over_limit`) and copied once others stop syncing.
    pub max_records: Option<usize>,
    /// Events in the mailbox that someone else organizes (the user's copy of another person's
    /// meeting). Events only.
    pub foreign_organizers: ForeignOrganizers,
}

/// What happens to the user's copy of a meeting someone else organizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ForeignOrganizers {
    /// Lightning Sync's rule: never copied to the CRM. It is still linked to the CRM's event
    /// when one matches (the organizer syncs and invited the user), so the two stay in step.
    #[default]
    LinkOnly,
    /// Copied to the CRM like the user's own events.
    Sync,
}

impl Default for ObjectConfig {
    /// Both ways, field merge with the CRM as fallback, deletes not propagated (as Lightning Sync
    /// does for contacts, but the survivor is unlinked, never re-created), all standard fields.
    fn default() -> Self {
        ObjectConfig {
            direction: Direction::Both,
            conflicts: ConflictPolicy::default(),
            deletes: DeletePropagation::default(),
            crm_filter: None,
            mailbox_filter: None,
            fields: FieldSelection::default(),
            mass_delete_guard: MassDeleteGuard::default(),
            window: Some(SyncWindow::default()),
            max_records: Some(DEFAULT_MAX_RECORDS),
            foreign_organizers: ForeignOrganizers::default(),
        }
    }
}

impl ObjectConfig {
    /// The default for events: like contacts, but deletes propagate both ways, because a
    /// cancelled meeting left standing on the other calendar is worse than a missing one, and
    /// only the default [`SyncWindow`] syncs, so years of CRM history never fill a mailbox.
    pub fn events_default() -> Self {
        ObjectConfig {
            deletes: DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: true },
            ..ObjectConfig::default()
        }
    }

    /// The filter applied to records coming from `side`.
    pub fn filter(&self, side: Side) -> Option<&Filter> {
        match side {
            Side::Crm => self.crm_filter.as_ref(),
            Side::Mailbox => self.mailbox_filter.as_ref(),
        }
    }
}
