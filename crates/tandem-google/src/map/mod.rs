//! Google's JSON ⇄ the canonical model.

pub(crate) mod contact;
pub(crate) mod event;
