//! Recovery: settling the writes an interrupted run or a lost answer left in the journal,
//! before a cycle reads anything.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use tandem_connector::ConnectorError;
use tandem_core::model::ObjectKind;
use tandem_core::plan::NextState;
use tandem_core::state::{PairId, PairState, RecordId, Side, Version};
use tandem_store::{AuditEntry, CycleCommit};

use super::journal::JournaledAction;
use super::{Access, JournalEntry, with_retries};
use crate::{Engine, EngineError, UserSync};

/// What recovery could not settle this time: creates whose outcome is still unknown because
/// looking them up failed. Their intents stay in the journal and their source records sit this
/// cycle out, so a provider without idempotent creates is never sent the create twice.
#[derive(Debug, Default)]
pub(super) struct Unsettled {
    /// (object, source side, source record) of each create still in doubt.
    pub(super) sources: HashSet<(ObjectKind, Side, RecordId)>,
    /// Pairs with updates still in doubt: all their records wait, under any id.
    pub(super) pairs: HashSet<(ObjectKind, PairId)>,
}

impl Unsettled {
    pub(super) fn holds(&self, object: ObjectKind, side: Side, id: &RecordId) -> bool {
        // Asked for every change of every cycle, and nearly always of an empty set: no key (and
        // no copy of the id) is built then.
        !self.sources.is_empty() && self.sources.contains(&(object, side, id.clone()))
    }
}

/// Settles writes left pending by an interrupted run or a lost answer.
///
/// A create that reached the provider is found by its idempotency key and its pair recorded, so
/// the next plan does not create it again. The pair takes the journal's fingerprints of what was
/// **written**, not the version found: a person may have edited the record since, and that edit
/// must read as an edit. The target's version is left unknown and the record is queued for
/// another look, so the next plan compares its content with what was written.
///
/// A create that is not found did not happen; its source is queued for another look so the next
/// plan creates it again under the same key. Updates are settled pair by pair against the records
/// read back ([`settle_updates`]). Deletes are replayed safely by the next plan: their
/// preconditions catch what already happened. A look-up that fails leaves its intent pending for
/// the next run (see [`Unsettled`]); it never fails the sync.
pub(super) async fn recover(engine: &Engine, job: &UserSync) -> Result<(usize, Unsettled), EngineError> {
    let store = &engine.inner.store;
    let pending = store.pending_intents(&job.user).await?;
    let mut unsettled = Unsettled::default();
    if pending.is_empty() {
        return Ok((0, unsettled));
    }
    tracing::info!(count = pending.len(), "settling writes left pending by an interrupted run");
    let mut commits: BTreeMap<ObjectKind, CycleCommit> = BTreeMap::new();
    // Updates whose outcome is unknown, by pair: the planned state and the intents.
    let mut updates: BTreeMap<(ObjectKind, PairId), (PairState, Vec<&tandem_store::Intent>)> = BTreeMap::new();
    let mut settled = 0;
    let now = engine.inner.clock.now();
    for intent in &pending {
        let commit = commits.entry(intent.object).or_default();
        // Only writes are journaled: an entry that reads as anything else (an `op` this build
        // does not know, or damage) is as unreadable as one that does not parse.
        let read = intent.operation.parse::<JournalEntry>().map_err(|e| e.to_string()).and_then(|entry| {
            if entry.operation.action == JournaledAction::Other {
                Err("it is not a write".to_owned())
            } else {
                Ok(entry)
            }
        });
        let entry = match read {
            Ok(entry) => entry,
            Err(e) => {
                // Written by another version of Tandem, or damaged: nothing can be settled from
                // it. Say so, and let the next plan decide afresh from both sides.
                tracing::warn!(key = %intent.key, error = %e, "unreadable journal entry dropped");
                commit.resolved_intents.push(intent.key.clone());
                commit.audit.push(AuditEntry {
                    at: now,
                    user: job.user.clone(),
                    object: intent.object,
                    side: Some(intent.target),
                    record_id: None,
                    action: "recover".into(),
                    outcome: "dropped".into(),
                    reason: format!("journal entry {} could not be read: {e}", intent.key),
                    detail: None,
                });
                settled += 1;
                continue;
            }
        };
        if let (JournaledAction::Update { .. }, Some(NextState::Put(next)), Some(pair)) =
            (&entry.operation.action, &entry.next, &entry.operation.pair)
        {
            updates.entry((intent.object, pair.clone())).or_insert_with(|| (next.clone(), Vec::new())).1.push(intent);
            continue;
        }
        let (JournaledAction::Create { key, source_id, .. }, Some(NextState::Put(mut state))) =
            (&entry.operation.action, entry.next)
        else {
            commit.resolved_intents.push(intent.key.clone());
            settled += 1;
            continue;
        };
        let source = intent.target.other();
        let connector = job.connector(intent.target);
        let object = intent.object;
        let found = with_retries(&engine.inner.options, intent.target, Access::Read, &mut |_| {}, || {
            connector.find_by_key(object, key)
        })
        .await;
        let found = match found {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(target = %intent.target, error = %error, "could not settle a pending create; trying next cycle");
                unsettled.sources.insert((object, source, source_id.clone()));
                continue;
            }
        };
        commit.resolved_intents.push(intent.key.clone());
        settled += 1;
        match found {
            Some(written) => {
                let absent = absent_after_create(engine, job, object, intent.target, &written.id, &state).await;
                let side = state.side_mut(intent.target);
                side.id = written.id.clone();
                // Unknown on purpose: the record is compared by content next cycle.
                side.version = Version::default();
                // What the target did not store (a company no Account has) it does not hold:
                // its state says so, as after an answered create, or the difference would read
                // as a person clearing the field and be sent to the source.
                for field in written.unstored.iter().chain(&absent) {
                    side.fields.remove(field);
                }
                commit.refetch_add.push((intent.target, written.id.clone()));
                commit.audit.push(AuditEntry {
                    at: now,
                    user: job.user.clone(),
                    object,
                    side: Some(intent.target),
                    record_id: Some(written.id),
                    action: "create".into(),
                    outcome: "recovered".into(),
                    reason: "create was sent before an interruption; found by its idempotency key".into(),
                    detail: None,
                });
                commit.upsert_pairs.push(state);
            }
            None => commit.refetch_add.push((source, source_id.clone())),
        }
    }
    for ((object, pair), (next, intents)) in updates {
        let commit = commits.entry(object).or_default();
        match settle_updates(engine, job, object, &pair, next, &intents).await {
            Ok(settled_pair) => {
                commit.resolved_intents.extend(intents.iter().map(|i| i.key.clone()));
                settled += intents.len();
                if let Some(state) = settled_pair {
                    for side in Side::BOTH {
                        commit.refetch_add.push((side, state.side(side).id.clone()));
                    }
                    commit.upsert_pairs.push(state);
                }
            }
            Err((side, error)) => {
                tracing::warn!(%side, error = %error, "could not settle pending updates; trying next cycle");
                unsettled.pairs.insert((object, pair));
            }
        }
    }
    for (object, commit) in commits {
        if !commit.is_empty() {
            store.commit_cycle(&job.user, object, commit).await?;
        }
    }
    Ok((settled, unsettled))
}

/// The fields a create whose answer was lost wrote but the record found does not hold at all.
/// The connector's answer said which fields it did not store (`Written::unstored`); that answer
/// is lost, so the record is read back: a field written with a value and read back empty was
/// not stored. (A person clearing it in the moment between is taken the same way: the clear is
/// then not sent on, which loses nothing, where the other reading would clear the source.) Empty
/// when the record cannot be read now: the next cycle compares content as before.
async fn absent_after_create(
    engine: &Engine,
    job: &UserSync,
    object: ObjectKind,
    target: Side,
    id: &RecordId,
    planned: &PairState,
) -> Vec<tandem_core::fields::FieldKey> {
    let connector = job.connector(target);
    let ids = [id.clone()];
    let read =
        with_retries(&engine.inner.options, target, Access::Read, &mut |_| {}, || connector.fetch(object, &ids)).await;
    let Some(record) = read.ok().and_then(|changes| changes.iter().find_map(|c| c.record()).cloned()) else {
        return Vec::new();
    };
    let config = job.config.object(object);
    let now = tandem_core::planner::fingerprints(config, connector.capabilities().object(object), target, &record);
    let empty = tandem_core::fields::fingerprint(None);
    planned
        .side(target)
        .fields
        .iter()
        .filter(|(key, print)| **print != empty && now.get(key).is_none_or(|p| *p == empty))
        .map(|(key, _)| key.clone())
        .collect()
}

/// Settles updates of one pair whose outcome is unknown (a lost answer, a crash after sending):
/// reads each written record back and, field by field, keeps the planned state where the
/// record no longer holds what it held before (the write landed, or a person edited it since:
/// either way the planned fingerprints make a later edit read as an edit), and the old state
/// where it still does (the write never landed: both sides keep their old fingerprints for that
/// field, so the edit that caused it is found again and sent again). Both versions are left
/// unknown so the next plan compares content. `None`: nothing to record (the pair is gone or a
/// record was deleted; the next plan sees that).
async fn settle_updates(
    engine: &Engine,
    job: &UserSync,
    object: ObjectKind,
    pair: &PairId,
    next: PairState,
    intents: &[&tandem_store::Intent],
) -> Result<Option<PairState>, (Side, ConnectorError)> {
    let Ok(Some(old)) = engine.inner.store.pair(&job.user, object, pair).await else { return Ok(None) };
    // A later cycle committed this pair since: what it recorded is newer than the journal.
    if intents.iter().all(|i| old.synced_at > i.created_at) {
        return Ok(None);
    }
    let config = job.config.object(object);
    let mut state = next;
    // The ids are the pair's as stored: a record may have moved since the plan.
    for side in Side::BOTH {
        state.side_mut(side).id = old.side(side).id.clone();
    }
    let written: BTreeSet<Side> = intents.iter().map(|i| i.target).collect();
    for side in written {
        let connector = job.connector(side);
        let id = [old.side(side).id.clone()];
        let read =
            with_retries(&engine.inner.options, side, Access::Read, &mut |_| {}, || connector.fetch(object, &id))
                .await
                .map_err(|e| (side, e))?;
        let mut record = read.iter().find_map(|c| c.record()).cloned();
        if record.is_none() {
            // Gone under its id: a record Tandem created may have moved, and carries its key.
            let found = with_retries(&engine.inner.options, side, Access::Read, &mut |_| {}, || {
                connector.find_by_key(object, pair)
            })
            .await
            .map_err(|e| (side, e))?;
            if let Some(moved) = found {
                let id = [moved.id.clone()];
                let read = with_retries(&engine.inner.options, side, Access::Read, &mut |_| {}, || {
                    connector.fetch(object, &id)
                })
                .await
                .map_err(|e| (side, e))?;
                record = read.iter().find_map(|c| c.record()).cloned();
                state.side_mut(side).id = moved.id;
            }
        }
        let Some(record) = record else { return Ok(None) };
        let record = &record;
        let caps = connector.capabilities();
        let now = tandem_core::planner::fingerprints(config, caps.object(object), side, record);
        let intended: Vec<(tandem_core::fields::FieldKey, Option<u64>)> = state
            .side(side)
            .fields
            .iter()
            .filter(|(k, p)| old.side(side).fields.get(k) != Some(*p))
            .map(|(k, _)| (k.clone(), old.side(side).fields.get(k).copied()))
            .collect();
        for (key, before) in intended {
            if now.get(&key).copied() != before {
                continue;
            }
            // Not landed: both sides go back to what they held before for this field.
            for s in [side, side.other()] {
                match old.side(s).fields.get(&key) {
                    Some(print) => {
                        state.side_mut(s).fields.insert(key.clone(), *print);
                    }
                    None => {
                        state.side_mut(s).fields.remove(&key);
                    }
                }
            }
        }
    }
    state.crm.version = Version::default();
    state.mailbox.version = Version::default();
    Ok(Some(state))
}
