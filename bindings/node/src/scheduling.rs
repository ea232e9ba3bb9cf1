//! Thread scheduling: the addon's own tokio runtime, whose workers and the JavaScript thread
//! run under Linux's `SCHED_BATCH` policy, so waking one of them does not preempt the other at
//! once: the running side finishes its batch first, and JavaScript gets bigger batches per
//! wake-up. Same as the Python binding. `SPIKARD_SCHED_BATCH=0` turns it off;
//! `SPIKARD_WORKER_THREADS=n` sets the number of tokio workers (default: one per CPU).
//!
//! Measured with `bench/run.py --servers node,ws --scenarios echo-text20` (server pinned to one
//! CPU, 5 alternating runs each): Spikard Node / `ws` per server CPU-second, median 1.14 with
//! the policy against 0.77 without.

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

/// Install the addon's tokio runtime (napi-rs runs `async` functions and spawned futures on it).
#[napi_derive::module_init]
fn init() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = std::env::var("SPIKARD_WORKER_THREADS").ok().and_then(|v| v.parse().ok()) {
        builder.worker_threads(threads);
    }
    if let Ok(rt) = builder.thread_name("spikard-worker").on_thread_start(batch_policy).enable_all().build() {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
