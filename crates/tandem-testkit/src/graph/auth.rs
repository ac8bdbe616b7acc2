//! The Microsoft identity platform side of the fake: the v2.0 token endpoint (client secret,
//! client assertion, authorization code with PKCE, refresh token) and the authorize endpoint.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::data::{CodeGrant, Data, Grant, RefreshGrant, Reply};
use super::util::random_token;

/// The `client_assertion_type` of certificate credentials.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An AAD-shaped OAuth error.
fn oauth_error(status: u16, error: &str, code: u32, description: &str) -> Reply {
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": uuid::Uuid::new_v4().to_string(),
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

/// The DER bytes of the first PEM block labelled `label`.
pub(crate) fn pem_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem[start..].find(&end)? + start;
    let b64: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

/// One DER element: `(tag, content, rest)`.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let content = input.get(header..header + len)?;
    Some((tag, content, &input[header + len..]))
}

/// The PKCS#1 `RSAPublicKey` inside an X.509 certificate.
pub(crate) fn certificate_rsa_key(cert_der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert, _) = der_element(cert_der)?;
    let (_, tbs, _) = der_element(cert)?;
    let mut rest = tbs;
    // version [0] is optional
    if rest.first() == Some(&0xA0) {
        rest = der_element(rest)?.2;
    }
    // serial, signature algorithm, issuer, validity, subject
    for _ in 0..5 {
        rest = der_element(rest)?.2;
    }
    let (_, spki, _) = der_element(rest)?;
    let (_, _alg, after) = der_element(spki)?;
    let (tag, bits, _) = der_element(after)?;
    if tag != 0x03 || bits.first() != Some(&0) {
        return None;
    }
    Some(bits[1..].to_vec())
}

/// A certificate registered for an app: its key and thumbprints.
pub(crate) fn certificate(pem: &str) -> Result<super::data::Cert, String> {
    let der = pem_der(pem, "CERTIFICATE").ok_or("not a PEM certificate")?;
    let rsa_der = certificate_rsa_key(&der).ok_or("the certificate has no RSA public key")?;
    let x5t = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der));
    let x5t_s256 = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der));
    Ok(super::data::Cert { rsa_der, x5t, x5t_s256 })
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    sub: String,
    jti: Option<String>,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
}

fn form_value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Checks the client's credentials: a secret (form or Basic) or a signed client assertion.
fn authenticate_client(
    data: &mut Data,
    client_id: &str,
    form: &[(String, String)],
    basic_secret: Option<&str>,
    audiences: &[String],
    required: bool,
) -> Result<(), Reply> {
    let Some(app) = data.apps.get(client_id).cloned() else {
        return Err(oauth_error(
            400,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        ));
    };
    if let Some(secret) = form_value(form, "client_secret").or(basic_secret) {
        if app.secrets.iter().any(|s| s == secret) {
            return Ok(());
        }
        return Err(oauth_error(401, "invalid_client", 7000215, "Invalid client secret provided."));
    }
    if let Some(assertion) = form_value(form, "client_assertion") {
        if form_value(form, "client_assertion_type") != Some(ASSERTION_TYPE) {
            return Err(oauth_error(400, "invalid_request", 50027, "Invalid client_assertion_type."));
        }
        let invalid = |code: u32, msg: &str| oauth_error(401, "invalid_client", code, msg);
        let header =
            jsonwebtoken::decode_header(assertion).map_err(|_| invalid(50027, "JWT token is invalid or malformed."))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
            return Err(invalid(5002738, "The client assertion must be signed with RS256 or PS256."));
        }
        let strip = |t: &String| t.trim_end_matches('=').to_owned();
        let by_s256 = header.x5t_s256.as_ref().map(strip);
        let by_sha1 = header.x5t.as_ref().map(strip);
        let cert = app
            .certs
            .iter()
            .find(|c| by_s256.as_deref() == Some(c.x5t_s256.as_str()) || by_sha1.as_deref() == Some(c.x5t.as_str()))
            .ok_or_else(|| {
                invalid(
                    700027,
                    "The certificate with identifier used to sign the client assertion is not registered on \
                     application.",
                )
            })?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(audiences);
        validation.set_issuer(&[client_id]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let claims =
            jsonwebtoken::decode::<AssertionClaims>(assertion, &DecodingKey::from_rsa_der(&cert.rsa_der), &validation)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature
                    | jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        invalid(700024, "Client assertion is not within its valid time range.")
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                        invalid(700021, "Client assertion audience claim does not match Realm issuer.")
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        invalid(700027, "Client assertion contains an invalid signature.")
                    }
                    _ => invalid(700023, "Client assertion is invalid."),
                })?
                .claims;
        if claims.sub != client_id {
            return Err(invalid(700023, "The client assertion subject must be the client id."));
        }
        let from = claims.nbf.or(claims.iat).unwrap_or(claims.exp);
        if claims.exp - from > 600 {
            return Err(invalid(700024, "Client assertion lifetime exceeds ten minutes."));
        }
        let Some(jti) = claims.jti else {
            return Err(invalid(700023, "The client assertion has no jti claim."));
        };
        if !data.used_jtis.insert(jti) {
            return Err(invalid(700025, "Client assertion has been replayed (jti already used)."));
        }
        return Ok(());
    }
    if required || !app.secrets.is_empty() || !app.certs.is_empty() {
        return Err(oauth_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    }
    Ok(())
}

fn issue_access(data: &mut Data, client_id: &str, user: Option<String>) -> (String, u64) {
    let token = format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.{}", random_token(96));
    let lifetime = data.config.access_token_lifetime;
    data.access_tokens
        .insert(token.clone(), Grant { client_id: client_id.to_owned(), user, expires: Instant::now() + lifetime });
    (token, lifetime.as_secs())
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) fn token(
    data: &mut Data,
    tenant: &str,
    form: &[(String, String)],
    basic: Option<(String, String)>,
    origin: &str,
) -> Reply {
    if !tenant.eq_ignore_ascii_case(&data.config.tenant) {
        return oauth_error(400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
    }
    let audiences = vec![
        format!("{origin}/{tenant}/oauth2/v2.0/token"),
        format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
    ];
    let basic_id = basic.as_ref().map(|(id, _)| id.clone());
    let basic_secret = basic.as_ref().map(|(_, s)| s.as_str());
    let Some(client_id) = form_value(form, "client_id").map(str::to_owned).or(basic_id) else {
        return oauth_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    match form_value(form, "grant_type") {
        Some("client_credentials") => {
            if let Err(reply) = authenticate_client(data, &client_id, form, basic_secret, &audiences, true) {
                return reply;
            }
            let scope = form_value(form, "scope").unwrap_or_default();
            if !scope.trim().ends_with("/.default") {
                return oauth_error(
                    400,
                    "invalid_scope",
                    1002012,
                    "The provided value for scope is not valid. Client credential flows must have a scope value \
                     with /.default suffixed to the resource identifier (application ID URI).",
                );
            }
            let (token, expires) = issue_access(data, &client_id, None);
            Reply::json(
                200,
                json!({"token_type": "Bearer", "expires_in": expires, "ext_expires_in": expires, "access_token": token}),
            )
        }
        Some("authorization_code") => {
            let Some(code) = form_value(form, "code").and_then(|c| data.codes.remove(c)) else {
                return oauth_error(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired or is invalid.",
                );
            };
            if code.client_id != client_id {
                return oauth_error(400, "invalid_grant", 70000, "The code was issued to another client.");
            }
            if form_value(form, "redirect_uri") != Some(code.redirect_uri.as_str()) {
                return oauth_error(
                    400,
                    "invalid_grant",
                    50148,
                    "The redirect_uri does not match the one of the authorization request.",
                );
            }
            if let Some(challenge) = &code.challenge {
                let verifier = form_value(form, "code_verifier").unwrap_or_default();
                if URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())) != *challenge {
                    return oauth_error(
                        400,
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                    );
                }
            }
            if let Err(reply) = authenticate_client(data, &client_id, form, basic_secret, &audiences, false) {
                return reply;
            }
            delegated_tokens(data, &client_id, &code.user, &code.scope)
        }
        Some("refresh_token") => {
            let Some(grant) = form_value(form, "refresh_token").and_then(|r| data.refresh_tokens.get(r)).cloned()
            else {
                return oauth_error(400, "invalid_grant", 700082, "The refresh token has expired due to inactivity.");
            };
            if grant.client_id != client_id {
                return oauth_error(400, "invalid_grant", 70000, "The refresh token was issued to another client.");
            }
            if let Err(reply) = authenticate_client(data, &client_id, form, basic_secret, &audiences, false) {
                return reply;
            }
            delegated_tokens(data, &client_id, &grant.user, &grant.scope)
        }
        other => oauth_error(
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{}'.", other.unwrap_or_default()),
        ),
    }
}

fn delegated_tokens(data: &mut Data, client_id: &str, user: &str, scope: &str) -> Reply {
    let (token, expires) = issue_access(data, client_id, Some(user.to_lowercase()));
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope.split_whitespace().filter(|s| *s != "offline_access").collect::<Vec<_>>().join(" "),
        "expires_in": expires,
        "ext_expires_in": expires,
        "access_token": token,
    });
    if scope.split_whitespace().any(|s| s == "offline_access") {
        let refresh = random_token(120);
        data.refresh_tokens.insert(
            refresh.clone(),
            RefreshGrant { client_id: client_id.to_owned(), user: user.to_lowercase(), scope: scope.to_owned() },
        );
        if let Value::Object(map) = &mut body {
            map.insert("refresh_token".into(), json!(refresh));
        }
    }
    Reply::json(200, body)
}

/// Records an authorization code for `user` and returns it.
pub(crate) fn issue_code(
    data: &mut Data,
    client_id: &str,
    user: &str,
    redirect_uri: &str,
    challenge: Option<String>,
    scope: &str,
) -> String {
    let code = format!("0.A{}", random_token(80));
    data.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: client_id.to_owned(),
            user: user.to_lowercase(),
            redirect_uri: redirect_uri.to_owned(),
            challenge,
            scope: scope.to_owned(),
        },
    );
    code
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: signs in `login_hint` (or the user set with
/// `GraphState::set_signed_in_user`), consents, and redirects back with a code.
pub(crate) fn authorize(data: &mut Data, query: &[(String, String)]) -> Result<String, Reply> {
    let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let bad = |msg: &str| oauth_error(400, "invalid_request", 900144, msg);
    let client_id = get("client_id").ok_or_else(|| bad("client_id is required."))?;
    let redirect_uri = get("redirect_uri").ok_or_else(|| bad("redirect_uri is required."))?;
    if get("response_type").as_deref() != Some("code") {
        return Err(bad("response_type must be 'code'."));
    }
    let app = data.apps.get(&client_id).ok_or_else(|| bad("unknown client_id."))?;
    if !app.redirect_uris.contains(&redirect_uri) {
        return Err(oauth_error(
            400,
            "invalid_request",
            50011,
            "The redirect URI specified in the request does not match the redirect URIs configured for the application.",
        ));
    }
    let challenge = get("code_challenge");
    if challenge.is_some() && get("code_challenge_method").as_deref() != Some("S256") {
        return Err(bad("Only the S256 code_challenge_method is supported."));
    }
    let user = get("login_hint")
        .or_else(|| data.signed_in.clone())
        .filter(|u| data.mailbox_key(u).is_some())
        .ok_or_else(|| bad("No signed-in user."))?;
    let scope = get("scope").unwrap_or_default();
    let code = issue_code(data, &client_id, &user, &redirect_uri, challenge, &scope);
    let mut url = url::Url::parse(&redirect_uri).map_err(|_| bad("invalid redirect_uri"))?;
    url.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = get("state") {
        url.query_pairs_mut().append_pair("state", &state);
    }
    Ok(url.to_string())
}

/// Restricts an app's app-only tokens to these mailboxes (RBAC for Applications).
pub(crate) fn restrict(data: &mut Data, client_id: &str, mailboxes: &[&str]) {
    let set: BTreeSet<String> = mailboxes.iter().map(|m| m.to_lowercase()).collect();
    data.apps.entry(client_id.to_owned()).or_default().scope = Some(set);
}

/// Makes every access token issued so far expired.
pub(crate) fn expire_access_tokens(data: &mut Data) {
    let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap_or_else(Instant::now);
    for grant in data.access_tokens.values_mut() {
        grant.expires = past;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_test_certificate() {
        let cert = certificate(crate::keys::TEST_RSA_CERT_PEM).unwrap();
        assert!(cert.rsa_der.len() > 200);
        assert_eq!(cert.x5t.len(), 27);
        assert_eq!(cert.x5t_s256.len(), 43);
        assert!(certificate("nope").is_err());
    }
}
