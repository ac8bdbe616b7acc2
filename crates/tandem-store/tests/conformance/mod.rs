//! The conformance suite: how every `StateStore` behaves, whatever the database behind it.
//!
//! Each `pub async fn` here is one behaviour, run against a fresh, empty store from a
//! [`Backend`]. `tests/sqlite_store.rs` and `tests/postgres_store.rs` run all of them through
//! [`conformance_tests!`]; tests of one implementation's own files or schema stay in its file.
//! Invariant: both stores pass the same suite. A behaviour added here runs on both.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tandem_core::fields::FieldKey;
use tandem_core::model::{ObjectKind, PhoneKind};
use tandem_core::state::{Cursor, FieldPrints, IdempotencyKey, PairState, RecordId, Side, SideState, Version};
use tandem_store::{
    AuditEntry, Claims, CycleCommit, CycleCounts, CycleOperation, CycleRecord, Intent, JournalJson, QuarantineEntry,
    StateStore, StoreError, UserStatus,
};

pub const ADA: &str = "ada@example.com";
pub const BOB: &str = "bob@example.com";
pub const CONTACT: ObjectKind = ObjectKind::Contact;
pub const EVENT: ObjectKind = ObjectKind::Event;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Where the suite gets its stores.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// The store under test, on a database that was empty when the test began.
    fn store(&self) -> Arc<dyn StateStore>;
    /// Another store on the same database with its own connections: another worker process.
    async fn another(&self) -> Result<Arc<dyn StateStore>, StoreError>;
    /// The claims of the store under test ([`Backend::store`]'s).
    fn claims(&self) -> Arc<dyn Claims>;
}

/// One `#[tokio::test]` per behaviour of the suite. `$make` is an async fn returning
/// `Result<Option<B>, Box<dyn Error>>` (`None`: skip, having said why) where `B: Backend` has
/// `async fn finish(self)` to clean up after the test.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make;
            pair_state_round_trips_with_tombstone_and_full_width_prints,
            upsert_replaces_by_pair_id_and_remove_forgets,
            a_large_commit_mixing_new_edited_and_moved_pairs_stores_each_as_given,
            pairs_by_record_handles_more_ids_than_one_statement_takes,
            a_failing_commit_changes_nothing,
            a_conflict_deep_in_a_large_commit_names_the_pair_and_rolls_everything_back,
            a_commit_failing_after_thousands_of_writes_leaves_nothing,
            a_pair_cannot_claim_a_record_another_pair_holds,
            inconsistent_commits_are_refused_before_writing,
            pair_count_excludes_tombstones,
            pair_count_stays_right_across_upserts_removals_tombstones_and_resets,
            pair_count_matches_the_pairs_through_a_long_random_history,
            cursors_are_set_replaced_and_cleared_per_side_and_object,
            intents_are_recorded_listed_and_resolved,
            quarantine_upserts_keep_the_first_since_and_removes_release,
            approvals_survive_a_cycle_requarantining_and_go_with_release,
            refetch_queue_adds_once_and_removes,
            audit_is_appended_queried_exported_and_pruned,
            export_pages_through_a_long_log,
            status_is_stored_per_user,
            cycle_history_keeps_the_newest_per_user_and_users_lists_everyone,
            finishing_a_sync_keeps_its_cycles_and_sets_the_status,
            text_and_json_round_trip_exactly_and_sort_by_bytes,
            reset_user_clears_only_that_user_and_object,
            a_ten_thousand_pair_commit_is_one_transaction,
            the_store_is_usable_as_a_trait_object_from_many_tasks,
            two_workers_committing_to_the_same_user_and_object_keep_counts_right,
            a_worker_sees_what_another_committed,
            unresolved_items_are_upserted_keeping_the_earliest_time_forgotten_and_reset,
            a_claim_has_one_holder_until_released,
            a_dropped_claim_is_released_as_a_dead_worker_s_would_be,
            claims_race_to_exactly_one_holder,
            a_feed_page_delivers_to_registered_members_with_its_cursor,
            the_inbox_keeps_the_newest_change_per_record_and_prunes,
            a_restart_removes_members_and_their_rows,
            joins_and_pages_racing_never_skip_a_member,
            idle_members_are_evicted_with_their_rows,
            a_cycle_commit_drops_the_inbox_rows_it_read_and_marks_the_member_alive,
        );
    };
    (@each $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() -> conformance::TestResult {
                let Some(backend) = $make().await? else { return Ok(()) };
                let result = conformance::$name(&backend).await;
                backend.finish().await;
                result
            }
        )*
    };
}
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + secs, 123_456_789).single().expect("valid timestamp")
}

pub fn prints(seed: u64) -> FieldPrints {
    let mut p = FieldPrints::new();
    p.insert(FieldKey::GivenName, u64::MAX - seed);
    p.insert(FieldKey::FamilyName, i64::MAX as u64 + 1 + seed);
    p.insert(FieldKey::Phone(PhoneKind::Mobile), seed);
    p.insert(FieldKey::Custom("Region__c".into()), 0x8000_0000_0000_0000 | seed);
    p
}

pub fn pair_for(object: ObjectKind, n: usize) -> PairState {
    let crm = RecordId::new(format!("003{n:012}"));
    PairState {
        pair_id: IdempotencyKey::derive(object, Side::Crm, &crm),
        object,
        crm: SideState { id: crm, version: Version::new(format!("crm-v{n}")), fields: prints(n as u64) },
        mailbox: SideState {
            id: RecordId::new(format!("AAMk{n:012}")),
            version: Version::new(format!("etag-{n}")),
            fields: prints(n as u64 + 7),
        },
        synced_at: t(n as i64),
        tombstone: None,
    }
}

pub fn pair(n: usize) -> PairState {
    pair_for(CONTACT, n)
}

pub fn audit(user: &str, at: DateTime<Utc>, action: &str) -> AuditEntry {
    AuditEntry {
        at,
        user: user.into(),
        object: CONTACT,
        side: Some(Side::Mailbox),
        record_id: Some(RecordId::new("AAMk1")),
        action: action.into(),
        outcome: "applied".into(),
        reason: "changed in Salesforce".into(),
        detail: Some(json!({"fields": ["given_name"]})),
    }
}

pub fn intent(user: &str, key: &str, object: ObjectKind) -> Intent {
    Intent {
        user: user.into(),
        object,
        key: key.into(),
        target: Side::Mailbox,
        operation: JournalJson::to_json(&json!({"op": "create", "key": key})).unwrap(),
        created_at: t(0),
    }
}

pub fn quarantined(user: &str, object: ObjectKind, id: &str, since: DateTime<Utc>) -> QuarantineEntry {
    QuarantineEntry {
        user: user.into(),
        object,
        side: Side::Crm,
        record_id: RecordId::new(id),
        reason: "invalid email".into(),
        since,
        detail: None,
    }
}

pub async fn commit(store: &dyn StateStore, user: &str, object: ObjectKind, c: CycleCommit) -> Result<(), StoreError> {
    store.commit_cycle(user, object, c).await
}

pub fn upserts(pairs: Vec<PairState>) -> CycleCommit {
    CycleCommit { upsert_pairs: pairs, ..CycleCommit::default() }
}

/// The live pairs counted the slow way, to check `pair_count` (kept by triggers) against.
pub async fn live_pairs(store: &dyn StateStore, user: &str, object: ObjectKind) -> Result<usize, StoreError> {
    Ok(store.all_pairs(user, object).await?.iter().filter(|p| p.tombstone.is_none()).count())
}

/// `pair_count` for every user and object, checked against the pairs themselves.
pub async fn counts(store: &dyn StateStore) -> Result<[usize; 4], StoreError> {
    let mut out = [0; 4];
    for (slot, (user, object)) in [(ADA, CONTACT), (ADA, EVENT), (BOB, CONTACT), (BOB, EVENT)].into_iter().enumerate() {
        out[slot] = store.pair_count(user, object).await?;
        assert_eq!(out[slot], live_pairs(store, user, object).await?, "{user} {object}");
    }
    Ok(out)
}

pub fn tombstoned(mut p: PairState, side: Side) -> PairState {
    p.tombstone = Some(side);
    p
}

/// Fills every table for one user and object.
pub async fn fill(store: &dyn StateStore, user: &str, object: ObjectKind) -> TestResult {
    let c = CycleCommit {
        upsert_pairs: vec![pair_for(object, 1), {
            let mut p = pair_for(object, 2);
            p.tombstone = Some(Side::Crm);
            p
        }],
        cursors: vec![(Side::Crm, Some(Cursor(b"c".to_vec()))), (Side::Mailbox, Some(Cursor(b"m".to_vec())))],
        quarantine_add: vec![quarantined(user, object, "q", t(0))],
        refetch_add: vec![(Side::Mailbox, RecordId::new("r"))],
        audit: vec![AuditEntry { object, ..audit(user, t(0), "create") }],
        ..CycleCommit::default()
    };
    store.commit_cycle(user, object, c).await?;
    store.record_intents(&[intent(user, &format!("k-{object}"), object)]).await?;
    Ok(())
}

/// What the store holds for one user and object: pairs, cursors, quarantine, refetch, intents.
pub async fn held(store: &dyn StateStore, user: &str, object: ObjectKind) -> Result<[usize; 5], StoreError> {
    let cursors = [store.cursor(user, object, Side::Crm).await?, store.cursor(user, object, Side::Mailbox).await?];
    Ok([
        store.all_pairs(user, object).await?.len(),
        cursors.iter().flatten().count(),
        store.quarantine(user).await?.iter().filter(|q| q.object == object).count(),
        store.refetch_queue(user, object, Side::Mailbox).await?.len(),
        store.pending_intents(user).await?.iter().filter(|i| i.object == object).count(),
    ])
}

pub fn unresolved_entry(
    user: &str,
    object: ObjectKind,
    record: &str,
    subject: &str,
    field: Option<FieldKey>,
    since: DateTime<Utc>,
) -> tandem_store::UnresolvedEntry {
    tandem_store::UnresolvedEntry {
        user: user.into(),
        object,
        side: Side::Mailbox,
        record_id: RecordId::new(record),
        item: tandem_core::state::Unresolved {
            kind: tandem_core::state::UnresolvedKind::AccountNotFound,
            field,
            subject: subject.into(),
            detail: format!("no Account named {subject}"),
        },
        since,
        checked_at: Some(since),
    }
}

pub async fn pair_state_round_trips_with_tombstone_and_full_width_prints(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let live = pair(1);
    let mut dead = pair(2);
    dead.tombstone = Some(Side::Mailbox);
    dead.crm.fields.insert(FieldKey::Notes, u64::MAX);
    let mut empty = pair(3);
    empty.mailbox.fields.clear();
    empty.crm.version = Version::default();
    commit(&*store, ADA, CONTACT, upserts(vec![live.clone(), dead.clone(), empty.clone()])).await?;

    assert_eq!(store.pair(ADA, CONTACT, &live.pair_id).await?, Some(live.clone()));
    assert_eq!(store.pair(ADA, CONTACT, &dead.pair_id).await?, Some(dead.clone()));
    assert_eq!(store.pair(ADA, CONTACT, &empty.pair_id).await?, Some(empty.clone()));
    // Scoped by user and object.
    assert_eq!(store.pair(BOB, CONTACT, &live.pair_id).await?, None);
    assert_eq!(store.pair(ADA, EVENT, &live.pair_id).await?, None);

    let mut all = vec![live.clone(), dead.clone(), empty.clone()];
    all.sort_by(|a, b| a.pair_id.cmp(&b.pair_id));
    assert_eq!(store.all_pairs(ADA, CONTACT).await?, all);

    let by_mailbox = store.pairs_by_record(ADA, CONTACT, Side::Mailbox, &[dead.mailbox.id.clone()]).await?;
    assert_eq!(by_mailbox, vec![dead.clone()]);
    Ok(())
}

pub async fn upsert_replaces_by_pair_id_and_remove_forgets(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let mut p = pair(1);
    commit(&*store, ADA, CONTACT, upserts(vec![p.clone(), pair(2)])).await?;
    p.mailbox.version = Version::new("etag-new");
    p.mailbox.id = RecordId::new("AAMk-moved");
    p.crm.fields.insert(FieldKey::Title, 42);
    p.synced_at = t(1000);
    commit(&*store, ADA, CONTACT, upserts(vec![p.clone()])).await?;
    assert_eq!(store.pair(ADA, CONTACT, &p.pair_id).await?, Some(p.clone()));
    // The old mailbox id no longer finds it; the new one does.
    assert!(store.pairs_by_record(ADA, CONTACT, Side::Mailbox, &[RecordId::new("AAMk000000000001")]).await?.is_empty());
    assert_eq!(store.pairs_by_record(ADA, CONTACT, Side::Mailbox, &[p.mailbox.id.clone()]).await?, vec![p.clone()]);

    let c = CycleCommit { remove_pairs: vec![p.pair_id.clone()], ..CycleCommit::default() };
    commit(&*store, ADA, CONTACT, c).await?;
    assert_eq!(store.pair(ADA, CONTACT, &p.pair_id).await?, None);
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 1);
    Ok(())
}

/// A commit of more pairs than one statement carries, in which new pairs, pairs with new
/// versions and prints, and pairs whose record ids moved sit side by side (a store may take a
/// faster path for pairs whose ids are unchanged; the moved ones must not be lost in it).
pub async fn a_large_commit_mixing_new_edited_and_moved_pairs_stores_each_as_given(b: &dyn Backend) -> TestResult {
    let store = b.store();
    commit(&*store, ADA, CONTACT, upserts((0..300).map(pair).collect())).await?;
    let mut next: Vec<PairState> = (0..300).map(pair).collect();
    for (i, p) in next.iter_mut().enumerate() {
        p.synced_at = t(2_000);
        match i % 7 {
            // Edited: new versions and prints, same ids.
            0..=2 => {
                p.crm.version = Version::new(format!("v-{i}-2"));
                p.mailbox.fields.insert(FieldKey::Title, i as u64);
            }
            // Moved on one side or the other (re-created records keep their pair).
            3 => p.mailbox.id = RecordId::new(format!("AAMk-moved-{i}")),
            4 if i % 2 == 0 => p.crm.id = RecordId::new(format!("003-moved-{i}")),
            _ => {}
        }
    }
    next.extend((300..340).map(pair));
    commit(&*store, ADA, CONTACT, upserts(next.clone())).await?;
    let mut want = next.clone();
    want.sort_by(|a, b| a.pair_id.cmp(&b.pair_id));
    assert_eq!(store.all_pairs(ADA, CONTACT).await?, want);
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 340);
    // Each moved pair is found by its new id and no longer by its old one.
    for i in (0..300).filter(|i| i % 7 == 3) {
        let found = store.pairs_by_record(ADA, CONTACT, Side::Mailbox, &[next[i].mailbox.id.clone()]).await?;
        assert_eq!(found, vec![next[i].clone()]);
        let old = store.pairs_by_record(ADA, CONTACT, Side::Mailbox, &[pair(i).mailbox.id]).await?;
        assert!(old.is_empty(), "pair {i} still found by its old mailbox id");
    }
    Ok(())
}

pub async fn pairs_by_record_handles_more_ids_than_one_statement_takes(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let pairs: Vec<PairState> = (0..2_500).map(pair).collect();
    commit(&*store, ADA, CONTACT, upserts(pairs.clone())).await?;
    commit(&*store, BOB, CONTACT, upserts(pairs[..10].to_vec())).await?;

    // 1,600 known ids (every other pair from 0 to 3,199, of which 1,250 exist), unknown ids and
    // duplicates.
    let mut ids: Vec<RecordId> = (0..3_200).step_by(2).map(|n| pair(n).crm.id).collect();
    ids.push(RecordId::new("nope"));
    ids.push(pair(0).crm.id);
    assert!(ids.len() > 1_000);
    let mut found = store.pairs_by_record(ADA, CONTACT, Side::Crm, &ids).await?;
    found.sort_by(|a, b| a.crm.id.cmp(&b.crm.id));
    let expected: Vec<PairState> = pairs.iter().step_by(2).cloned().collect();
    assert_eq!(found.len(), 1_250);
    assert_eq!(found, expected);

    let mailbox_ids: Vec<RecordId> = pairs.iter().map(|p| p.mailbox.id.clone()).collect();
    assert_eq!(store.pairs_by_record(ADA, CONTACT, Side::Mailbox, &mailbox_ids).await?.len(), 2_500);
    assert_eq!(store.pairs_by_record(BOB, CONTACT, Side::Mailbox, &mailbox_ids).await?.len(), 10);
    assert!(store.pairs_by_record(ADA, EVENT, Side::Mailbox, &mailbox_ids).await?.is_empty());
    assert!(store.pairs_by_record(ADA, CONTACT, Side::Crm, &[]).await?.is_empty());
    Ok(())
}

pub async fn a_failing_commit_changes_nothing(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let a = pair(1);
    let before = CycleCommit {
        upsert_pairs: vec![a.clone()],
        cursors: vec![(Side::Crm, Some(Cursor(b"old".to_vec())))],
        refetch_add: vec![(Side::Crm, RecordId::new("r1"))],
        audit: vec![audit(ADA, t(1), "create")],
        ..CycleCommit::default()
    };
    commit(&*store, ADA, CONTACT, before).await?;
    store.record_intents(&[intent(ADA, "k1", CONTACT)]).await?;

    // Two new pairs claim the same CRM record; everything else in the commit is fine.
    let b = pair(2);
    let mut c = pair(3);
    c.crm.id = b.crm.id.clone();
    let failing = CycleCommit {
        remove_pairs: vec![a.pair_id.clone()],
        upsert_pairs: vec![b.clone(), c],
        cursors: vec![(Side::Crm, Some(Cursor(b"new".to_vec()))), (Side::Mailbox, Some(Cursor(b"m".to_vec())))],
        resolved_intents: vec!["k1".into()],
        quarantine_add: vec![quarantined(ADA, CONTACT, "q1", t(2))],
        refetch_remove: vec![(Side::Crm, RecordId::new("r1"))],
        refetch_add: vec![(Side::Mailbox, RecordId::new("r2"))],
        audit: vec![audit(ADA, t(2), "update")],
        ..CycleCommit::default()
    };
    let err = commit(&*store, ADA, CONTACT, failing).await.expect_err("duplicate crm id must fail");
    assert!(matches!(err, StoreError::Constraint(_)), "{err:?}");
    assert!(err.to_string().contains("crm_id"), "{err}");

    assert_eq!(store.all_pairs(ADA, CONTACT).await?, vec![a]);
    assert_eq!(store.cursor(ADA, CONTACT, Side::Crm).await?, Some(Cursor(b"old".to_vec())));
    assert_eq!(store.cursor(ADA, CONTACT, Side::Mailbox).await?, None);
    assert_eq!(store.pending_intents(ADA).await?.len(), 1);
    assert!(store.quarantine(ADA).await?.is_empty());
    assert_eq!(store.refetch_queue(ADA, CONTACT, Side::Crm).await?, vec![RecordId::new("r1")]);
    assert!(store.refetch_queue(ADA, CONTACT, Side::Mailbox).await?.is_empty());
    assert_eq!(store.audit_log(None, None, 100).await?.len(), 1);

    // The store is still usable after the rollback.
    commit(&*store, ADA, CONTACT, upserts(vec![b])).await?;
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 2);
    Ok(())
}

pub async fn a_conflict_deep_in_a_large_commit_names_the_pair_and_rolls_everything_back(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let mut pairs: Vec<PairState> = (0..300).map(pair).collect();
    pairs[250].mailbox.id = pairs[10].mailbox.id.clone();
    let culprit = pairs[250].pair_id.clone();
    let c = CycleCommit {
        upsert_pairs: pairs,
        audit: (0..300).map(|i| audit(ADA, t(i), "create")).collect(),
        ..CycleCommit::default()
    };
    let err = commit(&*store, ADA, CONTACT, c).await.expect_err("duplicate mailbox id must fail");
    let StoreError::Constraint(msg) = &err else { panic!("expected Constraint, got {err:?}") };
    assert!(msg.contains(culprit.as_str()) && msg.contains("mailbox_id"), "{msg}");
    assert!(store.all_pairs(ADA, CONTACT).await?.is_empty());
    assert!(store.audit_log(None, None, 10).await?.is_empty());
    Ok(())
}

pub async fn a_pair_cannot_claim_a_record_another_pair_holds(b: &dyn Backend) -> TestResult {
    let store = b.store();
    commit(&*store, ADA, CONTACT, upserts(vec![pair(1)])).await?;
    let mut thief = pair(2);
    thief.mailbox.id = pair(1).mailbox.id;
    let err = commit(&*store, ADA, CONTACT, upserts(vec![thief])).await.expect_err("must fail");
    assert!(matches!(err, StoreError::Constraint(_)), "{err:?}");
    // The same ids for another user or object are fine.
    commit(&*store, BOB, CONTACT, upserts(vec![pair(1)])).await?;
    commit(&*store, ADA, EVENT, upserts(vec![pair_for(EVENT, 1)])).await?;
    Ok(())
}

pub async fn inconsistent_commits_are_refused_before_writing(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let err =
        commit(&*store, ADA, CONTACT, upserts(vec![pair(1), pair_for(EVENT, 2)])).await.expect_err("wrong object");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let c = CycleCommit { audit: vec![audit(BOB, t(0), "create")], ..CycleCommit::default() };
    assert!(matches!(commit(&*store, ADA, CONTACT, c).await, Err(StoreError::Invalid(_))));
    let c = CycleCommit { quarantine_add: vec![quarantined(ADA, EVENT, "x", t(0))], ..CycleCommit::default() };
    assert!(matches!(commit(&*store, ADA, CONTACT, c).await, Err(StoreError::Invalid(_))));
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 0);
    // An empty commit is fine.
    commit(&*store, ADA, CONTACT, CycleCommit::default()).await?;
    Ok(())
}

pub async fn pair_count_excludes_tombstones(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let mut pairs: Vec<PairState> = (0..5).map(pair).collect();
    pairs[1].tombstone = Some(Side::Crm);
    pairs[3].tombstone = Some(Side::Mailbox);
    commit(&*store, ADA, CONTACT, upserts(pairs)).await?;
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 3);
    assert_eq!(store.all_pairs(ADA, CONTACT).await?.len(), 5);
    assert_eq!(store.pair_count(ADA, EVENT).await?, 0);
    Ok(())
}

pub async fn pair_count_stays_right_across_upserts_removals_tombstones_and_resets(b: &dyn Backend) -> TestResult {
    let store = b.store();
    assert_eq!(counts(&*store).await?, [0, 0, 0, 0]);

    // New pairs, live and tombstoned, for two users and both objects.
    let mut new = (0..5).map(pair).collect::<Vec<_>>();
    new.push(tombstoned(pair(5), Side::Crm));
    new.push(tombstoned(pair(6), Side::Mailbox));
    commit(&*store, ADA, CONTACT, upserts(new)).await?;
    commit(&*store, ADA, EVENT, upserts(vec![pair_for(EVENT, 1)])).await?;
    commit(&*store, BOB, CONTACT, upserts((0..3).map(pair).collect())).await?;
    assert_eq!(counts(&*store).await?, [5, 1, 3, 0]);

    // Updating a live pair (the common case) and a tombstoned one moves nothing.
    let mut moved = pair(0);
    moved.mailbox.version = Version::new("etag-2");
    let mut still_dead = tombstoned(pair(5), Side::Crm);
    still_dead.crm.version = Version::new("crm-2");
    commit(&*store, ADA, CONTACT, upserts(vec![moved, still_dead])).await?;
    assert_eq!(counts(&*store).await?, [5, 1, 3, 0]);

    // A tombstone takes a pair out; a revival (and a tombstone changing sides) puts it back.
    commit(&*store, ADA, CONTACT, upserts(vec![tombstoned(pair(1), Side::Crm)])).await?;
    assert_eq!(counts(&*store).await?, [4, 1, 3, 0]);
    commit(&*store, ADA, CONTACT, upserts(vec![tombstoned(pair(1), Side::Mailbox)])).await?;
    assert_eq!(counts(&*store).await?, [4, 1, 3, 0]);
    commit(&*store, ADA, CONTACT, upserts(vec![pair(1), pair(6)])).await?;
    assert_eq!(counts(&*store).await?, [6, 1, 3, 0]);

    // The same pair twice in one commit, tombstoned then live: it ends live and counts once.
    commit(&*store, ADA, CONTACT, upserts(vec![tombstoned(pair(7), Side::Crm), pair(7)])).await?;
    assert_eq!(counts(&*store).await?, [7, 1, 3, 0]);

    // Removals: a live pair, a tombstoned one, an unknown one; and a pair removed and put back
    // in one commit.
    commit(&*store, ADA, CONTACT, upserts(vec![tombstoned(pair(2), Side::Crm)])).await?;
    assert_eq!(counts(&*store).await?, [6, 1, 3, 0]);
    let c = CycleCommit {
        remove_pairs: vec![pair(3).pair_id, pair(2).pair_id, pair(99).pair_id, pair(4).pair_id],
        upsert_pairs: vec![pair(4)],
        ..CycleCommit::default()
    };
    commit(&*store, ADA, CONTACT, c).await?;
    assert_eq!(counts(&*store).await?, [5, 1, 3, 0]);

    // A commit that fails part-way leaves the count as it was.
    let mut clash = pair(8);
    clash.crm.id = pair(1).crm.id;
    let failing = CycleCommit {
        remove_pairs: vec![pair(0).pair_id],
        upsert_pairs: vec![pair(9), clash],
        ..CycleCommit::default()
    };
    assert!(commit(&*store, ADA, CONTACT, failing).await.is_err());
    assert_eq!(counts(&*store).await?, [5, 1, 3, 0]);

    // Resets: one object, then everything; other users keep their counts; counting restarts.
    store.reset_user(ADA, Some(CONTACT)).await?;
    assert_eq!(counts(&*store).await?, [0, 1, 3, 0]);
    commit(&*store, ADA, CONTACT, upserts(vec![pair(1)])).await?;
    store.reset_user(ADA, None).await?;
    assert_eq!(counts(&*store).await?, [0, 0, 3, 0]);
    commit(&*store, ADA, CONTACT, upserts((10..14).map(pair).collect())).await?;
    assert_eq!(counts(&*store).await?, [4, 0, 3, 0]);
    Ok(())
}

pub async fn pair_count_matches_the_pairs_through_a_long_random_history(b: &dyn Backend) -> TestResult {
    let store = b.store();
    // A small linear congruential generator: the same history on every run.
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = |below: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % below
    };
    for round in 0..300 {
        let user = if next(4) == 0 { BOB } else { ADA };
        let object = if next(3) == 0 { EVENT } else { CONTACT };
        let mut c = CycleCommit::default();
        for _ in 0..next(6) {
            let mut p = pair_for(object, next(40) as usize);
            p.tombstone = match next(4) {
                0 => Some(Side::Crm),
                1 => Some(Side::Mailbox),
                _ => None,
            };
            p.synced_at = t(round);
            c.upsert_pairs.push(p);
        }
        for _ in 0..next(3) {
            c.remove_pairs.push(pair_for(object, next(40) as usize).pair_id);
        }
        commit(&*store, user, object, c).await?;
        if next(60) == 0 {
            let only = (next(2) == 0).then_some(object);
            store.reset_user(user, only).await?;
        }
        counts(&*store).await?;
    }
    Ok(())
}

pub async fn cursors_are_set_replaced_and_cleared_per_side_and_object(b: &dyn Backend) -> TestResult {
    let store = b.store();
    assert_eq!(store.cursor(ADA, CONTACT, Side::Crm).await?, None);
    let set = CycleCommit {
        cursors: vec![
            (Side::Crm, Some(Cursor(b"2026-11-05T09:00:00Z".to_vec()))),
            (Side::Mailbox, Some(Cursor(vec![0, 255, 7]))),
        ],
        ..CycleCommit::default()
    };
    commit(&*store, ADA, CONTACT, set).await?;
    let replace = CycleCommit { cursors: vec![(Side::Crm, Some(Cursor(b"later".to_vec())))], ..CycleCommit::default() };
    commit(&*store, ADA, CONTACT, replace).await?;
    assert_eq!(store.cursor(ADA, CONTACT, Side::Crm).await?, Some(Cursor(b"later".to_vec())));
    assert_eq!(store.cursor(ADA, CONTACT, Side::Mailbox).await?, Some(Cursor(vec![0, 255, 7])));
    assert_eq!(store.cursor(ADA, EVENT, Side::Crm).await?, None);
    assert_eq!(store.cursor(BOB, CONTACT, Side::Crm).await?, None);

    let clear = CycleCommit { cursors: vec![(Side::Mailbox, None)], ..CycleCommit::default() };
    commit(&*store, ADA, CONTACT, clear).await?;
    assert_eq!(store.cursor(ADA, CONTACT, Side::Mailbox).await?, None);
    assert_eq!(store.cursor(ADA, CONTACT, Side::Crm).await?, Some(Cursor(b"later".to_vec())));
    Ok(())
}

pub async fn intents_are_recorded_listed_and_resolved(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let mut first = intent(ADA, "tdm-a", CONTACT);
    let mut second = intent(ADA, "tdm-b", EVENT);
    second.created_at = t(5);
    let third = intent(ADA, "tdm-c", CONTACT);
    store.record_intents(&[second.clone(), first.clone(), third.clone()]).await?;
    store.record_intents(&[intent(BOB, "tdm-a", CONTACT)]).await?;
    store.record_intents(&[]).await?;
    // Oldest first, then in recording order.
    assert_eq!(store.pending_intents(ADA).await?, vec![first.clone(), third.clone(), second.clone()]);

    // Re-recording a key replaces it.
    first.operation = JournalJson::to_json(&json!({"op": "update"})).unwrap();
    store.record_intents(&[first.clone()]).await?;
    assert_eq!(store.pending_intents(ADA).await?, vec![first.clone(), third.clone(), second.clone()]);

    store.resolve_intents(ADA, &["tdm-a".into(), "unknown".into()]).await?;
    assert_eq!(store.pending_intents(ADA).await?, vec![third, second]);
    let c = CycleCommit { resolved_intents: vec!["tdm-b".into()], ..CycleCommit::default() };
    commit(&*store, ADA, CONTACT, c).await?;
    assert_eq!(store.pending_intents(ADA).await?.len(), 1);
    // Bob's intent with the same key is untouched.
    assert_eq!(store.pending_intents(BOB).await?, vec![intent(BOB, "tdm-a", CONTACT)]);
    Ok(())
}

pub async fn quarantine_upserts_keep_the_first_since_and_removes_release(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let mut q1 = quarantined(ADA, CONTACT, "003a", t(10));
    let q2 = QuarantineEntry {
        side: Side::Mailbox,
        detail: Some(json!({"field": "emails"})),
        ..quarantined(ADA, CONTACT, "AAMk", t(11))
    };
    let c = CycleCommit { quarantine_add: vec![q1.clone(), q2.clone()], ..CycleCommit::default() };
    commit(&*store, ADA, CONTACT, c).await?;
    let qe = quarantined(ADA, EVENT, "00Ux", t(12));
    commit(&*store, ADA, EVENT, CycleCommit { quarantine_add: vec![qe.clone()], ..CycleCommit::default() }).await?;
    assert_eq!(store.quarantine(ADA).await?, vec![q1.clone(), q2.clone(), qe.clone()]);
    assert!(store.quarantine(BOB).await?.is_empty());

    // Still invalid next cycle, for another reason: the reason changes, `since` stays.
    let mut again = q1.clone();
    again.reason = "name too long".into();
    again.since = t(99);
    commit(&*store, ADA, CONTACT, CycleCommit { quarantine_add: vec![again], ..CycleCommit::default() }).await?;
    q1.reason = "name too long".into();
    assert_eq!(store.quarantine(ADA).await?[0], q1);

    let c = CycleCommit { quarantine_remove: vec![(Side::Crm, RecordId::new("003a"))], ..CycleCommit::default() };
    commit(&*store, ADA, CONTACT, c).await?;
    assert_eq!(store.quarantine(ADA).await?, vec![q2, qe]);
    Ok(())
}

pub async fn refetch_queue_adds_once_and_removes(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let r = |s: &str| RecordId::new(s);
    let c = CycleCommit {
        refetch_add: vec![(Side::Crm, r("b")), (Side::Crm, r("a")), (Side::Mailbox, r("m")), (Side::Crm, r("b"))],
        ..CycleCommit::default()
    };
    commit(&*store, ADA, CONTACT, c).await?;
    assert_eq!(store.refetch_queue(ADA, CONTACT, Side::Crm).await?, vec![r("b"), r("a")]);
    assert_eq!(store.refetch_queue(ADA, CONTACT, Side::Mailbox).await?, vec![r("m")]);
    assert!(store.refetch_queue(ADA, EVENT, Side::Crm).await?.is_empty());

    // Removed and re-added in the same commit: it stays queued.
    let c = CycleCommit {
        refetch_remove: vec![(Side::Crm, r("b")), (Side::Crm, r("a"))],
        refetch_add: vec![(Side::Crm, r("a"))],
        ..CycleCommit::default()
    };
    commit(&*store, ADA, CONTACT, c).await?;
    assert_eq!(store.refetch_queue(ADA, CONTACT, Side::Crm).await?, vec![r("a")]);
    Ok(())
}

pub async fn audit_is_appended_queried_exported_and_pruned(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let mut bare = audit(BOB, t(3), "policy_denied");
    bare.side = None;
    bare.record_id = None;
    bare.detail = None;
    bare.outcome = "denied".into();
    let entries =
        vec![audit(ADA, t(1), "create"), audit(ADA, t(2), "update"), bare.clone(), audit(ADA, t(4), "delete")];
    store.append_audit(&entries).await?;
    commit(&*store, ADA, CONTACT, CycleCommit { audit: vec![audit(ADA, t(5), "link")], ..CycleCommit::default() })
        .await?;
    store.append_audit(&[]).await?;

    // Newest first.
    let all = store.audit_log(None, None, 100).await?;
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["link", "delete", "policy_denied", "update", "create"]);
    assert_eq!(all[2], bare);
    let ada: Vec<String> = store.audit_log(Some(ADA), None, 2).await?.into_iter().map(|e| e.action).collect();
    assert_eq!(ada, ["link", "delete"]);
    let since: Vec<String> = store.audit_log(None, Some(t(3)), 100).await?.into_iter().map(|e| e.action).collect();
    assert_eq!(since, ["link", "delete", "policy_denied"]);
    assert_eq!(store.audit_log(Some(ADA), Some(t(2)), 100).await?.len(), 3);
    assert_eq!(store.audit_log(Some(BOB), None, usize::MAX).await?, vec![bare.clone()]);
    assert!(store.audit_log(None, None, 0).await?.is_empty());

    // Export: JSON lines in the order appended, which read back as the entries.
    let mut out = Vec::new();
    assert_eq!(store.export_audit_jsonl(None, &mut out).await?, 5);
    let text = String::from_utf8(out)?;
    let lines: Vec<AuditEntry> = text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(lines[..4], entries[..]);
    assert_eq!(lines[4].action, "link");
    let mut out = Vec::new();
    assert_eq!(store.export_audit_jsonl(Some(BOB), &mut out).await?, 1);
    assert_eq!(serde_json::from_slice::<AuditEntry>(out.trim_ascii_end())?, bare);

    // Retention: strictly older than the cut-off goes.
    assert_eq!(store.prune_audit(t(3)).await?, 2);
    assert_eq!(store.audit_log(None, None, 100).await?.len(), 3);
    assert_eq!(store.prune_audit(t(3)).await?, 0);
    Ok(())
}

pub async fn export_pages_through_a_long_log(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let entries: Vec<AuditEntry> =
        (0..2_345).map(|i| audit(if i % 5 == 0 { BOB } else { ADA }, t(i), "update")).collect();
    store.append_audit(&entries).await?;
    let mut out = Vec::new();
    assert_eq!(store.export_audit_jsonl(None, &mut out).await?, 2_345);
    assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 2_345);
    let mut out = Vec::new();
    assert_eq!(store.export_audit_jsonl(Some(BOB), &mut out).await?, 469);
    Ok(())
}

pub async fn status_is_stored_per_user(b: &dyn Backend) -> TestResult {
    let store = b.store();
    assert_eq!(store.status(ADA).await?, None);
    let mut ada = UserStatus {
        user: ADA.into(),
        last_cycle_at: Some(t(10)),
        last_success_at: None,
        last_error: Some("Graph returned 503".into()),
        consecutive_failures: u32::MAX,
        ambiguous_matches: 0,
    };
    let bob = UserStatus {
        user: BOB.into(),
        last_cycle_at: None,
        last_success_at: None,
        last_error: None,
        consecutive_failures: 0,
        ambiguous_matches: 0,
    };
    store.set_status(&bob).await?;
    store.set_status(&ada).await?;
    assert_eq!(store.status(ADA).await?, Some(ada.clone()));
    ada.last_success_at = Some(t(20));
    ada.last_error = None;
    ada.consecutive_failures = 0;
    store.set_status(&ada).await?;
    assert_eq!(store.status(ADA).await?, Some(ada.clone()));
    assert_eq!(store.statuses().await?, vec![ada, bob]);
    Ok(())
}

pub async fn reset_user_clears_only_that_user_and_object(b: &dyn Backend) -> TestResult {
    let store = b.store();
    for user in [ADA, BOB] {
        for object in ObjectKind::ALL {
            fill(&*store, user, object).await?;
        }
    }
    let full = [2, 2, 1, 1, 1];
    let status = UserStatus {
        user: ADA.into(),
        last_cycle_at: Some(t(1)),
        last_success_at: Some(t(1)),
        last_error: None,
        consecutive_failures: 0,
        ambiguous_matches: 0,
    };
    store.set_status(&status).await?;

    store.reset_user(ADA, Some(CONTACT)).await?;
    assert_eq!(held(&*store, ADA, CONTACT).await?, [0; 5]);
    assert_eq!(held(&*store, ADA, EVENT).await?, full);
    assert_eq!(held(&*store, BOB, CONTACT).await?, full);
    assert_eq!(held(&*store, BOB, EVENT).await?, full);
    // Audit and status are kept.
    assert_eq!(store.audit_log(Some(ADA), None, 100).await?.len(), 2);
    assert_eq!(store.status(ADA).await?, Some(status));

    store.reset_user(ADA, None).await?;
    assert_eq!(held(&*store, ADA, EVENT).await?, [0; 5]);
    assert_eq!(held(&*store, BOB, CONTACT).await?, full);
    assert_eq!(held(&*store, BOB, EVENT).await?, full);
    assert_eq!(store.audit_log(Some(ADA), None, 100).await?.len(), 2);

    // A reset user syncs again from scratch.
    fill(&*store, ADA, CONTACT).await?;
    assert_eq!(held(&*store, ADA, CONTACT).await?, full);
    Ok(())
}

pub async fn a_ten_thousand_pair_commit_is_one_transaction(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let pairs: Vec<PairState> = (0..10_000).map(pair).collect();
    let audit: Vec<AuditEntry> = (0..10_000).map(|i| audit(ADA, t(i), "create")).collect();
    store
        .commit_cycle(ADA, CONTACT, CycleCommit { upsert_pairs: pairs.clone(), audit, ..CycleCommit::default() })
        .await?;
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 10_000);
    let ids: Vec<RecordId> = pairs.iter().map(|p| p.mailbox.id.clone()).collect();
    assert_eq!(store.pairs_by_record(ADA, CONTACT, Side::Mailbox, &ids).await?.len(), 10_000);
    Ok(())
}

pub async fn unresolved_items_are_upserted_keeping_the_earliest_time_forgotten_and_reset(
    b: &dyn Backend,
) -> TestResult {
    let store = b.store();
    let globex = unresolved_entry(ADA, CONTACT, "AAMk2", "Globex", Some(FieldKey::Company), t(10));
    let initech = unresolved_entry(ADA, CONTACT, "AAMk1", "Initech", None, t(20));
    let event =
        unresolved_entry(ADA, EVENT, "AAMk9", "zed@example.com", Some(FieldKey::attendee("zed@example.com")), t(5));
    let bobs = unresolved_entry(BOB, CONTACT, "AAMk1", "Initech", None, t(1));
    let add =
        |items: Vec<tandem_store::UnresolvedEntry>| CycleCommit { unresolved_add: items, ..CycleCommit::default() };
    commit(&*store, ADA, CONTACT, add(vec![globex.clone(), initech.clone()])).await?;
    commit(&*store, ADA, EVENT, add(vec![event.clone()])).await?;
    commit(&*store, BOB, CONTACT, add(vec![bobs.clone()])).await?;
    // Ordered by object, side, record.
    assert_eq!(store.unresolved(ADA).await?, [initech.clone(), globex.clone(), event.clone()]);
    assert_eq!(store.unresolved(BOB).await?, std::slice::from_ref(&bobs));

    // Reported again later: `since` keeps the earliest, the rest is the newest.
    let mut again = globex.clone();
    again.since = t(100);
    again.checked_at = Some(t(100));
    again.item.detail = "still no Account".into();
    commit(&*store, ADA, CONTACT, add(vec![again])).await?;
    let listed = store.unresolved(ADA).await?;
    let stored = listed.iter().find(|e| e.item.subject == "Globex").unwrap();
    assert_eq!((stored.since, stored.checked_at), (t(10), Some(t(100))));
    assert_eq!(stored.item.detail, "still no Account");
    assert_eq!(listed.len(), 3);

    // Removal by key; an id in both lists ends up present.
    let c = CycleCommit {
        unresolved_remove: vec![initech.key(), globex.key()],
        unresolved_add: vec![globex.clone()],
        ..CycleCommit::default()
    };
    commit(&*store, ADA, CONTACT, c).await?;
    let subjects: Vec<String> = store.unresolved(ADA).await?.into_iter().map(|e| e.item.subject).collect();
    assert_eq!(subjects, ["Globex", "zed@example.com"]);

    // Resetting one object keeps the other's; resetting the user clears all of them.
    store.reset_user(ADA, Some(CONTACT)).await?;
    assert_eq!(store.unresolved(ADA).await?, [event]);
    store.reset_user(ADA, None).await?;
    assert!(store.unresolved(ADA).await?.is_empty());
    assert_eq!(store.unresolved(BOB).await?, [bobs]);
    Ok(())
}

pub async fn the_store_is_usable_as_a_trait_object_from_many_tasks(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let user = format!("user{n}@example.com");
            for i in 0..20 {
                store.commit_cycle(&user, CONTACT, upserts(vec![pair(i)])).await?;
                store.pair_count(&user, CONTACT).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    assert_eq!(store.pair_count("user7@example.com", CONTACT).await?, 20);
    Ok(())
}

/// Two stores (two connection pools, as two worker processes have) commit to the same user and
/// object at once: pairs of their own, and the same shared pairs tombstoned, revived and
/// removed over and over. The live count stays exactly the number of live pairs.
pub async fn two_workers_committing_to_the_same_user_and_object_keep_counts_right(b: &dyn Backend) -> TestResult {
    let workers = [b.store(), b.another().await?];
    let mut tasks = Vec::new();
    for task in 0..6_usize {
        let store = workers[task % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ task as u64;
            let mut next = move |below: u64| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 33) % below
            };
            for round in 0..25 {
                let mut c = CycleCommit::default();
                // Its own pairs: always live at the end.
                c.upsert_pairs.push(pair(1_000 + task * 100 + round));
                // Shared pairs, in a random order, some tombstoned.
                for _ in 0..next(5) {
                    let mut p = pair(next(12) as usize);
                    p.tombstone = (next(3) == 0).then_some(Side::Crm);
                    c.upsert_pairs.push(p);
                }
                if next(3) == 0 {
                    c.remove_pairs.push(pair(next(12) as usize).pair_id);
                }
                c.audit.push(audit(ADA, t(round as i64), "update"));
                store.commit_cycle(ADA, CONTACT, c).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    for store in &workers {
        let all = store.all_pairs(ADA, CONTACT).await?;
        let live = all.iter().filter(|p| p.tombstone.is_none()).count();
        assert_eq!(store.pair_count(ADA, CONTACT).await?, live);
        let own = all.iter().filter(|p| p.crm.id >= pair(1_000).crm.id).count();
        assert_eq!(own, 6 * 25);
        assert_eq!(store.audit_log(Some(ADA), None, 1_000).await?.len(), 6 * 25);
    }
    Ok(())
}

/// What one worker commits, another reads: nothing is cached per store.
pub async fn a_worker_sees_what_another_committed(b: &dyn Backend) -> TestResult {
    let (one, two) = (b.store(), b.another().await?);
    one.commit_cycle(BOB, EVENT, upserts(vec![pair_for(EVENT, 9)])).await?;
    assert_eq!(two.pair_count(BOB, EVENT).await?, 1);
    assert_eq!(two.pair(BOB, EVENT, &pair_for(EVENT, 9).pair_id).await?, Some(pair_for(EVENT, 9)));
    two.record_intents(&[intent(BOB, "k", EVENT)]).await?;
    assert_eq!(one.pending_intents(BOB).await?, vec![intent(BOB, "k", EVENT)]);
    two.reset_user(BOB, None).await?;
    assert_eq!(one.pair_count(BOB, EVENT).await?, 0);
    assert!(one.pending_intents(BOB).await?.is_empty());
    Ok(())
}

/// A commit that breaks a constraint after thousands of rows were written in its transaction
/// (removals, then pairs beyond the first batch of any store) leaves everything as it was.
pub async fn a_commit_failing_after_thousands_of_writes_leaves_nothing(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let before: Vec<PairState> = (0..50).map(pair).collect();
    let first = CycleCommit {
        upsert_pairs: before.clone(),
        cursors: vec![(Side::Crm, Some(Cursor(b"old".to_vec())))],
        quarantine_add: vec![quarantined(ADA, CONTACT, "q0", t(0))],
        ..CycleCommit::default()
    };
    commit(&*store, ADA, CONTACT, first).await?;
    let mut pairs: Vec<PairState> = (100..2_600).map(pair).collect();
    pairs[2_400].crm.id = pair(7).crm.id; // still held by pair 7, which is not removed
    let failing = CycleCommit {
        remove_pairs: (0..5).map(|n| pair(n).pair_id).collect(),
        upsert_pairs: pairs,
        cursors: vec![(Side::Crm, Some(Cursor(b"new".to_vec())))],
        quarantine_remove: vec![(Side::Crm, RecordId::new("q0"))],
        quarantine_add: vec![quarantined(ADA, CONTACT, "q1", t(1))],
        audit: (0..2_000).map(|i| audit(ADA, t(i), "create")).collect(),
        ..CycleCommit::default()
    };
    let err = commit(&*store, ADA, CONTACT, failing).await.expect_err("duplicate crm id must fail");
    assert!(matches!(err, StoreError::Constraint(_)), "{err:?}");
    assert!(err.to_string().contains(pair(2_500).pair_id.as_str()), "{err}");
    assert_eq!(store.all_pairs(ADA, CONTACT).await?.len(), 50);
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 50);
    assert_eq!(store.cursor(ADA, CONTACT, Side::Crm).await?, Some(Cursor(b"old".to_vec())));
    assert_eq!(store.quarantine(ADA).await?, vec![quarantined(ADA, CONTACT, "q0", t(0))]);
    assert!(store.audit_log(None, None, 10).await?.is_empty());
    Ok(())
}

/// An administrator's approval of a held delete lives apart from the entry's detail: a cycle
/// re-quarantining the entry keeps it; releasing the entry drops it.
pub async fn approvals_survive_a_cycle_requarantining_and_go_with_release(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let entry =
        QuarantineEntry { detail: Some(json!({ "kind": "held_delete" })), ..quarantined(ADA, CONTACT, "003A", t(0)) };
    commit(&*store, ADA, CONTACT, CycleCommit { quarantine_add: vec![entry.clone()], ..CycleCommit::default() })
        .await?;
    let held = [(Side::Crm, RecordId::new("003A"))];
    let missing = [(Side::Mailbox, RecordId::new("003A"))];
    assert_eq!(store.approve_quarantined(ADA, CONTACT, &missing, "cli:root", t(5)).await?, 0);
    assert_eq!(store.approve_quarantined(ADA, EVENT, &held, "cli:root", t(5)).await?, 0);
    assert_eq!(store.approve_quarantined(ADA, CONTACT, &held, "cli:root", t(5)).await?, 1);
    assert_eq!(store.approve_quarantined(ADA, CONTACT, &held, "cli:other", t(6)).await?, 0);
    assert_eq!(store.approve_quarantined(ADA, CONTACT, &[], "cli:root", t(6)).await?, 0);
    let approved = json!({
        "kind": "held_delete",
        "approved": true,
        "approved_by": "cli:root",
        "approved_at": "2026-09-21T14:13:25.123456789Z",
    });
    assert_eq!(store.quarantine(ADA).await?[0].detail, Some(approved.clone()));

    // A cycle quarantines it again with a fresh detail: the approval stays.
    commit(&*store, ADA, CONTACT, CycleCommit { quarantine_add: vec![entry.clone()], ..CycleCommit::default() })
        .await?;
    assert_eq!(store.quarantine(ADA).await?[0].detail, Some(approved));
    // A detail that is not an object is kept beside the approval.
    let odd = QuarantineEntry { detail: Some(json!(["x"])), ..entry.clone() };
    commit(&*store, ADA, CONTACT, CycleCommit { quarantine_add: vec![odd], ..CycleCommit::default() }).await?;
    let detail = store.quarantine(ADA).await?[0].detail.clone().unwrap();
    assert_eq!((detail["detail"].clone(), detail["approved"].clone()), (json!(["x"]), json!(true)));

    // Released and quarantined again: no approval.
    let release = CycleCommit { quarantine_remove: held.to_vec(), ..CycleCommit::default() };
    commit(&*store, ADA, CONTACT, release).await?;
    commit(&*store, ADA, CONTACT, CycleCommit { quarantine_add: vec![entry.clone()], ..CycleCommit::default() })
        .await?;
    assert_eq!(store.quarantine(ADA).await?, vec![entry]);
    Ok(())
}

/// Cycle history: newest first, at most 200 operations each (the rest counted), the newest 50
/// per user kept, other users untouched; `users` lists everyone the store knows, in order.
/// `finish_sync` is `record_cycles` and `set_status` together: both, whatever the store does in
/// one transaction; with no cycles, only the status.
pub async fn finishing_a_sync_keeps_its_cycles_and_sets_the_status(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let status = |at: i64, error: Option<&str>| UserStatus {
        user: ADA.into(),
        last_cycle_at: Some(t(at)),
        last_success_at: error.is_none().then(|| t(at)),
        last_error: error.map(str::to_owned),
        consecutive_failures: u32::from(error.is_some()),
        ambiguous_matches: 0,
    };
    let contacts = CycleRecord::new(ADA, CONTACT, t(0), t(1), false, "ok", CycleCounts::new(1, 2, 0, 0, 0));
    let events = CycleRecord::new(ADA, EVENT, t(0), t(2), false, "failed: Graph returned 503", CycleCounts::default());
    store.finish_sync(&[contacts.clone(), events.clone()], &status(2, Some("Graph returned 503"))).await?;
    assert_eq!(store.cycles(ADA, 10).await?, vec![events.clone(), contacts.clone()], "newest first");
    assert_eq!(store.status(ADA).await?, Some(status(2, Some("Graph returned 503"))));

    store.finish_sync(&[], &status(5, None)).await?;
    assert_eq!(store.cycles(ADA, 10).await?.len(), 2, "no cycles, no history");
    assert_eq!(store.status(ADA).await?, Some(status(5, None)));
    assert!(store.cycles(BOB, 10).await?.is_empty());
    Ok(())
}

pub async fn cycle_history_keeps_the_newest_per_user_and_users_lists_everyone(b: &dyn Backend) -> TestResult {
    let store = b.store();
    assert!(store.users().await?.is_empty());
    assert!(store.cycles(ADA, 10).await?.is_empty());
    let op = CycleOperation::new("create", Some(Side::Mailbox), None, "new in crm", "applied");
    let many: Vec<CycleOperation> = vec![op; tandem_store::MAX_CYCLE_OPERATIONS + 7];
    let bob = CycleRecord::new(BOB, EVENT, t(0), t(1), true, "ok", CycleCounts::default().with_held(2, 3));
    store.record_cycle(&bob).await?;
    let records: Vec<CycleRecord> = (0..60)
        .map(|n| {
            let counts = CycleCounts::new(n as usize, 1, 2, 3, 4);
            let outcome = if n % 2 == 0 { "ok" } else { "failed: Graph returned 503" };
            CycleRecord::new(ADA, CONTACT, t(n), t(n + 1), false, outcome, counts).with_operations(many.clone())
        })
        .collect();
    // One at a time, and a sync's two cycles together (kept in the order given).
    for record in &records[..10] {
        store.record_cycle(record).await?;
    }
    for two in records[10..].chunks(2) {
        store.record_cycles(two).await?;
    }
    let kept = store.cycles(ADA, 1_000).await?;
    assert_eq!(kept.len(), tandem_store::CYCLES_KEPT_PER_USER);
    assert_eq!(kept[0].counts, CycleCounts::new(59, 1, 2, 3, 4));
    assert_eq!(kept[0].outcome, "failed: Graph returned 503");
    assert_eq!(kept[0].started_at, t(59));
    assert_eq!(kept[49].counts.creates, 10);
    assert_eq!(kept[0].operations.len(), tandem_store::MAX_CYCLE_OPERATIONS);
    assert_eq!(kept[0].operations_omitted, 7);
    assert_eq!(store.cycles(ADA, 3).await?.len(), 3);
    assert_eq!(store.cycles(BOB, 10).await?, vec![bob]);

    // Users: from status, pairs, quarantine, unresolved items or history.
    let carol = "carol@example.com";
    let dave = "dave@example.com";
    store.set_status(&UserStatus::empty(carol)).await?;
    commit(
        &*store,
        dave,
        EVENT,
        CycleCommit { quarantine_add: vec![quarantined(dave, EVENT, "x", t(0))], ..CycleCommit::default() },
    )
    .await?;
    commit(&*store, "erin@example.com", CONTACT, upserts(vec![pair(1)])).await?;
    // Byte order, whatever the database's locale: upper case before lower case.
    store.set_status(&UserStatus::empty("Zoe@example.com")).await?;
    let users = store.users().await?;
    assert_eq!(users, ["Zoe@example.com", ADA, BOB, carol, dave, "erin@example.com"]);
    let statuses: Vec<String> = store.statuses().await?.into_iter().map(|s| s.user).collect();
    assert_eq!(statuses, ["Zoe@example.com", carol]);
    Ok(())
}

/// Whatever text Tandem stores comes back as written (any Unicode; a NUL inside JSON values), and
/// text keys sort by bytes, as SQLite compares, whatever the database's locale.
pub async fn text_and_json_round_trip_exactly_and_sort_by_bytes(b: &dyn Backend) -> TestResult {
    let store = b.store();
    let odd = "Zoë \u{1F600} \u{0} \"quoted\" \\ 日本";
    let mut op = intent(ADA, "k\u{e9}", CONTACT);
    op.operation = JournalJson::to_json(&json!({
        "note": odd,
        "big": u64::MAX,
        "neg": i64::MIN,
        "float": 0.1,
        "nested": {"b": [1, 2, {"c": null}], "a": true},
    }))?;
    store.record_intents(std::slice::from_ref(&op)).await?;
    assert_eq!(store.pending_intents(ADA).await?, vec![op]);

    let mut entry = audit(ADA, t(1), "update");
    entry.detail = Some(json!({"before": odd, "after": ""}));
    entry.reason = "changed: Zoë → Zoe 日本".into();
    store.append_audit(std::slice::from_ref(&entry)).await?;
    assert_eq!(store.audit_log(Some(ADA), None, 10).await?, vec![entry]);

    // Quarantined records: ordered by side, then record id in byte order.
    let ids = ["b", "B", "a", "_", "é", "A-1", "a-1"];
    let add: Vec<QuarantineEntry> = ids
        .iter()
        .map(|id| QuarantineEntry { detail: Some(json!({ "why": odd })), ..quarantined(ADA, CONTACT, id, t(0)) })
        .collect();
    commit(&*store, ADA, CONTACT, CycleCommit { quarantine_add: add.clone(), ..CycleCommit::default() }).await?;
    let listed: Vec<String> =
        store.quarantine(ADA).await?.into_iter().map(|q| q.record_id.as_str().to_owned()).collect();
    let mut sorted: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    sorted.sort();
    assert_eq!(listed, sorted);
    assert_eq!(store.quarantine(ADA).await?[0].detail, add[0].detail);
    Ok(())
}

// ---- claims: one holder per user at a time ----

/// Claiming gives the claim; a second claim of the same user is refused while it is held
/// (without waiting); other users are claimed independently; releasing frees it.
pub async fn a_claim_has_one_holder_until_released(b: &dyn Backend) -> TestResult {
    let claims = b.claims();
    let ada = claims.try_claim(ADA).await?.expect("a free user is claimed");
    assert_eq!(ada.user(), ADA);
    assert!(ada.is_held().await, "held until released");
    assert!(claims.try_claim(ADA).await?.is_none(), "a held claim is refused");
    let bob = claims.try_claim(BOB).await?.expect("another user is free");
    assert!(claims.try_claim(ADA).await?.is_none(), "still held");
    ada.release().await?;
    let again = claims.try_claim(ADA).await?.expect("released, so free again");
    assert!(claims.try_claim(BOB).await?.is_none());
    again.release().await?;
    bob.release().await?;
    // Released twice over: both free.
    claims.try_claim(ADA).await?.expect("free").release().await?;
    claims.try_claim(BOB).await?.expect("free").release().await?;
    Ok(())
}

/// A claim dropped without being released (a task aborted mid-cycle; a worker that dies drops
/// everything) is released: the user can be claimed again within seconds.
pub async fn a_dropped_claim_is_released_as_a_dead_worker_s_would_be(b: &dyn Backend) -> TestResult {
    let claims = b.claims();
    let held = claims.try_claim(ADA).await?.expect("free");
    assert!(claims.try_claim(ADA).await?.is_none());
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(claim) = claims.try_claim(ADA).await? {
            claim.release().await?;
            return Ok(());
        }
        assert!(std::time::Instant::now() < deadline, "a dropped claim was still held after 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Many tasks claiming one user at once: exactly one gets it.
pub async fn claims_race_to_exactly_one_holder(b: &dyn Backend) -> TestResult {
    let claims = b.claims();
    let mut tasks = tokio::task::JoinSet::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    for _ in 0..8 {
        let claims = Arc::clone(&claims);
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            barrier.wait().await;
            claims.try_claim(ADA).await
        });
    }
    let mut held = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Some(claim) = joined?? {
            held.push(claim);
        }
    }
    assert_eq!(held.len(), 1, "exactly one of the racing claims holds the user");
    for claim in held {
        claim.release().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Organization feeds (the `feed` module): a page's deliveries commit with its cursor, reach only
// registered members, keep the newest change per record, and a join is ordered against pages.

fn upserted(id: &str, version: &str, family: &str) -> tandem_core::state::Change {
    use tandem_core::model::{Contact, Record};
    use tandem_core::state::{Change, ChangeKind};
    Change {
        id: RecordId::new(id),
        version: Version::new(version),
        modified_at: None,
        sync_key: None,
        kind: ChangeKind::Upserted {
            record: Record::Contact(Contact { family_name: Some(family.into()), ..Contact::default() }),
        },
    }
}

fn to(members: &[&str]) -> tandem_store::feed::Recipients {
    tandem_store::feed::Recipients::Members(members.iter().map(|m| (*m).to_owned()).collect())
}

fn inbox_ids(items: &[tandem_store::feed::InboxItem]) -> Vec<(u64, String, String)> {
    items.iter().map(|i| (i.seq, i.change.id.0.to_string(), i.change.version.as_str().to_owned())).collect()
}

pub async fn a_feed_page_delivers_to_registered_members_with_its_cursor(b: &dyn Backend) -> TestResult {
    use tandem_store::feed::{Delivery, FeedPage, Recipients};
    let store = b.store();
    let feeds = store.feeds().expect("both stores keep feeds");
    assert_eq!(feeds.feed_state("org", CONTACT).await?.head, 0);
    assert!(feeds.feed_inbox("org", CONTACT, "005A", 0).await?.is_none(), "not a member yet");
    assert_eq!(feeds.join_feed("org", CONTACT, "005A").await?, 0);
    assert_eq!(feeds.join_feed("org", CONTACT, "005B").await?, 0);
    let page = FeedPage::new(
        Cursor(b"c1".to_vec()),
        false,
        vec![
            Delivery::new(to(&["005A", "005Z"]), upserted("003x", "v1", "Lovelace")),
            Delivery::new(to(&["005B"]), upserted("003y", "v1", "Hopper")),
            Delivery::new(Recipients::Everyone, tandem_core::state::Change::deleted("003w")),
        ],
    );
    assert_eq!(feeds.commit_feed_page("org", CONTACT, &page).await?, 1);
    let state = feeds.feed_state("org", CONTACT).await?;
    assert_eq!((state.head, state.cursor), (1, Some(Cursor(b"c1".to_vec()))));
    let a = feeds.feed_inbox("org", CONTACT, "005A", 0).await?.expect("member");
    assert_eq!(inbox_ids(&a), vec![(1, "003w".into(), "".into()), (1, "003x".into(), "v1".into())]);
    assert_eq!(a[1].change, upserted("003x", "v1", "Lovelace"), "the change round-trips");
    let b_rows = feeds.feed_inbox("org", CONTACT, "005B", 0).await?.expect("member");
    assert_eq!(inbox_ids(&b_rows), vec![(1, "003w".into(), "".into()), (1, "003y".into(), "v1".into())]);
    assert!(feeds.feed_inbox("org", CONTACT, "005Z", 0).await?.is_none(), "an unregistered owner gets nothing");
    assert!(feeds.feed_inbox("org", EVENT, "005A", 0).await?.is_none(), "feeds are per object");
    assert_eq!(feeds.feed_inbox("org", CONTACT, "005A", 1).await?.expect("member"), vec![]);
    // Another worker sees the same.
    let other = b.another().await?;
    let rows = other.feeds().expect("feeds").feed_inbox("org", CONTACT, "005A", 0).await?.expect("member");
    assert_eq!(rows.len(), 2);
    Ok(())
}

pub async fn the_inbox_keeps_the_newest_change_per_record_and_prunes(b: &dyn Backend) -> TestResult {
    use tandem_store::feed::{Delivery, FeedPage};
    let store = b.store();
    let feeds = store.feeds().expect("feeds");
    feeds.join_feed("org", EVENT, "005A").await?;
    for (n, version) in ["v1", "v2"].iter().enumerate() {
        let page = FeedPage::new(
            Cursor(vec![n as u8]),
            false,
            vec![Delivery::new(to(&["005A"]), upserted("00Ux", version, "x"))],
        );
        feeds.commit_feed_page("org", EVENT, &page).await?;
    }
    let page = FeedPage::new(Cursor(vec![9]), false, vec![Delivery::new(to(&["005A"]), upserted("00Uy", "v1", "y"))]);
    assert_eq!(feeds.commit_feed_page("org", EVENT, &page).await?, 3);
    let rows = feeds.feed_inbox("org", EVENT, "005A", 0).await?.expect("member");
    assert_eq!(inbox_ids(&rows), vec![(2, "00Ux".into(), "v2".into()), (3, "00Uy".into(), "v1".into())]);
    // Pruning up to 2 drops the first; a later page re-delivering it brings it back newer.
    feeds.prune_feed_inbox("org", EVENT, "005A", 2).await?;
    assert_eq!(
        inbox_ids(&feeds.feed_inbox("org", EVENT, "005A", 0).await?.expect("m")),
        vec![(3, "00Uy".into(), "v1".into())]
    );
    let page = FeedPage::new(Cursor(vec![10]), false, vec![Delivery::new(to(&["005A"]), upserted("00Ux", "v3", "x"))]);
    feeds.commit_feed_page("org", EVENT, &page).await?;
    assert_eq!(
        inbox_ids(&feeds.feed_inbox("org", EVENT, "005A", 3).await?.expect("m")),
        vec![(4, "00Ux".into(), "v3".into())]
    );
    feeds.leave_feed("org", EVENT, "005A").await?;
    assert!(feeds.feed_inbox("org", EVENT, "005A", 0).await?.is_none());
    Ok(())
}

pub async fn a_restart_removes_members_and_their_rows(b: &dyn Backend) -> TestResult {
    use tandem_store::feed::{Delivery, FeedPage, Recipients};
    let store = b.store();
    let feeds = store.feeds().expect("feeds");
    feeds.join_feed("org", CONTACT, "005A").await?;
    let page =
        FeedPage::new(Cursor(vec![1]), false, vec![Delivery::new(Recipients::Everyone, upserted("003x", "v1", "x"))]);
    feeds.commit_feed_page("org", CONTACT, &page).await?;
    let restart =
        FeedPage::new(Cursor(vec![2]), true, vec![Delivery::new(Recipients::Everyone, upserted("003y", "v1", "y"))]);
    assert_eq!(feeds.commit_feed_page("org", CONTACT, &restart).await?, 2, "the head keeps counting");
    assert!(feeds.feed_inbox("org", CONTACT, "005A", 0).await?.is_none(), "members must read again and re-join");
    assert_eq!(feeds.join_feed("org", CONTACT, "005A").await?, 2);
    assert_eq!(feeds.feed_inbox("org", CONTACT, "005A", 0).await?.expect("m"), vec![]);
    Ok(())
}

/// A member that joins while pages commit from another worker gets every page numbered after
/// the head its join returned: the order a first read relies on.
pub async fn joins_and_pages_racing_never_skip_a_member(b: &dyn Backend) -> TestResult {
    use tandem_store::feed::{Delivery, FeedPage};
    let store = b.store();
    let other = b.another().await?;
    let writer = tokio::spawn(async move {
        let feeds = other.feeds().expect("feeds");
        let mut seqs = Vec::new();
        for n in 0..40u32 {
            let members: Vec<String> = (0..20).map(|m| format!("005{m:02}")).collect();
            let page = FeedPage::new(
                Cursor(n.to_be_bytes().to_vec()),
                false,
                vec![Delivery::new(
                    tandem_store::feed::Recipients::Members(members),
                    upserted(&format!("003{n:03}"), "v1", "x"),
                )],
            );
            seqs.push(feeds.commit_feed_page("org", CONTACT, &page).await.expect("page"));
        }
        seqs
    });
    let mut joined = Vec::new();
    for m in 0..20 {
        let member = format!("005{m:02}");
        let head = store.feeds().expect("feeds").join_feed("org", CONTACT, &member).await?;
        joined.push((member, head));
        tokio::task::yield_now().await;
    }
    let seqs = writer.await?;
    assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
    let feeds = store.feeds().expect("feeds");
    for (member, head) in joined {
        let rows = feeds.feed_inbox("org", CONTACT, &member, head).await?.expect("member");
        let got: Vec<u64> = rows.iter().map(|r| r.seq).collect();
        assert_eq!(got, ((head + 1)..=40).collect::<Vec<u64>>(), "{member} joined at {head}");
    }
    Ok(())
}

/// Members that have not consumed their inbox since a moment are removed with their rows; one
/// that consumed it since (read it and pruned what its committed cycle read) stays. A read alone
/// does not count: a member whose cycles fail never commits.
pub async fn idle_members_are_evicted_with_their_rows(b: &dyn Backend) -> TestResult {
    use tandem_store::feed::{Delivery, FeedPage, Recipients};
    let store = b.store();
    let feeds = store.feeds().expect("feeds");
    feeds.join_feed("org", CONTACT, "005A").await?;
    feeds.join_feed("org", CONTACT, "005B").await?;
    let page =
        FeedPage::new(Cursor(vec![1]), false, vec![Delivery::new(Recipients::Everyone, upserted("003x", "v1", "x"))]);
    feeds.commit_feed_page("org", CONTACT, &page).await?;
    assert_eq!(feeds.evict_idle_feed_members("org", CONTACT, Utc::now() - chrono::Duration::hours(1)).await?, 0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mark = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(feeds.feed_inbox("org", CONTACT, "005A", 0).await?.expect("member").len(), 1);
    assert_eq!(feeds.feed_inbox("org", CONTACT, "005B", 0).await?.expect("member").len(), 1);
    // A's cycle committed what it read; B's did not.
    feeds.prune_feed_inbox("org", CONTACT, "005A", 0).await?;
    assert_eq!(feeds.evict_idle_feed_members("org", CONTACT, mark).await?, 1, "B has not consumed since");
    assert!(feeds.feed_inbox("org", CONTACT, "005B", 0).await?.is_none(), "B must read its own data again");
    assert_eq!(feeds.feed_inbox("org", CONTACT, "005A", 0).await?.expect("A stays").len(), 1);
    Ok(())
}

/// A cycle's commit carries the inbox rows it read: they go with it (and the member counts as
/// alive), and a commit that fails leaves them for the next cycle.
pub async fn a_cycle_commit_drops_the_inbox_rows_it_read_and_marks_the_member_alive(b: &dyn Backend) -> TestResult {
    use tandem_store::feed::{Delivery, FeedPage, InboxConsumed, Recipients};
    let store = b.store();
    let feeds = store.feeds().expect("feeds");
    for member in ["005A", "005B"] {
        feeds.join_feed("org", CONTACT, member).await?;
    }
    for (n, id) in [(1u8, "003x"), (2, "003y")] {
        let page =
            FeedPage::new(Cursor(vec![n]), false, vec![Delivery::new(Recipients::Everyone, upserted(id, "v1", id))]);
        feeds.commit_feed_page("org", CONTACT, &page).await?;
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mark = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let consumed = |upto| Some(InboxConsumed { feed: "org".into(), member: "005A".into(), upto });

    // A commit that fails (two pairs claim one CRM record) drops nothing.
    let (a, mut b2) = (pair(1), pair(2));
    b2.crm.id = a.crm.id.clone();
    let failing = CycleCommit { upsert_pairs: vec![a, b2], feed_consumed: consumed(1), ..CycleCommit::default() };
    commit(&*store, ADA, CONTACT, failing).await.expect_err("duplicate crm id must fail");
    assert_eq!(feeds.feed_inbox("org", CONTACT, "005A", 0).await?.expect("member").len(), 2);

    // A commit with nothing else in it still drops the rows read.
    let read_one = CycleCommit {
        cursors: vec![(Side::Crm, Some(Cursor(b"member at 1".to_vec())))],
        feed_consumed: consumed(1),
        ..CycleCommit::default()
    };
    assert!(!CycleCommit { feed_consumed: consumed(1), ..CycleCommit::default() }.is_empty());
    commit(&*store, ADA, CONTACT, read_one).await?;
    let left = feeds.feed_inbox("org", CONTACT, "005A", 0).await?.expect("member");
    assert_eq!(left.iter().map(|r| r.seq).collect::<Vec<_>>(), [2], "rows up to 1 dropped, 2 kept");
    assert_eq!(feeds.feed_inbox("org", CONTACT, "005B", 0).await?.expect("member").len(), 2, "B's rows are B's");
    assert_eq!(store.cursor(ADA, CONTACT, Side::Crm).await?, Some(Cursor(b"member at 1".to_vec())));

    // A consumed its inbox with that commit; B did not.
    assert_eq!(feeds.evict_idle_feed_members("org", CONTACT, mark).await?, 1);
    assert!(feeds.feed_inbox("org", CONTACT, "005A", 0).await?.is_some(), "A stays");
    assert!(feeds.feed_inbox("org", CONTACT, "005B", 0).await?.is_none(), "B is evicted");
    Ok(())
}
