//! Load generation: closed loop (K messages in flight per connection) and open loop (a fixed
//! total rate, latency measured from each message's intended send time, so a slow server cannot
//! hide its queueing: no coordinated omission).

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hdrhistogram::Histogram;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use crate::frames::{self, Kind};

/// What every connection shares.
pub(crate) struct Plan {
    pub(crate) frame: Vec<u8>,
    pub(crate) in_flight: usize,
    /// Messages per second per connection (open loop) or `None` (closed loop).
    pub(crate) rate_per_connection: Option<f64>,
    pub(crate) measure_from: Instant,
    pub(crate) measure_until: Instant,
}

/// Totals over the measured window.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) messages: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) latency: Mutex<Option<Histogram<u64>>>,
}

impl Totals {
    fn merge(&self, histogram: &Histogram<u64>) {
        let mut slot = self.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match slot.as_mut() {
            Some(total) => {
                let _ = total.add(histogram);
            }
            None => *slot = Some(histogram.clone()),
        }
    }
}

/// An empty latency histogram (microseconds).
pub(crate) fn histogram() -> Histogram<u64> {
    // 1 us .. 60 s at 3 significant digits; these bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Drive one upgraded connection until the plan's window ends.
pub(crate) async fn run_connection(stream: TcpStream, plan: Arc<Plan>, totals: Arc<Totals>) {
    let result = match plan.rate_per_connection {
        None => closed_loop(stream, &plan, &totals).await,
        Some(rate) => open_loop(stream, &plan, &totals, rate).await,
    };
    if result.is_err() {
        totals.errors.fetch_add(1, Ordering::Relaxed);
    }
}

fn record(plan: &Plan, sent: Instant, now: Instant, histogram: &mut Histogram<u64>, count: &mut u64) {
    if now >= plan.measure_from && now < plan.measure_until {
        let micros = u64::try_from(now.duration_since(sent).as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = histogram.record(micros);
        *count += 1;
    }
}

/// Parse the complete frames in `buf[..filled]` into `kinds`, keep the partial rest at the
/// start of `buf`, and grow `buf` when a frame does not fit in it yet.
pub(crate) fn take_frames(buf: &mut Vec<u8>, filled: &mut usize, kinds: &mut Vec<Kind>) {
    kinds.clear();
    let used = frames::parse(&buf[..*filled], kinds);
    buf.copy_within(used..*filled, 0);
    *filled -= used;
    if *filled == buf.len() {
        buf.resize(buf.len() * 2, 0);
    }
}

async fn closed_loop(mut stream: TcpStream, plan: &Plan, totals: &Totals) -> std::io::Result<()> {
    let mut histogram = histogram();
    let mut count = 0_u64;
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(plan.in_flight);
    let mut out = Vec::with_capacity(plan.frame.len() * plan.in_flight);
    for _ in 0..plan.in_flight {
        out.extend_from_slice(&plan.frame);
        sent.push_back(Instant::now());
    }
    stream.write_all(&out).await?;
    let mut buf = vec![0_u8; 64 * 1024];
    let mut filled = 0;
    let mut kinds = Vec::new();
    loop {
        let remaining = plan.measure_until.saturating_duration_since(Instant::now());
        let read = match tokio::time::timeout(remaining, stream.read(&mut buf[filled..])).await {
            Ok(read) => read?,
            Err(_) => break,
        };
        if read == 0 {
            return Err(std::io::Error::other("server closed"));
        }
        filled += read;
        take_frames(&mut buf, &mut filled, &mut kinds);
        let now = Instant::now();
        out.clear();
        for kind in &kinds {
            match kind {
                Kind::Data => {
                    if let Some(at) = sent.pop_front() {
                        record(plan, at, now, &mut histogram, &mut count);
                    }
                    out.extend_from_slice(&plan.frame);
                    sent.push_back(now);
                }
                Kind::Close => return Err(std::io::Error::other("server sent close")),
                Kind::Other => {}
            }
        }
        if now >= plan.measure_until {
            break;
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
    }
    totals.messages.fetch_add(count, Ordering::Relaxed);
    totals.merge(&histogram);
    Ok(())
}

async fn open_loop(stream: TcpStream, plan: &Plan, totals: &Totals, rate: f64) -> std::io::Result<()> {
    let (mut reader, mut writer) = stream.into_split();
    let intended: Arc<Mutex<VecDeque<Instant>>> = Arc::default();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let schedule = Arc::clone(&intended);
    let frame = plan.frame.clone();
    let until = plan.measure_until;
    let send = tokio::spawn(async move {
        let mut next = Instant::now();
        while next < until {
            tokio::time::sleep_until(next).await;
            // Send every message whose time has come (catch up after a stall, never skip).
            let mut batch = Vec::new();
            let now = Instant::now();
            while next <= now && next < until {
                batch.extend_from_slice(&frame);
                schedule.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push_back(next);
                next += interval;
            }
            if writer.write_all(&batch).await.is_err() {
                return;
            }
        }
        // Keep the sending half open (dropping it would shut the socket down) until the reader
        // has stopped and aborts this task.
        std::future::pending::<()>().await;
    });
    let mut histogram = histogram();
    let mut count = 0_u64;
    let mut buf = vec![0_u8; 64 * 1024];
    let mut filled = 0;
    let mut kinds = Vec::new();
    let outcome = loop {
        let remaining = plan.measure_until.saturating_duration_since(Instant::now());
        let read = match tokio::time::timeout(remaining, reader.read(&mut buf[filled..])).await {
            Ok(Ok(0)) => break Err(std::io::Error::other("server closed")),
            Ok(Ok(read)) => read,
            Ok(Err(err)) => break Err(err),
            Err(_) => break Ok(()),
        };
        filled += read;
        take_frames(&mut buf, &mut filled, &mut kinds);
        let now = Instant::now();
        let mut queue = intended.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for kind in &kinds {
            if *kind == Kind::Data {
                if let Some(at) = queue.pop_front() {
                    record(plan, at, now, &mut histogram, &mut count);
                }
            }
        }
    };
    send.abort();
    totals.messages.fetch_add(count, Ordering::Relaxed);
    totals.merge(&histogram);
    outcome
}
