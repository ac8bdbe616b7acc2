//! Unit tests of the SQLite store's internals: migrations, query plans.

use sqlx::Row;
use sqlx::sqlite::SqliteConnection;
use tandem_core::fields::FieldKey;
use tandem_core::state::{FieldPrints, IdempotencyKey, PairState, RecordId, Side, SideState, Version};

use super::schema::MIGRATIONS;
use super::*;

#[test]
fn migrations_are_consecutive_and_end_at_the_schema_version() {
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as i64 + 1);
    }
    assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
}

#[tokio::test]
async fn pair_count_reads_one_row_not_the_pairs() -> Result<(), StoreError> {
    let store = SqliteStore::in_memory().await?;
    let rows = query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {PAIR_COUNT}")))
        .bind("u")
        .bind("contact")
        .fetch_all(&store.pool)
        .await
        .map_err(db("explain"))?;
    let plan: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>("detail").ok()).collect();
    let plan = plan.join("\n");
    assert!(plan.contains("SEARCH pair_counts USING PRIMARY KEY"), "{plan}");
    Ok(())
}

/// Closes the old build's connection and opens the database as this build: the migration runs.
async fn upgrade(old: SqliteConnection, path: &std::path::Path) -> Result<SqliteStore, StoreError> {
    sqlx::Connection::close(old).await.map_err(db("close"))?;
    SqliteStore::open(path).await
}

/// Closes the store and removes its scratch directory.
async fn discard(store: SqliteStore, dir: &std::path::Path) -> Result<(), StoreError> {
    store.close().await;
    std::fs::remove_dir_all(dir).map_err(|e| StoreError::Io(e.to_string()))
}

/// A scratch folder holding `state.db` as schema version `version` wrote it (every migration up
/// to it, each recorded), and a connection to it for the test to add rows.
async fn old_database(version: i64) -> Result<(std::path::PathBuf, std::path::PathBuf, SqliteConnection), StoreError> {
    use sqlx::ConnectOptions as _;
    let dir = std::env::temp_dir().join(format!(
        "tandem-store-v{version}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io(e.to_string()))?;
    let path = dir.join("state.db");
    let mut conn =
        SqliteConnectOptions::new().filename(&path).create_if_missing(true).connect().await.map_err(db("connect"))?;
    query(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, \
         description TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .map_err(db("old schema"))?;
    for step in MIGRATIONS.iter().filter(|m| m.version <= version) {
        for statement in step.statements {
            query(*statement).execute(&mut conn).await.map_err(db("old schema"))?;
        }
        query("INSERT INTO schema_version VALUES (?, ?, '2025-01-01T00:00:00.000000000Z')")
            .bind(step.version)
            .bind(step.description)
            .execute(&mut conn)
            .await
            .map_err(db("old schema"))?;
    }
    Ok((dir, path, conn))
}

/// A database written by schema version 1 (no counts) gets its counts from the pairs it
/// holds when it is migrated, and keeps them from then on.
#[tokio::test]
async fn migrating_from_version_1_counts_the_existing_pairs() -> Result<(), StoreError> {
    let (dir, path, mut conn) = old_database(1).await?;
    {
        // ada: 3 live contacts and a tombstoned one, 1 event; bob: 2 contacts.
        let rows: [(&str, &str, u32, Option<&str>); 7] = [
            ("ada", "contact", 1, None),
            ("ada", "contact", 2, None),
            ("ada", "contact", 3, Some("crm")),
            ("ada", "contact", 4, None),
            ("ada", "event", 1, None),
            ("bob", "contact", 1, None),
            ("bob", "contact", 2, None),
        ];
        for (user, object, n, tombstone) in rows {
            query(
                "INSERT INTO pairs VALUES (?, ?, ?, ?, 'v', '{}', ?, 'v', '{}', \
                 '2025-01-01T00:00:00.000000000Z', ?)",
            )
            .bind(user)
            .bind(object)
            .bind(format!("p{n}"))
            .bind(format!("c{n}"))
            .bind(format!("m{n}"))
            .bind(tombstone)
            .execute(&mut conn)
            .await
            .map_err(db("v1 pairs"))?;
        }
    }
    let store = upgrade(conn, &path).await?;
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    assert_eq!(store.pair_count("ada", ObjectKind::Contact).await?, 3);
    assert_eq!(store.pair_count("ada", ObjectKind::Event).await?, 1);
    assert_eq!(store.pair_count("bob", ObjectKind::Contact).await?, 2);
    assert_eq!(store.pair_count("bob", ObjectKind::Event).await?, 0);
    // Counting goes on from the migrated numbers.
    let removal = CycleCommit {
        remove_pairs: vec![IdempotencyKey("p1".into()), IdempotencyKey("p3".into())],
        ..CycleCommit::default()
    };
    store.commit_cycle("ada", ObjectKind::Contact, removal).await?;
    assert_eq!(store.pair_count("ada", ObjectKind::Contact).await?, 2);
    discard(store, &dir).await?;
    Ok(())
}

/// A database written by schema version 7 holds field prints as JSON: they read as they are after
/// the migrations, and the pair's prints are packed (as bytes, since version 11) when it is next
/// committed.
#[tokio::test]
async fn json_prints_of_version_7_read_and_are_packed_when_their_pair_is_committed() -> Result<(), StoreError> {
    let (dir, path, mut conn) = old_database(7).await?;
    query(
        "INSERT INTO pairs VALUES ('ada', 'contact', 'p1', 'c1', 'v', \
         '{\"given_name\":\"00000000000000ff\",\"notes\":\"ffffffffffffffff\"}', 'm1', 'w', '{}', \
         '2025-01-01T00:00:00.000000000Z', NULL)",
    )
    .execute(&mut conn)
    .await
    .map_err(db("v7 pair"))?;
    let store = upgrade(conn, &path).await?;
    let expected: FieldPrints = [(FieldKey::GivenName, 0xff), (FieldKey::Notes, u64::MAX)].into_iter().collect();
    old_pair_reads_and_is_stored_as_bytes_when_committed(&store, &expected).await?;
    discard(store, &dir).await?;
    Ok(())
}

/// After the migrations, pair `p1` (written by an earlier version, its mailbox prints empty)
/// reads with CRM prints `crm`; committed again with a mailbox print, both sides' prints are
/// stored as bytes and read back as committed.
async fn old_pair_reads_and_is_stored_as_bytes_when_committed(
    store: &SqliteStore,
    crm: &FieldPrints,
) -> Result<(), StoreError> {
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    let id = IdempotencyKey("p1".into());
    let Some(mut pair) = store.pair("ada", ObjectKind::Contact, &id).await? else { panic!("the old pair reads") };
    assert_eq!(&pair.crm.fields, crm);
    assert!(pair.mailbox.fields.is_empty());
    pair.mailbox.fields.insert(FieldKey::Title, 3);
    store
        .commit_cycle(
            "ada",
            ObjectKind::Contact,
            CycleCommit { upsert_pairs: vec![pair.clone()], ..CycleCommit::default() },
        )
        .await?;
    assert_prints_stored_as_bytes(store, "p1").await?;
    assert_eq!(store.pair("ada", ObjectKind::Contact, &id).await?, Some(pair));
    Ok(())
}

/// Both sides' prints of pair `pair_id` are stored as bytes (a BLOB starting with the packed
/// form's byte).
async fn assert_prints_stored_as_bytes(store: &SqliteStore, pair_id: &str) -> Result<(), StoreError> {
    let stored: (String, Vec<u8>, String, Vec<u8>) = sqlx::query_as(
        "SELECT typeof(crm_fields), crm_fields, typeof(mailbox_fields), mailbox_fields FROM pairs WHERE pair_id = ?",
    )
    .bind(pair_id)
    .fetch_one(&store.pool)
    .await
    .map_err(db("stored prints"))?;
    assert_eq!((stored.0.as_str(), stored.2.as_str()), ("blob", "blob"), "{stored:?}");
    assert_eq!((stored.1.first(), stored.3.first()), (Some(&0x02), Some(&0x02)), "{stored:?}");
    Ok(())
}

/// A database of schema version 10 holds packed prints as text (`v2:` and base64): they read
/// as they are after the migration to version 11, and are stored as bytes when their pair is
/// next committed.
#[tokio::test]
async fn text_prints_of_version_10_read_and_are_stored_as_bytes_when_committed() -> Result<(), StoreError> {
    let (dir, path, mut conn) = old_database(10).await?;
    let text_prints: FieldPrints =
        [(FieldKey::GivenName, 0xff), (FieldKey::attendee("zoë@example.com"), 7)].into_iter().collect();
    query(
        "INSERT INTO pairs VALUES ('ada', 'contact', 'p1', 'c1', 'v', ?, 'm1', 'w', 'v2:', \
         '2025-01-01T00:00:00.000000000Z', NULL)",
    )
    .bind(crate::codec::encode_prints(&text_prints))
    .execute(&mut conn)
    .await
    .map_err(db("v10 pair"))?;
    let store = upgrade(conn, &path).await?;
    old_pair_reads_and_is_stored_as_bytes_when_committed(&store, &text_prints).await?;
    discard(store, &dir).await?;
    Ok(())
}

/// A database of schema version 8 may hold journal entries written before their prints were
/// packed (and, before version 10, creates with their records): after the migrations they are
/// pending, text unchanged, for the engine (which reads every form) to settle.
#[tokio::test]
async fn journal_entries_of_version_8_stay_pending_as_written() -> Result<(), StoreError> {
    let (dir, path, mut conn) = old_database(8).await?;
    let operation = r#"{"operation":{"op":"delete"},"next":{"type":"put","crm":{"fields":{"title":7}}}}"#;
    query(
        "INSERT INTO journal (user_id, intent_key, object, target, operation, created_at) \
         VALUES ('ada', 'delete:mailbox:m1:w', 'contact', 'mailbox', ?, '2025-01-01T00:00:00.000000000Z')",
    )
    .bind(operation)
    .execute(&mut conn)
    .await
    .map_err(db("v8 intent"))?;
    let store = upgrade(conn, &path).await?;
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    let pending = store.pending_intents("ada").await?;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].key, "delete:mailbox:m1:w");
    assert_eq!(pending[0].operation.as_str(), operation);
    discard(store, &dir).await?;
    Ok(())
}

/// Commits leave the WAL to the background checkpointer: a commit well under the fallback
/// threshold does not reach the database file by itself, and the checkpointer copies it there
/// within a few of its one-second rounds.
#[tokio::test]
async fn the_background_checkpointer_copies_commits_into_the_database_file() -> Result<(), StoreError> {
    let dir = std::env::temp_dir().join(format!(
        "tandem-store-checkpoint-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let path = dir.join("state.db");
    let store = SqliteStore::open(&path).await?;
    let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    // Whatever the schema's creation left in the WAL is copied first.
    let settled = std::time::Instant::now();
    let mut before = size();
    while settled.elapsed() < std::time::Duration::from_secs(3) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        before = size();
    }
    let mut prints = FieldPrints::new();
    for (i, key) in FieldKey::standard(ObjectKind::Contact).iter().enumerate() {
        prints.insert(key.clone(), i as u64);
    }
    // About 2,000 pairs of 0.6 KB: some 300 pages, far under the 10,000 that make a commit
    // checkpoint by itself.
    let pairs: Vec<PairState> = (0..2000)
        .map(|n| {
            let crm = RecordId::new(format!("003{n:012}"));
            PairState {
                pair_id: IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &crm),
                object: ObjectKind::Contact,
                crm: SideState { id: crm, version: Version::new("v1"), fields: prints.clone() },
                mailbox: SideState {
                    id: RecordId::new(format!("AAMk{n:012}")),
                    version: Version::new("e1"),
                    fields: prints.clone(),
                },
                synced_at: Utc::now(),
                tombstone: None,
            }
        })
        .collect();
    store
        .commit_cycle("ada", ObjectKind::Contact, CycleCommit { upsert_pairs: pairs, ..CycleCommit::default() })
        .await?;
    let committed = size();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while size() < before + 500_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let checkpointed = size();
    assert!(committed < before + 500_000, "the commit checkpointed by itself: {before} -> {committed} bytes");
    assert!(checkpointed >= before + 500_000, "no checkpoint copied the commit: {before} -> {checkpointed} bytes");
    assert_eq!(store.pair_count("ada", ObjectKind::Contact).await?, 2000);
    discard(store, &dir).await?;
    Ok(())
}

/// A database written by schema version 4 (no cycle history, no approvals) keeps its
/// quarantine when migrated to version 5 and gains both.
#[tokio::test]
async fn migrating_from_version_4_keeps_the_quarantine_and_adds_history() -> Result<(), StoreError> {
    let (dir, path, mut conn) = old_database(4).await?;
    {
        query(
            "INSERT INTO quarantine VALUES ('ada', 'contact', 'crm', '003A', 'mass-delete guard', \
             '2025-01-01T00:00:00.000000000Z', '{\"kind\":\"held_delete\"}')",
        )
        .execute(&mut conn)
        .await
        .map_err(db("v4 quarantine"))?;
    }
    let store = upgrade(conn, &path).await?;
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    let q = store.quarantine("ada").await?;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].detail, Some(serde_json::json!({ "kind": "held_delete" })));
    assert!(store.cycles("ada", 10).await?.is_empty());
    assert_eq!(store.users().await?, vec!["ada".to_owned()]);

    // Approval: kept apart from the detail, so a cycle re-quarantining the entry keeps it.
    let held = [(Side::Crm, RecordId::new("003A"))];
    assert_eq!(store.approve_quarantined("ada", ObjectKind::Contact, &held, "cli:root", Utc::now()).await?, 1);
    assert_eq!(store.approve_quarantined("ada", ObjectKind::Contact, &held, "cli:root", Utc::now()).await?, 0);
    let fresh = QuarantineEntry { detail: Some(serde_json::json!({ "kind": "held_delete" })), ..q[0].clone() };
    let again = CycleCommit { quarantine_add: vec![fresh.clone()], ..CycleCommit::default() };
    store.commit_cycle("ada", ObjectKind::Contact, again).await?;
    let q = store.quarantine("ada").await?;
    let detail = q[0].detail.clone().unwrap_or_default();
    assert_eq!(detail["kind"], "held_delete");
    assert_eq!(detail["approved"], true);
    assert_eq!(detail["approved_by"], "cli:root");
    // Released: the approval goes with the entry.
    let release = CycleCommit { quarantine_remove: held.to_vec(), ..CycleCommit::default() };
    store.commit_cycle("ada", ObjectKind::Contact, release).await?;
    let back = CycleCommit { quarantine_add: vec![fresh], ..CycleCommit::default() };
    store.commit_cycle("ada", ObjectKind::Contact, back).await?;
    let q = store.quarantine("ada").await?;
    assert_eq!(q[0].detail, Some(serde_json::json!({ "kind": "held_delete" })));
    store.reset_user("ada", None).await?;

    // History: newest first, the newest 50 per user kept, other users untouched.
    let at = |n: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(n);
    let op = crate::CycleOperation::new("create", Some(Side::Mailbox), None, "new in crm", "applied");
    let many: Vec<crate::CycleOperation> = vec![op; crate::MAX_CYCLE_OPERATIONS + 7];
    let bob = CycleRecord::new("bob", ObjectKind::Event, at(0), at(1), true, "ok", crate::CycleCounts::default());
    store.record_cycle(&bob).await?;
    for n in 0..60 {
        let counts = crate::CycleCounts::new(n as usize, 0, 0, 0, 0);
        let record = CycleRecord::new("ada", ObjectKind::Contact, at(n), at(n + 1), false, "ok", counts)
            .with_operations(many.clone());
        store.record_cycle(&record).await?;
    }
    let kept = store.cycles("ada", 1_000).await?;
    assert_eq!(kept.len(), crate::CYCLES_KEPT_PER_USER);
    assert_eq!(kept[0].counts.creates, 59);
    assert_eq!(kept[49].counts.creates, 10);
    assert_eq!(kept[0].operations.len(), crate::MAX_CYCLE_OPERATIONS);
    assert_eq!(kept[0].operations_omitted, 7);
    assert_eq!(store.cycles("bob", 10).await?, vec![bob]);
    assert_eq!(store.users().await?, vec!["ada".to_owned(), "bob".to_owned()]);
    discard(store, &dir).await?;
    Ok(())
}

#[tokio::test]
async fn pairs_by_record_uses_the_index() -> Result<(), StoreError> {
    let store = SqliteStore::in_memory().await?;
    for (side, index) in [(Side::Crm, "pairs_by_crm_id"), (Side::Mailbox, "pairs_by_mailbox_id")] {
        let sql = format!("EXPLAIN QUERY PLAN {}", pairs_by_record_sql(side, 3));
        let rows = query(AssertSqlSafe(sql))
            .bind("u")
            .bind("contact")
            .bind("a")
            .bind("b")
            .bind("c")
            .fetch_all(&store.pool)
            .await
            .map_err(db("explain"))?;
        let plan: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>("detail").ok()).collect();
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{side}: {plan}");
        assert!(!plan.contains("SCAN pairs"), "{side}: {plan}");
    }
    Ok(())
}

fn intent(user: &str, key: &str) -> Result<Intent, StoreError> {
    Ok(Intent {
        user: user.to_owned(),
        object: ObjectKind::Contact,
        key: key.to_owned(),
        target: Side::Mailbox,
        operation: crate::JournalJson::to_json(&serde_json::json!({ "op": "create", "key": key }))
            .map_err(|e| StoreError::Invalid(e.to_string()))?,
        created_at: Utc::now(),
    })
}

/// Starts `record_intents` for each user's intents while this test holds the write turn, and
/// waits until all of them are queued; releasing the turn lets one writer carry them all.
async fn queue_behind_a_held_turn(
    store: &SqliteStore,
    batches: Vec<Vec<Intent>>,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let turn = store.write_turns.wait().await;
    let n = batches.len();
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|intents| {
            let store = store.clone();
            tokio::spawn(async move { store.record_intents(&intents).await })
        })
        .collect();
    for _ in 0..10_000 {
        if store.journal_queue.queued.lock().map(|q| q.len()).unwrap_or(0) == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(store.journal_queue.queued.lock().map(|q| q.len()).unwrap_or(0), n, "every writer queued");
    drop(turn);
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(task.await.map_err(|e| StoreError::Database(e.to_string()))?);
    }
    Ok(out)
}

#[tokio::test]
async fn journal_writes_queued_together_share_one_transaction_and_all_become_durable() -> Result<(), StoreError> {
    let dir = std::env::temp_dir().join(format!("tandem-store-group-{}", std::process::id()));
    let store = SqliteStore::open(dir.join("state.db")).await?;
    let users = ["ada", "bob", "cy", "dee", "eve"];
    let batches: Vec<Vec<Intent>> = users
        .iter()
        .map(|u| (0..3).map(|i| intent(u, &format!("tdm-{u}-{i}"))).collect::<Result<_, _>>())
        .collect::<Result<_, _>>()?;
    let results = queue_behind_a_held_turn(&store, batches).await?;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(store.journal_queue.joint.load(std::sync::atomic::Ordering::Relaxed), 1, "one joint transaction");
    for u in users {
        let keys: Vec<String> = store.pending_intents(u).await?.into_iter().map(|i| i.key).collect();
        assert_eq!(keys, (0..3).map(|i| format!("tdm-{u}-{i}")).collect::<Vec<_>>(), "{u}");
    }
    discard(store, &dir).await?;
    Ok(())
}

#[tokio::test]
async fn one_callers_failing_intents_fail_only_that_caller() -> Result<(), StoreError> {
    let store = SqliteStore::in_memory().await?;
    // Stands in for whatever makes one caller's rows fail (a constraint, a bad row).
    query(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON journal WHEN NEW.intent_key = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .execute(&store.pool)
    .await
    .map_err(db("trigger"))?;
    let batches = vec![
        vec![intent("ada", "tdm-a1")?, intent("ada", "tdm-a2")?],
        vec![intent("bob", "tdm-b1")?, intent("bob", "poison")?],
        vec![intent("cy", "tdm-c1")?],
    ];
    let results = queue_behind_a_held_turn(&store, batches).await?;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(results[1].is_err(), "the poisoned caller fails");
    assert_eq!(store.journal_queue.joint.load(std::sync::atomic::Ordering::Relaxed), 1);
    let keys = |intents: Vec<Intent>| intents.into_iter().map(|i| i.key).collect::<Vec<_>>();
    assert_eq!(keys(store.pending_intents("ada").await?), ["tdm-a1", "tdm-a2"]);
    assert_eq!(keys(store.pending_intents("bob").await?), Vec::<String>::new(), "none of the failed caller's");
    assert_eq!(keys(store.pending_intents("cy").await?), ["tdm-c1"]);
    Ok(())
}
