//! Listing a collection folder by file metadata, and the cursor that remembers the last listing.
//!
//! A listing is every item file's name with a 64-bit print of its metadata (modification time in
//! nanoseconds, size, inode): one `stat` per file, no file is opened. Two listings compared
//! name by name give the files created or changed (print differs) and the names gone.
//!
//! The cursor is that listing, compact: a header (magic, format version, a print of the folder
//! and extension it belongs to, the *writer nonce*), then the names in order, each stored as the length of the
//! prefix it shares with the previous name, the rest of the name (without the extension), and
//! the 8-byte metadata print. 10,000 files named like Tandem's own (`tdm` and 32 hex digits)
//! take about 45 bytes each.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tandem_core::state::Cursor;

/// The first bytes of every cursor: format `TVD` version 2.
const MAGIC: &[u8; 4] = b"TVD2";

/// The print of a file modified too recently to trust its metadata: it never equals a listing's,
/// so the file is read again by the next pull.
pub(crate) const RACY: u64 = 0;

/// How recent a modification must be to be racy, on file systems with nanosecond timestamps:
/// the kernel stamps files from a coarse clock (one tick, 1 to 10 ms), so a file written twice
/// within one tick, with the same size, keeps its metadata. Git calls these "racily clean".
const RACY_WINDOW_NS: i128 = 100_000_000;
/// The same on file systems with whole-second (or two-second, FAT) timestamps.
const RACY_WINDOW_COARSE_NS: i128 = 2_100_000_000;

/// A file's metadata, as compared between listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    /// Modification time, nanoseconds since the epoch.
    pub(crate) mtime_ns: i128,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Inode number (a rename-based rewrite gives a new one).
    pub(crate) inode: u64,
}

impl Meta {
    pub(crate) fn of(md: &fs::Metadata) -> Meta {
        let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
        Meta { mtime_ns, size: md.size(), inode: md.ino() }
    }

    /// Whether the file was modified so shortly before `now_ns` that a later write could leave
    /// the same metadata.
    pub(crate) fn is_racy(&self, now_ns: i128) -> bool {
        let window = if self.mtime_ns % 1_000_000_000 == 0 { RACY_WINDOW_COARSE_NS } else { RACY_WINDOW_NS };
        self.mtime_ns > now_ns - window
    }

    /// Whether Tandem wrote the file under `nonce` and nothing touched it since: its mtime's
    /// nanoseconds within the second are the [`marker`] of its name, size and inode.
    pub(crate) fn is_marked(&self, nonce: u64, name: &str) -> bool {
        nonce != 0 && self.mtime_ns.rem_euclid(1_000_000_000) == i128::from(marker(nonce, name, self.size, self.inode))
    }

    /// The 64-bit print stored in the cursor ([`RACY`] never comes out of it).
    pub(crate) fn print(&self) -> u64 {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(&self.mtime_ns.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.size.to_le_bytes());
        bytes[24..].copy_from_slice(&self.inode.to_le_bytes());
        xxhash_rust::xxh3::xxh3_64(&bytes).max(1)
    }
}

/// One item file in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The file name without the extension.
    pub(crate) stem: String,
    /// Its metadata print.
    pub(crate) print: u64,
    /// Its metadata (only known for fresh listings; zero when decoded from a cursor).
    pub(crate) meta: Meta,
}

/// Whether `name` is an item file of a collection with extension `ext`: not a dotfile, not a
/// temporary file, ending with the extension (vdirsyncer's rule; other files are not items).
pub(crate) fn item_stem<'a>(name: &'a str, ext: &str) -> Option<&'a str> {
    if name.starts_with('.') || name.ends_with(".tmp") || name.ends_with('~') {
        return None;
    }
    name.strip_suffix(ext).filter(|stem| !stem.is_empty())
}

/// Lists the item files of `dir`, sorted by stem. Names that are not UTF-8 cannot be record ids
/// and are skipped with a warning; entries that are not regular files (or links to them) are
/// skipped; a file gone between listing and `stat` is left out. Files modified within the racy
/// window get the print [`RACY`].
pub(crate) fn list(dir: &Path, ext: &str) -> io::Result<Vec<Entry>> {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(i128::MAX, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
    let mut candidates = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::warn!(folder = %dir.display(), name = ?name, "skipping a file whose name is not UTF-8");
            continue;
        };
        if let Some(stem) = item_stem(name, ext) {
            candidates.push((stem.to_owned(), entry));
        }
    }
    // One `stat` per file: on two threads when there are many (the kernel's work, not the disk's).
    let stat = |part: &[(String, fs::DirEntry)]| -> io::Result<Vec<Entry>> {
        let mut out = Vec::with_capacity(part.len());
        for (stem, entry) in part {
            let md = match entry.metadata() {
                Ok(md) if md.file_type().is_symlink() => match fs::metadata(entry.path()) {
                    Ok(md) => md,
                    Err(_) => continue,
                },
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if md.is_file() {
                let meta = Meta::of(&md);
                let print = if meta.is_racy(now_ns) { RACY } else { meta.print() };
                out.push(Entry { stem: stem.clone(), print, meta });
            }
        }
        Ok(out)
    };
    let mut out = if candidates.len() < 2_000 {
        stat(&candidates)?
    } else {
        let (first, second) = candidates.split_at(candidates.len() / 2);
        let (a, b) = std::thread::scope(|scope| {
            let other = scope.spawn(|| stat(second));
            let mine = stat(first);
            (mine, other.join().unwrap_or_else(|_| stat(second)))
        });
        let mut a = a?;
        a.extend(b?);
        a
    };
    out.sort_unstable_by(|a, b| a.stem.cmp(&b.stem));
    Ok(out)
}

/// The mark of Tandem's own writes: the nanoseconds (within the second) Tandem sets as the mtime
/// of a file it writes, from the writer nonce of the connection's cursor and the file's name, size
/// and inode. A pull that finds a changed file bearing its own mark does not read it: the engine
/// knows what it wrote (an echo). Another program's write gives a kernel timestamp, whose
/// nanoseconds match by chance once in 10⁹; one that keeps the mtime (`cp -p`, `rsync -t`)
/// gives another inode. A fresh cursor draws a fresh nonce, so another Tandem state syncing the
/// same folder never takes this one's writes for its own.
pub(crate) fn marker(nonce: u64, name: &str, size: u64, inode: u64) -> u32 {
    let mut bytes = Vec::with_capacity(24 + name.len());
    bytes.extend_from_slice(&nonce.to_le_bytes());
    bytes.extend_from_slice(&size.to_le_bytes());
    bytes.extend_from_slice(&inode.to_le_bytes());
    bytes.extend_from_slice(name.as_bytes());
    (xxhash_rust::xxh3::xxh3_64(&bytes) % 1_000_000_000) as u32
}

/// A fresh writer nonce (never 0), from the clock and the process id.
pub(crate) fn fresh_nonce() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let seed = format!("{now}/{}", std::process::id());
    xxhash_rust::xxh3::xxh3_64(seed.as_bytes()).max(1)
}

/// What changed between two listings.
#[derive(Debug, Default)]
pub(crate) struct Diff<'a> {
    /// Files new or with other metadata.
    pub(crate) changed: Vec<&'a Entry>,
    /// Stems gone.
    pub(crate) gone: Vec<String>,
}

/// Compares the previous listing with the current one (both sorted by stem).
pub(crate) fn diff<'a>(old: &[Entry], new: &'a [Entry]) -> Diff<'a> {
    let mut d = Diff::default();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.stem == n.stem => {
                if o.print != n.print || o.print == RACY {
                    d.changed.push(n);
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.stem < n.stem => {
                d.gone.push(o.stem.clone());
                i += 1;
            }
            (Some(o), None) => {
                d.gone.push(o.stem.clone());
                i += 1;
            }
            (_, Some(n)) => {
                d.changed.push(n);
                j += 1;
            }
            (None, None) => break,
        }
    }
    d
}

/// A print of the folder and extension a cursor belongs to.
pub(crate) fn scope_print(dir: &Path, ext: &str) -> u64 {
    let text = format!("{}\u{0}{ext}", dir.display());
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// Encodes a listing as a cursor for `scope` (see [`scope_print`]) and writer `nonce`.
pub(crate) fn encode(scope: u64, nonce: u64, entries: &[Entry]) -> Cursor {
    let mut out = Vec::with_capacity(24 + entries.len() * 46);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&scope.to_le_bytes());
    out.extend_from_slice(&nonce.to_le_bytes());
    put_varint(&mut out, entries.len() as u64);
    let mut previous: &str = "";
    for e in entries {
        let shared = previous.bytes().zip(e.stem.bytes()).take_while(|(a, b)| a == b).count();
        // Never split a UTF-8 character: back up to a boundary.
        let shared = (0..=shared).rev().find(|&n| e.stem.is_char_boundary(n)).unwrap_or(0);
        let rest = &e.stem.as_bytes()[shared..];
        put_varint(&mut out, shared as u64);
        put_varint(&mut out, rest.len() as u64);
        out.extend_from_slice(rest);
        out.extend_from_slice(&e.print.to_le_bytes());
        previous = &e.stem;
    }
    Cursor(out)
}

/// Decodes a cursor of `scope` into its writer nonce and listing; `None` when it is not one
/// (another format, folder or extension, or damaged), which the connector answers with
/// `CursorExpired`.
pub(crate) fn decode(scope: u64, cursor: &Cursor) -> Option<(u64, Vec<Entry>)> {
    let bytes = &cursor.0;
    if bytes.get(..4)? != MAGIC || u64::from_le_bytes(bytes.get(4..12)?.try_into().ok()?) != scope {
        return None;
    }
    let nonce = u64::from_le_bytes(bytes.get(12..20)?.try_into().ok()?);
    let mut at = 20;
    let count = usize::try_from(get_varint(bytes, &mut at)?).ok()?;
    let mut entries: Vec<Entry> = Vec::with_capacity(count.min(bytes.len()));
    let mut previous = String::new();
    for _ in 0..count {
        let shared = usize::try_from(get_varint(bytes, &mut at)?).ok()?;
        let len = usize::try_from(get_varint(bytes, &mut at)?).ok()?;
        let rest = std::str::from_utf8(bytes.get(at..at.checked_add(len)?)?).ok()?;
        at += len;
        let print = u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?);
        at += 8;
        let mut stem = previous.get(..shared)?.to_owned();
        stem.push_str(rest);
        previous.clone_from(&stem);
        entries.push(Entry { stem, print, meta: Meta::default() });
    }
    (at == bytes.len()).then_some((nonce, entries))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(stem: &str, print: u64) -> Entry {
        Entry { stem: stem.to_owned(), print, meta: Meta::default() }
    }

    #[test]
    fn cursor_round_trips_and_refuses_other_scopes() {
        let entries = vec![entry("a", 1), entry("ab", 2), entry("abé", 3), entry("abê", 4), entry("tdm00ff", u64::MAX)];
        let cursor = encode(7, 99, &entries);
        assert_eq!(decode(7, &cursor).unwrap(), (99, entries));
        assert!(decode(8, &cursor).is_none());
        let mut damaged = cursor.clone();
        damaged.0.pop();
        assert!(decode(7, &damaged).is_none());
        assert!(decode(7, &Cursor(b"seq:1".to_vec())).is_none());
        assert_eq!(decode(7, &encode(7, 1, &[])).unwrap(), (1, vec![]));
    }

    #[test]
    fn ten_thousand_names_stay_small() {
        let entries: Vec<Entry> =
            (0..10_000u64).map(|i| entry(&format!("tdm{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15), i)).collect();
        let mut sorted = entries;
        sorted.sort_by(|a, b| a.stem.cmp(&b.stem));
        let cursor = encode(1, 1, &sorted);
        assert!(cursor.0.len() < 10_000 * 48, "{} bytes", cursor.0.len());
        assert_eq!(decode(1, &cursor).unwrap().1.len(), 10_000);
    }

    #[test]
    fn diff_finds_changes_and_deletes() {
        let old = vec![entry("a", 1), entry("b", 2), entry("d", 4)];
        let new = vec![entry("b", 2), entry("c", 3), entry("d", 5)];
        let d = diff(&old, &new);
        assert_eq!(d.changed.iter().map(|e| e.stem.as_str()).collect::<Vec<_>>(), ["c", "d"]);
        assert_eq!(d.gone, ["a"]);
    }

    #[test]
    fn racy_entries_always_count_as_changed() {
        let old = vec![entry("a", RACY)];
        assert_eq!(diff(&old, &[entry("a", RACY)]).changed.len(), 1);
        let now = 1_700_000_000_000_000_000i128;
        let fine = Meta { mtime_ns: now - 50_000_000 + 7, size: 1, inode: 1 };
        assert!(fine.is_racy(now));
        assert!(!Meta { mtime_ns: now - 150_000_000 + 7, ..fine }.is_racy(now));
        assert!(Meta { mtime_ns: now - 1_000_000_000, ..fine }.is_racy(now), "whole seconds: coarse");
        assert_ne!(fine.print(), RACY);
    }

    #[test]
    fn own_writes_are_recognised_by_their_mark() {
        let nonce = fresh_nonce();
        let mark = marker(nonce, "a.ics", 10, 7);
        let meta = Meta { mtime_ns: 1_700_000_000 * 1_000_000_000 + i128::from(mark), size: 10, inode: 7 };
        assert!(meta.is_marked(nonce, "a.ics"));
        assert!(!meta.is_marked(nonce ^ 1, "a.ics"), "another state's nonce");
        assert!(!meta.is_marked(nonce, "b.ics"));
        assert!(!Meta { inode: 8, ..meta }.is_marked(nonce, "a.ics"), "a copy has another inode");
        assert!(!Meta { size: 11, ..meta }.is_marked(nonce, "a.ics"));
        assert!(!meta.is_marked(0, "a.ics"));
    }

    #[test]
    fn temp_and_dot_files_are_not_items() {
        assert_eq!(item_stem("x.ics", ".ics"), Some("x"));
        for name in [".x.ics", "x.ics.tmp", ".tandem-1.tmp", "x.vcf", ".ics", "x.ics~"] {
            assert_eq!(item_stem(name, ".ics"), None, "{name}");
        }
    }
}
