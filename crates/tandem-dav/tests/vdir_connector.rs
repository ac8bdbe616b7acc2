//! The vdir connector on its own and under the engine's recovery: creates named after their key
//! (a lost answer never duplicates), content-version preconditions, no-op updates, cursors.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod vdir_common;

use std::fs;
use std::sync::Arc;
use tandem_testkit::faults::LosesAnswers;

use tandem_connector::{Connector, ConnectorError, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{ObjectKind, Record};
use tandem_core::plan::FieldChange;
use tandem_core::state::{ChangeKind, Cursor, IdempotencyKey, RecordId, Version};
use tandem_dav::vdir::{VdirConfig, VdirConnector};
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_store::SqliteStore;
use vdir_common::*;

#[tokio::test]
async fn a_lost_answer_on_create_never_duplicates() {
    let w = World::new().await;
    for i in 0..3 {
        write_event(&w.a_events, &format!("e{i}.ics"), &format!("uid-{i}"), "Lost answers", "");
    }
    let b = Arc::new(LosesAnswers::new(Arc::new(w.b.clone()), 1));
    let engine = Engine::new(Arc::new(SqliteStore::open(w.dir.path().join("lost.sqlite")).await.unwrap()));
    let job = UserSync::new("ann@example.com", vdir_sync_config(), Arc::new(w.a.clone()), b.clone());
    let sync = || async {
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        engine.sync_user(&job, &SyncOptions { objects: Some(vec![ObjectKind::Event]), ..SyncOptions::default() }).await
    };
    let _ = sync().await;
    assert_eq!(items(&w.b_events).len(), 3, "the writes happened");
    let report = sync().await.unwrap();
    let report2 = sync().await.unwrap();
    assert_eq!(items(&w.b_events).len(), 3, "no duplicate: {report}\n{report2}");
    assert_eq!(items(&w.a_events).len(), 3, "no echo copied back: {report}\n{report2}");
    assert_eq!(report2.total_writes(), 0, "{report2}");
}

fn event_record(summary: &str) -> Record {
    let text = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART:20300101T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    Record::Event(tandem_core::interchange::parse_icalendar(&text).unwrap().remove(0))
}

#[tokio::test]
async fn creates_are_idempotent_and_writes_check_the_content_version() {
    let dir = tempfile::tempdir().unwrap();
    let c = VdirConnector::new(VdirConfig::new().with_events(dir.path())).unwrap();
    let key = IdempotencyKey("tdm00112233445566778899aabbccddeeff".into());
    let create = WriteOp::Create { key: key.clone(), record: event_record("One") };
    let first = c.apply(ObjectKind::Event, std::slice::from_ref(&create)).await.unwrap().remove(0).unwrap();
    assert_eq!(first.id.as_str(), "tdm00112233445566778899aabbccddeeff.ics");
    let again = c.apply(ObjectKind::Event, &[create]).await.unwrap().remove(0).unwrap();
    assert_eq!(again, first);
    assert_eq!(items(dir.path()).len(), 1);
    // Whatever the retry carries, the file that landed is the answer and stays as it was.
    let other = WriteOp::Create { key: key.clone(), record: event_record("Other") };
    assert_eq!(c.apply(ObjectKind::Event, &[other]).await.unwrap().remove(0).unwrap(), first);
    assert!(fs::read_to_string(dir.path().join(first.id.as_str())).unwrap().contains("SUMMARY:One"));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "the retry's staged file is gone");
    assert_eq!(c.find_by_key(ObjectKind::Event, &key).await.unwrap(), Some(first.clone()));
    assert_eq!(c.find_by_key(ObjectKind::Event, &IdempotencyKey("tdm-other".into())).await.unwrap(), None);

    // The version is the content's: what a pull reports, what a write answers.
    let pulled = c.pull(ObjectKind::Event, None).await.unwrap();
    assert_eq!(pulled.changes[0].version, first.version);
    assert_eq!(pulled.changes[0].sync_key, Some(key));

    let patch = |s: &str| vec![FieldChange { field: FieldKey::Subject, value: Some(FieldValue::Text(s.into())) }];
    let stale = WriteOp::Update { id: first.id.clone(), expected: Version::new("0123"), patch: patch("Two") };
    let result = c.apply(ObjectKind::Event, &[stale]).await.unwrap().remove(0);
    assert_eq!(result, Err(ConnectorError::PreconditionFailed { current: Some(first.version.clone()) }));

    // Writing what the file already says writes nothing.
    let writes = c.files_written();
    let same = WriteOp::Update { id: first.id.clone(), expected: first.version.clone(), patch: patch("One") };
    let unchanged = c.apply(ObjectKind::Event, &[same]).await.unwrap().remove(0).unwrap();
    assert_eq!((unchanged.version, c.files_written()), (first.version.clone(), writes));

    let update = WriteOp::Update { id: first.id.clone(), expected: first.version.clone(), patch: patch("Two") };
    let second = c.apply(ObjectKind::Event, &[update]).await.unwrap().remove(0).unwrap();
    assert_ne!(second.version, first.version);
    assert!(fs::read_to_string(dir.path().join(first.id.as_str())).unwrap().contains("SUMMARY:Two"));

    let stale_delete = WriteOp::Delete { id: first.id.clone(), expected: first.version.clone() };
    assert!(matches!(
        c.apply(ObjectKind::Event, &[stale_delete]).await.unwrap()[0],
        Err(ConnectorError::PreconditionFailed { .. })
    ));
    let delete = WriteOp::Delete { id: first.id.clone(), expected: second.version.clone() };
    assert!(c.apply(ObjectKind::Event, std::slice::from_ref(&delete)).await.unwrap()[0].is_ok());
    assert_eq!(c.apply(ObjectKind::Event, &[delete]).await.unwrap()[0], Err(ConnectorError::NotFound));
    assert!(items(dir.path()).is_empty());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary file left");
}

/// A batch big enough to be staged and flushed on several threads answers each write in its
/// place: creates, stale updates and updates interleaved, each result where its write was. On a
/// current-thread runtime the writes go to the blocking pool (a copy of the batch).
#[tokio::test]
async fn a_large_batch_answers_every_write_in_its_place() {
    large_batch().await;
}

/// The same on a multi-threaded runtime, where the batch is worked on the calling thread without
/// a copy (`block_in_place`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_answers_every_write_in_its_place_on_a_multi_threaded_runtime() {
    large_batch().await;
}

async fn large_batch() {
    let dir = tempfile::tempdir().unwrap();
    let c = VdirConnector::new(VdirConfig::new().with_events(dir.path())).unwrap();
    let key = |i: usize| IdempotencyKey::from(format!("tdm{i:032x}"));
    let creates: Vec<WriteOp> =
        (0..40).map(|i| WriteOp::Create { key: key(i), record: event_record(&format!("Event {i}")) }).collect();
    let created: Vec<_> = c.apply(ObjectKind::Event, &creates).await.unwrap().into_iter().map(Result::unwrap).collect();
    for (i, written) in created.iter().enumerate() {
        assert_eq!(written.id.as_str(), format!("{}.ics", key(i).0), "answer {i} is its own write's");
    }
    let patch = |s: &str| vec![FieldChange { field: FieldKey::Subject, value: Some(FieldValue::Text(s.into())) }];
    // A stale update, a create and an update in turn, each update of a record of its own.
    let mixed: Vec<WriteOp> = (0..40)
        .map(|i| match i % 3 {
            0 => WriteOp::Update { id: created[i].id.clone(), expected: Version::new("stale"), patch: patch("No") },
            1 => WriteOp::Create { key: key(100 + i), record: event_record(&format!("New {i}")) },
            _ => WriteOp::Update {
                id: created[i].id.clone(),
                expected: created[i].version.clone(),
                patch: patch(&format!("Edited {i}")),
            },
        })
        .collect();
    let results = c.apply(ObjectKind::Event, &mixed).await.unwrap();
    assert_eq!(results.len(), mixed.len());
    for (i, (op, result)) in mixed.iter().zip(&results).enumerate() {
        match op {
            WriteOp::Update { expected, .. } if expected.as_str() == "stale" => {
                assert!(matches!(result, Err(ConnectorError::PreconditionFailed { .. })), "{i}: {result:?}")
            }
            WriteOp::Create { key, .. } => assert_eq!(result.as_ref().unwrap().id.as_str(), format!("{}.ics", key.0)),
            WriteOp::Update { id, .. } => {
                assert_eq!(&result.as_ref().unwrap().id, id);
                assert!(fs::read_to_string(dir.path().join(id.as_str())).unwrap().contains(&format!("Edited {i}")));
            }
            WriteOp::Delete { .. } => unreachable!(),
        }
    }
    assert_eq!(items(dir.path()).len(), 40 + 13);
}

/// Whether this machine's temporary folders take the one-flush path, worked out independently of
/// the connector: `stat -f` names the file system, `uname -r` the kernel (5.8 or later).
#[cfg(target_os = "linux")]
fn temp_dir_flushes_at_once(dir: &std::path::Path) -> bool {
    let run = |program: &str, args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(program).args(args).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let kind = run("stat", &["-f".as_ref(), "-c".as_ref(), "%T".as_ref(), dir.as_os_str()]);
    let release = run("uname", &["-r".as_ref()]);
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    ["ext2/ext3", "xfs", "btrfs", "f2fs", "tmpfs"].contains(&kind.as_str()) && version >= (5, 8)
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_flushed_at_once_when_configured_and_the_file_system_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let expected = u64::from(temp_dir_flushes_at_once(dir.path()));
    let config = VdirConfig { flush_file_system: true, ..VdirConfig::new().with_events(dir.path()) };
    let c = VdirConnector::new(config.clone()).unwrap();
    let creates = |from: usize, n: usize| -> Vec<WriteOp> {
        (from..from + n)
            .map(|i| WriteOp::Create {
                key: IdempotencyKey::from(format!("tdm{i:032x}")),
                record: event_record(&format!("Event {i}")),
            })
            .collect()
    };
    // A few files are flushed one by one.
    assert!(c.apply(ObjectKind::Event, &creates(0, 3)).await.unwrap().iter().all(Result::is_ok));
    assert_eq!(c.file_system_flushes(), 0);
    // Forty at once, where `syncfs` is as safe as flushing each.
    assert!(c.apply(ObjectKind::Event, &creates(3, 40)).await.unwrap().iter().all(Result::is_ok));
    assert_eq!(c.file_system_flushes(), expected, "file system {:?}", dir.path());
    assert_eq!(items(dir.path()).len(), 43);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 43, "no temporary file left");
    // Not configured (the default), or without flushing at all: one flush per file, or none.
    for (from, config) in
        [(100, VdirConfig::new().with_events(dir.path())), (200, VdirConfig { fsync: false, ..config })]
    {
        let other = VdirConnector::new(config).unwrap();
        assert!(other.apply(ObjectKind::Event, &creates(from, 40)).await.unwrap().iter().all(Result::is_ok));
        assert_eq!(other.file_system_flushes(), 0);
    }
}

#[tokio::test]
async fn cursors_belong_to_their_folder_and_ids_cannot_escape_it() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    write_event(dir.path(), "a.ics", "a", "A", "");
    let c = VdirConnector::new(VdirConfig::new().with_events(dir.path())).unwrap();
    let d = VdirConnector::new(VdirConfig::new().with_events(other.path())).unwrap();
    let page = c.pull(ObjectKind::Event, None).await.unwrap();
    assert!(page.done);
    assert_eq!(d.pull(ObjectKind::Event, Some(&page.cursor)).await, Err(ConnectorError::CursorExpired));
    assert_eq!(c.pull(ObjectKind::Event, Some(&Cursor(b"junk".to_vec()))).await, Err(ConnectorError::CursorExpired));
    assert!(matches!(c.pull(ObjectKind::Contact, None).await, Err(ConnectorError::Config { .. })));

    let fetched = c.fetch(ObjectKind::Event, &[RecordId::new("../a.ics"), RecordId::new("a.ics")]).await.unwrap();
    assert!(matches!(fetched[0].kind, ChangeKind::Deleted));
    assert!(matches!(fetched[1].kind, ChangeKind::Upserted { .. }));
    let escape = WriteOp::Delete { id: RecordId::new("../a.ics"), expected: Version::default() };
    assert_eq!(c.apply(ObjectKind::Event, &[escape]).await.unwrap()[0], Err(ConnectorError::NotFound));
    assert!(dir.path().join("a.ics").exists());
}

#[test]
fn the_default_policy_allows_vdir_connections() {
    let dir = tempfile::tempdir().unwrap();
    let c = VdirConnector::new(VdirConfig::new().with_events(dir.path())).unwrap();
    let info = c.connection();
    assert_eq!((info.provider.as_str(), info.method.as_str()), ("vdir", "local_files"));
    tandem_policy::Policy::default().check_connection(&info).unwrap();
    let strict = tandem_policy::Policy { allow_in_memory: false, ..tandem_policy::Policy::default() };
    strict.check_connection(&info).unwrap();
}
