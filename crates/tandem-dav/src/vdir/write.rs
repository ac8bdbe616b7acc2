//! Atomic file writes: every item is written to a temporary file in its own folder, flushed to
//! disk, then moved into place, so that a reader (vdirsyncer, khal, a crash) sees the old file or
//! the new one, never half of one.
//!
//! - Replacing: temporary file ([`stage`]), `fsync` ([`Staged::sync`]), `rename` over the item
//!   ([`commit_replace`]).
//! - Creating: temporary file, `fsync`, then moved to the item's name only if the name is free
//!   ([`commit_create`]): create-new semantics without a window in which another program's file
//!   could be overwritten. On Linux one `renameat2` with `RENAME_NOREPLACE`; where the file system
//!   or the kernel does not take that flag, and on other systems, a `link` to the name (which fails
//!   when it exists) and an `unlink` of the temporary name; on file systems without hard links, a
//!   check-then-rename (a small window).
//! - A batch stages all its files, flushes them, then moves them into place: on ext4 that costs
//!   a quarter of flushing each file right after writing it.
//! - With `flush_file_system` configured, a batch of many staged files may be flushed by one
//!   `syncfs` of its file system instead ([`super::flush`]).
//! - Temporary files are dotfiles ending in `.tmp`: listings (ours and vdirsyncer's) skip them.
//! - The folder is `fsync`ed once per batch ([`sync_dir`]) so that renames and removals are
//!   durable before the engine commits its state.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A process-wide counter making temporary names unique.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// New content staged in a temporary file of the item's folder, not yet in place. Dropped
/// without [`commit_create`] or [`commit_replace`], the temporary file is removed.
#[derive(Debug)]
pub(crate) struct Staged {
    path: PathBuf,
    file: Option<File>,
}

impl Staged {
    /// Sets the staged file's mtime to carry the mark of `nonce` for its final `name` (see
    /// `scan::marker`): the same second, the marker's nanoseconds. Call after the last write.
    pub(crate) fn mark(&self, nonce: u64, name: &str) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let Some(file) = self.file.as_ref() else { return Ok(()) };
        let md = file.metadata()?;
        let secs = u64::try_from(md.mtime()).unwrap_or(0);
        let nanos = super::scan::marker(nonce, name, md.size(), md.ino());
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos))
    }

    /// Flushes the staged bytes to disk. A batch stages every file first and then flushes them
    /// one after the other, which costs the disk far fewer commits than write-flush-write-flush.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.as_ref().map_or(Ok(()), File::sync_all)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to a new temporary file in `dir` (not flushed: see [`Staged::sync`]).
pub(crate) fn stage(dir: &Path, bytes: &[u8]) -> io::Result<Staged> {
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".tandem-{pid}-{n}.tmp"));
        let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let mut staged = Staged { path, file: Some(file) };
        if let Some(file) = staged.file.as_mut() {
            file.write_all(bytes)?;
        }
        return Ok(staged);
    }
}

/// Moves staged content over `path` (creating or replacing it), atomically.
pub(crate) fn commit_replace(mut staged: Staged, path: &Path) -> io::Result<()> {
    fs::rename(&staged.path, path)?;
    staged.file = None;
    Ok(())
}

/// Moves staged content to `path` unless it exists. `Ok(false)`: it existed and was left as it
/// was.
pub(crate) fn commit_create(staged: Staged, path: &Path) -> io::Result<bool> {
    // One directory operation where the system has it, instead of a link and an unlink: a first
    // sync creates every item this way.
    #[cfg(target_os = "linux")]
    use rustix::io::Errno;
    #[cfg(target_os = "linux")]
    let mut staged = staged;
    #[cfg(target_os = "linux")]
    match rename_no_replace(&staged.path, path) {
        Ok(()) => {
            staged.file = None;
            return Ok(true);
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        // The flag is refused (`EINVAL`: a file system without it, such as some network and FUSE
        // ones; `ENOSYS`: a kernel before 3.15): the portable way below.
        Err(e) if matches!(Errno::from_io_error(&e), Some(Errno::INVAL | Errno::NOSYS)) => {}
        Err(e) => return Err(e),
    }
    link_create(staged, path)
}

/// [`commit_create`] the portable way: a hard link to the item's name, then the temporary name
/// removed (when `staged` is dropped).
fn link_create(mut staged: Staged, path: &Path) -> io::Result<bool> {
    match fs::hard_link(&staged.path, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // No hard links here (some FUSE and FAT file systems): check, then rename.
        Err(e) if matches!(e.kind(), io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied) => {
            if path.exists() {
                return Ok(false);
            }
            fs::rename(&staged.path, path)?;
            staged.file = None;
            Ok(true)
        }
        Err(e) => Err(e),
    }
    // `staged` is dropped here: the temporary name goes, the item's link stays.
}

/// `rename(from, to)` that fails with `AlreadyExists` when `to` exists, atomically
/// (`renameat2` with `RENAME_NOREPLACE`).
#[cfg(target_os = "linux")]
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(io::Error::from)
}

/// Removes `path`. `Ok(false)`: it did not exist.
pub(crate) fn remove(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Flushes `dir`'s entries (renames, links, removals) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn create_new_never_overwrites_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ics");
        let one = stage(dir.path(), b"one").unwrap();
        one.sync().unwrap();
        assert!(commit_create(one, &path).unwrap());
        assert!(!commit_create(stage(dir.path(), b"two").unwrap(), &path).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"one");
        // The portable way, taken where `RENAME_NOREPLACE` is refused, answers the same.
        let linked = dir.path().join("b.ics");
        assert!(link_create(stage(dir.path(), b"four").unwrap(), &linked).unwrap());
        assert!(!link_create(stage(dir.path(), b"five").unwrap(), &linked).unwrap());
        assert!(!link_create(stage(dir.path(), b"six").unwrap(), &path).unwrap());
        assert_eq!(fs::read(&linked).unwrap(), b"four");
        assert!(remove(&linked).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"one");
        drop(stage(dir.path(), b"abandoned").unwrap());
        commit_replace(stage(dir.path(), b"three").unwrap(), &path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
        sync_dir(dir.path()).unwrap();
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
