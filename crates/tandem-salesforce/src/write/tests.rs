//! Tests of the write helpers: per-record errors on the taxonomy and idempotency key checks.

use tandem_core::state::IdempotencyKey;

use super::settle::item_error;
use super::*;
use crate::api::SfError;

fn err(code: &str, fields: &[&str]) -> Vec<SfError> {
    vec![SfError {
        code: code.to_owned(),
        message: "m".to_owned(),
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    }]
}

#[test]
fn item_errors_map_onto_the_taxonomy() {
    assert_eq!(item_error(&err("ENTITY_IS_DELETED", &[]), true), ConnectorError::NotFound);
    assert_eq!(item_error(&err("INVALID_CROSS_REFERENCE_KEY", &["id"]), true), ConnectorError::NotFound);
    assert!(matches!(
        item_error(&err("INVALID_CROSS_REFERENCE_KEY", &["WhoId"]), true),
        ConnectorError::Rejected { .. }
    ));
    assert!(matches!(item_error(&err("REQUEST_LIMIT_EXCEEDED", &[]), false), ConnectorError::Throttled { .. }));
    assert!(matches!(item_error(&err("UNABLE_TO_LOCK_ROW", &[]), false), ConnectorError::Transient { .. }));
    match item_error(&err("STRING_TOO_LONG", &["LastName"]), false) {
        ConnectorError::Rejected { code, message } => {
            assert_eq!(code, "STRING_TOO_LONG");
            assert!(message.contains("LastName"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn keys_are_checked() {
    assert!(check_key(&IdempotencyKey("tdm0123abc".into())).is_ok());
    assert!(check_key(&IdempotencyKey("x' OR Id != '".into())).is_err());
    assert!(check_key(&IdempotencyKey::from(String::new())).is_err());
}
