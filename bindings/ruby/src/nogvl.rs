//! Running Rust code with Ruby's Global VM Lock released.
//!
//! Ruby lets one thread at a time run Ruby code. A thread that waits for something outside Ruby
//! (a batch of messages, the server's end) gives the lock up with `rb_thread_call_without_gvl`,
//! so other Ruby threads keep running, and registers an *unblocking function* that Ruby calls to
//! wake it when it must handle an interrupt (a signal trap, `Thread#raise`, `Thread#kill`).

use std::{
    ffi::c_void,
    panic::{AssertUnwindSafe, catch_unwind},
    ptr,
};

struct Call<F, R> {
    work: Option<F>,
    result: Option<std::thread::Result<R>>,
}

unsafe extern "C" fn run_work<F, R>(data: *mut c_void) -> *mut c_void
where
    F: FnOnce() -> R,
{
    // SAFETY: `data` is the `Call` that `without_gvl` passed in, alive for the whole call.
    let call = unsafe { &mut *data.cast::<Call<F, R>>() };
    if let Some(work) = call.work.take() {
        call.result = Some(catch_unwind(AssertUnwindSafe(work)));
    }
    ptr::null_mut()
}

unsafe extern "C" fn run_unblock<U>(data: *mut c_void)
where
    U: Fn(),
{
    // SAFETY: `data` is the `U` that `without_gvl` passed in, alive for the whole call.
    let unblock = unsafe { &*data.cast::<U>() };
    // A panic must not unwind into Ruby's C code; there is nothing to report it to.
    let _ = catch_unwind(AssertUnwindSafe(unblock));
}

/// Run `work` without the GVL. Ruby calls `unblock` (from another thread) when this thread has
/// an interrupt to handle; `unblock` must make `work` return soon. `work` must not touch Ruby.
///
/// Returns `None`, without running `work`, when an interrupt was already pending. Either way the
/// caller then runs pending interrupts with `Ruby::thread_check_ints` (which may raise) and
/// decides whether to wait again. This uses `rb_thread_call_without_gvl2`, which never raises
/// itself, so no Ruby exception unwinds through Rust frames here.
///
/// Call it only from a Ruby thread that holds the GVL (any Ruby method implemented in Rust).
pub(crate) fn without_gvl<F, R, U>(work: F, unblock: U) -> Option<R>
where
    F: FnOnce() -> R + Send,
    U: Fn() + Sync,
{
    let mut call = Call { work: Some(work), result: None };
    // SAFETY: both pointers outlive the call; `run_work` runs `work` at most once on this
    // thread, `run_unblock` only reads `unblock`, which is `Sync`.
    unsafe {
        rb_sys::rb_thread_call_without_gvl2(
            Some(run_work::<F, R>),
            ptr::from_mut(&mut call).cast(),
            Some(run_unblock::<U>),
            ptr::from_ref(&unblock).cast_mut().cast(),
        );
    }
    match call.result? {
        Ok(value) => Some(value),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
