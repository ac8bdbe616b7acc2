//! Who syncs with what: `[[users]]` one by one, and `[[assignments]]` for groups.
//!
//! Rules (documented in `docs/service.md`):
//!
//! - `[[users]]` assigns one address: `user`, `configuration`, `crm` and `mailbox` (connection
//!   names), and optionally `crm_user`, the user's CRM login when it differs from the address.
//! - `[[assignments]]` assigns a group to a configuration and two connections, either by list
//!   (`users = ["a@x", …]`) or by domain (`domain = "example.com"`): a domain matches the
//!   addresses listed in the top-level `users_file` (one address per line, `#` comments), since
//!   no directory is queried. Exactly one of `users` and `domain`. The CRM login is the address.
//! - Addresses compare case-insensitively. An address matched twice, by any two of these, is an
//!   error naming both places: there is no precedence to guess.
//! - Addresses of `users_file` that no domain matches are not synced (`tandem check` lists them).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, line_of};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    user: String,
    configuration: String,
    crm: String,
    mailbox: String,
    crm_user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAssignment {
    configuration: String,
    crm: String,
    mailbox: String,
    users: Option<Vec<String>>,
    domain: Option<String>,
}

/// One user to sync, as the file assigns it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserEntry {
    /// The address (the mailbox; the store's user key).
    pub user: String,
    /// The configuration's name.
    pub configuration: String,
    /// The CRM connection's name.
    pub crm: String,
    /// The mailbox connection's name.
    pub mailbox: String,
    /// The user's CRM login when it differs from the address.
    pub crm_user: Option<String>,
    /// The line that assigned the user.
    pub line: Option<usize>,
    /// Where: `[[users]]`, `[[assignments]] users` or `[[assignments]] domain`.
    pub source: String,
}

impl UserEntry {
    /// The identity the CRM connection is built for: `crm_user`, else the address.
    pub fn crm_login(&self) -> &str {
        self.crm_user.as_deref().unwrap_or(&self.user)
    }
}

fn valid_address(address: &str) -> bool {
    let mut parts = address.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None) if !l.is_empty() && !d.is_empty())
        && !address.chars().any(char::is_whitespace)
}

pub(super) fn resolve(
    path: &Path,
    text: &str,
    users: &[Spanned<RawUser>],
    assignments: &[Spanned<RawAssignment>],
    users_file: Option<&(PathBuf, String)>,
) -> Result<Vec<UserEntry>, ConfigError> {
    let at = |line: Option<usize>, message: String| ConfigError::At { path: path.to_owned(), line, message };
    let mut out: Vec<UserEntry> = Vec::new();
    let mut push = |entry: UserEntry| -> Result<(), ConfigError> {
        if !valid_address(&entry.user) {
            return Err(at(entry.line, format!("`{}` is not an email address", entry.user)));
        }
        if let Some(first) = out.iter().find(|u| u.user.eq_ignore_ascii_case(&entry.user)) {
            return Err(at(
                entry.line,
                format!(
                    "user `{}` is matched twice: by {} (line {}) and by {} (one configuration per user)",
                    entry.user,
                    first.source,
                    first.line.map_or_else(|| "?".to_owned(), |l| l.to_string()),
                    entry.source
                ),
            ));
        }
        out.push(entry);
        Ok(())
    };
    for spanned in users {
        let line = Some(line_of(text, spanned.span().start));
        let u = spanned.get_ref();
        push(UserEntry {
            user: u.user.trim().to_owned(),
            configuration: u.configuration.clone(),
            crm: u.crm.clone(),
            mailbox: u.mailbox.clone(),
            crm_user: u.crm_user.clone(),
            line,
            source: "[[users]]".to_owned(),
        })?;
    }
    let pool: Vec<(usize, String)> = users_file
        .map(|(_, list)| {
            list.lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or_default().trim().to_owned()))
                .filter(|(_, l)| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some((file, _)) = users_file
        && let Some((n, bad)) = pool.iter().find(|(_, a)| !valid_address(a))
    {
        return Err(ConfigError::At {
            path: file.clone(),
            line: Some(*n),
            message: format!("`{bad}` is not an email address"),
        });
    }
    for spanned in assignments {
        let line = Some(line_of(text, spanned.span().start));
        let a = spanned.get_ref();
        let entry = |user: &str, source: &str| UserEntry {
            user: user.trim().to_owned(),
            configuration: a.configuration.clone(),
            crm: a.crm.clone(),
            mailbox: a.mailbox.clone(),
            crm_user: None,
            line,
            source: source.to_owned(),
        };
        match (&a.users, &a.domain) {
            (Some(list), None) => {
                for user in list {
                    push(entry(user, "[[assignments]] users"))?;
                }
            }
            (None, Some(domain)) => {
                let domain = domain.trim().trim_start_matches('@');
                if users_file.is_none() {
                    return Err(at(
                        line,
                        format!(
                            "[[assignments]] domain `{domain}`: needs `users_file`, the list of addresses it matches"
                        ),
                    ));
                }
                for (_, address) in &pool {
                    let matches = address.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain));
                    if matches {
                        push(entry(address, &format!("[[assignments]] domain `{domain}`")))?;
                    }
                }
            }
            _ => {
                return Err(at(line, "[[assignments]]: set exactly one of `users` and `domain`".to_owned()));
            }
        }
    }
    Ok(out)
}

/// Addresses of the users file no assignment matched.
pub(super) fn unmatched(pool: &str, users: &[UserEntry]) -> Vec<String> {
    pool.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty() && !users.iter().any(|u| u.user.eq_ignore_ascii_case(l)))
        .map(str::to_owned)
        .collect()
}
