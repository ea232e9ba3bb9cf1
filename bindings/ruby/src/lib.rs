//! Ruby binding of the Spikard core, loaded by the `spikard` gem as `spikard/spikard_native`.
//!
//! The server runs on its own tokio threads with Ruby's GVL released. Ruby code only runs on
//! Ruby threads: dispatcher threads created by the gem call [`server`]'s `dispatch`, which takes
//! the core's calls ([`spikard::bridge`]) in batches (waiting without the GVL) and runs the
//! route's callables. Everything
//! the Ruby side sees is defined here or in `packages/ruby/lib`:
//! `Spikard::Native::Server` (start, dispatch, shutdown, wait) and `Spikard::WebSocket`.

mod convert;
mod dispatch;
mod errors;
mod nogvl;
mod server;
mod websocket;

/// Ruby's entry point: `require "spikard/spikard_native"` runs `Init_spikard_native`.
#[allow(missing_docs, unreachable_pub)]
mod entry {
    use magnus::{Error, Ruby, prelude::*};

    use crate::{server, websocket};

    /// Defines `Spikard::Native::Server` and `Spikard::WebSocket`.
    #[magnus::init(name = "spikard_native")]
    fn init(ruby: &Ruby) -> Result<(), Error> {
        let spikard = ruby.define_module("Spikard")?;
        let native = spikard.define_module("Native")?;
        server::define(ruby, native)?;
        websocket::define(ruby, spikard)?;
        Ok(())
    }
}
