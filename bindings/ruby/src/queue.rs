//! The hand-off between the server's tokio threads and the Ruby threads that run handlers.
//!
//! Tokio tasks push [`Job`]s; Ruby dispatcher threads take them in batches, waiting with the GVL
//! released. A batch costs one GVL acquisition however many messages it holds, which is what
//! keeps the per-message cost low under load.

use std::{
    collections::VecDeque,
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
};

use serde_json::Value;
use spikard::{BinaryReply, Bytes, CloseInfo, Connection, HandlerError, Rejection};
use tokio::sync::oneshot;

/// Largest batch a dispatcher takes at once when it is the only one.
pub(crate) const BATCH: usize = 64;

/// What a Ruby handler is asked to do.
pub(crate) enum Call {
    /// Run `on_connect`.
    Connect,
    /// Run the message handler on a JSON message.
    Message(Value),
    /// Run the binary handler on a binary message.
    Binary(Bytes),
    /// Run `on_disconnect` (if any) and release the connection's Ruby object.
    Disconnect(CloseInfo),
}

/// What came back from Ruby.
pub(crate) enum Outcome {
    /// `on_connect` accepted, or `on_disconnect` finished.
    Done,
    /// `on_connect` refused the connection.
    Rejected(Rejection),
    /// A message handler's reply (`None`: no reply).
    Reply(Option<Value>),
    /// A binary handler's reply.
    BinaryReply(Option<BinaryReply>),
    /// The handler raised.
    Failed(HandlerError),
}

/// One call waiting for a Ruby thread.
pub(crate) struct Job {
    /// Index of the route's handler in the dispatcher's handler list.
    pub(crate) route: usize,
    /// The connection the call is about.
    pub(crate) conn: Connection,
    /// What to do.
    pub(crate) call: Call,
    /// Where the outcome goes.
    pub(crate) reply: oneshot::Sender<Outcome>,
}

/// Why a wait for jobs ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woken {
    /// Jobs were taken.
    Jobs,
    /// Ruby asked the thread to handle an interrupt.
    Interrupted,
    /// The queue is closed and empty: the server has stopped.
    Closed,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    closed: bool,
    /// Bumped by every interrupt, so each waiter sees the interrupts that came while it waited.
    interrupts: u64,
    /// Dispatcher threads running now.
    dispatchers: usize,
}

impl State {
    /// How many jobs one dispatcher may take at once: a batch when it is alone, one job when
    /// there are several, so that a handler that blocks (the reason to run several) holds up
    /// only its own job, never others taken with it.
    fn take(&mut self, out: &mut Vec<Job>) {
        let limit = if self.dispatchers > 1 { 1 } else { BATCH };
        let n = self.jobs.len().min(limit);
        out.extend(self.jobs.drain(..n));
    }
}

/// A dispatcher thread's registration with the queue; leaves on drop.
pub(crate) struct Dispatching<'a>(&'a JobQueue);

impl Drop for Dispatching<'_> {
    fn drop(&mut self) {
        self.0.lock().dispatchers -= 1;
    }
}

/// A closable multi-producer, multi-consumer queue of jobs.
#[derive(Default)]
pub(crate) struct JobQueue {
    state: Mutex<State>,
    ready: Condvar,
}

impl JobQueue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register the calling thread as a dispatcher until the guard is dropped.
    pub(crate) fn enter(&self) -> Dispatching<'_> {
        self.lock().dispatchers += 1;
        Dispatching(self)
    }

    /// Queue a job; gives it back when the queue is closed.
    pub(crate) fn push(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.closed {
            return Err(job);
        }
        let was_empty = state.jobs.is_empty();
        state.jobs.push_back(job);
        drop(state);
        // A waiter only sleeps on an empty queue, so only the first job of a burst wakes one.
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Move up to [`BATCH`] jobs (one when several dispatchers run) into `out`, waiting until there is one, an interrupt, or the
    /// queue is closed and drained. Never touches Ruby: run it without the GVL.
    pub(crate) fn wait_batch(&self, out: &mut Vec<Job>) -> Woken {
        let mut state = self.lock();
        let seen = state.interrupts;
        loop {
            if !state.jobs.is_empty() {
                state.take(out);
                let more = !state.jobs.is_empty();
                drop(state);
                if more {
                    // Let another dispatcher take the rest while this one works.
                    self.ready.notify_one();
                }
                return Woken::Jobs;
            }
            if state.closed {
                return Woken::Closed;
            }
            if state.interrupts != seen {
                return Woken::Interrupted;
            }
            state = self.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Take queued jobs without waiting (the GVL may be held: this only locks a mutex).
    pub(crate) fn try_batch(&self, out: &mut Vec<Job>) {
        self.lock().take(out);
    }

    /// Wake every waiter so that it returns [`Woken::Interrupted`] (Ruby's unblocking function).
    pub(crate) fn interrupt(&self) {
        self.lock().interrupts += 1;
        self.ready.notify_all();
    }

    /// Refuse new jobs; waiters return [`Woken::Closed`] once the queue is drained.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}
