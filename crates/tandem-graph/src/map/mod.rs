//! Translation between Graph's JSON and the canonical model, both ways. Pure functions: no I/O.

pub(crate) mod contact;
pub(crate) mod event;
pub(crate) mod recurrence;
pub(crate) mod time;
pub(crate) mod types;
