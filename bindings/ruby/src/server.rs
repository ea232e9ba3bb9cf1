//! `Spikard::Native::Server`: a core server running on its own tokio threads, and the methods
//! the Ruby side drives it with (dispatch, shutdown, check).

use std::sync::Arc;

use magnus::{Error, RArray, RHash, RModule, Ruby, Value, function, method, prelude::*};
use spikard::{
    App, ServerHandle,
    bridge::{
        AppOptions, CallKind, Code, Failure, JobQueue, RouteSpec, RunOutcome, WakePolicy, protocol,
        runtime::{self, RuntimeOptions},
    },
};

use crate::{convert, dispatch, errors};

/// A running server.
#[magnus::wrap(class = "Spikard::Native::Server", free_immediately, size)]
pub(crate) struct NativeServer {
    handle: ServerHandle,
    queue: Arc<JobQueue>,
    /// The server's result, set once it has stopped (before the job queue closes).
    outcome: Arc<RunOutcome>,
}

impl NativeServer {
    /// `Server.start(routes, options, host, port, workers)`: compile the routes, bind, and serve
    /// on a background thread with `workers` tokio threads. `routes` is an Array of Hashes read
    /// by [`RouteSpec::from_json`]; `options` a Hash read by [`AppOptions::from_json`].
    fn start(
        ruby: &Ruby,
        routes: RArray,
        options: Value,
        host: String,
        port: u16,
        workers: usize,
    ) -> Result<Self, Error> {
        let queue = JobQueue::new(WakePolicy::Blocking);
        spikard::bridge::log::attach(&queue);
        let mut app = App::new();
        let failed = |failure: Failure| errors::raise(ruby, failure);
        AppOptions::from_json(&convert::to_json(ruby, options)?)
            .and_then(|o| o.apply(&mut app))
            .map_err(failed)?;
        for (index, entry) in routes.into_iter().enumerate() {
            // The connection's Ruby object is rooted until its disconnect call releases it on
            // a Ruby thread: every connection handed to Ruby needs that call, hook or not.
            let spec = RouteSpec::from_json(&convert::to_json(ruby, entry)?, true).map_err(failed)?;
            app.route(spec.into_route(index, &queue)).map_err(|err| errors::raise(ruby, err))?;
        }
        // One tokio worker (`workers:` raises it) under SCHED_BATCH: a dispatcher's answer
        // does not preempt it, and the dispatchers' own policy follows their batches.
        let runtime = runtime::build(RuntimeOptions { worker_threads: Some(workers.max(1)) })
            .map_err(|err| errors::raise(ruby, Failure::new(Code::ServeFailed, err.to_string())))?;
        // Binding takes a moment: the GVL is kept rather than handed over and back.
        let address = protocol::listen_address(&host, port);
        let server = runtime.block_on(app.bind(address)).map_err(|err| errors::raise(ruby, err))?;
        let handle = server.handle();
        let outcome = Arc::new(RunOutcome::default());
        let (done, stopped) = (Arc::clone(&queue), Arc::clone(&outcome));
        std::thread::Builder::new()
            .name("spikard-server".to_owned())
            .spawn(move || {
                let result = runtime.block_on(server.run());
                drop(runtime);
                stopped.finish(result);
                // Dispatchers finish the queued jobs, then return: `Server#wait` joins them.
                done.close();
            })
            .map_err(|err| errors::raise(ruby, Failure::new(Code::ServeFailed, err.to_string())))?;
        Ok(Self { handle, queue, outcome })
    }

    /// The bound address as `[host, port]`.
    fn local_addr(&self) -> (String, u16) {
        let addr = self.handle.local_addr();
        (addr.ip().to_string(), addr.port())
    }

    /// Run handlers on the calling (Ruby) thread until the server has stopped; `routes[i]` holds
    /// route `i`'s callables indexed by call kind (`Spikard::Native::CONNECT`, ...); `server` is
    /// the `Spikard::Server` (it decides what exceptions mean and logs); `connections` is the
    /// Hash that keeps each open connection's `Spikard::WebSocket` (one for every dispatcher).
    fn dispatch(
        ruby: &Ruby,
        rb_self: &Self,
        routes: RArray,
        server: Value,
        connections: RHash,
    ) -> Result<(), Error> {
        dispatch::Host { routes, server, connections }.run(ruby, &rb_self.queue)
    }

    /// Start a graceful shutdown (returns at once; see `wait`).
    fn shutdown(&self) {
        self.handle.shutdown();
    }

    fn publish(ruby: &Ruby, rb_self: &Self, topic: String, message: Value) -> Result<usize, Error> {
        let message = convert::to_json(ruby, message)?;
        rb_self.handle.publish(&topic, &message).map_err(|err| errors::raise(ruby, err))
    }

    fn topic_count(&self, topic: String) -> usize {
        self.handle.topic_count(&topic)
    }

    /// Record every message published to `topic` from now on.
    fn capture(&self, topic: String) -> Capture {
        Capture(self.handle.capture(&topic))
    }

    fn topics(&self) -> Vec<String> {
        self.handle.topics()
    }

    fn is_stopped(&self) -> bool {
        self.outcome.get().is_some()
    }

    /// Raise the error the server stopped with, if any.
    fn check(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        match rb_self.outcome.get() {
            Some(Err(err)) => Err(errors::raise(ruby, &*err)),
            _ => Ok(()),
        }
    }

    /// The core's counters as the core serialises them: a Hash of names (Strings) to counts.
    fn metrics(ruby: &Ruby, rb_self: &Self) -> Value {
        convert::to_ruby(ruby, &serde_json::to_value(rb_self.handle.metrics()).unwrap_or_default())
    }
}

/// Every message published to one topic since `Server#capture`, until `stop`.
#[magnus::wrap(class = "Spikard::Native::Capture", free_immediately, size)]
struct Capture(spikard::PublishCapture);

impl Capture {
    /// The messages recorded so far, oldest first (`[]` once stopped).
    fn messages(ruby: &Ruby, rb_self: &Self) -> Value {
        convert::to_ruby(ruby, &serde_json::Value::Array(rb_self.0.messages()))
    }

    fn stop(&self) {
        self.0.stop();
    }
}

/// `Native.check_schemas(path, message_schema, response_schema)`: compile both (when given) so
/// that a bad schema raises `Spikard::SchemaError` naming the route when it is registered.
fn check_schemas(
    ruby: &Ruby,
    path: String,
    message: Option<Value>,
    response: Option<Value>,
) -> Result<(), Error> {
    for (which, schema) in [("message", message), ("response", response)] {
        let Some(schema) = schema else { continue };
        let schema = convert::to_json(ruby, schema)?;
        spikard::CompiledSchema::compile(&path, which, &schema).map_err(|err| errors::raise(ruby, err))?;
    }
    Ok(())
}

/// `Native.check_topics([[pattern, schema], ...])`: declare them all on a scratch app so that a
/// bad pattern, a pattern declared twice or a schema that does not compile raises when declared.
fn check_topics(ruby: &Ruby, topics: RArray) -> Result<(), Error> {
    let topics = serde_json::json!({ "topics": convert::to_json(ruby, topics.as_value())? });
    let failed = |failure: Failure| errors::raise(ruby, failure);
    AppOptions::from_json(&topics).and_then(|options| options.apply(&mut App::new())).map_err(failed)
}

/// `Native.asyncapi(routes, options, info)`: the AsyncAPI 3.0 document of the routes (the
/// Hashes `Server.start` takes) and app options, built by the core
/// ([`spikard::bridge::asyncapi_json`]), as a Hash with String keys in the document's order.
fn asyncapi(ruby: &Ruby, routes: RArray, options: Value, info: Value) -> Result<Value, Error> {
    let routes = convert::to_json(ruby, routes.as_value())?;
    let (options, info) = (convert::to_json(ruby, options)?, convert::to_json(ruby, info)?);
    let text = spikard::bridge::asyncapi_json(&routes, &options, info).map_err(|f| errors::raise(ruby, f))?;
    // The core wrote the text: it always reads back.
    let document: serde_json::Value = serde_json::from_str(&text)
        .map_err(|err| Error::new(ruby.exception_runtime_error(), err.to_string()))?;
    Ok(convert::to_ruby(ruby, &document))
}

/// Define `Spikard::Native::Server`, `Spikard::Native.check_schemas` and `check_topics`, and the
/// call kinds (`Spikard::Native::CONNECT`, `MESSAGE`, `BINARY`, `DISCONNECT`).
pub(crate) fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    for kind in CallKind::ALL {
        native.const_set(kind.name(), kind.as_u8())?;
    }
    native.define_module_function("check_schemas", function!(check_schemas, 3))?;
    native.define_module_function("check_topics", function!(check_topics, 1))?;
    native.define_module_function("asyncapi", function!(asyncapi, 3))?;
    let class = native.define_class("Server", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_singleton_method("start", function!(NativeServer::start, 5))?;
    class.define_method("local_addr", method!(NativeServer::local_addr, 0))?;
    class.define_method("dispatch", method!(NativeServer::dispatch, 3))?;
    class.define_method("shutdown", method!(NativeServer::shutdown, 0))?;
    class.define_method("check", method!(NativeServer::check, 0))?;
    class.define_method("stopped?", method!(NativeServer::is_stopped, 0))?;
    class.define_method("metrics", method!(NativeServer::metrics, 0))?;
    class.define_method("publish", method!(NativeServer::publish, 2))?;
    class.define_method("topic_count", method!(NativeServer::topic_count, 1))?;
    class.define_method("topics", method!(NativeServer::topics, 0))?;
    class.define_method("capture", method!(NativeServer::capture, 1))?;
    let capture = native.define_class("Capture", ruby.class_object())?;
    capture.undef_default_alloc_func();
    capture.define_method("messages", method!(Capture::messages, 0))?;
    capture.define_method("stop", method!(Capture::stop, 0))?;
    Ok(())
}
