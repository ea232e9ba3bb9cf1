//! Soak: many connections against one echo endpoint for minutes, each living a random life of
//! sessions (connect, send at random times, then close cleanly or drop the socket, reconnect),
//! a share of them never reading. Counts what was sent and answered, the close codes the server
//! sent, and the drops nobody asked for; samples the server's resident memory every 10 s (and
//! compares the end with the first sample after warm-up), and its open descriptors before and
//! after.
//!
//! The server is started from a command (it prints `READY <port>` once bound, as the Autobahn
//! and benchmark servers do) and stopped with SIGTERM at the end.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use crate::{
    frames::{self, Kind},
    procfs,
};

/// What one soak run does.
pub(crate) struct Plan {
    /// Connections alive at once (each reconnects after its session ends).
    pub(crate) connections: usize,
    /// How long the run lasts.
    pub(crate) duration: Duration,
    /// Percent of the connections that send but never read.
    pub(crate) silent_percent: u64,
    /// Mean messages per second per connection.
    pub(crate) rate: f64,
    /// The echo route's path.
    pub(crate) path: String,
}

/// How long a session lives at most.
const LONGEST_SESSION: Duration = Duration::from_secs(30);

/// Time for every connection to open (spread over the first 10 s).
const RAMP: Duration = Duration::from_secs(10);

/// Time between two samples of the server's resident memory.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// The run's counters, shared by every connection.
#[derive(Default)]
struct Counts {
    sessions: AtomicU64,
    sent: AtomicU64,
    answered: AtomicU64,
    /// Sent by a session that then dropped its socket before the answer came (by its choice).
    abandoned: AtomicU64,
    silent_sent: AtomicU64,
    connect_failed: AtomicU64,
    /// The server ended a reading session that had not asked to end, with a close frame.
    unasked_close: AtomicU64,
    /// The socket of a reading session ended without the server's close frame.
    eof: AtomicU64,
    /// A session closed with 1000 and got no close frame back within 10 s (the server is that
    /// far behind, or lost it).
    close_timeout: AtomicU64,
    /// Close codes the server sent, by code.
    closes: Mutex<BTreeMap<u16, u64>>,
}

/// A small xorshift generator: the soak only needs cheap, reproducible variety.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high - low + 1))
    }
}

/// Start `command`, run the plan against it, print the figures, stop it.
pub(crate) async fn run(plan: Plan, command: &[String]) -> Result<(), String> {
    procfs::raise_nofile_limit();
    let (mut child, port) = start(command)?;
    let pid = child.id();
    let host = format!("127.0.0.1:{port}");
    let fds_before = fd_count(pid);
    let counts = Arc::new(Counts::default());
    let plan = Arc::new(plan);
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut tasks = Vec::with_capacity(plan.connections);
    for id in 0..plan.connections {
        let (host, plan, counts) = (host.clone(), Arc::clone(&plan), Arc::clone(&counts));
        tasks.push(tokio::spawn(async move { client(id as u64, &host, &plan, &counts, deadline).await }));
    }
    // Memory is compared from the end of warm-up: every connection has opened (the ramp) and
    // lived one whole session and reconnected (its buffers and the allocator's arenas are at
    // their working size), so what grows after it grows with time, not with the first sessions.
    let warm = (RAMP + LONGEST_SESSION).min(plan.duration / 4);
    let mut samples = Vec::new();
    let mut at = SAMPLE_EVERY.min(warm);
    while at < plan.duration {
        tokio::time::sleep_until(started + at).await;
        samples.push((at, procfs::rss_kb(pid)));
        at += SAMPLE_EVERY;
    }
    tokio::time::sleep_until(deadline - Duration::from_millis(500)).await;
    samples.push((plan.duration - Duration::from_millis(500), procfs::rss_kb(pid)));
    for task in tasks {
        let _ = task.await;
    }
    // Let the server finish the last closing handshakes before counting its descriptors.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let fds_after = fd_count(pid);
    stop(&mut child);
    report(&plan, &counts, &samples, warm, fds_before, fds_after);
    Ok(())
}

/// Spawn the server and read its `READY <port>` line.
fn start(command: &[String]) -> Result<(Child, u16), String> {
    let (program, args) = command.split_first().ok_or("no server command given")?;
    let mut child = Command::new(program)
        .args(args)
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let Some(Ok(line)) = lines.next() else {
            stop(&mut child);
            return Err("the server exited before printing READY <port>".into());
        };
        if let Some(port) = line.strip_prefix("READY ") {
            break port.trim().parse::<u16>().map_err(|e| e.to_string())?;
        }
    };
    // Keep draining its output so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((child, port))
}

fn stop(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill has no memory preconditions; the pid is our own child's.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let _ = child.wait();
}

fn fd_count(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd")).ok().map(Iterator::count)
}

/// One connection's life: sessions until the deadline.
async fn client(id: u64, host: &str, plan: &Plan, counts: &Counts, deadline: Instant) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let silent = rng.below(100) < plan.silent_percent;
    tokio::time::sleep(rng.millis(0, 10_000)).await;
    while Instant::now() + Duration::from_secs(1) < deadline {
        let Ok(stream) = frames::connect(host, &plan.path, false).await else {
            counts.connect_failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(rng.millis(100, 500)).await;
            continue;
        };
        counts.sessions.fetch_add(1, Ordering::Relaxed);
        let end = (Instant::now() + rng.millis(2_000, LONGEST_SESSION.as_millis() as u64)).min(deadline);
        let clean = rng.below(100) < 70;
        let _ = if silent {
            silent_session(stream, plan, counts, &mut rng, end).await
        } else {
            session(stream, id, plan, counts, &mut rng, end, clean).await
        };
        tokio::time::sleep(rng.millis(0, 200)).await;
    }
}

/// The mean gap between two sends, drawn uniformly from 0 to twice the mean.
fn gap(rng: &mut Rng, rate: f64) -> Duration {
    let mean_ms = (1000.0 / rate.max(0.001)) as u64;
    rng.millis(0, 2 * mean_ms)
}

/// A reading session: send at random times, count answers, then close with 1000 (and wait for
/// every answer and the close) or drop the socket.
async fn session(
    mut stream: TcpStream,
    id: u64,
    plan: &Plan,
    counts: &Counts,
    rng: &mut Rng,
    end: Instant,
    clean: bool,
) -> std::io::Result<()> {
    let mut buf = vec![0_u8; 16 * 1024];
    let mut filled = 0;
    let mut kinds = Vec::new();
    let mut in_flight = 0_u64;
    let mut seq = 0_u64;
    let mut next = Instant::now() + gap(rng, plan.rate);
    let mut closing = false;
    let close_deadline = end + Duration::from_secs(10);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next), if !closing => {
                seq += 1;
                let text = format!("{{\"c\":{id},\"seq\":{seq}}}");
                stream.write_all(&frames::client_frame(text.as_bytes(), false)).await?;
                counts.sent.fetch_add(1, Ordering::Relaxed);
                in_flight += 1;
                next = Instant::now() + gap(rng, plan.rate);
            }
            () = tokio::time::sleep_until(end), if !closing => {
                if !clean {
                    counts.abandoned.fetch_add(in_flight, Ordering::Relaxed);
                    return Ok(());
                }
                closing = true;
                stream.write_all(&close_frame(1000)).await?;
            }
            () = tokio::time::sleep_until(close_deadline), if closing => {
                counts.close_timeout.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            read = stream.read(&mut buf[filled..]) => {
                let n = read.unwrap_or(0);
                if n == 0 {
                    counts.eof.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                filled += n;
                let used = frames::parse(&buf[..filled], &mut kinds);
                let code = close_code(&buf[..used]);
                buf.copy_within(used..filled, 0);
                filled -= used;
                for kind in kinds.drain(..) {
                    match kind {
                        Kind::Data => {
                            counts.answered.fetch_add(1, Ordering::Relaxed);
                            in_flight = in_flight.saturating_sub(1);
                        }
                        Kind::Close => {
                            let code = code.unwrap_or(1005);
                            *counts.closes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(code).or_default() += 1;
                            if !closing || code != 1000 {
                                counts.unasked_close.fetch_add(1, Ordering::Relaxed);
                            }
                            return Ok(());
                        }
                        Kind::Other => {}
                    }
                }
                if filled == buf.len() {
                    buf.resize(buf.len() * 2, 0);
                }
            }
        }
    }
}

/// A session that sends but never reads, then drops its socket.
async fn silent_session(
    mut stream: TcpStream,
    plan: &Plan,
    counts: &Counts,
    rng: &mut Rng,
    end: Instant,
) -> std::io::Result<()> {
    let frame = frames::client_frame(br#"{"silent":true}"#, false);
    loop {
        let next = Instant::now() + gap(rng, plan.rate);
        if next >= end {
            tokio::time::sleep_until(end).await;
            return Ok(());
        }
        tokio::time::sleep_until(next).await;
        stream.write_all(&frame).await?;
        counts.silent_sent.fetch_add(1, Ordering::Relaxed);
    }
}

fn close_frame(code: u16) -> Vec<u8> {
    let mut frame = vec![0x88, 0x82, 0, 0, 0, 0];
    frame.extend(code.to_be_bytes());
    frame
}

/// The code of the close frame among the frames in `bytes`, if there is one (the last frame).
fn close_code(mut bytes: &[u8]) -> Option<u16> {
    let mut code = None;
    while bytes.len() >= 2 {
        let (header, len) = match bytes[1] & 0x7f {
            126 => (4, usize::from(u16::from_be_bytes([bytes[2], bytes[3]]))),
            127 => (10, usize::try_from(u64::from_be_bytes(bytes[2..10].try_into().ok()?)).ok()?),
            n => (2, usize::from(n)),
        };
        if bytes[0] & 0x0f == 0x8 && len >= 2 {
            code = Some(u16::from_be_bytes([bytes[header], bytes[header + 1]]));
        }
        bytes = bytes.get(header + len..)?;
    }
    code
}

/// The server's resident memory at some time into the run (kB), when it could be read.
type Sample = (Duration, Option<u64>);

fn report(
    plan: &Plan,
    counts: &Counts,
    samples: &[Sample],
    warm: Duration,
    fds_before: Option<usize>,
    fds_after: Option<usize>,
) {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let (sent, answered, abandoned) = (load(&counts.sent), load(&counts.answered), load(&counts.abandoned));
    let closes = counts.closes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let mib = |kb: Option<u64>| kb.map_or_else(|| "?".to_owned(), |kb| format!("{:.1}", kb as f64 / 1024.0));
    let drift = |from: Option<u64>, to: Option<u64>| match (from, to) {
        (Some(from), Some(to)) if from > 0 => {
            format!("{:+.1}%", (to as f64 - from as f64) * 100.0 / from as f64)
        }
        _ => "?".to_owned(),
    };
    let first = samples.first().and_then(|s| s.1);
    let warmed = samples.iter().find(|s| s.0 >= warm).and_then(|s| s.1);
    let middle = samples.iter().find(|s| s.0 >= plan.duration / 2).and_then(|s| s.1);
    let end = samples.last().and_then(|s| s.1);
    println!(
        "connections {} for {} s, {}% never reading, {} msg/s each",
        plan.connections,
        plan.duration.as_secs(),
        plan.silent_percent,
        plan.rate
    );
    println!("sessions {}, connect failures {}", load(&counts.sessions), load(&counts.connect_failed));
    println!(
        "sent {sent}, answered {answered}, abandoned by the client's own drops {abandoned}, unanswered {}",
        sent.saturating_sub(answered + abandoned)
    );
    println!("sent by clients that never read {}", load(&counts.silent_sent));
    println!("server close codes {closes:?}");
    let (unasked, eof, late) = (load(&counts.unasked_close), load(&counts.eof), load(&counts.close_timeout));
    println!(
        "unexpected drops {} (server close unasked {unasked}, socket ended without close {eof}, no close within 10 s {late})",
        unasked + eof + late
    );
    println!(
        "server RSS MiB first {} warm ({} s) {} middle {} end {} (end vs warm {}, middle to end {})",
        mib(first),
        warm.as_secs(),
        mib(warmed),
        mib(middle),
        mib(end),
        drift(warmed, end),
        drift(middle, end)
    );
    let series: Vec<String> = samples.iter().map(|s| format!("{}s {}", s.0.as_secs(), mib(s.1))).collect();
    println!("server RSS MiB every {} s: {}", SAMPLE_EVERY.as_secs(), series.join(", "));
    let fds = |n: Option<usize>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    println!("server descriptors before {} after {}", fds(fds_before), fds(fds_after));
}
