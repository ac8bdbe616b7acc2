//! Authentication: Basic, bearer tokens and NTLM (challenge and response), and the 401 that asks
//! for them.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;

use super::data::Data;
use super::fake::EwsFake;
use super::ntlm;

fn unauthorized(allow_basic: bool, extra: Option<String>) -> Response {
    let mut resp = (StatusCode::UNAUTHORIZED, "").into_response();
    let h = resp.headers_mut();
    let mut values = Vec::new();
    match extra {
        Some(challenge) => values.push(challenge),
        None => {
            values.push("Negotiate".to_owned());
            values.push("NTLM".to_owned());
            if allow_basic {
                values.push("Basic realm=\"127.0.0.1\"".to_owned());
            }
        }
    }
    for v in values {
        if let Ok(v) = axum::http::HeaderValue::try_from(v) {
            h.append(header::WWW_AUTHENTICATE, v);
        }
    }
    h.insert("x-powered-by", axum::http::HeaderValue::from_static("ASP.NET"));
    resp
}

fn account_key(d: &Data, user: &str) -> Option<String> {
    let user = user.to_lowercase();
    let bare = user.rsplit_once('\\').map(|(_, u)| u.to_owned()).unwrap_or_else(|| user.clone());
    [user, bare].into_iter().find(|u| d.accounts.contains_key(u))
}

/// The principal (account key or mailbox) a request authenticates as, or the 401 to answer.
#[allow(clippy::result_large_err)] // the Err is the response itself, built once per request
pub(super) fn authenticate(fake: &EwsFake, headers: &HeaderMap) -> Result<String, Response> {
    let mut d = fake.lock();
    let allow_basic = d.allow_basic;
    let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized(allow_basic, None));
    };
    let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "basic" if allow_basic => {
            let decoded = STANDARD.decode(rest).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
            let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
            match account_key(&d, user) {
                Some(k) if d.accounts.get(&k).is_some_and(|a| a.password == password) => Ok(k),
                _ => Err(unauthorized(allow_basic, None)),
            }
        }
        "bearer" => d.tokens.get(rest).cloned().ok_or_else(|| unauthorized(allow_basic, None)),
        "ntlm" | "negotiate" => {
            let token = STANDARD.decode(rest).unwrap_or_default();
            match ntlm::parse(&token) {
                Some(ntlm::Message::Negotiate { flags }) => {
                    d.challenge_counter += 1;
                    let seed = d.challenge_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x0005_EED0_FEC5;
                    let challenge = seed.to_le_bytes();
                    d.challenges.push_back(challenge);
                    while d.challenges.len() > 256 {
                        d.challenges.pop_front();
                    }
                    let filetime = u64::try_from(Utc::now().timestamp())
                        .unwrap_or(0)
                        .saturating_add(11_644_473_600)
                        .saturating_mul(10_000_000);
                    let msg = ntlm::challenge_message(flags, challenge, filetime);
                    Err(unauthorized(
                        allow_basic,
                        Some(format!(
                            "{} {}",
                            if scheme.eq_ignore_ascii_case("ntlm") { "NTLM" } else { "Negotiate" },
                            STANDARD.encode(msg)
                        )),
                    ))
                }
                Some(ntlm::Message::Authenticate(auth)) => {
                    let Some(k) = account_key(&d, &auth.user) else { return Err(unauthorized(allow_basic, None)) };
                    let password = d.accounts.get(&k).map(|a| a.password.clone()).unwrap_or_default();
                    let pos = d.challenges.iter().position(|c| ntlm::verify(&auth, &password, c));
                    match pos {
                        Some(i) => {
                            d.challenges.remove(i);
                            Ok(k)
                        }
                        None => Err(unauthorized(allow_basic, None)),
                    }
                }
                None => Err(unauthorized(allow_basic, None)),
            }
        }
        _ => Err(unauthorized(allow_basic, None)),
    }
}
