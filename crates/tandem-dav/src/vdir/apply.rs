//! The connector's writes: creates named after their idempotency key, updates and deletes under a
//! content-version precondition, each through [`super::write`]'s atomic file operations.
//!
//! - **Create**: the file `<key>.<ext>` is created only if it does not exist; if it does (an
//!   earlier answer was lost), the existing file is the answer, so a create never duplicates.
//! - **Update**: the file is read, its version (a print of its bytes) checked against the
//!   expected one (`PreconditionFailed` with the current version otherwise), the patch applied to
//!   the record it holds, and the record merged into the file's text
//!   ([`tandem_core::interchange::merge_icalendar`] / `merge_vcard`), so what Tandem does not own
//!   survives. A merge that gives the same bytes writes nothing.
//! - **Delete**: the same precondition, then the file is removed.
//!
//! Between the check and the rename another program could still write the file: plain files have
//! no compare-and-swap. The window is the time of one merge; vdirsyncer has the same one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tandem_connector::{ConnectorError, WriteOp, WriteResult, Written};
use tandem_core::model::Record;
use tandem_core::state::{IdempotencyKey, RecordId, Version};

use super::flush::{self, BatchFlush};
use super::map;
use super::read::{self, Folder};
use super::write::{self, Staged};

/// Counters shared by a connector and its blocking tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Item files read.
    pub(crate) reads: AtomicU64,
    /// Item files written or removed.
    pub(crate) writes: AtomicU64,
    /// Batches whose staged files were flushed by one flush of their file system.
    pub(crate) whole_flushes: AtomicU64,
}

fn transient(what: &str, e: &io::Error) -> ConnectorError {
    ConnectorError::Transient { message: format!("{what}: {e}") }
}

fn rejected(code: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::Rejected { code: code.to_owned(), message: message.into() }
}

/// The current bytes and version of the item `id`.
fn current(folder: &Folder, id: &RecordId, reads: &AtomicU64) -> Result<(Vec<u8>, Version), ConnectorError> {
    let path = folder.path_of(id.as_str()).ok_or(ConnectorError::NotFound)?;
    match read::read_bytes(&path, folder.max_file_size, reads) {
        Ok(Ok((bytes, _))) => {
            let version = map::version_of(&bytes);
            Ok((bytes, version))
        }
        Ok(Err(reason)) => Err(rejected("FILE_TOO_LARGE", reason)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ConnectorError::NotFound),
        Err(e) => Err(transient(&format!("cannot read {}", path.display()), &e)),
    }
}

fn check(expected: &Version, current: &Version) -> Result<(), ConnectorError> {
    if expected.as_str().is_empty() || expected == current {
        Ok(())
    } else {
        Err(ConnectorError::PreconditionFailed { current: Some(current.clone()) })
    }
}

/// The item created with `key`, if its file exists.
pub(crate) fn find(
    folder: &Folder,
    key: &IdempotencyKey,
    reads: &AtomicU64,
) -> Result<Option<Written>, ConnectorError> {
    let id = RecordId::new(folder.name_of(&map::stem_for_key(key)));
    match current(folder, &id, reads) {
        Ok((_, version)) => Ok(Some(Written::new(id, version))),
        Err(ConnectorError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A write prepared: answered already, or content staged and waiting to be moved into place.
enum Step {
    /// Nothing to write: the answer.
    Done(WriteResult),
    /// A new file, if its name is still free.
    Create { id: RecordId, path: PathBuf, staged: Staged, version: Version, key: IdempotencyKey },
    /// A new version of an existing file.
    Replace { id: RecordId, path: PathBuf, staged: Staged, version: Version },
    /// A removal.
    Remove { id: RecordId, path: PathBuf },
}

/// Stages `bytes` for the item `name`, marked as this connector's own write when a pull gave it
/// a nonce (a file left unmarked is only read once more, by the next pull).
fn stage(folder: &Folder, name: &str, bytes: &[u8]) -> Result<Staged, ConnectorError> {
    let staged = write::stage(&folder.dir, bytes)
        .map_err(|e| transient(&format!("cannot write in {}", folder.dir.display()), &e))?;
    let nonce = folder.nonce.load(Ordering::Relaxed);
    if nonce != 0
        && let Err(e) = staged.mark(nonce, name)
    {
        tracing::debug!(error = %e, "cannot set the mtime of a staged file; the next pull reads it");
    }
    Ok(staged)
}

fn prepare_create(folder: &Folder, key: &IdempotencyKey, record: &Record) -> Result<Step, ConnectorError> {
    if record.kind() != folder.kind {
        return Err(rejected("WRONG_KIND", format!("a {} in the {} folder", record.kind(), folder.kind)));
    }
    // No look for an existing file first: that was a failed `open` for every item of a first
    // sync, to spare the rare retry of a create that had landed its rendering and staging. The
    // move into place finds the file there and answers with it ([`commit`]).
    let id = RecordId::new(folder.name_of(&map::stem_for_key(key)));
    let path = folder.path_of(id.as_str()).ok_or_else(|| rejected("BAD_NAME", id.as_str()))?;
    let text = map::render_new(record, key).map_err(|e| rejected("UNWRITABLE", e))?;
    let staged = stage(folder, id.as_str(), text.as_bytes())?;
    Ok(Step::Create { id, path, staged, version: map::version_of(text.as_bytes()), key: key.clone() })
}

fn prepare_update(
    folder: &Folder,
    id: &RecordId,
    expected: &Version,
    patch: &[tandem_core::plan::FieldChange],
    reads: &AtomicU64,
) -> Result<Step, ConnectorError> {
    let (bytes, version) = current(folder, id, reads)?;
    check(expected, &version)?;
    let text = String::from_utf8(bytes).map_err(|_| rejected("NOT_UTF8", "the file is not UTF-8"))?;
    let mut record = map::parse_item(folder.kind, &text).map_err(|e| rejected("UNREADABLE_ITEM", e))?;
    for change in patch {
        record.set(&change.field, change.value.clone()).map_err(|e| rejected("INVALID_FIELD", e.to_string()))?;
    }
    let merged = map::render_update(&text, &record).map_err(|e| rejected("UNWRITABLE", e))?;
    if merged == text {
        return Ok(Step::Done(Ok(Written::new(id.clone(), version))));
    }
    let path = folder.path_of(id.as_str()).ok_or(ConnectorError::NotFound)?;
    let staged = stage(folder, id.as_str(), merged.as_bytes())?;
    Ok(Step::Replace { id: id.clone(), path, staged, version: map::version_of(merged.as_bytes()) })
}

fn prepare_delete(
    folder: &Folder,
    id: &RecordId,
    expected: &Version,
    reads: &AtomicU64,
) -> Result<Step, ConnectorError> {
    let (_, version) = current(folder, id, reads)?;
    check(expected, &version)?;
    let path = folder.path_of(id.as_str()).ok_or(ConnectorError::NotFound)?;
    Ok(Step::Remove { id: id.clone(), path })
}

/// Moves one prepared write into place.
fn commit(folder: &Folder, step: Step, counters: &Counters) -> WriteResult {
    let failed = |what: &str, path: &Path, e: io::Error| transient(&format!("cannot {what} {}", path.display()), &e);
    match step {
        Step::Done(result) => result,
        Step::Create { id, path, staged, version, key } => {
            if !write::commit_create(staged, &path).map_err(|e| failed("create", &path, e))? {
                // Created before (an earlier answer was lost) or meanwhile (a retry in flight):
                // that file is the answer.
                return find(folder, &key, &counters.reads)?.ok_or(ConnectorError::NotFound);
            }
            counters.writes.fetch_add(1, Ordering::Relaxed);
            Ok(Written::new(id, version))
        }
        Step::Replace { id, path, staged, version } => {
            write::commit_replace(staged, &path).map_err(|e| failed("write", &path, e))?;
            counters.writes.fetch_add(1, Ordering::Relaxed);
            Ok(Written::new(id, version))
        }
        Step::Remove { id, path } => {
            if !write::remove(&path).map_err(|e| failed("remove", &path, e))? {
                return Err(ConnectorError::NotFound);
            }
            counters.writes.fetch_add(1, Ordering::Relaxed);
            Ok(Written::new(id, Version::default()))
        }
    }
}

/// Threads that flush a batch's staged files at once.
const FLUSHERS: usize = 16;

/// Below this many items a batch is worked on one thread.
const PARALLEL_FROM: usize = 16;

/// `work` over `items` split into at most `threads` runs of consecutive items, on as many scoped
/// threads; the results in the items' order. A run whose thread panicked (a bug) gives failed
/// steps: those writes were not made.
fn in_parallel<T: Send>(items: Vec<T>, threads: usize, work: impl Fn(Vec<T>) -> Vec<Step> + Sync) -> Vec<Step> {
    if items.len() < PARALLEL_FROM || threads < 2 {
        return work(items);
    }
    let chunk = items.len().div_ceil(threads);
    let mut runs: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        runs.push(items.by_ref().take(chunk).collect());
    }
    std::thread::scope(|scope| {
        let work = &work;
        let runs: Vec<_> = runs.into_iter().map(|run| (run.len(), scope.spawn(move || work(run)))).collect();
        runs.into_iter().flat_map(|(len, run)| run.join().unwrap_or_else(|_| failed_steps(len))).collect()
    })
}

fn failed_steps(len: usize) -> Vec<Step> {
    (0..len).map(|_| Step::Done(Err(ConnectorError::Transient { message: "a write task failed".into() }))).collect()
}

/// The staged files of `steps` flushed: by one flush of their file system where that is safe and
/// they are many ([`BatchFlush::flush_all`]), otherwise one by one on up to [`FLUSHERS`] threads.
/// A staged file that could not be flushed becomes a failed write (its temporary file goes).
fn flush_staged(steps: Vec<Step>, batch: Option<&BatchFlush>, counters: &Counters) -> Vec<Step> {
    let staged = steps.iter().filter(|step| matches!(step, Step::Create { .. } | Step::Replace { .. })).count();
    if staged >= flush::FLUSH_ALL_FROM
        && let Some(batch) = batch
    {
        match batch.flush_all() {
            Ok(true) => {
                counters.whole_flushes.fetch_add(1, Ordering::Relaxed);
                return steps;
            }
            Ok(false) => {}
            Err(e) => {
                let error = transient("cannot flush the staged files", &e);
                return steps
                    .into_iter()
                    .map(|step| match step {
                        Step::Create { .. } | Step::Replace { .. } => Step::Done(Err(error.clone())),
                        other => other,
                    })
                    .collect();
            }
        }
    }
    let flush = |steps: Vec<Step>| -> Vec<Step> {
        steps
            .into_iter()
            .map(|step| match &step {
                Step::Create { staged, .. } | Step::Replace { staged, .. } => match staged.sync() {
                    Ok(()) => step,
                    Err(e) => Step::Done(Err(transient("cannot flush a staged file", &e))),
                },
                _ => step,
            })
            .collect()
    };
    in_parallel(steps, FLUSHERS, flush)
}

/// Applies a batch, one result per write: every write is prepared (checked, merged, staged in a
/// temporary file), the staged files are flushed, then moved into place, and the folder's
/// entries are flushed once.
pub(crate) fn apply(folder: &Folder, ops: &[WriteOp], counters: &Counters) -> Result<Vec<WriteResult>, ConnectorError> {
    let before = counters.writes.load(Ordering::Relaxed);
    let reads = &counters.reads;
    // Opened before anything is staged, so that its flush covers every staged file; without it
    // (the folder cannot be opened), files are flushed one by one.
    let batch = if folder.fsync && folder.flush_file_system { BatchFlush::open(&folder.dir).ok() } else { None };
    // Prepared (checked, merged, staged) on up to two threads (the CPU's work), then flushed only
    // once everything is staged (not write, flush, write, flush), on up to `FLUSHERS` threads:
    // a flush mostly waits for the disk, and the file system joins flushes that wait together
    // into the same journal commits.
    let prepare = |ops: Vec<&WriteOp>| -> Vec<Step> {
        ops.into_iter()
            .map(|op| {
                match op {
                    WriteOp::Create { key, record } => prepare_create(folder, key, record),
                    WriteOp::Update { id, expected, patch } => prepare_update(folder, id, expected, patch, reads),
                    WriteOp::Delete { id, expected } => prepare_delete(folder, id, expected, reads),
                }
                .unwrap_or_else(|e| Step::Done(Err(e)))
            })
            .collect()
    };
    let steps = in_parallel(ops.iter().collect(), 2, prepare);
    let steps = if folder.fsync { flush_staged(steps, batch.as_ref(), counters) } else { steps };
    let results: Vec<WriteResult> = steps.into_iter().map(|step| commit(folder, step, counters)).collect();
    if folder.fsync
        && counters.writes.load(Ordering::Relaxed) != before
        && let Err(e) = batch.as_ref().map_or_else(|| write::sync_dir(&folder.dir), BatchFlush::flush_entries)
    {
        // The writes happened but may not survive a crash: the engine must not record them as
        // done. Transient keeps its journal intents, which recovery settles against the files.
        let error = transient("cannot flush the folder", &e);
        return Ok(results.into_iter().map(|r| r.and(Err(error.clone()))).collect());
    }
    Ok(results)
}
