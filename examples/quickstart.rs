//! Tandem's quickstart: two in-memory sides standing in for a CRM and a mailbox, a few hundred
//! realistic records, a first sync that links what already matches instead of duplicating it,
//! then edits on both sides (including a conflicting edit, deletes and a malformed record) and
//! two more syncs. State lives in a SQLite file under `target/`.
//!
//! Run: `cargo run --example quickstart`

use std::error::Error;
use std::sync::Arc;

use chrono::NaiveDate;
use tandem::core::capabilities::{Capabilities, ObjectCapabilities};
use tandem::core::fields::FieldKey;
use tandem::core::model::{EventTime, PhoneKind};
use tandem::prelude::*;
use tandem_testkit::generate;

fn title(c: &mut Record, value: &str) {
    if let Record::Contact(c) = c {
        c.title = Some(value.to_owned());
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).init();

    // State: a SQLite file under target/, fresh for each run of the demo.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("tandem-quickstart.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = Arc::new(SqliteStore::open(&db).await?);

    // The mailbox side, like Microsoft Graph, cannot store some phone kinds: declared as data,
    // so Tandem never blanks them in the CRM.
    let mut mailbox_caps = Capabilities::everything();
    mailbox_caps.contacts = ObjectCapabilities::everything(ObjectKind::Contact)
        .without(FieldKey::Phone(PhoneKind::Assistant))
        .without(FieldKey::Phone(PhoneKind::BusinessFax))
        .without(FieldKey::Phone(PhoneKind::HomeFax))
        .without(FieldKey::Phone(PhoneKind::Other));
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox").with_capabilities(mailbox_caps);

    // 250 CRM contacts; the mailbox already holds 60 of them (emails in other case) plus 90 of
    // its own. Events likewise: 80 in the CRM, 20 of which the mailbox already has.
    let anchor = NaiveDate::from_ymd_opt(2026, 11, 26).ok_or("bad date")?;
    let people = generate::contacts(7, 340);
    let mut crm_ids = Vec::new();
    for (i, c) in people.iter().enumerate() {
        if i < 250 {
            crm_ids.push(crm.insert(Record::Contact(c.clone())));
        }
        if !(60..250).contains(&i) {
            let mut copy = c.clone();
            for e in &mut copy.emails {
                e.address = e.address.to_uppercase();
            }
            mailbox.insert(Record::Contact(copy));
        }
    }
    let events = generate::events(11, 100, anchor);
    let mut crm_event_ids = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if i < 80 {
            crm_event_ids.push(crm.insert(Record::Event(e.clone())));
        }
        if !(20..80).contains(&i) {
            mailbox.insert(Record::Event(e.clone()));
        }
    }

    let engine = Engine::new(store.clone());
    let job =
        UserSync::new("ada@example.com", SyncConfig::named("sales"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));

    println!("== Cycle 1: first sync (existing records are linked, not duplicated) ==");
    let first = engine.sync_user(&job, &SyncOptions::default()).await?;
    println!("{first}");

    // Edits on both sides.
    let mailbox_contacts = mailbox.records(ObjectKind::Contact);
    let find_in_mailbox = |crm_id: &tandem::core::state::RecordId| {
        let email = crm.get(ObjectKind::Contact, crm_id).and_then(|r| match r {
            Record::Contact(c) => c.primary_email_key(),
            Record::Event(_) => None,
        });
        mailbox_contacts
            .iter()
            .find(|(_, r)| matches!(r, Record::Contact(c) if c.primary_email_key() == email))
            .map(|(id, _)| id.clone())
    };
    let (a, b, c) = (&crm_ids[0], &crm_ids[1], &crm_ids[2]);
    let (a_mb, b_mb, c_mb) = (find_in_mailbox(a), find_in_mailbox(b), find_in_mailbox(c));
    // Different fields on the two sides: both edits survive (field-level merge).
    crm.edit(ObjectKind::Contact, a, |r| title(r, "VP Sales"));
    if let Some(id) = &a_mb {
        mailbox.edit(ObjectKind::Contact, id, |r| {
            if let Record::Contact(c) = r {
                c.department = Some("Enterprise — EMEA".into());
            }
        });
    }
    // The same field on both sides: a conflict, settled by the fallback side (the CRM).
    crm.edit(ObjectKind::Contact, b, |r| title(r, "Chief Revenue Officer"));
    if let Some(id) = &b_mb {
        mailbox.edit(ObjectKind::Contact, id, |r| title(r, "CRO"));
    }
    // A contact deleted in the mailbox: not propagated (as Lightning Sync), but unlinked so it
    // is never re-created there.
    if let Some(id) = &c_mb {
        mailbox.remove(ObjectKind::Contact, id);
    }
    // An event cancelled in the CRM: event deletes propagate.
    crm.remove(ObjectKind::Event, &crm_event_ids[0]);
    // A malformed event arrives in the mailbox: quarantined, the rest goes on.
    let mut broken = events[0].clone();
    broken.ical_uid = Some("broken@tandem.test".into());
    broken.subject = Some("Ends before it starts".into());
    broken.timing.end = EventTime::utc(anchor.and_hms_opt(9, 0, 0).ok_or("bad time")?);
    broken.timing.start = EventTime::utc(anchor.and_hms_opt(10, 0, 0).ok_or("bad time")?);
    mailbox.insert(Record::Event(broken));

    println!("== Cycle 2: after edits on both sides ==");
    let second = engine.sync_user(&job, &SyncOptions::default()).await?;
    println!("{second}");

    println!("== Cycle 3: nothing changed, nothing to do ==");
    let third = engine.sync_user(&job, &SyncOptions::default()).await?;
    println!("{third}");

    let merged = crm.get(ObjectKind::Contact, a);
    if let Some(Record::Contact(c)) = merged {
        println!(
            "merged contact: title {:?} (from the CRM), department {:?} (from the mailbox)",
            c.title, c.department
        );
    }
    println!(
        "records now: CRM {} contacts / {} events; mailbox {} contacts / {} events; quarantined {}",
        crm.len(ObjectKind::Contact),
        crm.len(ObjectKind::Event),
        mailbox.len(ObjectKind::Contact),
        mailbox.len(ObjectKind::Event),
        store.quarantine("ada@example.com").await?.len(),
    );
    println!("state: {}", db.display());
    Ok(())
}
