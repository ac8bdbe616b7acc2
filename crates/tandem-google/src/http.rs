//! Sending requests with the user's token, and Google's error envelope mapped onto
//! [`ConnectorError`].

use serde_json::Value;
use tandem_connector::ConnectorError;
use tandem_connector::http::{HttpClient, RequestSpec, Response, TokenCache};

use crate::auth::GoogleTokenSource;

/// What a request was for: decides how 410 and 400 `FAILED_PRECONDITION` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    /// A change-feed list: 410 and an expired sync token are `CursorExpired`.
    Sync,
    /// Anything else: 410 is `NotFound` (Calendar's `deleted`).
    Item,
}

/// Google's `error.errors[].reason` values and `error.status`/`details[].reason`.
pub(crate) fn reasons(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body
        .pointer("/error/errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("reason").and_then(Value::as_str).map(str::to_owned))
        .collect();
    out.extend(body.pointer("/error/status").and_then(Value::as_str).map(str::to_owned));
    out.extend(
        body.pointer("/error/details")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("reason").and_then(Value::as_str).map(str::to_owned)),
    );
    out
}

/// Maps an error answer; `None` for success.
pub(crate) fn map_error(response: &Response, context: Context) -> Option<ConnectorError> {
    let status = response.status().as_u16();
    if status < 400 {
        return None;
    }
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    Some(
        classify(status, &reasons(&body), response.retry_after(), context).unwrap_or_else(|| {
            response.error().unwrap_or(ConnectorError::Transient { message: format!("HTTP {status}") })
        }),
    )
}

/// The Google-specific part of the mapping; `None` leaves the standard mapping.
pub(crate) fn classify(
    status: u16,
    reasons: &[String],
    retry_after: Option<std::time::Duration>,
    context: Context,
) -> Option<ConnectorError> {
    let has = |r: &str| reasons.iter().any(|x| x == r);
    if status == 429
        || (status == 403 && (has("rateLimitExceeded") || has("userRateLimitExceeded") || has("quotaExceeded")))
    {
        return Some(ConnectorError::Throttled { retry_after });
    }
    if context == Context::Sync && (status == 410 || has("EXPIRED_SYNC_TOKEN") || has("fullSyncRequired")) {
        return Some(ConnectorError::CursorExpired);
    }
    match status {
        410 => Some(ConnectorError::NotFound),
        412 => Some(ConnectorError::PreconditionFailed { current: None }),
        // People: a stale etag on update is 400 FAILED_PRECONDITION.
        400 if has("failedPrecondition") || has("FAILED_PRECONDITION") => {
            Some(ConnectorError::PreconditionFailed { current: None })
        }
        _ => None,
    }
}

/// The HTTP client and the user's token cache.
pub(crate) struct GoogleHttp {
    pub(crate) http: HttpClient,
    pub(crate) tokens: TokenCache<GoogleTokenSource>,
}

impl GoogleHttp {
    /// Sends with the token (one refresh and retry on 401): the response as it came, or the
    /// mapped error. What the batch endpoint's answers go through.
    pub(crate) async fn call_raw(&self, req: RequestSpec, context: Context) -> Result<Response, ConnectorError> {
        let token = self.tokens.token().await?;
        let mut response = self.http.send_unmapped(req.clone().bearer_auth(&token)).await?;
        if response.status().as_u16() == 401 {
            self.tokens.invalidate_if_current(&token).await;
            let token = self.tokens.token().await?;
            response = self.http.send_unmapped(req.bearer_auth(&token)).await?;
        }
        if let Some(e) = map_error(&response, context) {
            return Err(e);
        }
        Ok(response)
    }

    /// Sends with the token (one refresh and retry on 401) and answers with the JSON body, or
    /// the mapped error.
    pub(crate) async fn call(&self, req: RequestSpec, context: Context) -> Result<(u16, Value), ConnectorError> {
        let response = self.call_raw(req, context).await?;
        let status = response.status().as_u16();
        let body = if response.body().is_empty() { Value::Null } else { response.json::<Value>()? };
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn google_errors_map_onto_the_taxonomy() {
        let c = |status, reasons: &[&str], ctx| classify(status, &r(reasons), None, ctx);
        assert_eq!(
            c(403, &["rateLimitExceeded"], Context::Item),
            Some(ConnectorError::Throttled { retry_after: None })
        );
        assert_eq!(
            c(403, &["userRateLimitExceeded"], Context::Sync),
            Some(ConnectorError::Throttled { retry_after: None })
        );
        assert_eq!(c(429, &[], Context::Item), Some(ConnectorError::Throttled { retry_after: None }));
        assert_eq!(c(403, &["forbiddenForNonOrganizer"], Context::Item), None);
        assert_eq!(c(410, &["fullSyncRequired"], Context::Sync), Some(ConnectorError::CursorExpired));
        assert_eq!(
            c(400, &["FAILED_PRECONDITION", "EXPIRED_SYNC_TOKEN"], Context::Sync),
            Some(ConnectorError::CursorExpired)
        );
        assert_eq!(c(410, &["deleted"], Context::Item), Some(ConnectorError::NotFound));
        assert_eq!(
            c(412, &["conditionNotMet"], Context::Item),
            Some(ConnectorError::PreconditionFailed { current: None })
        );
        assert_eq!(
            c(400, &["failedPrecondition"], Context::Item),
            Some(ConnectorError::PreconditionFailed { current: None })
        );
    }

    #[test]
    fn reasons_are_read_from_both_envelopes() {
        let calendar = serde_json::json!({"error": {"errors": [{"domain": "usageLimits", "reason": "rateLimitExceeded"}], "code": 403}});
        assert_eq!(reasons(&calendar), r(&["rateLimitExceeded"]));
        let people = serde_json::json!({"error": {"code": 400, "status": "FAILED_PRECONDITION",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "EXPIRED_SYNC_TOKEN"}]}});
        assert_eq!(reasons(&people), r(&["FAILED_PRECONDITION", "EXPIRED_SYNC_TOKEN"]));
    }
}
