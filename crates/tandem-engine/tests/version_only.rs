//! Changes reported by version only (`ChangeKind::VersionOnly`, as CalDAV `sync-collection`
//! rounds report them): echoes of Tandem's own writes are dropped unread, other changes are
//! read before planning, and a read that fails delays a change without losing it, even when the
//! person edits the record again meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use tandem_connector::ConnectorError;
use tandem_connector::memory::MemoryConnector;
use tandem_core::model::{Contact, ObjectKind, Record};
use tandem_core::state::RecordId;
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_store::SqliteStore;

const C: ObjectKind = ObjectKind::Contact;

fn person(n: usize) -> Record {
    Record::Contact(Contact { family_name: Some(format!("Person {n:03}")), ..Contact::default() })
}

fn title_of(c: &MemoryConnector, id: &RecordId) -> Option<String> {
    match c.get(C, id)? {
        Record::Contact(contact) => contact.title,
        Record::Event(_) => None,
    }
}

fn set_title(c: &MemoryConnector, id: &RecordId, title: &str) {
    assert!(c.edit(C, id, |r| if let Record::Contact(contact) = r {
        contact.title = Some(title.to_owned());
    }));
}

#[tokio::test]
async fn echoes_are_not_read_and_a_failed_read_loses_nothing() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::new(store.clone());
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox").with_version_only_increments();
    for n in 0..20 {
        crm.insert(person(n));
    }
    let job =
        UserSync::new("ada@example.com", SyncConfig::named("s"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    let contacts = SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() };
    let first = engine.sync_user(&job, &contacts).await.unwrap();
    assert_eq!(first.object(C).unwrap().applied("create"), 20, "{first}");

    // The mailbox lists the 20 records Tandem created, by version only: none is read.
    let fetches = mailbox.counts().fetches;
    let echo = engine.sync_user(&job, &contacts).await.unwrap();
    assert_eq!(echo.total_writes(), 0, "{echo}");
    assert_eq!(echo.object(C).unwrap().echoes_suppressed, 20, "{echo}");
    assert_eq!(mailbox.counts().fetches, fetches, "no record read back");

    // A person's edit in the mailbox is read and reaches the CRM.
    let (id, _) = mailbox.records(C).into_iter().next().unwrap();
    set_title(&mailbox, &id, "Director");
    let r = engine.sync_user(&job, &contacts).await.unwrap();
    assert_eq!(r.object(C).unwrap().applied("update"), 1, "{r}");
    assert_eq!(mailbox.counts().fetches, fetches + 1, "one read, of the edited record");
    let crm_id = crm
        .records(C)
        .into_iter()
        .find(|(_, r)| matches!(r, Record::Contact(c) if c.title.as_deref() == Some("Director")))
        .map(|(id, _)| id);
    assert!(crm_id.is_some(), "the title reached the CRM");

    // Another edit, whose read fails (every retry): the cycle fails before planning; nothing
    // is committed, the cursor stays.
    let (other, _) = mailbox.records(C).into_iter().nth(1).unwrap();
    set_title(&mailbox, &other, "Engineer");
    mailbox.set_fetch_failures((0..20).map(|_| ConnectorError::Transient { message: "read timed out".into() }));
    assert!(engine.sync_user(&job, &contacts).await.is_err(), "the read failed");
    assert!(
        crm.records(C).iter().all(|(_, r)| !matches!(r, Record::Contact(c) if c.title.as_deref() == Some("Engineer")))
    );

    // The person edits it again meanwhile, and the CRM edits a third record: both arrive.
    set_title(&mailbox, &other, "Principal engineer");
    let family = |r: &Record| match r {
        Record::Contact(c) => c.family_name.clone(),
        Record::Event(_) => None,
    };
    let others_family = family(&mailbox.get(C, &other).unwrap());
    let (third, _) =
        crm.records(C).into_iter().find(|(id, r)| Some(id) != crm_id.as_ref() && family(r) != others_family).unwrap();
    set_title(&crm, &third, "Treasurer");
    mailbox.set_fetch_failures([]);
    let r = engine.sync_user(&job, &contacts).await.unwrap();
    assert_eq!(r.object(C).unwrap().applied("update"), 2, "{r}");
    assert!(
        crm.records(C)
            .iter()
            .any(|(_, r)| matches!(r, Record::Contact(c) if c.title.as_deref() == Some("Principal engineer")))
    );
    assert!(
        mailbox
            .records(C)
            .iter()
            .any(|(_, r)| matches!(r, Record::Contact(c) if c.title.as_deref() == Some("Treasurer")))
    );
    assert_eq!(title_of(&mailbox, &other).as_deref(), Some("Principal engineer"));

    // And then all is quiet: the echo of the Treasurer update is not read either.
    let fetches = mailbox.counts().fetches;
    let quiet = engine.sync_user(&job, &contacts).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
    assert_eq!(mailbox.counts().fetches, fetches);
}
