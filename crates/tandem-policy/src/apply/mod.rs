//! Enforcement on plans: every operation passes through the policy before it is executed.
//!
//! Code map:
//! - `mod.rs`: the entry point, [`Policy::apply`], which denies pairs and then transforms what is
//!   left.
//! - `context.rs`: [`PlanContext`], what the policy needs besides the plan.
//! - `decision.rs`: [`PolicyDecision`] and its [`Effect`], for the audit log and the report.
//! - `view.rs`: the records read this cycle, custom-field naming and the pairs' states.
//! - `involved.rs`: the records an operation concerns and whether they are private.
//! - `deny.rs`: denials: the record rules (excluded addresses and domains, private events
//!   skipped) and denied pairs' operations turned into skips.
//! - `busy.rs`: busy-only placeholders for private events.
//! - `transform.rs`: transformations of creates and updates: placeholders, fields that never
//!   leave Salesforce, descriptions cut.

mod busy;
mod context;
mod decision;
mod deny;
mod involved;
mod transform;
mod view;

use std::collections::BTreeMap;

use tandem_core::plan::{Action, Plan};
use tandem_core::state::PairId;

use crate::policy::Policy;
use crate::rule::Rule;

pub use busy::BUSY_SUBJECT;
pub use context::PlanContext;
pub use decision::{Effect, PolicyDecision};
use deny::deny;
use involved::involved;
use view::View;

impl Policy {
    /// Passes every operation of `plan` through the policy, in place, and returns the decisions
    /// taken, in plan order.
    ///
    /// - **Denials** turn operations into skips whose reason names the rule. A pair with a denied
    ///   operation is not synced this cycle at all: every write, link and unlink of the pair
    ///   becomes a skip, its conflicts are dropped and its next state is removed from
    ///   `plan.states`, so it keeps its previous state (and a denied create leaves no pair with
    ///   a pending id). Rules that deny: the mailbox scope (every write of a plan into a mailbox
    ///   outside it), excluded addresses and domains, and `private_events = skip`. Deletes are
    ///   only denied by the mailbox scope: removing a copy never leaks anything.
    /// - **Transformations** change what is written: busy-only placeholders for private events,
    ///   fields that never leave Salesforce removed from writes to the mailbox, descriptions cut
    ///   to the maximum length. The pair's next state records the fingerprints of what is
    ///   actually written (a field left out keeps the fingerprint of what the target holds), so
    ///   the next cycle sees no phantom edit. An update left with nothing to write becomes a
    ///   skip; the pair's state still advances.
    pub fn apply(&self, plan: &mut Plan, ctx: &PlanContext<'_>) -> Vec<PolicyDecision> {
        let view = View::new(ctx);
        let mut decisions = Vec::new();

        // The mailbox scope: nothing of this plan may be written.
        let principal = ctx.mailbox.principal.as_deref().unwrap_or(ctx.user);
        if let Err((rule, reason)) = self.check_mailbox(&ctx.mailbox.provider, principal) {
            let denied: BTreeMap<PairId, (Rule, String)> = plan
                .operations
                .iter()
                .filter_map(|op| op.pair.clone())
                .chain(plan.states.keys().cloned())
                .map(|p| (p, (rule.clone(), reason.clone())))
                .collect();
            deny(plan, &denied, &mut decisions);
            plan.states.clear();
            return decisions;
        }

        // Record rules: which pairs may not sync at all.
        let mut denied: BTreeMap<PairId, (Rule, String)> = BTreeMap::new();
        for op in &plan.operations {
            let Some(pair) = &op.pair else { continue };
            if denied.contains_key(pair) || matches!(op.action, Action::Delete { .. }) {
                continue;
            }
            let Some(involved) = involved(op, plan, &view) else { continue };
            if let Some(why) = self.record_denial(plan.object, &involved) {
                denied.insert(pair.clone(), why);
            }
        }
        deny(plan, &denied, &mut decisions);

        // Transformations of what is left.
        for i in 0..plan.operations.len() {
            match plan.operations[i].action {
                Action::Create { .. } => self.transform_create(plan, i, &view, &mut decisions),
                Action::Update { .. } => self.transform_update(plan, i, &view, &mut decisions),
                _ => {}
            }
        }
        decisions
    }
}
