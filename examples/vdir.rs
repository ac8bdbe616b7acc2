//! Two vdir folders kept in step: vdirsyncer's `filesystem` storage (one `.ics` or `.vcf` file
//! per item), synced both ways through Tandem's engine with its state in SQLite on disk.
//!
//! Run:
//!
//! ```text
//! cargo run --example vdir -- --state STATE.sqlite --events A/ B/ [--contacts A/ B/]
//! cargo run --example vdir            # a demo in temporary folders
//! ```
//!
//! The first folder of each pair is the engine's CRM side, the second its mailbox side: on a
//! conflict in one field, the first wins. Deletes of events propagate both ways; deletes of
//! contacts unlink the pair (the engine's defaults). Run it again to sync again: only files whose
//! metadata changed are read.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tandem::core::config::ForeignOrganizers;
use tandem::dav::{VdirConfig, VdirConnector};
use tandem::prelude::*;

/// What to sync: the state file and one or two pairs of folders.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub(crate) state: PathBuf,
    pub(crate) events: Option<(PathBuf, PathBuf)>,
    pub(crate) contacts: Option<(PathBuf, PathBuf)>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let usage = "usage: vdir --state STATE.sqlite --events A/ B/ [--contacts A/ B/]";
    let mut out = Args::default();
    let pair = |args: &mut dyn Iterator<Item = String>| match (args.next(), args.next()) {
        (Some(a), Some(b)) => Ok((PathBuf::from(a), PathBuf::from(b))),
        _ => Err(usage.to_owned()),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--state" => out.state = args.next().map(PathBuf::from).ok_or(usage)?,
            "--events" => out.events = Some(pair(&mut args)?),
            "--contacts" => out.contacts = Some(pair(&mut args)?),
            _ => return Err(usage.to_owned()),
        }
    }
    if out.state.as_os_str().is_empty() || (out.events.is_none() && out.contacts.is_none()) {
        return Err(usage.to_owned());
    }
    Ok(out)
}

/// One sync of the folders in `args`.
pub(crate) async fn sync(args: &Args) -> Result<SyncReport, Box<dyn Error>> {
    let side = |pick: fn(&(PathBuf, PathBuf)) -> &PathBuf| -> Result<VdirConnector, ConnectorError> {
        let mut config = VdirConfig::new();
        config.events = args.events.as_ref().map(pick).cloned();
        config.contacts = args.contacts.as_ref().map(pick).cloned();
        VdirConnector::new(config)
    };
    let (a, b) = (side(|p| &p.0)?, side(|p| &p.1)?);

    // Everything syncs: all of time (no window), and meetings others organize too.
    let mut config = SyncConfig::named("vdir");
    config.events = ObjectConfig { window: None, foreign_organizers: ForeignOrganizers::Sync, ..config.events };
    let mut objects = Vec::new();
    objects.extend(args.events.as_ref().map(|_| ObjectKind::Event));
    objects.extend(args.contacts.as_ref().map(|_| ObjectKind::Contact));

    let engine = Engine::new(Arc::new(SqliteStore::open(&args.state).await?));
    let job = UserSync::new("vdir", config, Arc::new(a), Arc::new(b));
    let options = SyncOptions { objects: Some(objects), ..SyncOptions::default() };
    Ok(engine.sync_user(&job, &options).await?)
}

fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    std::fs::write(dir.join(name), text.replace('\n', "\r\n"))
}

/// The demo (also run by `tests/examples.rs`): a few items on each side, two syncs; an error if
/// the second wrote anything.
pub(crate) async fn demo() -> Result<(), Box<dyn Error>> {
    let root = std::env::temp_dir().join(format!("tandem-vdir-demo-{}", std::process::id()));
    let dirs = ["a/calendar", "a/contacts", "b/calendar", "b/contacts"].map(|d| root.join(d));
    for dir in &dirs {
        std::fs::create_dir_all(dir)?;
    }
    write(
        &dirs[0],
        "standup.ics",
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//khal//EN\nBEGIN:VEVENT\nUID:standup@demo\n\
         DTSTART;TZID=Europe/Berlin:20300107T093000\nDTEND;TZID=Europe/Berlin:20300107T094500\n\
         SUMMARY:Stand-up ☕\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR\nBEGIN:VALARM\nACTION:DISPLAY\n\
         TRIGGER:-PT5M\nDESCRIPTION:Stand-up\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n",
    )?;
    write(
        &dirs[2],
        "offsite.ics",
        "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:offsite@demo\nDTSTART;VALUE=DATE:20300301\n\
         DTEND;VALUE=DATE:20300303\nSUMMARY:Offsite in Zürich\nEND:VEVENT\nEND:VCALENDAR\n",
    )?;
    write(
        &dirs[1],
        "ada.vcf",
        "BEGIN:VCARD\nVERSION:3.0\nUID:ada@demo\nN:Lovelace;Ada;;;\nFN:Ada Lovelace\n\
         EMAIL;TYPE=INTERNET:ada@example.com\nX-SOCIALPROFILE:https://example.com/ada\nEND:VCARD\n",
    )?;
    let args = Args {
        state: root.join("state.sqlite"),
        events: Some((dirs[0].clone(), dirs[2].clone())),
        contacts: Some((dirs[1].clone(), dirs[3].clone())),
    };
    println!("{}", sync(&args).await?);
    let again = sync(&args).await?;
    println!("{again}");
    let _ = std::fs::remove_dir_all(&root);
    match again.total_writes() {
        0 => Ok(()),
        n => Err(format!("the second sync wrote {n} times").into()),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_none() {
        return runtime.block_on(demo());
    }
    let args = parse_args(args)?;
    let report = runtime.block_on(sync(&args))?;
    println!("{report}");
    Ok(())
}
