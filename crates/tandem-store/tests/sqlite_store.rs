//! `SqliteStore`: the conformance suite (`tests/conformance`, every behaviour of the
//! `StateStore` trait, shared with PostgreSQL) on a database file, and what is SQLite's own:
//! files, WAL, migrations of older files, corrupt rows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod conformance;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use conformance::{
    ADA, BOB, Backend, CONTACT, EVENT, TestResult, commit, fill, held, pair, pair_for, t, unresolved_entry, upserts,
};
use tandem_core::fields::FieldKey;
use tandem_store::{CycleCommit, SCHEMA_VERSION, SqliteStore, StateStore, StoreError};

/// A fresh database file in its own directory; a second store opens the same file.
struct Sqlite {
    path: PathBuf,
    dir: PathBuf,
    store: Arc<SqliteStore>,
    others: std::sync::Mutex<Vec<Arc<SqliteStore>>>,
}

async fn sqlite() -> Result<Option<Sqlite>, Box<dyn std::error::Error>> {
    let (path, dir) = temp_db("conformance");
    let store = Arc::new(SqliteStore::open(&path).await?);
    Ok(Some(Sqlite { path, dir, store, others: std::sync::Mutex::default() }))
}

impl Sqlite {
    async fn finish(self) {
        let others: Vec<Arc<SqliteStore>> = self.others.lock().map(|mut o| o.drain(..).collect()).unwrap_or_default();
        for store in others.iter().chain([&self.store]) {
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[async_trait::async_trait]
impl Backend for Sqlite {
    fn store(&self) -> Arc<dyn StateStore> {
        self.store.clone()
    }

    async fn another(&self) -> Result<Arc<dyn StateStore>, StoreError> {
        let store = Arc::new(SqliteStore::open(&self.path).await?);
        if let Ok(mut others) = self.others.lock() {
            others.push(store.clone());
        }
        Ok(store)
    }

    fn claims(&self) -> Arc<dyn tandem_store::Claims> {
        self.store.clone()
    }
}

conformance_tests!(sqlite);

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
            "DROP TABLE feed_inbox",
            "DROP TABLE feed_members",
            "DROP TABLE feeds",
        ] {
            sqlx::query(undo).execute(&mut conn).await?;
        }
        sqlx::query("DELETE FROM schema_version WHERE version >= 4").execute(&mut conn).await?;
        sqlx::Connection::close(conn).await?;
    }
    let store = SqliteStore::open(&path).await?;
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
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
