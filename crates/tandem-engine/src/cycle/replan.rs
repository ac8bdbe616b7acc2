//! Replanning: the pairs whose writes met a changed target, read again and planned again.

use std::collections::{BTreeSet, HashSet};

use tandem_core::plan::{NextState, Plan};
use tandem_core::planner::{PairIndex, PlanInput, SideInput, plan};
use tandem_core::state::{Change, PairId, PairState, RecordId, Side};

use super::{Cycle, idx};
use crate::EngineError;

impl Cycle<'_> {
    /// Refetches the targets of stale writes and plans those pairs again against fresh data.
    pub(super) async fn replan(
        &mut self,
        current: &Plan,
        stale: &BTreeSet<PairId>,
        changes: &[Vec<Change>; 2],
        pairs: &PairIndex,
        caps: &[tandem_core::capabilities::Capabilities; 2],
        config: &tandem_core::config::ObjectConfig,
    ) -> Result<Plan, EngineError> {
        // The stale pairs as they were, but under the ids this plan gave them (a record that
        // moved keeps its new id).
        let subset = PairIndex::new(stale.iter().filter_map(|p| {
            let mut state = pairs.get(p)?;
            if let Some(NextState::Put(next)) = current.states.get(p) {
                for side in Side::BOTH {
                    if !next.side(side).id.is_pending() {
                        state.side_mut(side).id = next.side(side).id.clone();
                    }
                }
            }
            Some(state)
        }));
        let pairs = &subset;
        let mut fresh: [Vec<Change>; 2] = [Vec::new(), Vec::new()];
        let mut targets: [Vec<RecordId>; 2] = [Vec::new(), Vec::new()];
        for op in &current.operations {
            if let (Some(pair), Some(target)) = (&op.pair, op.action.target())
                && stale.contains(pair)
                && let Some(state) = pairs.get(pair)
            {
                targets[idx(target)].push(state.side(target).id.clone());
            }
        }
        for side in Side::BOTH {
            let ids = std::mem::take(&mut targets[idx(side)]);
            fresh[idx(side)] = self.fetch(side, &ids).await?;
        }
        // The other side's changes for those pairs, as read this cycle.
        let stale_pairs: Vec<PairState> = stale.iter().filter_map(|p| pairs.get(p)).collect();
        let stale_ids: [HashSet<&RecordId>; 2] =
            Side::BOTH.map(|side| stale_pairs.iter().map(|s| &s.side(side).id).collect::<HashSet<_>>());
        for side in Side::BOTH {
            let fetched: HashSet<RecordId> = fresh[idx(side)].iter().map(|c| c.id.clone()).collect();
            let carried: Vec<Change> = changes[idx(side)]
                .iter()
                .filter(|c| stale_ids[idx(side)].contains(&c.id) && !fetched.contains(&c.id))
                .cloned()
                .collect();
            fresh[idx(side)].extend(carried);
        }
        let input = PlanInput {
            object: self.object,
            config,
            pairs: &subset,
            mapped_pairs: usize::MAX,
            crm: SideInput { changes: &fresh[0], capabilities: caps[0].object(self.object) },
            mailbox: SideInput { changes: &fresh[1], capabilities: caps[1].object(self.object) },
            now: self.engine.inner.clock.now(),
            release_held_deletes: true,
            approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
            mailbox_owner: self.mailbox.principal.as_deref(),
        };
        let mut next = plan(&input);
        self.apply_policy(&mut next, pairs, &fresh, config);
        Ok(next)
    }
}
