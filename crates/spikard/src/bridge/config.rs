//! App and route settings as a host language passes them, checked and applied once here.
//!
//! Python and Ruby hand over one JSON object each (snake_case names, times in seconds), read by
//! [`AppOptions::from_json`] and [`RouteSpec::from_json`]; Node.js converts its typed option
//! objects (times in milliseconds) into the same structs. Either way [`AppOptions::apply`] and
//! [`RouteSpec::into_route`] are the only code that turns settings into an [`App`].

use std::{path::PathBuf, sync::Arc, time::Duration};

use serde_json::{Map, Value};

use super::{BridgeRoute, Code, Failure, Hooks, JobQueue, WakePolicy};
use crate::{App, Branch, Compression, Route, deflate::MAX_COMPRESSION_LEVEL};

/// App-wide settings; `None` keeps the core's default. Each is checked by the [`App`] setter of
/// the same name when applied.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct AppOptions {
    /// [`App::max_message_size`].
    pub max_message_size: Option<usize>,
    /// [`App::outgoing_queue`].
    pub outgoing_queue: Option<usize>,
    /// [`App::outgoing_queue_bytes`].
    pub outgoing_queue_bytes: Option<usize>,
    /// [`App::read_buffer_size`].
    pub read_buffer_size: Option<usize>,
    /// [`App::max_request_head`].
    pub max_request_head: Option<usize>,
    /// [`App::max_header_size`].
    pub max_header_size: Option<usize>,
    /// [`App::max_connections`].
    pub max_connections: Option<usize>,
    /// [`App::handshake_timeout`].
    pub handshake_timeout: Option<Duration>,
    /// [`App::drain_timeout`].
    pub drain_timeout: Option<Duration>,
    /// [`App::fanout_flush_interval`].
    pub fanout_flush_interval: Option<Duration>,
    /// [`App::ping_interval`].
    pub ping_interval: Option<Duration>,
    /// [`App::ping_timeout`].
    pub ping_timeout: Option<Duration>,
    /// [`App::idle_timeout`].
    pub idle_timeout: Option<Duration>,
    /// [`App::allowed_origins`].
    pub allowed_origins: Option<Vec<String>>,
    /// [`App::static_dir`].
    pub static_dir: Option<PathBuf>,
    /// [`App::topic_schema`] for each `(pattern, schema)`, in order.
    pub topics: Vec<(String, Value)>,
    /// [`App::pubsub`]: a Redis URL or `local`.
    pub pubsub: Option<String>,
    /// [`App::reuse_port`].
    pub reuse_port: Option<bool>,
    /// [`App::serve_asyncapi`]: the path and the Info Object, read from
    /// `{"path": "/asyncapi.json", "info": {"title": ..., "version": ...}}` (`info` optional).
    pub asyncapi: Option<(String, Value)>,
    /// [`App::compression`], read from `true`, `false` or
    /// `{"threshold": 1024, "server_context_takeover": false}` (either field optional).
    pub compression: Option<Compression>,
}

impl AppOptions {
    /// Read the settings from a JSON object with the field names of this struct, times in
    /// seconds. A `null` value is an unset option; an unknown name or a value of the wrong kind
    /// is an [`Code::InvalidConfig`] failure naming the option.
    pub fn from_json(options: &Value) -> Result<Self, Failure> {
        let mut read = Self::default();
        for (name, value) in object(options, "app options")? {
            if value.is_null() {
                continue;
            }
            let size = || size(name, value);
            let seconds = || seconds(name, value);
            match name.as_str() {
                "max_message_size" => read.max_message_size = Some(size()?),
                "outgoing_queue" => read.outgoing_queue = Some(size()?),
                "outgoing_queue_bytes" => read.outgoing_queue_bytes = Some(size()?),
                "read_buffer_size" => read.read_buffer_size = Some(size()?),
                "max_request_head" => read.max_request_head = Some(size()?),
                "max_header_size" => read.max_header_size = Some(size()?),
                "max_connections" => read.max_connections = Some(size()?),
                "handshake_timeout" => read.handshake_timeout = Some(seconds()?),
                "drain_timeout" => read.drain_timeout = Some(seconds()?),
                "fanout_flush_interval" => read.fanout_flush_interval = Some(seconds()?),
                "ping_interval" => read.ping_interval = Some(seconds()?),
                "ping_timeout" => read.ping_timeout = Some(seconds()?),
                "idle_timeout" => read.idle_timeout = Some(seconds()?),
                "allowed_origins" => read.allowed_origins = Some(strings(name, value)?),
                "static_dir" => read.static_dir = Some(text(name, value)?.into()),
                "topics" => read.topics = topics(value)?,
                "pubsub" => read.pubsub = Some(text(name, value)?.to_owned()),
                "reuse_port" => {
                    read.reuse_port = Some(
                        value.as_bool().ok_or_else(|| invalid(format!("{name} must be true or false")))?,
                    );
                }
                "asyncapi" => read.asyncapi = Some(asyncapi_option(value)?),
                "compression" => read.compression = compression_option(value)?,
                _ => return Err(invalid(format!("unknown option {name}"))),
            }
        }
        Ok(read)
    }

    /// Apply every set option to `app`, in a fixed order; the first the core refuses is the
    /// failure.
    pub fn apply(self, app: &mut App) -> Result<(), Failure> {
        type SetSize = fn(&mut App, usize) -> Result<&mut App, crate::Error>;
        type SetDuration = fn(&mut App, Duration) -> &mut App;
        let sizes: [(Option<usize>, SetSize); 7] = [
            (self.max_message_size, App::max_message_size),
            (self.outgoing_queue, App::outgoing_queue),
            (self.outgoing_queue_bytes, App::outgoing_queue_bytes),
            (self.read_buffer_size, App::read_buffer_size),
            (self.max_request_head, App::max_request_head),
            (self.max_header_size, App::max_header_size),
            (self.max_connections, App::max_connections),
        ];
        for (value, set) in sizes {
            if let Some(value) = value {
                set(app, value)?;
            }
        }
        if let Some(timeout) = self.handshake_timeout {
            app.handshake_timeout(timeout)?;
        }
        if let Some(timeout) = self.ping_timeout {
            app.ping_timeout(timeout)?;
        }
        if let Some(origins) = self.allowed_origins {
            app.allowed_origins(origins)?;
        }
        let unchecked: [(Option<Duration>, SetDuration); 4] = [
            (self.drain_timeout, App::drain_timeout),
            (self.fanout_flush_interval, App::fanout_flush_interval),
            (self.ping_interval, App::ping_interval),
            (self.idle_timeout, App::idle_timeout),
        ];
        for (value, set) in unchecked {
            if let Some(value) = value {
                set(app, value);
            }
        }
        if let Some(dir) = self.static_dir {
            app.static_dir(dir);
        }
        if let Some((path, info)) = self.asyncapi {
            app.serve_asyncapi(path, info)?;
        }
        for (pattern, schema) in self.topics {
            app.topic_schema(&pattern, schema)?;
        }
        if let Some(url) = self.pubsub {
            app.pubsub(&url)?;
        }
        if let Some(on) = self.reuse_port {
            app.reuse_port(on);
        }
        if self.compression.is_some() {
            app.compression(self.compression);
        }
        Ok(())
    }
}

/// The `compression` option: `true` (the defaults), `false` (off), or an object of settings.
fn compression_option(value: &Value) -> Result<Option<Compression>, Failure> {
    let wrong = || {
        invalid("compression must be true, false or {threshold, server_context_takeover, level}".to_owned())
    };
    let fields = match value {
        Value::Bool(on) => return Ok(on.then(Compression::default)),
        Value::Object(fields) => fields,
        _ => return Err(wrong()),
    };
    let mut compression = Compression::default();
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("threshold", _) => compression.threshold = size("compression.threshold", value)?,
            ("server_context_takeover", Value::Bool(on)) => compression.server_context_takeover = *on,
            ("level", _) => compression.level = level(value)?,
            _ => return Err(wrong()),
        }
    }
    Ok(Some(compression))
}

/// `compression.level`: an integer from 0 to 9.
fn level(value: &Value) -> Result<u32, Failure> {
    value
        .as_u64()
        .and_then(|level| u32::try_from(level).ok())
        .filter(|level| *level <= MAX_COMPRESSION_LEVEL)
        .ok_or_else(|| {
            invalid(format!("compression.level must be an integer from 0 to {MAX_COMPRESSION_LEVEL}"))
        })
}

/// One route served by the host: its path, schemas, limit and which hooks the host defined.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct RouteSpec {
    /// The route's path pattern.
    pub path: String,
    /// [`Route::message_schema`].
    pub message_schema: Option<Value>,
    /// [`Route::response_schema`].
    pub response_schema: Option<Value>,
    /// [`Route::max_message_size`].
    pub max_message_size: Option<usize>,
    /// [`Route::raw_text`].
    pub raw_text: bool,
    /// [`Route::subprotocols`].
    pub subprotocols: Vec<String>,
    /// [`Route::description`]: what the route is for, in the AsyncAPI document.
    pub description: Option<String>,
    /// [`Route::discriminator`]: the field naming a message's type (`"type"` when `None`).
    pub discriminator: Option<String>,
    /// The message types of a route that dispatches by type ([`Route::branch`]), in order.
    /// Each one's messages reach the host as jobs naming the branch ([`Job::branch`](super::Job::branch)).
    pub branches: Vec<BranchSpec>,
    /// Which of the route's calls go to the host.
    pub hooks: Hooks,
}

/// One message type of a host route that dispatches by type (see [`crate::dispatch`]).
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct BranchSpec {
    /// The discriminator's value; the host calls the callable it registered under it.
    pub name: String,
    /// [`Branch::message_schema`].
    pub message_schema: Option<Value>,
    /// [`Branch::reply_schema`].
    pub reply_schema: Option<Value>,
    /// [`Branch::description`].
    pub description: Option<String>,
}

impl BranchSpec {
    /// A branch named `name` with no schema or description.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }
}

impl RouteSpec {
    /// A route on `path` with no schema, limit or hook.
    pub fn new(path: impl Into<String>) -> Self {
        Self { path: path.into(), ..Self::default() }
    }

    /// Read a route from a JSON object: `path`, `message_schema`, `response_schema`,
    /// `max_message_size`, `raw_text`, `subprotocols` (a list of names), `description`,
    /// `dispatch`, and the flags `on_connect`, `on_disconnect` and `binary` (the route has that
    /// hook). `release` is [`Hooks::release`], the binding's own choice.
    ///
    /// `dispatch` makes the route dispatch by message type:
    /// `{"discriminator": "type", "branches": {"join": {"message_schema": {...},
    /// "reply_schema": {...}, "description": "..."}, "say": {}}}`; `discriminator` is optional
    /// (`"type"`), every branch field is optional, and the branches keep their order.
    pub fn from_json(route: &Value, release: bool) -> Result<Self, Failure> {
        let mut read = Self::new(String::new());
        read.hooks.release = release;
        for (name, value) in object(route, "a route")? {
            if value.is_null() {
                continue;
            }
            let flag = || value.as_bool().ok_or_else(|| invalid(format!("{name} must be true or false")));
            match name.as_str() {
                "path" => read.path = text(name, value)?.to_owned(),
                "message_schema" => read.message_schema = Some(value.clone()),
                "response_schema" => read.response_schema = Some(value.clone()),
                "max_message_size" => read.max_message_size = Some(size(name, value)?),
                "raw_text" => read.raw_text = flag()?,
                "subprotocols" => read.subprotocols = strings(name, value)?,
                "description" => read.description = Some(text(name, value)?.to_owned()),
                "dispatch" => (read.discriminator, read.branches) = dispatch(value)?,
                "on_connect" => read.hooks.connect = flag()?,
                "on_disconnect" => read.hooks.disconnect = flag()?,
                "binary" => read.hooks.binary = flag()?,
                _ => return Err(invalid(format!("unknown route option {name}"))),
            }
        }
        Ok(read)
    }

    /// The core route whose calls go to `queue` carrying `index`. Schemas are compiled when the
    /// route is added to an [`App`].
    pub fn into_route(self, index: usize, queue: &Arc<JobQueue>) -> Route {
        let host = BridgeRoute::new(index, self.hooks, Arc::clone(queue));
        let branches: Vec<Branch> = self
            .branches
            .into_iter()
            .map(|spec| {
                let mut branch = Branch::new(spec.name.clone(), host.branch(&spec.name));
                if let Some(schema) = spec.message_schema {
                    branch = branch.message_schema(schema);
                }
                if let Some(schema) = spec.reply_schema {
                    branch = branch.reply_schema(schema);
                }
                if let Some(text) = spec.description {
                    branch = branch.description(text);
                }
                branch
            })
            .collect();
        let mut route = Route::new(self.path, host);
        for branch in branches {
            route = route.branch(branch);
        }
        if let Some(field) = self.discriminator {
            route = route.discriminator(field);
        }
        if let Some(text) = self.description {
            route = route.description(text);
        }
        if let Some(schema) = self.message_schema {
            route = route.message_schema(schema);
        }
        if let Some(schema) = self.response_schema {
            route = route.response_schema(schema);
        }
        if let Some(bytes) = self.max_message_size {
            route = route.max_message_size(bytes);
        }
        if self.raw_text {
            route = route.raw_text();
        }
        route.subprotocols(self.subprotocols)
    }
}

/// The app's AsyncAPI 3.0 document as JSON text ([`App::asyncapi`]), from the routes and app
/// options exactly as the host passes them to start a server, so that `app.asyncapi()` in
/// every language is this one function. `info` is the Info Object (`title`, `version`, ...).
///
/// # Errors
/// What registering the routes and applying the options would fail with (a schema that does
/// not compile, a bad path, a route declared twice, ...).
pub fn asyncapi(routes: Vec<RouteSpec>, options: AppOptions, info: Value) -> Result<String, Failure> {
    let mut app = App::new();
    options.apply(&mut app)?;
    // The routes are only described: nothing is ever queued.
    let queue = JobQueue::new(WakePolicy::Blocking);
    for (index, spec) in routes.into_iter().enumerate() {
        app.route(spec.into_route(index, &queue))?;
    }
    queue.close();
    Ok(app.asyncapi(info).to_string())
}

/// [`asyncapi`] for hosts that pass JSON (Python, Ruby): `routes` a list of route objects as
/// [`RouteSpec::from_json`] reads them, `options` an object as [`AppOptions::from_json`] reads
/// it (`null` for none).
///
/// # Errors
/// As [`asyncapi`], and [`Code::InvalidConfig`] for a route or option that does not read.
pub fn asyncapi_json(routes: &Value, options: &Value, info: Value) -> Result<String, Failure> {
    let list = routes.as_array().ok_or_else(|| invalid("routes must be a list".into()))?;
    let specs = list.iter().map(|route| RouteSpec::from_json(route, false)).collect::<Result<_, _>>()?;
    let options = if options.is_null() { AppOptions::default() } else { AppOptions::from_json(options)? };
    asyncapi(specs, options, info)
}

/// The `asyncapi` app option: `{"path": "/asyncapi.json", "info": {...}}`.
fn asyncapi_option(value: &Value) -> Result<(String, Value), Failure> {
    let mut path = None;
    let mut info = Value::Null;
    for (name, value) in object(value, "asyncapi")? {
        match name.as_str() {
            "path" => path = Some(text("asyncapi.path", value)?.to_owned()),
            "info" if value.is_object() || value.is_null() => info = value.clone(),
            "info" => return Err(invalid("asyncapi.info must be an object".into())),
            _ => return Err(invalid(format!("unknown asyncapi option {name}"))),
        }
    }
    let path = path.ok_or_else(|| invalid("asyncapi needs a path, e.g. \"/asyncapi.json\"".into()))?;
    Ok((path, info))
}

/// The `dispatch` object of a route: its discriminator and branches.
fn dispatch(value: &Value) -> Result<(Option<String>, Vec<BranchSpec>), Failure> {
    let mut discriminator = None;
    let mut branches = Vec::new();
    for (name, value) in object(value, "dispatch")? {
        match name.as_str() {
            "discriminator" if !value.is_null() => discriminator = Some(text(name, value)?.to_owned()),
            "discriminator" => {}
            "branches" => {
                for (branch, fields) in object(value, "dispatch branches")? {
                    let mut spec = BranchSpec::new(branch.clone());
                    let what = format!("branch {branch:?}");
                    let fields = if fields.is_null() { &Map::new() } else { object(fields, &what)? };
                    for (field, value) in fields {
                        if value.is_null() {
                            continue;
                        }
                        match field.as_str() {
                            "message_schema" => spec.message_schema = Some(value.clone()),
                            "reply_schema" => spec.reply_schema = Some(value.clone()),
                            "description" => spec.description = Some(text(field, value)?.to_owned()),
                            _ => return Err(invalid(format!("unknown option {field} of {what}"))),
                        }
                    }
                    branches.push(spec);
                }
            }
            _ => return Err(invalid(format!("unknown dispatch option {name}"))),
        }
    }
    if branches.is_empty() {
        return Err(invalid("dispatch needs at least one branch".into()));
    }
    Ok((discriminator, branches))
}

fn invalid(message: String) -> Failure {
    Failure::new(Code::InvalidConfig, message)
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, Failure> {
    value.as_object().ok_or_else(|| invalid(format!("{what} must be an object")))
}

fn size(name: &str, value: &Value) -> Result<usize, Failure> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| invalid(format!("{name} must be a non-negative integer")))
}

fn seconds(name: &str, value: &Value) -> Result<Duration, Failure> {
    value
        .as_f64()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| invalid(format!("{name} must be a non-negative number of seconds")))
}

fn text<'a>(name: &str, value: &'a Value) -> Result<&'a str, Failure> {
    value.as_str().ok_or_else(|| invalid(format!("{name} must be a string")))
}

fn strings(name: &str, value: &Value) -> Result<Vec<String>, Failure> {
    let list = value.as_array().ok_or_else(|| invalid(format!("{name} must be a list of strings")))?;
    list.iter().map(|item| text(name, item).map(str::to_owned)).collect()
}

fn topics(value: &Value) -> Result<Vec<(String, Value)>, Failure> {
    let pairs =
        value.as_array().ok_or_else(|| invalid("topics must be a list of [pattern, schema]".into()))?;
    pairs
        .iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(pattern), schema]) => Ok((pattern.clone(), schema.clone())),
            _ => Err(invalid("topics must be a list of [pattern, schema]".into())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bridge::WakePolicy;

    #[test]
    fn reads_every_option_and_skips_nulls() {
        let options = AppOptions::from_json(&json!({
            "max_message_size": 10, "outgoing_queue": 2, "outgoing_queue_bytes": 100,
            "read_buffer_size": 4096, "max_request_head": 2048, "max_header_size": 1024,
            "max_connections": 5, "handshake_timeout": 1.5, "drain_timeout": 0, "fanout_flush_interval": 0.001,
            "ping_interval": 2, "ping_timeout": 1, "idle_timeout": null, "allowed_origins": ["https://a"],
            "static_dir": "/tmp", "topics": [["room:*", {"type": "object"}]],
            "pubsub": "redis://127.0.0.1:6379/0", "reuse_port": true, "compression": {"threshold": 0, "level": 6},
        }))
        .unwrap();
        assert_eq!(options.max_connections, Some(5));
        assert_eq!(options.handshake_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(options.idle_timeout, None);
        assert_eq!(options.topics.len(), 1);
        assert_eq!(
            (options.pubsub.as_deref(), options.reuse_port),
            (Some("redis://127.0.0.1:6379/0"), Some(true))
        );
        assert_eq!(
            options.compression,
            Some(Compression { threshold: 0, level: 6, ..Compression::default() })
        );
        options.apply(&mut App::new()).unwrap();
        let on = AppOptions::from_json(&json!({"compression": true})).unwrap();
        assert_eq!(on.compression, Some(Compression::default()));
        assert_eq!(AppOptions::from_json(&json!({"compression": false})).unwrap().compression, None);
    }

    #[test]
    fn names_the_option_it_refuses() {
        for (options, expected) in [
            (json!({"ping_timeout": -1}), "ping_timeout must be a non-negative number of seconds"),
            (json!({"max_connections": "many"}), "max_connections must be a non-negative integer"),
            (json!({"allowed_origins": [1]}), "allowed_origins must be a string"),
            (json!({"colour": 1}), "unknown option colour"),
            (json!({"reuse_port": 1}), "reuse_port must be true or false"),
            (
                json!({"compression": {"colour": 1}}),
                "compression must be true, false or {threshold, server_context_takeover, level}",
            ),
            (json!({"compression": {"level": 10}}), "compression.level must be an integer from 0 to 9"),
            (json!({"compression": {"level": "fast"}}), "compression.level must be an integer from 0 to 9"),
            (json!([]), "app options must be an object"),
        ] {
            let failure = AppOptions::from_json(&options).unwrap_err();
            assert_eq!((failure.code, failure.message.as_str()), (Code::InvalidConfig, expected));
        }
    }

    #[test]
    fn the_core_checks_what_it_applies() {
        let options = AppOptions::from_json(&json!({"max_connections": 0})).unwrap();
        assert_eq!(options.apply(&mut App::new()).unwrap_err().code, Code::InvalidConfig);
        let topics = AppOptions::from_json(&json!({"topics": [["a", {"type": 5}]]})).unwrap();
        assert_eq!(topics.apply(&mut App::new()).unwrap_err().code, Code::SchemaCompile);
        let pubsub = AppOptions::from_json(&json!({"pubsub": "kafka://x"})).unwrap();
        assert_eq!(pubsub.apply(&mut App::new()).unwrap_err().code, Code::InvalidConfig);
    }

    #[test]
    fn reads_a_route() {
        let spec = RouteSpec::from_json(
            &json!({"path": "/chat", "message_schema": {"type": "object"}, "raw_text": false,
                    "on_connect": true, "binary": true, "max_message_size": 64}),
            true,
        )
        .unwrap();
        assert_eq!(spec.path, "/chat");
        assert!(spec.hooks.connect && spec.hooks.binary && spec.hooks.release && !spec.hooks.disconnect);
        let queue = JobQueue::new(WakePolicy::Blocking);
        App::new().route(spec.into_route(0, &queue)).unwrap();
        let refused = RouteSpec::from_json(&json!({"path": "/x", "raw_text": 1}), false).unwrap_err();
        assert_eq!(refused.message, "raw_text must be true or false");
    }

    #[test]
    fn reads_a_dispatching_route_in_order() {
        let spec = RouteSpec::from_json(
            &json!({"path": "/chat", "description": "chat", "dispatch": {"branches": {
                "say": {"message_schema": {"type": "object"}, "reply_schema": true, "description": "d"},
                "join": {}, "leave": null
            }}}),
            false,
        )
        .unwrap();
        let names: Vec<&str> = spec.branches.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["say", "join", "leave"]);
        assert_eq!((spec.discriminator.as_deref(), spec.description.as_deref()), (None, Some("chat")));
        assert_eq!(spec.branches[0].description.as_deref(), Some("d"));
        let queue = JobQueue::new(WakePolicy::Blocking);
        App::new().route(spec.into_route(0, &queue)).unwrap();
        for (route, expected) in [
            (json!({"dispatch": {"branches": {}}}), "dispatch needs at least one branch"),
            (
                json!({"dispatch": {"branches": {"a": {"colour": 1}}}}),
                "unknown option colour of branch \"a\"",
            ),
            (
                json!({"dispatch": {"discriminator": 1, "branches": {"a": {}}}}),
                "discriminator must be a string",
            ),
            (json!({"dispatch": {"by": "type"}}), "unknown dispatch option by"),
            (json!({"dispatch": []}), "dispatch must be an object"),
        ] {
            assert_eq!(RouteSpec::from_json(&route, false).unwrap_err().message, expected);
        }
    }
}
