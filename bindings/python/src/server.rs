//! `spikard._native.App` (routes and settings) and `spikard._native.Server` (a running app),
//! served by one tokio runtime per process.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use pyo3::{exceptions::PyRuntimeError, prelude::*};
use spikard::{
    CompiledSchema, ServerHandle,
    bridge::{
        AppOptions, JobQueue, RouteSpec, RunOutcome, protocol,
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
pub(crate) fn check_topics(py: Python<'_>, topics: &Bound<'_, PyAny>) -> PyResult<()> {
    let options = serde_json::json!({ "topics": convert::from_python(topics, None)? });
    let options = AppOptions::from_json(&options).map_err(|f| raise(py, f))?;
    options.apply(&mut spikard::App::new()).map_err(|f| raise(py, f))
}

/// The AsyncAPI 3.0 document (JSON text) of an app with `routes` (route `dict`s as `App.add_route`
/// takes them, in order) and `options` (as `App.configure` takes them, or `None`); `info` is the
/// document's Info Object. Raises what registering the routes would raise.
#[pyfunction]
#[pyo3(signature = (routes, options, info))]
pub(crate) fn asyncapi(
    py: Python<'_>,
    routes: &Bound<'_, PyAny>,
    options: &Bound<'_, PyAny>,
    info: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let routes = convert::from_python(routes, None)?;
    let options = convert::from_python(options, None)?;
    let info = convert::from_python(info, None)?;
    spikard::bridge::asyncapi_json(&routes, &options, info).map_err(|f| raise(py, f))
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

    /// Add route `index` as a `dict` of `path`, `message_schema`, `response_schema`,
    /// `max_message_size`, `raw_text`, `subprotocols`, `description`, `dispatch` (the core's
    /// `{"discriminator", "branches": {name: {"message_schema", "reply_schema",
    /// "description"}}}`) and the hook flags `on_connect`, `on_disconnect` and `binary`.
    /// Schemas compile now.
    fn add_route(&mut self, py: Python<'_>, index: usize, route: &Bound<'_, PyAny>) -> PyResult<()> {
        // Python keeps its connection object in the connection's state, which the core clears:
        // it needs no disconnect call to release it.
        let spec =
            RouteSpec::from_json(&convert::from_python(route, None)?, false).map_err(|f| raise(py, f))?;
        let route = spec.into_route(index, &self.queue);
        self.app()?.route(route).map_err(|err| raise(py, err))?;
        Ok(())
    }

    /// Apply the app-wide settings, a `dict` of the core's option names (sizes in bytes, times
    /// in seconds, `allowed_origins`, `static_dir`, `topics` as `[pattern, schema]` pairs); a
    /// bad one raises `spikard.errors.ConfigError` (or what the core raises for a topic schema).
    fn configure(&mut self, py: Python<'_>, options: &Bound<'_, PyAny>) -> PyResult<()> {
        let options =
            AppOptions::from_json(&convert::from_python(options, None)?).map_err(|f| raise(py, f))?;
        options.apply(self.app()?).map_err(|f| raise(py, f))
    }

    /// Bind `host:port` (port 0 picks a free port) and start serving in the background.
    fn bind(&mut self, py: Python<'_>, host: &str, port: u16) -> PyResult<Server> {
        let app = self.app.take().ok_or_else(|| PyRuntimeError::new_err("this app was already bound"))?;
        let runtime = runtime()?;
        let addr = protocol::listen_address(host, port);
        let server = py.detach(|| runtime.block_on(app.bind(addr))).map_err(|err| raise(py, err))?;
        let handle = server.handle();
        let ended = Arc::new(RunOutcome::default());
        let done = Arc::clone(&ended);
        runtime.spawn(async move { done.finish(server.run().await) });
        Ok(Server { handle, ended })
    }
}

/// A bound app, serving in the background.
#[pyclass(module = "spikard._native", frozen)]
pub(crate) struct Server {
    handle: ServerHandle,
    ended: Arc<RunOutcome>,
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
        let limit = timeout.map(|s| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX));
        match py.detach(|| self.ended.wait(limit)) {
            None => Ok(false),
            Some(Ok(())) => Ok(true),
            Some(Err(err)) => Err(raise(py, &*err)),
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
        self.handle.topics()
    }

    /// Record every message published to `topic` from now on (see `Capture`).
    fn capture(&self, topic: &str) -> Capture {
        Capture { capture: self.handle.capture(topic) }
    }

    /// The server's counters, by name.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let counters = serde_json::to_value(self.handle.metrics())
            .map_err(|err| PyRuntimeError::new_err(err.to_string()))?;
        convert::to_python(py, &counters)
    }
}

/// Every message published to one topic since `Server.capture`, until `stop`.
#[pyclass(module = "spikard._native", frozen)]
pub(crate) struct Capture {
    capture: spikard::PublishCapture,
}

#[pymethods]
impl Capture {
    /// The messages recorded so far, oldest first (`[]` once stopped).
    fn messages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_python(py, &self.capture.messages().into())
    }

    /// Stop recording.
    fn stop(&self) {
        self.capture.stop();
    }
}
