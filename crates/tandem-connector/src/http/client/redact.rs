//! Keeping secrets out of error messages: the [`Redactor`] of a request's credentials, body
//! excerpts, and descriptions of reqwest and JSON errors that never quote URLs or data.

use std::sync::Arc;

use crate::http::secret::Secret;

/// Values shorter than this are not treated as secrets to scrub from error messages.
const MIN_SECRET_LEN: usize = 6;

/// Secret values of one request, scrubbed from anything quoted in an error message (in case a
/// provider echoes them in an error body).
#[derive(Clone, Default)]
pub(crate) struct Redactor(Arc<Vec<Secret>>);

impl Redactor {
    pub(crate) fn new(secrets: &[Secret]) -> Self {
        let mut values = Vec::new();
        for s in secrets {
            let raw = s.expose();
            if raw.len() < MIN_SECRET_LEN {
                continue;
            }
            let encoded: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
            if encoded != raw {
                values.push(Secret::new(encoded));
            }
            values.push(s.clone());
        }
        // Longest first, so a secret containing another is scrubbed whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.expose().len()));
        Redactor(Arc::new(values))
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in self.0.iter() {
            if out.contains(secret.expose()) {
                out = out.replace(secret.expose(), "***");
            }
        }
        out
    }
}

/// The first `max` characters of `text`, with an ellipsis when cut.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Describes a reqwest error without its URL (which may carry a query with tokens).
pub(crate) fn describe_reqwest_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "redirect refused"
    } else if error.is_body() || error.is_decode() {
        "failed reading the response body"
    } else if error.is_builder() {
        "invalid request"
    } else {
        "request failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(&error);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// What kind of JSON error this is, without the message (which may quote data).
pub(crate) fn json_error_kind(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected JSON content",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}
