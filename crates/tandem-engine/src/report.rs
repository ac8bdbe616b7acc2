//! What a cycle did, for people (Display) and machines (serde JSON).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tandem_core::model::ObjectKind;
use tandem_core::plan::{Plan, Resolution};
use tandem_core::state::{PairId, RecordId, Side, UnresolvedKind};
use tandem_policy::{Effect, PolicyDecision};

/// A conflict and how it was settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictReport {
    /// The pair.
    pub pair: Option<PairId>,
    /// The fields in conflict.
    pub fields: Vec<String>,
    /// The resolution chosen.
    pub resolution: Resolution,
    /// Why.
    pub reason: String,
}

/// A record set aside or a write that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordIssue {
    /// The side holding the record.
    pub side: Side,
    /// The record.
    pub id: RecordId,
    /// Why.
    pub reason: String,
}

/// An unresolved item reported by a write this cycle (see [`tandem_core::state::Unresolved`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnresolvedIssue {
    /// The side of the record whose content did not fully arrive.
    pub side: Side,
    /// The record.
    pub id: RecordId,
    /// What is missing.
    pub kind: UnresolvedKind,
    /// The company name, the attendee address.
    pub subject: String,
    /// In words.
    pub detail: String,
}

/// API calls made to each side during a cycle.
///
/// When a user's two objects run at once and share a request (a first page read with the other
/// object's, a write batch sent with the other object's; see `Connector::apply_mixed`), the
/// request counts in both objects' reports: each counts the calls its own work needed. The
/// providers' own counters see it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ApiCalls {
    /// Calls to the CRM connector (pages, fetches, write batches, lookups).
    pub crm: u64,
    /// Calls to the mailbox connector.
    pub mailbox: u64,
}

impl ApiCalls {
    /// Counts `n` calls to `side`.
    pub fn count_n(&mut self, side: Side, n: u64) {
        match side {
            Side::Crm => self.crm += n,
            Side::Mailbox => self.mailbox += n,
        }
    }

    /// Counts one call to `side`.
    pub fn count(&mut self, side: Side) {
        match side {
            Side::Crm => self.crm += 1,
            Side::Mailbox => self.mailbox += 1,
        }
    }
}

/// Where one object's cycle spent its time (wall clock, microseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseTimes {
    /// Recovery's recheck, reading both sides (change feeds or the feed inbox, re-reads), and
    /// loading the pairs the changes touch.
    pub read_us: u64,
    /// Planning and the security policy.
    pub plan_us: u64,
    /// Journaling and sending the writes, replans included.
    pub write_us: u64,
    /// Settling the results and the commit.
    pub commit_us: u64,
}

/// What happened to one object kind in one cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectReport {
    /// Contacts or events.
    pub object: ObjectKind,
    /// Changes read from each side.
    pub pulled: BTreeMap<Side, usize>,
    /// Operations planned, by kind.
    pub planned: BTreeMap<String, usize>,
    /// Writes that succeeded, by kind.
    pub applied: BTreeMap<String, usize>,
    /// Writes that failed, with the reason; their records are retried next cycle or quarantined.
    pub failed: Vec<RecordIssue>,
    /// Conflicts and their resolutions.
    pub conflicts: Vec<ConflictReport>,
    /// Records quarantined this cycle.
    pub quarantined: Vec<RecordIssue>,
    /// Deletes held by the mass-delete guard.
    pub held_deletes: usize,
    /// New records that match a record already linked to another: neither linked nor copied,
    /// reported (and kept in quarantine, kind `ambiguous_match`) until they change or an
    /// administrator resolves them.
    #[serde(default)]
    pub ambiguous: Vec<RecordIssue>,
    /// Unresolved items the writes of this cycle reported: records carried across without part
    /// of them (or not at all) until an administrator resolves the cause.
    #[serde(default)]
    pub unresolved: Vec<UnresolvedIssue>,
    /// Unresolved items whose cause was gone: their records are written again.
    #[serde(default)]
    pub unresolved_retried: usize,
    /// Tandem's own writes recognised and ignored.
    pub echoes_suppressed: usize,
    /// Sides whose cursor expired, so they were read in full (existing pairs are re-linked).
    pub full_resync: Vec<Side>,
    /// Stale-version writes that were refetched and replanned.
    pub replanned: usize,
    /// API calls per side.
    pub api_calls: ApiCalls,
    /// Where the cycle's time went.
    #[serde(default)]
    pub phases: PhaseTimes,
    /// The security policy's decisions: operations denied or transformed, with the rule.
    #[serde(default)]
    pub policy: Vec<PolicyDecision>,
    /// The plan itself, in dry runs (after the policy: denied operations show as skips).
    pub plan: Option<Plan>,
}

impl ObjectReport {
    /// An empty report for `object`.
    pub fn new(object: ObjectKind) -> Self {
        ObjectReport {
            object,
            pulled: BTreeMap::new(),
            planned: BTreeMap::new(),
            applied: BTreeMap::new(),
            failed: Vec::new(),
            conflicts: Vec::new(),
            quarantined: Vec::new(),
            held_deletes: 0,
            ambiguous: Vec::new(),
            unresolved: Vec::new(),
            unresolved_retried: 0,
            echoes_suppressed: 0,
            full_resync: Vec::new(),
            replanned: 0,
            api_calls: ApiCalls::default(),
            phases: PhaseTimes::default(),
            policy: Vec::new(),
            plan: None,
        }
    }

    /// Successful writes of one kind (`create`, `update`, `delete`).
    pub fn applied(&self, kind: &str) -> usize {
        self.applied.get(kind).copied().unwrap_or(0)
    }

    /// Planned operations of one kind.
    pub fn planned(&self, kind: &str) -> usize {
        self.planned.get(kind).copied().unwrap_or(0)
    }

    /// Operations the security policy denied.
    pub fn policy_denied(&self) -> usize {
        self.policy.iter().filter(|d| d.effect == Effect::Deny).count()
    }

    /// Operations the security policy transformed (one per rule that changed them).
    pub fn policy_transformed(&self) -> usize {
        self.policy.iter().filter(|d| d.effect == Effect::Transform).count()
    }
}

/// What one user's sync did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The user.
    pub user: String,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// When the sync started.
    pub started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Pending writes from an interrupted earlier run that were settled first.
    pub recovered_intents: usize,
    /// Per object.
    pub objects: Vec<ObjectReport>,
}

impl SyncReport {
    /// The report of one object, if it ran.
    pub fn object(&self, object: ObjectKind) -> Option<&ObjectReport> {
        self.objects.iter().find(|o| o.object == object)
    }

    /// Total successful writes across objects.
    pub fn total_writes(&self) -> usize {
        self.objects.iter().map(|o| o.applied.values().sum::<usize>()).sum()
    }
}

fn counts(map: &BTreeMap<String, usize>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sync of {}{} at {} ({} ms)",
            self.user,
            if self.dry_run { " [dry run: nothing written]" } else { "" },
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.duration_ms
        )?;
        if self.recovered_intents > 0 {
            writeln!(f, "  settled {} write(s) left pending by an interrupted run", self.recovered_intents)?;
        }
        for o in &self.objects {
            let pulled: Vec<String> = o.pulled.iter().map(|(s, n)| format!("{n} from {s}")).collect();
            writeln!(
                f,
                "  {}s: read {}",
                o.object,
                if pulled.is_empty() { "nothing".into() } else { pulled.join(", ") }
            )?;
            writeln!(f, "    planned: {}", counts(&o.planned))?;
            if !self.dry_run {
                writeln!(f, "    applied: {}", counts(&o.applied))?;
            } else if let Some(plan) = o.plan.as_ref().filter(|p| !p.operations.is_empty()) {
                // The preview lists every operation with its reason, in the plan's order.
                write!(f, "{}", plan.listing().indented("      "))?;
            }
            if !o.full_resync.is_empty() {
                let sides: Vec<&str> = o.full_resync.iter().map(|s| s.as_str()).collect();
                writeln!(f, "    full resync of {} (cursor expired; pairs re-linked)", sides.join(" and "))?;
            }
            if o.echoes_suppressed > 0 {
                writeln!(f, "    ignored {} echo(es) of Tandem's own writes", o.echoes_suppressed)?;
            }
            if o.replanned > 0 {
                writeln!(f, "    replanned {} write(s) after a stale version", o.replanned)?;
            }
            for u in &o.unresolved {
                writeln!(f, "    UNRESOLVED {} {} {} `{}`: {}", u.side, u.id, u.kind, u.subject, u.detail)?;
            }
            for a in &o.ambiguous {
                writeln!(f, "    AMBIGUOUS {} {}: {}", a.side, a.id, a.reason)?;
            }
            if o.held_deletes > 0 {
                writeln!(f, "    HELD {} delete(s): mass-delete guard tripped; approve to apply", o.held_deletes)?;
            }
            if !o.policy.is_empty() {
                let mut by_rule: BTreeMap<(String, &str), usize> = BTreeMap::new();
                for d in &o.policy {
                    *by_rule.entry((d.rule.to_string(), d.outcome())).or_default() += 1;
                }
                let parts: Vec<String> =
                    by_rule.iter().map(|((rule, outcome), n)| format!("{n} {outcome} by `{rule}`")).collect();
                writeln!(f, "    policy: {}", parts.join(", "))?;
            }
            for c in &o.conflicts {
                writeln!(f, "    conflict [{}] -> {:?}: {}", c.fields.join(", "), c.resolution, c.reason)?;
            }
            for q in &o.quarantined {
                writeln!(f, "    quarantined {} {}: {}", q.side, q.id, q.reason)?;
            }
            for x in &o.failed {
                writeln!(f, "    failed {} {}: {}", x.side, x.id, x.reason)?;
            }
            writeln!(f, "    api calls: crm {}, mailbox {}", o.api_calls.crm, o.api_calls.mailbox)?;
        }
        Ok(())
    }
}
