//! Parameter values: RFC 6868 decoding, and encoding with quotes where needed.

use super::SENTINEL;

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
