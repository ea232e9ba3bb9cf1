//! [`NativeApp`]: routes and limits, then `listen` and graceful `close`.

use std::sync::{Arc, Mutex, PoisonError};

use napi::{
    Env,
    bindgen_prelude::{Function, PromiseRaw, Unknown},
};
use napi_derive::napi;
use serde_json::{Value, json};
use spikard::{
    App, ServerHandle,
    bridge::{AppOptions, Code, Failure, RouteSpec, protocol},
};

use crate::{
    bridge::{Bridge, JsBatch},
    connection::count,
    error::raise,
    json::{self, parse},
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
    /// A plain-text route: text messages reach the handler as strings, unparsed, and a string
    /// reply goes out as that text (no message schema allowed).
    pub raw_text: Option<bool>,
    /// The route has an `onConnect` hook.
    pub on_connect: Option<bool>,
    /// The route has an `onDisconnect` hook.
    pub on_disconnect: Option<bool>,
    /// The route accepts binary frames.
    pub binary: Option<bool>,
    /// The subprotocols the route speaks, in order of preference.
    pub subprotocols: Option<Vec<String>>,
    /// What the route is for (the channel's description in the AsyncAPI document).
    pub description: Option<String>,
    /// Dispatch by message type, as the core reads it: `{discriminator?, branches: {name:
    /// {message_schema?, reply_schema?, description?}}}` (branches in order). Each message then
    /// reaches JavaScript with the name of the branch the core validated it against.
    #[napi(
        ts_type = "{ discriminator?: string; branches: Record<string, { message_schema?: unknown; reply_schema?: unknown; description?: string }> }"
    )]
    pub dispatch: Option<Value>,
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
    bridge: Arc<Bridge>,
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
            bridge: Bridge::new(),
            routes: 0,
        }
    }

    /// Change the app before `listen`; a core error is thrown with its code.
    fn building(&self, env: &Env, f: impl FnOnce(&mut App) -> Result<(), Failure>) -> napi::Result<()> {
        match &mut *self.stage.lock().unwrap_or_else(PoisonError::into_inner) {
            Stage::Building(app) => f(app).map_err(|err| raise(env, err)),
            _ => Err(raise(
                env,
                Failure::new(Code::InvalidState, "routes and settings cannot change after listen"),
            )),
        }
    }

    /// Register a route; returns its index, which jobs carry. Schemas compile now.
    #[napi]
    pub fn route(&mut self, env: &Env, path: String, options: RouteOptions) -> napi::Result<u32> {
        let index = self.routes;
        let mut spec = RouteSpec::new(path);
        spec.message_schema = options.message_schema;
        spec.response_schema = options.response_schema;
        spec.max_message_size = options.max_message_size.map(|size| size as usize);
        spec.raw_text = options.raw_text.unwrap_or(false);
        spec.hooks.connect = options.on_connect.unwrap_or(false);
        spec.hooks.disconnect = options.on_disconnect.unwrap_or(false);
        spec.hooks.binary = options.binary.unwrap_or(false);
        spec.subprotocols = options.subprotocols.unwrap_or_default();
        spec.description = options.description;
        if let Some(dispatch) = options.dispatch {
            let read = RouteSpec::from_json(&json!({ "dispatch": dispatch }), false)
                .map_err(|err| raise(env, err))?;
            (spec.discriminator, spec.branches) = (read.discriminator, read.branches);
        }
        // JavaScript keeps a context object per connection: it hears of every connection's end.
        spec.hooks.release = true;
        let route = spec.into_route(index as usize, &self.bridge.queue);
        self.building(env, |app| app.route(route).map(drop).map_err(Failure::from))?;
        self.routes += 1;
        Ok(index)
    }

    /// The app's AsyncAPI 3.0 document as JSON text, built by the core from the routes and
    /// topic schemas registered so far (`info`: the Info Object, `title`, `version`, ...);
    /// throws `invalid_state` while `listen` binds and after `close`.
    #[napi(ts_args_type = "info: Record<string, unknown>")]
    pub fn asyncapi(&self, env: &Env, info: Value) -> napi::Result<String> {
        let document = match &*self.stage.lock().unwrap_or_else(PoisonError::into_inner) {
            Stage::Building(app) => app.asyncapi(info),
            Stage::Listening(running) => running.handle.asyncapi(info),
            Stage::Closed => return Err(raise(env, Failure::new(Code::InvalidState, "the app is not open"))),
        };
        Ok(document.to_string())
    }

    /// Apply the app-wide options (before `listen`): an object of the core's option names
    /// (snake_case, times in seconds), read by the core; a bad one throws `invalid_config`
    /// naming it.
    #[napi(ts_args_type = "options: Record<string, unknown>")]
    pub fn configure(&mut self, env: &Env, options: Value) -> napi::Result<()> {
        self.building(env, |app| AppOptions::from_json(&options)?.apply(app))
    }

    /// Declare the JSON Schema of the messages published to the topics `pattern` matches (a
    /// topic name, or a prefix followed by one trailing `*`); compiled now. Every publish to a
    /// matching topic is validated once, before fan-out; an exact name beats a prefix, a longer
    /// prefix a shorter one.
    #[napi(ts_args_type = "pattern: string, schema: unknown")]
    pub fn topic_schema(&mut self, env: &Env, pattern: String, schema: Value) -> napi::Result<()> {
        self.building(env, |app| app.topic_schema(&pattern, schema).map(drop).map_err(Failure::from))
    }

    /// Bind `host:port` (port 0 picks a free port; an IPv6 host needs no brackets) and start
    /// serving; jobs and the core's log records go to `on_batch`, called once per event-loop
    /// wake-up.
    #[napi(ts_args_type = "host: string, port: number, onBatch: (batch: JsBatch) => void")]
    pub fn listen<'env>(
        &self,
        env: &'env Env,
        host: String,
        port: u32,
        on_batch: Function<'_, JsBatch, Unknown<'static>>,
    ) -> napi::Result<PromiseRaw<'env, BoundAddress>> {
        let port = u16::try_from(port)
            .map_err(|_| raise(env, Failure::new(Code::InvalidConfig, "port must be 0..=65535")))?;
        let app = {
            let mut stage = self.stage.lock().unwrap_or_else(PoisonError::into_inner);
            match std::mem::replace(&mut *stage, Stage::Closed) {
                Stage::Building(app) => *app,
                other => {
                    *stage = other;
                    return Err(raise(
                        env,
                        Failure::new(Code::InvalidState, "listen can only be called once"),
                    ));
                }
            }
        };
        self.bridge.start(&on_batch)?;
        let addr = protocol::listen_address(&host, port);
        let stage = Arc::clone(&self.stage);
        let bridge = Arc::clone(&self.bridge);
        let bound = async move {
            let server = match app.bind(addr.as_str()).await {
                Ok(server) => server,
                Err(err) => {
                    bridge.stop();
                    return Ok(Err(Failure::from(err)));
                }
            };
            let addr = server.local_addr();
            let handle = server.handle();
            let done = tokio::spawn(server.run());
            *stage.lock().unwrap_or_else(PoisonError::into_inner) =
                Stage::Listening(Running { handle, done });
            Ok(Ok(BoundAddress { host: addr.ip().to_string(), port: u32::from(addr.port()) }))
        };
        env.spawn_future_with_callback(bound, |env, bound| bound.map_err(|err| raise(env, err)))
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
    /// `close` (then nothing is validated either). Throws an error with code `publish_invalid`
    /// (and `topic`, `errors`) when the schema refuses it.
    /// `json` is the value's text, from `JSON.stringify`.
    #[napi]
    pub fn publish(&self, env: &Env, topic: String, json: String) -> napi::Result<u32> {
        let value = parse(&json)?;
        let Some(handle) = self.handle() else { return Ok(0) };
        handle.publish(&topic, &value).map(count).map_err(|err| raise(env, err))
    }

    /// How many connections are subscribed to `topic` now.
    #[napi]
    pub fn topic_count(&self, topic: String) -> u32 {
        self.handle().map_or(0, |handle| count(handle.topic_count(&topic)))
    }

    /// Record every message published to `topic` from now on, whoever publishes it; throws
    /// `invalid_state` unless the app is listening.
    #[napi]
    pub fn capture(&self, env: &Env, topic: String) -> napi::Result<NativeCapture> {
        let handle = self
            .handle()
            .ok_or_else(|| raise(env, Failure::new(Code::InvalidState, "capture needs a listening app")))?;
        Ok(NativeCapture { capture: handle.capture(&topic) })
    }

    /// Every topic with at least one subscriber, sorted.
    #[napi]
    pub fn topics(&self) -> Vec<String> {
        self.handle().map(|handle| handle.topics()).unwrap_or_default()
    }

    /// The server's counters by name (`connections_accepted`, `handler_errors`, ...), as the
    /// core names them; `undefined` when not listening.
    #[napi(ts_return_type = "Record<string, number> | undefined")]
    pub fn metrics(&self) -> Option<Value> {
        self.handle().and_then(|handle| serde_json::to_value(handle.metrics()).ok())
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
        let bridge = Arc::clone(&self.bridge);
        let closed = async move {
            let Some(running) = running else { return Ok(Ok(())) };
            running.handle.shutdown();
            let result = running.done.await;
            bridge.stop();
            Ok(match result {
                Ok(served) => served.map_err(Failure::from),
                Err(err) => Err(Failure::new(Code::ServeFailed, err.to_string())),
            })
        };
        env.spawn_future_with_callback(closed, |env, closed| closed.map_err(|err| raise(env, err)))
    }
}

/// Every message published to one topic since `NativeApp.capture`, until `stop`.
#[napi]
pub struct NativeCapture {
    capture: spikard::PublishCapture,
}

#[napi]
impl NativeCapture {
    /// The messages recorded so far, oldest first (`[]` once stopped), as JSON texts (the
    /// package `JSON.parse`s them).
    #[napi]
    pub fn messages(&self) -> Vec<String> {
        self.capture.messages().iter().map(json::to_text).collect()
    }

    /// Stop recording.
    #[napi]
    pub fn stop(&self) {
        self.capture.stop();
    }
}
