//! Building a [`VdirConnector`] from a connection's TOML settings (`provider = "vdir"`): see
//! [`VdirBuilder`].

use std::path::PathBuf;
use std::sync::Arc;

use tandem_connector::Connector;
use tandem_connector::factory::{BuildError, ConnectorBuilder, SecretResolver, Settings};
use tandem_core::model::ObjectKind;

use super::{PROVIDER, VdirConfig, VdirConnector};

/// Builds vdir connectors (`provider = "vdir"`). No secrets: the folders are local.
///
/// Settings (vdirsyncer's `filesystem` storage names where they exist):
///
/// - `contacts = "/path/to/folder"`, `events = "/path/to/folder"`: the collections (at least
///   one). Relative paths resolve against the working directory.
/// - `contacts_fileext` (default `".vcf"`), `events_fileext` (default `".ics"`): the item file
///   extension, dot included (vdirsyncer's `fileext`).
/// - `encoding`: only `"utf-8"` (the default; vdirsyncer's `encoding`). Files that are not UTF-8
///   are reported as invalid.
/// - `identity`: who is synced (default: the user).
/// - `max_file_size`: bytes beyond which an item file is reported as invalid (default 16 MiB).
/// - `max_batch`: writes per batch (default 100).
/// - `fsync`: flush written files and the folder to disk before answering (default `true`; see
///   [`VdirConfig::fsync`]).
/// - `flush_file_system`: flush a batch's files with one `syncfs` of their file system (default
///   `false`; for folders on a file system of their own, see
///   [`VdirConfig::flush_file_system`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct VdirBuilder;

impl VdirBuilder {
    /// The configuration `settings` describe for `user`, without checking the folders.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the key at fault.
    pub fn config(&self, user: &str, settings: &toml::Table) -> Result<VdirConfig, BuildError> {
        let mut s = Settings::new(settings);
        let mut config = VdirConfig::new().with_identity(user);
        config.contacts = s.opt::<PathBuf>("contacts")?;
        config.events = s.opt::<PathBuf>("events")?;
        for (key, kind) in [("contacts_fileext", ObjectKind::Contact), ("events_fileext", ObjectKind::Event)] {
            if let Some(ext) = s.opt::<String>(key)? {
                config = config.with_fileext(kind, ext);
            }
        }
        if let Some(encoding) = s.opt::<String>("encoding")?
            && !matches!(encoding.to_ascii_lowercase().as_str(), "utf-8" | "utf8")
        {
            return Err(BuildError::Invalid {
                key: "encoding".to_owned(),
                message: "only `utf-8` is supported".to_owned(),
            });
        }
        if let Some(identity) = s.opt::<String>("identity")? {
            config.identity = identity;
        }
        if let Some(max) = s.opt::<u64>("max_file_size")? {
            config.max_file_size = max;
        }
        if let Some(max) = s.opt::<usize>("max_batch")? {
            config.max_batch = max;
        }
        if let Some(fsync) = s.opt::<bool>("fsync")? {
            config.fsync = fsync;
        }
        if let Some(flush) = s.opt::<bool>("flush_file_system")? {
            config.flush_file_system = flush;
        }
        s.finish()?;
        if config.contacts.is_none() && config.events.is_none() {
            return Err(BuildError::Missing { key: "events".to_owned() });
        }
        Ok(config)
    }
}

impl ConnectorBuilder for VdirBuilder {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn build(
        &self,
        user: &str,
        settings: &toml::Table,
        _secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn Connector>, BuildError> {
        let config = self.config(user, settings)?;
        Ok(Arc::new(VdirConnector::new(config)?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tandem_connector::factory::EnvOrFileSecrets;

    use super::*;

    #[test]
    fn settings_build_a_connector_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string().replace('\\', "/");
        let ok: toml::Table = toml::from_str(&format!("events = \"{path}\"\nevents_fileext = \".ical\"")).unwrap();
        let c = VdirBuilder.build("ann", &ok, &EnvOrFileSecrets::default()).unwrap();
        assert_eq!(c.provider(), "vdir");
        assert!(c.capabilities().events.supported && !c.capabilities().contacts.supported);
        let config = VdirBuilder.config("ann", &ok).unwrap();
        assert_eq!(config.events_fileext, ".ical");
        assert_eq!(config.identity, "ann");
        assert!(config.fsync);
        let relaxed: toml::Table = toml::from_str(&format!("events = \"{path}\"\nfsync = false")).unwrap();
        assert!(!VdirBuilder.config("ann", &relaxed).unwrap().fsync);
        assert!(!config.flush_file_system);
        let whole: toml::Table = toml::from_str(&format!("events = \"{path}\"\nflush_file_system = true")).unwrap();
        assert!(VdirBuilder.config("ann", &whole).unwrap().flush_file_system);

        let unknown: toml::Table = toml::from_str(&format!("events = \"{path}\"\nfileext = \".ics\"")).unwrap();
        assert_eq!(VdirBuilder.config("ann", &unknown).unwrap_err().key(), Some("fileext"));
        let latin: toml::Table = toml::from_str(&format!("events = \"{path}\"\nencoding = \"latin-1\"")).unwrap();
        assert_eq!(VdirBuilder.config("ann", &latin).unwrap_err().key(), Some("encoding"));
        assert!(VdirBuilder.config("ann", &toml::Table::new()).is_err());
    }
}
