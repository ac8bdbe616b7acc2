//! Stopping `tandem run`: the first Ctrl-C or SIGTERM stops new cycles and lets the cycles in
//! flight finish; a second signal, or `--shutdown-timeout` (default 60 s) after the first, aborts
//! them. An aborted cycle's writes were journaled by the engine before they were sent: the next
//! start settles them (`recovered_intents` in its report) before syncing anything new.

use std::time::Duration;

use tokio::task::JoinSet;

/// The default of `--shutdown-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Ctrl-C and, on Unix, SIGTERM, listened to for the whole run (so a second one is seen too).
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Starts listening. Must be called inside the runtime.
    pub fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = match signal(SignalKind::terminate()) {
                Ok(term) => Some(term),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                    None
                }
            };
            Signals { term }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// The next Ctrl-C or SIGTERM.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if let Some(term) = self.term.as_mut() {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
        }
        if tokio::signal::ctrl_c().await.is_err() {
            // No way to be told to stop: never return.
            std::future::pending::<()>().await;
        }
    }
}

impl Default for Signals {
    fn default() -> Self {
        Signals::new()
    }
}

/// How the cycles in flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every loop returned by itself.
    Finished,
    /// The deadline passed: the rest were aborted.
    TimedOut,
    /// A second signal came: the rest were aborted.
    Interrupted,
}

/// Waits for every task of `tasks` to return, at most `timeout`, and aborts them on a second
/// signal from `signals` or when the time is up.
pub async fn drain(tasks: &mut JoinSet<()>, timeout: Duration, signals: &mut Signals) -> Drained {
    let all = async {
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined
                && !e.is_cancelled()
            {
                tracing::error!(error = %e, "a user's loop stopped on an internal error");
            }
        }
    };
    let outcome = tokio::select! {
        () = all => return Drained::Finished,
        () = tokio::time::sleep(timeout) => Drained::TimedOut,
        () = signals.recv() => Drained::Interrupted,
    };
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    outcome
}

/// Parses `--shutdown-timeout`: seconds, or a duration such as `90s` or `2m`.
///
/// # Errors
///
/// A message for the command line.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.trim().parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    tandem_connector::factory::duration_from_toml(&toml::Value::String(text.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn timeouts_parse() {
        assert_eq!(parse_timeout("60").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_timeout("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_timeout("soon").is_err());
    }

    #[tokio::test]
    async fn a_deadline_aborts_what_is_left() {
        let mut signals = Signals::new();
        let mut tasks = JoinSet::new();
        tasks.spawn(async {});
        assert_eq!(drain(&mut tasks, Duration::from_secs(5), &mut signals).await, Drained::Finished);
        tasks.spawn(std::future::pending::<()>());
        assert_eq!(drain(&mut tasks, Duration::from_millis(20), &mut signals).await, Drained::TimedOut);
        assert!(tasks.is_empty());
    }
}
