//! The shared HTTP client: endpoint checks, rate limits, retries and error mapping.
//!
//! Code map:
//!
//! - `config.rs`: [`HttpConfig`] and building the reqwest clients (rustls, timeouts, redirects).
//! - `redact.rs`: scrubbing secrets from errors, body excerpts, URL-free error descriptions.
//! - `request.rs`: [`RequestSpec`], its builder, and which headers and query keys are secrets.
//! - `response.rs`: [`Response`] and the mapping of error statuses onto the error taxonomy.
//! - `send.rs`: [`HttpClient`]: sending with rate limits, retries, and one refresh on a 401.

mod config;
mod redact;
mod request;
mod response;
mod send;

pub use config::HttpConfig;
pub(crate) use config::build_reqwest;
pub(crate) use redact::{Redactor, describe_reqwest_error, excerpt, json_error_kind};
pub use request::RequestSpec;
pub use response::{BODY_EXCERPT_CHARS, Response};
pub use send::HttpClient;
pub(crate) use send::Stats;
