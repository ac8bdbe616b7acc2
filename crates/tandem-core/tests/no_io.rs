//! Guards the core's architecture invariant: no I/O crate among its dependencies.
#![allow(missing_docs)]

#[test]
fn the_core_depends_on_no_io_crate() {
    let manifest = include_str!("../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    for forbidden in [
        "tokio",
        "reqwest",
        "hyper",
        "sqlx",
        "rusqlite",
        "axum",
        "mio",
        "async-std",
        "tandem-connector",
        "tandem-store",
        "tandem-engine",
    ] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(forbidden)),
            "tandem-core must not depend on `{forbidden}` (it is sans-IO)"
        );
    }
}
