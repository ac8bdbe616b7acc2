//! The policy's decisions about planned operations: denied or transformed, for the audit log and
//! the report.

use std::fmt;

use serde::{Deserialize, Serialize};
use tandem_core::fields::FieldKey;
use tandem_core::state::{PairId, RecordId, Side};

use crate::rule::Rule;

/// Whether the policy refused an operation or changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The operation was turned into a skip: nothing is written.
    Deny,
    /// The operation is written, changed: fields removed, cut or replaced.
    Transform,
}

/// One decision of the policy about one planned operation, for the audit log and the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDecision {
    /// Denied or transformed.
    pub effect: Effect,
    /// The rule that applied.
    pub rule: Rule,
    /// The operation concerned (`create`, `update`, `delete`, `link`, `unlink`).
    pub operation: String,
    /// The pair concerned.
    pub pair: Option<PairId>,
    /// The side the operation writes to, for writes.
    pub target: Option<Side>,
    /// The side holding [`PolicyDecision::record`].
    pub side: Option<Side>,
    /// The record concerned: the target record of an update or delete, the source record of a
    /// create, the CRM record of a link.
    pub record: Option<RecordId>,
    /// The fields removed, cut or replaced (canonical names), for transformations.
    pub fields: Vec<FieldKey>,
    /// Why, in words. Names policy entries, never record data.
    pub reason: String,
}

impl PolicyDecision {
    /// The audit log's action for this decision: `policy_deny` or `policy_transform`.
    pub fn action(&self) -> &'static str {
        match self.effect {
            Effect::Deny => "policy_deny",
            Effect::Transform => "policy_transform",
        }
    }

    /// The audit log's outcome: `denied` or `transformed`.
    pub fn outcome(&self) -> &'static str {
        match self.effect {
            Effect::Deny => "denied",
            Effect::Transform => "transformed",
        }
    }
}

impl fmt::Display for PolicyDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} by policy rule `{}`: {}", self.operation, self.outcome(), self.rule, self.reason)?;
        if !self.fields.is_empty() {
            let names: Vec<String> = self.fields.iter().map(ToString::to_string).collect();
            write!(f, " [{}]", names.join(", "))?;
        }
        Ok(())
    }
}
