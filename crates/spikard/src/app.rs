//! [`App`]: the set of routes and app-wide settings, before it is bound to an address.

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::net::{TcpListener, TcpSocket, ToSocketAddrs};

use crate::{
    Compression, Error, Server,
    handler::WebSocketHandler,
    handshake::Origins,
    heartbeat::HeartbeatSettings,
    metrics::Metrics,
    pubsub::{self, PubSubConfig},
    route::{Route, RouteState},
    schema::CompiledSchema,
    topics::TopicPattern,
};

/// Default largest message: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;
/// Default capacity of each connection's outgoing queue, in messages.
pub const DEFAULT_OUTGOING_QUEUE: usize = 1024;
/// Default capacity of each connection's outgoing queue, in payload bytes: 4 MiB, four messages
/// of the default largest size (see [`App::outgoing_queue_bytes`]).
pub const DEFAULT_OUTGOING_QUEUE_BYTES: usize = 4 * DEFAULT_MAX_MESSAGE_SIZE;
/// Default time between the server's pings (see [`App::ping_interval`]).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(25);
/// Default time a ping waits for its pong (see [`App::ping_timeout`]).
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Default idle timeout: zero, none (see [`App::idle_timeout`]).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::ZERO;
/// Default read buffer per connection (see [`App::read_buffer_size`]).
pub const DEFAULT_READ_BUFFER: usize = 2 * 1024;
/// Default longest hold of published messages: see [`App::fanout_flush_interval`].
pub const DEFAULT_FANOUT_FLUSH: Duration = Duration::from_millis(1);
/// Default time graceful shutdown waits for connections to finish closing.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection has to send its request head, and `on_connect` to decide: 10 s
/// (see [`App::handshake_timeout`]).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default largest request head (request line and headers): 16 KiB, Node.js's default
/// (see [`App::max_request_head`]).
pub const DEFAULT_MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Default largest single header (name and value): 8 KiB, the per-line limit of nginx and
/// Apache (see [`App::max_header_size`]).
pub const DEFAULT_MAX_HEADER_SIZE: usize = 8 * 1024;
/// Default most WebSocket connections open at once: 10,000 (see [`App::max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Smallest accepted [`App::max_request_head`] and [`App::max_header_size`]: 1 KiB.
const MIN_HEAD: usize = 1024;

/// App-wide settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) max_message_size: usize,
    pub(crate) outgoing_queue: usize,
    pub(crate) outgoing_queue_bytes: usize,
    pub(crate) heartbeat: HeartbeatSettings,
    pub(crate) read_buffer_size: usize,
    pub(crate) drain_timeout: Duration,
    pub(crate) fanout_flush: Duration,
    pub(crate) static_dir: Option<PathBuf>,
    /// [`App::serve_asyncapi`]: the path and the Info Object.
    pub(crate) asyncapi: Option<(String, serde_json::Value)>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_request_head: usize,
    pub(crate) max_header_size: usize,
    pub(crate) max_connections: usize,
    pub(crate) allowed_origins: Option<Origins>,
    pub(crate) pubsub: Option<PubSubConfig>,
    pub(crate) reuse_port: bool,
    /// [`App::compression`]: permessage-deflate, off when `None`.
    pub(crate) compression: Option<Compression>,
}

/// A Spikard application: WebSocket routes plus settings.
///
/// ```no_run
/// use serde_json::Value;
/// use spikard::{handler_fn, App, Connection, HandlerError};
///
/// # async fn run() -> Result<(), spikard::Error> {
/// let mut app = App::new();
/// app.websocket("/echo", handler_fn(|_c: Connection, m: Value| async move {
///     Ok::<_, HandlerError>(Some(m))
/// }))?;
/// let server = app.bind("127.0.0.1:0").await?;
/// println!("listening on {}", server.local_addr());
/// server.run_until_signal().await
/// # }
/// ```
pub struct App {
    pub(crate) routes: Vec<Arc<RouteState>>,
    pub(crate) router: matchit::Router<usize>,
    pub(crate) settings: Settings,
    pub(crate) topic_schemas: Vec<(TopicPattern, CompiledSchema)>,
    /// The topic schemas as declared, for the AsyncAPI document.
    pub(crate) topic_sources: Vec<(String, serde_json::Value)>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("paths", &self.paths().collect::<Vec<_>>())
            .field("settings", &self.settings)
            .finish()
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

impl App {
    /// An app with no routes and default settings.
    #[must_use]
    pub fn new() -> Self {
        Self {
            routes: Vec::new(),
            router: matchit::Router::new(),
            settings: Settings {
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                outgoing_queue: DEFAULT_OUTGOING_QUEUE,
                outgoing_queue_bytes: DEFAULT_OUTGOING_QUEUE_BYTES,
                heartbeat: HeartbeatSettings {
                    ping_interval: DEFAULT_PING_INTERVAL,
                    ping_timeout: DEFAULT_PING_TIMEOUT,
                    idle_timeout: DEFAULT_IDLE_TIMEOUT,
                },
                read_buffer_size: DEFAULT_READ_BUFFER,
                drain_timeout: DEFAULT_DRAIN_TIMEOUT,
                fanout_flush: DEFAULT_FANOUT_FLUSH,
                static_dir: None,
                asyncapi: None,
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                max_request_head: DEFAULT_MAX_REQUEST_HEAD,
                max_header_size: DEFAULT_MAX_HEADER_SIZE,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                allowed_origins: None,
                pubsub: None,
                reuse_port: false,
                compression: None,
            },
            topic_schemas: Vec::new(),
            topic_sources: Vec::new(),
        }
    }

    /// Register a route with no schemas.
    ///
    /// # Errors
    /// As [`App::route`].
    pub fn websocket(
        &mut self,
        path: impl Into<String>,
        handler: impl WebSocketHandler,
    ) -> Result<&mut Self, Error> {
        self.route(Route::new(path, handler))
    }

    /// Register a route: its schemas are compiled now.
    ///
    /// # Errors
    /// [`Error::SchemaCompile`] for a schema that does not compile, [`Error::InvalidPath`] or
    /// [`Error::DuplicateRoute`] for a path that cannot be served, [`Error::InvalidConfig`] for a
    /// route limit of 0 or a [raw-text](Route::raw_text) route with a message schema.
    pub fn route(&mut self, route: Route) -> Result<&mut Self, Error> {
        let state = RouteState::compile(route)?;
        let path = state.path.to_string();
        if self.routes.iter().any(|r| *r.path == *path) {
            return Err(Error::DuplicateRoute { route: path });
        }
        self.router
            .insert(path.clone(), self.routes.len())
            .map_err(|err| Error::InvalidPath { route: path, message: err.to_string() })?;
        self.routes.push(Arc::new(state));
        Ok(self)
    }

    /// Declare the schema of the messages published to the topics `pattern` matches: a topic
    /// name (`"news"`), or a prefix followed by `*` (`"room:*"` matches `room:lobby`). Every
    /// publish to a matching topic is validated once, before fan-out, and refused with
    /// [`PublishError`](crate::PublishError) when it fails. When several patterns match, an exact
    /// name beats a prefix and a longer prefix beats a shorter one.
    ///
    /// ```
    /// # fn main() -> Result<(), spikard::Error> {
    /// let mut app = spikard::App::new();
    /// app.topic_schema("room:*", serde_json::json!({"type": "object", "required": ["text"]}))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::TopicSchemaCompile`] for a schema that does not compile, [`Error::InvalidConfig`]
    /// for an empty pattern, a `*` other than at the end, or a pattern declared twice.
    pub fn topic_schema(&mut self, pattern: &str, schema: serde_json::Value) -> Result<&mut Self, Error> {
        let parsed = TopicPattern::parse(pattern).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "topic pattern {pattern:?}: expected a topic name, optionally followed by one trailing *"
            ))
        })?;
        if self.topic_schemas.iter().any(|(p, _)| p.same_as(&parsed)) {
            return Err(Error::InvalidConfig(format!("topic pattern {pattern:?} already has a schema")));
        }
        let compiled = CompiledSchema::compile(pattern, "topic", &schema).map_err(|err| match err {
            Error::SchemaCompile { message, .. } => {
                Error::TopicSchemaCompile { pattern: pattern.to_owned(), message }
            }
            other => other,
        })?;
        self.topic_schemas.push((parsed, compiled));
        self.topic_sources.push((pattern.to_owned(), schema));
        Ok(self)
    }

    /// Largest accepted message in bytes for routes without their own limit (default 1 MiB).
    /// Larger messages close the connection with 1009.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for 0.
    pub fn max_message_size(&mut self, bytes: usize) -> Result<&mut Self, Error> {
        if bytes == 0 {
            return Err(Error::InvalidConfig("max_message_size must be at least 1 byte".into()));
        }
        self.settings.max_message_size = bytes;
        Ok(self)
    }

    /// Capacity of each connection's outgoing queue in messages (default 1024). A client whose
    /// queue is full when the server replies or pushes to it is closed with 1013.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for 0.
    pub fn outgoing_queue(&mut self, messages: usize) -> Result<&mut Self, Error> {
        if messages == 0 {
            return Err(Error::InvalidConfig("outgoing_queue must hold at least 1 message".into()));
        }
        self.settings.outgoing_queue = messages;
        Ok(self)
    }

    /// Capacity of each connection's outgoing queue in payload bytes (default 4 MiB). A reply,
    /// push or published message that would take a client's queue past it closes that client
    /// with 1013, so a client that stops reading holds at most this much (plus the message its
    /// writer is sending) however large the messages. A message larger than the bound is still
    /// queued when the queue is empty.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for 0.
    pub fn outgoing_queue_bytes(&mut self, bytes: usize) -> Result<&mut Self, Error> {
        if bytes == 0 {
            return Err(Error::InvalidConfig("outgoing_queue_bytes must be at least 1 byte".into()));
        }
        self.settings.outgoing_queue_bytes = bytes;
        Ok(self)
    }

    /// Time between the server's pings to each connection (default 25 s; zero sends none). A
    /// ping not answered within [`App::ping_timeout`] closes the connection with 1011, so peers
    /// that vanished without closing leave their rooms; the pings also keep proxies that drop
    /// idle connections (often after 60 s) from cutting quiet ones.
    pub fn ping_interval(&mut self, interval: Duration) -> &mut Self {
        self.settings.heartbeat.ping_interval = interval;
        self
    }

    /// Time a ping waits for its pong before the connection is closed with 1011 (default 20 s).
    /// Any pong counts. It is judged only while no frame from the client is waiting to be
    /// read, so a slow handler does not get an answering client closed.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for zero.
    pub fn ping_timeout(&mut self, timeout: Duration) -> Result<&mut Self, Error> {
        if timeout.is_zero() {
            return Err(Error::InvalidConfig("ping_timeout must be longer than zero".into()));
        }
        self.settings.heartbeat.ping_timeout = timeout;
        Ok(self)
    }

    /// Close a connection with 1001 (reason `"idle timeout"`) when its client sent no text or
    /// binary message for this long (default zero: never). Pongs and pings do not count, and
    /// neither do messages the server sends.
    pub fn idle_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.settings.heartbeat.idle_timeout = timeout;
        self
    }

    /// Bytes each connection reads from its socket at a time (default 2 KiB). The buffer is
    /// held per connection and cleared before every read, so a small one keeps idle connections
    /// cheap and small messages fast; larger messages take more reads.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] below 64 bytes.
    pub fn read_buffer_size(&mut self, bytes: usize) -> Result<&mut Self, Error> {
        if bytes < 64 {
            return Err(Error::InvalidConfig("read_buffer_size must be at least 64 bytes".into()));
        }
        self.settings.read_buffer_size = bytes;
        Ok(self)
    }

    /// How long graceful shutdown waits for connections to close (default 10 s). Shutdown stops
    /// accepting, closes HTTP connections that have no request in progress at once (a request
    /// head still arriving included), sends 1001 to every WebSocket and waits for the closing
    /// handshakes, the requests whose `on_connect` is running and every `on_disconnect`. What is
    /// still open when the drain timeout ends (a handler that never returns) is dropped: its
    /// socket is closed and its `on_disconnect` does not run. [`Server::run`] returns within
    /// the drain timeout plus a fraction of a second.
    pub fn drain_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.settings.drain_timeout = timeout;
        self
    }

    /// How long a connection has to send its complete request head (default 10 s), counted from
    /// when the server starts reading it (on accept, and again for each request of a kept-alive
    /// HTTP connection), and how long `on_connect` has to decide. A connection that sends nothing,
    /// or part of a head, is closed when it runs out; an `on_connect` that runs out is answered
    /// with HTTP 503 (its `on_disconnect` never runs). Without it, idle sockets hold file
    /// descriptors until the process runs out of them.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for zero.
    pub fn handshake_timeout(&mut self, timeout: Duration) -> Result<&mut Self, Error> {
        if timeout.is_zero() {
            return Err(Error::InvalidConfig("handshake_timeout must be longer than zero".into()));
        }
        self.settings.handshake_timeout = timeout;
        Ok(self)
    }

    /// Largest request head, request line and headers together, in bytes (default 16 KiB). A
    /// longer head is answered with HTTP 431 and the connection is closed; no more than this is
    /// buffered per connection while a head arrives (at least 8 KiB: the HTTP parser's smallest
    /// read buffer).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] below 1 KiB.
    pub fn max_request_head(&mut self, bytes: usize) -> Result<&mut Self, Error> {
        if bytes < MIN_HEAD {
            return Err(Error::InvalidConfig("max_request_head must be at least 1024 bytes".into()));
        }
        self.settings.max_request_head = bytes;
        Ok(self)
    }

    /// Largest single header, name and value together, in bytes (default 8 KiB). A request with
    /// a longer header is answered with HTTP 431 before any route code runs. The headers a
    /// connection keeps for its lifetime (see [`Connection::headers`](crate::Connection::headers))
    /// are therefore bounded by [`App::max_request_head`] in total and by this each.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] below 1 KiB.
    pub fn max_header_size(&mut self, bytes: usize) -> Result<&mut Self, Error> {
        if bytes < MIN_HEAD {
            return Err(Error::InvalidConfig("max_header_size must be at least 1024 bytes".into()));
        }
        self.settings.max_header_size = bytes;
        Ok(self)
    }

    /// Most WebSocket connections open at once, counting those whose `on_connect` is running
    /// (default 10,000). Past it an upgrade request is answered with HTTP 503 and a
    /// `connection_rejected` body before `on_connect` runs; a slot frees when a connection's
    /// `on_disconnect` has returned.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for 0.
    pub fn max_connections(&mut self, connections: usize) -> Result<&mut Self, Error> {
        if connections == 0 {
            return Err(Error::InvalidConfig("max_connections must allow at least 1 connection".into()));
        }
        self.settings.max_connections = connections;
        Ok(self)
    }

    /// Accept upgrade requests only from these origins (default: any origin, the check is off).
    /// Each entry is an origin as browsers send it, `scheme://host[:port]` without a path, or
    /// `null`; the comparison ignores ASCII case. When set, a request whose `Origin` header is
    /// missing or not listed is answered with HTTP 403 and a `connection_rejected` body before
    /// `on_connect` runs.
    ///
    /// Browsers send `Origin` with every WebSocket handshake and do not apply the same-origin
    /// policy to WebSockets: without an allowlist, any page a user visits can open a connection
    /// to the server with the user's cookies (cross-site WebSocket hijacking). Clients outside a
    /// browser usually send no `Origin`: with an allowlist they must send a listed one.
    ///
    /// ```
    /// # fn main() -> Result<(), spikard::Error> {
    /// let mut app = spikard::App::new();
    /// app.allowed_origins(["https://chat.example.com", "http://localhost:8000"])?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an empty list or an entry that is not an origin.
    pub fn allowed_origins<I, S>(&mut self, origins: I) -> Result<&mut Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.settings.allowed_origins = Some(Origins::parse(origins)?);
        Ok(self)
    }

    /// The longest a subscriber's writer holds published messages (default 1 ms; zero turns
    /// holding off). While some connection is still handling messages that were already
    /// waiting (a burst), what it publishes is held and then leaves in one socket write per
    /// subscriber instead of one per message. The hold ends when no connection is in a burst,
    /// when this interval has passed, or when a reply, a direct send or a close is queued for
    /// the subscriber: those are never held.
    pub fn fanout_flush_interval(&mut self, interval: Duration) -> &mut Self {
        self.settings.fanout_flush = interval;
        self
    }

    /// Serve the files of `dir` on every path that is not a WebSocket route
    /// (`index.html` for directories).
    pub fn static_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.settings.static_dir = Some(dir.into());
        self
    }

    /// Serve the app's AsyncAPI document ([`App::asyncapi`] with `info`) as JSON to HTTP `GET`
    /// and `HEAD` requests for `path` (for example `/asyncapi.json`). The document is built once,
    /// when the server starts, from the routes registered by then. Off unless called.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `path` does not start with `/`. A WebSocket route on the
    /// same path is refused when the server starts.
    pub fn serve_asyncapi(
        &mut self,
        path: impl Into<String>,
        info: serde_json::Value,
    ) -> Result<&mut Self, Error> {
        let path = path.into();
        if !path.starts_with('/') {
            return Err(Error::InvalidConfig(format!("the AsyncAPI path must start with '/', got {path:?}")));
        }
        self.settings.asyncapi = Some((path, info));
        Ok(self)
    }

    /// Share rooms with the other nodes (processes, machines, languages) that use the same
    /// backend: a Redis URL (`redis://127.0.0.1:6379/0`, `rediss://`, `redis+unix:///path`), or
    /// `local` for the in-process default. When never called, the environment variable
    /// [`SPIKARD_PUBSUB`](crate::pubsub::PUBSUB_ENV) decides, read when the app is bound. See
    /// [`pubsub`](crate::pubsub) for what is shared and the wire format.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for anything else, or a Redis URL in a build without the `redis`
    /// feature.
    pub fn pubsub(&mut self, url: &str) -> Result<&mut Self, Error> {
        self.settings.pubsub = Some(PubSubConfig::parse(url)?);
        Ok(self)
    }

    /// Negotiate permessage-deflate (RFC 7692) with clients that offer it (every browser does):
    /// their compressed messages are inflated before the size limit, UTF-8 and schemas apply,
    /// and replies of at least [`Compression::threshold`] bytes go out compressed. Off by
    /// default (`None`): compression costs CPU per message and memory per connection (the
    /// client's context, 32 KiB of window while it lives unless it agreed to
    /// `client_no_context_takeover`), and it mixes what a client sends with what is sent to
    /// it in one context, which matters when secrets are in the same messages as input an
    /// attacker chooses (CRIME/BREACH). See `docs/protocol.md`.
    pub fn compression(&mut self, compression: Option<Compression>) -> &mut Self {
        self.settings.compression = compression;
        self
    }

    /// Bind the listening socket with `SO_REUSEPORT` (and `SO_REUSEADDR`), so that several
    /// processes can serve one port and the kernel spreads connections among them (Linux and
    /// the BSDs). Off by default: a second server on a taken port is then a bind error. Pair it
    /// with a shared [`App::pubsub`] backend, or each process has rooms of its own.
    pub fn reuse_port(&mut self, on: bool) -> &mut Self {
        self.settings.reuse_port = on;
        self
    }

    /// The registered route paths, in registration order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| &*r.path)
    }

    /// Connect the pub/sub backend (see [`App::pubsub`]) and bind the listening socket (port 0
    /// picks a free port; see [`Server::local_addr`]).
    ///
    /// # Errors
    /// [`Error::PubSub`] when the configured Redis cannot be reached (the server does not start
    /// with rooms split from the other nodes'), [`Error::InvalidConfig`] for an invalid
    /// `SPIKARD_PUBSUB`, [`Error::Bind`] when the address cannot be bound.
    pub async fn bind(self, addr: impl ToSocketAddrs + std::fmt::Display) -> Result<Server, Error> {
        let config = PubSubConfig::resolve(self.settings.pubsub.as_ref())?;
        let metrics = Arc::new(Metrics::default());
        let backend = pubsub::start(&config, &metrics).await?;
        let shown = addr.to_string();
        let listener = listen(addr, self.settings.reuse_port)
            .await
            .map_err(|source| Error::Bind { addr: shown, source })?;
        Server::new(self, listener, metrics, backend)
    }

    /// Bind `addr` and serve until SIGINT or SIGTERM, then shut down gracefully.
    ///
    /// # Errors
    /// As [`App::bind`] and [`Server::run`].
    pub async fn serve(self, addr: impl ToSocketAddrs + std::fmt::Display) -> Result<(), Error> {
        let server = self.bind(addr).await?;
        tracing::info!(addr = %server.local_addr(), "spikard listening");
        server.run_until_signal().await
    }
}

/// Bind `addr` (the first address it resolves to that binds), with `SO_REUSEPORT` when asked.
async fn listen(addr: impl ToSocketAddrs, reuse_port: bool) -> std::io::Result<TcpListener> {
    if !reuse_port {
        return TcpListener::bind(addr).await;
    }
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        #[cfg(unix)]
        socket.set_reuseport(true)?;
        match socket.bind(addr) {
            // The backlog tokio's own `TcpListener::bind` uses.
            Ok(()) => return socket.listen(1024),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")))
}
