//! The `tandem` binary end to end: against `memory` connections, and against the Salesforce and
//! Graph fakes started in this process on loopback, with a configuration written to a temporary
//! folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use tandem_testkit::graph::GraphFake;
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the binary (off the async runtime, so in-process fakes keep serving).
async fn tandem(config: &Path, args: &[&str]) -> Output {
    let config = config.to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(&args)
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .env_remove("TANDEM_CONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const MEMORY: &str = r#"
[store]
sqlite = "state.db"

[connections.crm]
provider = "memory"
contacts = [{ given_name = "Ada", family_name = "Lovelace", email = "ada@example.com" }]

[connections.mbx]
provider = "memory"

[[configurations]]
name = "sales"

[[users]]
user = "ann@contoso.example"
configuration = "sales"
crm = "crm"
mailbox = "mbx"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_connections_check_and_bad_files_are_refused() {
    let dir = temp_dir("memory");
    let config = dir.join("tandem.toml");
    std::fs::write(&config, MEMORY).unwrap();
    let o = tandem(&config, &["check"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("check passed"), "{}", stdout(&o));
    let o = tandem(&config, &["check", "--json"]).await;
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["users"][0]["crm"]["first_page"]["contact"]["Ok"], 1);

    // An unknown key: file, line and key.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, MEMORY.replace("[[configurations]]", "[schedule]\nintervall = \"5m\"\n\n[[configurations]]"))
        .unwrap();
    let o = tandem(&bad, &["check"]).await;
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("bad.toml:13:") && e.contains("intervall"), "{e}");

    // An unknown key inside a connection.
    std::fs::write(&bad, MEMORY.replace("provider = \"memory\"\n\n", "provider = \"memory\"\ncolour = \"red\"\n\n"))
        .unwrap();
    let o = tandem(&bad, &["check"]).await;
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("bad.toml:11:") && e.contains("colour"), "{e}");

    // A secret written inline.
    let inline = r#"
[connections.crm]
provider = "salesforce"
login_url = "https://login.salesforce.com"
consumer_key = "ck"
private_key = "-----BEGIN PRIVATE KEY----- CANARY"

[connections.mbx]
provider = "memory"

[[configurations]]
name = "sales"

[[users]]
user = "ann@contoso.example"
configuration = "sales"
crm = "crm"
mailbox = "mbx"
"#;
    std::fs::write(&bad, inline).unwrap();
    let o = tandem(&bad, &["check"]).await;
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("bad.toml:6:") && e.contains("private_key") && e.contains("inline"), "{e}");
    assert!(!e.contains("CANARY") && !stdout(&o).contains("CANARY"));
    let _ = std::fs::remove_dir_all(&dir);
}

const MAILBOX: &str = "ann@contoso.example";
const GRAPH_CLIENT: &str = "11111111-2222-3333-4444-555555555555";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_the_fakes_check_dry_run_sync_status_reset_audit() {
    let (org, org_server) = SalesforceFake::start().await.unwrap();
    let graph = GraphFake::start().await.unwrap();
    let state = graph.state();
    state.add_mailbox(MAILBOX, "Ann Demo");
    state.register_certificate(GRAPH_CLIENT, keys::TEST_RSA_CERT_PEM).unwrap();
    for (first, last) in [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing")] {
        org.insert(
            "Contact",
            json!({ "FirstName": first, "LastName": last, "Email": format!("{}@example.com", first.to_lowercase()) }),
        )
        .unwrap();
    }
    let dir = temp_dir("fakes");
    std::fs::write(dir.join("key.pem"), keys::TEST_RSA_KEY_PEM).unwrap();
    std::fs::write(dir.join("cert.pem"), keys::TEST_RSA_CERT_PEM).unwrap();
    let config = dir.join("tandem.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
sqlite = "state.db"

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

[[users]]
user = "{MAILBOX}"
configuration = "sales"
crm = "salesforce"
mailbox = "m365"
crm_user = "{sf_user}"
"#,
            sf = org_server.base_url(),
            ck = org.config().consumer_key,
            tenant = state.config().tenant,
            authority = graph.base_url(),
            graph_base = graph.graph_url(),
            sf_user = org.user().username,
        ),
    )
    .unwrap();

    let o = tandem(&config, &["check"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("jwt_bearer") && out.contains("client_credentials_certificate"), "{out}");

    // A dry run lists the operations with their reasons and writes nothing.
    let o = tandem(&config, &["sync", "--dry-run"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("create on mailbox"), "{out}");
    assert!(out.contains("nothing was written"), "{out}");
    assert!(state.contacts(MAILBOX).is_empty(), "a dry run wrote to the mailbox");
    let o = tandem(&config, &["audit", "export"]).await;
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).trim().is_empty(), "a dry run wrote to the audit log: {}", stdout(&o));
    let o = tandem(&config, &["status", "--json"]).await;
    let status: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(status[0]["synced"], false);

    // A real cycle, then its status.
    let o = tandem(&config, &["sync", "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let outcomes: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(outcomes[0]["ok"], true);
    assert_eq!(state.contacts(MAILBOX).len(), 3);
    let o = tandem(&config, &["status", "--json", "--user", MAILBOX]).await;
    let status: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(status[0]["synced"], true);
    assert_eq!(status[0]["consecutive_failures"], 0);

    // The audit log, as JSON lines.
    let o = tandem(&config, &["audit", "export", "--since", "1d", "--user", MAILBOX]).await;
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().filter(|l| l["action"] == "create").count() >= 3, "{lines:?}");

    // Reset asks for --yes without a terminal, then forgets; the next sync re-links, no duplicates.
    let o = tandem(&config, &["reset", MAILBOX]).await;
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let o = tandem(&config, &["reset", MAILBOX, "--yes"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = tandem(&config, &["sync"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(state.contacts(MAILBOX).len(), 3);
    let o = tandem(&config, &["audit", "export"]).await;
    assert!(stdout(&o).contains("admin_reset"), "{}", stdout(&o));

    // Held deletes and quarantine: nothing there.
    let o = tandem(&config, &["held", "list", MAILBOX, "--json"]).await;
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap(), json!([]));
    let o = tandem(&config, &["quarantine", "retry", MAILBOX, "nope", "--side", "crm", "--object", "contacts"]).await;
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `org_feed` on the Salesforce connection: `tandem sync` reads the org's changes once (as the
/// integration user) and each user's cycle reads its share; the users' own connections send no
/// query after their first sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_feed_reads_salesforce_once_for_every_user() {
    let (org, org_server) = SalesforceFake::start().await.unwrap();
    let graph = GraphFake::start().await.unwrap();
    let state = graph.state();
    state.register_certificate(GRAPH_CLIENT, keys::TEST_RSA_CERT_PEM).unwrap();
    let people = ["ann", "bob", "cy"];
    let mut owners = Vec::new();
    for p in people {
        state.add_mailbox(&format!("{p}@contoso.example"), p);
        let id = org.add_user(&format!("{p}@sf.example"), p, "Demo", "Europe/Berlin");
        org.insert("Contact", json!({ "LastName": format!("{p}-contact"), "OwnerId": id })).unwrap();
        owners.push(id);
    }
    let dir = temp_dir("feed");
    std::fs::write(dir.join("key.pem"), keys::TEST_RSA_KEY_PEM).unwrap();
    std::fs::write(dir.join("cert.pem"), keys::TEST_RSA_CERT_PEM).unwrap();
    let users: String = people
        .iter()
        .map(|p| {
            format!(
                "[[users]]\nuser = \"{p}@contoso.example\"\nconfiguration = \"sales\"\ncrm = \"salesforce\"\n\
                 mailbox = \"m365\"\ncrm_user = \"{p}@sf.example\"\n\n"
            )
        })
        .collect();
    let config = dir.join("tandem.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
sqlite = "state.db"

[policy.endpoints]
allow_loopback_http = true

[connections.salesforce]
provider = "salesforce"
login_url = "{sf}"
consumer_key = "{ck}"
private_key = {{ file = "key.pem" }}
org_feed = "{integration}"

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

{users}"#,
            sf = org_server.base_url(),
            ck = org.config().consumer_key,
            integration = org.user().username,
            tenant = state.config().tenant,
            authority = graph.base_url(),
            graph_base = graph.graph_url(),
        ),
    )
    .unwrap();

    // `check` builds the feed as `run` would, and says so.
    let o = tandem(&config, &["check"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("organization feeds: salesforce (read as"), "{}", stdout(&o));

    // First sync: the feed starts, each user reads its own contacts once.
    let o = tandem(&config, &["sync"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    for p in people {
        assert_eq!(state.contacts(&format!("{p}@contoso.example")).len(), 1, "{p}");
    }
    // Edits across the org, then a second sync: the feed's queries only.
    let ann = org.records("Contact").into_iter().find(|r| r["LastName"] == json!("ann-contact")).unwrap();
    org.update("Contact", ann["Id"].as_str().unwrap(), json!({ "LastName": "ann-renamed" })).unwrap();
    org.insert("Contact", json!({ "LastName": "bob-new", "OwnerId": owners[1] })).unwrap();
    org.controls().reset_counts();
    let o = tandem(&config, &["sync"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let queries: u64 =
        org.controls().counts().iter().filter(|((_, path), _)| path.contains("/query")).map(|(_, n)| n).sum();
    // Contacts: changed, deleted; events: changed, invitations, deleted; plus the re-read of
    // records in the feed's overlap and their invitees: not one query per user.
    assert!(queries <= 8, "{queries} queries for 3 users: {:?}", org.controls().counts());
    let names = |p: &str| -> Vec<String> {
        let mut n: Vec<String> = state
            .contacts(&format!("{p}@contoso.example"))
            .iter()
            .map(|c| c["surname"].as_str().unwrap_or_default().to_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names("ann"), ["ann-renamed"]);
    assert_eq!(names("bob"), ["bob-contact", "bob-new"]);
    assert_eq!(names("cy"), ["cy-contact"]);

    // A feed the connection's settings cannot have (Chatter follows are per user) is refused by
    // `check`, with the file's line.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("org_feed =", "include_followed = true\norg_feed =")).unwrap();
    let o = tandem(&config, &["check"]).await;
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("org_feed") && stderr(&o).contains("include_followed"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The binary allocates with jemalloc (the `jemalloc` feature, on by default; see `src/main.rs`):
/// jemalloc reads `MALLOC_CONF` and, asked to, prints its statistics on exit. The system's
/// allocator ignores the variable.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[test]
fn the_binary_allocates_with_jemalloc() {
    let out = std::process::Command::new(BIN).arg("--version").env("MALLOC_CONF", "stats_print:true").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("tandem "), "{}", stdout(&out));
    assert!(stderr(&out).contains("Begin jemalloc statistics"), "{}", stderr(&out));
}
