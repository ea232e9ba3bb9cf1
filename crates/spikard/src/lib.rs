//! # Spikard
//!
//! A WebSocket server core: routing, JSON Schema validation of every message (compiled once per
//! route), one error envelope, size limits, server push and graceful shutdown. The Python,
//! Node.js and Ruby packages drive this crate; Rust programs use it directly.
//!
//! ```no_run
//! use serde_json::{json, Value};
//! use spikard::{handler_fn, App, Connection, HandlerError, Route};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), spikard::Error> {
//!     let mut app = App::new();
//!     app.websocket("/echo", handler_fn(|_conn: Connection, message: Value| async move {
//!         Ok::<_, HandlerError>(Some(message))
//!     }))?;
//!     app.route(
//!         Route::new("/chat", handler_fn(|_conn: Connection, m: Value| async move {
//!             Ok::<_, HandlerError>(Some(json!({"echo": m["text"], "from": m["user"]})))
//!         }))
//!         .message_schema(json!({
//!             "type": "object",
//!             "properties": {"text": {"type": "string"}, "user": {"type": "string"}},
//!             "required": ["text", "user"]
//!         })),
//!     )?;
//!     app.serve("127.0.0.1:8000").await // until Ctrl-C, then close 1001 and drain
//! }
//! ```
//!
//! ## The message pipeline
//! For each text frame: parse JSON (`invalid_json` envelope on failure), validate against the
//! route's message schema (`validation_failed` with every failing JSON pointer), call the
//! handler (`handler_error` when it fails), validate the reply against the response schema
//! (dropped, logged and counted when it fails) and send it. Messages of one connection are
//! handled in order. Size limits close with 1009, invalid UTF-8 with 1007, binary frames on a
//! route that does not accept them with 1003. `docs/protocol.md` has the full list.
// One `unsafe` call in the whole crate: `bridge::runtime::set_policy` (`sched_setscheduler`).
#![deny(unsafe_code)]

/// With the `mimalloc` feature the program's allocations go to mimalloc: the parsed JSON, frames
/// and envelopes of every message cost about a third less than with glibc's malloc
/// (docs/decisions.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod accept;
mod app;
mod asyncapi;
#[cfg(feature = "bridge")]
pub mod bridge;
mod burst;
pub mod close;
mod connection;
mod deflate;
pub mod dispatch;
pub mod envelope;
mod error;
mod failfast;
mod frame;
#[cfg(test)]
mod fuzz;
mod handler;
mod handshake;
mod heartbeat;
mod metrics;
mod outgoing;
pub mod pubsub;
mod readahead;
mod route;
mod schema;
mod server;
mod session;
#[cfg(feature = "testing")]
pub mod testing;
mod topics;

pub use app::{
    App, DEFAULT_DRAIN_TIMEOUT, DEFAULT_FANOUT_FLUSH, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_SIZE, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_REQUEST_HEAD,
    DEFAULT_OUTGOING_QUEUE, DEFAULT_OUTGOING_QUEUE_BYTES, DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT,
    DEFAULT_READ_BUFFER,
};
pub use async_trait::async_trait;
pub use asyncapi::ASYNCAPI_VERSION;
pub use axum::http::{HeaderMap, StatusCode};
pub use bytes::Bytes;
pub use connection::{CloseInfo, Connection, ConnectionId, SendError};
pub use deflate::{
    Compression, DEFAULT_COMPRESSION_LEVEL, DEFAULT_COMPRESSION_THRESHOLD, MAX_COMPRESSION_LEVEL,
};
pub use dispatch::Branch;
pub use envelope::{ErrorCode, ErrorEnvelope, FieldError, MAX_FIELD_ERRORS, MAX_FIELD_TEXT};
pub use error::Error;
pub use handler::{FnHandler, HandlerError, INTERNAL_ERROR, Rejection, Reply, WebSocketHandler, handler_fn};
pub use metrics::MetricsSnapshot;
pub use route::Route;
pub use schema::CompiledSchema;
pub use server::{Server, ServerHandle};
pub use topics::{PublishCapture, PublishError};

/// The README's Rust example, compiled as a doc test so that it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;

/// `docs/rust.md`, compiled and run as doc tests.
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../../docs/rust.md")]
struct RustGuideExamples;
