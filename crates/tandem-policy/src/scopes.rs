//! What the policy knows about each provider: its OAuth scopes, and the hosts of Microsoft's
//! cloud.

/// The Salesforce provider name.
pub const SALESFORCE: &str = "salesforce";
/// The Microsoft Graph provider name.
pub const GRAPH: &str = "graph";
/// The Exchange Web Services provider name.
pub const EWS: &str = "ews";
/// The Google Workspace provider name.
pub const GOOGLE: &str = "google";
/// The CalDAV/CardDAV provider name.
pub const DAV: &str = "dav";
/// The vdir (local folders of `.ics`/`.vcf` files) provider name.
pub const VDIR: &str = "vdir";

/// The providers the policy has built-in knowledge of (default rules and scope catalogues).
pub const KNOWN_PROVIDERS: [&str; 6] = [SALESFORCE, GRAPH, EWS, GOOGLE, DAV, VDIR];

const GRAPH_PREFIX: &str = "https://graph.microsoft.com/";
const EWS_PREFIX: &str = "https://outlook.office365.com/";
const GOOGLE_PREFIX: &str = "https://www.googleapis.com/auth/";

/// Graph scopes the policy recognises (normalised: lower case, without the resource prefix).
/// Mail scopes are known too, so that they can be refused by name.
const GRAPH_SCOPES: &[&str] = &[
    ".default",
    "calendars.read",
    "calendars.readwrite",
    "calendars.read.shared",
    "calendars.readwrite.shared",
    "contacts.read",
    "contacts.readwrite",
    "contacts.read.shared",
    "contacts.readwrite.shared",
    "mailboxsettings.read",
    "user.read",
    "user.read.all",
    "offline_access",
    "openid",
    "profile",
    "email",
];

const EWS_SCOPES: &[&str] = &[".default", "ews.accessasuser.all", "offline_access", "openid", "profile", "email"];

const GOOGLE_SCOPES: &[&str] = &[
    "calendar",
    "calendar.events",
    "calendar.readonly",
    "calendar.events.readonly",
    "contacts",
    "contacts.readonly",
    "userinfo.email",
    "userinfo.profile",
    "openid",
    "email",
    "profile",
];

const SALESFORCE_SCOPES: &[&str] = &[
    "api",
    "refresh_token",
    "offline_access",
    "id",
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "web",
    "full",
    "chatter_api",
    "custom_permissions",
];

/// A scope in the form the catalogues use: trimmed, lower case, without the provider's resource
/// prefix (`https://graph.microsoft.com/Calendars.ReadWrite` → `calendars.readwrite`).
pub(crate) fn normalize(provider: &str, scope: &str) -> String {
    let lower = scope.trim().to_ascii_lowercase();
    let prefix = match provider {
        GRAPH => Some(GRAPH_PREFIX),
        EWS => Some(EWS_PREFIX),
        GOOGLE => Some(GOOGLE_PREFIX),
        _ => None,
    };
    match prefix.and_then(|p| lower.strip_prefix(p)) {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => lower,
    }
}

/// Why a scope is never allowed for `provider`, if it is one of those.
pub(crate) fn forbidden(provider: &str, scope: &str) -> Option<&'static str> {
    let s = normalize(provider, scope);
    match provider {
        GRAPH if s.starts_with("mail.") => {
            Some("mail scopes are never allowed: Tandem syncs contacts and calendars, not mail")
        }
        GOOGLE if s == "https://mail.google.com/" || s.starts_with("gmail.") => {
            Some("Gmail scopes are never allowed: Tandem syncs contacts and calendars, not mail")
        }
        _ => None,
    }
}

/// Whether `provider` has a scope catalogue, and if so whether `scope` is in it. `None` for
/// providers the policy knows nothing about (their scopes are taken as written).
pub(crate) fn is_known(provider: &str, scope: &str) -> Option<bool> {
    let catalogue = match provider {
        GRAPH => GRAPH_SCOPES,
        EWS => EWS_SCOPES,
        GOOGLE => GOOGLE_SCOPES,
        SALESFORCE => SALESFORCE_SCOPES,
        _ => return None,
    };
    let s = normalize(provider, scope);
    Some(catalogue.contains(&s.as_str()))
}

/// Hosts of Microsoft's cloud: an endpoint on one of these (or a subdomain) is not on premises.
const MICROSOFT_CLOUD: &[&str] = &["office365.com", "outlook.office365.com", "microsoft.com", "microsoftonline.com"];

/// Whether `host` belongs to Microsoft's cloud (so NTLM, an on-premises method, is refused).
pub(crate) fn is_microsoft_cloud(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    MICROSOFT_CLOUD.iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_normalise_and_mail_is_forbidden() {
        assert_eq!(normalize(GRAPH, "https://graph.microsoft.com/Calendars.ReadWrite"), "calendars.readwrite");
        assert_eq!(normalize(GRAPH, "https://graph.microsoft.com/.default"), ".default");
        assert_eq!(is_known(GRAPH, "Contacts.ReadWrite"), Some(true));
        assert_eq!(is_known(GRAPH, "Calendar.ReadWrite"), Some(false));
        assert_eq!(is_known("memory", "whatever"), None);
        assert!(forbidden(GRAPH, "Mail.Read").is_some());
        assert!(forbidden(GRAPH, "https://graph.microsoft.com/Mail.Send").is_some());
        assert!(forbidden(GRAPH, "MailboxSettings.Read").is_none());
        assert!(forbidden(GOOGLE, "https://www.googleapis.com/auth/gmail.readonly").is_some());
        assert!(forbidden(GOOGLE, "https://mail.google.com/").is_some());
    }

    #[test]
    fn microsoft_cloud_hosts() {
        assert!(is_microsoft_cloud("outlook.office365.com"));
        assert!(is_microsoft_cloud("graph.microsoft.com"));
        assert!(is_microsoft_cloud("login.microsoftonline.com"));
        assert!(!is_microsoft_cloud("mail.contoso.com"));
        assert!(!is_microsoft_cloud("notmicrosoft.com"));
        assert!(!is_microsoft_cloud("127.0.0.1"));
    }
}
