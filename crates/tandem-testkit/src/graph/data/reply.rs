//! The answers of the API: `ApiError` and `Reply`.

use serde_json::Value;

use crate::graph::util::error_body;

/// An error answer of the Graph API.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.to_owned(), message: message.into(), headers: Vec::new() }
    }

    pub(crate) fn not_found() -> Self {
        ApiError::new(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "ErrorInvalidRequest", message)
    }

    pub(crate) fn body(&self) -> Value {
        error_body(&self.code, &self.message)
    }
}

/// One answer of the API: status, headers and an optional JSON body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Value>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Reply { status, headers: Vec::new(), body: Some(body) }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Reply { status, headers: Vec::new(), body: None }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        let body = e.body();
        Reply { status: e.status, headers: e.headers, body: Some(body) }
    }
}
