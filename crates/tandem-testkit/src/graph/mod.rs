//! The Microsoft Graph fake (placeholder).
