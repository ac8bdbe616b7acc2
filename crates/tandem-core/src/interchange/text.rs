//! Content-line plumbing shared by iCalendar and vCard: preparing text for the `ical` parser
//! (unfolding, structure checks, sentinels), reading its properties back, escaping, folding and
//! writing content lines.

use std::borrow::Cow;

use ical::parser::ParserError;
use ical::property::{Property, PropertyError};

use super::InterchangeError;

/// Marks the start or end of a value whose first colon or trailing white space `ical` would
/// otherwise eat. Removed from input beforehand and from every value afterwards.
pub(crate) const SENTINEL: char = '\u{FFFF}';

/// Which components a format has, and where they may stand.
pub(crate) struct Dialect {
    /// The outermost component: `VCALENDAR` or `VCARD`.
    pub(crate) root: &'static str,
    /// Components `ical` understands, each with the components it may appear in.
    pub(crate) known: &'static [(&'static str, &'static [&'static str])],
}

/// iCalendar as `ical::IcalParser` understands it.
pub(crate) const ICALENDAR: Dialect = Dialect {
    root: "VCALENDAR",
    known: &[
        ("VCALENDAR", &[]),
        ("VEVENT", &["VCALENDAR"]),
        ("VTODO", &["VCALENDAR"]),
        ("VJOURNAL", &["VCALENDAR"]),
        ("VFREEBUSY", &["VCALENDAR"]),
        ("VTIMEZONE", &["VCALENDAR"]),
        ("VALARM", &["VCALENDAR", "VEVENT", "VTODO"]),
        ("STANDARD", &["VTIMEZONE"]),
        ("DAYLIGHT", &["VTIMEZONE"]),
    ],
};

/// vCard as `ical::VcardParser` understands it.
pub(crate) const VCARD: Dialect = Dialect { root: "VCARD", known: &[("VCARD", &[])] };

/// Text ready for the `ical` parser: one logical line per physical line, checked structure.
pub(crate) struct Prepared {
    /// The content lines, joined with `\n`.
    pub(crate) text: String,
    /// For each line of `text`, the 1-based physical line of the input where it started.
    lines: Vec<usize>,
}

impl Prepared {
    /// Translates an `ical` error, pointing at the caller's line where `ical` says which one.
    pub(crate) fn error(&self, err: ParserError) -> InterchangeError {
        let line = match &err {
            ParserError::PropertyError(p) => {
                let n = match p {
                    PropertyError::MissingName { line }
                    | PropertyError::MissingClosingQuote { line }
                    | PropertyError::MissingDelimiter { line, .. }
                    | PropertyError::MissingContentAfter { line, .. }
                    | PropertyError::MissingParamKey { line } => *line,
                };
                n.checked_sub(1).and_then(|i| self.lines.get(i)).copied()
            }
            _ => None,
        };
        let message = match err {
            // The property error's own text has `ical`'s line number in it, which is not ours.
            ParserError::PropertyError(p) => match p {
                PropertyError::MissingName { .. } => "missing property name".to_owned(),
                PropertyError::MissingClosingQuote { .. } => "missing closing quote".to_owned(),
                PropertyError::MissingDelimiter { delimiter, .. } => {
                    format!("missing {delimiter:?}")
                }
                PropertyError::MissingContentAfter { letter, .. } => {
                    format!("missing content after {letter:?}")
                }
                PropertyError::MissingParamKey { .. } => "missing parameter name".to_owned(),
            },
            other => other.to_string(),
        };
        InterchangeError::Parse { line, message }
    }
}

/// Runs one of `ical`'s parsers to its first error, with a panic contained
/// ([`crate::guard::contain`]): the text is checked beforehand ([`prepare`]), but the parser is
/// third-party code reading untrusted input.
pub(crate) fn contained_parse<T>(
    parser: impl Iterator<Item = Result<T, ParserError>>,
) -> Result<Vec<Result<T, ParserError>>, InterchangeError> {
    crate::guard::contain("the ical parser", || {
        let mut out = Vec::new();
        for item in parser {
            let failed = item.is_err();
            out.push(item);
            if failed {
                break;
            }
        }
        out
    })
    .map_err(|e| InterchangeError::Parse { line: None, message: e.to_string() })
}

/// Where the name ends and the value starts in a content line, mirroring how `ical` splits it.
pub(crate) struct LineParts {
    /// Byte index of the end of the property name.
    pub(crate) name_end: usize,
    /// Byte index of the first byte of the value (just after the colon).
    pub(crate) value_start: usize,
}

/// Splits a content line into name, parameters and value; `None` when it is not one.
pub(crate) fn split_content_line(line: &str) -> Option<LineParts> {
    #[derive(Clone, Copy)]
    enum State {
        Name,
        Key,
        ValueStart,
        Quoted,
        AfterQuote,
        Unquoted,
    }
    let mut state = State::Name;
    let mut name_end = None;
    for (i, c) in line.char_indices() {
        state = match (state, c) {
            (State::Name, ':') => {
                return (i > 0).then_some(LineParts { name_end: i, value_start: i + 1 });
            }
            (State::Name, ';') => {
                if i == 0 {
                    return None;
                }
                name_end = Some(i);
                State::Key
            }
            (State::Name, _) => State::Name,
            (State::Key, '=') => State::ValueStart,
            (State::Key, _) => State::Key,
            (State::ValueStart, '"') => State::Quoted,
            (State::Quoted, '"') => State::AfterQuote,
            (State::Quoted, _) => State::Quoted,
            (State::ValueStart | State::AfterQuote | State::Unquoted, ',') => State::ValueStart,
            (State::ValueStart | State::AfterQuote | State::Unquoted, ';') => State::Key,
            (State::ValueStart | State::AfterQuote | State::Unquoted, ':') => {
                return name_end.map(|name_end| LineParts { name_end, value_start: i + 1 });
            }
            (State::ValueStart | State::AfterQuote | State::Unquoted, _) => State::Unquoted,
        };
    }
    None
}

/// Unfolds `input` per RFC 5545 §3.1: a line break followed by one space or tab continues the
/// previous line. Line breaks are CRLF, LF, or a lone CR (old Mac files), so that no value can
/// hold a raw CR. Blank lines are dropped and leading white space is trimmed. Each logical line
/// comes with the 1-based physical line where it started.
pub(crate) fn unfold(input: &str) -> Vec<(usize, String)> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (index, raw) in input.split("\r\n").flat_map(|l| l.split(['\r', '\n'])).enumerate() {
        let continued = raw.starts_with([' ', '\t']);
        match logical.last_mut() {
            // The first byte is an ASCII space or tab, so slicing after it is on a boundary.
            Some((_, last)) if continued => last.push_str(&raw[1..]),
            _ if raw.trim().is_empty() => {}
            _ => logical.push((index + 1, raw.trim_start().to_owned())),
        }
    }
    logical
}

/// Unfolds `input` per RFC 5545 §3.1, checks its component structure, drops components `ical`
/// does not know, and protects values from `ical`'s trimming. See the module documentation.
pub(crate) fn prepare(input: &str, dialect: &Dialect) -> Result<Prepared, InterchangeError> {
    let input: Cow<'_, str> =
        if input.contains(SENTINEL) { Cow::Owned(input.replace(SENTINEL, "")) } else { Cow::Borrowed(input) };
    let input = input.strip_prefix('\u{FEFF}').unwrap_or(&input);

    let logical = unfold(input);

    let mut text = String::with_capacity(input.len() + 16);
    let mut lines = Vec::with_capacity(logical.len());
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut skipping = 0usize;
    let parse_error = |line: usize, message: String| InterchangeError::Parse { line: Some(line), message };

    for (line_no, line) in &logical {
        let line_no = *line_no;
        let parts = split_content_line(line)
            .ok_or_else(|| parse_error(line_no, "expected a content line `NAME[;PARAM=...]:value`".to_owned()))?;
        let name = &line[..parts.name_end];
        let value = &line[parts.value_start..];
        let is_begin = name.eq_ignore_ascii_case("BEGIN");
        if is_begin || name.eq_ignore_ascii_case("END") {
            let component = value.trim().to_ascii_uppercase();
            if skipping > 0 {
                if is_begin {
                    skipping += 1;
                } else {
                    skipping -= 1;
                }
                continue;
            }
            if is_begin {
                let parent = stack.last().map(|(c, _)| c.as_str());
                match dialect.known.iter().find(|(c, _)| *c == component) {
                    _ if parent.is_none() && component != dialect.root => {
                        return Err(parse_error(
                            line_no,
                            format!("expected BEGIN:{}, found BEGIN:{component}", dialect.root),
                        ));
                    }
                    None => {
                        skipping = 1;
                        continue;
                    }
                    Some((_, parents)) => {
                        if let Some(parent) = parent
                            && !parents.contains(&parent)
                        {
                            return Err(parse_error(line_no, format!("{component} is not allowed inside {parent}")));
                        }
                    }
                }
                stack.push((component.clone(), line_no));
                text.push_str("BEGIN:");
            } else {
                match stack.pop() {
                    None => {
                        return Err(parse_error(line_no, format!("END:{component} without BEGIN")));
                    }
                    Some((open, open_line)) if open != component => {
                        return Err(parse_error(
                            line_no,
                            format!("END:{component} does not close BEGIN:{open} of line {open_line}"),
                        ));
                    }
                    Some(_) => {}
                }
                text.push_str("END:");
            }
            text.push_str(&component);
        } else {
            if skipping > 0 {
                continue;
            }
            if stack.is_empty() {
                return Err(parse_error(line_no, format!("property {name} outside of BEGIN:{}", dialect.root)));
            }
            text.push_str(&line[..parts.value_start]);
            if value.starts_with(':') {
                text.push(SENTINEL);
            }
            text.push_str(value);
            if value.ends_with(char::is_whitespace) {
                text.push(SENTINEL);
            }
        }
        text.push('\n');
        lines.push(line_no);
    }
    if let Some((open, open_line)) = stack.pop() {
        return Err(parse_error(open_line, format!("BEGIN:{open} is never closed")));
    }
    Ok(Prepared { text, lines })
}

/// A property as read by `ical`, with the sentinel removed and parameters decoded.
#[derive(Debug, Clone)]
pub(crate) struct Prop {
    /// The name as written, without a vCard group prefix.
    pub(crate) raw_name: String,
    /// The name upper-cased, without a vCard group prefix.
    pub(crate) name: String,
    /// The vCard group (`item1` in `item1.EMAIL`), upper-cased.
    pub(crate) group: Option<String>,
    /// Parameters: upper-cased key, RFC 6868-decoded values.
    params: Vec<(String, Vec<String>)>,
    /// The value as written: still escaped.
    pub(crate) value: String,
}

impl Prop {
    pub(crate) fn from_ical(p: &Property) -> Prop {
        let full = p.name.replace(SENTINEL, "");
        let (group, raw_name) = match full.rsplit_once('.') {
            Some((group, name)) => (Some(group.to_ascii_uppercase()), name.to_owned()),
            None => (None, full),
        };
        let params = p
            .params
            .iter()
            .flatten()
            .map(|(k, vs)| (k.replace(SENTINEL, "").to_ascii_uppercase(), vs.iter().map(|v| decode_param(v)).collect()))
            .collect();
        Prop {
            name: raw_name.to_ascii_uppercase(),
            raw_name,
            group,
            params,
            value: p.value.as_deref().unwrap_or_default().replace(SENTINEL, ""),
        }
    }

    /// The first parameter `key`, its values joined with commas (as `ical` splits unquoted
    /// values on them).
    pub(crate) fn param(&self, key: &str) -> Option<String> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, vs)| vs.join(","))
    }

    /// Every value of every parameter `key`, split on commas, trimmed and lower-cased: for
    /// `TYPE=WORK,VOICE;TYPE=pref` that is `work`, `voice`, `pref`.
    pub(crate) fn tokens(&self, key: &str) -> Vec<String> {
        self.params
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, vs)| vs.iter())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// The value as text, unescaped.
    pub(crate) fn text(&self) -> String {
        unescape(&self.value)
    }

    /// The value as text, or `None` when empty.
    pub(crate) fn text_opt(&self) -> Option<String> {
        Some(self.text()).filter(|t| !t.is_empty())
    }
}

/// Reads all of `ical`'s properties.
pub(crate) fn props(properties: &[Property]) -> Vec<Prop> {
    properties.iter().map(Prop::from_ical).collect()
}

/// Decodes RFC 5545 / RFC 6350 text escapes: `\\`, `\;`, `\,`, `\n` / `\N`; also the common
/// but non-standard `\:`. Other backslashes are kept as written.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(e @ ('\\' | ';' | ',' | ':')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Splits an escaped value on `sep` where it is not escaped, and unescapes each part.
pub(crate) fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            current.push(c);
            if let Some(next) = chars.next() {
                current.push(next);
            }
        } else if c == sep {
            parts.push(unescape(&current));
            current.clear();
        } else {
            current.push(c);
        }
    }
    parts.push(unescape(&current));
    parts
}

/// Escapes text for a TEXT value: `\` `;` `,` and line breaks.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            c => out.push(c),
        }
    }
    out
}

/// Decodes RFC 6868 parameter escapes: `^n` newline, `^'` double quote, `^^` caret.
pub(crate) fn decode_param(s: &str) -> String {
    let s = s.replace(SENTINEL, "");
    if !s.contains('^') {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '^' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some('\'') => out.push('"'),
            Some('^') => out.push('^'),
            Some(other) => {
                out.push('^');
                out.push(other);
            }
            None => out.push('^'),
        }
    }
    out
}

/// Encodes a free-text parameter value: RFC 6868 for `^`, `"` and line breaks, and double
/// quotes when it holds `;`, `:` or `,`.
pub(crate) fn param_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '^' => out.push_str("^^"),
            '"' => out.push_str("^'"),
            '\n' => out.push_str("^n"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("^n");
            }
            c => out.push(c),
        }
    }
    if out.contains([';', ':', ',']) { format!("\"{out}\"") } else { out }
}

/// Percent-encodes a custom field name for use in a property name: ASCII letters, digits, `-`
/// and `_` stay, every other byte becomes `%XX`.
pub(crate) fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`encode_name`]; malformed escapes are kept as written.
pub(crate) fn decode_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes content lines: folded at 75 octets, never inside a UTF-8 character, CRLF-terminated.
#[derive(Debug, Default)]
pub(crate) struct ContentWriter {
    out: String,
}

impl ContentWriter {
    /// Writes `NAME;K=V;...:value`. Parameter values and `value` must already be encoded.
    pub(crate) fn line(&mut self, name: &str, params: &[(&str, String)], value: &str) {
        let mut line = String::with_capacity(name.len() + value.len() + 16);
        line.push_str(name);
        for (k, v) in params {
            line.push(';');
            line.push_str(k);
            line.push('=');
            line.push_str(v);
        }
        line.push(':');
        // Raw values (dates, rules, ids) must not break the line either.
        if value.contains(['\r', '\n']) {
            line.push_str(&value.replace(['\r', '\n'], " "));
        } else {
            line.push_str(value);
        }
        self.fold(&line);
    }

    /// Writes a TEXT property, escaping `value`.
    pub(crate) fn text(&mut self, name: &str, params: &[(&str, String)], value: &str) {
        self.line(name, params, &escape(value));
    }

    fn fold(&mut self, line: &str) {
        const FIRST: usize = 75;
        const NEXT: usize = 74; // plus the leading space
        let mut rest = line;
        let mut first = true;
        loop {
            let limit = if first { FIRST } else { NEXT };
            if !first {
                self.out.push(' ');
            }
            if rest.len() <= limit {
                self.out.push_str(rest);
                self.out.push_str("\r\n");
                return;
            }
            let mut cut = limit;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            self.out.push_str(&rest[..cut]);
            self.out.push_str("\r\n");
            rest = &rest[cut..];
            first = false;
        }
    }

    /// The text written so far.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn first_event_props(text: &str) -> Vec<Prop> {
        let prepared = prepare(text, &ICALENDAR).unwrap();
        let cal = ical::IcalParser::new(prepared.text.as_bytes()).next().unwrap().unwrap();
        props(&cal.events[0].properties)
    }

    fn summary(text: &str) -> String {
        first_event_props(text).iter().find(|p| p.name == "SUMMARY").unwrap().text()
    }

    #[test]
    fn unescape_decodes_rfc_escapes() {
        assert_eq!(unescape(r"a\, b\; c\\ d\nline\Nx\:y"), "a, b; c\\ d\nline\nx:y");
        assert_eq!(unescape(r"C:\temp\x"), r"C:\temp\x");
        assert_eq!(unescape("trailing\\"), "trailing\\");
    }

    #[test]
    fn split_respects_escaped_separators() {
        assert_eq!(split_unescaped(r"Doe\;Smith;John;;", ';'), vec!["Doe;Smith", "John", "", ""]);
        assert_eq!(split_unescaped(r"a\\;b", ';'), vec!["a\\", "b"]);
        assert_eq!(split_unescaped(r"one,two\,three", ','), vec!["one", "two,three"]);
    }

    #[test]
    fn escape_round_trips() {
        for s in ["plain", "a,b;c\\d\ne", "\\n literal", "ends with \\", "crlf\r\nlone\r"] {
            let back = unescape(&escape(s));
            assert_eq!(back, s.replace("\r\n", "\n").replace('\r', "\n"));
        }
    }

    /// `ical` 0.11 does not unescape text; canary for the day it starts to (then `text()` would
    /// unescape twice).
    #[test]
    fn gap_ical_does_not_unescape() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:a\\, b\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let raw = ical::IcalParser::new(text.as_bytes()).next().unwrap().unwrap();
        assert_eq!(raw.events[0].properties[0].value.as_deref(), Some("a\\, b"));
        assert_eq!(summary(text), "a, b");
    }

    /// `ical` 0.11 drops a space that stands right before a fold; we unfold first.
    #[test]
    fn gap_space_before_fold_is_kept() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Hello \r\n world\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let raw = ical::IcalParser::new(text.as_bytes()).next().unwrap().unwrap();
        assert_eq!(raw.events[0].properties[0].value.as_deref(), Some("Helloworld"));
        assert_eq!(summary(text), "Hello world");
        // A tab continuation, and a fold inside a multi-byte character's neighbourhood.
        let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Caf\n\té  Zoë \nEND:VEVENT\nEND:VCALENDAR\n";
        assert_eq!(summary(text), "Café  Zoë ");
    }

    /// `ical` 0.11 trims trailing white space and eats leading colons of values.
    #[test]
    fn gap_trailing_space_and_leading_colon_are_kept() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY;LANGUAGE=en::-) \r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let raw = ical::IcalParser::new(text.as_bytes()).next().unwrap().unwrap();
        assert_eq!(raw.events[0].properties[0].value.as_deref(), Some("-)"));
        assert_eq!(summary(text), ":-) ");
    }

    /// `ical` 0.11 rejects lower-case component names and unknown components; we normalise and
    /// drop them.
    #[test]
    fn gap_component_names() {
        let text = "begin:vcalendar\nbegin:vevent\nBEGIN:X-THING\nFOO:bar\nBEGIN:VEVENT\nEND:VEVENT\nEND:X-THING\n\
                    SUMMARY:s\nend:vevent\nBEGIN:VAVAILABILITY\nEND:VAVAILABILITY\nend:vcalendar\n";
        assert!(ical::IcalParser::new(text.as_bytes()).next().unwrap().is_err());
        assert_eq!(summary(text), "s");
    }

    #[test]
    fn structure_errors_carry_lines() {
        let cases = [
            ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\n", 3),
            ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VEVENT\n", 1),
            ("SUMMARY:x\n", 1),
            ("BEGIN:VCALENDAR\n\nno colon here\nEND:VCALENDAR\n", 3),
            ("BEGIN:VCALENDAR\nBEGIN:STANDARD\nEND:STANDARD\nEND:VCALENDAR\n", 2),
            ("BEGIN:VCARD\nEND:VCARD\n", 1),
            ("END:VCALENDAR\n", 1),
        ];
        for (text, line) in cases {
            match prepare(text, &ICALENDAR) {
                Err(InterchangeError::Parse { line: l, .. }) => {
                    assert_eq!(l, Some(line), "{text:?}")
                }
                other => panic!("{text:?}: {:?}", other.map(|p| p.text)),
            }
        }
    }

    #[test]
    fn ical_property_errors_map_to_input_lines() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n\r\nSUMMARY:x\r\n  continued\r\nATTENDEE;CN\r\n =x:mailto:a\r\nX-A;=b:c\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let prepared = prepare(text, &ICALENDAR).unwrap();
        let err = ical::IcalParser::new(prepared.text.as_bytes()).next().unwrap().unwrap_err();
        assert_eq!(
            prepared.error(err),
            InterchangeError::Parse { line: Some(8), message: "missing parameter name".into() }
        );
    }

    #[test]
    fn folding_is_by_octets_and_keeps_characters_whole() {
        let mut w = ContentWriter::default();
        let long = "é".repeat(100) + &"x".repeat(100) + &"東".repeat(50);
        w.text("DESCRIPTION", &[], &long);
        let out = w.finish();
        for line in out.split_terminator("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        }
        assert!(out.ends_with("\r\n"));
        assert!(!out.replace("\r\n", "").contains('\n'));
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("DESCRIPTION:{long}\r\n"));
    }

    #[test]
    fn param_values_are_quoted_and_rfc6868_encoded() {
        assert_eq!(param_value("Europe/Berlin"), "Europe/Berlin");
        assert_eq!(param_value("Doe, John"), "\"Doe, John\"");
        assert_eq!(param_value("say \"hi\"^\nbye"), "say ^'hi^'^^^nbye");
        assert_eq!(decode_param("say ^'hi^'^^^nbye"), "say \"hi\"^\nbye");
        assert_eq!(decode_param("a^b"), "a^b");
    }

    #[test]
    fn names_encode_reversibly() {
        for name in ["Region__c", "Kunden Nr.", "ümlaut", "%", "a.b:c;d", ""] {
            let enc = encode_name(name);
            assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_%".contains(&b)), "{enc}");
            assert_eq!(decode_name(&enc), name);
        }
        assert_eq!(decode_name("%zz%4"), "%zz%4");
    }
}
