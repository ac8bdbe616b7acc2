//! OAuth and identity: the token endpoint (JWT bearer, client credentials, authorization code
//! with PKCE, refresh token), the web-server flow's authorize page and the identity service.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{bearer, errors};
use crate::salesforce::store::ApiError;
use crate::salesforce::{Code, Inner, SalesforceFake};

// --- OAuth and identity -----------------------------------------------------------------------

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn issue(inner: &mut Inner, user: &str, base: &str, refresh: Option<String>) -> Value {
    inner.tokens_issued += 1;
    let token = format!("{}!{}", inner.config.org_id, uuid::Uuid::new_v4().simple());
    inner.sessions.insert(token.clone(), user.to_owned());
    inner.issued.push(token.clone());
    let id = format!("{base}/id/{}/{user}", inner.config.org_id);
    let issued_at = inner.org.now().timestamp_millis().to_string();
    let signature = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(format!("{id}{issued_at}")));
    let mut body = json!({
        "access_token": token,
        "signature": signature,
        "scope": "api refresh_token",
        "instance_url": base,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    });
    if let (Some(r), Some(m)) = (refresh, body.as_object_mut()) {
        m.insert("refresh_token".to_owned(), Value::String(r));
    }
    body
}

fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (form.get("client_id").cloned(), form.get("client_secret").cloned()),
    }
}

/// Verifies a JWT bearer assertion; the user's id when it is good.
fn verify_assertion(inner: &Inner, assertion: &str, base: &str) -> Result<String, (&'static str, &'static str)> {
    let invalid = ("invalid_grant", "invalid assertion");
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid)?;
    if header.alg != Algorithm::RS256 {
        return Err(invalid);
    }
    let key = DecodingKey::from_rsa_pem(inner.config.certificate_pem.as_bytes())
        .map_err(|_| ("server_error", "the connected app's certificate cannot be read"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let data = jsonwebtoken::decode::<Value>(assertion, &key, &validation).map_err(|_| invalid)?;
    let claims = data.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(inner.config.consumer_key.as_str()) {
        return Err(("invalid_client_id", "client identifier invalid"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let accepted = |a: &str| {
        let a = a.trim_end_matches('/');
        a == base || inner.config.audiences.iter().any(|x| x.trim_end_matches('/') == a)
    };
    if !audiences.iter().any(|a| accepted(a)) {
        return Err(("invalid_grant", "audience is invalid"));
    }
    let now = inner.org.now().timestamp();
    // `exp` as a number, or as a string of digits: simple-salesforce sends `"exp": "1767225600"`
    // and Salesforce accepts it (the library's JWT login is in wide use against the service).
    let exp = match claims.get("exp") {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        other => other.and_then(Value::as_i64),
    };
    match exp {
        None => return Err(("invalid_grant", "expiration time is missing")),
        Some(exp) if exp <= now => return Err(("invalid_grant", "expired authorization code")),
        Some(exp) if exp > now + 180 + 30 => {
            return Err(("invalid_grant", "the assertion must expire within 3 minutes"));
        }
        Some(_) => {}
    }
    let username = claims.get("sub").or_else(|| claims.get("prn")).and_then(Value::as_str).ok_or(invalid)?;
    SalesforceFake::user_id_of(inner, username).ok_or(("invalid_grant", "user hasn't approved this consumer"))
}

pub(crate) async fn token(State(fake): State<SalesforceFake>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let base = base_url(&headers);
    let mut inner = fake.lock();
    let bad = |e: &str, d: &str| oauth_error(StatusCode::BAD_REQUEST, e, d);
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let Some(assertion) = form.get("assertion") else { return bad("invalid_request", "assertion is required") };
            match verify_assertion(&inner, assertion, &base) {
                Ok(user) => Json(issue(&mut inner, &user, &base, None)).into_response(),
                Err((e, d)) => bad(e, d),
            }
        }
        Some("client_credentials") => {
            let (id, secret) = client_credentials(&headers, &form);
            if id.as_deref() != Some(inner.config.consumer_key.as_str())
                || secret.as_deref() != Some(inner.config.consumer_secret.as_str())
            {
                return bad("invalid_client", "invalid client credentials");
            }
            let run_as = inner.config.run_as.clone();
            match SalesforceFake::user_id_of(&inner, &run_as) {
                Some(user) => Json(issue(&mut inner, &user, &base, None)).into_response(),
                None => bad("invalid_grant", "no client credentials user enabled"),
            }
        }
        Some("authorization_code") => {
            let (client_id, secret) = client_credentials(&headers, &form);
            let Some(code) = form.get("code").and_then(|c| inner.codes.remove(c)) else {
                return bad("invalid_grant", "invalid authorization code");
            };
            if client_id.as_deref() != Some(code.client_id.as_str()) {
                return bad("invalid_client_id", "client identifier invalid");
            }
            if secret.as_deref().is_some_and(|s| s != inner.config.consumer_secret) {
                return bad("invalid_client", "invalid client credentials");
            }
            if form.get("redirect_uri") != Some(&code.redirect_uri) {
                return bad("redirect_uri_mismatch", "redirect_uri must match configuration");
            }
            if let Some(challenge) = &code.challenge {
                let Some(verifier) = form.get("code_verifier") else {
                    return bad("invalid_grant", "code verifier is required");
                };
                let computed =
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if &computed != challenge {
                    return bad("invalid_grant", "invalid code verifier");
                }
            }
            let refresh = format!("5Aep{}", uuid::Uuid::new_v4().simple());
            inner.refresh_tokens.insert(refresh.clone(), (code.user.clone(), code.client_id.clone()));
            Json(issue(&mut inner, &code.user, &base, Some(refresh))).into_response()
        }
        Some("refresh_token") => {
            let (client_id, _) = client_credentials(&headers, &form);
            let Some(refresh) = form.get("refresh_token").cloned() else {
                return bad("invalid_request", "refresh_token is required");
            };
            let Some((user, client)) = inner.refresh_tokens.get(&refresh).cloned() else {
                return bad("invalid_grant", "expired access/refresh token");
            };
            if client_id.as_deref() != Some(client.as_str()) {
                return bad("invalid_client_id", "client identifier invalid");
            }
            let rotated = if inner.config.rotate_refresh_tokens {
                inner.refresh_tokens.remove(&refresh);
                let next = format!("5Aep{}", uuid::Uuid::new_v4().simple());
                inner.refresh_tokens.insert(next.clone(), (user.clone(), client));
                Some(next)
            } else {
                None
            };
            Json(issue(&mut inner, &user, &base, rotated)).into_response()
        }
        _ => bad("unsupported_grant_type", "grant type not supported"),
    }
}

/// The web-server flow's authorization page, approving at once: redirects with a code.
pub(crate) async fn authorize(
    State(fake): State<SalesforceFake>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = fake.lock();
    if params.get("response_type").map(String::as_str) != Some("code") {
        return (StatusCode::BAD_REQUEST, "error=unsupported_response_type").into_response();
    }
    if params.get("client_id") != Some(&inner.config.consumer_key) {
        return (StatusCode::BAD_REQUEST, "error=invalid_client_id").into_response();
    }
    let Some(redirect) = params.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return (StatusCode::BAD_REQUEST, "error=redirect_uri_missing").into_response();
    };
    let challenge = match (params.get("code_challenge"), params.get("code_challenge_method").map(String::as_str)) {
        (Some(c), Some("S256") | None) => Some(c.clone()),
        (Some(_), Some(_)) => return (StatusCode::BAD_REQUEST, "error=invalid_request").into_response(),
        (None, _) => None,
    };
    let user = params
        .get("login_hint")
        .and_then(|u| SalesforceFake::user_id_of(&inner, u))
        .unwrap_or_else(|| inner.default_user.id.clone());
    let code = format!("aPrx{}", uuid::Uuid::new_v4().simple());
    let client_id = inner.config.consumer_key.clone();
    inner.codes.insert(code.clone(), Code { user, client_id, redirect_uri: redirect.to_string(), challenge });
    let mut location = redirect;
    location.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = params.get("state") {
        location.query_pairs_mut().append_pair("state", state);
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location.as_str()) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The identity service.
pub(crate) async fn identity(
    State(fake): State<SalesforceFake>,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
) -> Response {
    let inner = fake.lock();
    let session_user = bearer(&headers).and_then(|t| inner.sessions.get(&t).cloned());
    let Some(session_user) = session_user else {
        return errors(
            StatusCode::UNAUTHORIZED,
            &[ApiError::new("INVALID_SESSION_ID", "Session expired or invalid", &[])],
        );
    };
    if session_user != user || org != inner.config.org_id {
        return (StatusCode::FORBIDDEN, "Bad_Id").into_response();
    }
    let Some(u) = inner.org.get("User", &user) else {
        return (StatusCode::NOT_FOUND, "Bad_Id").into_response();
    };
    let field = |k: &str| u.get(k).cloned().unwrap_or(Value::Null);
    Json(json!({
        "id": format!("{}/id/{org}/{user}", base_url(&headers)),
        "asserted_user": true,
        "user_id": user,
        "organization_id": org,
        "username": field("Username"),
        "nick_name": field("FirstName"),
        "display_name": field("Name"),
        "email": field("Email"),
        "first_name": field("FirstName"),
        "last_name": field("LastName"),
        "timezone": field("TimeZoneSidKey"),
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_GB",
    }))
    .into_response()
}
