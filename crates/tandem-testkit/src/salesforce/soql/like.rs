//! Matching values against LIKE patterns.

/// Whether `value` matches a LIKE `pattern` (`%`, `_`, `\%`, `\_`; case-insensitive).
pub(crate) fn like(value: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Char(char),
    }
    let mut parts = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        parts.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Char(chars.next().unwrap_or('\\')),
            c => P::Char(c),
        });
    }
    let v: Vec<char> = value.chars().collect();
    fn go(p: &[P], v: &[char]) -> bool {
        match p.first() {
            None => v.is_empty(),
            Some(P::Any) => (0..=v.len()).any(|i| go(&p[1..], &v[i..])),
            Some(P::One) => !v.is_empty() && go(&p[1..], &v[1..]),
            Some(P::Char(c)) => {
                v.first().is_some_and(|x| x.to_lowercase().eq(c.to_lowercase())) && go(&p[1..], &v[1..])
            }
        }
    }
    go(&parts, &v)
}
