//! `TANDEM_SCALE_WORKERS=N`: the timed cycle runs in N worker processes sharing one PostgreSQL
//! store, as N `tandem run` processes on several machines would.
//!
//! The state lives in a schema of its own (`tandem_scale_<pid>`, dropped at the end) on the
//! server of `TANDEM_TEST_POSTGRES_URL` (`source .ci/postgres-setup` starts one). The first sync
//! runs in this process on that store, as in the SQLite mode. Then this bench binary starts
//! itself N times with the hidden argument `--scale-worker`; each worker signs every user's
//! connectors in (tokens, identities) and then lives for two rounds, as `tandem run` workers
//! live across cycles: the echo cycle (untimed) and the timed one. In each round each worker walks every user, starting at its own offset (worker i at user i·U/N), and for
//! each one: claims it (`Claims::try_claim`; a user another worker holds is skipped), skips it
//! if its last successful cycle is from this round (another worker synced it), otherwise syncs
//! it with the claim as its fence, and releases the claim. At most `TANDEM_SCALE_CONCURRENCY`
//! users at once per worker. The round ends when every worker has walked every user; the bench
//! checks that every user was synced exactly once.
//!
//! Each worker reports the users it synced, the records it wrote, its CPU time and its peak
//! RSS on one line of standard output, which the bench sums (CPU) or takes the maximum of (RSS).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tandem::policy::Policy;
use tandem_engine::{Engine, Fence, SyncOptions, SystemClock, UserSync};
use tandem_store::{Claims, PgStore, StateStore};

/// The hidden argument that makes this binary a worker.
pub(crate) const WORKER_CHILD: &str = "--scale-worker";

/// The variable naming the PostgreSQL server.
const URL_VAR: &str = "TANDEM_TEST_POSTGRES_URL";

/// `TANDEM_SCALE_WORKERS`: the number of worker processes, when set.
pub(crate) fn workers() -> Option<usize> {
    let n = std::env::var("TANDEM_SCALE_WORKERS").ok()?;
    Some(n.trim().parse().ok().filter(|n: &usize| *n > 0).expect("TANDEM_SCALE_WORKERS is a positive number"))
}

fn server_url() -> String {
    std::env::var(URL_VAR)
        .unwrap_or_else(|_| panic!("TANDEM_SCALE_WORKERS needs PostgreSQL: `source .ci/postgres-setup` sets {URL_VAR}"))
}

/// A pool whose connections work in `schema`.
async fn pool_in(url: &str, schema: &str) -> PgPool {
    let options = PgConnectOptions::from_str(url).expect("a PostgreSQL URL").options([("search_path", schema)]);
    PgPoolOptions::new().max_connections(16).connect_with(options).await.expect("connecting to PostgreSQL")
}

/// The store in `schema`.
pub(crate) async fn store(schema: &str) -> PgStore {
    PgStore::from_pool(pool_in(&server_url(), schema).await).await.expect("the PostgreSQL store")
}

/// A schema of the bench's own; dropped by [`Schema::drop_now`].
pub(crate) struct Schema {
    pub(crate) name: String,
    admin: PgPool,
}

impl Schema {
    pub(crate) async fn create() -> Schema {
        let admin = PgPoolOptions::new().max_connections(1).connect(&server_url()).await.expect("connecting");
        let name = format!("tandem_scale_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).execute(&admin).await.expect("a schema");
        Schema { name, admin }
    }

    pub(crate) async fn drop_now(self) {
        let drop = format!("DROP SCHEMA {} CASCADE", self.name);
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&self.admin).await {
            eprintln!("could not drop the bench's schema {}: {e}", self.name);
        }
        self.admin.close().await;
    }
}

/// What the workers of one round did, together.
pub(crate) struct Round {
    pub(crate) wall: Duration,
    pub(crate) synced: usize,
    pub(crate) written: usize,
    pub(crate) cpu: Duration,
    pub(crate) peak_rss: u64,
    /// Read, plan, write and commit, in microseconds, summed over the workers' cycles.
    pub(crate) phases: [u64; 4],
    /// Per worker: users synced.
    pub(crate) per_worker: Vec<usize>,
}

/// The worker processes, started once and kept for several rounds, as `tandem run` workers
/// live across cycles (their connectors keep their tokens).
pub(crate) struct Pool {
    workers: Vec<(Child, BufReader<ChildStdout>)>,
}

impl Pool {
    /// Starts `n` workers; `salesforce` and `graph` are the fakes' URLs.
    pub(crate) fn start(n: usize, schema: &str, salesforce: &str, graph: &str, users: usize) -> Pool {
        let exe = std::env::current_exe().expect("this bench's executable");
        let mut workers: Vec<(Child, BufReader<ChildStdout>)> = (0..n)
            .map(|i| {
                let mut child = Command::new(&exe)
                    .arg(WORKER_CHILD)
                    .args([&i.to_string(), &n.to_string(), schema, salesforce, graph, &users.to_string()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("starting a worker");
                let stdout = BufReader::new(child.stdout.take().expect("a worker's stdout"));
                (child, stdout)
            })
            .collect();
        for (_, stdout) in &mut workers {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("reading a worker's first line");
            assert_eq!(line.trim(), "scale-worker ready", "a worker did not start");
        }
        Pool { workers }
    }

    /// One round: every worker walks every user; returns what they did together.
    pub(crate) fn round(&mut self) -> Round {
        let round_start = Utc::now().to_rfc3339();
        let started = Instant::now();
        for (child, _) in &mut self.workers {
            let stdin = child.stdin.as_mut().expect("a worker's stdin");
            writeln!(stdin, "round {round_start}").and_then(|()| stdin.flush()).expect("starting a round");
        }
        let reports: Vec<Value> = self
            .workers
            .iter_mut()
            .map(|(_, stdout)| {
                let mut line = String::new();
                stdout.read_line(&mut line).expect("reading a worker's report");
                let json =
                    line.trim().strip_prefix("scale-worker ").unwrap_or_else(|| panic!("a worker failed: {line:?}"));
                serde_json::from_str(json).expect("a worker's JSON report")
            })
            .collect();
        let wall = started.elapsed();
        let count = |r: &Value, key: &str| r[key].as_u64().unwrap_or_else(|| panic!("{key} in {r}"));
        let mut phases = [0u64; 4];
        for r in &reports {
            for (i, sum) in phases.iter_mut().enumerate() {
                *sum += r["phases"][i].as_u64().unwrap_or(0);
            }
        }
        Round {
            wall,
            synced: reports.iter().map(|r| count(r, "synced") as usize).sum(),
            written: reports.iter().map(|r| count(r, "written") as usize).sum(),
            cpu: Duration::from_millis(reports.iter().map(|r| count(r, "cpu_ms")).sum()),
            peak_rss: reports.iter().map(|r| count(r, "peak_rss")).max().unwrap_or(0),
            phases,
            per_worker: reports.iter().map(|r| count(r, "synced") as usize).collect(),
        }
    }
}

impl Drop for Pool {
    /// Closing a worker's standard input ends it.
    fn drop(&mut self) {
        for (mut child, _) in self.workers.drain(..) {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// One user's outcome in a worker.
enum Outcome {
    /// Synced by this worker: records written and the cycles' phases.
    Synced(usize, [u64; 4]),
    /// Held by another worker, or synced by one already this round.
    Elsewhere,
}

/// A worker process: `--scale-worker INDEX COUNT SCHEMA SALESFORCE GRAPH USERS`; then one round
/// per line `round START` on standard input (the round's start, RFC 3339), each answered by one
/// report line; standard input's end ends it.
pub(crate) fn child(args: &[String]) {
    let [index, count, schema, salesforce, graph, users] = args else {
        panic!("usage: {WORKER_CHILD} INDEX COUNT SCHEMA SALESFORCE GRAPH USERS")
    };
    let (index, count, users): (usize, usize, usize) =
        (index.parse().unwrap(), count.parse().unwrap(), users.parse().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let store = Arc::new(rt.block_on(store(schema)));
    let options = super::engine_options();
    let engine =
        Engine::with(store.clone(), Arc::new(SystemClock), options).with_policy(Arc::new(Policy::for_loopback_tests()));
    let http = super::http_client();
    let batcher = super::shared_batch();
    // Worker i starts its walk at user i·U/N, so the workers begin on different users.
    let jobs: Vec<UserSync> = (0..users)
        .map(|k| super::job(salesforce, graph, &http, batcher.as_ref(), (k + index * users / count) % users))
        .collect();
    // Every connector signs in once before the first round (tokens and identities), as a
    // long-running worker's have: the rounds then run against the fakes' moved clock, which a
    // fresh Salesforce JWT assertion (signed on this machine's clock) would not pass.
    rt.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(16));
        let mut tasks = tokio::task::JoinSet::new();
        for job in &jobs {
            let (job, limit) = (job.clone(), Arc::clone(&limit));
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("the semaphore stays open");
                job.crm.identity().await.unwrap_or_else(|e| panic!("signing in {}: {e}", job.user));
                job.mailbox.identity().await.unwrap_or_else(|e| panic!("signing in {}: {e}", job.user));
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.expect("a sign-in task");
        }
    });
    println!("scale-worker ready");
    for line in std::io::stdin().lines() {
        let line = line.expect("reading a round");
        let start = line.strip_prefix("round ").expect("a round line");
        let round_start: DateTime<Utc> = DateTime::parse_from_rfc3339(start).unwrap().with_timezone(&Utc);
        let cpu_before = super::cpu_time();
        super::support::reset_peak_rss();
        let (synced, written, phases) = rt.block_on(walk(&engine, &store, &jobs, round_start));
        let report = json!({
            "synced": synced,
            "written": written,
            "cpu_ms": super::cpu_time().saturating_sub(cpu_before).as_millis() as u64,
            "peak_rss": super::support::proc_status_bytes("VmHWM"),
            "phases": phases,
        });
        println!("scale-worker {report}");
    }
    rt.block_on(store.close());
}

/// One round of one worker: every user it can claim and nobody synced since `round_start`.
/// Returns the users synced, the records written and the cycles' phases.
async fn walk(
    engine: &Engine,
    store: &Arc<PgStore>,
    jobs: &[UserSync],
    round_start: DateTime<Utc>,
) -> (usize, usize, [u64; 4]) {
    let limit = Arc::new(tokio::sync::Semaphore::new(super::concurrency()));
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let (engine, store, limit, job) = (engine.clone(), Arc::clone(store), Arc::clone(&limit), job.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("the semaphore stays open");
            let Some(claim) = store.try_claim(&job.user).await.expect("claiming a user") else {
                return Outcome::Elsewhere;
            };
            let status = store.status(&job.user).await.expect("a user's status");
            if status.and_then(|s| s.last_success_at).is_some_and(|at| at >= round_start) {
                claim.release().await.expect("releasing a claim");
                return Outcome::Elsewhere;
            }
            let claim = Arc::new(claim);
            let fenced = SyncOptions { fence: Some(Arc::clone(&claim) as Arc<dyn Fence>), ..SyncOptions::default() };
            let report = engine.sync_user(&job, &fenced).await.unwrap_or_else(|e| panic!("syncing {}: {e}", job.user));
            drop(fenced);
            if let Ok(claim) = Arc::try_unwrap(claim) {
                claim.release().await.expect("releasing a claim");
            }
            let mut phases = [0u64; 4];
            for o in &report.objects {
                let p = o.phases;
                for (sum, us) in phases.iter_mut().zip([p.read_us, p.plan_us, p.write_us, p.commit_us]) {
                    *sum += us;
                }
            }
            let written = report.objects.iter().map(|o| o.applied("update") + o.applied("create")).sum();
            Outcome::Synced(written, phases)
        });
    }
    let (mut synced, mut written, mut phases) = (0usize, 0usize, [0u64; 4]);
    while let Some(joined) = tasks.join_next().await {
        if let Outcome::Synced(w, p) = joined.expect("a user's task") {
            synced += 1;
            written += w;
            for (sum, us) in phases.iter_mut().zip(p) {
                *sum += us;
            }
        }
    }
    (synced, written, phases)
}
