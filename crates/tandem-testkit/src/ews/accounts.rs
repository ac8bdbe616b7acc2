//! Seeding who may call: mailboxes, service accounts, impersonation grants, Basic and bearer
//! tokens.

use super::data::{Account, Mailbox};
use super::fake::EwsFake;

impl EwsFake {
    /// Adds a mailbox (with its default folders); a second call only renames it.
    pub fn add_mailbox(&self, smtp: &str, display: &str) {
        let mut d = self.lock();
        let key = smtp.to_lowercase();
        match d.mailboxes.get_mut(&key) {
            Some(m) => m.display = display.to_owned(),
            None => {
                d.mailboxes.insert(key, Mailbox::new(smtp, display));
            }
        }
    }

    /// Adds (or re-passwords) an account that can authenticate (Basic, NTLM). Its user name is
    /// matched case-insensitively, with or without a `DOMAIN\` prefix. An account named like a
    /// mailbox acts on that mailbox when it does not impersonate.
    pub fn add_service_account(&self, user: &str, password: &str) {
        let mut d = self.lock();
        let grants = d.accounts.get(&user.to_lowercase()).map(|a| a.grants.clone()).unwrap_or_default();
        d.accounts.insert(user.to_lowercase(), Account { password: password.to_owned(), grants });
    }

    /// Grants `account` the ApplicationImpersonation role on `mailbox`.
    pub fn grant_impersonation(&self, account: &str, mailbox: &str) {
        let mut d = self.lock();
        if let Some(a) = d.accounts.get_mut(&account.to_lowercase()) {
            a.grants.insert(mailbox.to_lowercase());
        }
    }

    /// Revokes it.
    pub fn revoke_impersonation(&self, account: &str, mailbox: &str) {
        let mut d = self.lock();
        if let Some(a) = d.accounts.get_mut(&account.to_lowercase()) {
            a.grants.remove(&mailbox.to_lowercase());
        }
    }

    /// Whether Basic authentication is accepted (off by default).
    pub fn allow_basic(&self, allow: bool) {
        self.lock().allow_basic = allow;
    }

    /// Accepts `Authorization: Bearer <token>` as `principal`: a mailbox (acting on itself) or an
    /// account added with [`EwsFake::add_service_account`] (whose grants apply).
    pub fn add_bearer_token(&self, token: &str, principal: &str) {
        self.lock().tokens.insert(token.to_owned(), principal.to_lowercase());
    }
}
