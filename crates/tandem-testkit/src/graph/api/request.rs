//! One API request ([`Req`]), whether it came over HTTP or inside a batch, and the parsing of
//! its query string and filter text.

use serde_json::{Map, Value};

use crate::graph::data::ApiError;
use crate::graph::util::Prefer;

/// One API request, whether it came over HTTP or inside a batch.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: String,
    /// The path after `/v1.0`, starting with `/`.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) prefer: Prefer,
    pub(crate) if_match: Option<String>,
    pub(crate) bearer: Option<String>,
    pub(crate) body: Option<Value>,
    /// `http://host:port`, for absolute links.
    pub(crate) origin: String,
}

impl Req {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(super) fn body_object(&self) -> Result<&Map<String, Value>, ApiError> {
        self.body
            .as_ref()
            .and_then(Value::as_object)
            .ok_or_else(|| ApiError::new(400, "BadRequest", "Empty Payload. JSON content expected."))
    }

    pub(super) fn link(&self, path: &str, query: &[(&str, &str)]) -> String {
        let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
        // Graph keeps `$` unescaped in its links.
        let q = q.replace("%24", "$");
        format!("{}/v1.0{path}?{q}", self.origin)
    }
}

/// Percent-decodes a query string into pairs.
pub(crate) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// The first single-quoted string after `marker` (case-insensitive); `''` is an escaped quote.
pub(crate) fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = lower.find(&marker.to_lowercase())? + marker.len();
    let rest = &text[at..];
    let open = rest.find('\'')?;
    let mut out = String::new();
    let mut chars = rest[open + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}
