//! `spikard-bench`: the load generator and native servers behind `task bench`.
//!
//! - `serve`: native Rust echo and validated chat servers (prints `READY <port>`).
//! - `load`: N connections, closed loop with K messages in flight each, or an open loop at a
//!   fixed rate; prints one JSON object with throughput, server CPU and latency percentiles.
//! - `idle`: holds N upgraded idle connections and reports the server's memory per connection.

mod frames;
mod load;
mod procfs;
mod serve;

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::{Parser, Subcommand, ValueEnum};
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
    /// Run the native Rust echo (/echo) and chat (/chat) servers.
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Load a WebSocket echo endpoint and print one JSON result.
    Load {
        /// ws://host:port/path
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100)]
        connections: usize,
        /// Messages in flight per connection (closed loop).
        #[arg(long, default_value_t = 1)]
        in_flight: usize,
        #[arg(long, value_enum, default_value_t = Payload::Text20)]
        payload: Payload,
        /// Measured seconds.
        #[arg(long, default_value_t = 12.0)]
        duration: f64,
        /// Seconds of load before measuring.
        #[arg(long, default_value_t = 3.0)]
        warmup: f64,
        /// Total messages per second (open loop); closed loop when absent.
        #[arg(long)]
        rate: Option<f64>,
        /// The server's pid, to measure its CPU time over the window.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Hold idle connections and report the server's resident memory per connection.
    Idle {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 5000)]
        connections: usize,
        #[arg(long)]
        server_pid: u32,
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
    /// ~100-byte chat message valid against the chat schema.
    ChatValid,
    /// ~100-byte chat message failing the chat schema (text is a number).
    ChatInvalid,
}

impl Payload {
    fn frame(self) -> Vec<u8> {
        let text = |total: usize| format!("{{\"m\":\"{}\"}}", "x".repeat(total - 8));
        match self {
            Self::Text20 => frames::client_frame(text(20).as_bytes(), false),
            Self::Text1k => frames::client_frame(text(1024).as_bytes(), false),
            Self::Text16k => frames::client_frame(text(16 * 1024).as_bytes(), false),
            Self::Bin16k => frames::client_frame(&vec![0x5a; 16 * 1024], true),
            Self::ChatValid => frames::client_frame(
                br#"{"text":"hello everyone, this is a benchmark chat message of about 100 bytes","user":"alice"}"#,
                false,
            ),
            Self::ChatInvalid => frames::client_frame(
                br#"{"text":12345,"user":"alice","mood":"this message fails the schema in two places"}"#,
                false,
            ),
        }
    }
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
        Command::Load { url, connections, in_flight, payload, duration, warmup, rate, server_pid } => {
            runtime().and_then(|rt| {
                rt.block_on(load(LoadArgs {
                    url,
                    connections,
                    in_flight,
                    payload,
                    duration,
                    warmup,
                    rate,
                    server_pid,
                }))
            })
        }
        Command::Idle { url, connections, server_pid } => {
            runtime().and_then(|rt| rt.block_on(idle(&url, connections, server_pid)))
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

struct LoadArgs {
    url: String,
    connections: usize,
    in_flight: usize,
    payload: Payload,
    duration: f64,
    warmup: f64,
    rate: Option<f64>,
    server_pid: Option<u32>,
}

async fn connect_all(url: &str, connections: usize) -> Result<Vec<tokio::net::TcpStream>, String> {
    let (host_port, path) = split_url(url)?;
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        streams.push(frames::connect(&host_port, &path).await.map_err(|e| e.to_string())?);
    }
    Ok(streams)
}

async fn load(args: LoadArgs) -> Result<(), String> {
    procfs::raise_nofile_limit();
    let streams = connect_all(&args.url, args.connections).await?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let measure_until = measure_from + Duration::from_secs_f64(args.duration);
    let plan = Arc::new(load::Plan {
        frame: args.payload.frame(),
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
    tokio::time::sleep_until(measure_from).await;
    let server_before = args.server_pid.and_then(|p| procfs::cpu_time(Some(p)));
    let client_before = procfs::cpu_time(None);
    tokio::time::sleep_until(measure_until).await;
    let server_after = args.server_pid.and_then(|p| procfs::cpu_time(Some(p)));
    let client_after = procfs::cpu_time(None);
    for task in tasks {
        let _ = task.await;
    }
    let messages = totals.messages.load(std::sync::atomic::Ordering::Relaxed);
    let seconds = args.duration;
    let server_cpu = server_before.zip(server_after).map(|(b, a)| a.saturating_sub(b).as_secs_f64());
    let client_cpu = client_before
        .zip(client_after)
        .map_or(0.0, |(b, a)| a.saturating_sub(b).as_secs_f64() / seconds * 100.0);
    let latency = totals.latency.lock().map_err(|e| e.to_string())?.take();
    let percentile = |q: f64| latency.as_ref().map_or(0, |h| h.value_at_quantile(q));
    let result = json!({
        "messages": messages,
        "seconds": seconds,
        "msgs_per_sec": messages as f64 / seconds,
        "server_cpu_seconds": server_cpu,
        "msgs_per_server_cpu_sec": server_cpu.filter(|c| *c > 0.0).map(|c| messages as f64 / c),
        "client_cpu_percent": client_cpu,
        "latency_us": {
            "p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99),
            "p999": percentile(0.999), "max": latency.as_ref().map_or(0, Histogram::max),
        },
        "errors": totals.errors.load(std::sync::atomic::Ordering::Relaxed),
    });
    println!("{result}");
    Ok(())
}

async fn idle(url: &str, connections: usize, server_pid: u32) -> Result<(), String> {
    procfs::raise_nofile_limit();
    // One warm connection first, so that one-time allocations are not counted per connection.
    let _warm = connect_all(url, 1).await?;
    let before = procfs::rss_kb(server_pid).ok_or("cannot read the server's RSS")?;
    let held = connect_all(url, connections).await?;
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
