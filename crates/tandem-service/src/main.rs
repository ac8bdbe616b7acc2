//! The `tandem` command. Everything is in the library (`tandem_service::cli`).
//!
//! The binary's one decision of its own is its allocator: jemalloc (`tikv-jemallocator`, the
//! `jemalloc` feature, on by default), for Rust's allocations and, through its unprefixed
//! `malloc`, SQLite's. A sync cycle allocates and frees small objects at a high rate on several
//! threads (records, ids, prints, SQLite's rows), and glibc's `malloc` and `free` were over a
//! quarter of all instructions of a cycle. With jemalloc, `benches/cycle.rs`' cycle of 10,000
//! changes took a quarter less time, and a first sync of 10,000 events between two folders ran
//! an eighth fewer instructions, with about the same peak memory (figures in
//! `docs/operations.md`, "Allocator"). mimalloc was faster still on instructions but nearly doubled that first sync's
//! peak memory. A library cannot choose the allocator of the program it is built into: programs
//! that embed Tandem choose their own.

#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    tandem_service::cli::main()
}
