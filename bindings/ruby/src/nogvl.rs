//! Waiting for the core's jobs with Ruby's Global VM Lock released.
//!
//! Ruby lets one thread at a time run Ruby code. A dispatcher thread waiting for jobs gives the
//! lock up with `rb_thread_call_without_gvl2`, so other Ruby threads keep running, and registers
//! an *unblocking function* ([`JobQueue::interrupt`]) that Ruby calls to wake it when it must
//! handle an interrupt (a signal trap, `Thread#raise`, `Thread#kill`).

use std::{
    ffi::c_void,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    ptr,
};

use spikard::bridge::{Batch, JobQueue, Woken};

struct Wait<'a> {
    queue: &'a JobQueue,
    batch: &'a mut Batch,
    woken: Option<std::thread::Result<Woken>>,
}

unsafe extern "C" fn run_wait(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Wait` that `wait` passed in, alive for the whole call.
    let wait = unsafe { &mut *data.cast::<Wait<'_>>() };
    wait.woken = Some(catch_unwind(AssertUnwindSafe(|| wait.queue.wait(wait.batch))));
    ptr::null_mut()
}

unsafe extern "C" fn run_interrupt(data: *mut c_void) {
    // SAFETY: `data` is the queue that `wait` passed in, alive for the whole call.
    let queue = unsafe { &*data.cast::<JobQueue>() };
    // A panic must not unwind into Ruby's C code; there is nothing to report it to.
    let _ = catch_unwind(AssertUnwindSafe(|| queue.interrupt()));
}

/// [`JobQueue::wait`] for `batch` without the GVL; Ruby interrupts it with
/// [`JobQueue::interrupt`] (from another thread) when this thread has an interrupt to handle.
///
/// Returns `None`, without waiting, when an interrupt was already pending. Either way the caller
/// then runs pending interrupts with `Ruby::thread_check_ints` (which may raise). This uses
/// `rb_thread_call_without_gvl2`, which never raises itself, so no Ruby exception unwinds
/// through Rust frames here.
///
/// Call it only from a Ruby thread that holds the GVL (any Ruby method implemented in Rust).
pub(crate) fn wait(queue: &JobQueue, batch: &mut Batch) -> Option<Woken> {
    let mut wait = Wait { queue, batch, woken: None };
    // SAFETY: both pointers outlive the call; `run_wait` runs once on this thread, and
    // `run_interrupt` only calls `JobQueue::interrupt`, which is thread-safe.
    unsafe {
        rb_sys::rb_thread_call_without_gvl2(
            Some(run_wait),
            ptr::from_mut(&mut wait).cast(),
            Some(run_interrupt),
            ptr::from_ref(queue).cast_mut().cast(),
        );
    }
    match wait.woken? {
        Ok(woken) => Some(woken),
        Err(panic) => resume_unwind(panic),
    }
}
