//! Change keys and ETags: new keys, `If-Match` checks, and the conflict they answer with.

use super::ApiError;
use crate::graph::util::random_token;

pub(super) fn etag(change_key: &str) -> String {
    format!("W/\"{change_key}\"")
}

pub(crate) fn new_change_key() -> String {
    random_token(40)
}

pub(super) fn matches_etag(if_match: Option<&str>, change_key: &str) -> bool {
    match if_match.map(str::trim) {
        None | Some("*") => true,
        Some(v) => v.trim_start_matches("W/").trim_matches('"') == change_key,
    }
}

pub(super) fn precondition_failed() -> ApiError {
    ApiError::new(
        412,
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change key passed in the request does \
         not match the current change key for the item.",
    )
}
