//! Journaling and executing a plan's writes: the windows and batches in which a plan's writes are
//! journaled (entries from the `journal` module), then sent to each side.

use std::collections::HashMap;

use tandem_connector::{ConnectorError, WriteOp, WriteResult};
use tandem_core::plan::{Action, Plan};
use tandem_core::state::{PairId, Side};
use tandem_store::{Intent, JournalJson};

use super::journal::{JournalEntryRef, intent_key};
use super::{Access, Cycle, idx, shared};
use crate::EngineError;

/// About how many writes go into one durable journal transaction; a window closes at this size
/// but never splits a pair's writes (see `Cycle::execute`).
const JOURNAL_WINDOW: usize = 1024;

/// The side a write action writes to; `None` for actions that write nothing.
fn write_target(action: &Action) -> Option<Side> {
    match action {
        Action::Create { target, .. } | Action::Update { target, .. } | Action::Delete { target, .. } => Some(*target),
        _ => None,
    }
}

/// The connector's write for a write action, with its target; `None` for actions that write nothing.
/// A create's record moves into its write, leaving an empty record of the same kind in the plan:
/// only the journal (written before) and the connector need it, and a first sync's records then
/// go as their batches are answered rather than after the whole cycle.
fn take_write_op(action: &mut Action) -> Option<(Side, WriteOp)> {
    match action {
        Action::Create { target, key, record, .. } => {
            Some((*target, WriteOp::Create { key: key.clone(), record: record.take() }))
        }
        Action::Update { target, id, expected, patch, .. } => {
            Some((*target, WriteOp::Update { id: id.clone(), expected: expected.clone(), patch: patch.clone() }))
        }
        Action::Delete { target, id, expected } => {
            Some((*target, WriteOp::Delete { id: id.clone(), expected: expected.clone() }))
        }
        _ => None,
    }
}

impl Cycle<'_> {
    /// Journals, then sends a plan's writes in batches per target. Returns results by operation
    /// index.
    ///
    /// The journal is written a window of about [`JOURNAL_WINDOW`] writes at a time, each window
    /// durable before any of its writes is sent (its CRM writes first, then its mailbox's), so a
    /// first sync of ten thousand records never holds ten thousand serialised entries at once.
    /// **A pair's writes are always in one window:** recovery settles a pair from its journaled
    /// writes and the planned state, and takes a side without a journaled write to hold what it
    /// held, so one side's write must never be journaled (and sent) without the other's. A crash
    /// between windows leaves later writes unjournaled and unsent, which the next cycle plans
    /// again.
    ///
    /// Each create's record moves out of `plan` into its write once journaled: afterwards the
    /// plan's creates hold empty records (settling and replanning never read them).
    pub(super) async fn execute(&mut self, plan: &mut Plan) -> Result<HashMap<usize, WriteResult>, EngineError> {
        let store = self.engine.inner.store.clone();
        let now = self.engine.inner.clock.now();
        let mut windows: Vec<Vec<usize>> = Vec::new();
        let mut window_of: HashMap<&PairId, usize> = HashMap::new();
        for (i, op) in plan.operations.iter().enumerate() {
            if write_target(&op.action).is_none() {
                continue;
            }
            let window = match op.pair.as_ref().and_then(|p| window_of.get(p)) {
                Some(&w) => w,
                None => {
                    if windows.last().is_none_or(|w| w.len() >= JOURNAL_WINDOW) {
                        windows.push(Vec::new());
                    }
                    let w = windows.len() - 1;
                    if let Some(pair) = &op.pair {
                        window_of.insert(pair, w);
                    }
                    w
                }
            };
            windows[window].push(i);
        }
        let mut results = HashMap::new();
        let object = self.object;
        for window in windows {
            let mut intents = Vec::with_capacity(window.len());
            let mut by_target: [Vec<(usize, WriteOp)>; 2] = [Vec::new(), Vec::new()];
            for i in window {
                let op = &plan.operations[i];
                if write_target(&op.action).is_none() {
                    continue;
                }
                // Journaled as planned (a create without its record: `journal.rs`), before the
                // operation's record or patch moves into the write.
                let entry = JournalEntryRef { operation: op, next: op.pair.as_ref().and_then(|p| plan.states.get(p)) };
                let operation = JournalJson::to_json(&entry).map_err(|e| EngineError::Journal(e.to_string()))?;
                let key = intent_key(op);
                let Some((target, write)) = take_write_op(&mut plan.operations[i].action) else { continue };
                intents.push(Intent { user: self.job.user.clone(), object, key, target, operation, created_at: now });
                by_target[idx(target)].push((i, write));
            }
            // Write-ahead: the window's intents are durable before any of it is sent.
            store.record_intents(&intents).await?;
            drop(intents);
            let (job, seat) = (self.job, self.seat);
            for target in Side::BOTH {
                let max = job.connector(target).capabilities().object(object).max_batch.max(1);
                let mut writes = std::mem::take(&mut by_target[idx(target)]).into_iter();
                loop {
                    let (chunk, ops): (Vec<usize>, Vec<WriteOp>) = writes.by_ref().take(max).unzip();
                    if chunk.is_empty() {
                        break;
                    }
                    // A worker that lost its claim sends nothing more: the intents stay
                    // journaled for whoever holds the user now to settle.
                    self.check_fence().await?;
                    let outcome =
                        self.call(target, Access::Write, || shared::send(job, seat, target, object, &ops)).await;
                    match outcome {
                        Ok(answers) if answers.len() == chunk.len() => {
                            results.extend(chunk.into_iter().zip(answers));
                        }
                        Ok(answers) => {
                            let error = ConnectorError::Transient {
                                message: format!("{} answers for {} writes", answers.len(), chunk.len()),
                            };
                            results.extend(chunk.into_iter().map(|i| (i, Err(error.clone()))));
                        }
                        Err(error) => {
                            tracing::warn!(%target, error = %error, writes = chunk.len(), "batch failed");
                            results.extend(chunk.into_iter().map(|i| (i, Err(error.clone()))));
                        }
                    }
                }
            }
        }
        Ok(results)
    }
}
