//! `tandem reset USER`: Lightning Sync's Reset Sync. Forgets the user's pairs, cursors, journal
//! and quarantine (of one object or both); the next cycle reads both sides in full and re-links
//! by matching, without duplicates. Asks first unless `--yes`; without a terminal to ask on it
//! refuses (exit 7).

use std::io::{BufRead, Write};

use tandem_core::model::ObjectKind;

use super::{Context, ObjectArg, actor};
use crate::exit::{Exit, Failure};
use crate::output::{Output, stdin_is_terminal};

/// `tandem reset`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user.
    pub user: String,
    /// Only this object.
    #[arg(long, value_enum)]
    pub object: Option<ObjectArg>,
    /// Do not ask.
    #[arg(long)]
    pub yes: bool,
}

fn confirm(question: &str) -> Result<bool, Failure> {
    let mut err = std::io::stderr().lock();
    write!(err, "{question} [y/N] ").and_then(|()| err.flush())?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

/// Runs `tandem reset`.
///
/// # Errors
///
/// [`Failure`] for the store, or [`Exit::Refused`].
pub async fn run(ctx: &Context, args: Args) -> Result<Exit, Failure> {
    let object: Option<ObjectKind> = args.object.map(Into::into);
    let what = object.map_or_else(|| "contacts and events".to_owned(), |o| format!("{o}s"));
    if !args.yes {
        if !stdin_is_terminal() {
            return Err(Failure::new(Exit::Refused, "reset forgets sync state: pass --yes to confirm"));
        }
        if !confirm(&format!("Reset the sync state of {} ({what})?", args.user))? {
            return Ok(Exit::Refused);
        }
    }
    ctx.engine.reset_user_by(&args.user, object, &actor()).await?;
    Output::new(false).line(&format!(
        "{}: sync state of {what} reset; the next cycle re-reads both sides and re-links by matching",
        args.user
    ))?;
    Ok(Exit::Ok)
}
