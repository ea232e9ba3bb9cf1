//! Spikard's Node.js addon: the Rust core driven from JavaScript.
//!
//! This crate is private plumbing for the `spikard` npm package (`packages/node`); its generated
//! `index.d.ts` is committed next to it. The pieces:
//!
//! - [`app::NativeApp`]: routes, limits, `listen` and graceful `close`.
//! - [`dispatch`]: events (connect, message, binary, disconnect) queue up on the Rust side and
//!   reach JavaScript in batches, one threadsafe-function call per event-loop wake-up.
//! - [`connection::NativeConnection`]: one connection's context as JavaScript sees it, and the
//!   way JavaScript completes the event it was handed.
//! - [`handler`]: the core's `WebSocketHandler` that turns each callback into an event and
//!   awaits JavaScript's answer, so one connection's messages stay in order.
//!
//! Values cross as JavaScript objects (napi's serde support), never as JSON strings.

pub mod app;
pub mod connection;
pub mod dispatch;
mod error;
mod handler;
mod scheduling;
