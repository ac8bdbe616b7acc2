//! The secret type of the HTTP plumbing: `tandem_policy::Secret`, re-exported.
//!
//! One secret type for the whole of Tandem (passwords, client secrets, private keys, refresh
//! and access tokens): `Debug` prints `Secret(***)`, `Display` prints `***`, the bytes are zeroed
//! on drop, and [`Secret::expose`] is the one way to read it. See [`tandem_policy::Secret`].

pub use tandem_policy::Secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("CANARY");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "CANARY");
    }

    #[test]
    fn deserializes_from_a_string() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap_or_default();
        assert_eq!(s.expose(), "abc");
    }

    #[test]
    fn the_api_the_connectors_use_is_unchanged() {
        let a = Secret::from("token".to_owned());
        let b: Secret = "token".into();
        assert_eq!(a, b.clone());
        assert!(Secret::default().is_empty());
        assert!(!a.is_empty());
        fn takes(_: impl Into<Secret>) {}
        takes("x");
        takes(String::from("x"));
        takes(Secret::new("x"));
    }
}
