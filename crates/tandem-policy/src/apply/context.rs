//! What the policy needs besides the plan.

use tandem_core::config::ObjectConfig;
use tandem_core::planner::PairIndex;
use tandem_core::state::Change;

use crate::connection::ConnectionInfo;

/// What the policy needs besides the plan: whose cycle it is, which mailbox it writes into, the
/// custom-field names, the pairs' previous states and the records read this cycle.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    /// The user whose cycle planned it.
    pub user: &'a str,
    /// The mailbox side's connection; its principal (or, when it has none, `user`) is the mailbox
    /// the plan writes into.
    pub mailbox: &'a ConnectionInfo,
    /// The object's configuration (for custom field names).
    pub config: &'a ObjectConfig,
    /// The pairs the planner was given: their states before this cycle.
    pub pairs: &'a PairIndex,
    /// The CRM changes the planner was given.
    pub crm_changes: &'a [Change],
    /// The mailbox changes the planner was given.
    pub mailbox_changes: &'a [Change],
}
