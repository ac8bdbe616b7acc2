//! `tandem check`: the file, the policy, then every connection of every user (or of `--user`):
//! the token (through `identity()`), the method and scopes the connection uses (as the policy
//! sees them), and a first page of each synced object as the test of folder access. Prints what
//! each user's sync covers. Exit 0 when all pass, 2 for a configuration or policy problem, 3 when
//! a connection fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tandem_connector::Connector;
use tandem_core::config::Direction;
use tandem_core::model::ObjectKind;
use tandem_core::state::Side;

use super::Context;
use crate::config::UserEntry;
use crate::exit::{Exit, Failure};
use crate::output::Output;

/// `tandem check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this user (repeatable).
    #[arg(long = "user", value_name = "USER")]
    pub users: Vec<String>,
    /// Check the file and the policy only; connect to nothing.
    #[arg(long)]
    pub offline: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct SideCheck {
    connection: String,
    provider: String,
    method: String,
    scopes: Vec<String>,
    endpoints: Vec<String>,
    policy: Result<(), String>,
    identity: Option<Result<String, String>>,
    /// Records on the first page of each object, or the error.
    first_page: BTreeMap<String, Result<usize, String>>,
}

impl SideCheck {
    fn ok(&self) -> bool {
        self.policy.is_ok()
            && self.identity.as_ref().is_none_or(Result::is_ok)
            && self.first_page.values().all(Result::is_ok)
    }
}

#[derive(Debug, Serialize)]
struct ObjectCoverage {
    object: ObjectKind,
    direction: Direction,
}

#[derive(Debug, Serialize)]
struct UserCheck {
    user: String,
    configuration: String,
    objects: Vec<ObjectCoverage>,
    crm: SideCheck,
    mailbox: SideCheck,
}

#[derive(Debug, Serialize)]
struct Report {
    config: String,
    store: String,
    ok: bool,
    users: Vec<UserCheck>,
    unassigned: Vec<String>,
    /// The organization feeds the users read from, with the user each is read as.
    feeds: Vec<String>,
}

async fn check_side(
    ctx: &Context,
    user: &UserEntry,
    side: Side,
    connector: &Arc<dyn Connector>,
    objects: &[ObjectKind],
    offline: bool,
) -> SideCheck {
    let info = connector.connection();
    let policy = ctx.engine.policy().check_connection(&info).map_err(|e| e.to_string());
    let mut check = SideCheck {
        connection: match side {
            Side::Crm => user.crm.clone(),
            Side::Mailbox => user.mailbox.clone(),
        },
        provider: info.provider.clone(),
        method: info.method.clone(),
        scopes: info.scopes.clone(),
        endpoints: info.endpoints.clone(),
        policy,
        identity: None,
        first_page: BTreeMap::new(),
    };
    if offline || check.policy.is_err() {
        return check;
    }
    let identity = connector.identity().await.map(|i| i.user).map_err(|e| e.to_string());
    let connected = identity.is_ok();
    check.identity = Some(identity);
    if connected {
        for object in objects {
            let page = connector.pull(*object, None).await.map(|p| p.changes.len()).map_err(|e| e.to_string());
            check.first_page.insert(object.to_string(), page);
        }
    }
    check
}

fn describe_side(label: &str, s: &SideCheck) -> String {
    let mut out = format!("  {label}: {} ({}, method {}", s.connection, s.provider, s.method);
    if !s.scopes.is_empty() {
        out.push_str(&format!(", scopes {}", s.scopes.join(" ")));
    }
    out.push(')');
    match &s.policy {
        Ok(()) => out.push_str("\n    policy: allowed"),
        Err(e) => out.push_str(&format!("\n    policy: REFUSED: {e}")),
    }
    match &s.identity {
        None => {}
        Some(Ok(who)) => out.push_str(&format!("\n    token: ok, signed in as {who}")),
        Some(Err(e)) => out.push_str(&format!("\n    token: FAILED: {e}")),
    }
    for (object, page) in &s.first_page {
        match page {
            Ok(n) => out.push_str(&format!("\n    {object}s: readable ({n} on the first page)")),
            Err(e) => out.push_str(&format!("\n    {object}s: FAILED: {e}")),
        }
    }
    out
}

/// Runs `tandem check`.
///
/// # Errors
///
/// [`Failure`] with [`Exit::Config`] for the file, the policy or a connection's settings.
pub async fn run(path: &Path, args: Args) -> Result<Exit, Failure> {
    let ctx = Context::open(path).await?;
    let out = Output::new(args.json);
    let mut users = Vec::new();
    let mut policy_refused = false;
    for user in ctx.factory.selected(&args.users)? {
        let job = ctx.factory.job(user)?;
        let objects: Vec<ObjectKind> =
            ObjectKind::ALL.into_iter().filter(|o| job.config.object(*o).direction != Direction::Off).collect();
        let crm = check_side(&ctx, user, Side::Crm, &job.crm, &objects, args.offline).await;
        let mailbox = check_side(&ctx, user, Side::Mailbox, &job.mailbox, &objects, args.offline).await;
        policy_refused |= crm.policy.is_err() || mailbox.policy.is_err();
        users.push(UserCheck {
            user: user.user.clone(),
            configuration: user.configuration.clone(),
            objects: ObjectKind::ALL
                .into_iter()
                .map(|o| ObjectCoverage { object: o, direction: job.config.object(o).direction })
                .collect(),
            crm,
            mailbox,
        });
    }
    // Organization feeds are built as `tandem run` builds them: a setting they refuse (a
    // provider without one, `include_followed`) is a configuration error here, not at run time.
    let feeds: Vec<String> = ctx
        .factory
        .feeds(&args.users)?
        .into_iter()
        .map(|(name, _)| {
            let user = ctx.config.connections.get(&name).and_then(|c| c.org_feed.as_ref()).map(|(u, _)| u.clone());
            format!("{name} (read as {})", user.unwrap_or_default())
        })
        .collect();
    let ok = users.iter().all(|u| u.crm.ok() && u.mailbox.ok());
    let report = Report {
        feeds,
        config: ctx.config.path.display().to_string(),
        store: ctx.config.store.to_string(),
        ok,
        users,
        unassigned: ctx.config.unassigned.clone(),
    };
    out.either(&report, || {
        let mut text = format!("{}: file and policy valid; state in {}\n", report.config, report.store);
        for u in &report.users {
            let objects: Vec<String> = u
                .objects
                .iter()
                .map(|o| {
                    let direction = serde_json::to_value(o.direction)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    format!("{}s {direction}", o.object)
                })
                .collect();
            text.push_str(&format!(
                "{}: configuration `{}`: {}\n{}\n{}\n",
                u.user,
                u.configuration,
                objects.join(", "),
                describe_side("crm", &u.crm),
                describe_side("mailbox", &u.mailbox)
            ));
        }
        if !report.unassigned.is_empty() {
            text.push_str(&format!(
                "not synced (in users_file, matched by no assignment): {}\n",
                report.unassigned.join(", ")
            ));
        }
        if !report.feeds.is_empty() {
            text.push_str(&format!("organization feeds: {}\n", report.feeds.join(", ")));
        }
        text.push_str(if report.ok { "check passed" } else { "check FAILED" });
        text
    })?;
    Ok(if report.ok {
        Exit::Ok
    } else if policy_refused {
        Exit::Config
    } else {
        Exit::Connection
    })
}
