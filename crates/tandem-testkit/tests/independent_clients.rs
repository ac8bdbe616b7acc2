//! The fakes driven by independent client libraries written for the real services (issue 9, "How
//! to keep them faithful"): `simple-salesforce` against the Salesforce fake and Microsoft's
//! `msgraph-core` against the Graph fake, each from a Python script in `clients/`.
//!
//! The libraries live in a virtual environment made by `.ci/clients-setup` (which `.ci/run` calls
//! before the test command). Its python is `TANDEM_CLIENTS_PYTHON`, by default
//! `<repo>/target/clients-venv/bin/python`. When it or the libraries are missing the tests fail
//! under `CI` and otherwise pass with a loud message saying how to install them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tandem_testkit::graph::{GraphFake, GraphFakeConfig};
use tandem_testkit::keys;
use tandem_testkit::salesforce::{FakeConfig, SalesforceFake};

const GRAPH_TENANT: &str = "contoso";
const GRAPH_CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const GRAPH_SECRET: &str = "tandem-independent-client-secret";
const GRAPH_MAILBOX: &str = "ann@contoso.example";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn repo_root() -> PathBuf {
    manifest_dir().join("../..").canonicalize().unwrap()
}

/// The venv's python, or `None` (after failing under `CI`, or printing how to install it).
fn python(modules: &[&str]) -> Option<PathBuf> {
    let python = std::env::var_os("TANDEM_CLIENTS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/clients-venv/bin/python"));
    let problem = if python.exists() {
        let check = format!("import {}", modules.join(", "));
        match Command::new(&python).args(["-c", &check]).output() {
            Ok(out) if out.status.success() => return Some(python),
            Ok(out) => format!("`{check}` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            Err(e) => format!("cannot run {}: {e}", python.display()),
        }
    } else {
        format!("{} does not exist", python.display())
    };
    let message = format!(
        "independent client libraries are not installed ({problem}).\n\
         Install them with `.ci/clients-setup` (a virtualenv at target/clients-venv with pinned \
         simple-salesforce and msgraph-core from PyPI), or point TANDEM_CLIENTS_PYTHON at a python that has them."
    );
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, so this test may not skip: {message}");
    }
    // Written to the process's stderr, not through `eprintln!`, which the test harness captures.
    let _ = writeln!(std::io::stderr(), "\n{bar}\nSKIPPED (not under CI): {message}\n{bar}\n", bar = "!".repeat(100));
    None
}

/// Runs `clients/<script>` with `env`: its summary line, or its whole output when it fails.
fn run_script(python: &Path, script: &str, env: &[(&str, String)]) -> Result<String, String> {
    let path = manifest_dir().join("clients").join(script);
    let started = Instant::now();
    let out = Command::new(python)
        .arg(&path)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        // Loopback only: no proxy may be asked to reach the fakes.
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{script} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}", out.status));
    }
    Ok(format!("{script} ({:.1?}): {}", started.elapsed(), stdout.trim()))
}

/// Runs the script off the runtime's workers (the fakes answer it on them), failing with its output.
async fn run(python: PathBuf, script: &'static str, env: Vec<(&'static str, String)>) {
    match tokio::task::spawn_blocking(move || run_script(&python, script, &env)).await.unwrap() {
        Ok(summary) => println!("{summary}"),
        Err(output) => panic!("{output}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_salesforce_drives_the_salesforce_fake() {
    let Some(python) = python(&["simple_salesforce"]) else { return };
    // Small pages so that `query` answers with a `nextRecordsUrl` and `query_all` follows it.
    let config = FakeConfig { page_size: 3, ..FakeConfig::default() };
    let (fake, server) = SalesforceFake::start_with(config.clone()).await.unwrap();
    let env = vec![
        ("TANDEM_SF_URL", server.base_url()),
        ("TANDEM_SF_CONSUMER_KEY", config.consumer_key.clone()),
        ("TANDEM_SF_USERNAME", config.run_as.clone()),
        ("TANDEM_SF_KEY_FILE", manifest_dir().join("fixtures/keys/test-rsa-key.pem").display().to_string()),
        ("TANDEM_SF_PAGE_SIZE", config.page_size.to_string()),
    ];
    run(python, "salesforce_client.py", env).await;
    // What the library wrote is what the fake holds: the script leaves one marked contact behind.
    let kept: Vec<_> = fake
        .records("Contact")
        .into_iter()
        .filter(|c| c["Tandem_Sync_Id__c"].as_str() == Some("independent-client-upsert"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["LastName"], "Upserted-Again");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgraph_core_drives_the_graph_fake() {
    let Some(python) = python(&["msgraph_core", "httpx"]) else { return };
    let config = GraphFakeConfig { tenant: GRAPH_TENANT.to_owned(), ..GraphFakeConfig::default() };
    let fake = GraphFake::start_with(config).await.unwrap();
    let state = fake.state();
    state.add_mailbox(GRAPH_MAILBOX, "Ann Demo");
    state.register_client_secret(GRAPH_CLIENT_ID, GRAPH_SECRET);
    state.register_certificate(GRAPH_CLIENT_ID, keys::TEST_RSA_CERT_PEM).unwrap();
    let env = vec![
        ("TANDEM_GRAPH_URL", fake.base_url()),
        ("TANDEM_GRAPH_TENANT", GRAPH_TENANT.to_owned()),
        ("TANDEM_GRAPH_CLIENT_ID", GRAPH_CLIENT_ID.to_owned()),
        ("TANDEM_GRAPH_CLIENT_SECRET", GRAPH_SECRET.to_owned()),
        ("TANDEM_GRAPH_MAILBOX", GRAPH_MAILBOX.to_owned()),
    ];
    run(python, "graph_client.py", env).await;
    // The script leaves its folder's marked contact and its event behind.
    let contacts = state.contacts(GRAPH_MAILBOX);
    assert!(contacts.iter().any(|c| c["givenName"] == "Kept" && c["surname"] == "Client"), "{contacts:?}");
    assert!(state.events(GRAPH_MAILBOX).iter().any(|e| e["subject"] == "Independent client review"));
    fake.shutdown().await.unwrap();
}
