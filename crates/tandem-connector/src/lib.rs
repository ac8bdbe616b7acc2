//! # tandem-connector: the boundary between the engine and the providers
//!
//! placeholder
pub mod error;
#[cfg(feature = "http")]
pub mod http;
