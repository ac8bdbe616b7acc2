//! Many workers: three `tandem run` processes (the real binary) sharing one PostgreSQL store,
//! syncing twelve users against the Salesforce and Graph fakes started in this process on
//! loopback. One worker is killed with SIGKILL in the middle of a cycle. Checked: every user is
//! synced (also after the kill: the dead worker's claims were released), no two cycles of one
//! user overlap (the store's cycle history), and nothing is duplicated (the fakes hold exactly
//! the seeded contacts, once per mailbox).
//!
//! Needs `TANDEM_TEST_POSTGRES_URL` (`.ci/postgres-setup`); the test works in a schema of its own,
//! dropped at its end. Without the variable it says loudly that it is skipped, except under CI
//! (`CI` set), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tandem_store::{PgStore, StateStore};
use tandem_testkit::graph::GraphFake;
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;

const BIN: &str = env!("CARGO_BIN_EXE_tandem");
const URL_VAR: &str = "TANDEM_TEST_POSTGRES_URL";
const GRAPH_CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const USERS: usize = 12;
const CONTACTS_PER_USER: usize = 2;
const WORKERS: usize = 3;

fn server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI is set, so the many-workers test may not skip, and {URL_VAR} is not set: source \
             .ci/postgres-setup (as .ci/run does) or point {URL_VAR} at a server"
        ),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "\n{bar}\nSKIPPED (not under CI): the many-workers test, because {URL_VAR} is not set.\n\
                 Run `.ci/postgres-setup` and export the URL it prints to run it.\n{bar}\n",
                bar = "!".repeat(100)
            );
            None
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-workers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn user(i: usize) -> String {
    format!("user{i:02}@contoso.example")
}

/// `GET /healthz` of a worker, as JSON.
fn healthz(port: u16) -> Option<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    serde_json::from_str(&body).ok()
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The URL with `search_path` set to `schema` (as docs/operations.md tells administrators).
fn url_in(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

fn config(dir: &Path, port: u16, sf: &str, ck: &str, tenant: &str, authority: &str, graph_base: &str) -> PathBuf {
    let mut text = format!(
        r#"
[store]
postgres = {{ env = "TANDEM_DATABASE_URL" }}

[policy.endpoints]
allow_loopback_http = true

[connections.salesforce]
provider = "salesforce"
login_url = "{sf}"
consumer_key = "{ck}"
private_key = {{ file = "key.pem" }}

[connections.m365]
provider = "graph"
tenant = "{tenant}"
client_id = "{GRAPH_CLIENT}"
certificate = {{ file = "cert.pem" }}
private_key = {{ file = "key.pem" }}
authority = "{authority}"
graph_base = "{graph_base}"

[[configurations]]
name = "sales"

[schedule]
interval = "1s"
jitter = 0.2
concurrency = 2

[web]
listen = "127.0.0.1:{port}"

[log]
format = "json"
level = "info"
"#
    );
    for i in 0..USERS {
        text.push_str(&format!(
            "\n[[users]]\nuser = \"{u}\"\nconfiguration = \"sales\"\ncrm = \"salesforce\"\nmailbox = \"m365\"\n\
             crm_user = \"{u}\"\n",
            u = user(i)
        ));
    }
    let path = dir.join(format!("tandem-{port}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The workers and their ports; any still running when the test ends (a failure) is killed.
struct Workers(Vec<(Child, u16)>);

impl Drop for Workers {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// One sync of one user: from its cycle records (one per object, sharing `started_at`).
#[derive(Debug, Clone, Copy)]
struct Sync {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    ok: bool,
}

async fn syncs(store: &PgStore, user: &str) -> Vec<Sync> {
    let mut by_start: BTreeMap<DateTime<Utc>, Sync> = BTreeMap::new();
    for c in store.cycles(user, 1_000).await.unwrap() {
        assert!(!c.dry_run);
        let s = by_start.entry(c.started_at).or_insert(Sync { start: c.started_at, end: c.finished_at, ok: true });
        s.end = s.end.max(c.finished_at);
        s.ok &= c.is_ok();
    }
    by_start.into_values().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_share_the_users_and_survive_one_killed_mid_cycle() {
    let Some(url) = server_url() else { return };
    let begun = Instant::now();

    // A schema of its own.
    let admin = PgPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
    let schema = format!("tandem_w_{}_{}", std::process::id(), Utc::now().timestamp_nanos_opt().unwrap_or_default());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.unwrap();
    let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
    let store =
        PgStore::from_pool(PgPoolOptions::new().max_connections(2).connect_with(options).await.unwrap()).await.unwrap();

    // The fakes: one Salesforce user per mailbox, each owning its contacts.
    let (org, org_server) = SalesforceFake::start().await.unwrap();
    let graph = GraphFake::start().await.unwrap();
    let state = graph.state();
    state.register_certificate(GRAPH_CLIENT, keys::TEST_RSA_CERT_PEM).unwrap();
    for i in 0..USERS {
        let u = user(i);
        state.add_mailbox(&u, &format!("User {i}"));
        let id = org.add_user(&u, "User", &format!("N{i}"), "Europe/London");
        for c in 0..CONTACTS_PER_USER {
            org.insert(
                "Contact",
                json!({ "FirstName": format!("C{c}"), "LastName": format!("Of{i}"),
                        "Email": format!("c{c}.u{i}@example.com"), "OwnerId": id }),
            )
            .unwrap();
        }
    }
    // Slow enough that a cycle is caught in flight.
    graph.controls().set_latency(Duration::from_millis(40));

    let dir = temp_dir("three");
    std::fs::write(dir.join("key.pem"), keys::TEST_RSA_KEY_PEM).unwrap();
    std::fs::write(dir.join("cert.pem"), keys::TEST_RSA_CERT_PEM).unwrap();
    let mut workers = Workers(Vec::new());
    let mut configs = Vec::new();
    for w in 0..WORKERS {
        let port = free_port();
        let path = config(
            &dir,
            port,
            &org_server.base_url(),
            &org.config().consumer_key,
            &state.config().tenant,
            &graph.base_url(),
            &graph.graph_url(),
        );
        configs.push(path.clone());
        let log = std::fs::File::create(dir.join(format!("worker{w}.log"))).unwrap();
        let child = Command::new(BIN)
            .args(["run", "--shutdown-timeout", "20s", "--config"])
            .arg(&path)
            .env_remove("RUST_LOG")
            .env_remove("TANDEM_CONFIG")
            .env("TANDEM_DATABASE_URL", url_in(&url, &schema))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        workers.0.push((child, port));
    }
    let log_of = |w: usize| std::fs::read_to_string(dir.join(format!("worker{w}.log"))).unwrap_or_default();

    // Kill worker 0 with SIGKILL while it is in a cycle (so it holds a claim).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running = healthz(workers.0[0].1).and_then(|h| h["running_cycles"].as_u64()).unwrap_or(0);
        if running > 0 {
            break;
        }
        if let Some(status) = workers.0[0].0.try_wait().unwrap() {
            panic!("worker 0 exited ({status}): {}", log_of(0));
        }
        assert!(Instant::now() < deadline, "worker 0 never ran a cycle: {}", log_of(0));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    workers.0[0].0.kill().unwrap();
    let killed_at = Utc::now();
    let _ = workers.0[0].0.wait();

    // Every user synced (twice) after the kill, by the two survivors.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut missing = Vec::new();
        for i in 0..USERS {
            if syncs(&store, &user(i)).await.iter().filter(|s| s.ok && s.start > killed_at).count() < 2 {
                missing.push(user(i));
            }
        }
        if missing.is_empty() {
            break;
        }
        for (w, (child, _)) in workers.0.iter_mut().enumerate().skip(1) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("worker {w} exited ({status}): {}", log_of(w));
            }
        }
        assert!(
            Instant::now() < deadline,
            "not synced after the kill: {missing:?}\nworker1: {}\nworker2: {}",
            log_of(1),
            log_of(2)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Stop the survivors gracefully.
    for (child, _) in workers.0.iter().skip(1) {
        let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        assert!(status.success());
    }
    for (w, (child, _)) in workers.0.iter_mut().enumerate().skip(1) {
        let status = wait_exit(child, Duration::from_secs(30)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("worker {w} did not stop: {}", log_of(w))
        });
        assert!(status.success(), "worker {w}: {status}: {}", log_of(w));
    }

    // No two syncs of one user overlapped; every user synced; nothing failed.
    let mut total = 0;
    for i in 0..USERS {
        let u = user(i);
        let list = syncs(&store, &u).await;
        assert!(!list.is_empty(), "{u} never synced");
        for pair in list.windows(2) {
            assert!(pair[1].start >= pair[0].end, "{u}: overlapping syncs {:?} and {:?}", pair[0], pair[1]);
        }
        total += list.len();
        let status = store.status(&u).await.unwrap().unwrap();
        assert_eq!(status.consecutive_failures, 0, "{u}: {:?}", status.last_error);
    }
    // The survivors shared the users.
    for w in 1..WORKERS {
        assert!(log_of(w).contains("\"cycle done\""), "worker {w} ran no cycle: {}", log_of(w));
    }

    // Nothing duplicated: each mailbox holds exactly its owner's contacts; Salesforce the seeded.
    for i in 0..USERS {
        let contacts = state.contacts(&user(i));
        assert_eq!(contacts.len(), CONTACTS_PER_USER, "{}: {contacts:?}", user(i));
    }
    assert_eq!(org.count("Contact"), USERS * CONTACTS_PER_USER);

    // `tandem sync` by hand: a user whose cycle runs elsewhere (here: claimed by this test) is
    // reported busy, exit 8; once free it syncs.
    let sync = |config: PathBuf, database: String| {
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(["sync", "--json", "--user", &user(0), "--config"])
                .arg(config)
                .env_remove("RUST_LOG")
                .env_remove("TANDEM_CONFIG")
                .env("TANDEM_DATABASE_URL", database)
                .output()
                .unwrap()
        })
    };
    let claim = tandem_store::Claims::try_claim(&store, &user(0)).await.unwrap().expect("free after the workers");
    let o = sync(configs[1].clone(), url_in(&url, &schema)).await.unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(8), "{out}{}", String::from_utf8_lossy(&o.stderr));
    let outcomes: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcomes[0]["busy"], true, "{out}");
    assert_eq!(outcomes[0]["ok"], false, "{out}");
    claim.release().await.unwrap();
    let o = sync(configs[1].clone(), url_in(&url, &schema)).await.unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(state.contacts(&user(0)).len(), CONTACTS_PER_USER);

    eprintln!("many workers: {total} syncs of {USERS} users in {:.1}s", begun.elapsed().as_secs_f64());
    store.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&admin).await;
    admin.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
