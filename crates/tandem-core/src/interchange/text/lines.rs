//! Content lines: where the name ends and the value starts in one, and unfolding text into them
//! (RFC 5545 §3.1).

use std::borrow::Cow;

use crate::byte_scan::Special;

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
///
/// A line that continues on no other is borrowed from `input`; only folded lines are copied
/// (this runs for every item a folder or server sync reads, twice for a merge, and a copy per
/// line was a fifth of reading an event).
pub(crate) fn unfold(input: &str) -> Vec<(usize, Cow<'_, str>)> {
    let mut logical: Vec<(usize, Cow<'_, str>)> = Vec::with_capacity(input.len() / 32 + 1);
    for (index, raw) in physical_lines(input).enumerate() {
        let continued = raw.starts_with([' ', '\t']);
        match logical.last_mut() {
            // The first byte is an ASCII space or tab, so slicing after it is on a boundary.
            Some((_, last)) if continued => last.to_mut().push_str(&raw[1..]),
            _ if raw.trim().is_empty() => {}
            _ => logical.push((index + 1, Cow::Borrowed(raw.trim_start()))),
        }
    }
    logical
}

/// The physical lines of `input`, split at every CRLF, LF and lone CR (a CRLF is one break):
/// what `input.split("\r\n")` and then splitting each piece at `\r` and `\n` gives, found eight
/// bytes at a time.
fn physical_lines(input: &str) -> impl Iterator<Item = &str> {
    const BREAKS: Special = Special { below: 0, equal: [b'\r', b'\n', b'\n'] };
    let mut rest = Some(input);
    std::iter::from_fn(move || {
        let text = rest?;
        match BREAKS.first_in(text.as_bytes()) {
            Some(at) => {
                // CR and LF are ASCII, so `at` and the bytes after them are on boundaries.
                let skip = if text[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&text[at + skip..]);
                Some(&text[..at])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}
