//! A series' changed and cancelled occurrences, written after its master: each occurrence is
//! addressed with `OccurrenceItemId` (`RecurringMasterId`, 1-based `InstanceIndex`), changed with
//! `UpdateItem` (`AlwaysOverwrite`: the master's change key was checked when it was written) and
//! cancelled with `DeleteItem`. Only occurrences that differ from the series as Exchange holds it
//! are written; the master's change key is read last, since every occurrence write advances it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tandem_connector::ConnectorError;
use tandem_core::model::{ObjectKind, OccurrenceOverride, Record, Recurrence};
use tandem_core::state::{ChangeKind, RecordId, Version};

use crate::connector::EwsConnector;
use crate::map::{self, event};
use crate::xml::{ResponseMessage, XmlError, XmlWriter};

/// One occurrence write.
enum Edit {
    Change { index: u32, original: DateTime<Utc>, end: DateTime<Utc>, o: OccurrenceOverride },
    Cancel { index: u32 },
}

fn failed(messages: &[ResponseMessage], tolerated: &[&str]) -> Option<ConnectorError> {
    messages.iter().filter(|m| !tolerated.contains(&m.code.as_str())).find_map(ResponseMessage::error)
}

impl EwsConnector {
    /// Brings the occurrences of series `master` to `desired`'s overrides and cancellations
    /// (EXDATEs included) and answers the master's change key afterwards.
    ///
    /// An override or cancellation whose original start is no occurrence of the series is
    /// skipped (logged); a cancelled occurrence cannot be restored in Exchange (logged).
    pub(crate) async fn fix_series(&self, master: &RecordId, desired: &Recurrence) -> Result<Version, ConnectorError> {
        let read = self.read_items(ObjectKind::Event, &[master.as_str().to_owned()]).await?;
        let change = read.into_iter().next().ok_or(ConnectorError::NotFound)?;
        let series = match change.kind {
            ChangeKind::Upserted { record: Record::Event(e) } => e,
            ChangeKind::Deleted => return Err(ConnectorError::NotFound),
            other => {
                return Err(ConnectorError::Transient {
                    message: format!("the series cannot be read back: {other:?}"),
                });
            }
        };
        let Some(actual) = series.recurrence.clone() else {
            return Err(ConnectorError::Transient { message: "the written item is not a series".to_owned() });
        };
        let duration = match (series.timing.start.instant(), series.timing.end.instant()) {
            (Some(s), Some(e)) => e.signed_duration_since(s),
            _ => chrono::TimeDelta::zero(),
        };
        let instants = |keys: &mut dyn Iterator<Item = &tandem_core::model::EventTime>| -> BTreeSet<DateTime<Utc>> {
            keys.filter_map(|k| k.instant()).collect()
        };
        let want_cancelled = instants(&mut desired.cancelled.iter().chain(&desired.exdates));
        let is_cancelled = instants(&mut actual.cancelled.iter());
        let by_instant = |r: &Recurrence| -> BTreeMap<DateTime<Utc>, OccurrenceOverride> {
            r.overrides.iter().filter_map(|(k, o)| Some((k.instant()?, o.clone()))).collect()
        };
        let (want, have) = (by_instant(desired), by_instant(&actual));
        let index_of = |original: DateTime<Utc>| -> Result<Option<u32>, ConnectorError> {
            let found = event::instance_index(&series, original).map_err(crate::write::rejected)?;
            if found.is_none() {
                tracing::warn!("an occurrence to write is not an occurrence of the series in Exchange; skipped");
            }
            Ok(found)
        };
        let mut edits = Vec::new();
        for original in want_cancelled.difference(&is_cancelled) {
            if let Some(index) = index_of(*original)? {
                edits.push(Edit::Cancel { index });
            }
        }
        if is_cancelled.difference(&want_cancelled).next().is_some() {
            tracing::warn!("a cancelled occurrence cannot be restored in Exchange; left cancelled");
        }
        let keys: BTreeSet<DateTime<Utc>> = want.keys().chain(have.keys()).copied().collect();
        for original in keys {
            if want_cancelled.contains(&original) || is_cancelled.contains(&original) {
                continue;
            }
            let end = original
                .checked_add_signed(duration)
                .ok_or_else(|| crate::write::rejected("an occurrence out of range".to_owned()))?;
            let norm = |o: Option<&OccurrenceOverride>| {
                o.map(|o| event::normalized(o, &series, original, end)).unwrap_or(OccurrenceOverride {
                    timing: None,
                    subject: None,
                    location: None,
                    description: None,
                })
            };
            let (to, now) = (norm(want.get(&original)), norm(have.get(&original)));
            if event::same_override(&to, &now) {
                continue;
            }
            // Checked before anything is sent.
            event::write_occurrence(&mut XmlWriter::new(), &to, &series, original, end)
                .map_err(crate::write::rejected)?;
            if let Some(index) = index_of(original)? {
                edits.push(Edit::Change { index, original, end, o: to });
            }
        }
        if edits.is_empty() {
            return Ok(change.version);
        }
        let send = if self.config.send_invitations { "SendToAllAndSaveCopy" } else { "SendToNone" };
        let master_id = master.as_str();
        let occurrence = |w: &mut XmlWriter, index: u32| {
            let index = index.to_string();
            w.empty("t:OccurrenceItemId", &[("RecurringMasterId", master_id), ("InstanceIndex", &index)]);
        };
        let changes: Vec<&Edit> = edits.iter().filter(|e| matches!(e, Edit::Change { .. })).collect();
        if !changes.is_empty() {
            let body = self.envelope(|w| {
                w.open(
                    "m:UpdateItem",
                    &[("ConflictResolution", "AlwaysOverwrite"), ("SendMeetingInvitationsOrCancellations", send)],
                );
                w.open("m:ItemChanges", &[]);
                for edit in &changes {
                    if let Edit::Change { index, original, end, o } = edit {
                        w.open("t:ItemChange", &[]);
                        occurrence(w, *index);
                        w.open("t:Updates", &[]);
                        // Checked above: cannot fail here.
                        let _ = event::write_occurrence(w, o, &series, *original, *end);
                        w.close("t:Updates");
                        w.close("t:ItemChange");
                    }
                }
                w.close("m:ItemChanges");
                w.close("m:UpdateItem");
            });
            let answers = self.call("UpdateItem", body).await?;
            if answers.len() != changes.len() {
                return Err(
                    XmlError::Shape(format!("{} answers for {} occurrences", answers.len(), changes.len())).into()
                );
            }
            if let Some(e) = failed(&answers, &[]) {
                return Err(e);
            }
        }
        let cancels: Vec<u32> =
            edits.iter().filter_map(|e| if let Edit::Cancel { index } = e { Some(*index) } else { None }).collect();
        if !cancels.is_empty() {
            let body = self.envelope(|w| {
                w.open("m:DeleteItem", &[("DeleteType", "MoveToDeletedItems"), ("SendMeetingCancellations", send)]);
                w.open("m:ItemIds", &[]);
                for index in &cancels {
                    occurrence(w, *index);
                }
                w.close("m:ItemIds");
                w.close("m:DeleteItem");
            });
            let answers = self.call("DeleteItem", body).await?;
            if answers.len() != cancels.len() {
                return Err(
                    XmlError::Shape(format!("{} answers for {} occurrences", answers.len(), cancels.len())).into()
                );
            }
            if let Some(e) = failed(&answers, &["ErrorCalendarOccurrenceIsDeletedFromRecurrence"]) {
                return Err(e);
            }
        }
        // The master's change key now, so the next read is not taken for an edit.
        let now = self.get_items(ObjectKind::Event, &[master_id.to_owned()]).await?;
        match now.into_iter().next() {
            Some(Ok(item)) => match map::item_id(&item) {
                Some((_, ck)) => Ok(Version::new(ck)),
                None => Err(XmlError::Shape("the series has no change key".to_owned()).into()),
            },
            Some(Err(e)) => Err(e),
            None => Err(XmlError::Shape("GetItem answered nothing".to_owned()).into()),
        }
    }
}
