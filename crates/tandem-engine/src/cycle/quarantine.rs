//! The kinds of quarantine entries a cycle writes and reads: held deletes, restore marks,
//! records waiting on an unresolved item, ambiguous matches.

use tandem_core::state::RecordId;
use tandem_store::QuarantineEntry;

pub(super) const HELD_DELETE: &str = "held_delete";
/// Quarantine kind of a record deliberately not written until an unresolved item is resolved.
pub(super) const UNRESOLVED: &str = "unresolved";
pub(super) const AMBIGUOUS_MATCH: &str = "ambiguous_match";

/// Whether a quarantine entry is an ambiguous match waiting for a person.
pub(crate) fn is_ambiguous(q: &QuarantineEntry) -> bool {
    q.detail.as_ref().and_then(|d| d.get("kind")).and_then(|k| k.as_str()) == Some(AMBIGUOUS_MATCH)
}

/// The record an ambiguous record matched, from its quarantine entry.
pub(super) fn ambiguous_counterpart(q: &QuarantineEntry) -> Option<RecordId> {
    let detail = q.detail.as_ref()?;
    if detail.get("kind").and_then(|k| k.as_str()) != Some(AMBIGUOUS_MATCH) {
        return None;
    }
    detail.get("matches").and_then(|m| m.as_str()).map(RecordId::new)
}

/// Whether a quarantine entry is a delete held by the mass-delete guard.
pub(crate) fn is_held_delete(q: &QuarantineEntry) -> bool {
    q.detail.as_ref().and_then(|d| d.get("kind")).and_then(|k| k.as_str()) == Some(HELD_DELETE)
}

/// Quarantine kind marking the survivor of a rejected held delete: the next cycle reads it as a
/// person's record (its Tandem key dropped) so it is copied back to the side it was deleted from.
pub(crate) const RESTORE: &str = "restore";

/// Whether a quarantine entry is an administrator's pending decision rather than a record set
/// aside: a held delete or a restore mark.
pub(crate) fn is_admin_pending(q: &QuarantineEntry) -> bool {
    is_held_delete(q) || q.detail.as_ref().and_then(|d| d.get("kind")).and_then(|k| k.as_str()) == Some(RESTORE)
}

/// Whether an administrator approved a quarantine entry (the store marks it, see
/// [`tandem_store::StateStore::approve_quarantined`]).
pub(crate) fn is_approved(q: &QuarantineEntry) -> bool {
    q.detail.as_ref().and_then(|d| d.get("approved")).and_then(serde_json::Value::as_bool) == Some(true)
}
