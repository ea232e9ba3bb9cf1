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
mod server;

use pyo3::prelude::*;

/// Put the calling thread (the Python event loop thread) under `SCHED_BATCH`, like the tokio
/// workers, unless `SPIKARD_SCHED_BATCH=0`.
#[pyfunction]
fn use_batch_policy() {
    spikard::bridge::runtime::batch_policy();
}

/// The native module `spikard._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<bridge::Bridge>()?;
    m.add_class::<bridge::Job>()?;
    m.add_class::<connection::PyConnection>()?;
    m.add_class::<server::PyApp>()?;
    m.add_class::<server::Server>()?;
    m.add_class::<server::Capture>()?;
    m.add_function(wrap_pyfunction!(server::check_schema, m)?)?;
    m.add_function(wrap_pyfunction!(server::check_topics, m)?)?;
    m.add_function(wrap_pyfunction!(server::asyncapi, m)?)?;
    m.add_function(wrap_pyfunction!(use_batch_policy, m)?)?;
    for kind in spikard::bridge::CallKind::ALL {
        m.add(kind.name(), kind.as_u8())?;
    }
    Ok(())
}
