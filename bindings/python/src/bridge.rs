//! The Python end of the core's job queue ([`spikard::bridge`]): the wake-up of the asyncio
//! loop thread and the `Job` objects Python answers.
//!
//! Tokio tasks never take the GIL for a message. The core queues each call on a
//! [`JobQueue`] whose wake-up ([`WakePolicy::Deferred`]: when a tokio worker is about to go idle,
//! or when [`WAKE_AT`] jobs wait) writes one byte to a socket pair whose other end the loop
//! watches (`loop.add_reader`). The loop then calls [`Bridge::take`] and gets the whole batch at
//! once. JSON values are converted on the loop thread, where the GIL is already held; the core's
//! log records ride the same batch and go to the `logging` logger `spikard`.

use std::{
    io::{ErrorKind, Read, Write},
    os::{fd::AsRawFd, unix::net::UnixStream},
    sync::Arc,
};

use pyo3::{
    prelude::*,
    sync::PyOnceLock,
    types::{PyByteArray, PyBytes},
};
use spikard::{
    FieldError, HandlerError, Reply,
    bridge::{Batch, Call, JobQueue, Outcome, Wake, WakePolicy, log::LogLevel},
};

use crate::{connection::PyConnection, convert, errors::failure};

/// A queue this long wakes the Python loop at once, without waiting for an idle worker.
const WAKE_AT: usize = 64;

/// The loop's wake-up: one byte on a non-blocking socket pair.
struct SocketWake {
    writer: UnixStream,
}

impl Wake for SocketWake {
    fn wake(&self) {
        // A full socket buffer means a wake-up is already pending: nothing to do.
        let _ = (&self.writer).write(&[1]);
    }
}

/// A server's job queue, drained by the Python event loop.
#[pyclass(module = "spikard._native", frozen)]
pub(crate) struct Bridge {
    pub(crate) queue: Arc<JobQueue>,
    reader: UnixStream,
}

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Log the core's records on the `logging` logger `spikard`, at their level.
fn log_records(py: Python<'_>, batch: &mut Batch) -> PyResult<()> {
    if batch.logs.is_empty() {
        return Ok(());
    }
    let logger = LOGGER
        .get_or_try_init(py, || -> PyResult<_> {
            Ok(py.import("logging")?.call_method1("getLogger", ("spikard",))?.unbind())
        })?
        .bind(py);
    for record in batch.logs.drain(..) {
        let level = match record.level {
            LogLevel::Error => 40,
            LogLevel::Warn => 30,
            LogLevel::Info => 20,
            LogLevel::Debug => 10,
            _ => 5,
        };
        logger.call_method1("log", (level, "%s (%s)", record.message, record.target))?;
    }
    Ok(())
}

#[pymethods]
impl Bridge {
    /// A new, open bridge with an empty queue; the core's log records go to its loop.
    #[new]
    fn new() -> PyResult<Self> {
        let (writer, reader) = UnixStream::pair()?;
        writer.set_nonblocking(true)?;
        reader.set_nonblocking(true)?;
        let waker = Arc::new(SocketWake { writer });
        let queue = JobQueue::new(WakePolicy::Deferred { waker, at: WAKE_AT });
        spikard::bridge::log::attach(&queue);
        Ok(Self { queue, reader })
    }

    /// The file descriptor that becomes readable when jobs are waiting (for `loop.add_reader`).
    fn fileno(&self) -> i32 {
        self.reader.as_raw_fd()
    }

    /// Every waiting job, oldest first (empty when there is none). The core's waiting log
    /// records are logged first.
    fn take(&self, py: Python<'_>) -> PyResult<Vec<Job>> {
        // Drain the wake-up bytes before taking the queue: a wake-up after this point comes
        // with jobs the next `take` finds.
        let mut sink = [0_u8; 64];
        loop {
            match (&self.reader).read(&mut sink) {
                Ok(n) if n == sink.len() => {}
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        let mut batch = Batch::new();
        self.queue.take(&mut batch);
        log_records(py, &mut batch)?;
        Ok(batch.jobs.into_iter().map(|job| Job { job }).collect())
    }

    /// Refuse new jobs and drop the waiting ones (their connections see a lost call).
    fn close(&self) {
        self.queue.close();
    }
}

/// The Python object a handler keeps for its connection (`spikard.WebSocket`), stored in the
/// core's per-connection state, which the core clears when the connection ends.
#[derive(Clone)]
struct CachedWebSocket(Arc<Py<PyAny>>);

/// One unit of work for Python: a connect, a message or a disconnect of one connection.
#[pyclass(module = "spikard._native")]
pub(crate) struct Job {
    job: spikard::bridge::Job,
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

impl Job {
    fn answer(&mut self, py: Python<'_>, outcome: Outcome) -> PyResult<()> {
        self.job.answer(outcome).map(drop).map_err(|err| failure(py, &err))
    }
}

#[pymethods]
impl Job {
    /// The kind of call: `CONNECT`, `MESSAGE`, `BINARY` or `DISCONNECT` of this module.
    #[getter]
    fn kind(&self) -> u8 {
        self.job.call().kind().as_u8()
    }

    /// The index of the route, in the order routes were added to the app.
    #[getter]
    fn route(&self) -> usize {
        self.job.route()
    }

    /// The branch a message on a dispatching route was validated against (the value of its
    /// discriminator), or `None`.
    #[getter]
    fn branch(&self) -> Option<&str> {
        self.job.branch()
    }

    /// The message: a JSON value for a text message, `bytes` for a binary one, else `None`.
    #[getter]
    fn message<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.job.call() {
            Call::Message(value) => convert::to_python(py, value),
            Call::Binary(data) => Ok(PyBytes::new(py, data).into_any()),
            _ => Ok(py.None().into_bound(py)),
        }
    }

    /// The close code of a disconnect (0 for other jobs).
    #[getter]
    fn code(&self) -> u16 {
        self.job.call().close().map_or(0, |info| info.code)
    }

    /// The close reason of a disconnect (empty for other jobs).
    #[getter]
    fn reason(&self) -> &str {
        self.job.call().close().map_or("", |info| info.reason.as_str())
    }

    /// The connection this job belongs to.
    fn connection(&self) -> PyConnection {
        PyConnection::new(self.job.conn().clone())
    }

    /// The object stored with [`Job::set_ws`] for this connection, or `None`.
    #[getter]
    fn ws(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.job.conn().state().get::<CachedWebSocket>().map(|cached| cached.0.clone_ref(py))
    }

    /// Keep `ws` with the connection until it ends.
    #[setter]
    fn set_ws(&self, ws: Py<PyAny>) {
        self.job.conn().state().insert(CachedWebSocket(Arc::new(ws)));
    }

    /// Answer a message: `None` sends nothing, `bytes` a binary frame, anything else JSON.
    fn reply(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let outcome = if value.is_none() {
            Outcome::Done
        } else if let Some(data) = as_bytes(value) {
            Outcome::reply_binary(data)
        } else {
            Outcome::Reply(Reply::Json(convert::from_python(value, Some(encoder(py)?))?))
        };
        self.answer(py, outcome)
    }

    /// Answer with a `handler_error` envelope carrying `message` (an error raised for the
    /// client: `spikard.HandlerError`).
    fn fail(&mut self, py: Python<'_>, message: String) -> PyResult<()> {
        self.answer(py, Outcome::Failed(HandlerError::new(message)))
    }

    /// Answer with a `handler_error` envelope saying `"internal error"` (an unexpected
    /// exception, which the package logged with its traceback).
    fn fail_internal(&mut self, py: Python<'_>) -> PyResult<()> {
        self.answer(py, Outcome::Failed(HandlerError::internal("raised in Python")))
    }

    /// Answer with a `validation_failed` envelope: the handler's type refused the message.
    /// `errors` are `(path, message, keyword)` triples (JSON pointers; never input values).
    fn invalid(&mut self, py: Python<'_>, errors: Vec<(String, String, String)>) -> PyResult<()> {
        let errors = errors.into_iter().map(|(path, message, keyword)| FieldError { path, message, keyword });
        self.answer(py, Outcome::Failed(HandlerError::invalid(errors.collect())))
    }

    /// Finish a connect (accepting the connection), a disconnect, or a message without reply.
    fn done(&mut self, py: Python<'_>) -> PyResult<()> {
        self.answer(py, Outcome::Done)
    }

    /// Refuse a connection in `on_connect` with an HTTP status (400-599) and a reason.
    fn reject(&mut self, py: Python<'_>, status: u16, reason: String) -> PyResult<()> {
        self.answer(py, Outcome::Rejected { status, reason })
    }
}
