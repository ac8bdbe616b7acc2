//! The examples run as tests: each is compiled in here as a module and its demo run in-process
//! (both fakes on loopback, no network).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../examples/exchange.rs"]
mod exchange;

#[allow(dead_code)]
#[path = "../examples/google.rs"]
mod google;

#[allow(dead_code)]
#[path = "../examples/vdir.rs"]
mod vdir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exchange_example_runs_and_its_last_cycle_is_quiet() {
    exchange::run().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_google_example_runs_and_its_last_cycle_is_quiet() {
    google::run().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vdir_example_syncs_two_folders_and_its_second_sync_writes_nothing() {
    vdir::demo().await.unwrap();
}
