//! Write errors on the taxonomy, and sObject collection answers mapped onto the writes they
//! were for.

use tandem_connector::{ConnectorError, WriteResult, Written};
use tandem_core::state::{RecordId, Version};

use crate::api::{ApiError, ItemResult, SfError};

pub(super) fn rejected(code: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::Rejected { code: code.to_owned(), message: message.into() }
}

/// A per-record error of a collection answer, on the taxonomy.
pub(super) fn item_error(errors: &[SfError], existing: bool) -> ConnectorError {
    let Some(first) = errors.first() else {
        return ConnectorError::Transient { message: "Salesforce reported a failure without an error".to_owned() };
    };
    let mut message = first.message.chars().take(300).collect::<String>();
    if !first.fields.is_empty() {
        message.push_str(&format!(" (fields: {})", first.fields.join(", ")));
    }
    match first.code.as_str() {
        "ENTITY_IS_DELETED" | "NOT_FOUND" => ConnectorError::NotFound,
        "INVALID_CROSS_REFERENCE_KEY" if existing && first.fields.iter().all(|f| f.eq_ignore_ascii_case("id")) => {
            ConnectorError::NotFound
        }
        "REQUEST_LIMIT_EXCEEDED" => ConnectorError::Throttled { retry_after: None },
        "UNABLE_TO_LOCK_ROW" | "ALL_OR_NONE_OPERATION_ROLLED_BACK" | "SERVER_UNAVAILABLE" => {
            ConnectorError::Transient { message: format!("{}: {message}", first.code) }
        }
        code => ConnectorError::Rejected { code: code.to_owned(), message },
    }
}

/// Maps a collection answer onto the writes it was for.
pub(super) fn settle(
    results: &mut [Option<WriteResult>],
    indices: &[usize],
    answer: Result<Vec<ItemResult>, ApiError>,
    ids: &[Option<String>],
    existing: bool,
) {
    match answer {
        Ok(items) if items.len() == indices.len() => {
            for ((i, item), id) in indices.iter().zip(items).zip(ids) {
                results[*i] = Some(if item.success {
                    match item.id.or_else(|| id.clone()) {
                        Some(id) => Ok(Written::new(RecordId::new(id), Version::default())),
                        None => Err(ConnectorError::Transient { message: "Salesforce returned no id".to_owned() }),
                    }
                } else {
                    Err(item_error(&item.errors, existing))
                });
            }
        }
        Ok(items) => {
            let error = ConnectorError::Transient {
                message: format!("{} results for {} records from an sObject collection", items.len(), indices.len()),
            };
            for i in indices {
                results[*i] = Some(Err(error.clone()));
            }
        }
        Err(e) => {
            let error = e.into_connector();
            for i in indices {
                results[*i] = Some(Err(error.clone()));
            }
        }
    }
}
