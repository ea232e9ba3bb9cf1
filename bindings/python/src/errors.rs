//! Core errors as the exception classes of `spikard.errors` (defined in Python, carrying the
//! core's stable code).

use pyo3::{exceptions::PyRuntimeError, prelude::*, sync::PyOnceLock};
use spikard::{Error, SendError};

static FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The exception of `spikard.errors` for `code`, with `message` and the route when known.
fn python_error(py: Python<'_>, code: &str, message: String, route: Option<&str>) -> PyErr {
    let made = FROM_NATIVE
        .import(py, "spikard.errors", "_from_native")
        .and_then(|make| make.call1((code, message.as_str(), route)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => PyRuntimeError::new_err(message),
    }
}

/// A core error as a Python exception.
pub(crate) fn core_error(py: Python<'_>, err: &Error) -> PyErr {
    let route = match err {
        Error::SchemaCompile { route, .. }
        | Error::InvalidPath { route, .. }
        | Error::DuplicateRoute { route } => Some(route.as_str()),
        _ => None,
    };
    python_error(py, err.code(), err.to_string(), route)
}

/// A failed send as `spikard.errors.ConnectionClosedError`.
pub(crate) fn send_error(py: Python<'_>, err: SendError) -> PyErr {
    python_error(py, "connection_closed", err.to_string(), None)
}
