//! Requests a user's two object cycles share when they run at once: each cycle's write batches,
//! and the first page each reads from each side.
//!
//! When the objects run at once: both connectors say [`Connector::concurrent_objects`], the
//! engine allows it (`EngineOptions::objects_at_once`), and both objects are synced.
//!
//! **Writes.** Each object's cycle holds a seat at the user's write rendezvous from its start to
//! its end; a batch waits until the other cycle is also at a batch (of either side) or finished,
//! and the last to arrive sends the round: per side, one `apply` for one object or one
//! `apply_mixed` for both, the two sides at once. Crash and lost-answer safety is unchanged:
//! every batch's intents are journaled by its own cycle before it reaches the rendezvous, and a
//! round whose answer is lost fails each of its batches as a transient error, which the journal
//! and recovery settle like any lost answer.
//!
//! **First pages.** Each cycle also holds, during its read phase only, one seat per side for the
//! first page of that side's change feed: the two cycles' first pages of a side go in one
//! `pull_mixed` (one Graph `$batch` for both deltas of a mailbox: a quiet cycle reads a mailbox in
//! one request). Later pages, and a first page that must be tried again, are read alone. A side
//! a cycle does not read through its connector (the CRM side of an organization feed) gives its
//! seat up at once.
//!
//! Nothing else in a cycle waits for the other cycle, and the two sides of one cycle are read at
//! the same time, which is what keeps the rendezvous free of deadlock (see
//! `tandem_connector::rendezvous`).

use tandem_connector::rendezvous::{Meeting, Rendezvous, Seat};
use tandem_connector::{Connector, ConnectorError, ObjectPage, ObjectWrites, PullPage, WriteOp, WriteResult};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Cursor, Side};

use crate::UserSync;

/// One batch at the rendezvous: its target side, object and writes.
pub(crate) type WriteRequest = (Side, ObjectKind, Vec<WriteOp>);
/// A batch's answer, as [`Connector::apply`] gives it.
pub(crate) type WriteAnswer = Result<Vec<WriteResult>, ConnectorError>;
/// An object cycle's place at its user's write rendezvous.
pub(crate) type WriteSeat = Seat<WriteRequest, WriteAnswer>;

/// A first page to read at the rendezvous: its object and cursor.
pub(crate) type ReadRequest = ObjectPage;
/// A first page, as [`Connector::pull`] gives it.
pub(crate) type ReadAnswer = Result<PullPage, ConnectorError>;
/// An object cycle's place at its user's first-page rendezvous of one side.
pub(crate) type ReadSeat = Seat<ReadRequest, ReadAnswer>;

/// An object cycle's seats: its write seat for the whole cycle, and one first-page seat per side
/// (CRM, mailbox) for its read phase.
pub(crate) struct CycleSeats {
    pub(crate) write: WriteSeat,
    pub(crate) first_pages: [Option<ReadSeat>; 2],
}

/// What an object cycle takes part in: its write seat (borrowed from the sync, which drops it as
/// soon as the cycle ends) and its first-page seats (owned, given up by the read phase).
pub(crate) struct Sharing<'a> {
    pub(crate) write: Option<&'a WriteSeat>,
    pub(crate) first_pages: [Option<ReadSeat>; 2],
}

/// Whether `job`'s two object cycles run at once, sharing requests.
pub(crate) fn objects_at_once(job: &UserSync) -> bool {
    job.crm.concurrent_objects() && job.mailbox.concurrent_objects()
}

/// The seats of a user's two object cycles.
pub(crate) fn seats() -> (CycleSeats, CycleSeats) {
    let (write_a, write_b) = Rendezvous::pair();
    let (crm_a, crm_b) = Rendezvous::pair();
    let (mailbox_a, mailbox_b) = Rendezvous::pair();
    (
        CycleSeats { write: write_a, first_pages: [Some(crm_a), Some(mailbox_a)] },
        CycleSeats { write: write_b, first_pages: [Some(crm_b), Some(mailbox_b)] },
    )
}

/// Reads the first page of `object`'s feed on `side` together with the other cycle's.
pub(crate) async fn first_page(
    job: &UserSync,
    seat: ReadSeat,
    side: Side,
    object: ObjectKind,
    cursor: Option<Cursor>,
) -> ReadAnswer {
    let connector = job.connector(side);
    match seat.meet((object, cursor)).await {
        Meeting::Answered(answer) => answer,
        Meeting::Abandoned => {
            Err(ConnectorError::Transient { message: "the shared read carrying this page was not answered".to_owned() })
        }
        Meeting::Lead(mut lead) => {
            let pages = lead.take_requests();
            let answers = match pages.as_slice() {
                [(object, cursor)] => vec![connector.pull(*object, cursor.as_ref()).await],
                _ => connector.pull_mixed(&pages).await,
            };
            lead.answer(answers).unwrap_or_else(|| {
                Err(ConnectorError::Transient { message: "no answer for this page in the shared read".to_owned() })
            })
        }
    }
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
