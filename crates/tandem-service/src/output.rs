//! How commands print: for people (text) or for machines (`--json`: one JSON document on
//! standard output, or JSON lines where a command streams). Diagnostics and progress go to
//! standard error, so standard output stays parseable.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::exit::{Exit, Failure};

/// Where a command's results go.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of text.
    pub json: bool,
}

impl Output {
    /// Text or JSON.
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// Prints `value` as pretty JSON on standard output.
    ///
    /// # Errors
    ///
    /// [`Failure`] when it cannot be serialised or written.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Failure::new(Exit::Failure, format!("cannot serialise the output: {e}")))?;
        self.line(&text)
    }

    /// Prints one line (or block) of text on standard output.
    ///
    /// # Errors
    ///
    /// [`Failure`] when standard output is closed.
    pub fn line(&self, text: &str) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").and_then(|()| out.flush())?;
        Ok(())
    }

    /// Either `value` as JSON, or the text `human` builds.
    ///
    /// # Errors
    ///
    /// As [`json`](Self::json) and [`line`](Self::line).
    pub fn either<T: Serialize + ?Sized>(&self, value: &T, human: impl FnOnce() -> String) -> Result<(), Failure> {
        if self.json { self.json(value) } else { self.line(human().trim_end()) }
    }
}

/// Whether standard error is a terminal (progress bars only then; plain lines otherwise).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Whether standard input is a terminal (a question can be asked).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}
