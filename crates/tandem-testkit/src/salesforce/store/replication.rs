//! Replication: `getDeleted` and `getUpdated`, records of an object deleted or modified in a
//! window.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{ApiError, Org, RECYCLE_DAYS, format_datetime, parse_datetime};

impl Org {
    /// `getDeleted`: records of `object` deleted in `[start, end]`.
    pub(crate) fn deleted_between(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let def = self.object(object).ok_or_else(|| Self::unsupported(object))?;
        let earliest = self.now() - Duration::days(RECYCLE_DAYS);
        if start < earliest {
            return Err(ApiError::new(
                "INVALID_REPLICATION_DATE",
                "startDate is before the earliest date available",
                &[],
            ));
        }
        let mut list: Vec<(DateTime<Utc>, String)> = self
            .tables
            .get(def.name)
            .map(|t| {
                t.keys()
                    .filter_map(|id| self.deleted_at.get(id).map(|at| (*at, id.clone())))
                    .filter(|(at, _)| *at >= start && *at <= end)
                    .collect()
            })
            .unwrap_or_default();
        list.sort();
        let records: Vec<Value> =
            list.iter().map(|(at, id)| json!({ "id": id, "deletedDate": format_datetime(*at) })).collect();
        Ok(json!({
            "deletedRecords": records,
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(end.min(self.now())),
        }))
    }

    /// `getUpdated`: live records of `object` modified in `[start, end]`.
    pub(crate) fn updated_between(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let def = self.object(object).ok_or_else(|| Self::unsupported(object))?;
        let ids: Vec<String> = self
            .tables
            .get(def.name)
            .map(|t| {
                t.values()
                    .filter(|r| Self::is_live(r) && self.visible(def.name, r))
                    .filter(|r| {
                        r.get("SystemModstamp")
                            .and_then(Value::as_str)
                            .and_then(parse_datetime)
                            .is_some_and(|s| s >= start && s <= end)
                    })
                    .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(json!({ "ids": ids, "latestDateCovered": format_datetime(end.min(self.now())) }))
    }
}
