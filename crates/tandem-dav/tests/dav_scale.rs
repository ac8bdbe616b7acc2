//! 1,000 generated events (series with overrides, all-day, attendees, non-ASCII) from a memory
//! "CRM" to real servers (Radicale, Xandikos) in one engine sync, counted on the server; the
//! read back (one `sync-collection`, multigets of 100) and a quiet cycle with no write. Prints
//! timings and request counts (measurements quoted in docs/connectors/dav.md).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod servers;

use std::time::Instant;

use tandem_connector::Connector;
use tandem_core::model::{ObjectKind, Record};
use tandem_testkit::generate;

use servers::Kind;

const N: usize = 1000;

async fn thousand_events(kind: Kind) {
    let Some(w) = servers::world(kind).await else { return };
    for e in generate::events(42, N, servers::anchor()) {
        w.crm.insert(Record::Event(e));
    }
    let started = Instant::now();
    let sent = w.dav.requests_sent();
    let r = w.sync(ObjectKind::Event).await;
    let write_time = started.elapsed();
    let writes = w.dav.requests_sent() - sent;
    assert_eq!(r.object(ObjectKind::Event).unwrap().applied("create"), N, "{r}");
    assert_eq!(w.server.members(ObjectKind::Event).await.len(), N, "events on the server");

    // Everything back in one round: the initial sync-collection, then multigets of 100.
    let fresh = w.server.connector();
    let started = Instant::now();
    let all = servers::read_all(&fresh, ObjectKind::Event).await;
    let read_time = started.elapsed();
    assert_eq!(all.len(), N);
    let reads = fresh.requests_sent();
    // Discovery (well-known, principal, home) + 1 sync-collection + 10 multigets.
    assert!(reads <= 4 + 1 + N.div_ceil(100) as u64, "{reads} requests");

    let started = Instant::now();
    let quiet = w.sync(ObjectKind::Event).await;
    let quiet_time = started.elapsed();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
    println!(
        "{kind:?}: {N} events written in {write_time:.2?} ({writes} requests), read back in {read_time:.2?} \
         ({reads} requests), quiet cycle {quiet_time:.2?}; connector {:?}",
        fresh.provider()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_thousand_events() {
    thousand_events(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_thousand_events() {
    thousand_events(Kind::Xandikos).await;
}
