//! [`JobQueue`]: the hand-off from the core's tokio tasks to the host language's thread(s).
//!
//! Tokio tasks push [`Job`]s and await their [`Outcome`]; the host takes them in batches, so a
//! burst of messages costs one wake-up of the host thread, not one per message. The rules:
//!
//! - **Order**: jobs leave in the order they were queued. One connection has at most one job in
//!   flight (its reader awaits each call), so a connection's calls run in order.
//! - **Wake-up** ([`WakePolicy`]): the host is woken once per batch: on the first job queued
//!   after it last took the queue ([`WakePolicy::Immediate`]), or when a runtime worker is about
//!   to go idle or [`WakePolicy::Deferred::at`] jobs wait (so a busy worker fills the batch
//!   first), or never, the host blocking in [`JobQueue::wait`] ([`WakePolicy::Blocking`]).
//! - **Batches**: [`JobQueue::take`] takes every waiting job, except with several blocking
//!   consumers, where each takes one job at a time so that a handler that blocks holds up only
//!   its own job.
//! - **Closing**: [`JobQueue::close`] refuses new jobs and drops the waiting ones; their callers
//!   see a lost call (the policy in [`BridgeRoute`](super::BridgeRoute)).
//! - **Log records** from the core ride the same queue and wake-up (see [`super::log`]), bounded
//!   to [`MAX_LOGS`] waiting records; more are counted and dropped.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::oneshot;

use super::{Call, Code, code::Failure, log::LogRecord, route::Outcome};
use crate::connection::Connection;

/// A batch this long is taken by one blocking consumer at most.
pub const BATCH: usize = 64;

/// Log records waiting for the host at most; further records are dropped and counted.
pub const MAX_LOGS: usize = 1024;

/// How the host thread is woken when jobs wait.
pub trait Wake: Send + Sync + 'static {
    /// Wake the host: it will call [`JobQueue::take`] soon. Called at most once per batch.
    fn wake(&self);
}

/// When the host is woken (see the module documentation).
#[derive(Clone)]
#[non_exhaustive]
pub enum WakePolicy {
    /// Wake on the first job queued after the host last took the queue.
    Immediate(Arc<dyn Wake>),
    /// Wake when a runtime worker is about to go idle ([`wake_deferred`]), or at once when `at`
    /// jobs wait.
    Deferred {
        /// The host's wake-up.
        waker: Arc<dyn Wake>,
        /// Queue length that wakes the host without waiting for an idle worker.
        at: usize,
    },
    /// The host blocks in [`JobQueue::wait`]; nothing is called.
    Blocking,
}

impl std::fmt::Debug for WakePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Immediate(_) => f.write_str("Immediate"),
            Self::Deferred { at, .. } => write!(f, "Deferred {{ at: {at} }}"),
            Self::Blocking => f.write_str("Blocking"),
        }
    }
}

/// One call waiting for the host, with the channel its [`Outcome`] travels back on.
pub struct Job {
    route: usize,
    conn: Connection,
    call: Call,
    branch: Option<Arc<String>>,
    first: bool,
    reply: Option<oneshot::Sender<Outcome>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("route", &self.route)
            .field("connection", &self.conn.id())
            .field("kind", &self.call.kind())
            .field("branch", &self.branch)
            .field("first", &self.first)
            .finish_non_exhaustive()
    }
}

impl Job {
    /// A job and the receiver its outcome arrives on (`Err` when it was dropped unanswered).
    pub(crate) fn new(
        route: usize,
        conn: Connection,
        call: Call,
        branch: Option<Arc<String>>,
        first: bool,
    ) -> (Self, oneshot::Receiver<Outcome>) {
        let (reply, outcome) = oneshot::channel();
        (Self { route, conn, call, branch, first, reply: Some(reply) }, outcome)
    }

    /// The route's index, as given to [`BridgeRoute::new`](super::BridgeRoute::new).
    #[must_use]
    pub fn route(&self) -> usize {
        self.route
    }

    /// The connection the call is about.
    #[must_use]
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// What to do.
    #[must_use]
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// For a [`Call::Message`] on a route that dispatches by message type: the name of the
    /// branch the core picked (the discriminator's value, the message already validated
    /// against that branch's schema). The host calls the callable it registered under this
    /// name. `None` for every other call and on routes without dispatch.
    #[must_use]
    pub fn branch(&self) -> Option<&str> {
        self.branch.as_deref().map(String::as_str)
    }

    /// `true` on the first job of its connection that reaches the host: the host makes its
    /// connection object now (and hears of the connection's end, see
    /// [`Hooks::release`](super::Hooks::release)).
    #[must_use]
    pub fn first(&self) -> bool {
        self.first
    }

    /// Whether the job still waits for its answer.
    #[must_use]
    pub fn is_pending(&self) -> bool {
        self.reply.is_some()
    }

    /// Answer the call. Returns whether the core was still waiting for the answer: `false`
    /// when the call was abandoned (the client left or its handshake timed out during
    /// `on_connect`, or the server stopped). An abandoned connect never reaches
    /// `on_disconnect`, so what the host stored for that connection must be released now: the
    /// core clears the connection's state, and a host that keeps its own objects
    /// ([`Hooks::release`](super::Hooks::release)) drops its object when this returns `false`.
    ///
    /// # Errors
    /// [`Code::InvalidState`] when it was answered already.
    pub fn answer(&mut self, outcome: Outcome) -> Result<bool, Failure> {
        let reply = self
            .reply
            .take()
            .ok_or_else(|| Failure::new(Code::InvalidState, "this call was already answered"))?;
        let delivered = reply.send(outcome).is_ok();
        if !delivered && matches!(self.call, Call::Connect) {
            self.conn.state().clear();
        }
        Ok(delivered)
    }

    /// Keep the answer with the connection, for hosts that answer through their connection
    /// object ([`answer_parked`]) instead of through the job.
    pub fn park(&mut self) {
        if let Some(reply) = self.reply.take() {
            let connect = matches!(self.call, Call::Connect);
            self.conn.state().insert(Parked(Arc::new(Mutex::new(Some((reply, connect))))));
        }
    }
}

/// The answer channel of a parked job, and whether that job is a connect.
type ParkedReply = (oneshot::Sender<Outcome>, bool);

/// A connection's parked job (see [`Job::park`]).
#[derive(Clone)]
struct Parked(Arc<Mutex<Option<ParkedReply>>>);

/// Answer the job parked on `conn` with [`Job::park`]. Returns whether the core was still
/// waiting for the answer, as [`Job::answer`] does: after an abandoned connect (`false`) the
/// connection's state is cleared and the host drops its own object for the connection. A
/// connection whose state the core cleared already (it gave up on the call: client gone,
/// handshake timed out) answers `false` too.
///
/// # Errors
/// [`Code::InvalidState`] when the parked job was answered already.
pub fn answer_parked(conn: &Connection, outcome: Outcome) -> Result<bool, Failure> {
    let Some(parked) = conn.state().get::<Parked>().cloned() else { return Ok(false) };
    let reply = parked.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    let Some((reply, connect)) = reply else {
        return Err(Failure::new(Code::InvalidState, "no call of this connection is waiting for an answer"));
    };
    let delivered = reply.send(outcome).is_ok();
    if !delivered && connect {
        conn.state().clear();
    }
    Ok(delivered)
}

/// What the host takes from the queue at once.
#[derive(Debug, Default)]
pub struct Batch {
    /// Calls, oldest first.
    pub jobs: Vec<Job>,
    /// Log records for the host's logging, oldest first.
    pub logs: Vec<LogRecord>,
}

impl Batch {
    /// An empty batch with room for a full one.
    #[must_use]
    pub fn new() -> Self {
        Self { jobs: Vec::with_capacity(BATCH), logs: Vec::new() }
    }

    /// `true` when it holds neither jobs nor logs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty() && self.logs.is_empty()
    }
}

/// Why [`JobQueue::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Woken {
    /// Jobs or logs were taken.
    Taken,
    /// [`JobQueue::interrupt`] was called (the host wants its thread back).
    Interrupted,
    /// The queue is closed and drained: the server has stopped.
    Closed,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    logs: VecDeque<LogRecord>,
    logs_dropped: u64,
    open: bool,
    /// A wake-up is due or was issued and the host has not taken the queue since.
    scheduled: bool,
    /// The host was actually woken (a deferred wake-up may still be pending).
    woken: bool,
    /// Bumped by every interrupt, so each waiter sees the interrupts that came while it waited.
    interrupts: u64,
    /// Blocking consumers running now.
    consumers: usize,
    /// Blocking consumers asleep in [`JobQueue::wait`] now.
    asleep: usize,
    /// Of those, how many were signalled and have not woken yet: a job finds a consumer awake
    /// or on its way, and only a job that finds none signals one (see [`JobQueue::signal`]).
    signalled: usize,
}

impl State {
    fn take(&mut self, out: &mut Batch) {
        let limit = if self.consumers > 1 { 1 } else { usize::MAX };
        let n = self.jobs.len().min(limit);
        out.jobs.extend(self.jobs.drain(..n));
        out.logs.extend(self.logs.drain(..));
        if self.jobs.is_empty() {
            self.scheduled = false;
            self.woken = false;
        }
    }
}

/// The closable, batching queue of one server's calls into the host.
pub struct JobQueue {
    state: Mutex<State>,
    ready: Condvar,
    policy: WakePolicy,
    /// This queue is in [`DEFERRED`].
    deferred: AtomicBool,
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// Queues whose wake-up waits for a runtime worker to go idle.
static DEFERRED: Mutex<Vec<Arc<JobQueue>>> = Mutex::new(Vec::new());
/// Fast path of [`wake_deferred`]: `false` when [`DEFERRED`] is empty.
static ANY_DEFERRED: AtomicBool = AtomicBool::new(false);

/// Wake the host of every queue with a deferred wake-up (the runtime's park hook, installed by
/// [`super::runtime::build`]).
pub fn wake_deferred() {
    if !ANY_DEFERRED.swap(false, Ordering::AcqRel) {
        return;
    }
    let queues = std::mem::take(&mut *DEFERRED.lock().unwrap_or_else(PoisonError::into_inner));
    for queue in queues {
        queue.deferred.store(false, Ordering::Release);
        queue.wake_now();
    }
}

impl JobQueue {
    /// An open, empty queue.
    #[must_use]
    pub fn new(policy: WakePolicy) -> Arc<Self> {
        let state = State { open: true, ..State::default() };
        Arc::new(Self {
            state: Mutex::new(state),
            ready: Condvar::new(),
            policy,
            deferred: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a job; gives it back when the queue is closed.
    pub(crate) fn push(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if !state.open {
            return Err(job);
        }
        state.jobs.push_back(job);
        let len = state.jobs.len();
        self.after_push(state, len);
        Ok(())
    }

    /// Queue a log record (dropped and counted past [`MAX_LOGS`], or when closed).
    pub(crate) fn push_log(self: &Arc<Self>, record: LogRecord) -> bool {
        let mut state = self.lock();
        if !state.open {
            return false;
        }
        if state.logs.len() >= MAX_LOGS {
            state.logs_dropped += 1;
            return true;
        }
        if state.logs_dropped > 0 {
            let dropped = std::mem::take(&mut state.logs_dropped);
            state.logs.push_back(LogRecord::dropped(dropped));
        }
        state.logs.push_back(record);
        let len = state.jobs.len();
        self.after_push(state, len.max(1));
        true
    }

    fn after_push(self: &Arc<Self>, mut state: MutexGuard<'_, State>, len: usize) {
        match &self.policy {
            WakePolicy::Blocking => self.signal(state),
            WakePolicy::Immediate(waker) => {
                if !std::mem::replace(&mut state.scheduled, true) {
                    state.woken = true;
                    drop(state);
                    waker.wake();
                }
            }
            WakePolicy::Deferred { waker, at } => {
                let first = !std::mem::replace(&mut state.scheduled, true);
                if len >= *at && !state.woken {
                    state.woken = true;
                    drop(state);
                    waker.wake();
                } else if first {
                    drop(state);
                    if !self.deferred.swap(true, Ordering::AcqRel) {
                        DEFERRED.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::clone(self));
                        ANY_DEFERRED.store(true, Ordering::Release);
                    }
                }
            }
        }
    }

    /// Wake one blocking consumer, unless every sleeping one was signalled already (or none
    /// sleeps: a busy consumer takes the job when it comes back). A signal costs a system call
    /// (and on a shared core, often a switch to the consumer) even when nobody sleeps, so a
    /// burst of jobs signals once, not once per job.
    fn signal(&self, mut state: MutexGuard<'_, State>) {
        if state.asleep > state.signalled {
            state.signalled += 1;
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Wake the host unless it was woken since it last took the queue (deferred wake-ups).
    fn wake_now(&self) {
        let mut state = self.lock();
        if !state.scheduled || state.woken {
            return;
        }
        state.woken = true;
        drop(state);
        if let WakePolicy::Deferred { waker, .. } | WakePolicy::Immediate(waker) = &self.policy {
            waker.wake();
        }
    }

    /// Move the waiting jobs and logs into `out` without blocking (see the module
    /// documentation for how many jobs). Never touches the host runtime: callable with its lock
    /// (GIL, GVL) held.
    pub fn take(&self, out: &mut Batch) {
        self.lock().take(out);
    }

    /// Register the calling thread as a blocking consumer until the guard is dropped.
    pub fn consume(&self) -> Consuming<'_> {
        self.lock().consumers += 1;
        Consuming(self)
    }

    /// Block until there are jobs or logs (moved into `out`), an interrupt, or the queue is
    /// closed and drained. Run it without the host's lock (GVL).
    pub fn wait(&self, out: &mut Batch) -> Woken {
        let mut state = self.lock();
        let seen = state.interrupts;
        loop {
            if !state.jobs.is_empty() || !state.logs.is_empty() {
                state.take(out);
                if !state.jobs.is_empty() {
                    // Let another consumer take the rest while this one works.
                    self.signal(state);
                }
                return Woken::Taken;
            }
            if !state.open {
                return Woken::Closed;
            }
            if state.interrupts != seen {
                return Woken::Interrupted;
            }
            state.asleep += 1;
            state = self.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.asleep -= 1;
            // Woken by a signal, or by something else (an interrupt, a spurious wake-up) before
            // one that is on its way: either way one sleeper fewer is owed a signal. Counting
            // low only costs an extra signal; counting high would lose a wake-up.
            state.signalled = state.signalled.saturating_sub(1);
        }
    }

    /// Wake every blocked [`JobQueue::wait`] so that it returns [`Woken::Interrupted`].
    pub fn interrupt(&self) {
        self.lock().interrupts += 1;
        self.ready.notify_all();
    }

    /// Give jobs taken but not run back to the front of the queue, in order (a consumer thread
    /// that was killed mid-batch).
    pub fn requeue(&self, jobs: impl DoubleEndedIterator<Item = Job>) {
        let mut state = self.lock();
        for job in jobs.rev() {
            state.jobs.push_front(job);
        }
        self.signal(state);
    }

    /// Refuse new jobs and drop the waiting ones (their callers see a lost call); blocked
    /// consumers return [`Woken::Closed`].
    pub fn close(&self) {
        let dropped = {
            let mut state = self.lock();
            state.open = false;
            std::mem::take(&mut state.jobs)
        };
        drop(dropped);
        self.ready.notify_all();
    }

    /// `false` once [`JobQueue::close`] was called.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.lock().open
    }
}

/// A blocking consumer's registration with its queue (see [`JobQueue::consume`]); leaves on drop.
#[derive(Debug)]
pub struct Consuming<'a>(&'a JobQueue);

impl Drop for Consuming<'_> {
    fn drop(&mut self) {
        self.0.lock().consumers -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::bridge::CallKind;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Count {
        fn get(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn job(route: usize) -> (Job, oneshot::Receiver<Outcome>) {
        let (conn, _rx) = Connection::for_tests();
        Job::new(route, conn, Call::Message(serde_json::json!(route)), None, false)
    }

    fn push(queue: &Arc<JobQueue>, route: usize) -> oneshot::Receiver<Outcome> {
        let (job, rx) = job(route);
        queue.push(job).unwrap();
        rx
    }

    fn routes(batch: &Batch) -> Vec<usize> {
        batch.jobs.iter().map(Job::route).collect()
    }

    #[test]
    fn immediate_wakes_once_per_batch_and_keeps_order() {
        let waker = Arc::new(Count::default());
        let queue = JobQueue::new(WakePolicy::Immediate(waker.clone()));
        let _rx: Vec<_> = (0..5).map(|i| push(&queue, i)).collect();
        assert_eq!(waker.get(), 1, "one wake-up for a burst");
        let mut batch = Batch::new();
        queue.take(&mut batch);
        assert_eq!(routes(&batch), [0, 1, 2, 3, 4]);
        let _rx = push(&queue, 5);
        assert_eq!(waker.get(), 2, "the first job after a take wakes again");
    }

    #[test]
    fn a_push_between_wake_and_take_is_taken_without_a_second_wake() {
        // The lost wake-up of the old Python bridge: whatever lands before `take` is in the
        // batch, whatever lands after it wakes the host again.
        let waker = Arc::new(Count::default());
        let queue = JobQueue::new(WakePolicy::Immediate(waker.clone()));
        let _a = push(&queue, 0);
        let _b = push(&queue, 1);
        let mut batch = Batch::new();
        queue.take(&mut batch);
        assert_eq!((routes(&batch), waker.get()), (vec![0, 1], 1));
        let _c = push(&queue, 2);
        assert_eq!(waker.get(), 2);
        batch.jobs.clear();
        queue.take(&mut batch);
        assert_eq!(routes(&batch), [2]);
    }

    #[test]
    fn deferred_waits_for_an_idle_worker_or_a_full_batch() {
        let waker = Arc::new(Count::default());
        let queue = JobQueue::new(WakePolicy::Deferred { waker: waker.clone(), at: 3 });
        let _a = push(&queue, 0);
        let _b = push(&queue, 1);
        assert_eq!(waker.get(), 0, "deferred until a worker parks");
        let _c = push(&queue, 2);
        assert_eq!(waker.get(), 1, "a full batch wakes at once");
        wake_deferred();
        assert_eq!(waker.get(), 1, "already woken: the park hook does not wake twice");
        let mut batch = Batch::new();
        queue.take(&mut batch);
        let _d = push(&queue, 3);
        assert_eq!(waker.get(), 1);
        wake_deferred();
        assert_eq!(waker.get(), 2, "the park hook wakes a deferred queue");
    }

    #[test]
    fn several_blocking_consumers_take_one_job_each() {
        let queue = JobQueue::new(WakePolicy::Blocking);
        let _rx: Vec<_> = (0..3).map(|i| push(&queue, i)).collect();
        let mut batch = Batch::new();
        {
            let _one = queue.consume();
            assert_eq!(queue.wait(&mut batch), Woken::Taken);
            assert_eq!(routes(&batch), [0, 1, 2], "alone, a consumer takes the batch");
        }
        let _rx: Vec<_> = (3..6).map(|i| push(&queue, i)).collect();
        let (_one, _two) = (queue.consume(), queue.consume());
        batch.jobs.clear();
        queue.wait(&mut batch);
        assert_eq!(routes(&batch), [3], "with two consumers, one job at a time");
    }

    #[test]
    fn sleeping_consumers_are_woken_for_every_burst() {
        // A burst signals one sleeping consumer, not one per job: no job may be left waiting
        // for a wake-up that never comes (a lost wake-up hangs this test).
        for consumers in [1, 3] {
            let queue = JobQueue::new(WakePolicy::Blocking);
            let hosts: Vec<_> = (0..consumers)
                .map(|_| {
                    let queue = Arc::clone(&queue);
                    std::thread::spawn(move || {
                        let _consuming = queue.consume();
                        let mut batch = Batch::new();
                        while queue.wait(&mut batch) != Woken::Closed {
                            for mut job in batch.jobs.drain(..) {
                                job.answer(Outcome::Done).unwrap();
                            }
                        }
                    })
                })
                .collect();
            let producers: Vec<_> = (0..4)
                .map(|route| {
                    let queue = Arc::clone(&queue);
                    std::thread::spawn(move || {
                        for i in 0..500 {
                            // Bursts of one to four jobs, each waited for, so that consumers
                            // fall asleep between bursts.
                            let answers: Vec<_> = (0..=i % 4).map(|_| push(&queue, route)).collect();
                            for answer in answers {
                                assert_eq!(answer.blocking_recv().unwrap(), Outcome::Done);
                            }
                        }
                    })
                })
                .collect();
            for producer in producers {
                producer.join().unwrap();
            }
            queue.close();
            for host in hosts {
                host.join().unwrap();
            }
        }
    }

    #[test]
    fn interrupt_and_close_end_a_wait() {
        let queue = JobQueue::new(WakePolicy::Blocking);
        let waiter = std::thread::spawn({
            let queue = Arc::clone(&queue);
            move || queue.wait(&mut Batch::new())
        });
        while Arc::strong_count(&queue) > 1 && !waiter.is_finished() {
            queue.interrupt();
            std::thread::yield_now();
        }
        assert_eq!(waiter.join().unwrap(), Woken::Interrupted);
        queue.close();
        assert_eq!(queue.wait(&mut Batch::new()), Woken::Closed);
    }

    #[test]
    fn closing_loses_waiting_jobs_and_refuses_new_ones() {
        let queue = JobQueue::new(WakePolicy::Blocking);
        let mut lost = push(&queue, 0);
        queue.close();
        assert!(lost.try_recv().is_err(), "the caller sees a lost call");
        assert!(queue.push(job(1).0).is_err());
    }

    #[test]
    fn requeue_puts_jobs_back_in_front_in_order() {
        let queue = JobQueue::new(WakePolicy::Blocking);
        let _rx: Vec<_> = (0..4).map(|i| push(&queue, i)).collect();
        let mut batch = Batch::new();
        queue.take(&mut batch);
        let mut jobs = batch.jobs.drain(..);
        let _ran = jobs.next();
        queue.requeue(jobs);
        let _more = push(&queue, 4);
        let mut again = Batch::new();
        queue.take(&mut again);
        assert_eq!(routes(&again), [1, 2, 3, 4]);
    }

    #[test]
    fn a_job_is_answered_once_and_parked_answers_arrive() {
        let (mut job, mut rx) = job(7);
        assert_eq!(job.call().kind(), CallKind::Message);
        assert!(job.answer(Outcome::Done).unwrap(), "the caller was waiting");
        assert_eq!(job.answer(Outcome::Done).unwrap_err().code, Code::InvalidState);
        assert_eq!(rx.try_recv().unwrap(), Outcome::Done);
        let (mut job, mut rx) = self::job(8);
        job.park();
        let conn = job.conn().clone();
        assert!(answer_parked(&conn, Outcome::reply_json(Some(serde_json::json!(1)))).unwrap());
        assert!(matches!(rx.try_recv().unwrap(), Outcome::Reply(_)));
        assert_eq!(answer_parked(&conn, Outcome::Done).unwrap_err().code, Code::InvalidState);
    }

    #[test]
    fn an_abandoned_connect_clears_what_the_host_stored() {
        #[derive(Clone)]
        struct HostObject;
        let (conn, _rx) = Connection::for_tests();
        let (mut job, rx) = Job::new(0, conn.clone(), Call::Connect, None, true);
        conn.state().insert(HostObject);
        drop(rx); // the handshake timed out while the host ran on_connect
        assert!(!job.answer(Outcome::Done).unwrap());
        assert!(conn.state().get::<HostObject>().is_none());
        // The same through the connection, for hosts that park their jobs.
        let (mut job, rx) = Job::new(0, conn.clone(), Call::Connect, None, true);
        job.park();
        conn.state().insert(HostObject);
        drop(rx);
        assert!(!answer_parked(&conn, Outcome::Done).unwrap());
        assert!(conn.state().get::<HostObject>().is_none());
        // The core gave up first and cleared the state itself: the late answer reports it.
        let (mut job, rx) = Job::new(0, conn.clone(), Call::Connect, None, true);
        job.park();
        drop(rx);
        conn.state().clear();
        assert!(!answer_parked(&conn, Outcome::Done).unwrap());
    }

    #[test]
    fn log_records_are_bounded() {
        let waker = Arc::new(Count::default());
        let queue = JobQueue::new(WakePolicy::Immediate(waker.clone()));
        let record =
            LogRecord { level: crate::bridge::log::LogLevel::Warn, target: "t".into(), message: "m".into() };
        for _ in 0..MAX_LOGS + 10 {
            queue.push_log(record.clone());
        }
        assert_eq!(waker.get(), 1);
        let mut batch = Batch::new();
        queue.take(&mut batch);
        assert_eq!(batch.logs.len(), MAX_LOGS);
        queue.push_log(record);
        batch.logs.clear();
        queue.take(&mut batch);
        assert_eq!(batch.logs.len(), 2, "the count of dropped records comes first");
        assert!(batch.logs[0].message.starts_with("10 log records dropped"));
    }
}
