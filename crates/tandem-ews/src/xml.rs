//! SOAP 1.1 envelopes for EWS: building requests with quick-xml's writer (every value and
//! attribute escaped by the writer, never by string concatenation) and parsing responses into a
//! small bounded tree, then into typed response messages and [`ConnectorError`]s.

use std::borrow::Cow;
use std::time::Duration;

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use tandem_connector::ConnectorError;

/// The SOAP 1.1 envelope namespace.
pub(crate) const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// EWS types (`t:`).
pub(crate) const NS_TYPES: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
/// EWS messages (`m:`).
pub(crate) const NS_MESSAGES: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";

/// Deepest element nesting accepted in a response (EWS answers nest about 12 deep).
const MAX_DEPTH: usize = 64;
/// Most elements accepted in one response.
const MAX_ELEMENTS: usize = 1_000_000;

/// One element of a parsed response: local name (prefix dropped), attributes by local name,
/// children and the concatenated text directly inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The local name, e.g. `ResponseCode`.
    pub name: String,
    /// Attributes by local name.
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Text content directly inside this element.
    pub text: String,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at `path` (child names, one per level).
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, name| e.child(name))
    }

    /// The text of the child `name`, when present and not empty.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str()).filter(|t| !t.is_empty())
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first descendant (depth first, self included) named `name`.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The body is larger than the configured maximum.
    #[error("response body of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not well-formed XML (or not UTF-8, or with a DTD or an unknown entity).
    #[error("response is not well-formed XML: {0}")]
    Malformed(String),
    /// Nested deeper or with more elements than accepted.
    #[error("response is nested too deeply or has too many elements")]
    TooComplex,
    /// Well-formed but not the shape expected.
    #[error("unexpected response shape: {0}")]
    Shape(String),
}

impl From<XmlError> for ConnectorError {
    fn from(e: XmlError) -> Self {
        ConnectorError::Transient { message: format!("EWS: {e}") }
    }
}

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.to_owned(),
    }
}

/// Parses `body` into a tree, refusing bodies over `max_bytes`, DTDs, unknown entities and
/// anything not well-formed. Never panics.
///
/// # Errors
///
/// [`XmlError`] saying why.
pub fn parse(body: &[u8], max_bytes: usize) -> Result<Element, XmlError> {
    if body.len() > max_bytes {
        return Err(XmlError::TooLarge { size: body.len(), max: max_bytes });
    }
    let text = std::str::from_utf8(body).map_err(|e| XmlError::Malformed(format!("not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let malformed = |e: quick_xml::Error| XmlError::Malformed(e.to_string());
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(XmlError::Malformed("content after the root element".to_owned()));
            }
            Event::Start(start) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(XmlError::TooComplex);
                }
                stack.push(element_of(&start)?);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooComplex);
                }
                let e = element_of(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| XmlError::Malformed("unbalanced end tag".to_owned()))?;
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
                    None => return Err(XmlError::Malformed("text outside the root element".to_owned())),
                }
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&content);
                }
            }
            Event::GeneralRef(r) => {
                let ch: Cow<'_, str> = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => Cow::Owned(c.to_string()),
                        _ => return Err(XmlError::Malformed("invalid character reference".to_owned())),
                    }
                } else {
                    match &*r {
                        "lt" => Cow::Borrowed("<"),
                        "gt" => Cow::Borrowed(">"),
                        "amp" => Cow::Borrowed("&"),
                        "apos" => Cow::Borrowed("'"),
                        "quot" => Cow::Borrowed("\""),
                        _ => return Err(XmlError::Malformed("unknown entity reference".to_owned())),
                    }
                };
                match stack.last_mut() {
                    Some(e) => e.text.push_str(&ch),
                    None => return Err(XmlError::Malformed("reference outside the root element".to_owned())),
                }
            }
            Event::DocType(_) => return Err(XmlError::Malformed("DTDs are refused".to_owned())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("unexpected end of document".to_owned()));
    }
    root.ok_or_else(|| XmlError::Malformed("empty document".to_owned()))
}

fn element_of(start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::Malformed(e.to_string()))?;
        let key = local(attr.key.as_ref());
        if attr.key.as_ref().starts_with("xmlns") {
            continue;
        }
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element { name: local(start.name().as_ref()), attrs, children: Vec::new(), text: String::new() })
}

/// Writes XML into a buffer; every text and attribute value is escaped by quick-xml.
pub struct XmlWriter {
    inner: Writer<Vec<u8>>,
}

impl Default for XmlWriter {
    fn default() -> Self {
        XmlWriter::new()
    }
}

// Writing into a `Vec<u8>` cannot fail; the io::Result quick-xml returns is dropped on purpose.
impl XmlWriter {
    /// An empty document.
    pub fn new() -> Self {
        XmlWriter { inner: Writer::new(Vec::new()) }
    }

    fn event<'a>(&mut self, e: impl Into<Event<'a>>) {
        let _ = self.inner.write_event(e);
    }

    /// `<name attrs…>`.
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Start(BytesStart::new(name).with_attributes(attrs.iter().copied())));
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// `<name attrs…/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Empty(BytesStart::new(name).with_attributes(attrs.iter().copied())));
    }

    /// `<name>text</name>`, the text escaped.
    pub fn text(&mut self, name: &str, text: &str) {
        self.open(name, &[]);
        self.event(Event::Text(BytesText::new(text)));
        self.close(name);
    }

    /// `<name attrs…>text</name>`, the text escaped.
    pub fn text_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.open(name, attrs);
        self.event(Event::Text(BytesText::new(text)));
        self.close(name);
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.inner.into_inner()
    }
}

/// What goes in every request's SOAP header.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    /// `RequestServerVersion/@Version`.
    pub version: &'a str,
    /// The impersonated mailbox, when impersonating.
    pub impersonate: Option<&'a str>,
}

/// A whole SOAP envelope with `body` writing the operation element.
pub fn envelope(header: &Header<'_>, body: impl FnOnce(&mut XmlWriter)) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
    w.open("soap:Envelope", &[("xmlns:soap", NS_SOAP), ("xmlns:t", NS_TYPES), ("xmlns:m", NS_MESSAGES)]);
    w.open("soap:Header", &[]);
    w.empty("t:RequestServerVersion", &[("Version", header.version)]);
    if let Some(smtp) = header.impersonate {
        w.open("t:ExchangeImpersonation", &[]);
        w.open("t:ConnectingSID", &[]);
        w.text("t:PrimarySmtpAddress", smtp);
        w.close("t:ConnectingSID");
        w.close("t:ExchangeImpersonation");
    }
    w.close("soap:Header");
    w.open("soap:Body", &[]);
    body(&mut w);
    w.close("soap:Body");
    w.close("soap:Envelope");
    w.into_bytes()
}

/// One `*ResponseMessage` of a response: one per item or folder of the request, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMessage {
    /// `Success`, `Warning` or `Error`.
    pub class: String,
    /// `NoError` or the error code.
    pub code: String,
    /// `MessageText`.
    pub text: String,
    /// `BackOffMilliseconds` from `MessageXml`, for `ErrorServerBusy`.
    pub back_off: Option<Duration>,
    /// The whole message element.
    pub element: Element,
}

impl ResponseMessage {
    /// The error this message reports, `None` on success (warnings count as success).
    pub fn error(&self) -> Option<ConnectorError> {
        if self.class != "Error" && (self.code.is_empty() || self.code == "NoError") {
            return None;
        }
        Some(map_code(&self.code, &self.text, self.back_off))
    }
}

/// Maps an EWS `ResponseCode` onto the taxonomy.
pub fn map_code(code: &str, text: &str, back_off: Option<Duration>) -> ConnectorError {
    let message = format!("{code}: {text}");
    match code {
        "ErrorServerBusy" | "ErrorTooManyObjectsOpened" | "ErrorExceededConnectionCount" | "ErrorTimeoutExpired" => {
            ConnectorError::Throttled { retry_after: back_off }
        }
        "ErrorInvalidSyncStateData" | "ErrorSyncFolderNotFound" => ConnectorError::CursorExpired,
        "ErrorIrresolvableConflict" | "ErrorStaleObject" | "ErrorChangeKeyRequiredForWriteOperations" => {
            ConnectorError::PreconditionFailed { current: None }
        }
        "ErrorItemNotFound"
        | "ErrorFolderNotFound"
        | "ErrorInvalidIdMalformed"
        | "ErrorInvalidIdNotAnItemAttachmentId" => ConnectorError::NotFound,
        "ErrorImpersonateUserDenied"
        | "ErrorImpersonationDenied"
        | "ErrorImpersonationFailed"
        | "ErrorAccessDenied"
        | "ErrorNonExistentMailbox"
        | "ErrorMailboxConfiguration" => ConnectorError::Auth { refreshable: false, message },
        "ErrorInternalServerError"
        | "ErrorInternalServerTransientError"
        | "ErrorMailboxMoveInProgress"
        | "ErrorMailboxStoreUnavailable"
        | "ErrorConnectionFailed"
        | "ErrorBatchProcessingStopped" => ConnectorError::Transient { message },
        _ => ConnectorError::Rejected { code: code.to_owned(), message: text.to_owned() },
    }
}

fn back_off_of(message: &Element) -> Option<Duration> {
    let xml = message.child("MessageXml")?;
    let value = xml.children.iter().find(|v| v.name == "Value" && v.attr("Name") == Some("BackOffMilliseconds"))?;
    value.text.trim().parse::<u64>().ok().map(Duration::from_millis)
}

/// The SOAP body's single child (the operation's response element), or the error a SOAP
/// Fault says.
///
/// # Errors
///
/// A fault mapped onto the taxonomy (`ErrorServerBusy` → throttled, schema errors → rejected,
/// others transient), or [`XmlError::Shape`] as transient.
pub fn body_of(root: &Element) -> Result<&Element, ConnectorError> {
    if root.name != "Envelope" {
        return Err(XmlError::Shape(format!("root element is `{}`, not a SOAP Envelope", root.name)).into());
    }
    let body = root.child("Body").ok_or_else(|| XmlError::Shape("no SOAP Body".to_owned()))?;
    if let Some(fault) = body.child("Fault") {
        return Err(fault_error(fault));
    }
    body.children.first().ok_or_else(|| XmlError::Shape("empty SOAP Body".to_owned()).into())
}

fn fault_error(fault: &Element) -> ConnectorError {
    let faultcode = fault.text_of("faultcode").unwrap_or_default();
    let faultstring = fault.text_of("faultstring").unwrap_or_default().to_owned();
    let detail = fault.child("detail");
    let code = detail
        .and_then(|d| d.text_of("ResponseCode"))
        .map(str::to_owned)
        .unwrap_or_else(|| faultcode.rsplit(':').next().unwrap_or_default().to_owned());
    let back_off = detail.and_then(back_off_of);
    match code.as_str() {
        "ErrorSchemaValidation" | "ErrorInvalidRequest" | "ErrorInvalidServerVersion" => {
            ConnectorError::Rejected { code, message: faultstring }
        }
        "" | "Client" | "Server" => ConnectorError::Transient { message: format!("SOAP fault: {faultstring}") },
        _ => map_code(&code, &faultstring, back_off),
    }
}

/// The `*ResponseMessage`s of an operation's response, in order.
///
/// # Errors
///
/// As [`body_of`], and a missing `ResponseMessages` as transient.
pub fn messages(root: &Element) -> Result<Vec<ResponseMessage>, ConnectorError> {
    let response = body_of(root)?;
    let list = response.child("ResponseMessages").ok_or_else(|| XmlError::Shape("no ResponseMessages".to_owned()))?;
    Ok(list
        .children
        .iter()
        .map(|m| ResponseMessage {
            class: m.attr("ResponseClass").unwrap_or_default().to_owned(),
            code: m.text_of("ResponseCode").unwrap_or_default().to_owned(),
            text: m.text_of("MessageText").unwrap_or_default().to_owned(),
            back_off: back_off_of(m),
            element: m.clone(),
        })
        .collect())
}

/// Parses a whole response: size bound, well-formedness, fault, messages.
///
/// # Errors
///
/// As [`parse`] (transient) and [`messages`].
pub fn parse_messages(body: &[u8], max_bytes: usize) -> Result<Vec<ResponseMessage>, ConnectorError> {
    let root = parse(body, max_bytes)?;
    messages(&root)
}

/// The one message of a single-request response, or its error.
///
/// # Errors
///
/// The message's error, or a shape error when there is not exactly one.
pub fn single(messages: Vec<ResponseMessage>) -> Result<ResponseMessage, ConnectorError> {
    let mut it = messages.into_iter();
    match (it.next(), it.next()) {
        (Some(m), None) => match m.error() {
            Some(e) => Err(e),
            None => Ok(m),
        },
        _ => Err(XmlError::Shape("expected exactly one response message".to_owned()).into()),
    }
}

/// The first error among `messages` that concerns the whole call (throttling, auth), which
/// should fail the call rather than the item.
pub fn call_level_error(messages: &[ResponseMessage]) -> Option<ConnectorError> {
    messages.iter().filter_map(ResponseMessage::error).find(|e| {
        matches!(e, ConnectorError::Throttled { .. } | ConnectorError::Auth { .. } | ConnectorError::CursorExpired)
    })
}
