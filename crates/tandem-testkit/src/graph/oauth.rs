//! The identity platform's HTTP endpoints: `POST /{tenant}/oauth2/v2.0/token` (client
//! credentials from the form or HTTP Basic) and `GET /{tenant}/oauth2/v2.0/authorize`, over
//! the logic in `auth.rs`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::api::parse_query;
use super::wire::{origin, to_response};
use super::{GraphState, auth};

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| parse_query(Some(&format!("x={s}"))).pop().map(|(_, v)| v).unwrap_or_default();
    Some((decode(id), decode(secret)))
}

pub(super) async fn token_handler(
    State(state): State<GraphState>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let origin = origin(&headers);
    let mut data = state.lock();
    *data.counters.entry("POST /{tenant}/oauth2/v2.0/token".into()).or_default() += 1;
    let reply = auth::token(&mut data, &tenant, &form, basic_credentials(&headers), &origin);
    drop(data);
    to_response(reply)
}

pub(super) async fn authorize_handler(State(state): State<GraphState>, uri: Uri) -> Response {
    let query = parse_query(uri.query());
    let mut data = state.lock();
    *data.counters.entry("GET /{tenant}/oauth2/v2.0/authorize".into()).or_default() += 1;
    match auth::authorize(&mut data, &query) {
        Ok(location) => {
            drop(data);
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        Err(reply) => {
            drop(data);
            to_response(reply)
        }
    }
}
