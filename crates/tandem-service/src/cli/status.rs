//! `tandem status`: each user's last cycles, failures, quarantine, held deletes and unresolved
//! items, from the store (users of the file never synced show as such).

use serde::Serialize;
use tandem_store::{UserOverview, UserStatus};

use super::Context;
use crate::exit::{Exit, Failure};
use crate::output::Output;

/// `tandem status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this user (repeatable).
    #[arg(long = "user", value_name = "USER")]
    pub users: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    /// Whether the file assigns the user (users the store remembers may have left it).
    configured: bool,
    /// Whether a cycle ever ran.
    synced: bool,
    #[serde(flatten)]
    overview: UserOverview,
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
}

/// Runs `tandem status`.
///
/// # Errors
///
/// [`Failure`] for the store.
pub async fn run(ctx: &Context, args: Args) -> Result<Exit, Failure> {
    let out = Output::new(args.json);
    let overview = ctx.engine.user_overview().await?;
    let wanted = |user: &str| args.users.is_empty() || args.users.iter().any(|u| u.eq_ignore_ascii_case(user));
    let mut rows: Vec<Row> = Vec::new();
    for u in &ctx.config.users {
        if wanted(&u.user) {
            let found = overview.iter().find(|o| o.status.user.eq_ignore_ascii_case(&u.user)).cloned();
            let synced = found.as_ref().is_some_and(|o| o.status.last_cycle_at.is_some());
            let overview = found.unwrap_or_else(|| UserOverview::new(UserStatus::empty(&u.user), 0, 0, 0));
            rows.push(Row { configured: true, synced, overview });
        }
    }
    for o in overview {
        if wanted(&o.status.user) && !rows.iter().any(|r| r.overview.status.user.eq_ignore_ascii_case(&o.status.user)) {
            let synced = o.status.last_cycle_at.is_some();
            rows.push(Row { configured: false, synced, overview: o });
        }
    }
    if !args.users.is_empty() && rows.is_empty() {
        return Err(Failure::new(Exit::NotFound, format!("no such user: {}", args.users.join(", "))));
    }
    out.either(&rows, || {
        let mut text = String::new();
        for r in &rows {
            let o = &r.overview;
            let s: &UserStatus = &o.status;
            if !r.synced {
                text.push_str(&format!("{}: never synced\n", s.user));
                continue;
            }
            text.push_str(&format!(
                "{}{}: last cycle {}, last success {}, {} failure(s) in a row; quarantined {}, held deletes {}, unresolved {}\n",
                s.user,
                if r.configured { "" } else { " (not in the file)" },
                when(s.last_cycle_at),
                when(s.last_success_at),
                s.consecutive_failures,
                o.quarantined,
                o.held_deletes,
                o.unresolved,
            ));
            if let Some(error) = &s.last_error {
                text.push_str(&format!("  last error: {error}\n"));
            }
        }
        text
    })?;
    Ok(Exit::Ok)
}
