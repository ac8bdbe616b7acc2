//! `tandem run` end to end: the real binary with `memory` connections and a one-second interval,
//! its `/healthz` and `/metrics` on a free loopback port, JSON logs, and a SIGTERM that stops it
//! with exit 0 leaving the store synced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tandem");
const USER: &str = "ann@contoso.example";
const CANARY: &str = "CANARY-admin-token-7f3a";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn config(port: u16, web: &str) -> String {
    format!(
        r#"
[store]
sqlite = "state.db"

[connections.crm]
provider = "memory"
contacts = [
  {{ given_name = "Ada", family_name = "Lovelace", email = "ada@example.com" }},
  {{ given_name = "Grace", family_name = "Hopper", email = "grace@example.com" }},
]

[connections.mbx]
provider = "memory"

[[configurations]]
name = "sales"

[[users]]
user = "{USER}"
configuration = "sales"
crm = "crm"
mailbox = "mbx"

[schedule]
interval = "1s"
jitter = 0.0
concurrency = 2

[web]
listen = "127.0.0.1:{port}"
{web}

[log]
format = "json"
level = "info"
"#
    )
}

fn tandem(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("TANDEM_CONFIG")
        .env("TANDEM_TEST_ADMIN_TOKEN", CANARY);
    c
}

/// `GET path` on loopback: the status code and the body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((code, body))
}

/// The value of the sample `series` (name and labels as rendered).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

fn wait_until<T>(what: &str, child: &mut Child, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("tandem run exited ({status}) while waiting for {what}");
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tandem run did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_serves_health_and_metrics_and_stops_on_sigterm() {
    let dir = temp_dir("sigterm");
    let port = free_port();
    let path = dir.join("tandem.toml");
    let web = "enabled = true\nadmin_token = { env = \"TANDEM_TEST_ADMIN_TOKEN\" }";
    std::fs::write(&path, config(port, web)).unwrap();
    let log = dir.join("stderr.log");
    let mut child =
        tandem(&path, &["run"]).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();

    // Healthy, with a cycle behind it.
    let health: Value = wait_until("/healthz", &mut child, || {
        let (code, body) = get(port, "/healthz")?;
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["last_cycle_age_seconds"].is_u64().then_some(v)
    });
    assert_eq!(health["status"], "ok");
    assert_eq!(health["users"], 1);
    assert!(health["uptime_seconds"].is_u64() && health["running_cycles"].is_u64(), "{health}");

    // Cycles are counted and keep coming; the first cycle's creates were counted.
    let first = wait_until("a cycle in /metrics", &mut child, || {
        let (_, text) = get(port, "/metrics")?;
        let n = sample(&text, "tandem_cycles_total{result=\"ok\"}");
        (n >= 1.0).then_some((n, text))
    });
    let text = first.1;
    assert_eq!(sample(&text, "tandem_operations_total{object=\"contact\",kind=\"create\"}"), 2.0, "{text}");
    assert!(sample(&text, "tandem_api_calls_total{provider=\"memory\"}") >= 2.0, "{text}");
    assert_eq!(sample(&text, "tandem_users "), 1.0, "{text}");
    assert!(text.contains("# TYPE tandem_cycle_duration_seconds histogram"), "{text}");
    assert_eq!(sample(&text, "tandem_cycles_total{result=\"error\"}"), 0.0, "{text}");
    wait_until("more cycles", &mut child, || {
        let (_, text) = get(port, "/metrics")?;
        (sample(&text, "tandem_cycles_total{result=\"ok\"}") > first.0).then_some(())
    });

    // The status page is merged in (it answers, whatever its answer to a stranger).
    let (code, _) = get(port, "/login").unwrap();
    assert_ne!(code, 404, "the status page is not served");
    assert_eq!(get(port, "/nope").unwrap().0, 404);

    sigterm(&child);
    let status = wait_exit(&mut child);
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(CANARY), "the admin token reached the log");

    // JSON logs carry the user, the object and the cycle's result.
    let lines: Vec<Value> = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let cycle = lines
        .iter()
        .find(|l| l["fields"]["message"] == "cycle done")
        .unwrap_or_else(|| panic!("no `cycle done` line: {stderr}"));
    assert_eq!(cycle["fields"]["user"], USER, "{cycle}");
    assert_eq!(cycle["fields"]["result"], "ok", "{cycle}");
    let object = lines
        .iter()
        .find(|l| l["fields"]["message"] == "object synced" && l["fields"]["created"] == 2)
        .unwrap_or_else(|| panic!("no `object synced` line with the creates: {stderr}"));
    assert_eq!(object["fields"]["object"], "contact", "{object}");
    assert_eq!(object["fields"]["user"], USER, "{object}");

    // The store: synced, no failure, and the two contacts created in the mailbox (audit log).
    let o = tandem(&path, &["status", "--json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status[0]["synced"], true, "{status}");
    assert_eq!(status[0]["consecutive_failures"], 0, "{status}");
    assert_eq!(status[0]["last_cycle_ok"], true, "{status}");
    let o = tandem(&path, &["audit", "export", "--user", USER]).output().unwrap();
    let created = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == "create" && e["outcome"] == "applied" && e["side"] == "mailbox")
        .count();
    assert_eq!(created, 2, "{}", String::from_utf8_lossy(&o.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_status_page_is_refused_on_a_remote_address_without_allow_remote() {
    let dir = temp_dir("remote");
    let path = dir.join("tandem.toml");
    let text = config(free_port(), "enabled = true\nadmin_token = { env = \"TANDEM_TEST_ADMIN_TOKEN\" }")
        .replace("listen = \"127.0.0.1:", "listen = \"0.0.0.0:");
    std::fs::write(&path, text).unwrap();
    let o = tandem(&path, &["run"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("allow_remote"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
