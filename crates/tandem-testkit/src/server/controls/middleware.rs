//! The axum middleware that applies [`Controls`]' decision around every request.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Controls;
use super::admission::{Admission, After};

pub(super) async fn middleware(State(controls): State<Controls>, req: Request, next: Next) -> Response {
    match controls.admit(&req) {
        Admission::Reject(response) => {
            tracing::debug!(
                method = %req.method(),
                path = %req.uri().path(),
                status = %response.status,
                "fake rejected request"
            );
            response.into_response()
        }
        Admission::Admit { slot, latency, after } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let response = next.run(req).await;
            let response = match after {
                After::Send => response,
                After::Hold(d) => {
                    tokio::time::sleep(d).await;
                    response
                }
                After::Replace(canned) => {
                    tracing::debug!(status = %canned.status, "fake lost the answer of a request it applied");
                    canned.into_response()
                }
            };
            drop(slot);
            response
        }
    }
}
