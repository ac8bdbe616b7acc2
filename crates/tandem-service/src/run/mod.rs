//! `tandem run`: sync every user on a schedule until Ctrl-C or SIGTERM, serving health, metrics
//! and (when enabled) the status page.
//!
//! By job:
//!
//! - [`schedule`]: the users' loops — jitter, the concurrency semaphore, [`Live`] updates, logs.
//! - [`metrics`]: the Prometheus metrics (`metrics` + `metrics-exporter-prometheus`).
//! - [`http`]: the listener at `[web] listen` — `/healthz`, `/metrics`, the status page.
//! - [`shutdown`]: the first signal stops new cycles and lets those in flight finish; a second
//!   signal or `--shutdown-timeout` aborts them (the engine's journal settles their writes at the
//!   next start). `tandem run` then exits 0.
//!
//! Connectors are built once, so tokens are reused across cycles.

pub mod http;
pub mod metrics;
pub mod schedule;
pub mod shutdown;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tandem_connector::factory::{EnvOrFileSecrets, SecretResolver};
use tokio::sync::watch;

use crate::cli::Context;
use crate::exit::{Exit, Failure};
use crate::live::Live;

pub use schedule::{jittered, random_unit};

/// `tandem run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this user (repeatable).
    #[arg(long = "user", value_name = "USER")]
    pub users: Vec<String>,
    /// After the first Ctrl-C or SIGTERM, how long cycles in flight may take to finish before they
    /// are aborted (seconds, or `90s`, `2m`). A second signal aborts them at once.
    #[arg(long, value_name = "DURATION", default_value = "60", value_parser = shutdown::parse_timeout)]
    pub shutdown_timeout: Duration,
}

/// The status page's router, when `[web] enabled = true`: the page of `crate::web` with the
/// admin token resolved.
///
/// # Errors
///
/// [`Failure`] ([`Exit::Config`]) for a non-loopback address without `allow_remote`, a missing
/// `admin_token`, or a token that cannot be read.
fn status_page(ctx: &Context, live: &Arc<Live>) -> Result<Option<axum::Router>, Failure> {
    let web = &ctx.config.web;
    if !web.enabled {
        return Ok(None);
    }
    http::check_page_address(web)?;
    let reference = web.admin_token.as_ref().ok_or_else(|| {
        Failure::new(
            Exit::Config,
            "[web] enabled = true needs `admin_token = { env = \"VAR\" }` or `{ file = \"/path\" }`",
        )
    })?;
    let token = EnvOrFileSecrets::relative_to(&ctx.config.base)
        .resolve(reference)
        .map_err(|e| Failure::new(Exit::Config, format!("[web] admin_token: {e}")))?;
    let state = crate::web::WebState::new(ctx.engine.clone(), Arc::clone(&ctx.config), Arc::clone(live), token);
    Ok(Some(crate::web::router(state)))
}

/// Runs `tandem run` until a stop signal, then lets cycles in flight finish (or aborts them after
/// `--shutdown-timeout` or a second signal) and exits 0.
///
/// # Errors
///
/// [`Failure`] for the configuration, the listener's address or the metrics recorder.
pub async fn run(ctx: Context, args: Args) -> Result<Exit, Failure> {
    let live = Arc::new(Live::new(Utc::now()));
    let mut jobs = Vec::new();
    for entry in ctx.factory.selected(&args.users)? {
        let sync = ctx.factory.job(entry)?;
        live.register_connection(&entry.crm, &sync.crm.connection());
        live.register_connection(&entry.mailbox, &sync.mailbox.connection());
        jobs.push(schedule::Job { sync, crm: entry.crm.clone(), mailbox: entry.mailbox.clone() });
    }
    let feeds = ctx.factory.feeds(&args.users)?;
    let metrics = Arc::new(metrics::Metrics::install().map_err(|e| Failure::new(Exit::Failure, e.to_string()))?);
    metrics::start(jobs.len());

    // The listener first: a taken port or a refused page stops here, before any cycle.
    let page = status_page(&ctx, &live)?;
    let listener = http::bind(ctx.config.web.listen).await?;
    let state = http::HttpState {
        engine: ctx.engine.clone(),
        live: Arc::clone(&live),
        metrics: Arc::clone(&metrics),
        users: jobs.len(),
    };
    let mut app = http::router(state);
    if let Some(page) = page {
        app = app.merge(page);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(http::serve(listener, app, stop_rx.clone()));
    let upkeep = {
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                metrics.upkeep();
            }
        })
    };

    let schedule = ctx.config.schedule.clone();
    let page_note = if ctx.config.web.enabled { ", status page" } else { "" };
    eprintln!(
        "tandem: running {} user(s) every {}s (±{:.0}%), {} at once; /healthz, /metrics{page_note} on http://{}; \
         Ctrl-C or SIGTERM stops after the cycles in flight",
        jobs.len(),
        schedule.interval.as_secs_f64(),
        schedule.jitter * 100.0,
        schedule.concurrency,
        ctx.config.web.listen,
    );
    tracing::info!(users = jobs.len(), listen = %ctx.config.web.listen, "tandem run started");
    let shared = Arc::new(schedule::Shared {
        engine: ctx.engine.clone(),
        limit: schedule::FairLimit::new(schedule.concurrency),
        claims: Arc::clone(&ctx.claims),
        schedule,
        live: Arc::clone(&live),
        metrics: Arc::clone(&metrics),
    });
    let mut signals = shutdown::Signals::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (name, feed) in feeds {
        tasks.spawn(schedule::feed_loop(Arc::clone(&shared), name, feed, stop_rx.clone()));
    }
    for job in jobs {
        tasks.spawn(schedule::user_loop(Arc::clone(&shared), job, stop_rx.clone()));
    }

    signals.recv().await;
    let running = live.users().values().filter(|u| u.running_since.is_some()).count();
    eprintln!(
        "tandem: stopping; waiting up to {}s for {running} cycle(s) in flight (a second signal aborts them)",
        args.shutdown_timeout.as_secs()
    );
    tracing::info!(running, "stopping");
    let _ = stop_tx.send(true);
    match shutdown::drain(&mut tasks, args.shutdown_timeout, &mut signals).await {
        shutdown::Drained::Finished => tracing::info!("every cycle finished"),
        outcome => {
            let why =
                if outcome == shutdown::Drained::TimedOut { "the shutdown timeout passed" } else { "a second signal" };
            eprintln!("tandem: {why}: cycles in flight aborted; their pending writes are settled at the next start");
            tracing::warn!(reason = why, "cycles in flight aborted");
        }
    }
    upkeep.abort();
    // The listener answers the requests in flight, then stops.
    if tokio::time::timeout(Duration::from_secs(5), server).await.is_err() {
        tracing::warn!("the HTTP listener did not stop in time");
    }
    eprintln!("tandem: stopped");
    Ok(Exit::Ok)
}
