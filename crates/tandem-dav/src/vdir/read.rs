//! Reading item files into changes: one file at a time, each failure confined to its file.
//!
//! A file that cannot be read as one item (unparseable, not UTF-8, bigger than the limit, holding
//! two events) becomes a [`ChangeKind::Invalid`] change with the reason, which the engine
//! quarantines; the other files sync. A file gone between listing and reading is a delete.

use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use tandem_connector::ConnectorError;
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, Cursor, RecordId, Version};

use super::{map, scan};

/// A collection folder: where its files are and how they are named.
#[derive(Debug)]
pub(crate) struct Folder {
    /// The object kind of its items.
    pub(crate) kind: ObjectKind,
    /// The folder.
    pub(crate) dir: std::path::PathBuf,
    /// The item file extension, dot included.
    pub(crate) ext: String,
    /// The size limit of one item file.
    pub(crate) max_file_size: u64,
    /// Whether writes are flushed to disk ([`super::VdirConfig::fsync`]).
    pub(crate) fsync: bool,
    /// Whether a batch may be flushed with its file system
    /// ([`super::VdirConfig::flush_file_system`]).
    pub(crate) flush_file_system: bool,
    /// The writer nonce of the last cursor pulled (0: none yet), which marks the files this
    /// connector writes (see `scan::marker`).
    pub(crate) nonce: AtomicU64,
}

impl Folder {
    /// The path of the item whose record id (file name) is `name`; `None` for names that are not
    /// item files of this folder (another extension, a path, a dotfile), which no id may escape
    /// to.
    pub(crate) fn path_of(&self, name: &str) -> Option<std::path::PathBuf> {
        if name.contains(['/', '\\', '\0']) {
            return None;
        }
        super::scan::item_stem(name, &self.ext)?;
        Some(self.dir.join(name))
    }

    /// The file name of the item with `stem`.
    pub(crate) fn name_of(&self, stem: &str) -> String {
        format!("{stem}{}", self.ext)
    }
}

/// An item file as read.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// One item: its record and version.
    Item {
        /// What it holds.
        record: Record,
        /// The version of its bytes.
        version: Version,
        /// When the file was last modified.
        modified: Option<DateTime<Utc>>,
    },
    /// Not an item Tandem can read, and why.
    Invalid {
        /// Why.
        reason: String,
        /// The version of its bytes (empty when they could not be read).
        version: Version,
    },
    /// The file does not exist.
    Gone,
}

/// The bytes of a file and when it was last modified.
pub(crate) type Bytes = (Vec<u8>, Option<DateTime<Utc>>);

/// Reads `path` into memory, refusing files bigger than `limit`. Counts the read in `reads`.
pub(crate) fn read_bytes(path: &Path, limit: u64, reads: &AtomicU64) -> io::Result<Result<Bytes, String>> {
    let file = fs::File::open(path)?;
    let md = file.metadata()?;
    let len = md.len();
    let modified = md.modified().ok().map(DateTime::<Utc>::from);
    if len > limit {
        return Ok(Err(format!("the file has {len} bytes, more than the limit of {limit}")));
    }
    reads.fetch_add(1, Ordering::Relaxed);
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(1));
    // One byte more than allowed tells a file that grew since `metadata`.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Err(format!("the file has more than {limit} bytes, the limit")));
    }
    Ok(Ok((bytes, modified)))
}

/// Reads the item file `name` of `folder`.
pub(crate) fn load(folder: &Folder, name: &str, reads: &AtomicU64) -> Loaded {
    let Some(path) = folder.path_of(name) else {
        return Loaded::Gone;
    };
    let (bytes, modified) = match read_bytes(&path, folder.max_file_size, reads) {
        Ok(Ok(read)) => read,
        Ok(Err(reason)) => return Loaded::Invalid { reason, version: Version::default() },
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Gone,
        Err(e) => {
            return Loaded::Invalid { reason: format!("the file cannot be read: {e}"), version: Version::default() };
        }
    };
    let version = map::version_of(&bytes);
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            return Loaded::Invalid { reason: format!("the file is not UTF-8 (byte {at})"), version };
        }
    };
    match map::parse_item(folder.kind, &text) {
        Ok(record) => Loaded::Item { record, version, modified },
        Err(reason) => Loaded::Invalid { reason, version },
    }
}

/// The change a pull or fetch reports for the file `name` as loaded.
pub(crate) fn change(folder: &Folder, name: &str, loaded: Loaded) -> Change {
    let id = RecordId::new(name);
    let sync_key = name.strip_suffix(folder.ext.as_str()).and_then(map::key_of_stem);
    let (version, modified_at, kind) = match loaded {
        Loaded::Item { record, version, modified, .. } => (version, modified, ChangeKind::Upserted { record }),
        Loaded::Invalid { reason, version } => (version, None, ChangeKind::Invalid { reason }),
        Loaded::Gone => (Version::default(), None, ChangeKind::Deleted),
    };
    Change { id, version, modified_at, sync_key, kind }
}

/// How many item files to read before reading on more threads.
const PARALLEL_FROM: usize = 64;

/// Reads `names` of `folder` into changes, in order, on up to four threads when there are many:
/// the calling thread reads the last part itself, so that only the other parts' records come
/// from other threads' allocator arenas (where their memory stays as free space once the caller
/// has dropped them).
pub(crate) fn load_all(folder: &Folder, names: &[String], reads: &AtomicU64) -> Vec<Change> {
    let read_part =
        |part: &[String]| -> Vec<Change> { part.iter().map(|n| change(folder, n, load(folder, n, reads))).collect() };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    if names.len() < PARALLEL_FROM || threads < 2 {
        return read_part(names);
    }
    let chunk = names.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = names.chunks(chunk);
        let last = parts.next_back().unwrap_or_default();
        let others: Vec<_> = parts.map(|part| (part, scope.spawn(move || read_part(part)))).collect();
        let mine = read_part(last);
        let mut out: Vec<Change> = Vec::with_capacity(names.len());
        for (part, handle) in others {
            // A panic in a reader thread (a bug) costs that part a second try on this thread.
            out.extend(handle.join().unwrap_or_else(|_| read_part(part)));
        }
        out.extend(mine);
        out
    })
}

/// One pull: lists the folder, compares with the listing in `cursor` (`None`: report every file)
/// and reads only the files whose metadata changed, except Tandem's own untouched writes (see
/// `scan::marker`). Returns the changes and the next cursor.
///
/// # Errors
///
/// `CursorExpired` for a cursor of another folder or format; `Transient` when the folder cannot
/// be listed (a missing folder is never taken as every item deleted).
pub(crate) fn pull(
    folder: &Folder,
    cursor: Option<&Cursor>,
    reads: &AtomicU64,
) -> Result<(Vec<Change>, Cursor), ConnectorError> {
    let scope = scan::scope_print(&folder.dir, &folder.ext);
    let previous = match cursor {
        None => None,
        Some(c) => Some(scan::decode(scope, c).ok_or(ConnectorError::CursorExpired)?),
    };
    let listing = scan::list(&folder.dir, &folder.ext).map_err(|e| ConnectorError::Transient {
        message: format!("cannot list the {} folder {}: {e}", folder.kind, folder.dir.display()),
    })?;
    let (nonce, changed, gone): (u64, Vec<String>, Vec<String>) = match &previous {
        None => (scan::fresh_nonce(), listing.iter().map(|e| folder.name_of(&e.stem)).collect(), Vec::new()),
        Some((nonce, previous)) => {
            let d = scan::diff(previous, &listing);
            let changed = d
                .changed
                .iter()
                .map(|e| folder.name_of(&e.stem))
                .zip(&d.changed)
                .filter(|(name, e)| !e.meta.is_marked(*nonce, name))
                .map(|(name, _)| name)
                .collect();
            (*nonce, changed, d.gone)
        }
    };
    folder.nonce.store(nonce, Ordering::Relaxed);
    let mut changes = load_all(folder, &changed, reads);
    changes.extend(gone.iter().map(|stem| change(folder, &folder.name_of(stem), Loaded::Gone)));
    Ok((changes, scan::encode(scope, nonce, &listing)))
}
