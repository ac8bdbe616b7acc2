//! Test-only RSA keys and certificates (see `fixtures/keys/README.md`): they protect nothing and
//! exist so fake token endpoints can verify real signatures.

/// PEM of the test RSA private key (PKCS#8).
pub const TEST_RSA_KEY_PEM: &str = include_str!("../fixtures/keys/test-rsa-key.pem");
/// PEM of the self-signed certificate for [`TEST_RSA_KEY_PEM`].
pub const TEST_RSA_CERT_PEM: &str = include_str!("../fixtures/keys/test-rsa-cert.pem");
/// PEM of a second, unrelated private key, for "signed with the wrong key" tests.
pub const OTHER_RSA_KEY_PEM: &str = include_str!("../fixtures/keys/other-rsa-key.pem");
/// PEM of the certificate for [`OTHER_RSA_KEY_PEM`].
pub const OTHER_RSA_CERT_PEM: &str = include_str!("../fixtures/keys/other-rsa-cert.pem");
