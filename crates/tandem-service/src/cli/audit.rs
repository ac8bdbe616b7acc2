//! `tandem audit export`: the audit log as JSON lines on standard output, oldest first.

use std::io::Write;

use chrono::{DateTime, Utc};

use super::Context;
use crate::exit::{Exit, Failure};

/// `tandem audit …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the audit log as JSON lines (one entry per line, oldest first).
    Export {
        /// Only entries at or after this time: RFC 3339 (`2026-01-31T00:00:00Z`) or an age
        /// (`7d`, `12h`, `30m`).
        #[arg(long)]
        since: Option<String>,
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
    },
}

/// Parses `--since`: an RFC 3339 time or an age before `now`.
///
/// # Errors
///
/// A message saying what is accepted.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let age = tandem_connector::factory::parse_duration(text)
        .map_err(|_| format!("--since `{text}`: an RFC 3339 time or an age such as 7d, 12h, 30m"))?;
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .ok_or_else(|| format!("--since `{text}`: too far back"))
}

/// Runs `tandem audit`.
///
/// # Errors
///
/// [`Failure`] for the store or a bad `--since`.
pub async fn run(ctx: &Context, command: Command) -> Result<Exit, Failure> {
    let Command::Export { since, user } = command;
    let store = ctx.engine.store();
    let mut out = std::io::stdout().lock();
    match since {
        None => {
            let mut buffer: Vec<u8> = Vec::new();
            store.export_audit_jsonl(user.as_deref(), &mut buffer).await?;
            out.write_all(&buffer)?;
        }
        Some(since) => {
            let since = parse_since(&since, Utc::now()).map_err(|m| Failure::new(Exit::Config, m))?;
            let limit = usize::try_from(i64::MAX).unwrap_or(usize::MAX);
            let mut entries = store.audit_log(user.as_deref(), Some(since), limit).await?;
            entries.reverse();
            for entry in entries {
                let line = serde_json::to_string(&entry)
                    .map_err(|e| Failure::new(Exit::Failure, format!("cannot serialise an audit entry: {e}")))?;
                writeln!(out, "{line}")?;
            }
        }
    }
    out.flush()?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-02-10T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_since("7d", now).unwrap().to_rfc3339(), "2026-02-03T00:00:00+00:00");
        assert_eq!(parse_since("2026-01-01T00:00:00Z", now).unwrap().to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert!(parse_since("last week", now).is_err());
    }
}
