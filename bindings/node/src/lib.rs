//! Spikard's Node.js addon: the Rust core driven from JavaScript.
//!
//! This crate is private plumbing for the `spikard` npm package (`packages/node`); its generated
//! `index.d.ts` is committed next to it. It keeps only what is Node's own and stands on the
//! core's bridge ([`spikard::bridge`]) for the rest (the job queue, the policy for lost, failed
//! and refused calls, protocol checks, error codes, log records, the runtime):
//!
//! - [`app::NativeApp`]: routes, limits, `listen`, metrics and graceful `close`.
//! - [`bridge`]: the wake-up of the JavaScript thread (a threadsafe function) and the batches
//!   of jobs and log records it hands to the package's dispatcher.
//! - [`connection::NativeConnection`]: one connection as JavaScript sees it, and the answers to
//!   the call it was handed.
//! - `error`: every core failure as a JavaScript `Error` with its `code` property.
//! - `json`: JavaScript values as JSON, depth-limited like every binding's conversion.
//!
//! Values cross as JavaScript objects, never as JSON strings.

pub mod app;
pub mod bridge;
pub mod connection;
mod error;
mod json;

/// Install the addon's tokio runtime, the core's one builder (napi-rs runs `async` functions
/// and spawned futures on it).
#[napi_derive::module_init]
fn init() {
    if let Ok(rt) = spikard::bridge::runtime::build(spikard::bridge::runtime::RuntimeOptions::default()) {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
