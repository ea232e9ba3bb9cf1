//! `spikard._native.App` (routes and settings) and `spikard._native.Server` (a running app),
//! served by one tokio runtime per process.

use std::{
    path::PathBuf,
    sync::{Arc, Condvar, Mutex, OnceLock, PoisonError},
    time::Duration,
};

use pyo3::{exceptions::PyRuntimeError, prelude::*};
use spikard::{
    CompiledSchema, Route, ServerHandle,
    bridge::{
        BridgeRoute, Code, Failure, Hooks, JobQueue, protocol,
        runtime::{self, RuntimeOptions},
    },
};

use crate::{
    bridge::{self, Bridge},
    convert,
    errors::raise,
};

/// The process's tokio runtime, started on first use.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| runtime::build(RuntimeOptions::default()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))
}

/// A duration option in seconds; a negative or non-finite number raises
/// `spikard.errors.ConfigError` naming the option.
fn duration(py: Python<'_>, option: &str, seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        let message = format!("{option} must be a non-negative number of seconds");
        raise(py, Failure::new(Code::InvalidConfig, message))
    })
}

/// Compile `schema` as the `which` (`"message"` or `"response"`) schema of `route`, raising
/// `spikard.errors.SchemaCompileError` when it is not a valid JSON Schema.
#[pyfunction]
pub(crate) fn check_schema(
    py: Python<'_>,
    route: &str,
    which: &str,
    schema: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let which = if which == "response" { "response" } else { "message" };
    let schema = convert::from_python(schema, None)?;
    CompiledSchema::compile(route, which, &schema).map(drop).map_err(|err| raise(py, err))
}

/// Register every `(pattern, schema)` of `topics` on an empty app, in order, raising what the
/// core raises for a bad pattern, a bad schema or a pattern declared twice.
#[pyfunction]
pub(crate) fn check_topics(py: Python<'_>, topics: Vec<(String, Bound<'_, PyAny>)>) -> PyResult<()> {
    let mut app = spikard::App::new();
    for (pattern, schema) in topics {
        let schema = convert::from_python(&schema, None)?;
        app.topic_schema(&pattern, schema).map_err(|err| raise(py, err))?;
    }
    Ok(())
}

/// Routes and settings of an app, before it is bound.
#[pyclass(module = "spikard._native", name = "App")]
pub(crate) struct PyApp {
    app: Option<spikard::App>,
    queue: Arc<JobQueue>,
}

impl PyApp {
    fn app(&mut self) -> PyResult<&mut spikard::App> {
        self.app.as_mut().ok_or_else(|| PyRuntimeError::new_err("this app was already bound"))
    }
}

#[pymethods]
impl PyApp {
    /// An empty app whose routes hand their work to `bridge`.
    #[new]
    fn new(bridge: &Bridge) -> Self {
        Self { app: Some(spikard::App::new()), queue: Arc::clone(&bridge.queue) }
    }

    /// Add a route; its jobs carry `index`. Schemas compile now. `raw_text`: text messages reach
    /// the handler as `str`, unparsed, and a `str` reply goes out as that text.
    #[pyo3(signature = (
        path, index, *, message_schema=None, response_schema=None, max_message_size=None,
        raw_text=false, on_connect=false, on_disconnect=false, on_binary=false,
    ))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
    fn add_route(
        &mut self,
        py: Python<'_>,
        path: String,
        index: usize,
        message_schema: Option<&Bound<'_, PyAny>>,
        response_schema: Option<&Bound<'_, PyAny>>,
        max_message_size: Option<usize>,
        raw_text: bool,
        on_connect: bool,
        on_disconnect: bool,
        on_binary: bool,
    ) -> PyResult<()> {
        // Python keeps its connection object in the connection's state, which the core clears:
        // it needs no disconnect call to release it.
        let hooks =
            Hooks { connect: on_connect, disconnect: on_disconnect, binary: on_binary, release: false };
        let handler = BridgeRoute::new(index, hooks, Arc::clone(&self.queue));
        let mut route = Route::new(path, handler);
        if let Some(schema) = message_schema {
            route = route.message_schema(convert::from_python(schema, None)?);
        }
        if let Some(schema) = response_schema {
            route = route.response_schema(convert::from_python(schema, None)?);
        }
        if let Some(bytes) = max_message_size {
            route = route.max_message_size(bytes);
        }
        if raw_text {
            route = route.raw_text();
        }
        self.app()?.route(route).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Largest accepted message in bytes for routes without their own limit.
    fn set_max_message_size(&mut self, py: Python<'_>, bytes: usize) -> PyResult<()> {
        self.app()?.max_message_size(bytes).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Capacity of each connection's outgoing queue, in messages; a client whose queue is full
    /// when the server replies or pushes to it is closed with 1013.
    fn set_outgoing_queue(&mut self, py: Python<'_>, messages: usize) -> PyResult<()> {
        self.app()?.outgoing_queue(messages).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Capacity of each connection's outgoing queue, in payload bytes; a reply or push that
    /// would take it past this closes the client with 1013.
    fn set_outgoing_queue_bytes(&mut self, py: Python<'_>, bytes: usize) -> PyResult<()> {
        self.app()?.outgoing_queue_bytes(bytes).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Time between the server's pings, in seconds (0 sends none).
    fn set_ping_interval(&mut self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let interval = duration(py, "ping_interval", seconds)?;
        self.app()?.ping_interval(interval);
        Ok(())
    }

    /// Time a ping waits for its pong before the connection is closed with 1011, in seconds.
    fn set_ping_timeout(&mut self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let timeout = duration(py, "ping_timeout", seconds)?;
        self.app()?.ping_timeout(timeout).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Time without a message from the client before it is closed with 1001, in seconds (0:
    /// never).
    fn set_idle_timeout(&mut self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let timeout = duration(py, "idle_timeout", seconds)?;
        self.app()?.idle_timeout(timeout);
        Ok(())
    }

    /// Check messages published to topics matching `pattern` (a name, or a prefix followed by
    /// `*`) against `schema`, compiled now.
    fn add_topic_schema(&mut self, py: Python<'_>, pattern: &str, schema: &Bound<'_, PyAny>) -> PyResult<()> {
        let schema = convert::from_python(schema, None)?;
        self.app()?.topic_schema(pattern, schema).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Serve the files of `directory` on paths that are not WebSocket routes.
    fn set_static_dir(&mut self, directory: PathBuf) -> PyResult<()> {
        self.app()?.static_dir(directory);
        Ok(())
    }

    /// How long graceful shutdown waits for connections to close, in seconds.
    fn set_drain_timeout(&mut self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let timeout = duration(py, "drain_timeout", seconds)?;
        self.app()?.drain_timeout(timeout);
        Ok(())
    }

    /// The longest a subscriber's writer holds published messages while a reader is in a
    /// burst, in seconds (0 holds nothing).
    fn set_fanout_flush_interval(&mut self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let interval = duration(py, "fanout_flush_interval", seconds)?;
        self.app()?.fanout_flush_interval(interval);
        Ok(())
    }

    /// How long a connection has to send its request head, and `on_connect` to decide, in
    /// seconds.
    fn set_handshake_timeout(&mut self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let timeout = duration(py, "handshake_timeout", seconds)?;
        self.app()?.handshake_timeout(timeout).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Largest request head (request line and headers), in bytes.
    fn set_max_request_head(&mut self, py: Python<'_>, bytes: usize) -> PyResult<()> {
        self.app()?.max_request_head(bytes).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Largest single header (name and value), in bytes.
    fn set_max_header_size(&mut self, py: Python<'_>, bytes: usize) -> PyResult<()> {
        self.app()?.max_header_size(bytes).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Most WebSocket connections open at once; past it an upgrade gets HTTP 503.
    fn set_max_connections(&mut self, py: Python<'_>, connections: usize) -> PyResult<()> {
        self.app()?.max_connections(connections).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Accept upgrades only from these origins (HTTP 403 for a missing or unlisted `Origin`).
    fn set_allowed_origins(&mut self, py: Python<'_>, origins: Vec<String>) -> PyResult<()> {
        self.app()?.allowed_origins(origins).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Bind `host:port` (port 0 picks a free port) and start serving in the background.
    fn bind(&mut self, py: Python<'_>, host: &str, port: u16) -> PyResult<Server> {
        let app = self.app.take().ok_or_else(|| PyRuntimeError::new_err("this app was already bound"))?;
        let runtime = runtime()?;
        let addr = protocol::listen_address(host, port);
        let server = py.detach(|| runtime.block_on(app.bind(addr))).map_err(|err| raise(py, err))?;
        let handle = server.handle();
        let stopped = Arc::new(Stopped::default());
        let done = Arc::clone(&stopped);
        runtime.spawn(async move {
            let result = server.run().await;
            done.finish(result);
        });
        Ok(Server { handle, stopped })
    }
}

/// Where a server's run is.
#[derive(Clone, Default)]
enum RunState {
    #[default]
    Running,
    Stopped,
    Failed(Arc<spikard::Error>),
}

/// Set once a server's run ended.
#[derive(Default)]
struct Stopped {
    state: Mutex<RunState>,
    changed: Condvar,
}

impl Stopped {
    fn finish(&self, result: Result<(), spikard::Error>) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = match result {
            Ok(()) => RunState::Stopped,
            Err(err) => RunState::Failed(Arc::new(err)),
        };
        self.changed.notify_all();
    }
}

/// A bound app, serving in the background.
#[pyclass(module = "spikard._native", frozen)]
pub(crate) struct Server {
    handle: ServerHandle,
    stopped: Arc<Stopped>,
}

#[pymethods]
impl Server {
    /// The bound host (an IP address).
    #[getter]
    fn host(&self) -> String {
        self.handle.local_addr().ip().to_string()
    }

    /// The bound port (the real one when port 0 was asked for).
    #[getter]
    fn port(&self) -> u16 {
        self.handle.local_addr().port()
    }

    /// Start a graceful shutdown: stop accepting, close every connection with 1001, run every
    /// `on_disconnect`. Returns at once; see `wait`.
    fn shutdown(&self) {
        self.handle.shutdown();
    }

    /// Wait (without the GIL) until the server stopped, at most `timeout` seconds when given.
    /// Returns `True` once stopped; raises the server's error if it failed.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let state = py.detach(|| {
            let running = |state: &mut RunState| matches!(state, RunState::Running);
            let guard = self.stopped.state.lock().unwrap_or_else(PoisonError::into_inner);
            let guard = match timeout {
                None => {
                    self.stopped.changed.wait_while(guard, running).unwrap_or_else(PoisonError::into_inner)
                }
                Some(seconds) => {
                    let limit = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX);
                    self.stopped
                        .changed
                        .wait_timeout_while(guard, limit, running)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            guard.clone()
        });
        match state {
            RunState::Running => Ok(false),
            RunState::Stopped => Ok(true),
            RunState::Failed(err) => Err(raise(py, &*err)),
        }
    }

    /// Publish `value` as JSON to every subscriber of `topic`, from any thread; the number of
    /// connections it was queued for (0 for a topic without subscribers). Validating,
    /// serialising and queueing happen without the GIL. Raises `spikard.errors.PublishError`
    /// when it fails the topic's schema.
    fn publish(&self, py: Python<'_>, topic: &str, value: &Bound<'_, PyAny>) -> PyResult<usize> {
        let json = convert::from_python(value, Some(bridge::encoder(py)?))?;
        py.detach(|| self.handle.publish(topic, &json)).map_err(|err| raise(py, err))
    }

    /// How many connections are subscribed to `topic` now.
    fn topic_count(&self, topic: &str) -> usize {
        self.handle.topic_count(topic)
    }

    /// Every topic with at least one subscriber, sorted.
    fn topics(&self) -> Vec<String> {
        let mut topics = self.handle.topics();
        topics.sort_unstable();
        topics
    }

    /// The server's counters, by name.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let counters = serde_json::to_value(self.handle.metrics())
            .map_err(|err| PyRuntimeError::new_err(err.to_string()))?;
        convert::to_python(py, &counters)
    }
}
