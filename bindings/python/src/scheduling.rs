//! Thread scheduling: the tokio workers and the Python loop thread run under Linux's
//! `SCHED_BATCH` policy, so that waking one of them does not preempt the other at once.
//!
//! Without it, on a busy core every hand-off (a job to Python, a reply back) switches threads:
//! Python gets batches of one or two messages and the server spends its time context switching.
//! With it, the running side finishes its batch first. `SPIKARD_SCHED_BATCH=0` turns it off.

use pyo3::prelude::*;

fn wanted() -> bool {
    std::env::var("SPIKARD_SCHED_BATCH").map_or(true, |v| v != "0")
}

/// Put the calling thread under `SCHED_BATCH` (Linux; elsewhere, and on failure, nothing).
pub(crate) fn batch_policy() {
    #[cfg(target_os = "linux")]
    if wanted() {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `sched_setscheduler` reads `param` only; pid 0 is the calling thread.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &raw const param) };
    }
}

/// Put the calling thread (the Python event loop thread) under `SCHED_BATCH`, like the tokio
/// workers, unless `SPIKARD_SCHED_BATCH=0`.
#[pyfunction]
pub(crate) fn use_batch_policy() {
    batch_policy();
}
