//! Two vdir folders synced through the engine with SQLite state on disk: first sync, incremental
//! edits on both sides, conflicts, deletes, unknown properties, files rewritten by other programs,
//! unchanged files not read, bad files quarantined while the others sync.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod vdir_common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use tandem_core::model::ObjectKind;
use vdir_common::*;

#[tokio::test]
async fn first_sync_copies_both_ways_then_unchanged_files_are_not_read() {
    let w = World::new().await;
    for i in 0..5 {
        write_event(&w.a_events, &format!("a{i}.ics"), &format!("uid-a{i}"), &format!("Meeting {i} — Café"), "");
    }
    write_event(&w.b_events, "b0.ics", "uid-b0", "From B", "");
    write_event(&w.b_events, "b1.ics", "uid-b1", "Also from B", "");
    for i in 0..3 {
        write_contact(&w.a_contacts, &format!("c{i}.vcf"), &format!("uid-c{i}"), &format!("Person{i}"), "");
    }

    let report = w.sync().await;
    assert!(report.object(ObjectKind::Event).unwrap().quarantined.is_empty(), "{report}");
    assert_eq!(items(&w.a_events).len(), 7);
    assert_eq!(items(&w.b_events).len(), 7);
    assert_eq!(items(&w.b_contacts).len(), 3);
    // Files Tandem creates are named after the idempotency key, and keep the source's UID.
    let created: Vec<String> = items(&w.b_events).into_iter().filter(|n| n.starts_with("tdm")).collect();
    assert_eq!(created.len(), 5);
    let uids: Vec<String> = created.iter().map(|n| uid_of(&w.b_events.join(n))).collect();
    for i in 0..5 {
        assert!(uids.contains(&format!("uid-a{i}")), "{uids:?}");
    }

    // The next sync reads no file at all: the files Tandem wrote carry its mark (their metadata
    // is new to the cursor, but they are its own writes), the others did not change.
    let written = (w.a.files_written(), w.b.files_written());
    let reads = (w.a.files_read(), w.b.files_read());
    let report = w.sync().await;
    assert_eq!((w.a.files_read(), w.b.files_read()), reads, "a sync with no change read files: {report}");
    assert_eq!((w.a.files_written(), w.b.files_written()), written);
    assert_eq!(report.total_writes(), 0);
    w.sync().await;
    assert_eq!((w.a.files_read(), w.b.files_read()), reads);

    // One edit: exactly that file is read on A (and B's target once, before it is written).
    touch_edit(&w.a_events.join("a3.ics"), "Meeting 3 — Café", "Meeting 3, moved");
    let reads = (w.a.files_read(), w.b.files_read());
    w.sync().await;
    assert_eq!(w.a.files_read() - reads.0, 1);
    assert_eq!(w.b.files_read() - reads.1, 1);
    let target = find_by_uid(&w.b_events, "uid-a3");
    assert!(fs::read_to_string(&target).unwrap().contains("SUMMARY:Meeting 3\\, moved"));

    // A file Tandem wrote (it carries Tandem's mark), edited in place by another program (same
    // inode): its mtime is the kernel's now, so it is read and synced.
    let inode = fs::metadata(&target).unwrap().ino();
    let text = fs::read_to_string(&target).unwrap().replace("Meeting 3\\, moved", "Meeting 3\\, moved again");
    fs::write(&target, text).unwrap();
    assert_eq!(fs::metadata(&target).unwrap().ino(), inode);
    w.sync().await;
    assert!(summary_of(&w.a_events.join("a3.ics")).contains("moved again"));
}

#[tokio::test]
async fn edits_on_both_sides_conflicts_and_deletes() {
    let w = World::new().await;
    for i in 0..4 {
        write_event(&w.a_events, &format!("e{i}.ics"), &format!("uid-{i}"), &format!("Event {i}"), "");
    }
    write_contact(&w.a_contacts, "ada.vcf", "uid-ada", "Lovelace", "");
    w.sync().await;
    w.sync().await;

    // Both sides edit: A renames event 0, B renames event 1 and the contact.
    touch_edit(&w.a_events.join("e0.ics"), "Event 0", "Event 0 (A)");
    touch_edit(&find_by_uid(&w.b_events, "uid-1"), "Event 1", "Event 1 (B)");
    // Contacts have no UID in the model: B's copy carries its idempotency key as its UID.
    let b_ada = w.b_contacts.join(&items(&w.b_contacts)[0]);
    assert!(uid_of(&b_ada).starts_with("tdm"));
    touch_edit(&b_ada, "Lovelace", "King-Noel");
    // The same field of event 2 on both sides: a conflict; A (the CRM side) wins by default.
    touch_edit(&w.a_events.join("e2.ics"), "Event 2", "Event 2 (A wins)");
    touch_edit(&find_by_uid(&w.b_events, "uid-2"), "Event 2", "Event 2 (B loses)");
    // A deletes event 3: deletes of events propagate.
    fs::remove_file(w.a_events.join("e3.ics")).unwrap();

    let report = w.sync().await;
    let events = report.object(ObjectKind::Event).unwrap();
    assert!(!events.conflicts.is_empty(), "{report}");
    assert!(summary_of(&find_by_uid(&w.b_events, "uid-0")).contains("Event 0 (A)"));
    assert!(summary_of(&w.a_events.join("e1.ics")).contains("Event 1 (B)"));
    assert!(fs::read_to_string(w.a_contacts.join("ada.vcf")).unwrap().contains("King-Noel"));
    assert!(summary_of(&w.a_events.join("e2.ics")).contains("A wins"));
    assert!(summary_of(&find_by_uid(&w.b_events, "uid-2")).contains("A wins"));
    assert_eq!(items(&w.b_events).len(), 3, "{:?}", items(&w.b_events));
    assert!(items(&w.b_events).iter().all(|n| uid_of(&w.b_events.join(n)) != "uid-3"));

    // Settled: nothing more to do.
    w.sync().await;
    let report = w.sync().await;
    assert_eq!(report.total_writes(), 0, "{report}");
}

#[tokio::test]
async fn unknown_properties_survive_and_identical_rewrites_are_not_rewritten() {
    let w = World::new().await;
    write_event(&w.a_events, "meet.ics", "uid-meet", "Planning", "");
    // B already holds the same event, written by another program with things Tandem does not own.
    let extra = "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\nATTACH;FMTTYPE=application/pdf:https://files.example/agenda.pdf\r\n\
                 SEQUENCE:4\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\n";
    write_event(&w.b_events, "meet-from-khal.ics", "uid-meet", "Planning", extra);
    write_contact(&w.a_contacts, "ada.vcf", "uid-ada", "Lovelace", "");
    write_contact(
        &w.b_contacts,
        "ada-b.vcf",
        "uid-ada",
        "Lovelace",
        "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRg\r\nitem1.URL:https://ada.example\r\nitem1.X-ABLabel:blog\r\n",
    );
    w.sync().await;
    w.sync().await;
    assert_eq!(items(&w.b_events), ["meet-from-khal.ics"], "matched by UID, not copied");

    touch_edit(&w.a_events.join("meet.ics"), "Planning", "Planning, round two");
    touch_edit(&w.a_contacts.join("ada.vcf"), "Lovelace", "Byron");
    w.sync().await;
    let b = fs::read_to_string(w.b_events.join("meet-from-khal.ics")).unwrap();
    assert!(b.contains("SUMMARY:Planning\\, round two"), "{b}");
    for kept in [
        "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
        "ATTACH;FMTTYPE=application/pdf:",
        "SEQUENCE:4",
        "BEGIN:VALARM",
        "TRIGGER:-PT15M",
    ] {
        assert!(b.contains(kept), "{kept} lost:\n{b}");
    }
    let card = fs::read_to_string(w.b_contacts.join("ada-b.vcf")).unwrap();
    assert!(card.contains("Byron"), "{card}");
    for kept in ["PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRg", "item1.URL:https://ada.example", "item1.X-ABLabel:blog"] {
        assert!(card.contains(kept), "{kept} lost:\n{card}");
    }
    w.sync().await;

    // Another program rewrites B's file with the same bytes (new inode, new mtime): read, seen as
    // an echo, never written back.
    let path = w.b_events.join("meet-from-khal.ics");
    let bytes = fs::read(&path).unwrap();
    let tmp = w.b_events.join(".khal-tmp");
    fs::write(&tmp, &bytes).unwrap();
    fs::rename(&tmp, &path).unwrap();
    let inode = fs::metadata(&path).unwrap().ino();
    let written = (w.a.files_written(), w.b.files_written());
    let reads = w.b.files_read();
    let report = w.sync().await;
    assert_eq!(w.b.files_read() - reads, 1, "the rewritten file is read");
    assert_eq!((w.a.files_written(), w.b.files_written()), written, "{report}");
    assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[tokio::test]
async fn bad_files_are_quarantined_while_the_others_sync() {
    let w = World::with_max_file_size(4096).await;
    for i in 0..3 {
        write_event(&w.a_events, &format!("ok{i}.ics"), &format!("uid-ok{i}"), "Fine", "");
    }
    fs::write(w.a_events.join("broken.ics"), "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:no end\r\n").unwrap();
    fs::write(w.a_events.join("latin1.ics"), b"BEGIN:VCALENDAR\r\nSUMMARY:Caf\xe9\r\nEND:VCALENDAR\r\n").unwrap();
    let huge = format!("BEGIN:VCALENDAR\r\nX-PAD:{}\r\nEND:VCALENDAR\r\n", "x".repeat(5000));
    fs::write(w.a_events.join("huge.ics"), huge).unwrap();
    fs::write(w.a_events.join("two.ics"), two_events()).unwrap();
    // Not items at all: ignored, never quarantined.
    fs::write(w.a_events.join(".hidden.ics"), "garbage").unwrap();
    fs::write(w.a_events.join(".tandem-1-1.tmp"), "garbage").unwrap();
    fs::write(w.a_events.join("notes.txt"), "garbage").unwrap();

    let report = w.sync().await;
    let events = report.object(ObjectKind::Event).unwrap();
    let mut bad: Vec<&str> = events.quarantined.iter().map(|q| q.id.as_str()).collect();
    bad.sort_unstable();
    assert_eq!(bad, ["broken.ics", "huge.ics", "latin1.ics", "two.ics"], "{report}");
    assert!(events.quarantined.iter().any(|q| q.reason.contains("UTF-8")), "{report}");
    assert_eq!(items(&w.b_events).len(), 3);

    // Fixed, it syncs.
    write_event(&w.a_events, "broken.ics", "uid-fixed", "Fixed", "");
    w.sync().await;
    assert_eq!(items(&w.b_events).len(), 4);
    assert!(find_by_uid(&w.b_events, "uid-fixed").exists());
}
