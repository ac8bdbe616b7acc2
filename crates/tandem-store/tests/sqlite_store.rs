//! Behaviour of `SqliteStore` through the `StateStore` trait, in memory and on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tandem_core::fields::FieldKey;
use tandem_core::model::{ObjectKind, PhoneKind};
use tandem_core::state::{Cursor, FieldPrints, IdempotencyKey, PairState, RecordId, Side, SideState, Version};
use tandem_store::{
    AuditEntry, CycleCommit, Intent, QuarantineEntry, SCHEMA_VERSION, SqliteStore, StateStore, StoreError, UserStatus,
};

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
const CONTACT: ObjectKind = ObjectKind::Contact;
const EVENT: ObjectKind = ObjectKind::Event;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + secs, 123_456_789).single().expect("valid timestamp")
}

fn prints(seed: u64) -> FieldPrints {
    let mut p = FieldPrints::new();
    p.insert(FieldKey::GivenName, u64::MAX - seed);
    p.insert(FieldKey::FamilyName, i64::MAX as u64 + 1 + seed);
    p.insert(FieldKey::Phone(PhoneKind::Mobile), seed);
    p.insert(FieldKey::Custom("Region__c".into()), 0x8000_0000_0000_0000 | seed);
    p
}

fn pair_for(object: ObjectKind, n: usize) -> PairState {
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

fn pair(n: usize) -> PairState {
    pair_for(CONTACT, n)
}

fn audit(user: &str, at: DateTime<Utc>, action: &str) -> AuditEntry {
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

fn intent(user: &str, key: &str, object: ObjectKind) -> Intent {
    Intent {
        user: user.into(),
        object,
        key: key.into(),
        target: Side::Mailbox,
        operation: json!({"op": "create", "key": key}),
        created_at: t(0),
    }
}

fn quarantined(user: &str, object: ObjectKind, id: &str, since: DateTime<Utc>) -> QuarantineEntry {
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

/// A fresh path in a fresh directory under the temp dir (the directory does not exist yet).
fn temp_db(name: &str) -> (PathBuf, PathBuf) {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "tandem-store-test-{name}-{}-{nanos}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    (dir.join("nested").join("state.db"), dir)
}

async fn commit(store: &SqliteStore, user: &str, object: ObjectKind, c: CycleCommit) -> Result<(), StoreError> {
    store.commit_cycle(user, object, c).await
}

fn upserts(pairs: Vec<PairState>) -> CycleCommit {
    CycleCommit { upsert_pairs: pairs, ..CycleCommit::default() }
}

#[tokio::test]
async fn pair_state_round_trips_with_tombstone_and_full_width_prints() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let live = pair(1);
    let mut dead = pair(2);
    dead.tombstone = Some(Side::Mailbox);
    dead.crm.fields.insert(FieldKey::Notes, u64::MAX);
    let mut empty = pair(3);
    empty.mailbox.fields.clear();
    empty.crm.version = Version::default();
    commit(&store, ADA, CONTACT, upserts(vec![live.clone(), dead.clone(), empty.clone()])).await?;

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

#[tokio::test]
async fn upsert_replaces_by_pair_id_and_remove_forgets() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let mut p = pair(1);
    commit(&store, ADA, CONTACT, upserts(vec![p.clone(), pair(2)])).await?;
    p.mailbox.version = Version::new("etag-new");
    p.mailbox.id = RecordId::new("AAMk-moved");
    p.crm.fields.insert(FieldKey::Title, 42);
    p.synced_at = t(1000);
    commit(&store, ADA, CONTACT, upserts(vec![p.clone()])).await?;
    assert_eq!(store.pair(ADA, CONTACT, &p.pair_id).await?, Some(p.clone()));
    // The old mailbox id no longer finds it; the new one does.
    assert!(store.pairs_by_record(ADA, CONTACT, Side::Mailbox, &[RecordId::new("AAMk000000000001")]).await?.is_empty());
    assert_eq!(store.pairs_by_record(ADA, CONTACT, Side::Mailbox, &[p.mailbox.id.clone()]).await?, vec![p.clone()]);

    let c = CycleCommit { remove_pairs: vec![p.pair_id.clone()], ..CycleCommit::default() };
    commit(&store, ADA, CONTACT, c).await?;
    assert_eq!(store.pair(ADA, CONTACT, &p.pair_id).await?, None);
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 1);
    Ok(())
}

#[tokio::test]
async fn pairs_by_record_handles_more_ids_than_one_statement_takes() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let pairs: Vec<PairState> = (0..2_500).map(pair).collect();
    commit(&store, ADA, CONTACT, upserts(pairs.clone())).await?;
    commit(&store, BOB, CONTACT, upserts(pairs[..10].to_vec())).await?;

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

#[tokio::test]
async fn a_failing_commit_changes_nothing() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let a = pair(1);
    let before = CycleCommit {
        upsert_pairs: vec![a.clone()],
        cursors: vec![(Side::Crm, Some(Cursor(b"old".to_vec())))],
        refetch_add: vec![(Side::Crm, RecordId::new("r1"))],
        audit: vec![audit(ADA, t(1), "create")],
        ..CycleCommit::default()
    };
    commit(&store, ADA, CONTACT, before).await?;
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
    let err = commit(&store, ADA, CONTACT, failing).await.expect_err("duplicate crm id must fail");
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
    commit(&store, ADA, CONTACT, upserts(vec![b])).await?;
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_conflict_deep_in_a_large_commit_names_the_pair_and_rolls_everything_back() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let mut pairs: Vec<PairState> = (0..300).map(pair).collect();
    pairs[250].mailbox.id = pairs[10].mailbox.id.clone();
    let culprit = pairs[250].pair_id.clone();
    let c = CycleCommit {
        upsert_pairs: pairs,
        audit: (0..300).map(|i| audit(ADA, t(i), "create")).collect(),
        ..CycleCommit::default()
    };
    let err = commit(&store, ADA, CONTACT, c).await.expect_err("duplicate mailbox id must fail");
    let StoreError::Constraint(msg) = &err else { panic!("expected Constraint, got {err:?}") };
    assert!(msg.contains(culprit.as_str()) && msg.contains("mailbox_id"), "{msg}");
    assert!(store.all_pairs(ADA, CONTACT).await?.is_empty());
    assert!(store.audit_log(None, None, 10).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_pair_cannot_claim_a_record_another_pair_holds() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    commit(&store, ADA, CONTACT, upserts(vec![pair(1)])).await?;
    let mut thief = pair(2);
    thief.mailbox.id = pair(1).mailbox.id;
    let err = commit(&store, ADA, CONTACT, upserts(vec![thief])).await.expect_err("must fail");
    assert!(matches!(err, StoreError::Constraint(_)), "{err:?}");
    // The same ids for another user or object are fine.
    commit(&store, BOB, CONTACT, upserts(vec![pair(1)])).await?;
    commit(&store, ADA, EVENT, upserts(vec![pair_for(EVENT, 1)])).await?;
    Ok(())
}

#[tokio::test]
async fn inconsistent_commits_are_refused_before_writing() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let err = commit(&store, ADA, CONTACT, upserts(vec![pair(1), pair_for(EVENT, 2)])).await.expect_err("wrong object");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let c = CycleCommit { audit: vec![audit(BOB, t(0), "create")], ..CycleCommit::default() };
    assert!(matches!(commit(&store, ADA, CONTACT, c).await, Err(StoreError::Invalid(_))));
    let c = CycleCommit { quarantine_add: vec![quarantined(ADA, EVENT, "x", t(0))], ..CycleCommit::default() };
    assert!(matches!(commit(&store, ADA, CONTACT, c).await, Err(StoreError::Invalid(_))));
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 0);
    // An empty commit is fine.
    commit(&store, ADA, CONTACT, CycleCommit::default()).await?;
    Ok(())
}

#[tokio::test]
async fn pair_count_excludes_tombstones() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let mut pairs: Vec<PairState> = (0..5).map(pair).collect();
    pairs[1].tombstone = Some(Side::Crm);
    pairs[3].tombstone = Some(Side::Mailbox);
    commit(&store, ADA, CONTACT, upserts(pairs)).await?;
    assert_eq!(store.pair_count(ADA, CONTACT).await?, 3);
    assert_eq!(store.all_pairs(ADA, CONTACT).await?.len(), 5);
    assert_eq!(store.pair_count(ADA, EVENT).await?, 0);
    Ok(())
}

/// The live pairs counted the slow way, to check `pair_count` (kept by triggers) against.
async fn live_pairs(store: &SqliteStore, user: &str, object: ObjectKind) -> Result<usize, StoreError> {
    Ok(store.all_pairs(user, object).await?.iter().filter(|p| p.tombstone.is_none()).count())
}

/// `pair_count` for every user and object, checked against the pairs themselves.
async fn counts(store: &SqliteStore) -> Result<[usize; 4], StoreError> {
    let mut out = [0; 4];
    for (slot, (user, object)) in [(ADA, CONTACT), (ADA, EVENT), (BOB, CONTACT), (BOB, EVENT)].into_iter().enumerate() {
        out[slot] = store.pair_count(user, object).await?;
        assert_eq!(out[slot], live_pairs(store, user, object).await?, "{user} {object}");
    }
    Ok(out)
}

fn tombstoned(mut p: PairState, side: Side) -> PairState {
    p.tombstone = Some(side);
    p
}

#[tokio::test]
async fn pair_count_stays_right_across_upserts_removals_tombstones_and_resets() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    assert_eq!(counts(&store).await?, [0, 0, 0, 0]);

    // New pairs, live and tombstoned, for two users and both objects.
    let mut new = (0..5).map(pair).collect::<Vec<_>>();
    new.push(tombstoned(pair(5), Side::Crm));
    new.push(tombstoned(pair(6), Side::Mailbox));
    commit(&store, ADA, CONTACT, upserts(new)).await?;
    commit(&store, ADA, EVENT, upserts(vec![pair_for(EVENT, 1)])).await?;
    commit(&store, BOB, CONTACT, upserts((0..3).map(pair).collect())).await?;
    assert_eq!(counts(&store).await?, [5, 1, 3, 0]);

    // Updating a live pair (the common case) and a tombstoned one moves nothing.
    let mut moved = pair(0);
    moved.mailbox.version = Version::new("etag-2");
    let mut still_dead = tombstoned(pair(5), Side::Crm);
    still_dead.crm.version = Version::new("crm-2");
    commit(&store, ADA, CONTACT, upserts(vec![moved, still_dead])).await?;
    assert_eq!(counts(&store).await?, [5, 1, 3, 0]);

    // A tombstone takes a pair out; a revival (and a tombstone changing sides) puts it back.
    commit(&store, ADA, CONTACT, upserts(vec![tombstoned(pair(1), Side::Crm)])).await?;
    assert_eq!(counts(&store).await?, [4, 1, 3, 0]);
    commit(&store, ADA, CONTACT, upserts(vec![tombstoned(pair(1), Side::Mailbox)])).await?;
    assert_eq!(counts(&store).await?, [4, 1, 3, 0]);
    commit(&store, ADA, CONTACT, upserts(vec![pair(1), pair(6)])).await?;
    assert_eq!(counts(&store).await?, [6, 1, 3, 0]);

    // The same pair twice in one commit, tombstoned then live: it ends live and counts once.
    commit(&store, ADA, CONTACT, upserts(vec![tombstoned(pair(7), Side::Crm), pair(7)])).await?;
    assert_eq!(counts(&store).await?, [7, 1, 3, 0]);

    // Removals: a live pair, a tombstoned one, an unknown one; and a pair removed and put back
    // in one commit.
    commit(&store, ADA, CONTACT, upserts(vec![tombstoned(pair(2), Side::Crm)])).await?;
    assert_eq!(counts(&store).await?, [6, 1, 3, 0]);
    let c = CycleCommit {
        remove_pairs: vec![pair(3).pair_id, pair(2).pair_id, pair(99).pair_id, pair(4).pair_id],
        upsert_pairs: vec![pair(4)],
        ..CycleCommit::default()
    };
    commit(&store, ADA, CONTACT, c).await?;
    assert_eq!(counts(&store).await?, [5, 1, 3, 0]);

    // A commit that fails part-way leaves the count as it was.
    let mut clash = pair(8);
    clash.crm.id = pair(1).crm.id;
    let failing = CycleCommit {
        remove_pairs: vec![pair(0).pair_id],
        upsert_pairs: vec![pair(9), clash],
        ..CycleCommit::default()
    };
    assert!(commit(&store, ADA, CONTACT, failing).await.is_err());
    assert_eq!(counts(&store).await?, [5, 1, 3, 0]);

    // Resets: one object, then everything; other users keep their counts; counting restarts.
    store.reset_user(ADA, Some(CONTACT)).await?;
    assert_eq!(counts(&store).await?, [0, 1, 3, 0]);
    commit(&store, ADA, CONTACT, upserts(vec![pair(1)])).await?;
    store.reset_user(ADA, None).await?;
    assert_eq!(counts(&store).await?, [0, 0, 3, 0]);
    commit(&store, ADA, CONTACT, upserts((10..14).map(pair).collect())).await?;
    assert_eq!(counts(&store).await?, [4, 0, 3, 0]);
    Ok(())
}

#[tokio::test]
async fn pair_count_matches_the_pairs_through_a_long_random_history() -> TestResult {
    let store = SqliteStore::in_memory().await?;
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
        commit(&store, user, object, c).await?;
        if next(60) == 0 {
            let only = (next(2) == 0).then_some(object);
            store.reset_user(user, only).await?;
        }
        counts(&store).await?;
    }
    Ok(())
}

#[tokio::test]
async fn cursors_are_set_replaced_and_cleared_per_side_and_object() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    assert_eq!(store.cursor(ADA, CONTACT, Side::Crm).await?, None);
    let set = CycleCommit {
        cursors: vec![
            (Side::Crm, Some(Cursor(b"2026-11-05T09:00:00Z".to_vec()))),
            (Side::Mailbox, Some(Cursor(vec![0, 255, 7]))),
        ],
        ..CycleCommit::default()
    };
    commit(&store, ADA, CONTACT, set).await?;
    let replace = CycleCommit { cursors: vec![(Side::Crm, Some(Cursor(b"later".to_vec())))], ..CycleCommit::default() };
    commit(&store, ADA, CONTACT, replace).await?;
    assert_eq!(store.cursor(ADA, CONTACT, Side::Crm).await?, Some(Cursor(b"later".to_vec())));
    assert_eq!(store.cursor(ADA, CONTACT, Side::Mailbox).await?, Some(Cursor(vec![0, 255, 7])));
    assert_eq!(store.cursor(ADA, EVENT, Side::Crm).await?, None);
    assert_eq!(store.cursor(BOB, CONTACT, Side::Crm).await?, None);

    let clear = CycleCommit { cursors: vec![(Side::Mailbox, None)], ..CycleCommit::default() };
    commit(&store, ADA, CONTACT, clear).await?;
    assert_eq!(store.cursor(ADA, CONTACT, Side::Mailbox).await?, None);
    assert_eq!(store.cursor(ADA, CONTACT, Side::Crm).await?, Some(Cursor(b"later".to_vec())));
    Ok(())
}

#[tokio::test]
async fn intents_are_recorded_listed_and_resolved() -> TestResult {
    let store = SqliteStore::in_memory().await?;
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
    first.operation = json!({"op": "update"});
    store.record_intents(&[first.clone()]).await?;
    assert_eq!(store.pending_intents(ADA).await?, vec![first.clone(), third.clone(), second.clone()]);

    store.resolve_intents(ADA, &["tdm-a".into(), "unknown".into()]).await?;
    assert_eq!(store.pending_intents(ADA).await?, vec![third, second]);
    let c = CycleCommit { resolved_intents: vec!["tdm-b".into()], ..CycleCommit::default() };
    commit(&store, ADA, CONTACT, c).await?;
    assert_eq!(store.pending_intents(ADA).await?.len(), 1);
    // Bob's intent with the same key is untouched.
    assert_eq!(store.pending_intents(BOB).await?, vec![intent(BOB, "tdm-a", CONTACT)]);
    Ok(())
}

#[tokio::test]
async fn quarantine_upserts_keep_the_first_since_and_removes_release() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let mut q1 = quarantined(ADA, CONTACT, "003a", t(10));
    let q2 = QuarantineEntry {
        side: Side::Mailbox,
        detail: Some(json!({"field": "emails"})),
        ..quarantined(ADA, CONTACT, "AAMk", t(11))
    };
    let c = CycleCommit { quarantine_add: vec![q1.clone(), q2.clone()], ..CycleCommit::default() };
    commit(&store, ADA, CONTACT, c).await?;
    let qe = quarantined(ADA, EVENT, "00Ux", t(12));
    commit(&store, ADA, EVENT, CycleCommit { quarantine_add: vec![qe.clone()], ..CycleCommit::default() }).await?;
    assert_eq!(store.quarantine(ADA).await?, vec![q1.clone(), q2.clone(), qe.clone()]);
    assert!(store.quarantine(BOB).await?.is_empty());

    // Still invalid next cycle, for another reason: the reason changes, `since` stays.
    let mut again = q1.clone();
    again.reason = "name too long".into();
    again.since = t(99);
    commit(&store, ADA, CONTACT, CycleCommit { quarantine_add: vec![again], ..CycleCommit::default() }).await?;
    q1.reason = "name too long".into();
    assert_eq!(store.quarantine(ADA).await?[0], q1);

    let c = CycleCommit { quarantine_remove: vec![(Side::Crm, RecordId::new("003a"))], ..CycleCommit::default() };
    commit(&store, ADA, CONTACT, c).await?;
    assert_eq!(store.quarantine(ADA).await?, vec![q2, qe]);
    Ok(())
}

#[tokio::test]
async fn refetch_queue_adds_once_and_removes() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let r = |s: &str| RecordId::new(s);
    let c = CycleCommit {
        refetch_add: vec![(Side::Crm, r("b")), (Side::Crm, r("a")), (Side::Mailbox, r("m")), (Side::Crm, r("b"))],
        ..CycleCommit::default()
    };
    commit(&store, ADA, CONTACT, c).await?;
    assert_eq!(store.refetch_queue(ADA, CONTACT, Side::Crm).await?, vec![r("b"), r("a")]);
    assert_eq!(store.refetch_queue(ADA, CONTACT, Side::Mailbox).await?, vec![r("m")]);
    assert!(store.refetch_queue(ADA, EVENT, Side::Crm).await?.is_empty());

    // Removed and re-added in the same commit: it stays queued.
    let c = CycleCommit {
        refetch_remove: vec![(Side::Crm, r("b")), (Side::Crm, r("a"))],
        refetch_add: vec![(Side::Crm, r("a"))],
        ..CycleCommit::default()
    };
    commit(&store, ADA, CONTACT, c).await?;
    assert_eq!(store.refetch_queue(ADA, CONTACT, Side::Crm).await?, vec![r("a")]);
    Ok(())
}

#[tokio::test]
async fn audit_is_appended_queried_exported_and_pruned() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let mut bare = audit(BOB, t(3), "policy_denied");
    bare.side = None;
    bare.record_id = None;
    bare.detail = None;
    bare.outcome = "denied".into();
    let entries =
        vec![audit(ADA, t(1), "create"), audit(ADA, t(2), "update"), bare.clone(), audit(ADA, t(4), "delete")];
    store.append_audit(&entries).await?;
    commit(&store, ADA, CONTACT, CycleCommit { audit: vec![audit(ADA, t(5), "link")], ..CycleCommit::default() })
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

#[tokio::test]
async fn export_pages_through_a_long_log() -> TestResult {
    let store = SqliteStore::in_memory().await?;
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

#[tokio::test]
async fn status_is_stored_per_user() -> TestResult {
    let store = SqliteStore::in_memory().await?;
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

/// Fills every table for one user and object.
async fn fill(store: &SqliteStore, user: &str, object: ObjectKind) -> TestResult {
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
async fn held(store: &SqliteStore, user: &str, object: ObjectKind) -> Result<[usize; 5], StoreError> {
    let cursors = [store.cursor(user, object, Side::Crm).await?, store.cursor(user, object, Side::Mailbox).await?];
    Ok([
        store.all_pairs(user, object).await?.len(),
        cursors.iter().flatten().count(),
        store.quarantine(user).await?.iter().filter(|q| q.object == object).count(),
        store.refetch_queue(user, object, Side::Mailbox).await?.len(),
        store.pending_intents(user).await?.iter().filter(|i| i.object == object).count(),
    ])
}

#[tokio::test]
async fn reset_user_clears_only_that_user_and_object() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    for user in [ADA, BOB] {
        for object in ObjectKind::ALL {
            fill(&store, user, object).await?;
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
    assert_eq!(held(&store, ADA, CONTACT).await?, [0; 5]);
    assert_eq!(held(&store, ADA, EVENT).await?, full);
    assert_eq!(held(&store, BOB, CONTACT).await?, full);
    assert_eq!(held(&store, BOB, EVENT).await?, full);
    // Audit and status are kept.
    assert_eq!(store.audit_log(Some(ADA), None, 100).await?.len(), 2);
    assert_eq!(store.status(ADA).await?, Some(status));

    store.reset_user(ADA, None).await?;
    assert_eq!(held(&store, ADA, EVENT).await?, [0; 5]);
    assert_eq!(held(&store, BOB, CONTACT).await?, full);
    assert_eq!(held(&store, BOB, EVENT).await?, full);
    assert_eq!(store.audit_log(Some(ADA), None, 100).await?.len(), 2);

    // A reset user syncs again from scratch.
    fill(&store, ADA, CONTACT).await?;
    assert_eq!(held(&store, ADA, CONTACT).await?, full);
    Ok(())
}

#[tokio::test]
async fn a_file_database_persists_and_reopening_is_a_no_op() -> TestResult {
    let (path, dir) = temp_db("reopen");
    assert!(!dir.exists());
    {
        let store = SqliteStore::open(&path).await?;
        assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
        fill(&store, ADA, CONTACT).await?;
        store.close().await;
    }
    assert!(path.exists());
    {
        let store = SqliteStore::open(&path).await?;
        assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
        assert_eq!(held(&store, ADA, CONTACT).await?, [2, 2, 1, 1, 1]);
        assert_eq!(store.pair(ADA, CONTACT, &pair(1).pair_id).await?, Some(pair(1)));
        store.close().await;
    }
    // Migrations ran once: one row per version.
    {
        use sqlx::ConnectOptions as _;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await?;
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_version").fetch_one(&mut conn).await?;
        assert_eq!(rows, SCHEMA_VERSION);
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await?;
        assert_eq!(mode, "wal");
        sqlx::Connection::close(conn).await?;
    }
    // Two stores on one file see each other's writes.
    let a = SqliteStore::open(&path).await?;
    let b = SqliteStore::open(&path).await?;
    a.commit_cycle(BOB, EVENT, upserts(vec![pair_for(EVENT, 9)])).await?;
    assert_eq!(b.pair_count(BOB, EVENT).await?, 1);
    a.close().await;
    b.close().await;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn a_database_from_a_newer_tandem_is_refused() -> TestResult {
    let (path, dir) = temp_db("newer");
    SqliteStore::open(&path).await?.close().await;
    {
        use sqlx::ConnectOptions as _;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await?;
        sqlx::query("INSERT INTO schema_version (version, description, applied_at) VALUES (?, 'from the future', '2030-01-01T00:00:00.000000000Z')")
            .bind(SCHEMA_VERSION + 1)
            .execute(&mut conn)
            .await?;
        sqlx::Connection::close(conn).await?;
    }
    let err = SqliteStore::open(&path).await.expect_err("must refuse a newer schema");
    assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
    assert!(err.to_string().contains("newer"), "{err}");
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn an_undecodable_row_is_reported_as_corrupt_naming_the_pair() -> TestResult {
    let (path, dir) = temp_db("corrupt");
    let store = SqliteStore::open(&path).await?;
    let good = pair(1);
    let bad = pair(2);
    commit(&store, ADA, CONTACT, upserts(vec![good.clone(), bad.clone()])).await?;
    {
        use sqlx::ConnectOptions as _;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await?;
        sqlx::query("UPDATE pairs SET mailbox_fields = '{\"given_name\": 12}' WHERE pair_id = ?")
            .bind(bad.pair_id.as_str())
            .execute(&mut conn)
            .await?;
        sqlx::query("UPDATE pairs SET tombstone = 'both' WHERE pair_id = ?")
            .bind(good.pair_id.as_str())
            .execute(&mut conn)
            .await?;
        sqlx::Connection::close(conn).await?;
    }
    for (p, field) in [(&bad, "mailbox_fields"), (&good, "side")] {
        let err = store.pair(ADA, CONTACT, &p.pair_id).await.expect_err("corrupt row");
        let StoreError::Corrupt { what, detail } = &err else { panic!("expected Corrupt, got {err:?}") };
        assert!(what.contains(p.pair_id.as_str()), "{what}");
        assert!(detail.contains(field), "{detail}");
    }
    assert!(matches!(store.all_pairs(ADA, CONTACT).await, Err(StoreError::Corrupt { .. })));
    store.close().await;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn a_ten_thousand_pair_commit_is_one_transaction() -> TestResult {
    let store = SqliteStore::in_memory().await?;
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

#[tokio::test]
async fn the_store_is_usable_as_a_trait_object_from_many_tasks() -> TestResult {
    let (path, dir) = temp_db("tasks");
    let store: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(SqliteStore::open(&path).await?);
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
    drop(store);
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

fn unresolved_entry(
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

#[tokio::test]
async fn unresolved_items_are_upserted_keeping_the_earliest_time_forgotten_and_reset() -> TestResult {
    let store = SqliteStore::in_memory().await?;
    let globex = unresolved_entry(ADA, CONTACT, "AAMk2", "Globex", Some(FieldKey::Company), t(10));
    let initech = unresolved_entry(ADA, CONTACT, "AAMk1", "Initech", None, t(20));
    let event =
        unresolved_entry(ADA, EVENT, "AAMk9", "zed@example.com", Some(FieldKey::attendee("zed@example.com")), t(5));
    let bobs = unresolved_entry(BOB, CONTACT, "AAMk1", "Initech", None, t(1));
    let add =
        |items: Vec<tandem_store::UnresolvedEntry>| CycleCommit { unresolved_add: items, ..CycleCommit::default() };
    commit(&store, ADA, CONTACT, add(vec![globex.clone(), initech.clone()])).await?;
    commit(&store, ADA, EVENT, add(vec![event.clone()])).await?;
    commit(&store, BOB, CONTACT, add(vec![bobs.clone()])).await?;
    // Ordered by object, side, record.
    assert_eq!(store.unresolved(ADA).await?, [initech.clone(), globex.clone(), event.clone()]);
    assert_eq!(store.unresolved(BOB).await?, std::slice::from_ref(&bobs));

    // Reported again later: `since` keeps the earliest, the rest is the newest.
    let mut again = globex.clone();
    again.since = t(100);
    again.checked_at = Some(t(100));
    again.item.detail = "still no Account".into();
    commit(&store, ADA, CONTACT, add(vec![again])).await?;
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
    commit(&store, ADA, CONTACT, c).await?;
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

#[tokio::test]
async fn a_version_3_database_gains_the_unresolved_table_and_keeps_its_data() -> TestResult {
    let (path, dir) = temp_db("v3");
    {
        let store = SqliteStore::open(&path).await?;
        fill(&store, ADA, CONTACT).await?;
        store.close().await;
    }
    // Back to version 3: as a database written before unresolved items existed.
    {
        use sqlx::ConnectOptions as _;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await?;
        sqlx::query("DROP TABLE unresolved").execute(&mut conn).await?;
        for undo in [
            "DROP TABLE cycles",
            "ALTER TABLE quarantine DROP COLUMN approved_by",
            "ALTER TABLE quarantine DROP COLUMN approved_at",
        ] {
            sqlx::query(undo).execute(&mut conn).await?;
        }
        sqlx::query("DELETE FROM schema_version WHERE version >= 4").execute(&mut conn).await?;
        sqlx::Connection::close(conn).await?;
    }
    let store = SqliteStore::open(&path).await?;
    assert_eq!(SCHEMA_VERSION, 5);
    assert_eq!(store.schema_version().await?, 5);
    assert_eq!(store.pair(ADA, CONTACT, &pair(1).pair_id).await?, Some(pair(1)));
    assert!(store.unresolved(ADA).await?.is_empty());
    assert!(store.cycles(ADA, 10).await?.is_empty());
    let item = unresolved_entry(ADA, CONTACT, "AAMk1", "Globex", Some(FieldKey::Company), t(3));
    commit(&store, ADA, CONTACT, CycleCommit { unresolved_add: vec![item.clone()], ..CycleCommit::default() }).await?;
    store.close().await;
    let store = SqliteStore::open(&path).await?;
    assert_eq!(store.unresolved(ADA).await?, [item]);
    store.close().await;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
