//! The caller's mailbox: resolving `/me` and `/users/{id}` and checking the token may reach it,
//! and the user entity.

use serde_json::{Value, json};

use crate::graph::data::{ApiError, Data};

use super::request::Req;

/// Resolves the mailbox of `/users/{user}` and checks the token may reach it.
pub(super) fn authorize(data: &mut Data, req: &Req, user: Option<&str>) -> Result<String, ApiError> {
    let token = req
        .bearer
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::new(401, "InvalidAuthenticationToken", "Access token is empty."))?;
    let grant = data
        .access_tokens
        .get(token)
        .cloned()
        .ok_or_else(|| ApiError::new(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed."))?;
    if grant.expires <= std::time::Instant::now() {
        return Err(ApiError::new(
            401,
            "InvalidAuthenticationToken",
            "Lifetime validation failed, the token is expired.",
        ));
    }
    let key = match user {
        Some(u) => data
            .mailbox_key(u)
            .ok_or_else(|| ApiError::new(404, "ErrorInvalidUser", format!("The requested user '{u}' is invalid.")))?,
        None => grant.user.clone().ok_or_else(|| {
            ApiError::new(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        })?,
    };
    let denied = || ApiError::new(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.");
    match &grant.user {
        Some(signed_in) if *signed_in != key => return Err(denied()),
        Some(_) => {}
        None => {
            let scope = data.apps.get(&grant.client_id).and_then(|a| a.scope.clone());
            if scope.is_some_and(|s| !s.contains(&key)) {
                return Err(denied());
            }
        }
    }
    Ok(key)
}

pub(super) fn user_json(data: &Data, key: &str) -> Result<Value, ApiError> {
    let m = data.mailbox(key)?;
    Ok(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "businessPhones": [],
        "displayName": m.display_name,
        "givenName": Value::Null,
        "jobTitle": Value::Null,
        "mail": m.upn,
        "mobilePhone": Value::Null,
        "officeLocation": Value::Null,
        "preferredLanguage": Value::Null,
        "surname": Value::Null,
        "userPrincipalName": m.upn,
        "id": m.id,
    }))
}
