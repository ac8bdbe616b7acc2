//! A gate that holds requests inside handlers until the test lets them through.

use std::sync::Arc;

use tokio::sync::{Semaphore, watch};

/// Holds callers of [`Gate::pass`] until released, and lets the test wait until a number of them
/// have arrived: deterministic overlap of concurrent requests without sleeping.
///
/// ```no_run
/// # async fn demo() {
/// use tandem_testkit::server::Gate;
/// let gate = Gate::new();
/// // In a fake's handler: `gate.pass().await;`
/// gate.wait_entered(3).await; // three requests are now inside the handler
/// gate.release(3);            // let them finish
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    entered: watch::Sender<usize>,
    release: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        let (entered, _) = watch::channel(0);
        Gate { inner: Arc::new(Inner { entered, release: Semaphore::new(0) }) }
    }

    /// Records the arrival, then waits until released (or the gate is opened).
    pub async fn pass(&self) {
        self.inner.entered.send_modify(|n| *n += 1);
        match self.inner.release.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_closed) => {} // opened for good
        }
    }

    /// How many callers have arrived so far (released or not).
    pub fn entered(&self) -> usize {
        *self.inner.entered.borrow()
    }

    /// Waits until at least `n` callers have arrived.
    pub async fn wait_entered(&self, n: usize) {
        let mut rx = self.inner.entered.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|entered| *entered >= n).await;
    }

    /// Lets `n` waiting (or future) callers through.
    pub fn release(&self, n: usize) {
        let room = Semaphore::MAX_PERMITS.saturating_sub(self.inner.release.available_permits());
        self.inner.release.add_permits(n.min(room));
    }

    /// Lets everyone through, now and from now on.
    pub fn open(&self) {
        self.inner.release.close();
    }
}
