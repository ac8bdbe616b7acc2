//! [`Rendezvous`]: several tasks that each have a request to send meet, and one of them sends
//! all the requests together.
//!
//! Why: a user's contacts and events are synced by two tasks at once, and a provider that
//! takes both objects in one batch (Graph's `$batch`, Salesforce's sObject collections) should
//! get one request instead of two. Waiting for a fixed time (a linger) would make the sharing a
//! matter of luck; a rendezvous knows who is still coming. Each task holds a [`Seat`] while it
//! may still send; [`Seat::meet`] waits until **every seated task** is either waiting at the
//! rendezvous or gone (its seat dropped), and then hands all the waiting requests to the last
//! one to arrive, the leader, which sends them and answers the others.
//!
//! What this guarantees, and what it asks of its users:
//! - **No deadlock**, provided a seated task never waits for another seated task except through
//!   [`Seat::meet`]: every task either reaches the rendezvous or drops its seat, so the last one
//!   to do either lets the others go.
//! - **A request is sent once or not at all.** A waiting task that is cancelled before a leader
//!   took its request takes it back; once a leader took it, its answer goes to the task if it
//!   still waits. A leader that is cancelled mid-send leaves the others with
//!   [`Meeting::Abandoned`]: whether their requests were sent is unknown, exactly as for a lost
//!   answer, which every write path already handles (journal, keys, preconditions).
//! - Rounds do not overlap: while a leader sends, every seated task is in its round, so the next
//!   round forms only after it answers.
//!
//! ```
//! use tandem_connector::rendezvous::{Meeting, Seat, join_pair};
//!
//! // Each task asks for a number to be doubled; one "request" carries both.
//! async fn ask(seat: Seat<u32, u32>, n: u32) -> u32 {
//!     match seat.meet(n).await {
//!         Meeting::Answered(doubled) => doubled,
//!         Meeting::Lead(lead) => {
//!             assert_eq!(lead.requests().len(), 2, "both requests in one round");
//!             let answers = lead.requests().iter().map(|n| n * 2).collect();
//!             lead.answer(answers).unwrap_or_default()
//!         }
//!         Meeting::Abandoned => 0,
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (a, b) = join_pair(|seat| ask(seat, 20), |seat| ask(seat, 21)).await;
//! assert_eq!((a, b), (40, 42));
//! # });
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{oneshot, watch};

/// A meeting point for the tasks holding its [`Seat`]s. `T` is a request, `R` its answer.
pub struct Rendezvous<T, R> {
    state: Mutex<State<T, R>>,
    changed: watch::Sender<u64>,
}

struct State<T, R> {
    seated: usize,
    next_ticket: u64,
    waiting: Vec<Waiting<T, R>>,
}

struct Waiting<T, R> {
    ticket: u64,
    request: T,
    reply: oneshot::Sender<R>,
}

impl<T, R> std::fmt::Debug for Rendezvous<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Rendezvous").field("seated", &state.seated).field("waiting", &state.waiting.len()).finish()
    }
}

impl<T, R> Rendezvous<T, R> {
    /// A rendezvous for `parties` tasks: one seat each. Seats are made up front, so that no task
    /// can be led away before a slower one has even sat down.
    pub fn seats(parties: usize) -> Vec<Seat<T, R>> {
        let rendezvous = Self::with_seated(parties);
        (0..parties).map(|_| Seat { rendezvous: Arc::clone(&rendezvous) }).collect()
    }

    /// A rendezvous for two tasks, and their seats.
    pub fn pair() -> (Seat<T, R>, Seat<T, R>) {
        let first = Seat { rendezvous: Self::with_seated(2) };
        let second = Seat { rendezvous: Arc::clone(&first.rendezvous) };
        (first, second)
    }

    fn with_seated(parties: usize) -> Arc<Self> {
        Arc::new(Rendezvous {
            state: Mutex::new(State { seated: parties, next_ticket: 0, waiting: Vec::new() }),
            changed: watch::Sender::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T, R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        self.changed.send_modify(|generation| *generation = generation.wrapping_add(1));
    }
}

/// One task's place at a [`Rendezvous`]. Dropping it tells the others not to wait for this task.
pub struct Seat<T, R> {
    rendezvous: Arc<Rendezvous<T, R>>,
}

impl<T, R> std::fmt::Debug for Seat<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seat").field("rendezvous", &self.rendezvous).finish()
    }
}

impl<T, R> Drop for Seat<T, R> {
    fn drop(&mut self) {
        self.rendezvous.lock().seated -= 1;
        self.rendezvous.wake();
    }
}

/// What [`Seat::meet`] gives a task.
#[derive(Debug)]
#[must_use = "a leader must send the requests and answer them"]
pub enum Meeting<T, R> {
    /// Another task sent this task's request; here is its answer.
    Answered(R),
    /// This task leads: it sends every request (its own among them) and answers them with
    /// [`Lead::answer`].
    Lead(Lead<T, R>),
    /// The leader that took this task's request was cancelled before it answered: whether the
    /// request was sent is unknown.
    Abandoned,
}

/// The requests of one round, for the task that sends them.
#[derive(Debug)]
pub struct Lead<T, R> {
    requests: Vec<T>,
    own: usize,
    replies: Vec<Option<oneshot::Sender<R>>>,
}

impl<T, R> Lead<T, R> {
    /// The round's requests, in the order the tasks arrived; the leader's own is among them.
    pub fn requests(&self) -> &[T] {
        &self.requests
    }

    /// Takes the requests out (for senders that consume them); [`Lead::answer`] still expects one
    /// answer per request, in the same order.
    pub fn take_requests(&mut self) -> Vec<T> {
        std::mem::take(&mut self.requests)
    }

    /// Which of [`Lead::requests`] is the leader's own.
    pub fn own(&self) -> usize {
        self.own
    }

    /// Answers the round: `answers` holds one answer per request, in order. Returns the leader's
    /// own answer, or `None` when `answers` has none for it.
    pub fn answer(self, answers: Vec<R>) -> Option<R> {
        let mut own = None;
        for (index, (answer, reply)) in answers.into_iter().zip(self.replies).enumerate() {
            match reply {
                // A task that stopped waiting gets nothing; that is its own doing.
                Some(reply) => drop(reply.send(answer)),
                None if index == self.own => own = Some(answer),
                None => {}
            }
        }
        own
    }
}

impl<T, R> Seat<T, R> {
    /// Waits at the rendezvous with `request` until every seated task is here or gone. The last
    /// to arrive leads; the others get their answers from it.
    pub async fn meet(&self, request: T) -> Meeting<T, R> {
        let rendezvous = &self.rendezvous;
        let (reply, mut answer) = oneshot::channel();
        let mut changes = rendezvous.changed.subscribe();
        let ticket = {
            let mut state = rendezvous.lock();
            let ticket = state.next_ticket;
            state.next_ticket = state.next_ticket.wrapping_add(1);
            state.waiting.push(Waiting { ticket, request, reply });
            ticket
        };
        rendezvous.wake();
        // Takes the request back if this task is cancelled before a leader took it.
        let _withdraw = Withdraw { rendezvous, ticket };
        loop {
            // Decided under the lock, acted on after it (a guard must not live across an await).
            let taken = {
                let mut state = rendezvous.lock();
                let here = state.waiting.iter().any(|w| w.ticket == ticket);
                if here && state.waiting.len() >= state.seated {
                    Some(std::mem::take(&mut state.waiting))
                } else if here {
                    None
                } else {
                    Some(Vec::new())
                }
            };
            match taken {
                Some(round) if !round.is_empty() => {
                    let mut lead = Lead { requests: Vec::new(), own: 0, replies: Vec::new() };
                    for (index, waiting) in round.into_iter().enumerate() {
                        lead.requests.push(waiting.request);
                        if waiting.ticket == ticket {
                            lead.own = index;
                            lead.replies.push(None);
                        } else {
                            lead.replies.push(Some(waiting.reply));
                        }
                    }
                    return Meeting::Lead(lead);
                }
                // A leader took the request: its answer is coming, or the leader is gone.
                Some(_) => {
                    return match (&mut answer).await {
                        Ok(r) => Meeting::Answered(r),
                        Err(_) => Meeting::Abandoned,
                    };
                }
                None => {}
            }
            tokio::select! {
                biased;
                result = &mut answer => {
                    return match result {
                        Ok(r) => Meeting::Answered(r),
                        Err(_) => Meeting::Abandoned,
                    };
                }
                // The sender lives as long as the rendezvous, which this seat keeps alive.
                _ = changes.changed() => {}
            }
        }
    }
}

/// Runs two tasks at the same time, each given its seat at one new rendezvous, and returns both
/// outputs: how a connector sends two objects' requests together.
pub async fn join_pair<T, R, A, B>(
    first: impl FnOnce(Seat<T, R>) -> A,
    second: impl FnOnce(Seat<T, R>) -> B,
) -> (A::Output, B::Output)
where
    A: std::future::Future,
    B: std::future::Future,
{
    let (first_seat, second_seat) = Rendezvous::pair();
    tokio::join!(first(first_seat), second(second_seat))
}

struct Withdraw<'a, T, R> {
    rendezvous: &'a Arc<Rendezvous<T, R>>,
    ticket: u64,
}

impl<T, R> Drop for Withdraw<'_, T, R> {
    fn drop(&mut self) {
        let mut state = self.rendezvous.lock();
        let before = state.waiting.len();
        state.waiting.retain(|w| w.ticket != self.ticket);
        let withdrawn = state.waiting.len() != before;
        drop(state);
        if withdrawn {
            self.rendezvous.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A hang is a failure: the rendezvous must always let its tasks go.
    async fn within<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(5), f).await.expect("no deadlock")
    }

    /// Sends a round: the answer to each request is the request times ten, and the round's size
    /// is recorded.
    async fn take_part(seat: &Seat<u32, u32>, request: u32, rounds: &Mutex<Vec<Vec<u32>>>) -> Option<u32> {
        match seat.meet(request).await {
            Meeting::Answered(r) => Some(r),
            Meeting::Abandoned => None,
            Meeting::Lead(lead) => {
                rounds.lock().unwrap().push(lead.requests().to_vec());
                let answers = lead.requests().iter().map(|r| r * 10).collect();
                lead.answer(answers)
            }
        }
    }

    #[tokio::test]
    async fn two_tasks_meet_and_one_sends_both_requests() {
        let mut seats = Rendezvous::<u32, u32>::seats(2).into_iter();
        let (a, b) = (seats.next().unwrap(), seats.next().unwrap());
        let rounds = Mutex::new(Vec::new());
        let (x, y) = within(async {
            tokio::join!(take_part(&a, 1, &rounds), async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                take_part(&b, 2, &rounds).await
            })
        })
        .await;
        assert_eq!((x, y), (Some(10), Some(20)));
        assert_eq!(rounds.into_inner().unwrap(), vec![vec![1, 2]]);
    }

    #[tokio::test]
    async fn a_task_that_leaves_lets_the_waiting_one_go_alone() {
        let mut seats = Rendezvous::<u32, u32>::seats(2).into_iter();
        let (a, b) = (seats.next().unwrap(), seats.next().unwrap());
        let rounds = Mutex::new(Vec::new());
        let (x, ()) = within(async {
            tokio::join!(take_part(&a, 1, &rounds), async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(b);
            })
        })
        .await;
        assert_eq!(x, Some(10));
        assert_eq!(rounds.into_inner().unwrap(), vec![vec![1]]);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_takes_its_request_back() {
        let mut seats = Rendezvous::<u32, u32>::seats(3).into_iter();
        let (a, b, c) = (seats.next().unwrap(), seats.next().unwrap(), seats.next().unwrap());
        let rounds = Mutex::new(Vec::new());
        // `a` waits for the others and gives up; its request must not be sent by anyone.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), take_part(&a, 1, &rounds)).await;
        assert!(gave_up.is_err());
        drop(a);
        let (x, y) = within(async { tokio::join!(take_part(&b, 2, &rounds), take_part(&c, 3, &rounds)) }).await;
        assert_eq!((x, y), (Some(20), Some(30)));
        let rounds = rounds.into_inner().unwrap();
        assert_eq!(rounds.len(), 1);
        assert!(!rounds[0].contains(&1), "{rounds:?}");
    }

    #[tokio::test]
    async fn a_leader_that_never_answers_abandons_the_others() {
        let mut seats = Rendezvous::<u32, u32>::seats(2).into_iter();
        let (a, b) = (seats.next().unwrap(), seats.next().unwrap());
        let waiting = tokio::spawn(async move { a.meet(1).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let Meeting::Lead(lead) = within(b.meet(2)).await else { panic!("the last to arrive leads") };
        assert_eq!(lead.requests(), &[1, 2]);
        assert_eq!(lead.own(), 1);
        drop(lead);
        assert!(matches!(within(waiting).await.unwrap(), Meeting::Abandoned));
    }

    #[tokio::test]
    async fn rounds_follow_each_other_and_each_request_is_answered_once() {
        let rounds = Mutex::new(Vec::new());
        let rounds = &rounds;
        // The first task sends three requests, the second five; each leaves when done.
        let mut runs = Rendezvous::<u32, u32>::seats(2).into_iter().zip([3u32, 5]).enumerate().map(
            |(n, (seat, count))| async move {
                let mut answers = Vec::new();
                for i in 0..count {
                    answers.push(take_part(&seat, 100 * n as u32 + i, rounds).await);
                }
                answers
            },
        );
        let (first, second) = (runs.next().unwrap(), runs.next().unwrap());
        let (first, second) = within(async { tokio::join!(first, second) }).await;
        assert_eq!(first, vec![Some(0), Some(10), Some(20)]);
        assert_eq!(second, vec![Some(1000), Some(1010), Some(1020), Some(1030), Some(1040)]);
        let rounds = std::mem::take(&mut *rounds.lock().unwrap());
        let sent: usize = rounds.iter().map(Vec::len).sum();
        assert_eq!(sent, 8, "every request sent exactly once: {rounds:?}");
        assert!(rounds.iter().take(3).all(|r| r.len() == 2), "the first three rounds carry both: {rounds:?}");
        assert!(rounds.iter().skip(3).all(|r| r.len() == 1), "then the second goes alone: {rounds:?}");
    }

    /// Many random schedules: 2 to 5 tasks, each meeting a random number of times after random
    /// delays, some giving up while they wait; each task leaves when done. Every schedule
    /// finishes (no deadlock), no request is sent in two rounds, and every answer a task gets is
    /// its own.
    #[tokio::test]
    async fn random_schedules_finish_and_answer_each_request_at_most_once() {
        let mut seed: u64 = 0x5eed_1234_abcd_0001;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let parties = 2 + usize::try_from(next(4)).unwrap();
            let rounds = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
            let mut tasks = tokio::task::JoinSet::new();
            for (task, seat) in Rendezvous::<u32, u32>::seats(parties).into_iter().enumerate() {
                let plan: Vec<(u64, bool)> = (0..next(5)).map(|_| (next(4).saturating_sub(1), next(5) == 0)).collect();
                let rounds = Arc::clone(&rounds);
                tasks.spawn(async move {
                    let mut got = Vec::new();
                    for (step, (delay, give_up)) in plan.into_iter().enumerate() {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        let request = u32::try_from(task * 100 + step).unwrap();
                        let meeting = take_part(&seat, request, &rounds);
                        let answer = if give_up {
                            tokio::time::timeout(Duration::from_millis(1), meeting).await.ok().flatten()
                        } else {
                            meeting.await
                        };
                        got.push((request, answer));
                    }
                    got
                });
            }
            let all = within(tasks.join_all()).await;
            for (request, answer) in all.into_iter().flatten() {
                if let Some(answer) = answer {
                    assert_eq!(answer, request * 10, "a task got another's answer");
                }
            }
            let mut sent: Vec<u32> = rounds.lock().unwrap().iter().flatten().copied().collect();
            let count = sent.len();
            sent.sort_unstable();
            sent.dedup();
            assert_eq!(sent.len(), count, "a request went in two rounds");
        }
    }
}
