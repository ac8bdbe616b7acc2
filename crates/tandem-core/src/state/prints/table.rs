//! How a [`FieldPrints`] stores its entries: one table of words, the fields' two-byte codes
//! four to a word (the first in the low bits, unused places zero), then one fingerprint per
//! field. One allocation per map, and the packed pair index's bytes read straight into it.

use super::FieldPrints;
use crate::fields::FieldKey;

/// Codes per word of a [`FieldPrints`] table.
const CODES_PER_WORD: usize = 4;

/// Words that hold the codes of `len` fields.
pub(super) fn code_words(len: usize) -> usize {
    len.div_ceil(CODES_PER_WORD)
}

/// The `i`th code of the code words `words` (zero past them, which no caller asks for).
pub(super) fn code_in(words: &[u64], i: usize) -> u16 {
    let word = words.get(i / CODES_PER_WORD).copied().unwrap_or(0);
    // Truncation intended: each code is sixteen bits of its word.
    (word >> (16 * (i % CODES_PER_WORD))) as u16
}

/// The codes of a table, in order.
#[derive(Debug, Clone)]
pub(super) struct Codes<'a> {
    pub(super) words: &'a [u64],
    pub(super) front: usize,
    pub(super) back: usize,
}

impl Iterator for Codes<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        (self.front < self.back).then(|| {
            self.front += 1;
            code_in(self.words, self.front - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Codes<'_> {
    fn next_back(&mut self) -> Option<u16> {
        (self.front < self.back).then(|| {
            self.back -= 1;
            code_in(self.words, self.back)
        })
    }
}

impl ExactSizeIterator for Codes<'_> {}

/// Fills a table entry by entry, sized for the entries expected (grown if more come).
pub(super) struct TableBuilder {
    words: Vec<u64>,
    capacity: usize,
    /// Where the prints start: `code_words(capacity)`.
    prints_at: usize,
    len: usize,
}

impl TableBuilder {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        let prints_at = code_words(capacity);
        TableBuilder { words: vec![0; prints_at + capacity], capacity, prints_at, len: 0 }
    }

    pub(super) fn push(&mut self, code: u16, print: u64) {
        if self.len == self.capacity {
            self.resize(self.capacity * 2 + CODES_PER_WORD);
        }
        self.words[self.len / CODES_PER_WORD] |= u64::from(code) << (16 * (self.len % CODES_PER_WORD));
        self.words[self.prints_at + self.len] = print;
        self.len += 1;
    }

    /// Entries pushed so far.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The entries pushed so far, `(code, print)` in the order pushed.
    pub(super) fn entries(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        let prints = &self.words[self.prints_at..][..self.len];
        (0..self.len).map(|i| code_in(&self.words, i)).zip(prints.iter().copied())
    }

    /// Moves the entries to a table sized for `capacity` (at least `len`).
    fn resize(&mut self, capacity: usize) {
        let mut words = vec![0; code_words(capacity) + capacity];
        let (old_codes, old_prints) = self.words.split_at(code_words(self.capacity));
        let used = code_words(self.len);
        words[..used].copy_from_slice(&old_codes[..used]);
        words[code_words(capacity)..][..self.len].copy_from_slice(&old_prints[..self.len]);
        self.words = words;
        self.capacity = capacity;
        self.prints_at = code_words(capacity);
    }

    pub(super) fn finish(mut self, named: Box<[FieldKey]>) -> FieldPrints {
        if self.len != self.capacity {
            self.resize(self.len);
        }
        FieldPrints { table: self.words.into_boxed_slice(), len: self.len, named }
    }
}
