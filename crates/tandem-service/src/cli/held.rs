//! `tandem held list|approve|reject USER`: deletes held by the mass-delete guard. Approving lets
//! them through on the next cycle; rejecting drops them (the records are kept and re-linked).

use tandem_core::model::ObjectKind;

use super::{Context, ObjectArg, actor};
use crate::exit::{Exit, Failure};
use crate::output::Output;

/// `tandem held …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List a user's held deletes.
    List {
        /// The user.
        user: String,
        /// Only this object.
        #[arg(long, value_enum)]
        object: Option<ObjectArg>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a user's held deletes: the next cycle applies them.
    Approve {
        /// The user.
        user: String,
        /// Only this object.
        #[arg(long, value_enum)]
        object: Option<ObjectArg>,
    },
    /// Reject a user's held deletes: they are not applied.
    Reject {
        /// The user.
        user: String,
        /// Only this object.
        #[arg(long, value_enum)]
        object: Option<ObjectArg>,
    },
}

/// Runs `tandem held`.
///
/// # Errors
///
/// [`Failure`] for the store.
pub async fn run(ctx: &Context, command: Command) -> Result<Exit, Failure> {
    match command {
        Command::List { user, object, json } => {
            let object: Option<ObjectKind> = object.map(Into::into);
            let held: Vec<_> = ctx
                .engine
                .held_deletes(&user)
                .await?
                .into_iter()
                .filter(|q| object.is_none_or(|o| q.object == o))
                .collect();
            Output::new(json).either(&held, || {
                if held.is_empty() {
                    return format!("{user}: no held deletes");
                }
                held.iter()
                    .map(|q| {
                        let approved =
                            q.detail.as_ref().and_then(|d| d.get("approved")).and_then(serde_json::Value::as_bool)
                                == Some(true);
                        format!(
                            "{} {} {} {} since {}{}: {}",
                            q.user,
                            q.object,
                            q.side,
                            q.record_id.as_str(),
                            q.since.format("%Y-%m-%d %H:%M:%SZ"),
                            if approved { " (approved)" } else { "" },
                            q.reason
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
            Ok(Exit::Ok)
        }
        Command::Approve { user, object } => {
            let n = ctx.engine.approve_held_deletes(&user, object.map(Into::into), &actor()).await?;
            Output::new(false).line(&format!("{user}: {n} held delete(s) approved; the next cycle applies them"))?;
            Ok(if n == 0 { Exit::NotFound } else { Exit::Ok })
        }
        Command::Reject { user, object } => {
            let n = ctx.engine.reject_held_deletes(&user, object.map(Into::into), &actor()).await?;
            Output::new(false).line(&format!("{user}: {n} held delete(s) rejected"))?;
            Ok(if n == 0 { Exit::NotFound } else { Exit::Ok })
        }
    }
}
