//! A small namespace-aware element tree over quick-xml: enough to read SOAP requests and to keep
//! item properties as the client sent them, and to write them back out.

use std::fmt::Write as _;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// The SOAP 1.1 envelope namespace.
pub(crate) const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// EWS types.
pub(crate) const NS_T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
/// EWS messages.
pub(crate) const NS_M: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// EWS SOAP fault details.
pub(crate) const NS_E: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

/// Deepest nesting accepted (a request deeper than this is rejected, not recursed into).
const MAX_DEPTH: usize = 64;

/// One element: its namespace and local name, attributes (local names), children and text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Element {
    pub(crate) ns: String,
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) children: Vec<Element>,
    pub(crate) text: String,
}

/// A parse failure: what went wrong and roughly where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) message: String,
    pub(crate) position: u64,
}

impl Element {
    /// A new element in the types namespace.
    pub(crate) fn t(name: &str) -> Element {
        Element { ns: NS_T.to_owned(), name: name.to_owned(), ..Element::default() }
    }

    /// With text.
    pub(crate) fn with_text(mut self, text: impl Into<String>) -> Element {
        self.text = text.into();
        self
    }

    /// The first child with local name `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with local name `name`.
    pub(crate) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The path of children `a/b/c`.
    pub(crate) fn path(&self, path: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for p in path {
            cur = cur.child(p)?;
        }
        Some(cur)
    }

    /// The value of attribute `name`.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The trimmed text of child `name`.
    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// Writes this element (prefix `t:` for the types namespace, `m:` for messages).
    pub(crate) fn write(&self, out: &mut String) {
        let prefix = prefix_of(&self.ns);
        let _ = write!(out, "<{prefix}{}", self.name);
        for (n, v) in &self.attrs {
            let _ = write!(out, " {n}=\"{}\"", escape(v));
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        out.push_str(&escape(&self.text));
        for c in &self.children {
            c.write(out);
        }
        let _ = write!(out, "</{prefix}{}>", self.name);
    }

    /// This element as a string.
    pub(crate) fn to_xml(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

fn prefix_of(ns: &str) -> &'static str {
    match ns {
        NS_T => "t:",
        NS_M => "m:",
        NS_SOAP => "s:",
        _ => "t:",
    }
}

/// XML-escapes text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

struct Open {
    element: Element,
    /// Prefix → namespace declared on this element.
    scope: Vec<(String, String)>,
    prefix: String,
}

fn lookup(stack: &[Open], own: &[(String, String)], prefix: &str) -> Option<String> {
    own.iter()
        .rev()
        .chain(stack.iter().rev().flat_map(|o| o.scope.iter().rev()))
        .find(|(p, _)| p == prefix)
        .map(|(_, ns)| ns.clone())
}

fn open(stack: &[Open], start: &BytesStart<'_>) -> Result<Open, String> {
    let qname = start.name().as_ref().to_owned();
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (p.to_owned(), l.to_owned()),
        None => (String::new(), qname.clone()),
    };
    let mut scope = Vec::new();
    let mut attrs = Vec::new();
    let mut raw_attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        let key = attr.key.as_ref().to_owned();
        let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| e.to_string())?.into_owned();
        if key == "xmlns" {
            scope.push((String::new(), value));
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            scope.push((p.to_owned(), value));
        } else {
            raw_attrs.push((key, value));
        }
    }
    for (key, value) in raw_attrs {
        match key.split_once(':') {
            // xml:lang, xsi:type and friends: kept under their local name.
            Some((_, l)) => attrs.push((l.to_owned(), value)),
            None => attrs.push((key, value)),
        }
    }
    let ns = match lookup(stack, &scope, &prefix) {
        Some(ns) => ns,
        None if prefix.is_empty() => String::new(),
        None => return Err(format!("The namespace prefix '{prefix}' is not defined.")),
    };
    Ok(Open { element: Element { ns, name: local, attrs, children: Vec::new(), text: String::new() }, scope, prefix })
}

/// Parses a whole document into its root element. Rejects anything not well-formed.
pub(crate) fn parse(input: &str) -> Result<Element, ParseError> {
    let mut reader = Reader::from_str(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Element> = None;
    let err = |reader: &Reader<&[u8]>, message: String| ParseError { message, position: reader.buffer_position() };
    loop {
        let event = reader.read_event().map_err(|e| err(&reader, e.to_string()))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(err(&reader, "There are multiple root elements.".to_owned()));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(&reader, "The document is nested too deeply.".to_owned()));
                }
                let o = open(&stack, &start).map_err(|m| err(&reader, m))?;
                stack.push(o);
            }
            Event::Empty(start) => {
                let o = open(&stack, &start).map_err(|m| err(&reader, m))?;
                match stack.last_mut() {
                    Some(parent) => parent.element.children.push(o.element),
                    None => root = Some(o.element),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(err(&reader, "Unexpected end tag.".to_owned()));
                };
                let _ = done.prefix;
                match stack.last_mut() {
                    Some(parent) => parent.element.children.push(done.element),
                    None => root = Some(done.element),
                }
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                match stack.last_mut() {
                    Some(o) => o.element.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(err(&reader, "Data at the root level is invalid.".to_owned())),
                }
            }
            Event::CData(data) => {
                let content = data.xml10_content();
                match stack.last_mut() {
                    Some(o) => o.element.text.push_str(&content),
                    None => return Err(err(&reader, "Data at the root level is invalid.".to_owned())),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(err(&reader, "Invalid character reference.".to_owned())),
                    }
                } else {
                    let name: &str = r.as_ref();
                    match name {
                        "amp" => "&".to_owned(),
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        other => return Err(err(&reader, format!("Reference to undeclared entity '{other}'."))),
                    }
                };
                match stack.last_mut() {
                    Some(o) => o.element.text.push_str(&resolved),
                    None => return Err(err(&reader, "Data at the root level is invalid.".to_owned())),
                }
            }
            Event::DocType(_) => return Err(err(&reader, "DTD is prohibited in this XML document.".to_owned())),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(err(&reader, "Unexpected end of file while parsing.".to_owned()));
    }
    root.ok_or_else(|| err(&reader, "Root element is missing.".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_and_entities() {
        let doc = parse(
            r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body><t:A x="1">a &amp; &#x42;</t:A></s:Body></s:Envelope>"#,
        );
        let doc = match doc {
            Ok(d) => d,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(doc.ns, NS_SOAP);
        let a = doc.path(&["Body", "A"]).cloned().unwrap_or_default();
        assert_eq!(a.ns, NS_T);
        assert_eq!(a.text, "a & B");
        assert_eq!(a.attr("x"), Some("1"));
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>").is_err());
        assert!(parse("<x:a/>").is_err());
        assert!(parse("").is_err());
    }
}
