//! Moving a user's mailbox side to another connector without a resync: [`Engine::repoint_mailbox`].
//!
//! A mailbox synced over one API (Exchange Web Services) can move to another that names the same
//! items with other ids (Microsoft Graph): the caller translates the stored mailbox ids (Graph's
//! `translateExchangeIds`), and the engine re-points every pair to the new ids. Nothing is read
//! from or written to either side here. The mailbox side's versions are forgotten (the new API's
//! versions are of another kind), so the first cycle over the new connector compares content,
//! not versions; the mailbox cursors are dropped, so that cycle reads the mailbox in full and
//! finds every record already paired: no create, no delete, and an update only where the content
//! really differs.

use std::collections::{BTreeMap, HashMap};

use tandem_core::model::ObjectKind;
use tandem_core::state::{PairState, RecordId, Side, Version};
use tandem_store::{AuditEntry, CycleCommit, UnresolvedEntry, UnresolvedKey};

use crate::{Engine, EngineError};

/// What [`Engine::repoint_mailbox`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepointReport {
    /// Pairs re-pointed, per object.
    pub pairs: BTreeMap<ObjectKind, usize>,
    /// Records queued for another look on the mailbox side, re-pointed too.
    pub refetch: usize,
    /// Quarantine entries of the mailbox side dropped (the first full read judges those records
    /// again under their new ids).
    pub quarantine_dropped: usize,
    /// Unresolved items of the mailbox side re-pointed to the new ids.
    pub unresolved: usize,
}

impl RepointReport {
    /// Pairs re-pointed in all.
    pub fn total(&self) -> usize {
        self.pairs.values().sum()
    }
}

impl Engine {
    /// The mailbox-side record ids of every pair of `user` (both objects), as the store holds
    /// them: what to translate before [`Engine::repoint_mailbox`].
    ///
    /// # Errors
    ///
    /// The store failed.
    pub async fn mailbox_record_ids(&self, user: &str) -> Result<Vec<(ObjectKind, RecordId)>, EngineError> {
        let store = &self.inner.store;
        let mut out = Vec::new();
        for object in ObjectKind::ALL {
            for pair in store.all_pairs(user, object).await? {
                out.push((object, pair.mailbox.id.clone()));
            }
            for id in store.refetch_queue(user, object, Side::Mailbox).await? {
                out.push((object, id));
            }
        }
        for entry in store.unresolved(user).await? {
            let id = (entry.object, entry.record_id);
            if entry.side == Side::Mailbox && !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Re-points `user`'s mailbox side to new record ids: for every pair (contacts and events)
    /// the mailbox record id becomes `translate[old id]` and its version is forgotten; the mailbox
    /// cursors are dropped (the next cycle reads the mailbox in full, through the new connector),
    /// records queued for another look and the mailbox side's unresolved items are re-pointed,
    /// and the mailbox side's quarantine entries are dropped (the full read judges them again). One audit entry per object
    /// (`repoint_mailbox`) records how many pairs moved and `reason`.
    ///
    /// Nothing is read from or written to either side. Run it between cycles, with the mailbox
    /// connector of the user swapped afterwards.
    ///
    /// # Errors
    ///
    /// [`EngineError::Config`], before anything changes, when a pair's mailbox id has no
    /// translation, when two ids translate to one, or when writes of an earlier cycle are still
    /// unsettled (run a cycle with the old connector first); [`EngineError::Store`] when the store
    /// fails.
    pub async fn repoint_mailbox(
        &self,
        user: &str,
        translate: &HashMap<RecordId, RecordId>,
        reason: &str,
    ) -> Result<RepointReport, EngineError> {
        let store = &self.inner.store;
        let pending = store.pending_intents(user).await?;
        if !pending.is_empty() {
            return Err(EngineError::Config(format!(
                "cannot re-point the mailbox of `{user}`: {} write(s) of an earlier cycle are not settled yet; \
                 run one cycle with the current mailbox connector first",
                pending.len()
            )));
        }
        // Everything is checked before anything changes.
        let mut plans = Vec::new();
        let mut missing: Vec<RecordId> = Vec::new();
        let unresolved = store.unresolved(user).await?;
        for object in ObjectKind::ALL {
            let pairs: Vec<PairState> = store.all_pairs(user, object).await?;
            let mut seen: HashMap<RecordId, RecordId> = HashMap::with_capacity(pairs.len());
            let mut upsert = Vec::with_capacity(pairs.len());
            for mut pair in pairs {
                let old = pair.mailbox.id.clone();
                let Some(new) = translate.get(&old) else {
                    missing.push(old);
                    continue;
                };
                if let Some(other) = seen.insert(new.clone(), old.clone()) {
                    return Err(EngineError::Config(format!(
                        "cannot re-point the mailbox of `{user}`: {other} and {old} both translate to {new}"
                    )));
                }
                pair.mailbox.id = new.clone();
                pair.mailbox.version = Version::default();
                upsert.push(pair);
            }
            let queued = store.refetch_queue(user, object, Side::Mailbox).await?;
            let refetch: Vec<(RecordId, RecordId)> =
                queued.into_iter().filter_map(|old| translate.get(&old).map(|new| (old, new.clone()))).collect();
            let quarantined: Vec<RecordId> = store
                .quarantine(user)
                .await?
                .into_iter()
                .filter(|q| q.object == object && q.side == Side::Mailbox)
                .map(|q| q.record_id)
                .collect();
            // Unresolved items of the mailbox side follow their records to the new ids.
            let moved: Vec<(UnresolvedKey, UnresolvedEntry)> = unresolved
                .iter()
                .filter(|u| u.object == object && u.side == Side::Mailbox)
                .filter_map(|u| {
                    let new = translate.get(&u.record_id)?;
                    let mut entry = u.clone();
                    entry.record_id = new.clone();
                    Some((u.key(), entry))
                })
                .collect();
            plans.push((object, upsert, refetch, quarantined, moved));
        }
        if let Some(first) = missing.first() {
            return Err(EngineError::Config(format!(
                "cannot re-point the mailbox of `{user}`: {} mailbox id(s) have no translation (first: {first}); \
                 nothing was changed",
                missing.len()
            )));
        }
        let mut report = RepointReport::default();
        let now = self.inner.clock.now();
        for (object, upsert, refetch, quarantined, moved) in plans {
            let count = upsert.len();
            report.pairs.insert(object, count);
            report.refetch += refetch.len();
            report.quarantine_dropped += quarantined.len();
            report.unresolved += moved.len();
            let audit = AuditEntry {
                at: now,
                user: user.to_owned(),
                object,
                side: Some(Side::Mailbox),
                record_id: None,
                action: "repoint_mailbox".to_owned(),
                outcome: "ok".to_owned(),
                reason: reason.to_owned(),
                detail: Some(serde_json::json!({
                    "pairs": count,
                    "refetch": refetch.len(),
                    "quarantine_dropped": quarantined.len(),
                    "unresolved": moved.len(),
                })),
            };
            let commit = CycleCommit {
                upsert_pairs: upsert,
                cursors: vec![(Side::Mailbox, None)],
                refetch_remove: refetch.iter().map(|(old, _)| (Side::Mailbox, old.clone())).collect(),
                refetch_add: refetch.into_iter().map(|(_, new)| (Side::Mailbox, new)).collect(),
                quarantine_remove: quarantined.into_iter().map(|id| (Side::Mailbox, id)).collect(),
                unresolved_remove: moved.iter().map(|(key, _)| key.clone()).collect(),
                unresolved_add: moved.into_iter().map(|(_, entry)| entry).collect(),
                audit: vec![audit],
                ..CycleCommit::default()
            };
            store.commit_cycle(user, object, commit).await?;
            tracing::info!(user, %object, pairs = count, "re-pointed the mailbox side");
        }
        Ok(report)
    }
}
