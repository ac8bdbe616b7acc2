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
//! - With `flush_file_system` configured, a batch of [`FLUSH_ALL_FROM`] staged files or more is
//!   flushed by one `syncfs` of its file system where that is as safe as a flush per file
//!   ([`BatchFlush`]): Linux 5.8 or later on ext2/3/4, XFS, Btrfs, F2FS or tmpfs. Elsewhere (FUSE,
//!   which does not pass `syncfs` on to its server; network file systems; older kernels, whose
//!   `syncfs` did not report write errors; other systems) each file is flushed on its own. Not
//!   the default: `syncfs` also waits for other programs' unwritten data.
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

/// Staged files from this many on are flushed by one [`BatchFlush::flush_all`] where it is safe:
/// on this project's build machine (ext4) one `syncfs` flushed 5,000 new files in a quarter of the
/// time sixteen threads flushing one file each took, and 100 files in a third
/// (`docs/connectors/dav.md`). Below it, the flush of a few files could wait for much more of
/// other programs' data than their own.
pub(crate) const FLUSH_ALL_FROM: usize = 8;

/// A batch's folder, opened before the batch stages its first file. `syncfs` reports the write
/// errors its file system met since the descriptor it is given was opened, so one `syncfs` on this
/// one flushes every staged file of the batch and reports an error in any of them.
#[derive(Debug)]
pub(crate) struct BatchFlush {
    dir: File,
}

impl BatchFlush {
    /// Opens `dir` for [`Self::flush_all`]; call before staging.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        Ok(BatchFlush { dir: File::open(dir)? })
    }

    /// Flushes everything written to the folder's file system, every file staged since
    /// [`Self::open`] included, and waits until the disk has it (`syncfs`). `Ok(false)`: nothing
    /// was flushed, because one `syncfs` is not known to be as safe as a flush per file here
    /// (see the module's documentation); flush each file instead.
    pub(crate) fn flush_all(&self) -> io::Result<bool> {
        #[cfg(target_os = "linux")]
        {
            if !kernel_reports_syncfs_errors() {
                return Ok(false);
            }
            let kind = rustix::fs::fstatfs(&self.dir)?.f_type;
            // Magic numbers are 32-bit; `f_type`'s integer type differs between targets.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::unnecessary_cast)]
            if !syncfs_flushes_everything(kind as u32) {
                return Ok(false);
            }
            rustix::fs::syncfs(&self.dir)?;
            Ok(true)
        }
        #[cfg(not(target_os = "linux"))]
        Ok(false)
    }

    /// Flushes the folder's entries (renames, links, removals) to disk.
    pub(crate) fn flush_entries(&self) -> io::Result<()> {
        self.dir.sync_all()
    }
}

/// Whether this kernel's `syncfs` reports write-back errors: Linux 5.8 and later (before, it
/// returned success whatever happened). Worked out once per process.
#[cfg(target_os = "linux")]
fn kernel_reports_syncfs_errors() -> bool {
    static REPORTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REPORTS.get_or_init(|| {
        let uname = rustix::system::uname();
        uname.release().to_str().is_ok_and(|release| linux_release_at_least(release, (5, 8)))
    })
}

/// Whether a Linux release string (`6.8.0-1015-gcp`, `5.10.0-30-amd64`) is `at_least` (major,
/// minor). Anything that does not read as one is not.
fn linux_release_at_least(release: &str, at_least: (u32, u32)) -> bool {
    let mut numbers = release.split(|c: char| !c.is_ascii_digit());
    let major = numbers.next().and_then(|n| n.parse::<u32>().ok());
    let minor = numbers.next().and_then(|n| n.parse::<u32>().ok());
    matches!((major, minor), (Some(major), Some(minor)) if (major, minor) >= at_least)
}

/// Local file systems whose `syncfs` writes out every dirty file and metadata block and flushes
/// the device's cache, as `fsync` of each would: ext2/3/4, XFS, Btrfs, F2FS, and tmpfs (nothing
/// to flush). By `statfs`'s magic number.
fn syncfs_flushes_everything(kind: u32) -> bool {
    const EXT: u32 = 0xEF53;
    const XFS: u32 = 0x5846_5342;
    const BTRFS: u32 = 0x9123_683E;
    const F2FS: u32 = 0xF2F5_2010;
    const TMPFS: u32 = 0x0102_1994;
    matches!(kind, EXT | XFS | BTRFS | F2FS | TMPFS)
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

    #[test]
    fn syncfs_is_trusted_from_linux_5_8_on_local_file_systems_only() {
        for (release, reports) in [
            ("6.8.0-1015-gcp", true),
            ("5.8.0", true),
            ("5.10.0-30-amd64", true),
            ("10.0", true),
            ("5.7.19", false),
            ("4.19.0-26-amd64", false),
            ("5", false),
            ("", false),
            ("linux", false),
        ] {
            assert_eq!(linux_release_at_least(release, (5, 8)), reports, "{release}");
        }
        for local in [0xEF53, 0x5846_5342, 0x9123_683E, 0xF2F5_2010, 0x0102_1994] {
            assert!(syncfs_flushes_everything(local), "{local:#x}");
        }
        // FUSE, NFS, SMB, overlayfs, ZFS: each file is flushed on its own.
        for other in [0x6573_5546, 0x6969, 0xFE53_4D42, 0x794C_7630, 0x2FC1_2FC1] {
            assert!(!syncfs_flushes_everything(other), "{other:#x}");
        }
    }
}
