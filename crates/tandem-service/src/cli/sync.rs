//! `tandem sync`: one cycle for every user (or `--user`), or a dry run that prints the plan
//! operation by operation with each reason and writes nothing. Progress goes to standard error:
//! a bar when it is a terminal, plain lines otherwise (records read, planned and written per
//! user). Exit 4 when any user's sync failed.
//!
//! Each user is claimed for the cycle (see `tandem_store::Claims`), as `tandem run` does: a user
//! whose cycle is running elsewhere (a `tandem run` worker, another `tandem sync`) is not synced
//! and is reported busy; exit 8 when a user was busy and none failed. Dry runs write nothing and
//! claim nothing.

use std::sync::Arc;

use serde::Serialize;
use tandem_engine::{SyncOptions, SyncReport};

use super::{Context, ObjectArg};
use crate::exit::{Exit, Failure};
use crate::output::{Output, stderr_is_terminal};

/// `tandem sync`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this user (repeatable).
    #[arg(long = "user", value_name = "USER")]
    pub users: Vec<String>,
    /// Plan only: print the operations and their reasons, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this object.
    #[arg(long, value_enum)]
    pub object: Option<ObjectArg>,
    /// Print JSON (the reports).
    #[arg(long)]
    pub json: bool,
}

/// One user's outcome, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// The user.
    pub user: String,
    /// Whether the sync ran.
    pub ok: bool,
    /// The report, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<SyncReport>,
    /// Why not, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True when it did not run because the user's cycle was running elsewhere.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub busy: bool,
}

/// The message of a user found busy.
pub const BUSY: &str = "busy: a cycle of this user is running elsewhere (another worker); not synced";

/// Records read, planned and written in a report.
pub fn counts(report: &SyncReport) -> (usize, usize, usize) {
    report.objects.iter().fold((0, 0, 0), |(r, p, w), o| {
        (
            r + o.pulled.values().sum::<usize>(),
            p + o.planned.values().sum::<usize>(),
            w + o.applied.values().sum::<usize>(),
        )
    })
}

/// Progress on standard error: a bar on a terminal, lines otherwise.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(crate) fn new(total: usize, quiet: bool) -> Self {
        let bar = (!quiet && stderr_is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(u64::MAX));
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} users {msg}") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    pub(crate) fn done(&self, user: &str, result: &Result<SyncReport, String>) {
        let line = match result {
            Ok(report) => {
                let (read, planned, written) = counts(report);
                format!("{user}: read {read}, planned {planned}, written {written}")
            }
            Err(e) if e == BUSY => format!("{user}: {e}"),
            Err(e) => format!("{user}: FAILED: {e}"),
        };
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(line);
            }
            None => eprintln!("{line}"),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs `tandem sync`.
///
/// # Errors
///
/// [`Failure`] for the configuration or the store.
pub async fn run(ctx: &Context, args: Args) -> Result<Exit, Failure> {
    let out = Output::new(args.json);
    let jobs = ctx.factory.jobs(&args.users)?;
    // Organization feeds first, so the users' cycles read what changed up to now. A dry run
    // reads what the feeds delivered already and writes nothing.
    let mut feed_failed = false;
    if !args.dry_run {
        for (name, feed) in ctx.factory.feeds(&args.users)? {
            if let Err(error) =
                crate::run::schedule::run_feed_once(&ctx.engine, ctx.claims.as_ref(), &name, feed.as_ref()).await
            {
                eprintln!("tandem: organization feed `{name}`: {error}");
                feed_failed = true;
            }
        }
    }
    let options =
        SyncOptions { dry_run: args.dry_run, objects: args.object.map(|o| vec![o.into()]), ..SyncOptions::default() };
    let progress = Progress::new(jobs.len(), false);
    let limit = Arc::new(tokio::sync::Semaphore::new(ctx.config.schedule.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, job) in jobs.into_iter().enumerate() {
        let engine = ctx.engine.clone();
        let options = options.clone();
        let limit = Arc::clone(&limit);
        let claims = Arc::clone(&ctx.claims);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.ok();
            let claim = if options.dry_run {
                None
            } else {
                match claims.try_claim(&job.user).await {
                    Ok(Some(claim)) => Some(claim),
                    Ok(None) => return (index, job.user, Err(BUSY.to_owned()), true),
                    Err(e) => return (index, job.user, Err(format!("could not claim the user: {e}")), false),
                }
            };
            let result = match claim {
                Some(claim) => crate::run::schedule::sync_fenced(&engine, &job, options, claim).await,
                None => engine.sync_user(&job, &options).await,
            }
            .map_err(|e| e.to_string());
            (index, job.user, result, false)
        });
    }
    let mut results = Vec::new();
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok((index, user, result, busy))) => {
                    progress.done(&user, &result);
                    results.push((index, user, result, busy));
                }
                Some(Err(e)) => {
                    progress.finish();
                    return Err(Failure::new(Exit::Failure, format!("a sync stopped on an internal error: {e}")));
                }
            },
            _ = tokio::signal::ctrl_c() => {
                progress.finish();
                eprintln!("tandem: interrupted; writes in flight are settled by the next cycle (journal)");
                return Ok(Exit::Interrupted);
            }
        }
    }
    progress.finish();
    results.sort_by_key(|(index, _, _, _)| *index);
    let outcomes: Vec<Outcome> = results
        .into_iter()
        .map(|(_, user, result, busy)| match result {
            Ok(report) => Outcome { user, ok: true, report: Some(report), error: None, busy },
            Err(error) => Outcome { user, ok: false, report: None, error: Some(error), busy },
        })
        .collect();
    let failed = feed_failed || outcomes.iter().any(|o| !o.ok && !o.busy);
    let busy = outcomes.iter().any(|o| o.busy);
    out.either(&outcomes, || {
        let mut text = String::new();
        for o in &outcomes {
            match (&o.report, &o.error) {
                (Some(report), _) => text.push_str(&format!("== {} ==\n{report}\n", o.user)),
                (None, Some(error)) if o.busy => text.push_str(&format!("== {} ==\n{error}\n", o.user)),
                (None, Some(error)) => text.push_str(&format!("== {} ==\nFAILED: {error}\n", o.user)),
                (None, None) => {}
            }
        }
        if args.dry_run {
            text.push_str("dry run: nothing was written\n");
        }
        text
    })?;
    Ok(if failed {
        Exit::SyncFailed
    } else if busy {
        Exit::Busy
    } else {
        Exit::Ok
    })
}
