//! Which endpoints Tandem may talk to: `https://` anywhere, plain `http://` only to loopback.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::error::ConnectorError;

/// Checks that `url` is an endpoint Tandem may send requests (and credentials) to.
///
/// The rule: the scheme must be `https`, except that plain `http` is allowed to loopback hosts
/// (`127.0.0.0/8`, `::1` and the name `localhost`) so that tests and local fakes work without
/// certificates. URLs that embed credentials (`https://user:pass@host/`) are refused as well.
///
/// # Errors
///
/// [`ConnectorError::Config`] naming the rule that was broken. The message names the scheme and
/// host only, never the path or query (which may carry tokens).
pub fn check_endpoint(url: &Url) -> Result<(), ConnectorError> {
    let host = url.host_str().unwrap_or("");
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config(format!(
            "endpoint URLs must not embed credentials (user info in the URL for host `{host}`)"
        )));
    }
    match url.scheme() {
        "https" => match url.host() {
            Some(_) => Ok(()),
            None => Err(config("https:// endpoint URL has no host".to_owned())),
        },
        "http" if is_loopback(url.host()) => Ok(()),
        "http" => Err(config(format!(
            "plain http:// is only allowed to loopback hosts (127.0.0.0/8, ::1, localhost); \
             use https:// for host `{host}`"
        ))),
        other => Err(config(format!(
            "only https:// endpoints are allowed (http:// only to loopback hosts); \
             scheme `{other}` is refused"
        ))),
    }
}

/// Whether `host` is a loopback host in the sense of [`check_endpoint`].
fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => is_loopback_v4(ip),
        Some(Host::Ipv6(ip)) => is_loopback_v6(ip),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn is_loopback_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback()
}

fn is_loopback_v6(ip: Ipv6Addr) -> bool {
    ip.is_loopback()
}

fn config(message: String) -> ConnectorError {
    ConnectorError::Config { message }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<(), ConnectorError> {
        check_endpoint(&Url::parse(s).unwrap())
    }

    fn message(s: &str) -> String {
        match check(s) {
            Err(ConnectorError::Config { message }) => message,
            other => panic!("expected a config error for {s}, got {other:?}"),
        }
    }

    #[test]
    fn https_is_accepted() {
        assert!(check("https://graph.microsoft.com/v1.0/me").is_ok());
        assert!(check("https://login.salesforce.com:8443/services/oauth2/token").is_ok());
        assert!(check("https://127.0.0.1/x").is_ok());
    }

    #[test]
    fn http_to_loopback_is_accepted() {
        assert!(check("http://127.0.0.1:8080/x").is_ok());
        assert!(check("http://127.0.0.2/x").is_ok());
        assert!(check("http://127.255.255.254/x").is_ok());
        assert!(check("http://localhost:3000/").is_ok());
        assert!(check("http://LOCALHOST/").is_ok());
        assert!(check("http://[::1]:8080/x").is_ok());
    }

    #[test]
    fn http_elsewhere_is_refused() {
        for url in [
            "http://graph.microsoft.com/v1.0/me",
            "http://localhost.evil.com/",
            "http://evil.com/?x=localhost",
            "http://128.0.0.1/",
            "http://10.0.0.1/",
            "http://0.0.0.0/",
            "http://[::2]/",
            "http://[::ffff:8.8.8.8]/",
        ] {
            let msg = message(url);
            assert!(msg.contains("only allowed to loopback"), "{url}: {msg}");
        }
    }

    #[test]
    fn other_schemes_are_refused() {
        for url in ["ftp://127.0.0.1/file", "file:///etc/passwd", "ws://localhost/", "data:text/plain,hi"] {
            let msg = message(url);
            assert!(msg.contains("only https://"), "{url}: {msg}");
        }
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        let msg = message("https://alice:hunter2@example.com/");
        assert!(msg.contains("must not embed credentials"), "{msg}");
        assert!(!msg.contains("hunter2"));
    }

    #[test]
    fn the_message_never_contains_the_query() {
        let msg = message("http://example.com/path?access_token=CANARY");
        assert!(!msg.contains("CANARY"));
        assert!(!msg.contains("/path"));
    }
}
