//! The second half of the head to head: 2,000 events (the same generator) from a vdir folder to a
//! **Radicale** calendar, by vdirsyncer (`filesystem` ⇄ `caldav` storages) and by Tandem
//! (`VdirConnector` ⇄ `DavConnector`), each in its own calendar of one Radicale server started
//! from the clients virtualenv on loopback (the DAV tests' `servers` module), for the same three
//! runs as the vdir half, each a separate process with its state on disk. After each run the
//! calendar is counted with a `PROPFIND` (every event there) and, after the edits, the edited
//! summaries are looked for in the vdir folder's copy on the server side through the tool's own
//! report. Under `cargo test --benches` it shrinks to 50 events.

use super::*;

#[allow(unused_imports)]
#[path = "../../crates/tandem-dav/tests/servers/mod.rs"]
mod servers;

/// The hidden argument of the Tandem child that syncs a folder with a DAV calendar.
pub(crate) const DAV_CHILD: &str = "--tandem-dav-child";

/// The calendar each tool writes to.
const TANDEM_CALENDAR: &str = "/user/calendar/";
const VDIRSYNCER_CALENDAR: &str = "/user/vdirsyncer/";

/// Runs the three runs of both tools against one Radicale; empty when Radicale is not installed
/// outside CI (the `servers` module says so loudly, and fails under CI).
pub(crate) fn run(vdirsyncer: Option<&Path>, scratch: &Path) -> Vec<(String, Option<Measure>, Measure)> {
    let n = support::scaled(2_000, 50);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let Some(server) = rt.block_on(servers::start(servers::Kind::Radicale)) else { return Vec::new() };
    let (status, body) = rt.block_on(server.request("MKCALENDAR", VDIRSYNCER_CALENDAR, None, &[]));
    assert!(status < 300, "MKCALENDAR: {status} {body}");
    println!("\ndav_vs_vdirsyncer (Radicale): {n} events, {EDITS} edits; {}", server.base);
    let source = scratch.join("radicale-source");
    generate(&source, n);

    let tandem = {
        let dir = scratch.join("radicale-tandem");
        let a = dir.join("A");
        copy_dir(&source, &a);
        let exe = std::env::current_exe().unwrap().display().to_string();
        let state = dir.join("state.sqlite").display().to_string();
        let command = vec![
            exe,
            DAV_CHILD.into(),
            "--state".into(),
            state,
            a.display().to_string(),
            server.base.clone(),
            TANDEM_CALENDAR.into(),
        ];
        Runner { name: "tandem", a, b: dir.join("server"), command }
    };
    let vs = vdirsyncer.map(|bin| {
        let dir = scratch.join("radicale-vdirsyncer");
        let a = dir.join("A");
        copy_dir(&source, &a);
        let config = format!(
            "[general]\nstatus_path = \"{dir}/status/\"\n\n[pair bench]\na = \"bench_a\"\nb = \"bench_b\"\n\
             collections = null\nconflict_resolution = \"a wins\"\n\n\
             [storage bench_a]\ntype = \"filesystem\"\npath = \"{a}/\"\nfileext = \".ics\"\n\n\
             [storage bench_b]\ntype = \"caldav\"\nurl = \"{base}{cal}\"\nusername = \"{user}\"\npassword = \"{pw}\"\n",
            dir = dir.display(),
            a = a.display(),
            base = server.base.trim_end_matches('/'),
            cal = VDIRSYNCER_CALENDAR,
            user = servers::USER,
            pw = servers::PASSWORD,
        );
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("config");
        std::fs::write(&config_path, config).unwrap();
        let base = vec![bin.display().to_string(), "--config".into(), config_path.display().to_string()];
        let discover = Command::new(&base[0]).args(&base[1..]).arg("discover").stdin(Stdio::null()).output().unwrap();
        assert!(discover.status.success(), "vdirsyncer discover: {}", String::from_utf8_lossy(&discover.stderr));
        let mut command = base;
        command.push("sync".into());
        Runner { name: "vdirsyncer", a, b: dir.join("server"), command }
    });
    for runner in std::iter::once(&tandem).chain(vs.as_ref()) {
        std::fs::create_dir_all(&runner.b).unwrap();
    }

    let count = |path: &str| -> usize {
        let (status, body) = rt.block_on(server.request(
            "PROPFIND",
            path,
            Some((
                r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#,
                "application/xml",
            )),
            &[("Depth", "1")],
        ));
        assert_eq!(status, 207, "{body}");
        servers::hrefs(&body).iter().filter(|h| h.ends_with(".ics")).count()
    };
    let edited = |path: &str| -> usize {
        let (status, body) = rt.block_on(server.request(
            "REPORT",
            path,
            Some((
                r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>"#,
                "application/xml",
            )),
            &[("Depth", "1")],
        ));
        assert_eq!(status, 207, "{body}");
        body.matches("SUMMARY:Edited ").count()
    };

    let mut rows = Vec::new();
    for (step, label) in ["first sync", "incremental (100 edits)", "no change"].iter().enumerate() {
        if step == 1 {
            for runner in std::iter::once(&tandem).chain(vs.as_ref()) {
                edit(&runner.a, n);
            }
        }
        let t = tandem.run();
        assert_eq!(count(TANDEM_CALENDAR), n, "tandem: the calendar after step {step}");
        let v = vs.as_ref().map(|r| {
            let m = r.run();
            assert_eq!(count(VDIRSYNCER_CALENDAR), n, "vdirsyncer: the calendar after step {step}");
            m
        });
        if step >= 1 {
            assert!(edited(TANDEM_CALENDAR) >= EDITS.min(n), "tandem: the edits did not arrive");
            if vs.is_some() {
                assert!(edited(VDIRSYNCER_CALENDAR) >= EDITS.min(n), "vdirsyncer: the edits did not arrive");
            }
        }
        rows.push((label.to_string(), v, t));
    }
    drop(server);
    rows
}

/// The Tandem child of a Radicale run: one sync of the events of folder A with the calendar at
/// `base` + `calendar`.
pub(crate) fn child(args: &[String]) {
    let [flag, state, a, base, calendar] = args else { panic!("usage: {DAV_CHILD} --state STATE A BASE CALENDAR") };
    assert_eq!(flag, "--state");
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let fsync = std::env::var("TANDEM_BENCH_FSYNC").map_or(true, |v| v != "0");
        let folder = VdirConnector::new(VdirConfig { fsync, ..VdirConfig::new().with_events(a) }).unwrap();
        let dav = tandem::dav::DavConfig::new(base.clone())
            .with_basic(servers::USER, tandem::connector::http::Secret::new(servers::PASSWORD))
            .with_calendar(tandem::dav::CollectionChoice::Path(calendar.clone()));
        let dav = tandem::dav::DavConnector::new(dav, servers::http()).unwrap();
        let mut config = SyncConfig::named("radicale");
        config.events = ObjectConfig { window: None, foreign_organizers: ForeignOrganizers::Sync, ..config.events };
        let engine = Engine::new(Arc::new(SqliteStore::open(state).await.unwrap())).with_policy(servers::policy());
        let job = UserSync::new("radicale", config, Arc::new(folder), Arc::new(dav));
        let options = SyncOptions { objects: Some(vec![ObjectKind::Event]), ..SyncOptions::default() };
        let report = engine.sync_user(&job, &options).await.unwrap();
        let events = report.object(ObjectKind::Event).unwrap();
        assert!(events.failed.is_empty() && events.quarantined.is_empty(), "{report}");
        println!(
            "tandem child: pulled folder {} server {}, {} writes; {:.3} s",
            events.pulled.get(&Side::Crm).copied().unwrap_or(0),
            events.pulled.get(&Side::Mailbox).copied().unwrap_or(0),
            report.total_writes(),
            started.elapsed().as_secs_f64()
        );
    });
}
