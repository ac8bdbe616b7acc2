//! Panic safety at the edges: the one place where a panic in a third-party parser becomes a typed
//! error, and checked time arithmetic for numbers that come from outside.
//!
//! Everything Tandem reads from a provider or a file is untrusted. Our own code never panics on
//! it (no `unwrap`, no unchecked arithmetic), but the crates we parse with can: `rrule 0.14`
//! slices `BYDAY=ña` in the middle of a character, and chrono's `+`, `-` and
//! `DateTime::naive_local` panic on overflow. One record like that must not take the sync process
//! down on every cycle, so:
//!
//! - Inputs are **validated before** a third-party parser sees them wherever the check is exact
//!   (an RRULE is ASCII by its grammar, see [`crate::validate::validate_rrule`]).
//! - The call itself is still **contained** with [`contain`], which runs it under
//!   [`std::panic::catch_unwind`] and turns a panic into [`Panicked`]. Callers map that to their
//!   own typed error (a connector reports the record as `ChangeKind::Invalid`, and the planner
//!   quarantines it with that reason). Connectors reuse this helper rather than writing their own.
//! - External numbers meet chrono only through checked operations: [`add_minutes`], [`add_days`],
//!   [`local_time`] and chrono's own `checked_*` methods.
//!
//! Containing a panic needs unwinding: a build with `panic = "abort"` would still abort. The panic
//! hook still runs (the default hook prints the message on stderr); the library does not replace
//! the process-wide hook, which belongs to the application.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};

/// A third-party call panicked on some input; the panic was caught.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("{what} failed on this input: {message}")]
pub struct Panicked {
    /// What was called, e.g. `the rrule parser`.
    pub what: &'static str,
    /// The panic's message, when it had one.
    pub message: String,
}

/// Runs `f`, turning a panic into [`Panicked`].
///
/// Meant for calls into third-party code with untrusted input, and for nothing else: our own
/// code returns errors. The closure is asserted unwind-safe: it must only read its input and
/// build a fresh value, so that nothing half-updated is observable after a panic.
///
/// # Errors
///
/// [`Panicked`] when `f` panicked.
pub fn contain<T>(what: &'static str, f: impl FnOnce() -> T) -> Result<T, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| Panicked { what, message: panic_message(payload.as_ref()) })
}

/// The text of a caught panic's payload (`panic!` with a literal or a formatted message), or a
/// placeholder for other payloads.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".to_owned())
}

/// `t` plus `minutes`, or `None` when either does not fit (chrono's `+` would panic).
pub fn add_minutes(t: DateTime<Utc>, minutes: i64) -> Option<DateTime<Utc>> {
    t.checked_add_signed(TimeDelta::try_minutes(minutes)?)
}

/// `date` plus `days`, or `None` when either does not fit.
pub fn add_days(date: NaiveDate, days: i64) -> Option<NaiveDate> {
    date.checked_add_signed(TimeDelta::try_days(days)?)
}

/// The local time of an instant in a zone, or `None` when it falls outside chrono's range (near
/// the ends of it, where `t.with_timezone(&tz).naive_local()` panics).
pub fn local_time<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> Option<NaiveDateTime> {
    let utc = t.naive_utc();
    utc.checked_add_offset(tz.offset_from_utc_datetime(&utc).fix())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors() {
        assert_eq!(contain("test", || 1), Ok(1));
        let text = "ña";
        let e = contain("slicing", || text.get(..1).map_or_else(|| text[..1].len(), str::len)).unwrap_err();
        assert_eq!(e.what, "slicing");
        assert!(e.message.contains("char boundary"), "{e}");
        let owned = contain("owned", || -> u8 { panic!("{}", String::from("boom")) }).unwrap_err();
        assert_eq!(owned.message, "boom");
    }

    #[test]
    fn time_arithmetic_is_checked() {
        let t = DateTime::<Utc>::MAX_UTC;
        assert_eq!(add_minutes(t, 1), None);
        assert_eq!(add_minutes(DateTime::<Utc>::UNIX_EPOCH, i64::MAX), None);
        assert_eq!(add_days(NaiveDate::MAX, 1), None);
        assert_eq!(add_days(NaiveDate::MIN, i64::MIN), None);
        assert_eq!(local_time(t, &chrono_tz::Asia::Tokyo), None);
        assert_eq!(local_time(DateTime::<Utc>::MIN_UTC, &chrono_tz::America::New_York), None);
        assert!(local_time(t, &chrono_tz::America::New_York).is_some());
    }
}
