//! `spikard._native`: the Python binding of the Spikard core.
//!
//! Thin on purpose: it converts values, maps core errors to the exception classes of
//! `spikard.errors`, and bridges the core's handler calls to the one asyncio event loop thread
//! of the `spikard` package (see [`bridge`]). Everything a user touches is in the Python
//! package; this module is private.

mod bridge;
mod connection;
mod convert;
mod errors;
mod handler;
mod scheduling;
mod server;

use pyo3::prelude::*;

/// The native module `spikard._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<bridge::Bridge>()?;
    m.add_class::<bridge::Job>()?;
    m.add_class::<connection::PyConnection>()?;
    m.add_class::<server::PyApp>()?;
    m.add_class::<server::Server>()?;
    m.add_function(wrap_pyfunction!(server::check_schema, m)?)?;
    m.add_function(wrap_pyfunction!(server::check_topics, m)?)?;
    m.add_function(wrap_pyfunction!(scheduling::use_batch_policy, m)?)?;
    m.add("CONNECT", bridge::CONNECT)?;
    m.add("MESSAGE", bridge::MESSAGE)?;
    m.add("BINARY", bridge::BINARY)?;
    m.add("DISCONNECT", bridge::DISCONNECT)?;
    Ok(())
}
