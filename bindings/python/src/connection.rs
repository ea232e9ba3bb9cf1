//! `spikard._native.Connection`: the core's connection handle, as seen from Python.

use pyo3::{prelude::*, types::PyBytes};
use spikard::Connection;

use crate::{bridge::encoder, convert, errors::raise};

/// One WebSocket connection: what it was opened with, and a way to talk to it.
///
/// Sends never block: they queue the message for the connection's writer.
#[pyclass(module = "spikard._native", name = "Connection", frozen)]
pub(crate) struct PyConnection {
    conn: Connection,
}

impl PyConnection {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }
}

#[pymethods]
impl PyConnection {
    /// The process-unique connection number.
    #[getter]
    fn id(&self) -> u64 {
        self.conn.id().get()
    }

    /// The request path (without the query string).
    #[getter]
    fn path(&self) -> &str {
        self.conn.path()
    }

    /// The route pattern that matched, e.g. `/rooms/{room}`.
    #[getter]
    fn route(&self) -> &str {
        self.conn.route()
    }

    /// Path parameters, in the order the pattern names them.
    fn path_params(&self) -> Vec<(String, String)> {
        self.conn.path_params().to_vec()
    }

    /// Query parameters, in the order they appear (a key may repeat).
    fn query_params(&self) -> Vec<(String, String)> {
        self.conn.query_params().to_vec()
    }

    /// The upgrade request's headers as `(lower-case name, value)` pairs.
    fn headers(&self) -> Vec<(String, String)> {
        self.conn
            .headers()
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect()
    }

    /// The upgrade request's cookies as `(name, value)` pairs, in the order sent.
    fn cookies(&self) -> Vec<(String, String)> {
        self.conn.cookies()
    }

    /// The subprotocol the upgrade selected, if any.
    #[getter]
    fn subprotocol(&self) -> Option<&str> {
        self.conn.subprotocol()
    }

    /// The client's address as `(host, port)`.
    fn remote_addr(&self) -> (String, u16) {
        let addr = self.conn.remote_addr();
        (addr.ip().to_string(), addr.port())
    }

    /// `True` once either side started closing.
    #[getter]
    fn is_closing(&self) -> bool {
        self.conn.is_closing()
    }

    /// Queue `value` as a JSON text frame.
    fn send_json(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let json = convert::from_python(value, Some(encoder(py)?))?;
        self.conn.send_json(&json).map_err(|err| raise(py, err))
    }

    /// Queue `text` as a text frame, as is.
    fn send_text(&self, py: Python<'_>, text: String) -> PyResult<()> {
        self.conn.send_text(text).map_err(|err| raise(py, err))
    }

    /// Queue `data` as a binary frame.
    fn send_bytes(&self, py: Python<'_>, data: &Bound<'_, PyBytes>) -> PyResult<()> {
        self.conn.send_binary(data.as_bytes().to_vec()).map_err(|err| raise(py, err))
    }

    /// Join `topic`: what is published to it reaches this connection until it unsubscribes or
    /// disconnects. `False` when already subscribed or when the connection is closing.
    fn subscribe(&self, topic: &str) -> bool {
        self.conn.subscribe(topic)
    }

    /// Leave `topic`; `False` when this connection was not subscribed to it.
    fn unsubscribe(&self, topic: &str) -> bool {
        self.conn.unsubscribe(topic)
    }

    /// The topics this connection is subscribed to, in the order it joined them.
    fn subscriptions(&self) -> Vec<String> {
        self.conn.subscriptions()
    }

    /// Publish `value` as JSON to every subscriber of `topic` (this connection included when it
    /// is one); the number of connections it was queued for. The value is converted with the
    /// GIL held; validating it against the topic's schema, serialising it (once) and queueing
    /// it for every subscriber happen without it. Raises `spikard.errors.PublishError` when it
    /// fails the topic's schema (then it is queued for nobody).
    fn publish(&self, py: Python<'_>, topic: &str, value: &Bound<'_, PyAny>) -> PyResult<usize> {
        let json = convert::from_python(value, Some(encoder(py)?))?;
        py.detach(|| self.conn.publish(topic, &json)).map_err(|err| raise(py, err))
    }

    /// Like `publish`, but never to this connection.
    fn publish_others(&self, py: Python<'_>, topic: &str, value: &Bound<'_, PyAny>) -> PyResult<usize> {
        let json = convert::from_python(value, Some(encoder(py)?))?;
        py.detach(|| self.conn.publish_others(topic, &json)).map_err(|err| raise(py, err))
    }

    /// How many connections are subscribed to `topic` now.
    fn topic_count(&self, topic: &str) -> usize {
        self.conn.topic_count(topic)
    }

    /// Close with `code` and `reason` after the messages queued so far (closing twice keeps
    /// the first code). Raises `spikard.errors.InvalidCloseError` for a code a server may not
    /// send or a reason over 123 bytes.
    #[pyo3(signature = (code = 1000, reason = ""))]
    fn close(&self, py: Python<'_>, code: u32, reason: &str) -> PyResult<()> {
        spikard::bridge::protocol::close(&self.conn, code, reason).map_err(|err| raise(py, err))
    }
}
