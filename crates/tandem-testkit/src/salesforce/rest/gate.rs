//! The middleware of the fake: the gate in front of every `/services/data/vXX.X` route (the
//! version, the session, the daily limit) and the conformance layer in front of the whole fake
//! (trailing slashes, the router's 404 and 405 as error arrays, `Sforce-Limit-Info`, `Date`).

use axum::extract::{Request, State};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{Actor, bearer, errors, not_found, version_number};
use crate::salesforce::SalesforceFake;
use crate::salesforce::store::ApiError;

/// The first API version serving the resource at `path` (`/services/data/vXX.X/…`).
fn introduced_in(path: &str) -> u32 {
    let rest: Vec<&str> = path.split('/').skip(4).collect();
    match rest.as_slice() {
        // sObject collections: v42.0; their upsert by external id: v46.0.
        ["composite", "sobjects", _, _] => 46,
        ["composite", "sobjects", ..] => 42,
        _ => 0,
    }
}

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// In front of every `/services/data/vXX.X` route: the version, the session, the daily limit.
pub(crate) async fn data_gate(State(fake): State<SalesforceFake>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let version = version_number(path.split('/').nth(3).unwrap_or(""));
    let token = bearer(req.headers());
    let admitted = {
        let mut inner = fake.lock();
        let served = version.is_some_and(|n| {
            n >= inner.config.oldest_api_version && n <= inner.config.newest_api_version && n >= introduced_in(&path)
        });
        let actor = token.and_then(|t| inner.sessions.get(&t).cloned());
        match actor {
            _ if !served => {
                Err((StatusCode::NOT_FOUND, ApiError::new("NOT_FOUND", "The requested resource does not exist", &[])))
            }
            None => {
                Err((StatusCode::UNAUTHORIZED, ApiError::new("INVALID_SESSION_ID", "Session expired or invalid", &[])))
            }
            Some(_) if inner.api_used >= inner.config.daily_limit => Err((
                StatusCode::FORBIDDEN,
                ApiError::new("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", &[]),
            )),
            Some(actor) => {
                inner.api_used += 1;
                Ok(actor)
            }
        }
    };
    match admitted {
        Ok(actor) => {
            req.extensions_mut().insert(Actor(actor));
            next.run(req).await
        }
        Err((status, e)) => errors(status, &[e]),
    }
}

/// In front of the whole fake, for `/services/data`: strips trailing slashes before routing (as
/// Salesforce serves `…/query/` like `…/query`), turns the router's own 404 and 405 into the
/// error array, and puts `Sforce-Limit-Info` (except on the versions resource, which is outside
/// any org) and `Date` on every answer.
pub(crate) async fn conform(State(fake): State<SalesforceFake>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path != "/services/data" && !path.starts_with("/services/data/") {
        return next.run(req).await;
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() != path.len() {
        let target = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = PathAndQuery::try_from(target) {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    let versions = trimmed == "/services/data";
    let method = req.method().clone();
    let mut response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status == StatusCode::NOT_FOUND && !is_json {
        response = not_found();
    } else if status == StatusCode::METHOD_NOT_ALLOWED && !is_json {
        let allow = response.headers().get(header::ALLOW).cloned();
        let allowed = allow.as_ref().and_then(|a| a.to_str().ok()).unwrap_or("").to_owned();
        response = errors(
            StatusCode::METHOD_NOT_ALLOWED,
            &[ApiError::new(
                "METHOD_NOT_ALLOWED",
                format!("HTTP method '{method}' is not allowed for this resource; allowed: {allowed}"),
                &[],
            )],
        );
        if let Some(a) = allow {
            response.headers_mut().insert(header::ALLOW, a);
        }
    }
    let (usage, date) = {
        let inner = fake.lock();
        (format!("api-usage={}/{}", inner.api_used, inner.config.daily_limit), http_date(inner.org.now()))
    };
    let mut set = vec![("date", date)];
    if !versions {
        set.push(("sforce-limit-info", usage));
    }
    for (name, value) in set {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}
