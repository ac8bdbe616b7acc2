//! The invitations of the events written: added, removed, and the `WhoId` of new events.

use serde_json::{Value, json};
use tandem_connector::WriteResult;
use tandem_core::fields::FieldKey;
use tandem_core::model::Attendee;

use super::plan::Notes;
use crate::SalesforceConnector;
use crate::related;

impl SalesforceConnector {
    /// The invitations of the events written: added, removed, and the `WhoId` of new events set
    /// last (see `related`). An invitation that cannot be added is reported unstored with an
    /// item, so it is rechecked and retried; one that cannot be removed fails the update, which
    /// the engine retries.
    pub(super) async fn write_invitations(&self, results: &mut [Option<WriteResult>], notes: &mut [Notes]) {
        let mut rows = Vec::new();
        let mut owners: Vec<(usize, Attendee)> = Vec::new();
        let mut removals: Vec<(String, String)> = Vec::new();
        let mut removal_owner: Vec<usize> = Vec::new();
        let mut whos: Vec<(usize, String, String)> = Vec::new();
        for (index, note) in notes.iter_mut().enumerate() {
            let Some(Ok(w)) = results[index].as_ref() else { continue };
            let event = w.id.0.to_string();
            for (attendee, person, parent) in std::mem::take(&mut note.invite) {
                rows.push(related::invitation(&event, &person, &attendee, parent));
                owners.push((index, attendee));
            }
            for person in std::mem::take(&mut note.uninvite) {
                removals.push((event.clone(), person));
                removal_owner.push(index);
            }
            if let Some(who) = note.who.take() {
                whos.push((index, event, who));
            }
        }
        if !rows.is_empty() {
            for ((index, attendee), outcome) in owners.into_iter().zip(self.create_relations(rows).await) {
                if let Err(why) = outcome {
                    let mut item = related::attendee_item(&attendee.email);
                    item.detail = format!("the invitation of `{}` could not be written: {why}", item.subject);
                    notes[index].skip(FieldKey::attendee(&attendee.email), Some(item));
                }
            }
        }
        if let Err(e) = self.delete_invitations(&removals).await {
            for index in removal_owner {
                results[index] = Some(Err(e.clone()));
            }
        }
        if !whos.is_empty() {
            let records: Vec<Value> = whos
                .iter()
                .map(|(_, event, who)| json!({ "attributes": { "type": "Event" }, "id": event, "WhoId": who }))
                .collect();
            let body = json!({ "allOrNone": false, "records": records });
            let answer = self.api.collection("PATCH", "composite/sobjects", &[], Some(&body), false).await;
            let failed = match answer {
                Ok(items) => items.iter().any(|i| !i.success),
                Err(_) => true,
            };
            if failed {
                tracing::warn!("relating new events to their contacts failed; they stay unrelated");
            }
        }
    }
}
