//! vdir folders: vdirsyncer's `filesystem` storage, as a Tandem [`Connector`].
//!
//! A [vdir](https://vdirsyncer.pimutils.org/en/stable/vdir.html) is a folder per collection with
//! one file per item: `.ics` files holding one event (a master and its overrides), `.vcf` files
//! holding one contact. The file name is the item's id (vdirsyncer's *href*), the `UID` is inside.
//! khal, khard, vdirsyncer, Evolution's local books and many scripts read and write this format.
//!
//! What lives here, by job:
//!
//! - [`VdirConnector`] (this file): the [`Connector`] over one contacts folder and one events
//!   folder; every file operation runs on tokio's blocking pool.
//! - `config`: [`VdirConfig`], the folders, file extensions and limits.
//! - `scan`: listing a folder by metadata (mtime in nanoseconds, size, inode) and the compact
//!   cursor holding the previous listing.
//! - `read`: reading changed files into changes; a bad file becomes an invalid change (the engine
//!   quarantines it) and never stops the others.
//! - `map`: one file's text to and from a record, names from idempotency keys, versions.
//! - `apply` and `write`: creates, updates and deletes, written atomically.
//! - `factory`: [`VdirBuilder`], provider `vdir` in `tandem.toml`.
//!
//! **Change detection without reading.** A pull lists the folder (`readdir` and one `stat` per
//! file) and compares it with the listing kept in the cursor: only files whose metadata changed
//! are opened; names gone are deletes. A sync with no change reads no file.
//!
//! **Versions are content.** A record's version is a 128-bit print of its file's bytes, so a file
//! rewritten with the same bytes keeps its version (the engine sees an echo and writes nothing),
//! and updates and deletes check it like `If-Match`.
//!
//! **Files of other programs stay theirs.** Updates merge the record into the file's existing
//! text: `VALARM`, `ATTACH`, `X-` properties, `PHOTO` and everything else Tandem does not own are
//! kept byte for byte; an update that changes nothing writes nothing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId};

mod apply;
mod config;
mod factory;
mod flush;
mod map;
mod read;
mod scan;
mod write;

pub use config::{DEFAULT_CONTACTS_FILEEXT, DEFAULT_EVENTS_FILEEXT, DEFAULT_MAX_FILE_SIZE, VdirConfig};
pub use factory::VdirBuilder;

use apply::Counters;
use read::Folder;

/// The provider name of vdir connections.
pub const PROVIDER: &str = "vdir";

/// A connector over vdir folders: one for contacts and one for events (either may be absent).
///
/// Cheap to share; every call does its file work on tokio's blocking pool.
///
/// ```no_run
/// # fn main() -> Result<(), tandem_connector::ConnectorError> {
/// use tandem_dav::vdir::{VdirConfig, VdirConnector};
/// let calendar = VdirConnector::new(VdirConfig::new().with_events("/home/ada/.calendars/work"))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct VdirConnector {
    config: VdirConfig,
    contacts: Option<Arc<Folder>>,
    events: Option<Arc<Folder>>,
    counters: Arc<Counters>,
}

fn blocking_failed(e: tokio::task::JoinError) -> ConnectorError {
    ConnectorError::Transient { message: format!("a file task failed: {e}") }
}

fn file_task_panicked() -> ConnectorError {
    ConnectorError::Transient { message: "a file task panicked".into() }
}

/// Whether blocking file work can run on the calling thread (`block_in_place`, which hands the
/// runtime's other tasks to another thread): only a multi-threaded runtime can do that.
fn in_place() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
}

/// Runs blocking file work that owns its inputs: on this thread where the runtime allows it,
/// else on the blocking pool. On this thread, what the work allocates (a pull's records) comes
/// from the allocator arena of the thread that goes on to plan with it and free it, so a first
/// sync's records are not left as free memory in an arena of a pool thread nobody else uses
/// (with `read::load_all` reading a part on this thread: one reader arena of about 6 MiB fewer
/// in the vdir benchmark's first sync of 10,000 events).
/// The cost: the task waits on the calling thread, so the other side's read in the same task (the
/// engine reads both sides at once) goes on only when this one is done.
/// A panic (a bug) fails the call as a failed task would, not the caller.
async fn file_work<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ConnectorError> + Send + 'static,
) -> Result<T, ConnectorError> {
    if in_place() {
        return here(work);
    }
    tokio::task::spawn_blocking(work).await.map_err(blocking_failed)?
}

/// Blocking file work on this thread (only where [`in_place`] allows it); a panic (a bug) fails
/// the call as a failed task would, not the caller.
fn here<T>(work: impl FnOnce() -> Result<T, ConnectorError>) -> Result<T, ConnectorError> {
    tokio::task::block_in_place(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)))
        .unwrap_or_else(|_| Err(file_task_panicked()))
}

impl VdirConnector {
    /// A connector over the folders of `config`.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when the configuration is invalid ([`VdirConfig::validate`]).
    pub fn new(config: VdirConfig) -> Result<Self, ConnectorError> {
        config.validate()?;
        let folder = |kind: ObjectKind| {
            config.folder(kind).map(|dir| {
                Arc::new(Folder {
                    kind,
                    dir: dir.to_owned(),
                    ext: config.fileext(kind).to_owned(),
                    max_file_size: config.max_file_size,
                    fsync: config.fsync,
                    flush_file_system: config.flush_file_system,
                    nonce: std::sync::atomic::AtomicU64::new(0),
                })
            })
        };
        Ok(VdirConnector {
            contacts: folder(ObjectKind::Contact),
            events: folder(ObjectKind::Event),
            counters: Arc::default(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VdirConfig {
        &self.config
    }

    /// How many item files this connector (and its clones) opened for reading so far: pulls,
    /// fetches and the reads before writes. For tests and benchmarks proving that unchanged
    /// files are not read.
    pub fn files_read(&self) -> u64 {
        self.counters.reads.load(Ordering::Relaxed)
    }

    /// How many item files this connector (and its clones) created, replaced or removed so far.
    pub fn files_written(&self) -> u64 {
        self.counters.writes.load(Ordering::Relaxed)
    }

    /// How many write batches this connector (and its clones) flushed to disk with one flush of
    /// their file system (`syncfs`) rather than one per file; see
    /// [`VdirConfig::flush_file_system`]. For tests and benchmarks.
    pub fn file_system_flushes(&self) -> u64 {
        self.counters.whole_flushes.load(Ordering::Relaxed)
    }

    fn folder(&self, kind: ObjectKind) -> Result<Arc<Folder>, ConnectorError> {
        let folder = match kind {
            ObjectKind::Contact => &self.contacts,
            ObjectKind::Event => &self.events,
        };
        folder
            .clone()
            .ok_or_else(|| ConnectorError::Config { message: format!("this vdir connection has no {kind} folder") })
    }
}

#[async_trait]
impl Connector for VdirConnector {
    fn provider(&self) -> &str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::everything();
        for kind in [ObjectKind::Contact, ObjectKind::Event] {
            let object = caps.object_mut(kind);
            object.supported = self.config.folder(kind).is_some();
            object.max_batch = self.config.max_batch;
        }
        caps
    }

    fn connection(&self) -> ConnectionInfo {
        // Local files: no endpoint, no credential, no scope; the policy's `vdir` rules allow the
        // `local_files` method.
        ConnectionInfo {
            provider: PROVIDER.to_owned(),
            method: "local_files".to_owned(),
            endpoints: Vec::new(),
            scopes: Vec::new(),
            principal: None,
        }
    }

    async fn identity(&self) -> Result<Identity, ConnectorError> {
        Ok(Identity { user: self.config.identity.clone(), display_name: None })
    }

    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        let folder = self.folder(object)?;
        let counters = Arc::clone(&self.counters);
        let cursor = cursor.cloned();
        let (changes, cursor) = file_work(move || read::pull(&folder, cursor.as_ref(), &counters.reads)).await?;
        Ok(PullPage { changes, cursor, done: true })
    }

    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        let folder = self.folder(object)?;
        let counters = Arc::clone(&self.counters);
        let names: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
        file_work(move || Ok(read::load_all(&folder, &names, &counters.reads))).await
    }

    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        let folder = self.folder(object)?;
        if ops.len() > self.config.max_batch {
            return Err(ConnectorError::Rejected {
                code: "BATCH_TOO_LARGE".into(),
                message: format!("{} writes in one batch; at most {}", ops.len(), self.config.max_batch),
            });
        }
        let counters = Arc::clone(&self.counters);
        // On a multi-threaded runtime the writes are worked on this thread, the runtime's other
        // tasks handed to another (`block_in_place`), so the records are not copied; a
        // current-thread runtime cannot do that, and gets a copy on the blocking pool.
        if in_place() {
            return here(|| apply::apply(&folder, ops, &counters));
        }
        let ops = ops.to_vec();
        tokio::task::spawn_blocking(move || apply::apply(&folder, &ops, &counters)).await.map_err(blocking_failed)?
    }

    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        let folder = self.folder(object)?;
        let counters = Arc::clone(&self.counters);
        let key = key.clone();
        file_work(move || apply::find(&folder, &key, &counters.reads)).await
    }
}
