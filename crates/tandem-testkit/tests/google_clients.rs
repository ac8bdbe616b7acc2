//! The Google fake checked from outside: Google's own Python client (`google-api-python-client`,
//! built from the discovery documents it ships, with `google-auth` service-account credentials and
//! domain-wide delegation) drives Calendar v3 and People v1 (`clients/google_apiclient.py`).
//!
//! It needs the clients virtualenv made by `.ci/clients-setup` (`TANDEM_CLIENTS_PYTHON`, by default
//! `<repo>/target/clients-venv/bin/python`), like `independent_clients.rs` and `ews_clients.rs`:
//! when it or the packages are missing the test fails under `CI` and otherwise passes with a loud
//! message.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tandem_testkit::google::{GoogleFake, SCOPE_CALENDAR, SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS};
use tandem_testkit::keys::{TEST_RSA_CERT_PEM, TEST_RSA_KEY_PEM};

const SA: &str = "apiclient@tandem-test.iam.gserviceaccount.com";
const CLIENT: &str = "100000000000000000001";
const USER: &str = "ann@tandem-test.example";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn repo_root() -> PathBuf {
    manifest_dir().join("../..").canonicalize().unwrap()
}

fn skip_or_fail(message: String) {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, so this test may not skip: {message}");
    }
    let _ = writeln!(std::io::stderr(), "\n{bar}\nSKIPPED (not under CI): {message}\n{bar}\n", bar = "!".repeat(100));
}

/// The venv's python with `modules`, or `None` (after failing under `CI`).
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
    skip_or_fail(format!(
        "the Google client packages are not installed ({problem}).\nInstall them with `.ci/clients-setup` \
         (pinned google-api-python-client and google-auth in target/clients-venv), or point TANDEM_CLIENTS_PYTHON at a \
         python that has them."
    ));
    None
}

fn run_script(python: &Path, script: &str, env: &[(&str, String)]) -> Result<String, String> {
    let out = Command::new(python)
        .arg(manifest_dir().join("clients").join(script))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("GOOGLE_API_USE_CLIENT_CERTIFICATE")
        .env_remove("GOOGLE_API_USE_MTLS_ENDPOINT")
        .env_remove("GOOGLE_CLOUD_UNIVERSE_DOMAIN")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        // The script's notes (skipped calls) belong in the test output either way.
        let _ = writeln!(std::io::stderr(), "{stderr}");
    }
    if out.status.success() {
        Ok(stdout.trim().to_owned())
    } else {
        Err(format!("{script} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}", out.status))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_api_python_client_drives_the_google_fake() {
    let Some(python) = python(&["googleapiclient.discovery", "google.oauth2.service_account", "google_auth_httplib2"])
    else {
        return;
    };
    let (fake, server) = GoogleFake::start().await.unwrap();
    fake.add_service_account(SA, CLIENT, TEST_RSA_CERT_PEM);
    fake.add_user(USER);
    fake.grant_delegation(CLIENT, &[SCOPE_CALENDAR, SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS]);
    // Something to page through: three events (two pages of two) and three contacts.
    let mut seeded_events = Vec::new();
    for n in 1..=3 {
        let id = fake
            .seed_event(
                USER,
                Some(&format!("seeded0000{n}")),
                json!({"summary": format!("Seeded {n}"), "start": {"dateTime": format!("2026-02-0{n}T09:00:00Z")},
                       "end": {"dateTime": format!("2026-02-0{n}T10:00:00Z")}}),
            )
            .unwrap();
        seeded_events.push(id);
    }
    let seeded_contacts: Vec<String> = (1..=3)
        .map(|n| {
            fake.seed_contact(USER, json!({"names": [{"givenName": format!("Seeded{n}"), "familyName": "Person"}]}))
        })
        .collect();
    let env = vec![
        ("TANDEM_GOOGLE_URL", server.url("/")),
        ("TANDEM_GOOGLE_ACCOUNT", SA.to_owned()),
        ("TANDEM_GOOGLE_KEY", TEST_RSA_KEY_PEM.to_owned()),
        ("TANDEM_GOOGLE_USER", USER.to_owned()),
        ("TANDEM_GOOGLE_SEEDED_EVENTS", json!(seeded_events).to_string()),
        ("TANDEM_GOOGLE_SEEDED_CONTACTS", json!(seeded_contacts).to_string()),
    ];
    let summary =
        match tokio::task::spawn_blocking(move || run_script(&python, "google_apiclient.py", &env)).await.unwrap() {
            Ok(summary) => summary,
            Err(output) => panic!("{output}"),
        };
    println!("{summary}");
    let summary: Value = serde_json::from_str(summary.lines().last().unwrap()).unwrap();

    // What the library wrote is what the fake holds.
    let event_id = summary["calendar_event"]["id"].as_str().unwrap();
    let event = fake.event(USER, event_id).expect("event inserted");
    assert_eq!(event["location"], "Room 2", "{event}");
    assert_eq!(event["summary"], "Independent client review", "{event}");
    assert_eq!(event["etag"], summary["calendar_event"]["etag"], "{event}");
    assert_eq!(event["extendedProperties"]["private"]["tandemKey"], "k-1", "{event}");
    let temp = fake.event(USER, "tandemapiclient0002");
    assert!(temp.as_ref().is_none_or(|e| e["status"] == "cancelled"), "{temp:?}");
    // Every write said sendUpdates=none where the script asked for it.
    let sends = fake.send_updates();
    assert!(
        sends.iter().any(|s| s.method == "PATCH" && s.event_id == event_id && s.value.as_deref() == Some("none")),
        "{sends:?}"
    );

    let kept = summary["people"]["kept"].as_str().unwrap();
    let gone = summary["people"]["gone"].as_str().unwrap();
    let person = fake.contact(USER, kept).expect("contact created");
    assert_eq!(person["names"][0]["givenName"], "Kept", "{person}");
    assert_eq!(person["organizations"][0]["title"], "Architect", "{person}");
    assert_eq!(person["clientData"][0]["value"], "c-1", "{person}");
    assert!(fake.contact(USER, gone).is_none(), "deleted contact still there");
    assert_eq!(fake.contacts(USER).len(), seeded_contacts.len() + 1);
    let group = summary["people"]["group"].as_str().unwrap().strip_prefix("contactGroups/").unwrap();
    assert_eq!(fake.group_members(USER, group), vec![kept.to_owned()]);
    server.shutdown().await.unwrap();
}
