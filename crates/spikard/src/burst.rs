//! Bursts: how many connections are in the middle of handling messages that were already
//! waiting, so that what those handlers publish can leave in one socket write per subscriber.
//!
//! A connection's reader enters a burst when a frame arrives and leaves it once its handler
//! has finished and no further frame is waiting in the socket. A subscriber's writer holding
//! only published messages waits until no connection is in a burst (or the fan-out flush
//! interval has passed, or something else is queued) before it flushes. One sender with eight
//! messages waiting thus costs each subscriber one write, not eight, whatever thread the
//! handlers run on.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The server-wide count of connections in a burst, and a signal for when it drops to zero.
#[derive(Debug, Default)]
pub(crate) struct Bursts {
    active: AtomicUsize,
    ended: Notify,
}

impl Bursts {
    /// Whether some connection is in a burst now.
    pub(crate) fn any(&self) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }

    /// Resolves once no connection is in a burst. Enable it (or poll it) before checking
    /// [`Bursts::any`] so that the end of a burst between the two is not missed.
    pub(crate) fn ended(&self) -> tokio::sync::futures::Notified<'_> {
        self.ended.notified()
    }
}

/// One reader's place in [`Bursts`]: in a burst or not, and out of it when dropped.
pub(crate) struct Burst<'a> {
    bursts: &'a Bursts,
    on: bool,
}

impl<'a> Burst<'a> {
    /// A reader not in a burst.
    pub(crate) fn new(bursts: &'a Bursts) -> Self {
        Self { bursts, on: false }
    }

    /// A frame arrived: the reader is in a burst until [`Burst::leave`].
    pub(crate) fn enter(&mut self) {
        if !self.on {
            self.on = true;
            self.bursts.active.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Nothing more is waiting: the reader's burst is over.
    pub(crate) fn leave(&mut self) {
        if self.on {
            self.on = false;
            if self.bursts.active.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.bursts.ended.notify_waiters();
            }
        }
    }
}

impl Drop for Burst<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}
