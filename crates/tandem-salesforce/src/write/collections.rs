//! Updates and deletes in sObject collection requests: alone, or shared with another object's
//! batch at a rendezvous, packed into requests of at most 200 records.

use serde_json::{Value, json};
use tandem_connector::ConnectorError;
use tandem_connector::rendezvous::{Meeting, Seat};

use crate::SalesforceConnector;
use crate::api::{ApiError, ItemResult};
use crate::mapping::MAX_BATCH;

/// An sObject collection request's answer.
type Answer = Result<Vec<ItemResult>, ApiError>;

/// A batch's updates (records with their `attributes` and `id`) and deletes (ids), to send in
/// sObject collection requests.
#[derive(Debug)]
pub(crate) struct Collections {
    pub(super) updates: Vec<Value>,
    pub(super) deletes: Vec<String>,
}

/// The answers for a batch's [`Collections`]; `None` where it had nothing to send.
#[derive(Debug, Default)]
pub(crate) struct CollectionAnswers {
    pub(super) updates: Option<Answer>,
    pub(super) deletes: Option<Answer>,
}

impl CollectionAnswers {
    /// For a batch whose shared request went unanswered: whether it was carried out is unknown.
    fn lost(own: &Collections) -> Self {
        let lost = || {
            Err(ApiError::Connector(ConnectorError::Transient {
                message: "the sObject collection request shared with the other object's writes was not answered"
                    .to_owned(),
            }))
        };
        CollectionAnswers {
            updates: (!own.updates.is_empty()).then(lost),
            deletes: (!own.deletes.is_empty()).then(lost),
        }
    }
}

/// A batch's place at the rendezvous of [`SalesforceConnector::apply_two`].
pub(crate) type CollectionSeat = Seat<Collections, CollectionAnswers>;

impl SalesforceConnector {
    /// Sends a batch's updates and deletes: alone, or through `seat` with the other object's.
    pub(super) async fn collections(&self, own: Collections, seat: Option<CollectionSeat>) -> CollectionAnswers {
        let Some(seat) = seat else {
            let mut answers = self.send_collections(vec![own]).await;
            return answers.pop().unwrap_or_default();
        };
        let lost = CollectionAnswers::lost(&own);
        match seat.meet(own).await {
            Meeting::Answered(answers) => answers,
            Meeting::Abandoned => lost,
            Meeting::Lead(mut lead) => {
                let answers = self.send_collections(lead.take_requests()).await;
                lead.answer(answers).unwrap_or(lost)
            }
        }
    }

    /// Sends the updates and then the deletes of several batches, packed into as few requests of
    /// at most 200 records as keep each batch's records in one request. One answer per batch.
    async fn send_collections(&self, batches: Vec<Collections>) -> Vec<CollectionAnswers> {
        let mut answers: Vec<CollectionAnswers> = batches.iter().map(|_| CollectionAnswers::default()).collect();
        let (update_lists, delete_lists): (Vec<Vec<Value>>, Vec<Vec<String>>) =
            batches.into_iter().map(|b| (b.updates, b.deletes)).unzip();
        for (group, answer) in self.send_packed(update_lists, Self::send_updates).await {
            for (batch, part) in group.into_iter().zip(answer) {
                if let Some(slot) = answers.get_mut(batch) {
                    slot.updates = Some(part);
                }
            }
        }
        for (group, answer) in self.send_packed(delete_lists, Self::send_deletes).await {
            for (batch, part) in group.into_iter().zip(answer) {
                if let Some(slot) = answers.get_mut(batch) {
                    slot.deletes = Some(part);
                }
            }
        }
        answers
    }

    /// Packs non-empty lists into requests of at most [`MAX_BATCH`] items without splitting a
    /// list, sends each with `send`, and splits each answer back: per request, the batches it
    /// carried and their answers, in order.
    async fn send_packed<'s, T, F, Fut>(&'s self, lists: Vec<Vec<T>>, send: F) -> Vec<(Vec<usize>, Vec<Answer>)>
    where
        F: Fn(&'s Self, Vec<T>) -> Fut,
        Fut: std::future::Future<Output = Answer>,
    {
        let mut groups: Vec<(Vec<usize>, Vec<usize>, Vec<T>)> = Vec::new();
        for (batch, list) in lists.into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            let fits = groups.last().is_some_and(|(_, _, items)| items.len() + list.len() <= MAX_BATCH);
            if !fits {
                groups.push((Vec::new(), Vec::new(), Vec::new()));
            }
            if let Some((batches, sizes, items)) = groups.last_mut() {
                batches.push(batch);
                sizes.push(list.len());
                items.extend(list);
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for (batches, sizes, items) in groups {
            let total = items.len();
            let answer = send(self, items).await;
            let parts = match answer {
                Ok(results) if results.len() == total => {
                    let mut results = results.into_iter();
                    sizes.iter().map(|n| Ok(results.by_ref().take(*n).collect())).collect()
                }
                // A count that does not match: each batch sees a count that does not match its
                // own either, which `settle` reports.
                Ok(_) => sizes.iter().map(|_| Ok(Vec::new())).collect(),
                Err(error) => sizes.iter().map(|_| Err(error.clone())).collect(),
            };
            out.push((batches, parts));
        }
        out
    }

    async fn send_updates(&self, records: Vec<Value>) -> Answer {
        let body = json!({ "allOrNone": false, "records": records });
        self.api.collection("PATCH", "composite/sobjects", &[], Some(&body), false).await
    }

    async fn send_deletes(&self, ids: Vec<String>) -> Answer {
        let list = ids.join(",");
        self.api
            .collection("DELETE", "composite/sobjects", &[("ids", &list), ("allOrNone", "false")], None, false)
            .await
    }
}
