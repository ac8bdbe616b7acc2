//! The Salesforce REST fake (placeholder).
