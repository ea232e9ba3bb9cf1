//! The hand-off between the core's tokio tasks and the Python event loop thread.
//!
//! Tokio tasks never take the GIL for a message: [`Shared::submit`] pushes a job on a queue and
//! the Python event loop is woken by one byte written to a socket pair whose other end it watches
//! (`loop.add_reader`). The loop then calls [`Bridge::take`], which hands the whole batch to
//! Python at once; each job carries a one-shot channel that its outcome travels back on. JSON
//! values are converted to and from Python objects on the loop thread, where the GIL is already
//! held.
//!
//! The wake-up is deferred so that batches grow: a tokio worker about to go idle wakes the loop
//! ([`wake_deferred`], from the runtime's park hook), and so does a queue that reached
//! [`WAKE_AT`] jobs. A worker that stays busy therefore fills the batch first instead of
//! handing Python one message at a time.

use std::{
    io::{ErrorKind, Read, Write},
    os::{fd::AsRawFd, unix::net::UnixStream},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use pyo3::{
    exceptions::{PyRuntimeError, PyTypeError},
    prelude::*,
    sync::PyOnceLock,
    types::{PyByteArray, PyBytes},
};
use serde_json::Value;
use spikard::{BinaryReply, Bytes, CloseInfo, Connection};
use tokio::sync::oneshot;

use crate::{connection::PyConnection, convert};

/// Job kind: `on_connect` of a new connection.
pub(crate) const CONNECT: u8 = 0;
/// Job kind: a JSON text message.
pub(crate) const MESSAGE: u8 = 1;
/// Job kind: a binary message.
pub(crate) const BINARY: u8 = 2;
/// Job kind: `on_disconnect` of a connection that ended.
pub(crate) const DISCONNECT: u8 = 3;

/// What a job carries to Python.
pub(crate) enum Payload {
    Connect,
    Message(Value),
    Binary(Bytes),
    Disconnect(CloseInfo),
}

/// What Python answered.
pub(crate) enum Outcome {
    /// `on_connect` accepted the connection (also the answer to a finished `on_disconnect`).
    Done,
    /// `on_connect` refused the connection with this HTTP status and reason.
    Reject { status: u16, reason: String },
    /// A text message's reply (`None`: no reply).
    Reply(Option<Value>),
    /// A binary message's reply.
    BinaryReply(Option<BinaryReply>),
    /// The handler raised; the message goes to the client in a `handler_error` envelope.
    Failed(String),
}

struct Pending {
    route: usize,
    conn: Connection,
    payload: Payload,
    reply: oneshot::Sender<Outcome>,
}

struct Queue {
    jobs: Vec<Pending>,
    open: bool,
}

/// A queue this long wakes the Python loop at once, without waiting for an idle worker.
pub(crate) const WAKE_AT: usize = 64;

/// Bridges with jobs whose wake-up waits for a worker to go idle.
static DEFERRED: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

/// Wake the Python loop of every bridge with deferred jobs (the tokio runtime's park hook).
pub(crate) fn wake_deferred() {
    let bridges = std::mem::take(&mut *DEFERRED.lock().unwrap_or_else(PoisonError::into_inner));
    for bridge in bridges {
        bridge.deferred.store(false, Ordering::Release);
        bridge.wake();
    }
}

/// The queue and the wake-up socket pair shared by a server's route handlers and its [`Bridge`].
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    wake_writer: UnixStream,
    wake_reader: UnixStream,
    /// A wake-up byte was written and the loop has not taken the queue since.
    woken: AtomicBool,
    /// This bridge is in [`DEFERRED`].
    deferred: AtomicBool,
}

impl Shared {
    /// Queue a job for the Python loop and wait for its outcome; `None` when the bridge is closed
    /// or Python dropped the job without answering.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        route: usize,
        conn: &Connection,
        payload: Payload,
    ) -> Option<Outcome> {
        let (reply, outcome) = oneshot::channel();
        let queued = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if !queue.open {
                return None;
            }
            queue.jobs.push(Pending { route, conn: conn.clone(), payload, reply });
            queue.jobs.len()
        };
        if queued >= WAKE_AT {
            self.wake();
        } else if !self.deferred.swap(true, Ordering::AcqRel) {
            DEFERRED.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::clone(self));
        }
        outcome.await.ok()
    }

    fn wake(&self) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a wake-up is already pending: nothing to do.
            let _ = (&self.wake_writer).write(&[1]);
        }
    }
}

/// A server's job queue, drained by the Python event loop.
#[pyclass(module = "spikard._native", frozen)]
pub(crate) struct Bridge {
    pub(crate) shared: Arc<Shared>,
}

#[pymethods]
impl Bridge {
    /// A new, open bridge with an empty queue.
    #[new]
    fn new() -> PyResult<Self> {
        let (wake_writer, wake_reader) = UnixStream::pair()?;
        wake_writer.set_nonblocking(true)?;
        wake_reader.set_nonblocking(true)?;
        let queue = Mutex::new(Queue { jobs: Vec::new(), open: true });
        let (woken, deferred) = (AtomicBool::new(false), AtomicBool::new(false));
        Ok(Self { shared: Arc::new(Shared { queue, wake_writer, wake_reader, woken, deferred }) })
    }

    /// The file descriptor that becomes readable when jobs are waiting (for `loop.add_reader`).
    fn fileno(&self) -> i32 {
        self.shared.wake_reader.as_raw_fd()
    }

    /// Every waiting job, oldest first (empty when there is none).
    fn take(&self) -> Vec<Job> {
        // Drain the wake-up bytes first, then clear `woken`: in the other order a wake-up
        // between the two would have its byte drained and leave `woken` set with no byte
        // pending, and every later wake-up would be skipped (the loop never woken again).
        let mut sink = [0_u8; 64];
        loop {
            match (&self.shared.wake_reader).read(&mut sink) {
                Ok(n) if n == sink.len() => {}
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        self.shared.woken.store(false, Ordering::Release);
        let jobs = {
            let mut queue = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut queue.jobs)
        };
        jobs.into_iter().map(Job::new).collect()
    }

    /// Refuse new jobs and drop the waiting ones (their connections get an internal error).
    fn close(&self) {
        let dropped = {
            let mut queue = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.open = false;
            std::mem::take(&mut queue.jobs)
        };
        drop(dropped);
    }
}

/// The Python object a handler keeps for its connection (`spikard.WebSocket`), stored in the
/// core's per-connection state so that the core, not the binding, owns connections.
#[derive(Clone)]
struct CachedWebSocket(Arc<Py<PyAny>>);

/// One unit of work for Python: a connect, a message or a disconnect of one connection.
#[pyclass(module = "spikard._native")]
pub(crate) struct Job {
    route: usize,
    conn: Connection,
    payload: Payload,
    reply: Option<oneshot::Sender<Outcome>>,
}

impl Job {
    fn new(pending: Pending) -> Self {
        Self {
            route: pending.route,
            conn: pending.conn,
            payload: pending.payload,
            reply: Some(pending.reply),
        }
    }

    fn answer(&mut self, outcome: Outcome) -> PyResult<()> {
        let reply =
            self.reply.take().ok_or_else(|| PyRuntimeError::new_err("this job was already answered"))?;
        // The connection may be gone already; nobody is left to tell.
        let _ = reply.send(outcome);
        Ok(())
    }

    fn forget_websocket(&self) {
        let cached = self.conn.state().remove::<CachedWebSocket>();
        drop(cached);
    }
}

static ENCODER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The package's fallback encoder for objects that are not JSON types.
pub(crate) fn encoder(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    ENCODER.import(py, "spikard._encode", "to_jsonable")
}

fn as_bytes(obj: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Some(bytes.as_bytes().to_vec());
    }
    obj.cast::<PyByteArray>().ok().map(|array| array.to_vec())
}

#[pymethods]
impl Job {
    /// [`CONNECT`], [`MESSAGE`], [`BINARY`] or [`DISCONNECT`].
    #[getter]
    fn kind(&self) -> u8 {
        match self.payload {
            Payload::Connect => CONNECT,
            Payload::Message(_) => MESSAGE,
            Payload::Binary(_) => BINARY,
            Payload::Disconnect(_) => DISCONNECT,
        }
    }

    /// The index of the route, in the order routes were added to the app.
    #[getter]
    fn route(&self) -> usize {
        self.route
    }

    /// The message: a JSON value for a text message, `bytes` for a binary one, else `None`.
    #[getter]
    fn message<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.payload {
            Payload::Message(value) => convert::to_python(py, value),
            Payload::Binary(data) => Ok(PyBytes::new(py, data).into_any()),
            Payload::Connect | Payload::Disconnect(_) => Ok(py.None().into_bound(py)),
        }
    }

    /// The close code of a disconnect (0 for other jobs).
    #[getter]
    fn code(&self) -> u16 {
        match &self.payload {
            Payload::Disconnect(info) => info.code,
            _ => 0,
        }
    }

    /// The close reason of a disconnect (empty for other jobs).
    #[getter]
    fn reason(&self) -> &str {
        match &self.payload {
            Payload::Disconnect(info) => &info.reason,
            _ => "",
        }
    }

    /// The connection this job belongs to.
    fn connection(&self) -> PyConnection {
        PyConnection::new(self.conn.clone())
    }

    /// The object stored with [`Job::set_ws`] for this connection, or `None`.
    #[getter]
    fn ws(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.conn.state().get::<CachedWebSocket>().map(|cached| cached.0.clone_ref(py))
    }

    /// Keep `ws` with the connection until it ends.
    #[setter]
    fn set_ws(&self, ws: Py<PyAny>) {
        self.conn.state().insert(CachedWebSocket(Arc::new(ws)));
    }

    /// Answer a message: `None` sends nothing, `bytes` a binary frame, anything else JSON.
    fn reply(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let binary = matches!(self.payload, Payload::Binary(_));
        let outcome = if value.is_none() {
            if binary { Outcome::BinaryReply(None) } else { Outcome::Reply(None) }
        } else if let Some(data) = as_bytes(value) {
            if binary {
                Outcome::BinaryReply(Some(BinaryReply::Binary(data.into())))
            } else {
                // A text message answered with bytes: queue them, in order, as a binary frame.
                self.conn.send_binary(data).map_err(|err| crate::errors::send_error(py, err))?;
                Outcome::Reply(None)
            }
        } else {
            let json = convert::from_python(value, Some(encoder(py)?))?;
            if binary {
                Outcome::BinaryReply(Some(BinaryReply::Json(json)))
            } else {
                Outcome::Reply(Some(json))
            }
        };
        match self.payload {
            Payload::Message(_) | Payload::Binary(_) => self.answer(outcome),
            _ => Err(PyTypeError::new_err("only messages take a reply")),
        }
    }

    /// Answer a message with a `handler_error` envelope carrying `message`.
    fn fail(&mut self, message: String) -> PyResult<()> {
        self.answer(Outcome::Failed(message))
    }

    /// Finish a connect (accepting the connection) or a disconnect.
    fn done(&mut self) -> PyResult<()> {
        if matches!(self.payload, Payload::Disconnect(_)) {
            self.forget_websocket();
        }
        self.answer(Outcome::Done)
    }

    /// Refuse a connection in `on_connect` with an HTTP status and a reason.
    fn reject(&mut self, status: u16, reason: String) -> PyResult<()> {
        self.forget_websocket();
        self.answer(Outcome::Reject { status, reason })
    }
}
