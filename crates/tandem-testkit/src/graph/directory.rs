//! [`GraphState`]'s directory and apps: mailboxes, app registrations (secrets, certificates,
//! redirect URIs, RBAC restrictions), the signed-in user, and the tokens issued.

use super::{GraphState, auth};

impl GraphState {
    // --- directory and apps -------------------------------------------------------------------

    /// Adds a mailbox (user); returns its object id. Adding an existing UPN returns its id.
    pub fn add_mailbox(&self, upn: &str, display_name: &str) -> String {
        self.lock().add_mailbox(upn, display_name)
    }

    /// Registers an app with a client secret (several may be registered).
    pub fn register_client_secret(&self, client_id: &str, secret: &str) {
        self.lock().apps.entry(client_id.to_owned()).or_default().secrets.push(secret.to_owned());
    }

    /// Registers a certificate (PEM) for an app's client assertions.
    ///
    /// # Errors
    ///
    /// When the PEM holds no X.509 certificate with an RSA key.
    pub fn register_certificate(&self, client_id: &str, cert_pem: &str) -> Result<(), String> {
        let cert = auth::certificate(cert_pem)?;
        self.lock().apps.entry(client_id.to_owned()).or_default().certs.push(cert);
        Ok(())
    }

    /// Registers a redirect URI for the authorization code flow.
    pub fn register_redirect_uri(&self, client_id: &str, uri: &str) {
        self.lock().apps.entry(client_id.to_owned()).or_default().redirect_uris.push(uri.to_owned());
    }

    /// RBAC for Applications: app-only tokens of `client_id` reach only these mailboxes; others
    /// answer 403 `ErrorAccessDenied`.
    pub fn restrict_app_to(&self, client_id: &str, mailboxes: &[&str]) {
        auth::restrict(&mut self.lock(), client_id, mailboxes);
    }

    /// The user the authorize endpoint signs in when the request has no `login_hint`.
    pub fn set_signed_in_user(&self, upn: &str) {
        self.lock().signed_in = Some(upn.to_owned());
    }

    /// Issues an authorization code as the authorize endpoint would after sign-in and consent.
    /// `code_challenge` is the S256 PKCE challenge.
    pub fn issue_authorization_code(
        &self,
        client_id: &str,
        upn: &str,
        redirect_uri: &str,
        code_challenge: Option<&str>,
        scope: &str,
    ) -> String {
        auth::issue_code(&mut self.lock(), client_id, upn, redirect_uri, code_challenge.map(str::to_owned), scope)
    }

    /// Expires every access token issued so far (the next API call answers 401).
    pub fn expire_access_tokens(&self) {
        auth::expire_access_tokens(&mut self.lock());
    }

    /// Access tokens issued so far.
    pub fn access_tokens_issued(&self) -> usize {
        self.lock().access_tokens.len()
    }

    /// Every access and refresh token this tenant ever issued, expired ones included: what a
    /// canary test searches logs and error messages for.
    pub fn issued_credentials(&self) -> Vec<String> {
        let data = self.lock();
        data.access_tokens.keys().chain(data.refresh_tokens.keys()).cloned().collect()
    }
}
