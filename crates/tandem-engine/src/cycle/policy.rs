//! The security policy in a cycle: the connections checked before any connector call, and each
//! plan passed through the policy before anything is journaled or sent, its decisions audited.

use tandem_connector::ConnectionInfo;
use tandem_core::model::ObjectKind;
use tandem_core::plan::Plan;
use tandem_core::planner::PairIndex;
use tandem_core::state::{Change, Side};
use tandem_policy::{PlanContext, PolicyDecision};
use tandem_store::AuditEntry;

use super::Cycle;
use crate::{Engine, EngineError, SyncOptions, UserSync};

/// Asks the policy about both sides' connections, before any connector call. A refusal is
/// audited (except in dry runs) and fails the user's sync with the rule that applied. Returns the
/// mailbox side's connection, its principal defaulting to the user.
pub(super) async fn check_policy(
    engine: &Engine,
    job: &UserSync,
    options: &SyncOptions,
    objects: &[ObjectKind],
) -> Result<ConnectionInfo, EngineError> {
    let policy = &engine.inner.policy;
    let mut mailbox = None;
    let mut outcome = policy.validate().map_err(|error| EngineError::Policy { side: None, error });
    if outcome.is_ok() {
        for side in Side::BOTH {
            let mut info = job.connector(side).connection();
            if side == Side::Mailbox && info.principal.is_none() {
                info.principal = Some(job.user.clone());
            }
            if let Err(error) = policy.check_connection(&info) {
                outcome = Err(EngineError::Policy { side: Some(side), error });
                break;
            }
            if side == Side::Mailbox {
                mailbox = Some(info);
            }
        }
    }
    let error = match (outcome, mailbox) {
        (Ok(()), Some(mailbox)) => return Ok(mailbox),
        (Err(error), _) => error,
        // Unreachable: a successful check always visits the mailbox side.
        (Ok(()), None) => EngineError::Config("the mailbox connection was not checked".into()),
    };
    tracing::warn!(error = %error, "the security policy refused the sync");
    if !options.dry_run {
        let (side, rule, provider) = match &error {
            EngineError::Policy { side, error: tandem_policy::PolicyError::Denied { rule, provider, .. } } => {
                (*side, Some(rule.to_string()), Some(provider.clone()))
            }
            EngineError::Policy { side, error } => (*side, error.rule().map(ToString::to_string), None),
            _ => (None, None, None),
        };
        let at = engine.inner.clock.now();
        let entries: Vec<AuditEntry> = objects
            .iter()
            .map(|object| AuditEntry {
                at,
                user: job.user.clone(),
                object: *object,
                side,
                record_id: None,
                action: "policy_deny".into(),
                outcome: "denied".into(),
                reason: error.to_string(),
                detail: Some(serde_json::json!({ "rule": rule, "provider": provider, "operation": "connect" })),
            })
            .collect();
        engine.inner.store.append_audit(&entries).await?;
    }
    Err(error)
}

/// The audit entry of one policy decision.
fn policy_audit(at: chrono::DateTime<chrono::Utc>, user: &str, object: ObjectKind, d: &PolicyDecision) -> AuditEntry {
    AuditEntry {
        at,
        user: user.to_owned(),
        object,
        side: d.side,
        record_id: d.record.clone(),
        action: d.action().into(),
        outcome: d.outcome().into(),
        reason: format!("policy rule `{}`: {}", d.rule, d.reason),
        detail: Some(serde_json::json!({
            "rule": d.rule,
            "operation": d.operation,
            "target": d.target,
            "pair": d.pair,
            "fields": d.fields,
        })),
    }
}

impl Cycle<'_> {
    /// Passes a plan through the policy before anything is journaled or sent; records each
    /// decision in the report and, for the commit, in the audit log.
    pub(super) fn apply_policy(
        &mut self,
        plan: &mut Plan,
        pairs: &PairIndex,
        changes: &[Vec<Change>; 2],
        config: &tandem_core::config::ObjectConfig,
    ) {
        let context = PlanContext {
            user: &self.job.user,
            mailbox: self.mailbox,
            config,
            pairs,
            crm_changes: &changes[0],
            mailbox_changes: &changes[1],
        };
        let decisions = self.engine.inner.policy.apply(plan, &context);
        let now = self.engine.inner.clock.now();
        for d in &decisions {
            tracing::debug!(
                rule = %d.rule,
                operation = %d.operation,
                outcome = d.outcome(),
                target = ?d.target,
                "policy decision"
            );
            self.policy_audit.push(policy_audit(now, &self.job.user, self.object, d));
        }
        self.report.policy.extend(decisions);
    }
}
