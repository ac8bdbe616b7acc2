//! Record filters: small serialisable predicates over the canonical model.
//!
//! ```
//! use tandem_core::filter::Filter;
//! let f: Filter = serde_json::from_str(
//!     r#"{"all": [{"field": "emails", "op": "is_set"}, {"not": {"field": "company", "op": "equals", "value": "ACME"}}]}"#,
//! ).unwrap();
//! # let _ = f;
//! ```

use serde::{Deserialize, Serialize};

use crate::fields::{FieldKey, FieldValue};
use crate::model::Record;

/// A comparison applied to one field's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// The field has a value.
    IsSet,
    /// The field has no value.
    IsEmpty,
    /// Equal, case-insensitive.
    Equals,
    /// Contains, case-insensitive.
    Contains,
    /// Ends with, case-insensitive (for example an email domain).
    EndsWith,
}

/// A predicate over a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Filter {
    /// All of these hold.
    All {
        /// The predicates.
        all: Vec<Filter>,
    },
    /// Any of these holds.
    Any {
        /// The predicates.
        any: Vec<Filter>,
    },
    /// This does not hold.
    Not {
        /// The predicate.
        not: Box<Filter>,
    },
    /// A test on one field. For list fields (emails, phones, categories, attendees) the test holds
    /// when it holds for any entry.
    Field {
        /// The field.
        field: FieldKey,
        /// The comparison.
        op: FilterOp,
        /// The operand, for comparisons that take one.
        #[serde(default)]
        value: Option<String>,
    },
}

fn texts(value: &FieldValue) -> Vec<String> {
    match value {
        FieldValue::Text(t) => vec![t.clone()],
        FieldValue::List(l) => l.clone(),
        FieldValue::Emails(e) => e.iter().map(|e| e.address.clone()).collect(),
        FieldValue::Attendees(a) => a.iter().map(|a| a.email.clone()).collect(),
        FieldValue::Person(p) => vec![p.email.clone()],
        FieldValue::CrmLinks(l) => l.iter().map(|l| l.id.clone()).collect(),
        FieldValue::Date(d) => vec![d.to_string()],
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.get("value").map(|v| v.to_string().trim_matches('"').to_owned()))
            .into_iter()
            .collect(),
    }
}

impl Filter {
    /// Whether `record` passes.
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            Filter::All { all } => all.iter().all(|f| f.matches(record)),
            Filter::Any { any } => any.iter().any(|f| f.matches(record)),
            Filter::Not { not } => !not.matches(record),
            Filter::Field { field, op, value } => {
                let current = record.get(field);
                let operand = value.as_deref().unwrap_or("").to_lowercase();
                match op {
                    FilterOp::IsSet => current.is_some(),
                    FilterOp::IsEmpty => current.is_none(),
                    FilterOp::Equals | FilterOp::Contains | FilterOp::EndsWith => {
                        current.map(|v| texts(&v)).unwrap_or_default().iter().map(|t| t.to_lowercase()).any(
                            |t| match op {
                                FilterOp::Equals => t == operand,
                                FilterOp::Contains => t.contains(&operand),
                                _ => t.ends_with(&operand),
                            },
                        )
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddressKind, Contact, EmailAddress};

    fn contact(email: &str, company: Option<&str>) -> Record {
        Record::Contact(Contact {
            emails: vec![EmailAddress { kind: AddressKind::Work, address: email.into() }],
            company: company.map(str::to_owned),
            ..Contact::default()
        })
    }

    #[test]
    fn filters_compose_and_ignore_case() {
        let f: Filter = serde_json::from_str(
            r#"{"all": [{"field": "emails", "op": "ends_with", "value": "@Example.com"},
                        {"not": {"field": "company", "op": "equals", "value": "acme"}}]}"#,
        )
        .unwrap();
        assert!(f.matches(&contact("a@example.COM", Some("Globex"))));
        assert!(!f.matches(&contact("a@example.com", Some("ACME"))));
        assert!(!f.matches(&contact("a@other.com", None)));
        let any: Filter = serde_json::from_str(r#"{"any": [{"field": "company", "op": "is_empty"}]}"#).unwrap();
        assert!(any.matches(&contact("x@y", None)));
    }
}
