//! HTTP plumbing.
