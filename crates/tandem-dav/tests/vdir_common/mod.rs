//! Shared set-up of the vdir tests: two vdir folder pairs (events and contacts) in a temporary
//! directory, two connectors, an engine over SQLite state on disk, and file helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tandem_core::config::{ForeignOrganizers, ObjectConfig};
use tandem_dav::vdir::{VdirConfig, VdirConnector};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, SyncReport, UserSync};
use tandem_store::SqliteStore;

/// Side A (the engine's CRM side) and side B (its mailbox side), each with an events and a
/// contacts folder.
pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) a_events: PathBuf,
    pub(crate) a_contacts: PathBuf,
    pub(crate) b_events: PathBuf,
    pub(crate) b_contacts: PathBuf,
    pub(crate) a: VdirConnector,
    pub(crate) b: VdirConnector,
    pub(crate) engine: Engine,
    pub(crate) job: UserSync,
}

/// The sync configuration of two vdir folders: everything, all of time, both ways.
pub(crate) fn vdir_sync_config() -> SyncConfig {
    let mut config = SyncConfig::named("vdir");
    config.events = ObjectConfig { window: None, foreign_organizers: ForeignOrganizers::Sync, ..config.events };
    config
}

impl World {
    pub(crate) async fn new() -> World {
        World::with_max_file_size(tandem_dav::vdir::DEFAULT_MAX_FILE_SIZE).await
    }

    pub(crate) async fn with_max_file_size(max: u64) -> World {
        let dir = tempfile::tempdir().unwrap();
        let folder = |p: &str| {
            let path = dir.path().join(p);
            fs::create_dir_all(&path).unwrap();
            path
        };
        let (a_events, a_contacts, b_events, b_contacts) =
            (folder("a/cal"), folder("a/book"), folder("b/cal"), folder("b/book"));
        let connector = |events: &Path, contacts: &Path| {
            let mut config =
                VdirConfig::new().with_events(events).with_contacts(contacts).with_identity("ann@example.com");
            config.max_file_size = max;
            VdirConnector::new(config).unwrap()
        };
        let a = connector(&a_events, &a_contacts);
        let b = connector(&b_events, &b_contacts);
        let store = SqliteStore::open(dir.path().join("state.sqlite")).await.unwrap();
        let engine = Engine::new(Arc::new(store));
        let job = UserSync::new("ann@example.com", vdir_sync_config(), Arc::new(a.clone()), Arc::new(b.clone()));
        World { dir, a_events, a_contacts, b_events, b_contacts, a, b, engine, job }
    }

    /// One sync, after the file system's timestamps have moved on (see `scan`'s racy window).
    pub(crate) async fn sync(&self) -> SyncReport {
        tokio::time::sleep(Duration::from_millis(120)).await;
        self.engine.sync_user(&self.job, &SyncOptions::default()).await.unwrap()
    }
}

/// Writes an `.ics` item with one event, as another program would.
pub(crate) fn write_event(dir: &Path, name: &str, uid: &str, summary: &str, extra: &str) {
    let text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//khal//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n\
         DTSTART;TZID=Europe/Berlin:20300105T100000\r\nDTEND;TZID=Europe/Berlin:20300105T110000\r\nSUMMARY:{summary}\r\n\
         {extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    replace_file(&dir.join(name), text.as_bytes());
}

/// Writes a `.vcf` item with one contact.
pub(crate) fn write_contact(dir: &Path, name: &str, uid: &str, family: &str, extra: &str) {
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nN:{family};Ada;;;\r\nFN:Ada {family}\r\n\
         EMAIL;TYPE=INTERNET:{}@example.com\r\n{extra}END:VCARD\r\n",
        family.to_lowercase()
    );
    replace_file(&dir.join(name), text.as_bytes());
}

/// Replaces a file the way editors and sync tools do: a temporary file renamed over it.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("edit-tmp");
    fs::write(&tmp, bytes).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// Replaces `from` by `to` in a file.
pub(crate) fn touch_edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}:\n{text}", path.display());
    replace_file(path, text.replacen(from, to, 1).as_bytes());
}

/// The item files of a folder, sorted.
pub(crate) fn items(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.') && (n.ends_with(".ics") || n.ends_with(".vcf")))
        .collect();
    names.sort();
    names
}

fn property(path: &Path, name: &str) -> String {
    let text = fs::read_to_string(path).unwrap().replace("\r\n ", "");
    text.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned).unwrap_or_default()
}

/// The `UID` in an item file.
pub(crate) fn uid_of(path: &Path) -> String {
    property(path, "UID:")
}

/// The `SUMMARY` in an item file.
pub(crate) fn summary_of(path: &Path) -> String {
    property(path, "SUMMARY:")
}

/// The item file of `dir` with `uid`.
pub(crate) fn find_by_uid(dir: &Path, uid: &str) -> PathBuf {
    items(dir).into_iter().map(|n| dir.join(n)).find(|p| uid_of(p) == uid).unwrap_or_else(|| panic!("no {uid}"))
}

/// A file holding two unrelated events.
pub(crate) fn two_events() -> String {
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:one\r\nDTSTART:20300101T100000Z\r\nEND:VEVENT\r\n\
     BEGIN:VEVENT\r\nUID:two\r\nDTSTART:20300102T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        .to_owned()
}
