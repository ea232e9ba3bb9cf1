//! Core errors as the exception classes of `spikard.errors` (defined in Python, carrying the
//! core's stable code).

use pyo3::{
    exceptions::PyRuntimeError,
    prelude::*,
    sync::PyOnceLock,
    types::{PyDict, PyList},
};
use spikard::{Error, PublishError, SendError};

static FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PUBLISH_FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

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

/// A refused publish as `spikard.errors.PublishError`, carrying the core's code, topic, field
/// errors (`{"path", "message", "keyword"}` dicts) and message text.
pub(crate) fn publish_error(py: Python<'_>, err: &PublishError) -> PyErr {
    match make_publish_error(py, err) {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => PyRuntimeError::new_err(err.to_string()),
    }
}

fn make_publish_error<'py>(py: Python<'py>, err: &PublishError) -> PyResult<Bound<'py, PyAny>> {
    let errors = PyList::empty(py);
    for field in err.errors() {
        let item = PyDict::new(py);
        item.set_item("path", &field.path)?;
        item.set_item("message", &field.message)?;
        item.set_item("keyword", &field.keyword)?;
        errors.append(item)?;
    }
    let make = PUBLISH_FROM_NATIVE.import(py, "spikard.errors", "_publish_from_native")?;
    make.call1((err.code(), err.to_string(), err.topic(), errors))
}
