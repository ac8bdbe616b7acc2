//! # tandem-dav: CalDAV/CardDAV servers and local vdir folders
//!
//! Tandem's standards-based connectors, siblings of the Salesforce, Graph, EWS and Google ones:
//!
//! - [`dav`]: one account on a CalDAV (RFC 4791) / CardDAV (RFC 6352) server — Radicale,
//!   Xandikos, Nextcloud, Fastmail, iCloud… — found by discovery (RFC 6764: well-known URLs,
//!   `current-user-principal`, home sets), read incrementally with `sync-collection` (RFC 6578)
//!   or an etag listing where a server has none, bodies fetched by `calendar-multiget` /
//!   `addressbook-multiget`, written with `If-None-Match: *` / `If-Match` to resource names
//!   derived from idempotency keys, so a lost answer never duplicates.
//! - [`vdir`]: vdirsyncer's storage format, a folder per collection with one `.ics` or `.vcf`
//!   file per item: changes found from file metadata without reading unchanged files, atomic
//!   writes (temporary file, then rename), other programs' files never rewritten unless their
//!   content changes.
//!
//! Both map through `tandem-core`'s iCalendar and vCard interchange, and update files and
//! resources with `tandem_core::interchange::merge_icalendar` / `merge_vcard`, so properties
//! Tandem does not own (`VALARM`, `ATTACH`, `X-` properties, `PHOTO`…) survive untouched.
//!
//! The main types are re-exported here: [`DavConnector`], [`DavConfig`], [`DavBuilder`]
//! (`provider = "dav"` in `tandem.toml`), [`VdirConnector`], [`VdirConfig`], [`VdirBuilder`]
//! (`provider = "vdir"`).
//!
//! What must never live here: sync decisions (the planner's), generic HTTP plumbing
//! (`tandem_connector::http`), secrets in logs, errors or `Debug` output.
//!
//! **Crate choices.** XML goes through `quick-xml` (already the EWS connector's): a streaming,
//! namespace-aware reader that never builds a DOM for a 10,000-member `multistatus`, and a
//! writer that escapes, so no request is built by string concatenation. Versions and cursor
//! prints use `xxhash-rust`'s xxh3 (as `tandem-core`'s fingerprints do) and resource names a
//! SHA-256 of the idempotency key (`sha2`, already in the tree): stable, safe in a URL, and
//! never colliding in practice. On Linux a vdir create is moved into place by
//! `renameat2(RENAME_NOREPLACE)` through `rustix` (already in the tree through `tempfile`): the
//! standard library has no such call, and the workspace forbids the `unsafe` a raw `libc` call
//! would need.

pub mod dav;
pub mod vdir;

pub use dav::{CollectionChoice, DavBuilder, DavConfig, DavConnector};
pub use vdir::{VdirBuilder, VdirConfig, VdirConnector};
