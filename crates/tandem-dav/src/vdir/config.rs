//! [`VdirConfig`]: which folders hold which collection, their file extensions and limits.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tandem_connector::ConnectorError;
use tandem_core::model::ObjectKind;

/// The default extension of contact files, as vdirsyncer's `filesystem` storage uses for
/// CardDAV collections.
pub const DEFAULT_CONTACTS_FILEEXT: &str = ".vcf";
/// The default extension of event files.
pub const DEFAULT_EVENTS_FILEEXT: &str = ".ics";
/// The default size limit of one item file: bigger files are reported as invalid, not read.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// Where a [`VdirConnector`](super::VdirConnector) keeps its collections.
///
/// A collection is a folder with one file per item (vdirsyncer's `filesystem` storage, the
/// [vdir](https://vdirsyncer.pimutils.org/en/stable/vdir.html) format); contacts and events are
/// two folders. A kind without a folder is not supported by the connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VdirConfig {
    /// The folder of contacts (`.vcf` files), if contacts sync.
    pub contacts: Option<PathBuf>,
    /// The folder of events (`.ics` files), if events sync.
    pub events: Option<PathBuf>,
    /// The extension of contact files, dot included (vdirsyncer's `fileext`).
    pub contacts_fileext: String,
    /// The extension of event files, dot included.
    pub events_fileext: String,
    /// Who is synced, for reports and the planner's notion of the calendar owner.
    pub identity: String,
    /// Files larger than this many bytes are reported as invalid without being read.
    pub max_file_size: u64,
    /// The most writes applied in one batch.
    pub max_batch: usize,
    /// Whether written files and the folder are flushed to disk (`fsync`) before a write is
    /// answered (default `true`). Off, writes cost less (vdirsyncer does not flush), but a power
    /// loss can leave an empty or old file where the engine recorded a write.
    #[serde(default = "yes")]
    pub fsync: bool,
    /// With [`fsync`](Self::fsync): flush a batch of eight files or more with one `syncfs` of
    /// their file system instead of one `fsync` per file (default `false`). The same durability,
    /// and on a file system nobody else writes to much faster (a 10,000-item first sync's writes
    /// took a third less time), but `syncfs` also waits for every other program's unwritten data
    /// on that file system: right after another program wrote 10,000 files without flushing them,
    /// a 100-item sync took 0.24 s instead of 0.09 s. Meant for a file system of its own (a data
    /// volume the folders live on). Taken only where it is as safe as a flush per file: Linux 5.8
    /// or later (older kernels' `syncfs` did not report write errors) on ext2/3/4, XFS, Btrfs,
    /// F2FS or tmpfs; elsewhere (FUSE, which does not pass `syncfs` on; network file systems)
    /// each file is still flushed on its own.
    #[serde(default)]
    pub flush_file_system: bool,
}

fn yes() -> bool {
    true
}

impl Default for VdirConfig {
    fn default() -> Self {
        VdirConfig {
            contacts: None,
            events: None,
            contacts_fileext: DEFAULT_CONTACTS_FILEEXT.to_owned(),
            events_fileext: DEFAULT_EVENTS_FILEEXT.to_owned(),
            identity: "vdir".to_owned(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_batch: 100,
            fsync: true,
            flush_file_system: false,
        }
    }
}

impl VdirConfig {
    /// No folders yet; add them with [`with_contacts`](Self::with_contacts) and
    /// [`with_events`](Self::with_events).
    pub fn new() -> Self {
        VdirConfig::default()
    }

    /// Builder: contacts live in `folder`.
    #[must_use]
    pub fn with_contacts(mut self, folder: impl Into<PathBuf>) -> Self {
        self.contacts = Some(folder.into());
        self
    }

    /// Builder: events live in `folder`.
    #[must_use]
    pub fn with_events(mut self, folder: impl Into<PathBuf>) -> Self {
        self.events = Some(folder.into());
        self
    }

    /// Builder: files of `kind` end with `fileext` (dot included, e.g. `.ics`).
    #[must_use]
    pub fn with_fileext(mut self, kind: ObjectKind, fileext: impl Into<String>) -> Self {
        match kind {
            ObjectKind::Contact => self.contacts_fileext = fileext.into(),
            ObjectKind::Event => self.events_fileext = fileext.into(),
        }
        self
    }

    /// Builder: the identity reported for this connection.
    #[must_use]
    pub fn with_identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = identity.into();
        self
    }

    /// The folder of `kind`, if configured.
    pub fn folder(&self, kind: ObjectKind) -> Option<&Path> {
        match kind {
            ObjectKind::Contact => self.contacts.as_deref(),
            ObjectKind::Event => self.events.as_deref(),
        }
    }

    /// The file extension of `kind`.
    pub fn fileext(&self, kind: ObjectKind) -> &str {
        match kind {
            ObjectKind::Contact => &self.contacts_fileext,
            ObjectKind::Event => &self.events_fileext,
        }
    }

    /// Checks the configuration: at least one folder, each an existing directory; extensions
    /// that start with a dot, are not `.tmp` and hold no path separator; a non-zero batch.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] saying what is wrong.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        let config = |message: String| ConnectorError::Config { message };
        if self.contacts.is_none() && self.events.is_none() {
            return Err(config("a vdir connection needs a `contacts` or an `events` folder".to_owned()));
        }
        for kind in [ObjectKind::Contact, ObjectKind::Event] {
            let ext = self.fileext(kind);
            if ext.len() < 2 || !ext.starts_with('.') || ext.contains(['/', '\\']) || ext.eq_ignore_ascii_case(".tmp") {
                return Err(config(format!("`{ext}` is not a file extension such as `.ics` ({kind} files)")));
            }
            if let Some(folder) = self.folder(kind)
                && !folder.is_dir()
            {
                return Err(config(format!("the {kind} folder `{}` is not a directory", folder.display())));
            }
        }
        if self.contacts.is_some() && self.contacts == self.events && self.contacts_fileext == self.events_fileext {
            return Err(config("contacts and events share one folder and one file extension".to_owned()));
        }
        if self.max_batch == 0 {
            return Err(config("`max_batch` must be at least 1".to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        let dir = std::env::temp_dir();
        assert!(VdirConfig::new().validate().is_err());
        assert!(VdirConfig::new().with_events(&dir).validate().is_ok());
        let bad_ext = VdirConfig::new().with_events(&dir).with_fileext(ObjectKind::Event, "ics");
        assert!(matches!(bad_ext.validate(), Err(ConnectorError::Config { message }) if message.contains("`ics`")));
        let missing = VdirConfig::new().with_contacts(dir.join("tandem-vdir-does-not-exist"));
        assert!(missing.validate().is_err());
        let shared = VdirConfig::new().with_contacts(&dir).with_events(&dir).with_fileext(ObjectKind::Contact, ".ics");
        assert!(shared.validate().is_err());
    }
}
