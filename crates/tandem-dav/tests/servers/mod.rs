//! Real CalDAV/CardDAV servers for the DAV tests: Radicale and Xandikos from the clients
//! virtualenv (`.ci/clients-setup`), each started as a child process on a free loopback port
//! with its storage in a temporary folder, killed on drop. Without the virtualenv the tests
//! skip loudly, and fail under `CI`.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_connector::http::{HttpClient, HttpConfig, RequestSpec, Secret};
use tandem_core::model::ObjectKind;
use tandem_dav::dav::{CollectionChoice, DavConfig, DavConnector};
use tandem_policy::Policy;

pub const USER: &str = "user";
pub const PASSWORD: &str = "s3cret-pa55word";

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Radicale,
    Xandikos,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Radicale, Kind::Xandikos];
}

/// A running server. Killed (and its storage removed) on drop.
pub struct Server {
    pub kind: Kind,
    pub base: String,
    /// The calendar and the address book ready for use (paths).
    pub calendar: String,
    pub address_book: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace root: the first folder up from the package that holds `Cargo.lock` (this
/// module is also compiled into the root package's Radicale benchmark).
fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("Cargo.lock").exists() && dir.pop() {}
    dir
}

/// The venv's python with radicale and xandikos, or `None` (after failing under `CI`).
pub fn python() -> Option<PathBuf> {
    let python = std::env::var_os("TANDEM_CLIENTS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/clients-venv/bin/python"));
    let problem = if python.exists() {
        match Command::new(&python).args(["-c", "import radicale, xandikos"]).output() {
            Ok(out) if out.status.success() => return Some(python),
            Ok(out) => format!("`import radicale, xandikos` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            Err(e) => format!("cannot run {}: {e}", python.display()),
        }
    } else {
        format!("{} does not exist", python.display())
    };
    let message = format!(
        "Radicale and Xandikos are not installed ({problem}). Install them with `.ci/clients-setup` \
         (target/clients-venv), or point TANDEM_CLIENTS_PYTHON at a python that has them."
    );
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, so this test may not skip: {message}");
    }
    let _ = writeln!(std::io::stderr(), "\n{bar}\nSKIPPED (not under CI): {message}\n{bar}\n", bar = "!".repeat(100));
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An HTTP client without the client-side rate limit (the servers are local).
pub fn http() -> HttpClient {
    HttpClient::new(HttpConfig { rate_limit: None, ..HttpConfig::default() }).unwrap()
}

/// Starts `kind`; `None` when the servers are not installed (not under CI).
pub async fn start(kind: Kind) -> Option<Server> {
    let python = python()?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let storage = dir.path().join("storage");
    let mut command = Command::new(&python);
    match kind {
        Kind::Radicale => {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{USER}:{PASSWORD}\n")).unwrap();
            command.args(["-m", "radicale", "--config", "", "--server-hosts"]).arg(format!("127.0.0.1:{port}"));
            command.arg("--storage-filesystem-folder").arg(&storage);
            command.args(["--auth-type", "htpasswd", "--auth-htpasswd-encryption", "plain", "--auth-delay", "0"]);
            command.arg("--auth-htpasswd-filename").arg(&htpasswd);
            command.args(["--rights-type", "owner_only", "--logging-level", "warning"]);
        }
        Kind::Xandikos => {
            command.args(["-m", "xandikos.web", "-l", "127.0.0.1", "-p", &port.to_string(), "-d"]).arg(&storage);
            command.args(["--defaults", "--current-user-principal", "/user/", "--no-detect-systemd"]);
            command.arg("--state-dir").arg(dir.path().join("state"));
        }
    }
    // The server's output goes to a log file beside its storage, quoted when it does not start.
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    command.env("NO_PROXY", "*").env("PYTHONDONTWRITEBYTECODE", "1").stdout(Stdio::null()).stderr(log);
    let child = command.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}/");
    let (calendar, address_book) = match kind {
        Kind::Radicale => ("/user/calendar/".to_owned(), "/user/contacts/".to_owned()),
        Kind::Xandikos => ("/user/calendars/calendar/".to_owned(), "/user/contacts/addressbook/".to_owned()),
    };
    let server = Server { kind, base, calendar, address_book, child, _dir: dir };
    server.wait_until_up().await;
    if kind == Kind::Radicale {
        // Radicale starts empty: make a calendar and an address book as a client would.
        server.request("MKCALENDAR", &server.calendar.clone(), None, &[]).await;
        server.request("MKCOL", &server.address_book.clone(), Some((MKCOL_ADDRESSBOOK, "application/xml")), &[]).await;
    }
    Some(server)
}

const MKCOL_ADDRESSBOOK: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:mkcol xmlns:d="DAV:" xmlns:a="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>
<d:resourcetype><d:collection/><a:addressbook/></d:resourcetype><d:displayname>Contacts</d:displayname>
</d:prop></d:set></d:mkcol>"#;

impl Server {
    async fn wait_until_up(&self) {
        let started = Instant::now();
        loop {
            let url = url::Url::parse(&self.base).unwrap();
            if let Ok(r) = http().send_once(RequestSpec::get(url)).await
                && r.status().as_u16() < 500
            {
                return;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(self._dir.path().join("server.log")).unwrap_or_default();
                panic!("{:?} did not start on {}:\n{log}", self.kind, self.base);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A raw request as another client would send it (test set-up and checks only): status
    /// and body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &'static str)>,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let url = url::Url::parse(&self.base).unwrap().join(path).unwrap();
        let mut req = RequestSpec::new(http::Method::from_bytes(method.as_bytes()).unwrap(), url);
        if self.kind == Kind::Radicale {
            use base64::Engine as _;
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
            req = req.header("Authorization", format!("Basic {basic}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((text, content_type)) = body {
            req = req.body(text.to_owned(), http::HeaderValue::from_static(content_type));
        }
        let r = http().send_once(req).await.unwrap();
        (r.status().as_u16(), r.text().into_owned())
    }

    /// The configuration of a connector to this server: Basic auth (Xandikos has none on plain
    /// http and ignores it), collections found by discovery.
    pub fn config(&self) -> DavConfig {
        DavConfig::new(self.base.clone()).with_basic(USER, Secret::new(PASSWORD))
    }

    /// A connector with discovery.
    pub fn connector(&self) -> Arc<DavConnector> {
        Arc::new(DavConnector::new(self.config(), http()).unwrap())
    }

    /// A connector to the collections by path.
    pub fn connector_with(&self, f: impl FnOnce(DavConfig) -> DavConfig) -> Arc<DavConnector> {
        let config = self
            .config()
            .with_calendar(CollectionChoice::Path(self.calendar.clone()))
            .with_address_book(CollectionChoice::Path(self.address_book.clone()));
        Arc::new(DavConnector::new(f(config), http()).unwrap())
    }

    /// The collection of `kind`.
    pub fn collection(&self, kind: ObjectKind) -> &str {
        match kind {
            ObjectKind::Event => &self.calendar,
            ObjectKind::Contact => &self.address_book,
        }
    }

    /// Members of a collection (hrefs), as a PROPFIND Depth 1 lists them.
    pub async fn members(&self, kind: ObjectKind) -> Vec<String> {
        let (status, body) = self
            .request("PROPFIND", self.collection(kind), Some((PROPFIND_ETAGS, "application/xml")), &[("Depth", "1")])
            .await;
        assert_eq!(status, 207, "{body}");
        let collection = self.collection(kind).trim_end_matches('/').to_owned();
        hrefs(&body).into_iter().filter(|h| h.trim_end_matches('/') != collection).collect()
    }

    /// `PUT` a body as another client would (no precondition): the status.
    pub async fn put(&self, path: &str, body: &str, content_type: &'static str) -> u16 {
        self.request("PUT", path, Some((body, content_type)), &[]).await.0
    }

    /// `GET` a resource: its body.
    pub async fn get(&self, path: &str) -> String {
        let (status, body) = self.request("GET", path, None, &[]).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// The text of every `href` element of an answer (any prefix).
pub fn hrefs(body: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(body);
    let mut out = Vec::new();
    let mut inside = false;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) => inside = e.local_name().as_ref() == "href",
            quick_xml::events::Event::Text(t) if inside => out.push(t.xml10_content().trim().to_owned()),
            quick_xml::events::Event::End(_) => inside = false,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    out
}

const PROPFIND_ETAGS: &str =
    r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#;

/// The default policy (its `dav` rules allow Basic and bearer tokens), loopback http allowed,
/// and private events synced in full (the generated data has some).
pub fn policy() -> Arc<Policy> {
    let mut policy = Policy::for_loopback_tests();
    policy.data.private_events = tandem_policy::PrivateEvents::Full;
    Arc::new(policy)
}

/// One user synced between a memory "CRM" and a DAV server through the real engine.
pub struct World {
    pub server: Server,
    pub dav: Arc<DavConnector>,
    pub crm: Arc<tandem_connector::memory::MemoryConnector>,
    pub engine: tandem_engine::Engine,
    pub job: tandem_engine::UserSync,
}

/// A world against `kind`, the DAV side configured by `f`; `None` when not installed.
pub async fn world_with(kind: Kind, f: impl FnOnce(DavConfig) -> DavConfig) -> Option<World> {
    let server = start(kind).await?;
    let dav = server.connector_with(f);
    let crm = Arc::new(tandem_connector::memory::MemoryConnector::new("memory"));
    let store = Arc::new(tandem_store::SqliteStore::in_memory().await.unwrap());
    let engine = tandem_engine::Engine::new(store).with_policy(policy());
    let mut config = tandem_engine::config::SyncConfig::named("dav");
    // Contacts too: a delete on either side deletes its counterpart.
    config.contacts.deletes = tandem_core::config::DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: true };
    let job = tandem_engine::UserSync::new(USER, config, crm.clone(), dav.clone());
    Some(World { server, dav, crm, engine, job })
}

/// A world with discovery.
pub async fn world(kind: Kind) -> Option<World> {
    world_with(kind, |c| c).await
}

impl World {
    /// One sync of `object`; panics on an error.
    pub async fn sync(&self, object: ObjectKind) -> tandem_engine::SyncReport {
        let options = tandem_engine::SyncOptions { objects: Some(vec![object]), ..Default::default() };
        let report = self.engine.sync_user(&self.job, &options).await.unwrap();
        println!("{report}");
        let o = report.object(object).unwrap();
        assert!(o.failed.is_empty() && o.quarantined.is_empty(), "{report}");
        report
    }

    /// Syncs until nothing is written (at most 4 times), then checks one more quiet cycle.
    pub async fn settle(&self, object: ObjectKind) {
        for _ in 0..4 {
            if self.sync(object).await.total_writes() == 0 {
                return;
            }
        }
        panic!("{object:?} did not settle");
    }
}

/// Everything a connector reads from scratch (all pages): the upserts by id, with versions.
pub async fn read_all(
    dav: &DavConnector,
    kind: ObjectKind,
) -> Vec<(tandem_core::state::RecordId, tandem_core::state::Version, tandem_core::model::Record)> {
    use tandem_connector::Connector;
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = dav.pull(kind, cursor.as_ref()).await.unwrap();
        for c in page.changes {
            match c.kind {
                tandem_core::state::ChangeKind::Upserted { record } => out.push((c.id, c.version, record)),
                other => panic!("unexpected change in a full read: {other:?}"),
            }
        }
        if page.done {
            return out;
        }
        cursor = Some(page.cursor);
    }
}

/// A day well inside the default sync window (generated events start within ±60 days of it).
pub fn anchor() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() + chrono::Duration::days(120)
}

/// An iCalendar body as another client would write it.
pub fn foreign_event(uid: &str, summary: &str, extra: &str) -> String {
    let day = anchor().format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Other Client//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20240101T000000Z\r\nDTSTART:{day}T090000Z\r\nDTEND:{day}T100000Z\r\nSUMMARY:{summary}\r\n\
         {extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// A vCard as another client would write it.
pub fn foreign_contact(uid: &str, family: &str, email: &str, extra: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nN:{family};Ann;;;\r\nFN:Ann {family}\r\n\
         EMAIL;TYPE=INTERNET,WORK:{email}\r\n{extra}END:VCARD\r\n"
    )
}
