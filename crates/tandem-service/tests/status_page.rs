//! The status page in a real browser: headless Chromium driven through WebDriver
//! (`chromedriver`, started here on a free loopback port) against the web router on loopback,
//! over an engine whose SQLite store is seeded by real cycles between in-memory connectors (a
//! mass delete, so deletes are held; a rejected record, so one is quarantined).
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`;
//! or point `TANDEM_CHROMIUM` and `TANDEM_CHROMEDRIVER` at them). Without them the test skips
//! loudly, and fails under `CI`. With `TANDEM_SCREENSHOTS=DIR` it saves a PNG of each page
//! there (`docs/screenshots/regenerate.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fantoccini::{Client, ClientBuilder, Locator};
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{Connector, ConnectorError, WriteOp};
use tandem_core::config::{DeletePropagation, MassDeleteGuard};
use tandem_core::model::{Contact, EmailAddress, ObjectKind, Record};
use tandem_core::state::RecordId;
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_service::config::ServiceConfig;
use tandem_service::live::Live;
use tandem_service::web::{WebState, router};
use tandem_store::SqliteStore;

const C: ObjectKind = ObjectKind::Contact;
const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
const TOKEN: &str = "correct-horse-battery-staple-7f3a";

fn skip_or_fail(message: String) {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, so this test may not skip: {message}");
    }
    let _ = writeln!(std::io::stderr(), "\n{bar}\nSKIPPED (not under CI): {message}\n{bar}\n", bar = "!".repeat(100));
}

/// `name` in `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

fn tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    match std::env::var_os(env) {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => names.iter().find_map(|n| which(n)),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver on a loopback port, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver with `scratch` as the temporary directory of everything it starts:
    /// Chromium leaves `org.chromium.Chromium.*` folders in it when it is killed, which the test
    /// removes with the rest of its directory instead of leaving two in `/tmp` per run.
    fn start(binary: &Path, scratch: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(binary)
            .env("TMPDIR", scratch)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let driver = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {addr} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn person(family: &str) -> Record {
    Record::Contact(Contact {
        given_name: Some("P".into()),
        family_name: Some(family.into()),
        emails: vec![EmailAddress {
            kind: Default::default(),
            address: format!("{}@example.com", family.to_lowercase()),
        }],
        ..Contact::default()
    })
}

fn family(r: &Record) -> String {
    match r {
        Record::Contact(c) => c.family_name.clone().unwrap_or_default(),
        other => panic!("not a contact: {other:?}"),
    }
}

fn contacts_only() -> SyncOptions {
    SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() }
}

/// Deletes propagate both ways; the guard holds more than 20% and at least 5 deletes.
fn guarded() -> SyncConfig {
    let mut config = SyncConfig::named("sales");
    config.contacts.deletes = DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: true };
    config.contacts.mass_delete_guard = MassDeleteGuard { max_share: 0.2, min_records: 5 };
    config
}

const CONFIG: &str = r#"
[store]
sqlite = "state.db"

[connections.salesforce]
provider = "memory"

[connections.m365]
provider = "memory"

[[configurations]]
name = "sales"

[[assignments]]
users = ["ada@example.com", "bob@example.com", "cy@example.com"]
configuration = "sales"
crm = "salesforce"
mailbox = "m365"

[web]
enabled = true
listen = "127.0.0.1:8465"
admin_token = { env = "TANDEM_TEST_ADMIN_TOKEN" }
"#;

struct World {
    engine: Engine,
    ada: UserSync,
    mailbox: MemoryConnector,
    live: Arc<Live>,
    config: Arc<ServiceConfig>,
}

/// Ada: 40 contacts synced, then 10 deleted in the CRM (held) and one the mailbox rejects
/// (quarantined). Bob: 3 contacts synced. Cy: in the file, never synced.
async fn world(dir: &Path) -> World {
    let config = Arc::new(ServiceConfig::from_str(&dir.join("tandem.toml"), CONFIG).unwrap());
    let store = SqliteStore::open(dir.join("state.db")).await.unwrap();
    let engine = Engine::new(Arc::new(store));

    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    let ids: Vec<RecordId> = (0..40).map(|i| crm.insert(person(&format!("Person{i:02}")))).collect();
    let ada = UserSync::new(ADA, guarded(), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    engine.sync_user(&ada, &contacts_only()).await.unwrap();
    for id in &ids[..10] {
        crm.remove(C, id);
    }
    mailbox.set_write_hook(Some(Arc::new(|op: &WriteOp| match op {
        WriteOp::Create { record, .. } if family(record) == "Bad" => {
            Some(ConnectorError::Rejected { code: "INVALID_FIELD".into(), message: "no <b>bad</b> people".into() })
        }
        _ => None,
    })));
    crm.insert(person("Bad"));
    let report = engine.sync_user(&ada, &contacts_only()).await.unwrap();
    assert_eq!(report.object(C).unwrap().held_deletes, 10);
    assert_eq!(engine.quarantined(ADA).await.unwrap().len(), 1);

    let bob_crm = MemoryConnector::new("crm");
    let bob_mailbox = MemoryConnector::new("mailbox");
    for i in 0..3 {
        bob_crm.insert(person(&format!("Bob{i}")));
    }
    let bob = UserSync::new(BOB, guarded(), Arc::new(bob_crm.clone()), Arc::new(bob_mailbox.clone()));
    engine.sync_user(&bob, &contacts_only()).await.unwrap();

    let now = Utc::now();
    let live = Arc::new(Live::new(now));
    for user in [ADA, BOB, "cy@example.com"] {
        live.register_connection("salesforce", &crm.connection());
        live.register_connection("m365", &mailbox.connection());
        live.scheduled(user, now + chrono::Duration::minutes(5));
    }
    live.connection_ok("salesforce", now);
    live.connection_ok("m365", now);
    live.connection_error("m365", now, "HTTP 503 from the mailbox <server>");
    World { engine, ada, mailbox, live, config }
}

async fn serve(world: &World) -> SocketAddr {
    let state = WebState::new(
        world.engine.clone(),
        world.config.clone(),
        world.live.clone(),
        tandem_connector::http::Secret::new(TOKEN),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    addr
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1200,800", "--hide-scrollbars",
                     format!("--user-data-dir={}", profile.display())]
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap()
}

async fn shot(client: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("TANDEM_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let png = client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// The current page's path, once the page has settled (a click's navigation may still run).
async fn path(client: &Client) -> String {
    client.wait().for_element(Locator::Css("main")).await.unwrap();
    client.current_url().await.unwrap().path().to_owned()
}

/// Waits until the browser is at `expected`.
async fn at(client: &Client, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = client.current_url().await.unwrap().path().to_owned();
        if now == expected {
            client.wait().for_element(Locator::Css("main")).await.unwrap();
            return;
        }
        assert!(Instant::now() < deadline, "still at {now}, expected {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

/// Clicks `css`, which loads another page, and waits until the old page is gone.
async fn click(client: &Client, css: &str) {
    let old = client.find(Locator::Css("main")).await.unwrap();
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "{css}: no new page after the click");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    client.wait().for_element(Locator::Css("main")).await.unwrap();
}

async fn user_rows(client: &Client) -> Vec<String> {
    let mut users = Vec::new();
    for row in client.find_all(Locator::Css("tr.user-row")).await.unwrap() {
        users.push(row.attr("data-user").await.unwrap().unwrap());
    }
    users
}

async fn row_cell(client: &Client, user: &str, class: &str) -> String {
    text(client, &format!("tr.user-row[data-user=\"{user}\"] td.{class}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_in_a_real_browser() {
    let (Some(chromium), Some(chromedriver)) = (
        tool("TANDEM_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]),
        tool("TANDEM_CHROMEDRIVER", &["chromedriver"]),
    ) else {
        skip_or_fail(
            "chromium and chromedriver are needed (Debian: `apt-get install chromium chromium-driver`, or set \
             TANDEM_CHROMIUM and TANDEM_CHROMEDRIVER)"
                .to_owned(),
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("tandem-web-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let world = world(&dir).await;
    let addr = serve(&world).await;
    let base = format!("http://{addr}");
    let browser_tmp = dir.join("browser-tmp");
    std::fs::create_dir_all(&browser_tmp).unwrap();
    let driver = Driver::start(&chromedriver, &browser_tmp);
    let client = browser(&driver, &chromium, &dir.join("browser-profile")).await;
    client.set_window_size(1200, 800).await.unwrap();

    // Without a session, every page leads to the login page.
    client.goto(&format!("{base}/users")).await.unwrap();
    assert_eq!(path(&client).await, "/login");
    shot(&client, "login").await;

    // A wrong token is refused (and slowed down).
    client.find(Locator::Id("token")).await.unwrap().send_keys("not-the-token").await.unwrap();
    click(&client, "#sign-in").await;
    client.wait().for_element(Locator::Id("error")).await.unwrap();
    assert_eq!(path(&client).await, "/login");
    assert!(text(&client, "#error").await.contains("Wrong administrator token"));

    // The right one opens the system page.
    client.find(Locator::Id("token")).await.unwrap().send_keys(TOKEN).await.unwrap();
    click(&client, "#sign-in").await;
    at(&client, "/").await;
    let connections = text(&client, "#connections").await;
    assert!(connections.contains("salesforce") && connections.contains("m365"), "{connections}");
    assert!(connections.contains("HTTP 503 from the mailbox <server>"), "escaped, shown as text: {connections}");
    let counts = text(&client, "#counts").await;
    assert!(counts.contains("3\nusers") || counts.contains("3 users"), "{counts}");
    let source = client.source().await.unwrap();
    assert!(!source.contains(TOKEN), "the admin token is never rendered");
    assert!(!source.contains("<server>"), "text is escaped");
    shot(&client, "system").await;

    // The users table: one row per user, with the last sync's counts.
    client.goto(&format!("{base}/users")).await.unwrap();
    assert_eq!(user_rows(&client).await, [ADA, BOB, "cy@example.com"]);
    assert_eq!(row_cell(&client, ADA, "held").await, "10");
    assert_eq!(row_cell(&client, ADA, "quarantined").await, "1");
    assert_eq!(row_cell(&client, ADA, "deletes").await, "0", "held, not applied");
    assert_eq!(row_cell(&client, BOB, "creates").await, "3");
    assert_eq!(row_cell(&client, BOB, "held").await, "0");
    assert_eq!(row_cell(&client, "cy@example.com", "creates").await, "–");
    shot(&client, "users").await;

    // Filters and search, on the server.
    click(&client, "#filter-held").await;
    assert_eq!(user_rows(&client).await, [ADA]);
    click(&client, "#filter-quarantined").await;
    assert_eq!(user_rows(&client).await, [ADA]);
    click(&client, "#filter-failing").await;
    assert!(user_rows(&client).await.is_empty());
    click(&client, "#filter-all").await;
    client.find(Locator::Id("q")).await.unwrap().send_keys("BOB").await.unwrap();
    click(&client, "#search").await;
    assert_eq!(user_rows(&client).await, [BOB]);
    assert_eq!(client.current_url().await.unwrap().query(), Some("q=BOB&filter="));

    // Ada's page, by the table's (URL-encoded) link.
    client.goto(&format!("{base}/users")).await.unwrap();
    click(&client, "a[href=\"/users/ada%40example.com\"]").await;
    assert_eq!(path(&client).await, "/users/ada%40example.com");
    assert_eq!(client.find_all(Locator::Css("#held tr")).await.unwrap().len(), 11, "10 held deletes");
    let quarantine = text(&client, "#quarantine").await;
    assert!(quarantine.contains("no <b>bad</b> people"), "{quarantine}");
    // Cycles with each operation's reason.
    assert_eq!(client.find_all(Locator::Css("details.cycle")).await.unwrap().len(), 2);
    let mut reasons = Vec::new();
    for cell in client.find_all(Locator::Css("details.cycle[open] td.reason")).await.unwrap() {
        reasons.push(cell.text().await.unwrap());
    }
    assert!(reasons.len() >= 11 && reasons.iter().all(|r| !r.trim().is_empty()), "{reasons:?}");
    let ops = text(&client, "details.cycle[open] table.operations").await;
    assert!(ops.contains("held"), "{ops}");
    shot(&client, "user").await;

    // Retry the quarantined record: released for the next cycle.
    click(&client, "button.retry").await;
    assert!(text(&client, "#flash").await.contains("Released contact"), "{}", text(&client, "#flash").await);
    assert!(world.engine.quarantined(ADA).await.unwrap().is_empty());

    // Approve the held deletes: the next cycle applies them.
    click(&client, "#approve-held").await;
    assert_eq!(path(&client).await, "/users/ada%40example.com");
    assert!(text(&client, "#flash").await.contains("Approved 10 held deletes"));
    assert_eq!(world.mailbox.len(C), 40);
    let report = world.engine.sync_user(&world.ada, &contacts_only()).await.unwrap();
    assert_eq!(report.object(C).unwrap().applied("delete"), 10, "{report}");
    assert!(world.engine.held_deletes(ADA).await.unwrap().is_empty());
    assert_eq!(world.mailbox.len(C), 30);
    client.refresh().await.unwrap();
    assert!(client.find(Locator::Id("flash")).await.is_err(), "a flash message shows once");

    // Reset, confirmed on its own page.
    assert!(world.engine.store().pair_count(ADA, C).await.unwrap() > 0);
    click(&client, "#reset").await;
    assert_eq!(path(&client).await, "/users/ada%40example.com/reset");
    click(&client, "#reset-confirm").await;
    assert!(text(&client, "#flash").await.contains("Nothing was reset"));
    assert!(world.engine.store().pair_count(ADA, C).await.unwrap() > 0);
    client.find(Locator::Id("confirm")).await.unwrap().click().await.unwrap();
    click(&client, "#reset-confirm").await;
    assert_eq!(path(&client).await, "/users/ada%40example.com");
    assert!(text(&client, "#flash").await.contains("Reset ada@example.com"));
    assert_eq!(world.engine.store().pair_count(ADA, C).await.unwrap(), 0);
    assert!(world.engine.quarantined(ADA).await.unwrap().is_empty(), "a reset empties the quarantine");

    // The audit log has the administrator's entries.
    let audit = world.engine.store().audit_log(Some(ADA), None, 10_000).await.unwrap();
    let by = |action: &str| audit.iter().filter(|a| a.action == action).collect::<Vec<_>>();
    assert_eq!(by("admin_approve_held").len(), 10);
    assert_eq!(by("admin_reset").len(), 2);
    assert_eq!(by("admin_retry_quarantine").len(), 1);
    assert!(
        by("admin_approve_held")
            .iter()
            .chain(by("admin_reset").iter())
            .all(|a| a.detail == Some(serde_json::json!({ "actor": "web:admin" })))
    );
    let logins = world.engine.store().audit_log(Some("*"), None, 100).await.unwrap();
    let outcomes: Vec<&str> = logins.iter().filter(|a| a.action == "web_login").map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["applied", "denied"], "newest first: {logins:?}");
    assert!(logins.iter().all(|a| !format!("{a:?}").contains(TOKEN)));

    // POSTs without the CSRF token, with a wrong one, from another site, or without a session
    // are refused.
    let cookie = client.get_named_cookie("tandem_session").await.unwrap();
    let cookie = format!("tandem_session={}", cookie.value());
    let csrf = client.find(Locator::Css("input[name=csrf]")).await.unwrap().attr("value").await.unwrap().unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap();
    let approve = format!("{base}/users/ada%40example.com/held/approve");
    let post = |body: String, origin: Option<&str>, with_cookie: bool| {
        let mut req =
            http.post(&approve).header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
        if with_cookie {
            req = req.header(reqwest::header::COOKIE, &cookie);
        }
        if let Some(origin) = origin {
            req = req.header(reqwest::header::ORIGIN, origin);
        }
        req.send()
    };
    assert_eq!(post("object=".into(), None, true).await.unwrap().status(), 403, "no CSRF token");
    assert_eq!(post("object=&csrf=forged".into(), None, true).await.unwrap().status(), 403, "wrong token");
    let good = format!("object=&csrf={csrf}");
    assert_eq!(post(good.clone(), Some("http://evil.example"), true).await.unwrap().status(), 403, "cross-site");
    assert_eq!(post(good.clone(), None, false).await.unwrap().status(), 403, "no session");
    let ok = post(good, Some(&base), true).await.unwrap();
    assert_eq!(ok.status(), 303, "the same POST with its token passes");
    // A wrong token over HTTP: 401, after a delay.
    let started = Instant::now();
    let wrong = http
        .post(format!("{base}/login"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("token=guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(started.elapsed() >= Duration::from_millis(500), "a failed login is slowed down");
    let anonymous = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()[reqwest::header::LOCATION], "/login");
    let set_cookie = http
        .post(format!("{base}/login"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    let set_cookie = set_cookie.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict") && set_cookie.contains("Path=/"));
    assert!(!set_cookie.contains("Secure"), "loopback: not Secure");

    // Addresses compare case-insensitively; an unknown user is a 404.
    let page =
        |user: &'static str| http.get(format!("{base}/users/{user}")).header(reqwest::header::COOKIE, &cookie).send();
    assert_eq!(page("ADA%40example.com").await.unwrap().status(), 200);
    assert_eq!(page("nobody%40example.com").await.unwrap().status(), 404);

    // Sign out: the session is gone.
    click(&client, "#logout").await;
    assert_eq!(path(&client).await, "/login");
    client.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(path(&client).await, "/login");
    let stale = http.get(format!("{base}/")).header(reqwest::header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(stale.status(), 303);

    client.close().await.unwrap();
    drop(driver);
    let _ = std::fs::remove_dir_all(&dir);
}
