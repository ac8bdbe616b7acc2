//! Finding the first byte of a few kinds in text, eight bytes at a time: the planner scans every
//! text field of every record it reads twice (validation looks for control characters, printing
//! for what JSON escapes), and most fields are a few dozen bytes, too short for vector
//! instructions and long enough that a byte-by-byte loop is most of the cost.
//!
//! A word of eight bytes is tested with the classic bit tricks (Sean Anderson's "Bit Twiddling
//! Hacks": `haszero`, `hasless`), which tell exactly whether any byte of the word is of a kind;
//! only a word that holds one is looked at byte by byte. Safe code, no `unsafe`, no dependency.

/// `0x01` in every byte.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);

/// `0x80` in every byte.
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// What to look for: some bytes below a bound, and up to three exact values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Special {
    /// Every byte below this (at most 128) is special.
    pub(crate) below: u8,
    /// And these exact values (repeat one to look for fewer).
    pub(crate) equal: [u8; 3],
}

impl Special {
    /// Whether `b` is special.
    #[inline]
    fn byte(&self, b: u8) -> bool {
        b < self.below || b == self.equal[0] || b == self.equal[1] || b == self.equal[2]
    }

    /// Whether any byte of the little-endian word `x` is special: exact, as the tricks are
    /// exact about whether (not where) a byte qualifies.
    #[inline]
    fn word(&self, x: u64) -> bool {
        let less = x.wrapping_sub(ONES.wrapping_mul(u64::from(self.below))) & !x & HIGHS;
        let equal = self.equal.iter().fold(0, |found, b| {
            let y = x ^ ONES.wrapping_mul(u64::from(*b));
            found | (y.wrapping_sub(ONES) & !y & HIGHS)
        });
        (less | equal) != 0
    }

    /// A byte that is not special, to fill the last word with: one of four high bytes (never
    /// below `below`, at most 128), one of which is not among the three `equal`.
    #[inline]
    fn filler(&self) -> u8 {
        [0xFF, 0xFE, 0xFD, 0xFC].into_iter().find(|b| !self.equal.contains(b)).unwrap_or(0xFF)
    }

    /// The position of the first special byte of `bytes`.
    #[inline]
    pub(crate) fn first_in(&self, bytes: &[u8]) -> Option<usize> {
        let (words, tail) = bytes.as_chunks::<8>();
        for (i, word) in words.iter().enumerate() {
            if self.word(u64::from_le_bytes(*word)) {
                return word.iter().position(|b| self.byte(*b)).map(|at| i * 8 + at);
            }
        }
        // The last bytes as one more word, filled up with a byte that is not special.
        let mut last = [self.filler(); 8];
        last.iter_mut().zip(tail).for_each(|(to, b)| *to = *b);
        if !self.word(u64::from_le_bytes(last)) {
            return None;
        }
        tail.iter().position(|b| self.byte(*b)).map(|at| words.len() * 8 + at)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::Special;

    proptest! {
        /// Word by word finds what a byte-by-byte search finds, for any bound up to 128, any
        /// three values and any bytes (lengths across several words and tails).
        #[test]
        fn finds_what_a_byte_search_finds(
            below in 0u8..=128,
            equal in proptest::array::uniform3(any::<u8>()),
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            sparse in proptest::collection::vec(prop_oneof![9 => 0x20u8..0x7F, 1 => any::<u8>()], 0..40),
        ) {
            let special = Special { below, equal };
            for bytes in [&bytes, &sparse] {
                let expected = bytes.iter().position(|b| *b < below || equal.contains(b));
                prop_assert_eq!(special.first_in(bytes), expected);
            }
        }
    }

    #[test]
    fn every_single_special_byte_in_every_place_is_found() {
        let special = Special { below: 0x20, equal: [b'"', b'\\', 0xC2] };
        for len in 1..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let expected = (b < 0x20 || b == b'"' || b == b'\\' || b == 0xC2).then_some(at);
                    assert_eq!(special.first_in(&bytes), expected, "{b:#x} at {at} of {len}");
                }
            }
        }
    }
}
