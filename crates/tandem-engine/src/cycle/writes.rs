//! Sending a cycle's write batches: straight to the target connector, or, when the user's
//! contact and event cycles run at once, through the user's [`Rendezvous`] so that both
//! objects' writes to one side go in one request ([`Connector::apply_mixed`]).
//!
//! When the objects run at once: both connectors say [`Connector::concurrent_objects`], and more
//! than one object is synced. Each object's cycle holds a seat from its start to its end; a batch
//! waits until the other cycle is also at a batch (of either side) or finished, and the last to
//! arrive sends the round: per side, one `apply` for one object or one `apply_mixed` for both,
//! the two sides at once. Nothing else in a cycle waits for the other cycle, which is what keeps
//! the rendezvous free of deadlock (see `tandem_connector::rendezvous`).
//!
//! Crash and lost-answer safety is unchanged: every batch's intents are journaled by its own
//! cycle before it reaches the rendezvous, and a round whose answer is lost fails each of its
//! batches as a transient error, which the journal and recovery settle like any lost answer.

use tandem_connector::rendezvous::{Meeting, Rendezvous, Seat};
use tandem_connector::{Connector, ConnectorError, ObjectWrites, WriteOp, WriteResult};
use tandem_core::model::ObjectKind;
use tandem_core::state::Side;

use crate::UserSync;

/// One batch at the rendezvous: its target side, object and writes.
pub(crate) type WriteRequest = (Side, ObjectKind, Vec<WriteOp>);
/// A batch's answer, as [`Connector::apply`] gives it.
pub(crate) type WriteAnswer = Result<Vec<WriteResult>, ConnectorError>;
/// An object cycle's place at its user's write rendezvous.
pub(crate) type WriteSeat = Seat<WriteRequest, WriteAnswer>;

/// Whether `job`'s two object cycles run at once, sharing write batches.
pub(crate) fn objects_at_once(job: &UserSync) -> bool {
    job.crm.concurrent_objects() && job.mailbox.concurrent_objects()
}

/// The seats of a user's two object cycles.
pub(crate) fn seats() -> (WriteSeat, WriteSeat) {
    Rendezvous::pair()
}

fn lost_round() -> ConnectorError {
    ConnectorError::Transient { message: "the shared write batch carrying these writes was not answered".to_owned() }
}

/// Sends one batch of `object` writes to `target`.
pub(crate) async fn send(
    job: &UserSync,
    seat: Option<&WriteSeat>,
    target: Side,
    object: ObjectKind,
    ops: &[WriteOp],
) -> WriteAnswer {
    let Some(seat) = seat else {
        return job.connector(target).apply(object, ops).await;
    };
    match seat.meet((target, object, ops.to_vec())).await {
        Meeting::Answered(answer) => answer,
        Meeting::Abandoned => Err(lost_round()),
        Meeting::Lead(mut lead) => {
            let answers = send_round(job, lead.take_requests()).await;
            lead.answer(answers).unwrap_or_else(|| Err(lost_round()))
        }
    }
}

/// Sends a round of batches: per side, one request for everything addressed to it, both sides
/// at once. One answer per batch, in order.
async fn send_round(job: &UserSync, requests: Vec<WriteRequest>) -> Vec<WriteAnswer> {
    let count = requests.len();
    let mut sides: [(Vec<usize>, Vec<ObjectWrites>); 2] = Default::default();
    for (index, (side, object, ops)) in requests.into_iter().enumerate() {
        let slot = &mut sides[usize::from(side == Side::Mailbox)];
        slot.0.push(index);
        slot.1.push((object, ops));
    }
    let [(crm_at, crm), (mailbox_at, mailbox)] = sides;
    let (crm_answers, mailbox_answers) =
        tokio::join!(apply_side(job.connector(Side::Crm), &crm), apply_side(job.connector(Side::Mailbox), &mailbox));
    let mut answers: Vec<Option<WriteAnswer>> = (0..count).map(|_| None).collect();
    for (at, side_answers) in [(crm_at, crm_answers), (mailbox_at, mailbox_answers)] {
        for (index, answer) in at.into_iter().zip(side_answers) {
            if let Some(slot) = answers.get_mut(index) {
                *slot = Some(answer);
            }
        }
    }
    answers.into_iter().map(|a| a.unwrap_or_else(|| Err(lost_round()))).collect()
}

async fn apply_side(connector: &dyn Connector, batches: &[ObjectWrites]) -> Vec<WriteAnswer> {
    match batches {
        [] => Vec::new(),
        [(object, ops)] => vec![connector.apply(*object, ops).await],
        _ => connector.apply_mixed(batches).await,
    }
}
