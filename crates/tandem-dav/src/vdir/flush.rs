//! Flushing a batch's staged files with one `syncfs` of their file system
//! ([`super::VdirConfig::flush_file_system`]), where that is as safe as a flush per file.
//!
//! - Taken for a batch of [`FLUSH_ALL_FROM`] staged files or more, on Linux 5.8 or later on
//!   ext2/3/4, XFS, Btrfs, F2FS or tmpfs. Elsewhere (FUSE, which does not pass `syncfs` on to its
//!   server; network file systems; older kernels, whose `syncfs` did not report write errors;
//!   other systems) each file is flushed on its own ([`super::write::Staged::sync`]).
//! - Not the default: `syncfs` also waits for other programs' unwritten data on that file system.

use std::fs::File;
use std::io;
use std::path::Path;

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
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn linux_release_at_least(release: &str, at_least: (u32, u32)) -> bool {
    let mut numbers = release.split(|c: char| !c.is_ascii_digit());
    let major = numbers.next().and_then(|n| n.parse::<u32>().ok());
    let minor = numbers.next().and_then(|n| n.parse::<u32>().ok());
    matches!((major, minor), (Some(major), Some(minor)) if (major, minor) >= at_least)
}

/// Local file systems whose `syncfs` writes out every dirty file and metadata block and flushes
/// the device's cache, as `fsync` of each would: ext2/3/4, XFS, Btrfs, F2FS, and tmpfs (nothing
/// to flush). By `statfs`'s magic number.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn syncfs_flushes_everything(kind: u32) -> bool {
    const EXT: u32 = 0xEF53;
    const XFS: u32 = 0x5846_5342;
    const BTRFS: u32 = 0x9123_683E;
    const F2FS: u32 = 0xF2F5_2010;
    const TMPFS: u32 = 0x0102_1994;
    matches!(kind, EXT | XFS | BTRFS | F2FS | TMPFS)
}

#[cfg(test)]
mod tests {
    use super::*;

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
