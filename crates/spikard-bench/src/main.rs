//! `spikard-bench`: the load generator and native servers behind `task bench`.
//!
//! - `serve`: native Rust echo, validated chat and broadcast servers (prints `READY <port>`).
//! - `load`: N connections, closed loop with K messages in flight each, or an open loop at a
//!   fixed rate; prints one JSON object with throughput, server CPU and latency percentiles.
//! - `broadcast`: S subscribers and one sender on a room route, K messages in flight until every
//!   subscriber has them; prints the same JSON object counting deliveries.
//! - `idle`: holds N upgraded idle connections and reports the server's memory per connection.
//! - `soak`: starts a server and keeps N connections living random sessions against its echo
//!   route for minutes; prints sent/answered, close codes, unexpected drops, memory and
//!   descriptors (`task soak`).

mod broadcast;
mod cases;
mod frames;
mod load;
mod procfs;
mod serve;
mod soak;
mod validate;

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::time::Instant;

#[derive(Parser)]
#[command(about = "Spikard benchmark load generator and native servers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse + validate the chat message in the core (also with checked formats and with big
    /// integers); prints one JSON line like the validation benchmarks of the other languages.
    Validate {
        /// Seconds per run.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        /// Runs; the best counts.
        #[arg(long, default_value_t = 3)]
        repeats: u32,
    },
    /// Run the native Rust echo (/echo), chat (/chat) and broadcast (/broadcast) servers.
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Load a WebSocket echo endpoint and print one JSON result.
    Load(LoadArgs),
    /// Fan-out: subscribers and one sender on a room route that publishes every message to
    /// everyone but its sender; print one JSON result counting deliveries.
    Broadcast(BroadcastArgs),
    /// Hold idle connections and report the server's resident memory per connection.
    Idle {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 5000)]
        connections: usize,
        #[arg(long)]
        server_pid: u32,
        /// Offer permessage-deflate on every connection (fail unless accepted).
        #[arg(long)]
        deflate: bool,
    },
    /// Start the server `command` (it prints `READY <port>`), soak its echo route, stop it.
    Soak {
        /// Connections alive at once.
        #[arg(long, default_value_t = 5000)]
        connections: usize,
        /// Seconds the soak lasts.
        #[arg(long, default_value_t = 180)]
        seconds: u64,
        /// Percent of the connections that send but never read.
        #[arg(long, default_value_t = 5)]
        silent_percent: u64,
        /// Mean messages per second per connection.
        #[arg(long, default_value_t = 0.5)]
        rate: f64,
        /// The echo route.
        #[arg(long, default_value = "/echo")]
        path: String,
        /// The server's command line (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// Message payloads.
#[derive(Clone, Copy, ValueEnum)]
enum Payload {
    /// 20-byte JSON text.
    Text20,
    /// 1 KiB JSON text.
    Text1k,
    /// 16 KiB JSON text.
    Text16k,
    /// 16 KiB binary.
    Bin16k,
    /// ~16 KiB JSON document: an array of chat messages (compresses about 5-10x, as real JSON
    /// does; `text16k` is one long string).
    Doc16k,
    /// ~100-byte chat message valid against the chat schema.
    ChatValid,
    /// ~100-byte chat message failing the chat schema (text is a number).
    ChatInvalid,
}

impl Payload {
    /// The text of a text payload (a JSON document); `None` for the binary payload.
    fn text(self) -> Option<Vec<u8>> {
        let string = |total: usize| format!("{{\"m\":\"{}\"}}", "x".repeat(total - 8)).into_bytes();
        Some(match self {
            Self::Text20 => string(20),
            Self::Text1k => string(1024),
            Self::Text16k => string(16 * 1024),
            Self::Bin16k => return None,
            Self::Doc16k => document(16 * 1024),
            Self::ChatValid => {
                br#"{"text":"hello everyone, this is a benchmark chat message of about 100 bytes","user":"alice"}"#.to_vec()
            }
            Self::ChatInvalid => {
                br#"{"text":12345,"user":"alice","mood":"this message fails the schema in two places"}"#.to_vec()
            }
        })
    }

    /// The masked client frame carrying this payload; with `deflate`, a text payload is
    /// compressed (permessage-deflate without client context takeover).
    fn frame(self, deflate: bool) -> Vec<u8> {
        match self.text() {
            Some(text) if deflate => frames::deflated_text_frame(&text),
            Some(text) => frames::client_frame(&text, false),
            None => frames::client_frame(&vec![0x5a; 16 * 1024], true),
        }
    }
}

/// A JSON document of at most `max` bytes: `{"items": [...]}`, chat messages that differ in
/// their ids, users, rooms and times the way real records do.
fn document(max: usize) -> Vec<u8> {
    let mut items: Vec<String> = Vec::new();
    let mut len = r#"{"items":[]}"#.len();
    for i in 0_u32.. {
        let item = format!(
            r#"{{"id":{i},"user":"user{}","room":"room-{}","sent":{},"text":"message {i} of the benchmark document, in room {} with a few words"}}"#,
            i % 37,
            i % 5,
            1_700_000_000_u64 + u64::from(i) * 7919,
            i % 5
        );
        let comma = usize::from(!items.is_empty());
        if len + item.len() + comma > max {
            break;
        }
        len += item.len() + comma;
        items.push(item);
    }
    format!(r#"{{"items":[{}]}}"#, items.join(",")).into_bytes()
}

fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("ws://").ok_or("the url must start with ws://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((host.to_owned(), format!("/{path}")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { host, port } => serve::run(&host, port).map_err(|e| e.to_string()),
        Command::Load(args) => runtime().and_then(|rt| rt.block_on(load(args))),
        Command::Broadcast(args) => runtime().and_then(|rt| rt.block_on(fan_out(&args))),
        Command::Idle { url, connections, server_pid, deflate } => {
            runtime().and_then(|rt| rt.block_on(idle(&url, connections, server_pid, deflate)))
        }
        Command::Validate { seconds, repeats } => validate::run(seconds, repeats),
        Command::Soak { connections, seconds, silent_percent, rate, path, command } => {
            let plan = soak::Plan {
                connections,
                duration: Duration::from_secs(seconds),
                silent_percent,
                rate,
                path,
            };
            runtime().and_then(|rt| rt.block_on(soak::run(plan, &command)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("spikard-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    // One thread: the load generator is pinned to one CPU.
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())
}

/// What every measured run takes: the payload, the window and the server to measure.
#[derive(Args)]
struct Window {
    #[arg(long, value_enum, default_value_t = Payload::Text20)]
    payload: Payload,
    /// Measured seconds.
    #[arg(long, default_value_t = 12.0)]
    duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// The server's pid, to measure its CPU time over the window.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// `load`: echo connections in a closed (or open) loop.
#[derive(Args)]
struct LoadArgs {
    /// ws://host:port/path
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Messages in flight per connection (closed loop).
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Total messages per second (open loop); closed loop when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Offer permessage-deflate (fail unless accepted) and send compressed frames.
    #[arg(long)]
    deflate: bool,
    #[command(flatten)]
    window: Window,
}

async fn connect_all(
    url: &str,
    connections: usize,
    deflate: bool,
) -> Result<Vec<tokio::net::TcpStream>, String> {
    let (host_port, path) = split_url(url)?;
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        streams.push(frames::connect(&host_port, &path, deflate).await.map_err(|e| e.to_string())?);
    }
    Ok(streams)
}

async fn load(args: LoadArgs) -> Result<(), String> {
    procfs::raise_nofile_limit();
    let streams = connect_all(&args.url, args.connections, args.deflate).await?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.window.warmup);
    let measure_until = measure_from + Duration::from_secs_f64(args.window.duration);
    let plan = Arc::new(load::Plan {
        frame: args.window.payload.frame(args.deflate),
        in_flight: args.in_flight.max(1),
        rate_per_connection: args.rate.map(|r| r / args.connections as f64),
        measure_from,
        measure_until,
    });
    let totals = Arc::new(load::Totals::default());
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|s| tokio::spawn(load::run_connection(s, Arc::clone(&plan), Arc::clone(&totals))))
        .collect();
    let cpu = Cpu::over_window(args.window.server_pid, measure_from, measure_until).await;
    for task in tasks {
        let _ = task.await;
    }
    let messages = totals.messages.load(std::sync::atomic::Ordering::Relaxed);
    let latency = totals.latency.lock().map_err(|e| e.to_string())?.take();
    let errors = totals.errors.load(std::sync::atomic::Ordering::Relaxed);
    println!("{}", result(messages, args.window.duration, &cpu, latency.as_ref(), errors));
    Ok(())
}

/// Server and client CPU over the measured window.
struct Cpu {
    /// Server CPU-seconds, when its pid was given and readable.
    server: Option<f64>,
    /// This process's CPU as a percentage of one core.
    client_percent: f64,
}

impl Cpu {
    /// Sleep until `from`, then until `until`, reading both processes' CPU time at each end.
    async fn over_window(server_pid: Option<u32>, from: Instant, until: Instant) -> Self {
        tokio::time::sleep_until(from).await;
        let server_before = server_pid.and_then(|p| procfs::cpu_time(Some(p)));
        let client_before = procfs::cpu_time(None);
        tokio::time::sleep_until(until).await;
        let server_after = server_pid.and_then(|p| procfs::cpu_time(Some(p)));
        let client_after = procfs::cpu_time(None);
        let seconds = until.duration_since(from).as_secs_f64();
        Self {
            server: server_before.zip(server_after).map(|(b, a)| a.saturating_sub(b).as_secs_f64()),
            client_percent: client_before
                .zip(client_after)
                .map_or(0.0, |(b, a)| a.saturating_sub(b).as_secs_f64() / seconds * 100.0),
        }
    }
}

/// The JSON result every measuring mode prints (`messages` are replies or deliveries).
fn result(
    messages: u64,
    seconds: f64,
    cpu: &Cpu,
    latency: Option<&Histogram<u64>>,
    errors: u64,
) -> serde_json::Value {
    let percentile = |q: f64| latency.map_or(0, |h| h.value_at_quantile(q));
    json!({
        "messages": messages,
        "seconds": seconds,
        "msgs_per_sec": messages as f64 / seconds,
        "server_cpu_seconds": cpu.server,
        "msgs_per_server_cpu_sec": cpu.server.filter(|c| *c > 0.0).map(|c| messages as f64 / c),
        "client_cpu_percent": cpu.client_percent,
        "latency_us": {
            "p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99),
            "p999": percentile(0.999), "max": latency.map_or(0, Histogram::max),
        },
        "errors": errors,
    })
}

/// `broadcast`: subscribers and one sender on a room route.
#[derive(Args)]
struct BroadcastArgs {
    /// ws://host:port/path
    #[arg(long)]
    url: String,
    /// Subscriber connections (the sender comes on top).
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Messages in flight: sent but not yet received by every subscriber.
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Connect the subscribers here instead of `--url` (another node sharing the room through
    /// Redis: the cross-node scenario); the sender stays on `--url`.
    #[arg(long)]
    subscribers_url: Option<String>,
    #[command(flatten)]
    window: Window,
}

async fn fan_out(args: &BroadcastArgs) -> Result<(), String> {
    println!("{}", broadcast_result(args).await?);
    Ok(())
}

/// Run one broadcast measurement and return its JSON result.
async fn broadcast_result(args: &BroadcastArgs) -> Result<serde_json::Value, String> {
    procfs::raise_nofile_limit();
    if args.subscribers == 0 {
        return Err("--subscribers must be at least 1".to_owned());
    }
    // Subscribers first: each has joined the room once its upgrade completes.
    let subscribers =
        connect_all(args.subscribers_url.as_deref().unwrap_or(&args.url), args.subscribers, false).await?;
    if args.subscribers_url.is_some() {
        // The subscribers' node subscribes to the room's Redis channel asynchronously; a message
        // published before that is lost and would stall the closed loop.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let sender = connect_all(&args.url, 1, false).await?.pop().ok_or("no sender connection")?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.window.warmup);
    let measure_until = measure_from + Duration::from_secs_f64(args.window.duration);
    let window = args.in_flight.max(1);
    let fanout = Arc::new(broadcast::Fanout::new(broadcast::Plan {
        frame: args.window.payload.frame(false),
        subscribers: args.subscribers,
        window,
        measure_from,
        measure_until,
    }));
    let mut tasks: Vec<_> = subscribers
        .into_iter()
        .map(|s| tokio::spawn(broadcast::subscriber(s, Arc::clone(&fanout))))
        .collect();
    tasks.push(tokio::spawn(broadcast::sender(sender, Arc::clone(&fanout))));
    let cpu = Cpu::over_window(args.window.server_pid, measure_from, measure_until).await;
    for task in tasks {
        let _ = task.await;
    }
    let deliveries = fanout.deliveries.load(std::sync::atomic::Ordering::Relaxed);
    let errors = fanout.errors.load(std::sync::atomic::Ordering::Relaxed);
    let (published, latency) = fanout.completed();
    let mut out =
        result(deliveries, args.window.duration, &cpu, Some(&latency).filter(|h| !h.is_empty()), errors);
    out["subscribers"] = json!(args.subscribers);
    out["in_flight"] = json!(window);
    out["published"] = json!(published);
    out["published_per_sec"] = json!(published as f64 / args.window.duration);
    Ok(out)
}

async fn idle(url: &str, connections: usize, server_pid: u32, deflate: bool) -> Result<(), String> {
    procfs::raise_nofile_limit();
    // One warm connection first, so that one-time allocations are not counted per connection.
    let _warm = connect_all(url, 1, deflate).await?;
    let before = procfs::rss_kb(server_pid).ok_or("cannot read the server's RSS")?;
    let held = connect_all(url, connections, deflate).await?;
    let after = procfs::rss_kb(server_pid).ok_or("cannot read the server's RSS")?;
    let per_connection = (after.saturating_sub(before) * 1024) as f64 / held.len() as f64;
    println!(
        "{}",
        json!({
            "connections": held.len(),
            "rss_before_kb": before,
            "rss_after_kb": after,
            "bytes_per_connection": per_connection,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The native broadcast route under a short fan-out run: every delivery is accounted for.
    #[tokio::test]
    async fn broadcast_counts_every_delivery_to_every_subscriber() {
        let server = serve::app().unwrap().bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().port();
        let handle = server.handle();
        let running = tokio::spawn(server.run());
        let subscribers = 5;
        let out = broadcast_result(&BroadcastArgs {
            url: format!("ws://127.0.0.1:{port}/broadcast"),
            subscribers_url: None,
            subscribers,
            in_flight: 4,
            window: Window { payload: Payload::ChatValid, duration: 0.5, warmup: 0.1, server_pid: None },
        })
        .await
        .unwrap();
        handle.shutdown();
        let _ = running.await;
        assert_eq!(out["errors"], 0, "{out}");
        let published = out["published"].as_u64().unwrap();
        let deliveries = out["messages"].as_u64().unwrap();
        assert!(published > 10, "{out}");
        // Deliveries inside the window: every completed message to every subscriber, plus at most
        // the window's messages that were partly delivered at either end.
        let slack = 2 * 4 * subscribers as u64;
        assert!(deliveries.abs_diff(published * subscribers as u64) <= slack, "{out}");
        assert!(out["latency_us"]["p50"].as_u64().unwrap() > 0, "{out}");
    }
}
