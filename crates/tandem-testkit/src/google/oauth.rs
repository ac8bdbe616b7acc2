//! Per-user OAuth in the Google fake: registered OAuth clients
//! ([`GoogleFake::add_oauth_client`]), the authorization endpoint and the `authorization_code`
//! and `refresh_token` grants of `POST /token`.
//!
//! - **`GET /o/oauth2/v2/auth`** (`client_id`, `redirect_uri`, `response_type=code`, `scope`,
//!   `state`, `code_challenge` + `code_challenge_method=S256`, `access_type`, `prompt`,
//!   `login_hint`): signs in `login_hint` (a user of the domain) or the user of the last
//!   [`GoogleFake::consent`], grants the requested scopes (those of the consent preset only,
//!   like granular consent) and answers 302 to `redirect_uri?code=…&scope=…&state=…`. An unknown
//!   client, an unregistered redirect URI, a missing or unknown scope, PKCE other than S256 or
//!   nobody to sign in answer an error page (400/401, `Error 400: redirect_uri_mismatch`), as
//!   Google does; a consent that grants nothing redirects with `error=access_denied`.
//! - **`grant_type=authorization_code`**: the code once, for the client it was issued to
//!   (`client_id` + `client_secret` in the body or HTTP Basic), the same `redirect_uri`, and when
//!   a challenge was sent, `code_verifier` with `base64url(sha256(verifier)) == challenge`.
//!   Answers `access_token`, `expires_in`, `scope`, `token_type` and, for
//!   `access_type=offline` on a first consent or with `prompt=consent`, `refresh_token`.
//! - **`grant_type=refresh_token`**: a new access token (optional `scope` must be a subset);
//!   with [`GoogleFake::rotate_refresh_tokens`] a new refresh token replaces the old one.
//! - **Errors** are Google's: `{"error":"invalid_grant","error_description":"Bad Request"}` (400:
//!   unknown, used or expired code, wrong verifier, revoked refresh token),
//!   `redirect_uri_mismatch` (400), `invalid_client` (401: unknown client, wrong secret),
//!   `unauthorized_client` (401: a refresh token of another client), `invalid_scope`,
//!   `invalid_request` (400).
//!
//! Access tokens issued here are the fake's ordinary tokens: they authorize the user's Calendar
//! and People calls within the granted scopes. [`GoogleFake::revoke_refresh_tokens`] revokes a
//! user's refresh tokens and the access tokens issued from them (a user removing the app's
//! access in their Google account).

use std::collections::{BTreeSet, HashMap, HashSet};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::Digest as _;

use super::{GoogleFake, Grant, json_response, param, query_pairs, random_token};

/// How long an authorization code may be redeemed.
const CODE_LIFETIME_SECS: i64 = 600;
/// The lifetime of access tokens, as Google's `expires_in`.
const ACCESS_LIFETIME_SECS: i64 = 3599;

/// A registered OAuth client.
#[derive(Debug, Clone)]
struct OAuthClient {
    secret: Option<String>,
    redirect_uris: BTreeSet<String>,
}

/// An authorization code not yet redeemed.
#[derive(Debug, Clone)]
struct CodeGrant {
    client_id: String,
    user: String,
    redirect_uri: String,
    challenge: Option<String>,
    scopes: BTreeSet<String>,
    refresh: bool,
    expires: DateTime<Utc>,
}

/// A live refresh token.
#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    user: String,
    scopes: BTreeSet<String>,
}

/// The per-user OAuth state of the fake.
#[derive(Debug, Default)]
pub(crate) struct OAuthData {
    clients: HashMap<String, OAuthClient>,
    /// Consent presets: the scopes each user grants when asked.
    consents: HashMap<String, BTreeSet<String>>,
    /// The user signed in at the authorization endpoint when the request has no `login_hint`.
    signed_in: Option<String>,
    /// `(client, user)` pairs that consented before: a refresh token again only with
    /// `prompt=consent`.
    consented: HashSet<(String, String)>,
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    /// Access tokens issued by these grants, with their user (revoked with the refresh tokens).
    access_tokens: HashMap<String, String>,
    rotate: bool,
}

impl GoogleFake {
    /// Registers an OAuth client (or adds a redirect URI to it): its id, its secret (`None` for a
    /// client that authenticates with PKCE alone) and an authorized redirect URI.
    pub fn add_oauth_client(&self, client_id: &str, secret: Option<&str>, redirect_uri: &str) {
        let mut d = self.lock();
        let client = d
            .oauth
            .clients
            .entry(client_id.to_owned())
            .or_insert_with(|| OAuthClient { secret: None, redirect_uris: BTreeSet::new() });
        client.secret = secret.map(str::to_owned);
        client.redirect_uris.insert(redirect_uri.to_owned());
    }

    /// Presets the consent of `user` (added to the domain when missing): the authorization
    /// endpoint signs them in when the request has no `login_hint`, and they grant only those of
    /// the requested scopes that are in `scopes`.
    pub fn consent(&self, user: &str, scopes: &[&str]) {
        self.add_user(user);
        let mut d = self.lock();
        let user = user.to_lowercase();
        d.oauth.consents.insert(user.clone(), scopes.iter().map(|s| (*s).to_owned()).collect());
        d.oauth.signed_in = Some(user);
    }

    /// Revokes every refresh token of `user` and the access tokens issued from them, as when the
    /// user removes the app's access. Returns how many refresh tokens were revoked.
    pub fn revoke_refresh_tokens(&self, user: &str) -> usize {
        let user = user.to_lowercase();
        let mut d = self.lock();
        let before = d.oauth.refresh_tokens.len();
        d.oauth.refresh_tokens.retain(|_, g| g.user != user);
        let revoked = before - d.oauth.refresh_tokens.len();
        let access: Vec<String> =
            d.oauth.access_tokens.iter().filter(|(_, u)| **u == user).map(|(t, _)| t.clone()).collect();
        for token in access {
            d.oauth.access_tokens.remove(&token);
            d.tokens.remove(&token);
        }
        d.oauth.consented.retain(|(_, u)| *u != user);
        revoked
    }

    /// Whether the refresh grant answers with a new refresh token (replacing the old one).
    pub fn rotate_refresh_tokens(&self, rotate: bool) {
        self.lock().oauth.rotate = rotate;
    }

    /// Issues a refresh token directly (skipping the consent) to `client_id` for `user`.
    pub fn issue_refresh_token(&self, client_id: &str, user: &str, scopes: &[&str]) -> String {
        let token = refresh_token();
        let grant = RefreshGrant {
            client_id: client_id.to_owned(),
            user: user.to_lowercase(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        self.lock().oauth.refresh_tokens.insert(token.clone(), grant);
        token
    }

    /// Makes every access token issued so far (by any grant) expired.
    pub fn expire_access_tokens(&self) {
        let past = Utc::now() - chrono::Duration::seconds(1);
        for grant in self.lock().tokens.values_mut() {
            grant.expires = past;
        }
    }

    /// How many refresh tokens are live.
    pub fn refresh_token_count(&self) -> usize {
        self.lock().oauth.refresh_tokens.len()
    }
}

fn refresh_token() -> String {
    format!("1//0{}", random_token())
}

/// Google's token endpoint error.
fn token_error(status: u16, error: &str, description: &str) -> Response {
    json_response(status, json!({"error": error, "error_description": description}))
}

/// Google's error page of the authorization endpoint (it does not redirect for these).
fn error_page(status: u16, error: &str, detail: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = format!(
        "<!doctype html><html><head><title>Error</title></head><body><h1>Access blocked: Authorization \
         Error</h1><p>{detail}</p><p>Error {}: {error}</p></body></html>",
        status.as_u16()
    );
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    resp
}

fn redirect(location: &url::Url) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location.as_str()) {
        resp.headers_mut().insert(header::LOCATION, value);
    }
    resp
}

/// Whether Google knows the scope (the fake's APIs, and the sign-in scopes).
fn known_scope(scope: &str) -> bool {
    matches!(scope, "openid" | "email" | "profile")
        || [super::SCOPE_CALENDAR, super::SCOPE_CALENDAR_EVENTS, super::SCOPE_CONTACTS].contains(&scope)
        || scope.starts_with("https://www.googleapis.com/auth/userinfo.")
}

/// `GET /o/oauth2/v2/auth`.
pub(crate) async fn authorize(State(fake): State<GoogleFake>, uri: Uri) -> Response {
    let query = query_pairs(uri.query());
    let get = |k: &str| param(&query, k).map(str::to_owned);
    let Some(client_id) = get("client_id") else {
        return error_page(400, "invalid_request", "Missing required parameter: client_id");
    };
    let mut d = fake.lock();
    let Some(client) = d.oauth.clients.get(&client_id).cloned() else {
        return error_page(401, "invalid_client", "The OAuth client was not found.");
    };
    let Some(redirect_uri) = get("redirect_uri").filter(|r| client.redirect_uris.contains(r)) else {
        return error_page(
            400,
            "redirect_uri_mismatch",
            "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy.",
        );
    };
    let Ok(mut back) = url::Url::parse(&redirect_uri) else {
        return error_page(400, "redirect_uri_mismatch", "Invalid redirect_uri.");
    };
    if get("response_type").as_deref() != Some("code") {
        return error_page(400, "unsupported_response_type", "Only response_type=code is supported here.");
    }
    let requested: BTreeSet<String> = get("scope").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    if requested.is_empty() {
        return error_page(400, "invalid_request", "Missing required parameter: scope");
    }
    if let Some(unknown) = requested.iter().find(|s| !known_scope(s)) {
        return error_page(400, "invalid_scope", &format!("Some requested scopes were invalid: {unknown}"));
    }
    let challenge = get("code_challenge");
    if challenge.is_some() && get("code_challenge_method").as_deref() != Some("S256") {
        return error_page(400, "invalid_request", "The fake supports code_challenge_method=S256 only.");
    }
    let user = get("login_hint").map(|u| u.to_lowercase()).or_else(|| d.oauth.signed_in.clone());
    let Some(user) = user.filter(|u| d.users.contains(u)) else {
        return error_page(400, "invalid_request", "Nobody to sign in: pass login_hint or preset a consent.");
    };
    let granted: BTreeSet<String> = match d.oauth.consents.get(&user) {
        Some(consent) => requested.intersection(consent).cloned().collect(),
        None => requested,
    };
    let state = get("state");
    if granted.is_empty() {
        back.query_pairs_mut().append_pair("error", "access_denied");
        if let Some(state) = &state {
            back.query_pairs_mut().append_pair("state", state);
        }
        return redirect(&back);
    }
    let offline = get("access_type").as_deref() == Some("offline");
    let prompted = get("prompt").is_some_and(|p| p.split_whitespace().any(|v| v == "consent"));
    let first = d.oauth.consented.insert((client_id.clone(), user.clone()));
    let code = format!("4/0{}", random_token());
    let scope = granted.iter().cloned().collect::<Vec<_>>().join(" ");
    d.oauth.codes.insert(
        code.clone(),
        CodeGrant {
            client_id,
            user,
            redirect_uri,
            challenge,
            scopes: granted,
            refresh: offline && (first || prompted),
            expires: Utc::now() + chrono::Duration::seconds(CODE_LIFETIME_SECS),
        },
    );
    back.query_pairs_mut().append_pair("code", &code).append_pair("scope", &scope);
    if let Some(state) = &state {
        back.query_pairs_mut().append_pair("state", state);
    }
    redirect(&back)
}

/// The client's id and secret: from HTTP Basic, else from the body.
fn client_credentials(form: &[(String, String)], headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some((id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) {
        let decode =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).map(|(_, v)| v.into_owned()).next();
        return (decode(id), decode(secret));
    }
    (param(form, "client_id").map(str::to_owned), param(form, "client_secret").map(str::to_owned))
}

/// The `authorization_code` and `refresh_token` grants of `POST /token`.
pub(crate) fn token(fake: &GoogleFake, grant_type: &str, form: &[(String, String)], headers: &HeaderMap) -> Response {
    let (client_id, secret) = client_credentials(form, headers);
    let Some(client_id) = client_id else {
        return token_error(400, "invalid_request", "Could not determine client ID from request.");
    };
    let mut d = fake.lock();
    let Some(client) = d.oauth.clients.get(&client_id).cloned() else {
        return token_error(401, "invalid_client", "The OAuth client was not found.");
    };
    if let Some(expected) = &client.secret
        && secret.as_deref() != Some(expected.as_str())
    {
        return token_error(401, "invalid_client", "Unauthorized");
    }
    let (user, scopes, refresh) = if grant_type == "authorization_code" {
        let Some(code) = param(form, "code") else {
            return token_error(400, "invalid_request", "Missing required parameter: code");
        };
        // A code is good once, whatever the outcome.
        let Some(grant) = d.oauth.codes.remove(code).filter(|g| g.expires > Utc::now()) else {
            return token_error(400, "invalid_grant", "Bad Request");
        };
        if grant.client_id != client_id {
            return token_error(400, "invalid_grant", "Bad Request");
        }
        if param(form, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return token_error(400, "redirect_uri_mismatch", "Bad Request");
        }
        if let Some(challenge) = &grant.challenge {
            let Some(verifier) = param(form, "code_verifier") else {
                return token_error(400, "invalid_grant", "Missing code verifier.");
            };
            if URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())) != *challenge {
                return token_error(400, "invalid_grant", "Invalid code verifier.");
            }
        }
        let refresh = grant.refresh.then(|| {
            let token = refresh_token();
            let live =
                RefreshGrant { client_id: client_id.clone(), user: grant.user.clone(), scopes: grant.scopes.clone() };
            d.oauth.refresh_tokens.insert(token.clone(), live);
            token
        });
        (grant.user, grant.scopes, refresh)
    } else {
        let Some(presented) = param(form, "refresh_token") else {
            return token_error(400, "invalid_request", "Missing required parameter: refresh_token");
        };
        let Some(grant) = d.oauth.refresh_tokens.get(presented).cloned() else {
            return token_error(400, "invalid_grant", "Token has been expired or revoked.");
        };
        if grant.client_id != client_id {
            return token_error(401, "unauthorized_client", "Unauthorized");
        }
        let scopes = match param(form, "scope") {
            Some(asked) => {
                let asked: BTreeSet<String> = asked.split_whitespace().map(str::to_owned).collect();
                if asked.is_empty() || !asked.is_subset(&grant.scopes) {
                    return token_error(400, "invalid_scope", "Some requested scopes were invalid.");
                }
                asked
            }
            None => grant.scopes.clone(),
        };
        let rotated = d.oauth.rotate.then(|| {
            let token = refresh_token();
            d.oauth.refresh_tokens.remove(presented);
            d.oauth.refresh_tokens.insert(token.clone(), grant.clone());
            token
        });
        (grant.user, scopes, rotated)
    };
    let access = format!("ya29.{}", random_token());
    let expires = Utc::now() + chrono::Duration::seconds(ACCESS_LIFETIME_SECS);
    d.tokens.insert(access.clone(), Grant { user: user.clone(), scopes: scopes.clone(), expires });
    d.oauth.access_tokens.insert(access.clone(), user);
    let mut body = json!({
        "access_token": access,
        "expires_in": ACCESS_LIFETIME_SECS,
        "scope": scopes.into_iter().collect::<Vec<_>>().join(" "),
        "token_type": "Bearer",
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    json_response(200, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        let (id, secret) = client_credentials(&[], &headers);
        assert_eq!(id.as_deref(), Some("my client"));
        assert_eq!(secret.as_deref(), Some("s:cret"));
        let form = vec![("client_id".to_owned(), "c".to_owned())];
        assert_eq!(client_credentials(&form, &HeaderMap::new()), (Some("c".to_owned()), None));
    }

    const CLIENT: &str = "c-1.apps.googleusercontent.com";
    const REDIRECT: &str = "http://127.0.0.1:9/cb";
    const USER: &str = "ann@tandem-demo.example";

    async fn server() -> (GoogleFake, crate::server::FakeServer, reqwest::Client) {
        let fake = GoogleFake::new();
        fake.add_user(USER);
        fake.add_oauth_client(CLIENT, Some("s3cret"), REDIRECT);
        let server = crate::server::FakeServer::start(super::super::router(fake.clone())).await.unwrap();
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        (fake, server, browser)
    }

    /// GETs the authorization endpoint; the status and the redirect's query.
    async fn auth(
        server: &crate::server::FakeServer,
        browser: &reqwest::Client,
        extra: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>) {
        let mut url = url::Url::parse(&server.url("/o/oauth2/v2/auth")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", CLIENT)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("response_type", "code")
            .append_pair("scope", &format!("{} {}", super::super::SCOPE_CALENDAR_EVENTS, super::super::SCOPE_CONTACTS))
            .append_pair("state", "st4te")
            .append_pair("login_hint", USER);
        for (k, v) in extra {
            url.query_pairs_mut().append_pair(k, v);
        }
        let response = browser.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_owned();
        let pairs = url::Url::parse(&location).map(|u| u.query_pairs().into_owned().collect()).unwrap_or_default();
        (status, pairs)
    }

    async fn redeem(
        server: &crate::server::FakeServer,
        browser: &reqwest::Client,
        form: &[(String, String)],
    ) -> (u16, serde_json::Value) {
        let response = browser.post(server.url("/token")).form(form).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    fn get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
        param(pairs, key).unwrap_or_default()
    }

    #[tokio::test]
    async fn codes_check_pkce_redirect_and_client_and_refresh_tokens_need_offline_access() {
        let (fake, server, browser) = server().await;
        let verifier = "v".repeat(50);
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let pkce = [("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")];
        let offline = [pkce[0], pkce[1], ("access_type", "offline")];
        let (status, back) = auth(&server, &browser, &offline).await;
        assert_eq!(status, 302);
        assert_eq!(get(&back, "state"), "st4te");
        let code = get(&back, "code").to_owned();
        let form = |code: &str, verifier: &str, secret: &str| {
            vec![
                ("grant_type".to_owned(), "authorization_code".to_owned()),
                ("code".to_owned(), code.to_owned()),
                ("client_id".to_owned(), CLIENT.to_owned()),
                ("client_secret".to_owned(), secret.to_owned()),
                ("redirect_uri".to_owned(), REDIRECT.to_owned()),
                ("code_verifier".to_owned(), verifier.to_owned()),
            ]
        };
        // A wrong secret: 401 invalid_client (and the code stays good).
        let (status, body) = redeem(&server, &browser, &(form(&code, &verifier, "nope"))).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        let (status, body) = redeem(&server, &browser, &(form(&code, &verifier, "s3cret"))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3599);
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        let access = body["access_token"].as_str().unwrap().to_owned();
        assert!(fake.lock().tokens.get(&access).is_some_and(|g| g.user == USER));
        // Used once.
        let (status, body) = redeem(&server, &browser, &(form(&code, &verifier, "s3cret"))).await;
        assert_eq!((status, body), (400, json!({"error": "invalid_grant", "error_description": "Bad Request"})));
        // A wrong verifier.
        let (_, back) = auth(&server, &browser, &offline).await;
        let (status, body) = redeem(&server, &browser, &(form(get(&back, "code"), "w", "s3cret"))).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
        // A second consent without prompt=consent gets no refresh token; with it, one.
        let (_, back) = auth(&server, &browser, &offline).await;
        let (_, body) = redeem(&server, &browser, &(form(get(&back, "code"), &verifier, "s3cret"))).await;
        assert!(body.get("refresh_token").is_none(), "{body}");
        let prompted = [pkce[0], pkce[1], ("access_type", "offline"), ("prompt", "consent")];
        let (_, back) = auth(&server, &browser, &prompted).await;
        let (_, body) = redeem(&server, &browser, &(form(get(&back, "code"), &verifier, "s3cret"))).await;
        assert!(body.get("refresh_token").is_some(), "{body}");
        // Online access: no refresh token.
        let (_, back) = auth(&server, &browser, &[pkce[0], pkce[1], ("prompt", "consent")]).await;
        let (_, body) = redeem(&server, &browser, &(form(get(&back, "code"), &verifier, "s3cret"))).await;
        assert!(body.get("refresh_token").is_none(), "{body}");
        // The refresh grant with HTTP Basic credentials, a narrower scope allowed, a wider not.
        let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT}:s3cret")));
        let refresh_with = |scope: Option<&str>| {
            let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
            form.extend(scope.map(|s| ("scope", s)));
            browser.post(server.url("/token")).header("authorization", basic.clone()).form(&form).send()
        };
        let r = refresh_with(None).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let r = refresh_with(Some(super::super::SCOPE_CONTACTS)).await.unwrap();
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["scope"], super::super::SCOPE_CONTACTS);
        let r = refresh_with(Some(super::super::SCOPE_CALENDAR)).await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        // Revoked.
        assert_eq!(fake.revoke_refresh_tokens(USER), 2);
        let r = refresh_with(None).await.unwrap();
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");
    }

    #[tokio::test]
    async fn the_authorization_endpoint_refuses_what_google_refuses() {
        let (fake, server, browser) = server().await;
        let mut url = url::Url::parse(&server.url("/o/oauth2/v2/auth")).unwrap();
        url.query_pairs_mut().append_pair("client_id", "unknown").append_pair("redirect_uri", REDIRECT);
        assert_eq!(browser.get(url).send().await.unwrap().status().as_u16(), 401);
        let (status, _) = auth(&server, &browser, &[("redirect_uri", "http://127.0.0.1:9/other")]).await;
        assert_eq!(status, 400, "a second redirect_uri parameter is the one used");
        let (status, _) =
            auth(&server, &browser, &[("code_challenge", "abc"), ("code_challenge_method", "plain")]).await;
        assert_eq!(status, 400);
        let (status, _) = auth(&server, &browser, &[("login_hint", "stranger@example.com")]).await;
        assert_eq!(status, 400);
        // A preset consent that grants none of the scopes: access_denied back at the app.
        fake.consent(USER, &["openid"]);
        let (status, back) = auth(&server, &browser, &[]).await;
        assert_eq!((status, get(&back, "error"), get(&back, "state")), (302, "access_denied", "st4te"));
    }

    #[test]
    fn scopes_google_knows() {
        assert!(known_scope(super::super::SCOPE_CONTACTS));
        assert!(known_scope("openid"));
        assert!(!known_scope("https://www.googleapis.com/auth/nonsense"));
    }
}
