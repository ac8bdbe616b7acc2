//! The accounting invariant: at the end of every cycle, whatever failed, every record on either
//! side is **paired**, or **pending in the journal**, or **queued for another look**, or
//! **quarantined with a reason**, or **skipped by a stated rule**.
//!
//! A record that is none of these is lost: no later cycle would ever look at it again unless a
//! person edits it. [`unaccounted`] finds such records. The fault soak, the crash test and the
//! random-history tests call it after every cycle; an operator can call it too (it only reads the
//! store).
//!
//! The one skip rule checked here is structural: a record that carries Tandem's idempotency key
//! but whose pair is gone (or tombstoned) is Tandem's copy of a record that is no longer mapped,
//! and is never copied back. Skips that depend on configuration (filters, one-way directions,
//! the sync window) are the caller's to exclude, because only the caller knows the records'
//! content.

use std::collections::HashSet;

use tandem_core::model::ObjectKind;
use tandem_core::state::{IdempotencyKey, RecordId, Side};
use tandem_store::{StateStore, StoreError};

use crate::cycle::{JournalEntry, JournaledAction};

/// A record as a side holds it, for [`unaccounted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The record's id on its side.
    pub id: RecordId,
    /// The idempotency key the record carries, if Tandem created it.
    pub sync_key: Option<IdempotencyKey>,
}

/// How a record is accounted for, as [`account`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Accounted {
    /// In a pair (live, or tombstoned after a delete that was not propagated).
    Paired,
    /// A journal intent still waits to be settled for it (a create from it, a write to it, or
    /// the create that made it).
    Pending,
    /// Queued to be read again next cycle.
    Queued,
    /// Quarantined with a reason (including held deletes, manual conflicts, ambiguous matches).
    Quarantined,
    /// Tandem's copy of a record that is no longer mapped: never copied back, by rule.
    UnmappedCopy,
    /// Held back as an unresolved item about the whole record (over the per-user limit, or set
    /// aside until it relates to a CRM record).
    Unresolved,
}

/// Classifies each of `records` (held by `side`) against what the store remembers for `user`.
/// `None` for a record that is lost.
pub async fn account(
    store: &dyn StateStore,
    user: &str,
    object: ObjectKind,
    side: Side,
    records: &[Observed],
) -> Result<Vec<Option<Accounted>>, StoreError> {
    let ids: Vec<RecordId> = records.iter().map(|r| r.id.clone()).collect();
    let paired: HashSet<RecordId> =
        store.pairs_by_record(user, object, side, &ids).await?.into_iter().map(|p| p.side(side).id.clone()).collect();
    let queued: HashSet<RecordId> = store.refetch_queue(user, object, side).await?.into_iter().collect();
    let quarantined: HashSet<RecordId> = store
        .quarantine(user)
        .await?
        .into_iter()
        .filter(|q| q.object == object && q.side == side)
        .map(|q| q.record_id)
        .collect();
    let unresolved: HashSet<RecordId> = store
        .unresolved(user)
        .await?
        .into_iter()
        .filter(|u| u.object == object && u.side == side && u.item.field.is_none())
        .map(|u| u.record_id)
        .collect();
    let mut pending_ids: HashSet<RecordId> = HashSet::new();
    let mut pending_keys: HashSet<IdempotencyKey> = HashSet::new();
    for intent in store.pending_intents(user).await? {
        if intent.object != object {
            continue;
        }
        // An intent that cannot be read is settled (and reported) by the next cycle's recovery;
        // it accounts for nothing here.
        let Ok(entry) = intent.operation.parse::<JournalEntry>() else { continue };
        match entry.operation.action {
            JournaledAction::Create { target, source_id, key } => {
                if target == side {
                    pending_keys.insert(key);
                } else {
                    pending_ids.insert(source_id);
                }
            }
            JournaledAction::Update { target, id } | JournaledAction::Delete { target, id } if target == side => {
                pending_ids.insert(id);
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let how = if paired.contains(&record.id) {
            Some(Accounted::Paired)
        } else if pending_ids.contains(&record.id) || record.sync_key.as_ref().is_some_and(|k| pending_keys.contains(k))
        {
            Some(Accounted::Pending)
        } else if queued.contains(&record.id) {
            Some(Accounted::Queued)
        } else if quarantined.contains(&record.id) {
            Some(Accounted::Quarantined)
        } else if unresolved.contains(&record.id) {
            Some(Accounted::Unresolved)
        } else if let Some(key) = &record.sync_key {
            let live = store.pair(user, object, key).await?.is_some_and(|p| p.tombstone.is_none());
            (!live).then_some(Accounted::UnmappedCopy)
        } else {
            None
        };
        out.push(how);
    }
    Ok(out)
}

/// The records of `records` (held by `side`) that are not accounted for: lost, unless the
/// caller knows a configured rule skips them.
pub async fn unaccounted(
    store: &dyn StateStore,
    user: &str,
    object: ObjectKind,
    side: Side,
    records: &[Observed],
) -> Result<Vec<RecordId>, StoreError> {
    let how = account(store, user, object, side, records).await?;
    Ok(records.iter().zip(how).filter(|(_, how)| how.is_none()).map(|(r, _)| r.id.clone()).collect())
}
