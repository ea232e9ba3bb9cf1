//! The one tokio runtime builder of every binding, and the thread scheduling policy.
//!
//! `SCHED_BATCH` (Linux): the tokio workers and the host's thread run under it so that waking
//! one does not preempt the other at once: the running side finishes its batch first and the
//! host gets bigger batches per wake-up. `SPIKARD_SCHED_BATCH=0` turns it off;
//! `SPIKARD_WORKER_THREADS=n` sets the number of tokio workers.

use std::io;

/// How a binding wants its runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Tokio worker threads (`None`: `SPIKARD_WORKER_THREADS`, else one per CPU).
    pub worker_threads: Option<usize>,
    /// Run the workers under `SCHED_BATCH` (unless `SPIKARD_SCHED_BATCH=0`).
    pub batch_policy: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self { worker_threads: None, batch_policy: true }
    }
}

/// Build a multi-threaded runtime with timers and I/O, whose idle workers wake deferred host
/// wake-ups ([`super::wake_deferred`]).
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
    if options.batch_policy {
        builder.on_thread_start(batch_policy);
    }
    builder.thread_name("spikard-worker").on_thread_park(super::wake_deferred).enable_all().build()
}

fn wanted() -> bool {
    std::env::var("SPIKARD_SCHED_BATCH").map_or(true, |v| v != "0")
}

/// Put the calling thread under `SCHED_BATCH` unless `SPIKARD_SCHED_BATCH=0` (Linux; elsewhere,
/// and on failure, nothing). Bindings call it on the host thread that runs handlers.
#[allow(unsafe_code)]
pub fn batch_policy() {
    #[cfg(target_os = "linux")]
    if wanted() {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `sched_setscheduler` only reads `param`; pid 0 is the calling thread.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &raw const param) };
    }
}
