//! Writing content lines: folded at 75 octets, never inside a UTF-8 character, CRLF-terminated.

use super::escape::escape;

/// Writes content lines: folded at 75 octets, never inside a UTF-8 character, CRLF-terminated.
#[derive(Debug, Default)]
pub(crate) struct ContentWriter {
    out: String,
    /// The line being written, before it is folded into `out`: one buffer for every line (a
    /// `String` per line was a tenth of writing an event).
    line: String,
}

impl ContentWriter {
    /// Writes `NAME;K=V;...:value`. Parameter values and `value` must already be encoded.
    pub(crate) fn line(&mut self, name: &str, params: &[(&str, String)], value: &str) {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
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
        self.line = line;
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
