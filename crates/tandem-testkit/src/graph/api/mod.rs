//! The Graph v1.0 API of the fake: one dispatcher shared by plain requests and `$batch` items.
//!
//! Code map:
//! - `request.rs`: [`Req`], one API request, and the parsing of query strings and quoted filter
//!   text.
//! - `router.rs`: [`dispatch()`], route templates, the top-level routes and `Preference-Applied`.
//! - `users.rs`: resolving and authorizing the caller's mailbox; the user entity.
//! - `replies.rs`: collection pages, entity replies, `@odata.context` and the shared errors.
//! - `mailbox.rs`: the routes under `/users/{id}/`.
//! - `items.rs`: contact collections and single contacts and events.
//! - `delta.rs`: delta queries, their rounds, pages and tokens.

mod delta;
mod items;
mod mailbox;
mod replies;
mod request;
mod router;
mod users;

#[cfg(test)]
mod tests;

// The children's bodies call `super::translate::…` and `super::util::…`, as the one-file module
// did.
use super::{translate, util};

pub(crate) use self::request::{Req, parse_query, quoted_after};
pub(crate) use self::router::{dispatch, template_of};
