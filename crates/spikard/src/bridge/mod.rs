//! The bridge between the core and a host language (Python, Node.js, Ruby): everything a
//! binding needs to serve routes whose handlers live in another runtime, decided once here.
//!
//! A binding keeps only what is truly its own: how the host thread is woken (a socket pair for
//! asyncio, a threadsafe function for Node.js, a GVL-free wait for Ruby), how values convert,
//! and how a callable is invoked. Everything else lives in this module:
//!
//! - [`Call`] and [`Outcome`]: what the host is asked to do and what it answers, with
//!   [`Reply`](crate::Reply) as the one reply type for text and binary messages;
//! - [`JobQueue`]: the batching job queue, its ordering and wake-up rules;
//! - [`BridgeRoute`] and [`Hooks`]: the core's [`WebSocketHandler`](crate::WebSocketHandler) for
//!   a route served by the host, with the policy for lost, raised and rejected calls;
//! - [`protocol`]: the checks every language applies the same way (close codes, reason length,
//!   refusal status, listen address, conversion depth);
//! - [`Code`]: every error code a binding raises, mapped once per language to its exception
//!   classes;
//! - [`log`]: the core's `tracing` events, handed to the host's own logging;
//! - [`AppOptions`] and [`RouteSpec`]: app and route settings as a host passes them, checked
//!   and applied once, dispatch by message type included ([`BranchSpec`], [`Job::branch`]);
//! - [`asyncapi`] / [`asyncapi_json`]: the app's AsyncAPI document from those same settings;
//! - [`RunOutcome`]: how a server's run ended, for the host threads that wait on it;
//! - [`runtime`]: the one tokio runtime builder.
//!
//! Only compiled with the `bridge` feature, which the binding crates enable.
//!
//! ```
//! use std::sync::Arc;
//! use spikard::bridge::{Batch, BridgeRoute, Hooks, JobQueue, Outcome, WakePolicy, Woken};
//!
//! // A host that answers every message by echoing it, on its own thread.
//! let queue = JobQueue::new(WakePolicy::Blocking);
//! let route = BridgeRoute::new(0, Hooks::default(), Arc::clone(&queue));
//! let host = std::thread::spawn({
//!     let queue = Arc::clone(&queue);
//!     move || {
//!         let mut batch = Batch::new();
//!         while queue.wait(&mut batch) != Woken::Closed {
//!             for mut job in batch.jobs.drain(..) {
//!                 let echo = job.call().message().cloned();
//!                 job.answer(Outcome::reply_json(echo)).unwrap();
//!             }
//!             batch.logs.clear();
//!         }
//!     }
//! });
//! let mut app = spikard::App::new();
//! app.websocket("/echo", route).unwrap();
//! queue.close();
//! host.join().unwrap();
//! ```

mod call;
mod code;
mod config;
pub mod log;
mod outcome;
pub mod protocol;
mod queue;
mod route;
pub mod runtime;

pub use call::{Call, CallKind};
pub use code::Code;
pub use code::Failure;
pub use config::{AppOptions, BranchSpec, RouteSpec, asyncapi, asyncapi_json};
pub use outcome::RunOutcome;
pub use queue::{
    BATCH, Batch, Consuming, Job, JobQueue, MAX_LOGS, Wake, WakePolicy, Woken, answer_parked, wake_deferred,
};
pub use route::{BridgeBranch, BridgeRoute, CLOSING, Hooks, Outcome};
