//! Broadcast load: S subscriber connections and one sender on a room route whose server
//! publishes every message to everyone in the room but its sender.
//!
//! Closed loop over the whole room: the sender keeps `window` messages in flight, and a message
//! stops being in flight only once *every* subscriber has received it. So the server always has
//! fan-out work queued (it is never idle waiting for the client) but can never fall behind
//! unboundedly, and a server that delivers to some subscribers late slows the sender down
//! instead of piling up queues. A delivery is one message received by one subscriber; latency
//! runs from the send to the last subscriber's receipt. Each subscriber receives the messages in
//! the order they were sent (one sender, one ordered stream per subscriber), so the n-th data
//! frame a subscriber reads is the n-th message sent: no payload needs an id.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use hdrhistogram::Histogram;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Notify,
    time::Instant,
};

use crate::{frames::Kind, load};

/// What the sender and every subscriber share.
pub(crate) struct Plan {
    /// The masked frame the sender sends.
    pub(crate) frame: Vec<u8>,
    /// Subscriber connections (the sender is not one of them).
    pub(crate) subscribers: usize,
    /// Messages in flight: sent but not yet received by every subscriber.
    pub(crate) window: usize,
    pub(crate) measure_from: Instant,
    pub(crate) measure_until: Instant,
}

impl Plan {
    fn measuring(&self, now: Instant) -> bool {
        now >= self.measure_from && now < self.measure_until
    }
}

/// Messages still in flight and what the measured window saw.
struct Progress {
    /// Per message in flight, oldest first: when it was sent and how many subscribers have it.
    pending: VecDeque<(Instant, usize)>,
    /// Index (in send order) of the message at the front of `pending`.
    base: u64,
    latency: Histogram<u64>,
    /// Messages that reached every subscriber inside the measured window.
    completed: u64,
}

/// The shared state of one broadcast run, and its totals.
pub(crate) struct Fanout {
    plan: Plan,
    progress: Mutex<Progress>,
    /// Signalled when a message has reached every subscriber (the window has room).
    room: Notify,
    /// Deliveries (one message to one subscriber) inside the measured window.
    pub(crate) deliveries: AtomicU64,
    /// Connections that failed (closed by the server, unexpected frames, I/O errors).
    pub(crate) errors: AtomicU64,
}

impl Fanout {
    /// A run following `plan`, nothing sent yet.
    pub(crate) fn new(plan: Plan) -> Self {
        Self {
            progress: Mutex::new(Progress {
                pending: VecDeque::with_capacity(plan.window),
                base: 0,
                latency: load::histogram(),
                completed: 0,
            }),
            plan,
            room: Notify::new(),
            deliveries: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Messages that reached every subscriber inside the window, and their latency histogram.
    pub(crate) fn completed(&self) -> (u64, Histogram<u64>) {
        let progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        (progress.completed, progress.latency.clone())
    }

    /// A subscriber received messages `first..first + count` at `now`.
    fn received(&self, first: u64, count: usize, now: Instant) -> std::io::Result<()> {
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        let Progress { pending, base, latency, completed } = &mut *progress;
        for index in first..first + count as u64 {
            let slot = usize::try_from(index - *base).ok().and_then(|at| pending.get_mut(at));
            let Some((_, got)) = slot else {
                return Err(std::io::Error::other("a subscriber received more messages than were sent"));
            };
            *got += 1;
        }
        let mut freed = false;
        while let Some(&(sent, got)) = pending.front() {
            if got < self.plan.subscribers {
                break;
            }
            pending.pop_front();
            *base += 1;
            freed = true;
            if self.plan.measuring(now) {
                let micros = u64::try_from(now.duration_since(sent).as_micros()).unwrap_or(u64::MAX);
                let _ = latency.record(micros.max(1));
                *completed += 1;
            }
        }
        if freed {
            self.room.notify_one();
        }
        Ok(())
    }

    /// Record a failed connection.
    fn failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        // A failed subscriber never completes a message again: let the sender notice the end.
        self.room.notify_one();
    }
}

/// Read one subscriber's deliveries until the window ends.
pub(crate) async fn subscriber(stream: TcpStream, fanout: Arc<Fanout>) {
    if receive(stream, &fanout).await.is_err() {
        fanout.failed();
    }
}

async fn receive(mut stream: TcpStream, fanout: &Fanout) -> std::io::Result<()> {
    let plan = &fanout.plan;
    let mut next = 0_u64;
    let mut delivered = 0_u64;
    let mut buf = vec![0_u8; 64 * 1024];
    let mut filled = 0;
    let mut kinds = Vec::new();
    let outcome = loop {
        let remaining = plan.measure_until.saturating_duration_since(Instant::now());
        let read = match tokio::time::timeout(remaining, stream.read(&mut buf[filled..])).await {
            Ok(Ok(0)) => break Err(std::io::Error::other("server closed")),
            Ok(Ok(read)) => read,
            Ok(Err(err)) => break Err(err),
            Err(_) => break Ok(()),
        };
        filled += read;
        load::take_frames(&mut buf, &mut filled, &mut kinds);
        if kinds.contains(&Kind::Close) {
            break Err(std::io::Error::other("server sent close"));
        }
        let data = kinds.iter().filter(|k| **k == Kind::Data).count();
        if data == 0 {
            continue;
        }
        let now = Instant::now();
        if let Err(err) = fanout.received(next, data, now) {
            break Err(err);
        }
        next += data as u64;
        if plan.measuring(now) {
            delivered += data as u64;
        }
    };
    fanout.deliveries.fetch_add(delivered, Ordering::Relaxed);
    outcome
}

/// Send messages, keeping the plan's window full, until the window ends.
pub(crate) async fn sender(stream: TcpStream, fanout: Arc<Fanout>) {
    if send(stream, &fanout).await.is_err() {
        fanout.failed();
    }
}

async fn send(mut stream: TcpStream, fanout: &Fanout) -> std::io::Result<()> {
    let plan = &fanout.plan;
    let mut out = Vec::with_capacity(plan.frame.len() * plan.window);
    loop {
        let room = fanout.room.notified();
        let now = Instant::now();
        if now >= plan.measure_until || fanout.errors.load(Ordering::Relaxed) > 0 {
            return Ok(());
        }
        out.clear();
        {
            let mut progress = fanout.progress.lock().unwrap_or_else(PoisonError::into_inner);
            while progress.pending.len() < plan.window {
                progress.pending.push_back((now, 0));
                out.extend_from_slice(&plan.frame);
            }
        }
        if out.is_empty() {
            // The window is full: wait for a message to reach every subscriber.
            if tokio::time::timeout_at(plan.measure_until, room).await.is_err() {
                return Ok(());
            }
        } else {
            stream.write_all(&out).await?;
        }
    }
}
