//! The [`router()`] and its one endpoint, `POST /EWS/Exchange.asmx`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::auth::authenticate;
use super::fake::EwsFake;
use super::ops;
#[cfg(doc)]
use crate::server::Controls;
use crate::server::{CannedResponse, ConcurrencyCap, key_fn};

/// The router of `fake`: the EWS endpoint (any case) behind the fake's [`Controls`] and
/// concurrency cap.
pub fn router(fake: EwsFake) -> Router {
    let controls = fake.controls.clone();
    let busy = ops::fault(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        Some(fake.config.concurrency_backoff_ms),
    );
    let key = key_fn(|req| {
        let h = req.headers();
        h.get("x-anchormailbox")
            .or_else(|| h.get(header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok())
            .map(str::to_lowercase)
            .or_else(|| Some("anonymous".to_owned()))
    });
    let mut cap = ConcurrencyCap::new(
        fake.config.max_concurrency,
        key,
        CannedResponse::xml(StatusCode::INTERNAL_SERVER_ERROR, busy),
    );
    cap.retry_after_secs = None;
    controls.set_concurrency_cap(Some(cap));
    let app = Router::new().fallback(handle).with_state(fake);
    controls.wrap(app)
}

/// `POST /EWS/Exchange.asmx` and nothing else.
async fn handle(State(fake): State<EwsFake>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if !uri.path().eq_ignore_ascii_case("/ews/exchange.asmx") {
        return (StatusCode::NOT_FOUND, "The resource cannot be found.").into_response();
    }
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "").into_response();
    }
    let principal = match authenticate(&fake, &headers) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let anchor = headers.get("x-anchormailbox").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, xml) = {
        let mut d = fake.lock();
        d.anchors.push(anchor);
        ops::dispatch(&mut d, &principal, &body)
    };
    let mut resp = (status, xml).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/xml; charset=utf-8"));
    resp
}
