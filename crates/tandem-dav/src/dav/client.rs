//! The connector's HTTP side: credentials on every request ([`DavAuth`]), which URLs the
//! server may send Tandem to (the base URL's origin and the configured extra origins only),
//! hrefs to URLs and back, and the WebDAV requests (`PROPFIND`, `REPORT`, `PUT`, `DELETE`)
//! through the shared [`HttpClient`] (endpoint checks, rate limits, retries).

use base64::Engine as _;
use http::{HeaderValue, Method};
use tandem_connector::ConnectorError;
use tandem_connector::http::{HttpClient, RequestSpec, Response};
use url::Url;

use super::config::DavAuth;
use super::error::DavError;
use super::xml::{self, Multistatus};

/// `text/calendar` bodies.
pub(crate) const CALENDAR_TYPE: &str = "text/calendar; charset=utf-8";
/// `text/vcard` bodies.
pub(crate) const VCARD_TYPE: &str = "text/vcard; charset=utf-8";
const XML_TYPE: &str = "application/xml; charset=utf-8";

/// The precondition of a `PUT`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Precondition<'a> {
    /// `If-None-Match: *`: only if nothing is there (a create).
    Absent,
    /// `If-Match: <etag>`.
    Matches(&'a str),
    /// None.
    Unconditional,
}

/// Sends WebDAV requests for one account.
pub(crate) struct DavHttp {
    pub(crate) http: HttpClient,
    auth: DavAuth,
    base: Url,
    origins: Vec<url::Origin>,
}

impl DavHttp {
    /// Requests to `base` (and `extra` origins) with `auth`.
    pub(crate) fn new(http: HttpClient, auth: DavAuth, base: Url, extra: &[Url]) -> Self {
        let mut origins = vec![base.origin()];
        origins.extend(extra.iter().map(Url::origin));
        DavHttp { http, auth, base, origins }
    }

    /// The base URL.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// The URL of `href` (a path, or an absolute URL on an allowed origin), resolved against
    /// `against`.
    pub(crate) fn url(&self, against: &Url, href: &str) -> Result<Url, DavError> {
        let url = against.join(href.trim()).map_err(|e| DavError::Url { message: format!("href: {e}") })?;
        if !self.origins.contains(&url.origin()) {
            return Err(DavError::Url {
                message: format!(
                    "the server points to `{}`, another origin than the base URL; list it in extra_origins to allow it",
                    url.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    /// The canonical href of a URL: its path (the record id), plus the origin when it is not
    /// the base URL's.
    pub(crate) fn href(&self, url: &Url) -> String {
        let path = normalize_path(url.path());
        if url.origin() == self.base.origin() { path } else { format!("{}{path}", url.origin().ascii_serialization()) }
    }

    /// The canonical href of an href the server sent (`against` the request's URL).
    pub(crate) fn canonical(&self, against: &Url, href: &str) -> Result<String, DavError> {
        Ok(self.href(&self.url(against, href)?))
    }

    fn request(&self, method: Method, url: Url) -> RequestSpec {
        let req = RequestSpec::new(method, url).template("DAV");
        match &self.auth {
            DavAuth::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
                req.header("Authorization", value)
            }
            DavAuth::Bearer { token } => req.header("Authorization", format!("Bearer {}", token.expose())),
        }
    }

    fn method(name: &'static str) -> Method {
        Method::from_bytes(name.as_bytes()).unwrap_or(Method::GET)
    }

    /// Sends a read (`PROPFIND`/`REPORT`: safe, so retried like a `GET`) and returns the
    /// answer whatever its status; credentials refused are mapped to `Auth`.
    pub(crate) async fn read(
        &self,
        method: &'static str,
        url: &Url,
        depth: &str,
        body: Vec<u8>,
    ) -> Result<Response, ConnectorError> {
        let req = self
            .request(Self::method(method), url.clone())
            .header("Depth", depth)
            .body(body, HeaderValue::from_static(XML_TYPE))
            .with_idempotency_key();
        let response = self.http.send_unmapped(req).await?;
        match response.status().as_u16() {
            401 | 403 if !xml::error_names(response.body(), "valid-sync-token") => Err(response
                .error()
                .unwrap_or(ConnectorError::Auth { refreshable: false, message: "DAV: access refused".to_owned() })),
            _ => Ok(response),
        }
    }

    /// `PROPFIND` of `props` at `url` with `depth`: the multistatus.
    pub(crate) async fn propfind(&self, url: &Url, depth: &str, props: &[&str]) -> Result<Multistatus, ConnectorError> {
        let response = self.read("PROPFIND", url, depth, xml::propfind(props)).await?;
        let response = response.error_for_status()?;
        Ok(xml::multistatus(response.body())?)
    }

    /// A `REPORT` expected to answer 207: the multistatus.
    pub(crate) async fn report(&self, url: &Url, depth: &str, body: Vec<u8>) -> Result<Multistatus, ConnectorError> {
        let response = self.read("REPORT", url, depth, body).await?.error_for_status()?;
        Ok(xml::multistatus(response.body())?)
    }

    /// `PUT` of a body under a precondition; the answer whatever its status.
    pub(crate) async fn put(
        &self,
        url: &Url,
        body: String,
        content_type: &'static str,
        precondition: Precondition<'_>,
    ) -> Result<Response, ConnectorError> {
        let mut req = self.request(Method::PUT, url.clone()).body(body, HeaderValue::from_static(content_type));
        req = match precondition {
            Precondition::Absent => req.header("If-None-Match", "*"),
            Precondition::Matches(etag) => req.header("If-Match", etag),
            Precondition::Unconditional => req,
        };
        self.http.send_unmapped(req).await
    }

    /// `DELETE`, with `If-Match` when an etag is given; the answer whatever its status.
    pub(crate) async fn delete(&self, url: &Url, etag: Option<&str>) -> Result<Response, ConnectorError> {
        let mut req = self.request(Method::DELETE, url.clone());
        if let Some(etag) = etag {
            req = req.header("If-Match", etag);
        }
        self.http.send_unmapped(req).await
    }
}

/// One spelling per path: percent-escapes decoded, then every byte outside RFC 3986's
/// unreserved characters, sub-delimiters, `:`, `@` and `/` encoded (upper-case hex), so that
/// `a@b.ics` and `a%40b.ics` from two answers are the same record.
fn normalize_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                decoded.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for b in decoded {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tandem_connector::http::Secret;

    #[test]
    fn hrefs_stay_on_allowed_origins() {
        let base = Url::parse("https://dav.example.com/dav/").unwrap();
        let extra = Url::parse("https://p01.example.net").unwrap();
        let auth = DavAuth::Bearer { token: Secret::new("t") };
        let h = DavHttp::new(HttpClient::with_defaults().unwrap(), auth, base.clone(), &[extra]);
        assert_eq!(h.canonical(&base, "/dav/cal/a%20b.ics").unwrap(), "/dav/cal/a%20b.ics");
        assert_eq!(h.canonical(&base, "https://dav.example.com/x/").unwrap(), "/x/");
        assert_eq!(h.canonical(&base, "https://p01.example.net/h/").unwrap(), "https://p01.example.net/h/");
        assert!(h.canonical(&base, "https://evil.example/h/").is_err());
        assert!(h.canonical(&base, "http://dav.example.com/h/").is_err());
        assert_eq!(h.canonical(&base, "/c/a@b%2ec%20d.ics").unwrap(), h.canonical(&base, "/c/a%40b.c d.ics").unwrap());
    }
}
