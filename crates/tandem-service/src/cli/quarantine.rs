//! `tandem quarantine list|retry|dismiss USER`: records set aside because they cannot be
//! synced (invalid, rejected, ambiguous matches). Retry releases one for the next cycle; dismiss
//! drops it from the list.

use tandem_core::state::RecordId;

use super::{Context, ObjectArg, SideArg, actor};
use crate::exit::{Exit, Failure};
use crate::output::Output;

/// `tandem quarantine …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List a user's quarantined records.
    List {
        /// The user.
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Release a quarantined record: the next cycle reads it again.
    Retry(Item),
    /// Dismiss a quarantined record.
    Dismiss(Item),
}

/// One quarantined record.
#[derive(Debug, clap::Args)]
pub struct Item {
    /// The user.
    pub user: String,
    /// The record's id on its side.
    pub id: String,
    /// The side the record is on.
    #[arg(long, value_enum)]
    pub side: SideArg,
    /// The record's object.
    #[arg(long, value_enum)]
    pub object: ObjectArg,
}

/// Runs `tandem quarantine`.
///
/// # Errors
///
/// [`Failure`] for the store.
pub async fn run(ctx: &Context, command: Command) -> Result<Exit, Failure> {
    match command {
        Command::List { user, json } => {
            let entries = ctx.engine.quarantined(&user).await?;
            Output::new(json).either(&entries, || {
                if entries.is_empty() {
                    return format!("{user}: nothing quarantined");
                }
                entries
                    .iter()
                    .map(|q| {
                        format!(
                            "{} {} {} {} since {}: {}",
                            q.user,
                            q.object,
                            q.side,
                            q.record_id.as_str(),
                            q.since.format("%Y-%m-%d %H:%M:%SZ"),
                            q.reason
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
            Ok(Exit::Ok)
        }
        Command::Retry(item) => {
            let id = RecordId::new(item.id.clone());
            let found =
                ctx.engine.retry_quarantined(&item.user, item.object.into(), item.side.into(), &id, &actor()).await?;
            finish(found, &item, "released; the next cycle reads it again")
        }
        Command::Dismiss(item) => {
            let id = RecordId::new(item.id.clone());
            let found =
                ctx.engine.dismiss_quarantined(&item.user, item.object.into(), item.side.into(), &id, &actor()).await?;
            finish(found, &item, "dismissed")
        }
    }
}

fn finish(found: bool, item: &Item, done: &str) -> Result<Exit, Failure> {
    if !found {
        return Err(Failure::new(
            Exit::NotFound,
            format!("{}: no quarantined record `{}` on that side", item.user, item.id),
        ));
    }
    Output::new(false).line(&format!("{}: {} {done}", item.user, item.id))?;
    Ok(Exit::Ok)
}
