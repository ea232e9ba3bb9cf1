//! Every error the core reports, as the exception classes of `spikard.errors` (defined in
//! Python, carrying the core's stable code): one mapping, in `spikard.errors._from_native`.

use pyo3::{
    exceptions::PyRuntimeError,
    prelude::*,
    sync::PyOnceLock,
    types::{PyDict, PyList},
};
use spikard::bridge::Failure;

static FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The exception of `spikard.errors` for a core failure: its code picks the class; the message,
/// route, topic and field errors (`{"path", "message", "keyword"}` dicts) go with it.
pub(crate) fn failure(py: Python<'_>, failure: &Failure) -> PyErr {
    match make(py, failure) {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => PyRuntimeError::new_err(failure.message.clone()),
    }
}

fn make<'py>(py: Python<'py>, failure: &Failure) -> PyResult<Bound<'py, PyAny>> {
    let errors = PyList::empty(py);
    for field in &failure.errors {
        let item = PyDict::new(py);
        item.set_item("path", &field.path)?;
        item.set_item("message", &field.message)?;
        item.set_item("keyword", &field.keyword)?;
        errors.append(item)?;
    }
    let make = FROM_NATIVE.import(py, "spikard.errors", "_from_native")?;
    make.call1((
        failure.code.as_str(),
        failure.message.as_str(),
        failure.route.as_deref(),
        failure.topic.as_deref(),
        errors,
    ))
}

/// Any core error type that becomes a [`Failure`], as a Python exception.
pub(crate) fn raise(py: Python<'_>, err: impl Into<Failure>) -> PyErr {
    failure(py, &err.into())
}
