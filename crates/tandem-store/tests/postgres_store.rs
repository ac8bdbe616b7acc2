//! `PgStore`: the conformance suite (`tests/conformance`, every behaviour of the `StateStore`
//! trait, shared with SQLite), and what is PostgreSQL's own: migrations, refusing a newer
//! schema, keeping the URL secret.
//!
//! Needs a server: `TANDEM_TEST_POSTGRES_URL`, e.g. `postgres://tandem@127.0.0.1:5432/tandem_test`
//! (`.ci/postgres-setup` starts a throwaway one and sets it). Each test works in a schema of its
//! own (`tandem_t_…`, through the connections' `search_path`), dropped at its end. Without the
//! variable the tests say loudly that they are skipped and pass, except under CI (`CI` set),
//! where they fail.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod conformance;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use conformance::{ADA, Backend, CONTACT, TestResult, fill, held, pair};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tandem_store::{PgStore, SCHEMA_VERSION, StateStore, StoreError};

const URL_VAR: &str = "TANDEM_TEST_POSTGRES_URL";

/// The server's URL, `None` to skip (said loudly, once per run, on the real stderr, which the
/// test harness does not capture), an error under CI.
fn server_url() -> Result<Option<String>, Box<dyn std::error::Error>> {
    static SAID: std::sync::Once = std::sync::Once::new();
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Ok(Some(url)),
        _ if std::env::var_os("CI").is_some() => Err(format!(
            "CI is set, so the PostgreSQL store tests may not skip, and {URL_VAR} is not set: \
             source .ci/postgres-setup (as .ci/run does) or point {URL_VAR} at a server"
        )
        .into()),
        _ => {
            SAID.call_once(|| {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n{bar}\nSKIPPED (not under CI): the PostgreSQL store tests, because {URL_VAR} is not \
                     set.\nRun `.ci/postgres-setup` and export the URL it prints to run them.\n{bar}\n",
                    bar = "!".repeat(100)
                );
            });
            Ok(None)
        }
    }
}

/// A pool whose connections work in `schema`.
async fn pool_in(url: &str, schema: &str, max: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.options([("search_path", schema)]);
    PgPoolOptions::new().max_connections(max).connect_with(options).await
}

/// A schema of its own for one test, on the server of `TANDEM_TEST_POSTGRES_URL`.
struct Pg {
    url: String,
    schema: String,
    admin: PgPool,
    store: Arc<PgStore>,
    others: std::sync::Mutex<Vec<Arc<PgStore>>>,
}

async fn fresh_schema(admin: &PgPool) -> Result<String, sqlx::Error> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let schema = format!(
        "tandem_t_{}_{}_{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(admin).await?;
    Ok(schema)
}

async fn postgres() -> Result<Option<Pg>, Box<dyn std::error::Error>> {
    let Some(url) = server_url()? else { return Ok(None) };
    let admin = PgPoolOptions::new().max_connections(1).connect(&url).await?;
    let schema = fresh_schema(&admin).await?;
    let store = Arc::new(PgStore::from_pool(pool_in(&url, &schema, 8).await?).await?);
    Ok(Some(Pg { url, schema, admin, store, others: std::sync::Mutex::default() }))
}

impl Pg {
    async fn finish(self) {
        let others: Vec<Arc<PgStore>> = self.others.lock().map(|mut o| o.drain(..).collect()).unwrap_or_default();
        for store in others.iter().chain([&self.store]) {
            store.close().await;
        }
        drop_schema(&self.admin, &self.schema).await;
        self.admin.close().await;
    }
}

async fn drop_schema(admin: &PgPool, schema: &str) {
    let drop = format!("DROP SCHEMA {schema} CASCADE");
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(admin).await {
        eprintln!("could not drop test schema {schema}: {e}");
    }
}

#[async_trait::async_trait]
impl Backend for Pg {
    fn store(&self) -> Arc<dyn StateStore> {
        self.store.clone()
    }

    async fn another(&self) -> Result<Arc<dyn StateStore>, StoreError> {
        let pool = pool_in(&self.url, &self.schema, 8).await.map_err(|e| StoreError::Database(e.to_string()))?;
        let store = Arc::new(PgStore::from_pool(pool).await?);
        if let Ok(mut others) = self.others.lock() {
            others.push(store.clone());
        }
        Ok(store)
    }

    fn claims(&self) -> Arc<dyn tandem_store::Claims> {
        self.store.clone()
    }
}

conformance_tests!(postgres);

/// Migrations run once (one row per version), a second store on a migrated schema changes
/// nothing, and several processes starting at once migrate one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_even_when_stores_start_together() -> TestResult {
    let Some(url) = server_url()? else { return Ok(()) };
    let admin = PgPoolOptions::new().max_connections(1).connect(&url).await?;
    let schema = fresh_schema(&admin).await?;
    let result = async {
        let mut starting = Vec::new();
        for _ in 0..4 {
            let pool = pool_in(&url, &schema, 2).await?;
            starting.push(tokio::spawn(PgStore::from_pool(pool)));
        }
        let mut stores = Vec::new();
        for task in starting {
            stores.push(task.await??);
        }
        assert_eq!(stores[0].schema_version().await?, SCHEMA_VERSION);
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {schema}.schema_version")))
                .fetch_one(&admin)
                .await?;
        assert_eq!(rows, SCHEMA_VERSION);
        fill(&stores[1], ADA, CONTACT).await?;
        assert_eq!(held(&stores[2], ADA, CONTACT).await?, [2, 2, 1, 1, 1]);
        for store in &stores {
            store.close().await;
        }
        // Reopening keeps the data.
        let again = PgStore::from_pool(pool_in(&url, &schema, 2).await?).await?;
        assert_eq!(again.pair(ADA, CONTACT, &pair(1).pair_id).await?, Some(pair(1)));
        again.close().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    drop_schema(&admin, &schema).await;
    result
}

#[tokio::test]
async fn a_database_from_a_newer_tandem_is_refused() -> TestResult {
    let Some(url) = server_url()? else { return Ok(()) };
    let admin = PgPoolOptions::new().max_connections(1).connect(&url).await?;
    let schema = fresh_schema(&admin).await?;
    let result = async {
        PgStore::from_pool(pool_in(&url, &schema, 1).await?).await?.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.schema_version (version, description, applied_at) \
             VALUES ($1, 'from the future', '2030-01-01T00:00:00.000000000Z')"
        )))
        .bind(SCHEMA_VERSION + 1)
        .execute(&admin)
        .await?;
        let err = PgStore::from_pool(pool_in(&url, &schema, 1).await?).await.expect_err("must refuse a newer schema");
        assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
        assert!(err.to_string().contains("newer"), "{err}");
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    drop_schema(&admin, &schema).await;
    result
}

/// A stored row PostgreSQL accepts but Tandem cannot read is reported as corrupt, naming it.
#[tokio::test]
async fn an_undecodable_row_is_reported_as_corrupt_naming_the_pair() -> TestResult {
    let Some(backend) = postgres().await? else { return Ok(()) };
    let result = async {
        let store = backend.store();
        fill(&*store, ADA, CONTACT).await?;
        let p = pair(1);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {}.pairs SET mailbox_fields = '{{\"given_name\": 12}}' WHERE pair_id = $1",
            backend.schema
        )))
        .bind(p.pair_id.as_str())
        .execute(&backend.admin)
        .await?;
        let err = store.pair(ADA, CONTACT, &p.pair_id).await.expect_err("corrupt row");
        let StoreError::Corrupt { what, detail } = &err else { panic!("expected Corrupt, got {err:?}") };
        assert!(what.contains(p.pair_id.as_str()), "{what}");
        assert!(detail.contains("mailbox_fields"), "{detail}");
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    backend.finish().await;
    result
}

/// The URL can carry a password: neither an error about it nor the store's `Debug` shows it.
#[tokio::test]
async fn the_url_never_shows_in_errors_or_debug() -> TestResult {
    let secret = "s3cr3t-pa55";
    let bad = format!("postgres://tandem:{secret}@127.0.0.1:notaport/db");
    let err = PgStore::connect(&bad).await.expect_err("bad URL");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(secret), "{err:?}");
    let unknown = format!("postgres://tandem:{secret}@127.0.0.1/db?sslmode=sometimes");
    let err = PgStore::connect(&unknown).await.expect_err("bad sslmode");
    assert!(!format!("{err} {err:?}").contains(secret), "{err:?}");

    let Some(backend) = postgres().await? else { return Ok(()) };
    let debug = format!("{:?}", backend.store);
    backend.finish().await;
    assert!(debug.starts_with("PgStore"), "{debug}");
    assert!(!debug.contains("127.0.0.1") && !debug.contains("postgres://"), "{debug}");
    Ok(())
}

/// Every text column that is compared or sorted uses the "C" collation (byte order, as SQLite),
/// whatever the database's default: the tests' server is created with locale C, so the
/// conformance suite alone would not notice a column without it.
#[tokio::test]
async fn compared_text_columns_sort_by_bytes() -> TestResult {
    let Some(backend) = postgres().await? else { return Ok(()) };
    let result = async {
        let loose: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND data_type = 'text' AND collation_name IS DISTINCT FROM 'C' \
             AND column_name NOT IN ('crm_version', 'mailbox_version', 'crm_fields', 'mailbox_fields', \
             'reason', 'last_error', 'action', 'outcome', 'description', 'field', 'detail', 'approved_by') \
             ORDER BY 1, 2",
        )
        .bind(&backend.schema)
        .fetch_all(&backend.admin)
        .await?;
        assert!(loose.is_empty(), "text columns without COLLATE \"C\": {loose:?}");
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    backend.finish().await;
    result
}

/// Two workers (two stores, two pools on one schema): a claim held by one is refused to the
/// other until released; claims in another schema (another deployment) are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_held_by_one_worker_blocks_another() -> TestResult {
    use tandem_store::Claims;
    let Some(backend) = postgres().await? else { return Ok(()) };
    let result = async {
        let a = backend.store.clone();
        let b = PgStore::from_pool(pool_in(&backend.url, &backend.schema, 2).await?).await?;
        let held = a.try_claim(ADA).await?.expect("free");
        assert!(b.try_claim(ADA).await?.is_none(), "held by worker A");
        let bob = b.try_claim("bob@example.com").await?.expect("another user is free for B");
        assert!(a.try_claim("bob@example.com").await?.is_none(), "held by worker B");
        // Another schema is another deployment: its claims are its own.
        let schema = fresh_schema(&backend.admin).await?;
        let other = PgStore::from_pool(pool_in(&backend.url, &schema, 1).await?).await?;
        other.try_claim(ADA).await?.expect("another schema does not see A's claim").release().await?;
        other.close().await;
        drop_schema(&backend.admin, &schema).await;
        held.release().await?;
        b.try_claim(ADA).await?.expect("released by A, free for B").release().await?;
        bob.release().await?;
        b.close().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    backend.finish().await;
    result
}

/// A worker that dies: its claim's connection ends (the server terminates the session, as it
/// does when the client's socket closes or its keepalives go unanswered), and the claim is free
/// for the other workers at once; the holder's late release says the claim was lost. Dropping
/// a worker's store and claim (its process ending) frees its claims too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_worker_s_claims_are_released_by_the_server() -> TestResult {
    use tandem_store::Claims;
    let Some(backend) = postgres().await? else { return Ok(()) };
    let result = async {
        let a = PgStore::from_pool(pool_in(&backend.url, &backend.schema, 2).await?).await?;
        let b = backend.store.clone();
        let held = a.try_claim(ADA).await?.expect("free");
        assert!(b.try_claim(ADA).await?.is_none());
        assert!(held.is_held().await, "a live claim is held");
        // The session holding ADA's lock in this schema (the key is the store's: see claims.rs).
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
             WHERE l.locktype = 'advisory' AND l.granted AND l.database = \
               (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND ((l.classid::bigint << 32) | l.objid::bigint) = \
               hashtextextended('tandem-claim:' || $1 || ':' || $2, 0)",
        )
        .bind(&backend.schema)
        .bind(ADA)
        .fetch_all(&backend.admin)
        .await?;
        assert_eq!(killed, vec![true], "exactly one session holds the claim");
        wait_for_claim(&b, ADA).await?;
        // The fence a worker checks before writing or committing says so.
        assert!(!held.is_held().await, "a terminated session's claim is lost");
        let err = held.release().await.expect_err("the claim was lost with its connection");
        assert!(err.to_string().contains("claim"), "{err}");

        // The process ending: its store and claims dropped without a word.
        let held = a.try_claim(ADA).await?.expect("free again");
        assert!(b.try_claim(ADA).await?.is_none());
        drop(held);
        drop(a);
        wait_for_claim(&b, ADA).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    backend.finish().await;
    result
}

/// Claims `user` (then releases it) within 10 s, or fails.
async fn wait_for_claim(store: &PgStore, user: &str) -> TestResult {
    use tandem_store::Claims;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(claim) = store.try_claim(user).await? {
            claim.release().await?;
            return Ok(());
        }
        assert!(std::time::Instant::now() < deadline, "the dead worker's claim was still held after 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
