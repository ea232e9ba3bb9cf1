//! [`NativeApp`]: routes and limits, then `listen` and graceful `close`.

use std::sync::{Arc, Mutex, PoisonError};

use napi::{
    Env,
    bindgen_prelude::{Function, PromiseRaw, Unknown},
};
use napi_derive::napi;
use serde_json::Value;
use spikard::{App, Route, ServerHandle};

use crate::{
    connection::count,
    dispatch::{Dispatcher, JsEvent},
    error::{coded, publish_error, to_napi},
    handler::{Hooks, JsHandler},
};

/// Options of one route, as the `spikard` package passes them.
#[napi(object)]
pub struct RouteOptions {
    /// JSON Schema every message must match (validated in Rust before JavaScript sees it).
    #[napi(ts_type = "unknown")]
    pub message_schema: Option<Value>,
    /// JSON Schema every reply must match (failing replies are dropped and logged).
    #[napi(ts_type = "unknown")]
    pub response_schema: Option<Value>,
    /// Largest accepted message in bytes on this route.
    pub max_message_size: Option<u32>,
    /// The route has an `onConnect` hook.
    pub on_connect: Option<bool>,
    /// The route has an `onDisconnect` hook.
    pub on_disconnect: Option<bool>,
    /// The route accepts binary frames.
    pub binary: Option<bool>,
}

/// The address a server is bound to.
#[napi(object)]
pub struct BoundAddress {
    /// The IP address, as text.
    pub host: String,
    /// The port (the real one when port 0 was asked for).
    pub port: u32,
}

struct Running {
    handle: ServerHandle,
    done: tokio::task::JoinHandle<Result<(), spikard::Error>>,
}

enum Stage {
    Building(Box<App>),
    Listening(Running),
    Closed,
}

/// A Spikard app: register routes, then `listen`; `close` shuts down gracefully.
#[napi]
pub struct NativeApp {
    stage: Arc<Mutex<Stage>>,
    dispatcher: Arc<Dispatcher>,
    routes: u32,
}

impl Default for NativeApp {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl NativeApp {
    /// An app with no routes.
    #[napi(constructor)]
    pub fn new() -> Self {
        Self {
            stage: Arc::new(Mutex::new(Stage::Building(Box::new(App::new())))),
            dispatcher: Arc::new(Dispatcher::default()),
            routes: 0,
        }
    }

    fn building<T>(&self, f: impl FnOnce(&mut App) -> napi::Result<T>) -> napi::Result<T> {
        match &mut *self.stage.lock().unwrap_or_else(PoisonError::into_inner) {
            Stage::Building(app) => f(app),
            _ => Err(coded("invalid_state", "routes and settings cannot change after listen")),
        }
    }

    /// Register a route; returns its index, which events carry. Schemas compile now.
    #[napi]
    pub fn route(&mut self, path: String, options: RouteOptions) -> napi::Result<u32> {
        let index = self.routes;
        let hooks = Hooks {
            connect: options.on_connect.unwrap_or(false),
            disconnect: options.on_disconnect.unwrap_or(false),
            binary: options.binary.unwrap_or(false),
        };
        let handler = JsHandler { route: index, hooks, dispatcher: Arc::clone(&self.dispatcher) };
        let mut route = Route::shared(path, Arc::new(handler));
        if let Some(schema) = options.message_schema {
            route = route.message_schema(schema);
        }
        if let Some(schema) = options.response_schema {
            route = route.response_schema(schema);
        }
        if let Some(size) = options.max_message_size {
            route = route.max_message_size(size as usize);
        }
        self.building(|app| app.route(route).map(|_| ()).map_err(|e| to_napi(&e)))?;
        self.routes += 1;
        Ok(index)
    }

    /// Largest accepted message in bytes for routes without their own limit.
    #[napi]
    pub fn max_message_size(&self, bytes: u32) -> napi::Result<()> {
        self.building(|app| app.max_message_size(bytes as usize).map(|_| ()).map_err(|e| to_napi(&e)))
    }

    /// Capacity of each connection's outgoing queue, in messages; a client that lets it fill
    /// up is closed with 1013.
    #[napi]
    pub fn outgoing_queue(&self, messages: u32) -> napi::Result<()> {
        self.building(|app| app.outgoing_queue(messages as usize).map(|_| ()).map_err(|e| to_napi(&e)))
    }

    /// The longest a subscriber's writer holds published messages while a connection is still
    /// handling messages that were already waiting, in milliseconds (0 holds nothing).
    #[napi]
    pub fn fanout_flush_interval(&self, milliseconds: f64) -> napi::Result<()> {
        if !(milliseconds.is_finite() && milliseconds >= 0.0) {
            return Err(napi::Error::new(
                napi::Status::InvalidArg,
                "fanoutFlushMs must be a non-negative number of milliseconds",
            ));
        }
        self.building(|app| {
            app.fanout_flush_interval(std::time::Duration::from_secs_f64(milliseconds / 1000.0));
            Ok(())
        })
    }

    /// Declare the JSON Schema of the messages published to the topics `pattern` matches (a
    /// topic name, or a prefix followed by one trailing `*`); compiled now. Every publish to a
    /// matching topic is validated once, before fan-out; an exact name beats a prefix, a longer
    /// prefix a shorter one.
    #[napi(ts_args_type = "pattern: string, schema: unknown")]
    pub fn topic_schema(&self, pattern: String, schema: Value) -> napi::Result<()> {
        self.building(|app| app.topic_schema(&pattern, schema).map(|_| ()).map_err(|e| to_napi(&e)))
    }

    /// Serve the files of `dir` on every path that is not a WebSocket route.
    #[napi]
    pub fn static_dir(&self, dir: String) -> napi::Result<()> {
        self.building(|app| {
            app.static_dir(dir);
            Ok(())
        })
    }

    /// Bind `host:port` (port 0 picks a free port) and start serving; events go to
    /// `on_events`, called with an array of events per event-loop wake-up.
    #[napi(ts_args_type = "host: string, port: number, onEvents: (events: JsEvent[]) => void")]
    pub fn listen<'env>(
        &self,
        env: &'env Env,
        host: String,
        port: u32,
        on_events: Function<'_, Vec<JsEvent>, Unknown<'static>>,
    ) -> napi::Result<PromiseRaw<'env, BoundAddress>> {
        let port = u16::try_from(port).map_err(|_| coded("invalid_config", "port must be 0..=65535"))?;
        let app = {
            let mut stage = self.stage.lock().unwrap_or_else(PoisonError::into_inner);
            match std::mem::replace(&mut *stage, Stage::Closed) {
                Stage::Building(app) => *app,
                other => {
                    *stage = other;
                    return Err(coded("invalid_state", "listen can only be called once"));
                }
            }
        };
        self.dispatcher.start(&on_events)?;
        // This is the JavaScript thread: it hands work to the tokio workers and back.
        crate::scheduling::batch_policy();
        let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let stage = Arc::clone(&self.stage);
        let dispatcher = Arc::clone(&self.dispatcher);
        env.spawn_future(async move {
            let server = match app.bind(addr.as_str()).await {
                Ok(server) => server,
                Err(err) => {
                    dispatcher.stop();
                    return Err(to_napi(&err));
                }
            };
            let addr = server.local_addr();
            let handle = server.handle();
            let done = tokio::spawn(server.run());
            *stage.lock().unwrap_or_else(PoisonError::into_inner) =
                Stage::Listening(Running { handle, done });
            Ok(BoundAddress { host: addr.ip().to_string(), port: u32::from(addr.port()) })
        })
    }

    /// The running server's handle; `None` before `listen` resolved and after `close`.
    fn handle(&self) -> Option<ServerHandle> {
        match &*self.stage.lock().unwrap_or_else(PoisonError::into_inner) {
            Stage::Listening(running) => Some(running.handle.clone()),
            _ => None,
        }
    }

    /// Publish a JSON value to every subscriber of `topic`, from anywhere (a timer, another
    /// route's handler): validated against the topic's schema and serialised once in Rust, no
    /// JavaScript call per recipient. Returns the number of connections it was queued for; 0
    /// when nobody is subscribed, which is always the case before `listen` resolved and after
    /// `close` (then nothing is validated either). Throws `[publish_invalid] ...` (with `topic`
    /// and `errors`) when the schema refuses it.
    #[napi(ts_args_type = "topic: string, value: unknown")]
    pub fn publish(&self, env: &Env, topic: String, value: Value) -> napi::Result<u32> {
        let Some(handle) = self.handle() else { return Ok(0) };
        handle.publish(&topic, &value).map(count).map_err(|err| publish_error(env, &err))
    }

    /// How many connections are subscribed to `topic` now.
    #[napi]
    pub fn topic_count(&self, topic: String) -> u32 {
        self.handle().map_or(0, |handle| count(handle.topic_count(&topic)))
    }

    /// Every topic with at least one subscriber, sorted.
    #[napi]
    pub fn topics(&self) -> Vec<String> {
        let mut topics = self.handle().map(|handle| handle.topics()).unwrap_or_default();
        topics.sort_unstable();
        topics
    }

    /// Graceful shutdown: stop accepting, close every connection with 1001, wait for every
    /// `onDisconnect`. Resolves once drained; a no-op when not listening.
    #[napi]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let running = {
            let mut stage = self.stage.lock().unwrap_or_else(PoisonError::into_inner);
            match std::mem::replace(&mut *stage, Stage::Closed) {
                Stage::Listening(running) => Some(running),
                other => {
                    *stage = other;
                    None
                }
            }
        };
        let dispatcher = Arc::clone(&self.dispatcher);
        env.spawn_future(async move {
            let Some(running) = running else { return Ok(()) };
            running.handle.shutdown();
            let result = running.done.await;
            dispatcher.stop();
            match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(to_napi(&err)),
                Err(err) => Err(coded("serve_failed", &err.to_string())),
            }
        })
    }
}
