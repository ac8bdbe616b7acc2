//! placeholder (the security policy).
