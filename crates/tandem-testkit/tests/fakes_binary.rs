//! The `tandem-fakes` binary, driven from another process as crash tests will drive it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tandem_testkit::server::read_port_file;

fn temp_path(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("tandem-fakes-{tag}-{}-{nanos}.ports", std::process::id()))
}

/// Kills the child when a failed assertion unwinds, so no fake outlives its test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_urls_writes_port_file_and_stops_on_sigterm() {
    let port_file = temp_path("run");
    let mut guard = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_tandem-fakes"))
            .arg("--port-file")
            .arg(&port_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;

    // The first stdout line announces the health fake.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let (name, url) = line.trim().split_once(' ').unwrap();
    assert_eq!(name, "health");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    // The port file is written once everything listens (poll: it is another process).
    let deadline = Instant::now() + Duration::from_secs(10);
    let ports = loop {
        if let Ok(p) = read_port_file(&port_file)
            && !p.is_empty()
        {
            break p;
        }
        assert!(Instant::now() < deadline, "no port file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ports["health"], url);

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let health: serde_json::Value = client.get(format!("{url}/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        health,
        serde_json::json!({"status": "ok", "fakes": ["health", "salesforce", "graph", "ews", "google"]})
    );
    // The provider fakes answer from this other process on their real paths.
    let token = client.post(format!("{}/services/oauth2/token", ports["salesforce"])).send().await.unwrap();
    assert_eq!(token.status(), 400, "a token request without a grant is refused, as Salesforce does");

    #[cfg(unix)]
    {
        let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(exit.success(), "exit status {exit:?}");
        assert!(!port_file.exists(), "port file left behind");
        assert!(client.get(format!("{url}/health")).send().await.is_err(), "still answering");
    }
    #[cfg(not(unix))]
    {
        child.kill().unwrap();
        let _ = child.wait();
        let _ = std::fs::remove_file(&port_file);
    }
}

#[test]
fn binary_rejects_unknown_fakes_and_arguments() {
    let bin = env!("CARGO_BIN_EXE_tandem-fakes");
    let out = Command::new(bin).args(["--only", "nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fake `nope`"));

    let out = Command::new(bin).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = Command::new(bin).arg("--list").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(),
        ["health", "salesforce", "graph", "ews", "google"]
    );
}
