//! WebDAV XML through quick-xml: the request bodies Tandem sends (`PROPFIND`, the
//! `sync-collection` and `*-multiget` `REPORT`s), written with quick-xml's writer (every value
//! escaped by it, never by string building), and a namespace-aware, bounded reader of the
//! answers (`multistatus`, `error`) into a small tree.

use std::borrow::Cow;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, Writer};

use super::error::DavError;

/// `DAV:`.
pub(crate) const NS_DAV: &str = "DAV:";
/// CalDAV, RFC 4791.
pub(crate) const NS_CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// CardDAV, RFC 6352.
pub(crate) const NS_CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// Apple's calendarserver namespace (`getctag`).
pub(crate) const NS_CS: &str = "http://calendarserver.org/ns/";

/// Deepest element nesting accepted in an answer.
const MAX_DEPTH: usize = 64;
/// Most elements accepted in one answer.
const MAX_ELEMENTS: usize = 2_000_000;

/// One element of a parsed answer: namespace, local name, children and direct text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    /// The namespace URI (empty when unbound).
    pub(crate) ns: String,
    /// The local name.
    pub(crate) name: String,
    /// Attributes by local name.
    pub(crate) attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub(crate) children: Vec<Element>,
    /// Text directly inside.
    pub(crate) text: String,
}

impl Element {
    /// Whether this element is `{ns}name`.
    pub(crate) fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The first child `{ns}name`.
    pub(crate) fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// Every child `{ns}name`.
    pub(crate) fn children_named<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// The trimmed text of the child `{ns}name`, when present and not empty.
    pub(crate) fn text_of(&self, ns: &str, name: &str) -> Option<&str> {
        self.child(ns, name).map(|c| c.text.trim()).filter(|t| !t.is_empty())
    }

    /// An attribute by local name.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether a descendant (self included) is `{ns}name`.
    pub(crate) fn contains(&self, ns: &str, name: &str) -> bool {
        self.is(ns, name) || self.children.iter().any(|c| c.contains(ns, name))
    }
}

fn malformed(message: impl Into<String>) -> DavError {
    DavError::Xml { message: message.into() }
}

fn namespace_of(resolved: &ResolveResult<'_>) -> String {
    match resolved {
        ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
        _ => String::new(),
    }
}

/// Parses an answer into a tree. Refuses DTDs, unknown entities, bodies nested too deeply and
/// anything not well-formed; never panics.
pub(crate) fn parse(body: &[u8]) -> Result<Element, DavError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("the answer is not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(|e| malformed(e.to_string()))?;
        let ns = namespace_of(&resolved);
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(malformed("content after the root element"));
            }
            Event::Start(start) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(malformed("nested too deeply or too many elements"));
                }
                stack.push(element_of(ns, &start)?);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(malformed("too many elements"));
                }
                let e = element_of(ns, &start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(e) => e.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(malformed("text outside the root element")),
                }
            }
            Event::CData(c) => {
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let ch: Cow<'_, str> = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => Cow::Owned(c.to_string()),
                        _ => return Err(malformed("invalid character reference")),
                    }
                } else {
                    match &*r {
                        "lt" => Cow::Borrowed("<"),
                        "gt" => Cow::Borrowed(">"),
                        "amp" => Cow::Borrowed("&"),
                        "apos" => Cow::Borrowed("'"),
                        "quot" => Cow::Borrowed("\""),
                        _ => return Err(malformed("unknown entity reference")),
                    }
                };
                match stack.last_mut() {
                    Some(e) => e.text.push_str(&ch),
                    None => return Err(malformed("reference outside the root element")),
                }
            }
            Event::DocType(_) => return Err(malformed("DTDs are refused")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unexpected end of document"));
    }
    root.ok_or_else(|| malformed("empty document"))
}

fn element_of(ns: String, start: &BytesStart<'_>) -> Result<Element, DavError> {
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| malformed(e.to_string()))?;
        let key = attr.key.as_ref();
        if key.starts_with("xmlns") {
            continue;
        }
        let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| malformed(e.to_string()))?;
        attrs.push((attr.key.local_name().as_ref().to_owned(), value.into_owned()));
    }
    let name = start.local_name().as_ref().to_owned();
    Ok(Element { ns, name, attrs, children: Vec::new(), text: String::new() })
}

/// Writes a request body; every text and attribute value is escaped by quick-xml.
pub(crate) struct XmlWriter {
    inner: Writer<Vec<u8>>,
}

// Writing into a `Vec<u8>` cannot fail; the io::Result quick-xml returns is dropped on purpose.
impl XmlWriter {
    /// A document with its XML declaration.
    pub(crate) fn new() -> Self {
        let mut w = XmlWriter { inner: Writer::new(Vec::new()) };
        w.event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
        w
    }

    fn event<'a>(&mut self, e: impl Into<Event<'a>>) {
        let _ = self.inner.write_event(e);
    }

    /// `<name attrs…>`.
    pub(crate) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Start(BytesStart::new(name).with_attributes(attrs.iter().copied())));
    }

    /// `</name>`.
    pub(crate) fn close(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// `<name/>`.
    pub(crate) fn empty(&mut self, name: &str) {
        self.event(Event::Empty(BytesStart::new(name)));
    }

    /// `<name>text</name>`, the text escaped.
    pub(crate) fn text(&mut self, name: &str, text: &str) {
        self.open(name, &[]);
        self.event(Event::Text(BytesText::new(text)));
        self.close(name);
    }

    /// The document.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.inner.into_inner()
    }
}

/// The namespace declarations every request uses: `d:` DAV, `c:` CalDAV, `a:` CardDAV, `cs:`
/// calendarserver.
const XMLNS: [(&str, &str); 4] =
    [("xmlns:d", NS_DAV), ("xmlns:c", NS_CALDAV), ("xmlns:a", NS_CARDDAV), ("xmlns:cs", NS_CS)];

/// `PROPFIND` asking for `props` (prefixed names such as `d:getetag`).
pub(crate) fn propfind(props: &[&str]) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.open("d:propfind", &XMLNS);
    w.open("d:prop", &[]);
    for p in props {
        w.empty(p);
    }
    w.close("d:prop");
    w.close("d:propfind");
    w.finish()
}

/// `sync-collection` (RFC 6578) from `token` (empty for the initial sync), level 1, asking for
/// etags, with an optional `DAV:limit`.
pub(crate) fn sync_collection(token: &str, limit: Option<u32>) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.open("d:sync-collection", &XMLNS);
    if token.is_empty() {
        w.empty("d:sync-token");
    } else {
        w.text("d:sync-token", token);
    }
    w.text("d:sync-level", "1");
    if let Some(n) = limit {
        w.open("d:limit", &[]);
        w.text("d:nresults", &n.to_string());
        w.close("d:limit");
    }
    w.open("d:prop", &[]);
    w.empty("d:getetag");
    w.close("d:prop");
    w.close("d:sync-collection");
    w.finish()
}

/// `calendar-multiget` (`calendar`) or `addressbook-multiget` of `hrefs`, asking for etags and
/// bodies.
pub(crate) fn multiget(calendar: bool, hrefs: &[String]) -> Vec<u8> {
    let (root, data) = if calendar {
        ("c:calendar-multiget", "c:calendar-data")
    } else {
        ("a:addressbook-multiget", "a:address-data")
    };
    let mut w = XmlWriter::new();
    w.open(root, &XMLNS);
    w.open("d:prop", &[]);
    w.empty("d:getetag");
    w.empty(data);
    w.close("d:prop");
    for href in hrefs {
        w.text("d:href", href);
    }
    w.close(root);
    w.finish()
}

/// One `DAV:response` of a multistatus: the href, the status of the whole response (when
/// given: a 404 of a deleted member, the 507 of a truncated sync), and the properties found
/// (those of a propstat with a 2xx status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DavResponse {
    /// The href, as sent.
    pub(crate) href: String,
    /// The response-level status code, when present.
    pub(crate) status: Option<u16>,
    /// The properties with a 2xx propstat.
    pub(crate) props: Vec<Element>,
}

impl DavResponse {
    /// The property `{ns}name`, when found.
    pub(crate) fn prop(&self, ns: &str, name: &str) -> Option<&Element> {
        self.props.iter().find(|p| p.is(ns, name))
    }

    /// The trimmed text of a property, when found and not empty.
    pub(crate) fn prop_text(&self, ns: &str, name: &str) -> Option<&str> {
        self.prop(ns, name).map(|p| p.text.trim()).filter(|t| !t.is_empty())
    }
}

/// A parsed `DAV:multistatus`: its responses and, for `sync-collection`, the new token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Multistatus {
    /// The responses in document order.
    pub(crate) responses: Vec<DavResponse>,
    /// The top-level `DAV:sync-token`, when present.
    pub(crate) sync_token: Option<String>,
}

/// The code of an HTTP status line such as `HTTP/1.1 404 Not Found`.
pub(crate) fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1).and_then(|c| c.parse().ok())
}

/// Parses a `DAV:multistatus` answer.
pub(crate) fn multistatus(body: &[u8]) -> Result<Multistatus, DavError> {
    let root = parse(body)?;
    if !root.is(NS_DAV, "multistatus") {
        return Err(malformed(format!("expected a DAV:multistatus, got `{}`", root.name)));
    }
    let mut responses = Vec::new();
    for r in root.children_named(NS_DAV, "response") {
        let Some(href) = r.text_of(NS_DAV, "href") else { continue };
        let status = r.text_of(NS_DAV, "status").and_then(status_code);
        let mut props = Vec::new();
        for ps in r.children_named(NS_DAV, "propstat") {
            let ok = ps.text_of(NS_DAV, "status").and_then(status_code).is_some_and(|c| (200..300).contains(&c));
            if let (true, Some(prop)) = (ok, ps.child(NS_DAV, "prop")) {
                props.extend(prop.children.iter().cloned());
            }
        }
        responses.push(DavResponse { href: href.to_owned(), status, props });
    }
    let sync_token = root.text_of(NS_DAV, "sync-token").map(str::to_owned);
    Ok(Multistatus { responses, sync_token })
}

/// The first precondition a `DAV:error` body names (its local name), if the body is one.
pub(crate) fn error_condition(body: &[u8]) -> Option<String> {
    let root = parse(body).ok()?;
    if !root.is(NS_DAV, "error") {
        return None;
    }
    root.children.iter().find(|c| !c.is(NS_DAV, "responsedescription")).map(|c| c.name.clone())
}

/// Whether an error body (`DAV:error`) names the precondition `{DAV:}name`.
pub(crate) fn error_names(body: &[u8], name: &str) -> bool {
    parse(body).is_ok_and(|e| e.is(NS_DAV, "error") && e.contains(NS_DAV, name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_escape_values() {
        let body = String::from_utf8(sync_collection("a<b&\"c", Some(5))).unwrap();
        assert!(body.contains("<d:sync-token>a&lt;b&amp;&quot;c</d:sync-token>"), "{body}");
        assert!(body.contains("<d:nresults>5</d:nresults>"));
        let m = String::from_utf8(multiget(false, &["/a b/<x>.vcf".to_owned()])).unwrap();
        assert!(m.contains("<d:href>/a b/&lt;x&gt;.vcf</d:href>") && m.contains("a:address-data"), "{m}");
        let root = parse(&multiget(true, &["/x".to_owned()])).unwrap();
        assert!(root.is(NS_CALDAV, "calendar-multiget"));
    }

    #[test]
    fn multistatus_with_prefixes_statuses_and_truncation() {
        let body = br#"<?xml version="1.0"?><ns0:multistatus xmlns:ns0="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
          <ns0:response><ns0:href>/c/a.ics</ns0:href><ns0:propstat><ns0:status>HTTP/1.1 200 OK</ns0:status>
            <ns0:prop><ns0:getetag>"e1"</ns0:getetag><C:calendar-data>BEGIN:VCALENDAR&#13;
X &amp; Y</C:calendar-data></ns0:prop></ns0:propstat>
            <ns0:propstat><ns0:status>HTTP/1.1 404 Not Found</ns0:status><ns0:prop><ns0:displayname/></ns0:prop></ns0:propstat></ns0:response>
          <ns0:response><ns0:href>/c/gone.ics</ns0:href><ns0:status>HTTP/1.1 404 Not Found</ns0:status></ns0:response>
          <ns0:response><ns0:href>/c/</ns0:href><ns0:status>HTTP/1.1 507 Insufficient Storage</ns0:status></ns0:response>
          <ns0:sync-token>tok-2</ns0:sync-token></ns0:multistatus>"#;
        let m = multistatus(body).unwrap();
        assert_eq!(m.sync_token.as_deref(), Some("tok-2"));
        assert_eq!(m.responses.len(), 3);
        assert_eq!(m.responses[0].prop_text(NS_DAV, "getetag"), Some("\"e1\""));
        assert!(m.responses[0].prop_text(NS_CALDAV, "calendar-data").unwrap().ends_with("X & Y"));
        assert!(m.responses[0].prop(NS_DAV, "displayname").is_none());
        assert_eq!((m.responses[1].status, m.responses[2].status), (Some(404), Some(507)));
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        for bad in [
            &b"<!DOCTYPE x [<!ENTITY a 'b'>]><multistatus xmlns='DAV:'/>"[..],
            b"<multistatus xmlns='DAV:'>&evil;</multistatus>",
            b"<a><b></a>",
            b"",
            b"\xff\xfe",
            b"<error xmlns='DAV:'/><x/>",
        ] {
            assert!(multistatus(bad).is_err());
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
        assert!(error_names(b"<e:error xmlns:e='DAV:'><e:valid-sync-token/></e:error>", "valid-sync-token"));
        assert!(!error_names(b"<error xmlns='other'><valid-sync-token/></error>", "valid-sync-token"));
        let uid = b"<d:error xmlns:d='DAV:' xmlns:c='urn:ietf:params:xml:ns:caldav'><c:no-uid-conflict><d:href>/x</d:href></c:no-uid-conflict></d:error>";
        assert_eq!(error_condition(uid).as_deref(), Some("no-uid-conflict"));
        assert_eq!(error_condition(b"Forbidden"), None);
    }
}
