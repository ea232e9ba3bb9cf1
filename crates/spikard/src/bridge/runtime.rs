//! The one tokio runtime builder of every binding, and the thread scheduling policy.
//!
//! `SCHED_BATCH` (Linux): the tokio workers and the host's thread run under it so that waking
//! one does not preempt the other at once: the running side finishes its batch first and the
//! host gets bigger batches per wake-up. A host thread that blocks on the job queue follows its
//! batches instead ([`HostPolicy`]). `SPIKARD_SCHED_BATCH=0` turns it off;
//! `SPIKARD_WORKER_THREADS=n` sets the number of tokio workers.

use std::io;

/// How a binding wants its runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Tokio worker threads (`None`: `SPIKARD_WORKER_THREADS`, else one per CPU).
    pub worker_threads: Option<usize>,
}

/// Build a multi-threaded runtime with timers and I/O, whose workers run under `SCHED_BATCH`
/// (unless `SPIKARD_SCHED_BATCH=0`) and, when idle, wake deferred host wake-ups
/// ([`super::wake_deferred`]).
///
/// # Errors
/// The operating system's error when the worker threads cannot be started.
pub fn build(options: RuntimeOptions) -> io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let threads = options
        .worker_threads
        .or_else(|| std::env::var("SPIKARD_WORKER_THREADS").ok().and_then(|v| v.parse().ok()));
    if let Some(threads) = threads {
        builder.worker_threads(threads.max(1));
    }
    builder
        .on_thread_start(batch_policy)
        .thread_name("spikard-worker")
        .on_thread_park(super::wake_deferred)
        .enable_all()
        .build()
}

fn wanted() -> bool {
    std::env::var("SPIKARD_SCHED_BATCH").map_or(true, |v| v != "0")
}

/// Put the calling thread under `SCHED_BATCH` unless `SPIKARD_SCHED_BATCH=0` (Linux; elsewhere,
/// and on failure, nothing). Bindings call it on the host thread that runs handlers.
pub fn batch_policy() {
    if wanted() {
        set_policy(true);
    }
}

/// `SCHED_BATCH` (`true`) or the normal policy for the calling thread (Linux; elsewhere, and on
/// failure, nothing).
#[allow(unsafe_code)]
fn set_policy(batch: bool) {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        let policy = if batch { libc::SCHED_BATCH } else { libc::SCHED_OTHER };
        // SAFETY: `sched_setscheduler` only reads `param`; pid 0 is the calling thread.
        let _ = unsafe { libc::sched_setscheduler(0, policy, &raw const param) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = batch;
}

/// Single-job batches in a row after which a [`HostPolicy`] thread leaves `SCHED_BATCH` (its
/// documentation says 16).
const SINGLES: u32 = 16;

/// The scheduling policy of a host thread that takes its jobs from a [`JobQueue`](super::JobQueue)
/// (Ruby's dispatchers, Node's JavaScript thread), following the batches it takes: `SCHED_BATCH`
/// from a batch of several jobs on, the normal policy again after 16 single-job batches in a row
/// (never `SCHED_BATCH` with `SPIKARD_SCHED_BATCH=0`). A lightly loaded server's host thread
/// therefore keeps the policy it was given.
///
/// Under `SCHED_BATCH` a job queued for the thread does not preempt the tokio worker that
/// queued it, so with many connections the worker fills a batch before the thread takes it
/// (echo on one shared core: ~60 jobs per wake-up instead of ~1.5). A thread that gets one job
/// at a time gains nothing from that and loses the overlap that a prompt hand-off gives: a
/// broadcast's next message reaches it while the subscribers' writers still wait, so they send
/// several frames per system call.
#[derive(Debug, Default)]
pub struct HostPolicy {
    batch: bool,
    singles: u32,
}

impl HostPolicy {
    /// The calling thread just took `jobs` jobs: switch its policy if the batches say so (a
    /// system call only when it changes).
    pub fn took(&mut self, jobs: usize) {
        let batch = match jobs {
            0 => return,
            1 => {
                self.singles = self.singles.saturating_add(1);
                self.batch && self.singles < SINGLES
            }
            _ => {
                self.singles = 0;
                true
            }
        };
        if batch != self.batch && wanted() {
            self.batch = batch;
            set_policy(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{HostPolicy, SINGLES, wanted};

    #[test]
    fn a_host_policy_follows_the_batches() {
        // On a thread of its own: the policy applies to the calling thread.
        std::thread::spawn(|| {
            let mut policy = HostPolicy::default();
            policy.took(1);
            assert!(!policy.batch, "one job at a time: the normal policy");
            policy.took(3);
            assert_eq!(policy.batch, wanted(), "a batch: SCHED_BATCH (unless turned off)");
            for _ in 1..SINGLES {
                policy.took(1);
            }
            policy.took(0);
            assert_eq!(policy.batch, wanted(), "a few single jobs (and logs alone) change nothing");
            policy.took(1);
            assert!(!policy.batch, "many single jobs in a row: the normal policy again");
        })
        .join()
        .unwrap();
    }
}
