//! `Spikard::Native::Server`: a core server running on its own tokio threads, and the methods
//! the Ruby side drives it with (dispatch, shutdown, check).

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use magnus::{Error, RArray, RHash, RModule, Ruby, TryConvert, Value, function, method, prelude::*};
use spikard::{
    App, Route, ServerHandle,
    bridge::{
        BridgeRoute, CallKind, Code, Failure, Hooks, JobQueue, WakePolicy, protocol,
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
    outcome: Arc<Mutex<Option<Result<(), spikard::Error>>>>,
}

fn option<T: TryConvert>(ruby: &Ruby, hash: RHash, key: &str) -> Result<Option<T>, Error> {
    hash.lookup::<_, Option<T>>(ruby.to_symbol(key))
}

/// A duration option given in seconds; a negative or non-finite number is a `ConfigError`
/// naming the option.
fn seconds(ruby: &Ruby, hash: RHash, key: &str) -> Result<Option<Duration>, Error> {
    let Some(seconds) = option::<f64>(ruby, hash, key)? else { return Ok(None) };
    let message = format!("{key} must be a non-negative number of seconds");
    let invalid = |_| errors::raise(ruby, Failure::new(Code::InvalidConfig, message));
    Duration::try_from_secs_f64(seconds).map(Some).map_err(invalid)
}

fn schema(ruby: &Ruby, hash: RHash, key: &str) -> Result<Option<serde_json::Value>, Error> {
    option::<Value>(ruby, hash, key)?.map(|v| convert::to_json(ruby, v)).transpose()
}

/// Route `index` as the Ruby side describes it: a Hash of `path`, the schemas,
/// `max_message_size`, and whether `on_connect`, `on_disconnect` and `binary` are set.
fn route(ruby: &Ruby, index: usize, hash: RHash, queue: &Arc<JobQueue>) -> Result<Route, Error> {
    let flag = |key: &str| -> Result<bool, Error> { Ok(option::<bool>(ruby, hash, key)?.unwrap_or(false)) };
    // The connection's Ruby object is rooted until its disconnect call releases it on a Ruby
    // thread: every connection handed to Ruby needs that call, hook or not.
    let hooks = Hooks {
        connect: flag("on_connect")?,
        disconnect: flag("on_disconnect")?,
        binary: flag("binary")?,
        release: true,
    };
    let path: String = option(ruby, hash, "path")?.unwrap_or_default();
    // Each option that is set (an Option folds in at most once).
    let route = Route::new(path, BridgeRoute::new(index, hooks, Arc::clone(queue)));
    let route = schema(ruby, hash, "message_schema")?.into_iter().fold(route, Route::message_schema);
    let route = schema(ruby, hash, "response_schema")?.into_iter().fold(route, Route::response_schema);
    Ok(option(ruby, hash, "max_message_size")?.into_iter().fold(route, Route::max_message_size))
}

/// One of the core's checked setters of a size or a count.
type SetSize = fn(&mut App, usize) -> Result<&mut App, spikard::Error>;

/// The options that are a size or a count, each with the core's setter (which checks it).
const SIZES: [(&str, SetSize); 7] = [
    ("max_message_size", App::max_message_size),
    ("outgoing_queue", App::outgoing_queue),
    ("outgoing_queue_bytes", App::outgoing_queue_bytes),
    ("read_buffer_size", App::read_buffer_size),
    ("max_request_head", App::max_request_head),
    ("max_header_size", App::max_header_size),
    ("max_connections", App::max_connections),
];

impl NativeServer {
    /// `Server.start(routes, options)`: compile the routes, bind, and serve on a background
    /// thread. `routes` is an Array of Hashes (`path`, schemas, `max_message_size`, and whether
    /// `on_connect`, `on_disconnect` and `binary` are set); `options` a Hash of `host`, `port`,
    /// the sizes and counts of [`SIZES`], `handshake_timeout`, `drain_timeout`,
    /// `fanout_flush_interval`, `ping_interval`, `ping_timeout` and `idle_timeout` (seconds),
    /// `allowed_origins`, `static_dir`, `workers` and `topics` (`[pattern, schema]` pairs).
    fn start(ruby: &Ruby, routes: RArray, options: RHash) -> Result<Self, Error> {
        let queue = JobQueue::new(WakePolicy::Blocking);
        spikard::bridge::log::attach(&queue);
        let mut app = App::new();
        let core = |err: spikard::Error| errors::raise(ruby, err);
        for (key, set) in SIZES {
            if let Some(value) = option::<usize>(ruby, options, key)? {
                set(&mut app, value).map_err(core)?;
            }
        }
        if let Some(timeout) = seconds(ruby, options, "handshake_timeout")? {
            app.handshake_timeout(timeout).map_err(core)?;
        }
        if let Some(origins) = option::<Vec<String>>(ruby, options, "allowed_origins")? {
            app.allowed_origins(origins).map_err(core)?;
        }
        if let Some(timeout) = seconds(ruby, options, "drain_timeout")? {
            app.drain_timeout(timeout);
        }
        if let Some(interval) = seconds(ruby, options, "fanout_flush_interval")? {
            app.fanout_flush_interval(interval);
        }
        if let Some(interval) = seconds(ruby, options, "ping_interval")? {
            app.ping_interval(interval);
        }
        if let Some(timeout) = seconds(ruby, options, "ping_timeout")? {
            app.ping_timeout(timeout).map_err(core)?;
        }
        if let Some(timeout) = seconds(ruby, options, "idle_timeout")? {
            app.idle_timeout(timeout);
        }
        if let Some(dir) = option::<String>(ruby, options, "static_dir")? {
            app.static_dir(dir);
        }
        if let Some(topics) = option::<RArray>(ruby, options, "topics")? {
            add_topics(ruby, &mut app, topics)?;
        }
        for (index, entry) in routes.into_iter().enumerate() {
            app.route(route(ruby, index, RHash::try_convert(entry)?, &queue)?).map_err(core)?;
        }
        let host = option::<String>(ruby, options, "host")?.unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = option::<u16>(ruby, options, "port")?.unwrap_or(8000);
        let workers = option::<usize>(ruby, options, "workers")?.unwrap_or(1).max(1);
        // The Ruby binding's defaults, unchanged by the move to the core's builder: one tokio
        // worker (`workers:` raises it) and no SCHED_BATCH. The Ruby echo figures in
        // docs/ruby.md were measured that way; SCHED_BATCH was measured only for Python and
        // Node, whose host thread is woken per batch by the runtime, and nothing here has shown
        // it helps dispatchers that wait on the queue's condition variable.
        let runtime = runtime::build(RuntimeOptions { worker_threads: Some(workers), batch_policy: false })
            .map_err(|err| errors::raise(ruby, Failure::new(Code::ServeFailed, err.to_string())))?;
        // Binding takes a moment: the GVL is kept rather than handed over and back.
        let address = protocol::listen_address(&host, port);
        let server = runtime.block_on(app.bind(address)).map_err(core)?;
        let handle = server.handle();
        let outcome = Arc::new(Mutex::new(None));
        let (done, stopped) = (Arc::clone(&queue), Arc::clone(&outcome));
        std::thread::Builder::new()
            .name("spikard-server".to_owned())
            .spawn(move || {
                let result = runtime.block_on(server.run());
                drop(runtime);
                *stopped.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
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

    fn topics(&self) -> Vec<String> {
        self.handle.topics()
    }

    fn is_stopped(&self) -> bool {
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Raise the error the server stopped with, if any.
    fn check(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        match &*rb_self.outcome.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(Err(err)) => Err(errors::raise(ruby, err)),
            _ => Ok(()),
        }
    }

    /// The core's counters as the core serialises them: a Hash of names (Strings) to counts.
    fn metrics(ruby: &Ruby, rb_self: &Self) -> Value {
        convert::to_ruby(ruby, &serde_json::to_value(rb_self.handle.metrics()).unwrap_or_default())
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

/// Declare `topics`, an Array of `[pattern, schema]` pairs, with `App::topic_schema`.
fn add_topics(ruby: &Ruby, app: &mut App, topics: RArray) -> Result<(), Error> {
    for entry in topics {
        let (pattern, schema) = <(String, Value)>::try_convert(entry)?;
        app.topic_schema(&pattern, convert::to_json(ruby, schema)?)
            .map_err(|err| errors::raise(ruby, err))?;
    }
    Ok(())
}

/// `Native.check_topics([[pattern, schema], ...])`: declare them all on a scratch app so that a
/// bad pattern, a pattern declared twice or a schema that does not compile raises when declared.
fn check_topics(ruby: &Ruby, topics: RArray) -> Result<(), Error> {
    add_topics(ruby, &mut App::new(), topics)
}

/// Define `Spikard::Native::Server`, `Spikard::Native.check_schemas` and `check_topics`, and the
/// call kinds (`Spikard::Native::CONNECT`, `MESSAGE`, `BINARY`, `DISCONNECT`).
pub(crate) fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    for kind in CallKind::ALL {
        native.const_set(kind.name(), kind.as_u8())?;
    }
    native.define_module_function("check_schemas", function!(check_schemas, 3))?;
    native.define_module_function("check_topics", function!(check_topics, 1))?;
    let class = native.define_class("Server", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_singleton_method("start", function!(NativeServer::start, 2))?;
    class.define_method("local_addr", method!(NativeServer::local_addr, 0))?;
    class.define_method("dispatch", method!(NativeServer::dispatch, 3))?;
    class.define_method("shutdown", method!(NativeServer::shutdown, 0))?;
    class.define_method("check", method!(NativeServer::check, 0))?;
    class.define_method("stopped?", method!(NativeServer::is_stopped, 0))?;
    class.define_method("metrics", method!(NativeServer::metrics, 0))?;
    class.define_method("publish", method!(NativeServer::publish, 2))?;
    class.define_method("topic_count", method!(NativeServer::topic_count, 1))?;
    class.define_method("topics", method!(NativeServer::topics, 0))?;
    Ok(())
}
