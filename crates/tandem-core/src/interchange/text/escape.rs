//! TEXT value escapes (RFC 5545 / RFC 6350): unescaping, splitting on unescaped separators,
//! escaping.

use crate::byte_scan::Special;

/// Decodes RFC 5545 / RFC 6350 text escapes: `\\`, `\;`, `\,`, `\n` / `\N`; also the common
/// but non-standard `\:`. Other backslashes are kept as written. The text between backslashes is
/// copied in runs.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(next) = after.chars().next() else {
            out.push('\\');
            return out;
        };
        match next {
            'n' | 'N' => out.push('\n'),
            '\\' | ';' | ',' | ':' => out.push(next),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
        rest = &after[next.len_utf8()..];
    }
    out.push_str(rest);
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

/// The bytes [`escape`] may change: `\` `;` `,`, and every byte below 14 (line breaks among
/// them; the other control bytes are copied as they are).
const TO_ESCAPE: Special = Special { below: 14, equal: [b'\\', b';', b','] };

/// Escapes text for a TEXT value: `\` `;` `,` and line breaks. Runs of text with nothing to
/// escape are copied whole, found eight bytes at a time.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(at) = TO_ESCAPE.first_in(rest.as_bytes()) {
        // Every byte `TO_ESCAPE` finds is ASCII, so `at` and `at + 1` are on boundaries.
        out.push_str(&rest[..at]);
        let mut next = at + 1;
        match rest.as_bytes()[at] {
            b'\\' => out.push_str("\\\\"),
            b';' => out.push_str("\\;"),
            b',' => out.push_str("\\,"),
            b'\n' => out.push_str("\\n"),
            b'\r' => {
                if rest.as_bytes().get(next) == Some(&b'\n') {
                    next += 1;
                }
                out.push_str("\\n");
            }
            _ => out.push_str(&rest[at..next]),
        }
        rest = &rest[next..];
    }
    out.push_str(rest);
    out
}
