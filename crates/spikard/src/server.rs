//! [`Server`]: a bound app, its accept loop, its request entry point and graceful shutdown.
//!
//! Each accepted socket is served by hyper's HTTP/1 connection with the app's handshake timeout
//! and head size limit; an upgrade request passes the handshake checks (key, header sizes,
//! origin, connection limit), then `on_connect`, then becomes a session. Shutdown is bounded in
//! every one of these states by the drain timeout.

use std::{
    convert::Infallible,
    net::SocketAddr,
    panic::AssertUnwindSafe,
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    body::Body,
    extract::{FromRequestParts, Query, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::FutureExt;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::{
    App, Error, MetricsSnapshot, accept,
    app::Settings,
    close,
    connection::{CloseInfo, Connection, ConnectionParts},
    deflate::{
        layer::{Deflate, Negotiation},
        offer,
    },
    envelope::{ErrorCode, ErrorEnvelope},
    failfast::FailFast,
    handler::{INTERNAL_ERROR, Rejection},
    handshake,
    metrics::Metrics,
    pubsub,
    readahead::ReadAhead,
    route::RouteState,
    session,
    topics::{PublishError, Topics},
};

/// The HTTP parser's smallest read buffer (hyper refuses less).
const MIN_READ_BUFFER: usize = 8 * 1024;
/// How long shutdown waits, after the drain timeout, for the connections it dropped to be gone.
const STOP_GRACE: Duration = Duration::from_secs(1);

struct Shared {
    routes: Vec<Arc<RouteState>>,
    router: matchit::Router<usize>,
    settings: Settings,
    static_files: Option<ServeDir>,
    /// [`App::serve_asyncapi`]: the path and the document, serialised once.
    asyncapi: Option<(String, Bytes)>,
    /// The topic schemas as declared, for [`ServerHandle::asyncapi`].
    topic_sources: Vec<(String, serde_json::Value)>,
    /// Cancelled when shutdown starts.
    token: CancellationToken,
    /// Cancelled when the drain timeout ends: whatever is still open is dropped.
    stop: CancellationToken,
    /// WebSocket connections, from a successful `on_connect` to the end of `on_disconnect`.
    tracker: TaskTracker,
    /// One permit per WebSocket connection ([`App::max_connections`]).
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    topics: Arc<Topics>,
    /// Stops the pub/sub backend's tasks: cancelled when the server has drained, or dropped.
    pubsub_stop: CancellationToken,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.pubsub_stop.cancel();
    }
}

/// A handle to a running (or about to run) server: shut it down, read its address and
/// counters. Cheap to clone and usable from any thread.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Start a graceful shutdown: stop accepting, close every connection with 1001, run every
    /// `on_disconnect`, and let [`Server::run`] return once drained (or after the drain timeout:
    /// see [`App::drain_timeout`]).
    pub fn shutdown(&self) {
        self.shared.token.cancel();
    }

    /// The address the server is bound to.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Publish `value` to every subscriber of `topic`, from anywhere (a background task, a
    /// timer, another thread). Validated against the topic's schema (if any) and serialised once;
    /// returns the number of this node's connections it was queued for (0 for a topic without
    /// subscribers here); with a shared backend it also reaches every other node's subscribers.
    ///
    /// # Errors
    /// [`PublishError`] when the value fails the topic's schema or cannot be serialised; then it
    /// was queued for nobody.
    pub fn publish<T: serde::Serialize + ?Sized>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<usize, PublishError> {
        self.shared.topics.publish_value(topic, value, None, &self.shared.metrics)
    }

    /// Record every message published to `topic` from now on, until the returned
    /// [`PublishCapture`](crate::PublishCapture) is dropped (see there).
    #[must_use]
    pub fn capture(&self, topic: &str) -> crate::PublishCapture {
        self.shared.topics.capture(topic)
    }

    /// The connections of this node subscribed to `topic` now (presence is node-local: see
    /// [`pubsub`](crate::pubsub)).
    #[must_use]
    pub fn topic_members(&self, topic: &str) -> Vec<Connection> {
        self.shared.topics.members(topic)
    }

    /// How many connections of this node are subscribed to `topic` now (node-local, as
    /// [`pubsub`](crate::pubsub) explains).
    #[must_use]
    pub fn topic_count(&self, topic: &str) -> usize {
        self.shared.topics.count(topic)
    }

    /// Every topic with at least one subscriber, sorted.
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        self.shared.topics.names()
    }

    /// The AsyncAPI document of the app this server runs, as [`App::asyncapi`] builds it.
    #[must_use]
    pub fn asyncapi(&self, info: serde_json::Value) -> serde_json::Value {
        crate::asyncapi::document(&self.shared.routes, &self.shared.topic_sources, info)
    }

    /// The server's counters now.
    #[must_use]
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }
}

/// An app bound to a listening socket.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    handle: ServerHandle,
}

impl Server {
    pub(crate) fn new(
        app: App,
        listener: TcpListener,
        metrics: Arc<Metrics>,
        pubsub: pubsub::Started,
    ) -> Result<Self, Error> {
        let local_addr = listener.local_addr().map_err(Error::Serve)?;
        let static_files = app.settings.static_dir.as_ref().map(ServeDir::new);
        let asyncapi = match &app.settings.asyncapi {
            Some((path, _)) if app.router.at(path).is_ok() => {
                return Err(Error::InvalidConfig(format!(
                    "the AsyncAPI document's path {path} is also a WebSocket route"
                )));
            }
            Some((path, info)) => Some((path.clone(), Bytes::from(app.asyncapi(info.clone()).to_string()))),
            None => None,
        };
        let slots = Arc::new(Semaphore::new(app.settings.max_connections.min(Semaphore::MAX_PERMITS)));
        let shared = Arc::new(Shared {
            routes: app.routes,
            router: app.router,
            settings: app.settings,
            static_files,
            asyncapi,
            topic_sources: app.topic_sources,
            token: CancellationToken::new(),
            stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
            slots,
            metrics,
            topics: Arc::new(Topics::new(app.topic_schemas, pubsub.backend)),
            pubsub_stop: CancellationToken::new(),
        });
        if let Some(run) = pubsub.run {
            run(pubsub::Inbound { topics: Arc::downgrade(&shared.topics), stop: shared.pubsub_stop.clone() });
        }
        Ok(Self { listener, handle: ServerHandle { shared, local_addr } })
    }

    /// The bound address (the real port when port 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr
    }

    /// A handle to shut the server down from elsewhere.
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serve until [`ServerHandle::shutdown`], then drain connections (see
    /// [`App::drain_timeout`] for what that waits for and how long).
    ///
    /// Accept errors (such as `EMFILE`, too many open files) do not end it: they are logged at
    /// `warn` and accepting is retried after a pause of 10 ms that doubles up to 1 s.
    ///
    /// # Errors
    /// None at present; the `Result` is kept for listener failures a future transport may have.
    pub async fn run(self) -> Result<(), Error> {
        let shared = Arc::clone(&self.handle.shared);
        let settings = &shared.settings;
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(settings.handshake_timeout)
            .max_buf_size(settings.max_request_head.max(MIN_READ_BUFFER))
            .max_header_size(settings.max_request_head);
        let connections = TaskTracker::new();
        while let Some((tcp, remote_addr)) = accept::next(&self.listener, &shared.token).await {
            // Small frames go out at once instead of waiting for the previous one's ACK (Nagle),
            // as in every WebSocket server people compare us with.
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
            connections.spawn(serve_http(http.clone(), tcp, remote_addr, Arc::clone(&shared)));
        }
        drop(self.listener);
        drain(&shared, &connections).await;
        shared.pubsub_stop.cancel();
        Ok(())
    }

    /// Serve until SIGINT (Ctrl-C) or SIGTERM, or [`ServerHandle::shutdown`], then drain.
    ///
    /// # Errors
    /// As [`Server::run`].
    pub async fn run_until_signal(self) -> Result<(), Error> {
        let handle = self.handle();
        let signals = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown signal received; closing connections");
            handle.shutdown();
        });
        let result = self.run().await;
        signals.abort();
        result
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Serve one HTTP connection until it ends, is upgraded, or shutdown drops it.
///
/// On shutdown a connection that has no request in progress (idle, or still sending its head)
/// is closed at once; one whose request is being handled (`on_connect`, a static file) may
/// finish, until the drain timeout ends.
async fn serve_http(http: http1::Builder, tcp: TcpStream, remote_addr: SocketAddr, shared: Arc<Shared>) {
    let busy = Arc::new(AtomicBool::new(false));
    let negotiation = shared.settings.compression.is_some().then(|| Arc::new(Negotiation::default()));
    let service = {
        let (shared, busy, negotiation) = (Arc::clone(&shared), Arc::clone(&busy), negotiation.clone());
        service_fn(move |request: Request<Incoming>| {
            let (shared, busy, negotiation) = (Arc::clone(&shared), Arc::clone(&busy), negotiation.clone());
            async move {
                let _busy = Busy::start(busy);
                let response = entry(shared, remote_addr, negotiation, request.map(Body::new)).await;
                Ok::<_, Infallible>(response)
            }
        })
    };
    // Under the protocol engine, from the socket up: read-ahead, permessage-deflate, fail-fast
    // UTF-8 (which follows the inflated frames).
    let io = FailFast::new(Deflate::new(ReadAhead::new(tcp), negotiation));
    let mut connection = pin!(http.serve_connection(TokioIo::new(io), service).with_upgrades());
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, remote = %remote_addr, "HTTP connection ended with an error");
            }
            return;
        }
        () = shared.token.cancelled() => {}
    }
    if !busy.load(Ordering::Acquire) {
        return;
    }
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = connection => {}
        () = shared.stop.cancelled() => {}
    }
}

/// Marks a connection's request as in progress until dropped.
struct Busy(Arc<AtomicBool>);

impl Busy {
    fn start(flag: Arc<AtomicBool>) -> Self {
        flag.store(true, Ordering::Release);
        Self(flag)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// After shutdown started: wait for HTTP connections and sessions to end, at most the drain
/// timeout; then drop what is left and give it [`STOP_GRACE`] to be gone.
async fn drain(shared: &Shared, connections: &TaskTracker) {
    connections.close();
    shared.tracker.close();
    let all_ended = async {
        connections.wait().await;
        shared.tracker.wait().await;
    };
    if tokio::time::timeout(shared.settings.drain_timeout, all_ended).await.is_ok() {
        return;
    }
    tracing::warn!(
        http_connections = connections.len(),
        websocket_connections = shared.tracker.len(),
        drain_timeout_ms = u64::try_from(shared.settings.drain_timeout.as_millis()).unwrap_or(u64::MAX),
        "drain timeout reached; dropping connections still open (their on_disconnect does not run)"
    );
    shared.stop.cancel();
    let dropped = async {
        connections.wait().await;
        shared.tracker.wait().await;
    };
    if tokio::time::timeout(STOP_GRACE, dropped).await.is_err() {
        tracing::error!(
            websocket_connections = shared.tracker.len(),
            "connections still running after being dropped (a handler blocking its thread?)"
        );
    }
}

/// A request refused by the handshake checks, answered with `status` and a
/// `connection_rejected` envelope; the connection is then closed.
fn refuse(shared: &Shared, status: StatusCode, reason: &str) -> Response {
    Metrics::incr(&shared.metrics.handshakes_refused);
    let body = ErrorEnvelope::new(ErrorCode::ConnectionRejected, reason).to_json();
    let headers = [(header::CONTENT_TYPE, "application/json"), (header::CONNECTION, "close")];
    (status, headers, body).into_response()
}

/// Every request lands here: a WebSocket route, a static file, or 404.
async fn entry(
    shared: Arc<Shared>,
    remote_addr: SocketAddr,
    negotiation: Option<Arc<Negotiation>>,
    request: Request<Body>,
) -> Response {
    if let Some(name) = handshake::oversized_header(request.headers(), shared.settings.max_header_size) {
        tracing::debug!(remote = %remote_addr, header = name, "request refused: header too large");
        return refuse(&shared, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "a request header is too large");
    }
    let matched = shared.router.at(request.uri().path()).ok().map(|m| {
        let params: Vec<(String, String)> =
            m.params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        (*m.value, params)
    });
    let Some((index, path_params)) = matched else {
        if let Some((path, document)) = &shared.asyncapi {
            if request.uri().path() == path && matches!(*request.method(), Method::GET | Method::HEAD) {
                let body = if request.method() == Method::HEAD {
                    Body::empty()
                } else {
                    Body::from(document.clone())
                };
                let headers = [(header::CONTENT_TYPE, "application/json")];
                return (StatusCode::OK, headers, body).into_response();
            }
        }
        return match &shared.static_files {
            Some(files) => match files.clone().oneshot(request).await {
                Ok(response) => response.map(Body::new),
                Err(never) => match never {},
            },
            None => StatusCode::NOT_FOUND.into_response(),
        };
    };
    let route = Arc::clone(&shared.routes[index]);
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade.protocols(route.subprotocols.clone()),
        Err(rejection) => return rejection.into_response(),
    };
    if !parts.headers.get(header::SEC_WEBSOCKET_KEY).is_some_and(handshake::key_is_valid) {
        tracing::debug!(remote = %remote_addr, "upgrade refused: malformed Sec-WebSocket-Key");
        return refuse(&shared, StatusCode::BAD_REQUEST, "Sec-WebSocket-Key must be 16 bytes in base64");
    }
    if let Some(origins) = &shared.settings.allowed_origins {
        if !origins.allows(parts.headers.get(header::ORIGIN)) {
            tracing::debug!(remote = %remote_addr, origin = ?parts.headers.get(header::ORIGIN), "upgrade refused: origin not allowed");
            return refuse(&shared, StatusCode::FORBIDDEN, "origin not allowed");
        }
    }
    let Ok(slot) = Arc::clone(&shared.slots).try_acquire_owned() else {
        tracing::debug!(remote = %remote_addr, limit = shared.settings.max_connections, "upgrade refused: connection limit reached");
        return refuse(&shared, StatusCode::SERVICE_UNAVAILABLE, "server is at its connection limit");
    };
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    let limit = route.max_message_size.unwrap_or(shared.settings.max_message_size);
    let conn_parts = ConnectionParts {
        path: parts.uri.path().to_owned(),
        route: Arc::clone(&route.path),
        path_params,
        query,
        headers: detached(&parts.headers),
        subprotocol: upgrade.selected_protocol().and_then(|p| p.to_str().ok()).map(str::to_owned),
        remote_addr,
        metrics: Arc::clone(&shared.metrics),
        topics: Arc::clone(&shared.topics),
    };
    let (conn, outgoing) = Connection::new(conn_parts, &shared.settings, shared.token.child_token());
    // Until the session owns it, dropping the request (refusal, failed upgrade, client gone
    // during on_connect) must leave the topics on_connect may have joined.
    let pending = Pending(Some(conn.clone()));
    let on_connect = AssertUnwindSafe(route.handler.on_connect(&conn)).catch_unwind();
    let Ok(connected) = tokio::time::timeout(shared.settings.handshake_timeout, on_connect).await else {
        tracing::warn!(route = %route.path, "on_connect did not finish within the handshake timeout; refused with 503");
        return refuse(&shared, StatusCode::SERVICE_UNAVAILABLE, "connection setup timed out");
    };
    let connected = connected.unwrap_or_else(|panic| {
        let detail = session::panic_message(&*panic);
        tracing::error!(route = %route.path, detail, "on_connect panicked");
        Err(Rejection::with_status(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR))
    });
    if let Err(mut rejection) = connected {
        if !(rejection.status.is_client_error() || rejection.status.is_server_error()) {
            tracing::error!(route = %route.path, status = %rejection.status, "on_connect refused with a status that is not 4xx or 5xx");
            rejection = Rejection::with_status(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR);
        }
        Metrics::incr(&shared.metrics.connections_rejected);
        let body = ErrorEnvelope::new(ErrorCode::ConnectionRejected, rejection.reason).to_json();
        return (rejection.status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    Metrics::incr(&shared.metrics.connections_accepted);
    shared.metrics.connections_active.fetch_add(1, Ordering::Relaxed);
    // From here the connection counts for the drain (its `on_disconnect` must run), also in the
    // moment between the upgrade response and the start of its session.
    let held = Held { _slot: slot, _drain: shared.tracker.token() };
    let failed = (Arc::clone(&route), conn.clone(), Arc::clone(&shared));
    let stop = shared.stop.clone();
    let fanout_flush = shared.settings.fanout_flush;
    // permessage-deflate, when the app has it on, the client offers it and this connection's
    // layer can apply it (the upgrade is the connection's first request).
    let extension =
        shared.settings.compression.as_ref().zip(negotiation.as_deref()).and_then(|(settings, slot)| {
            let (agreed, value) = offer::negotiate(&parts.headers, settings, limit)?;
            slot.agree(agreed).then_some(value)
        });
    let mut response = upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(shared.settings.read_buffer_size)
        .on_failed_upgrade(move |err| {
            let (route, conn, shared) = failed;
            tracing::debug!(error = %err, "upgrade failed");
            shared.metrics.connections_active.fetch_sub(1, Ordering::Relaxed);
            shared.tracker.spawn(async move {
                let info = CloseInfo { code: close::ABNORMAL, reason: String::new() };
                route.handler.on_disconnect(&conn, info).await;
            });
        })
        .on_upgrade(move |socket| {
            pending.disarm();
            async move {
                let session = session::run(socket, route, conn.clone(), outgoing, fanout_flush);
                tokio::select! {
                    () = session => {}
                    // The drain timeout ended with this session still running: drop it.
                    () = stop.cancelled() => conn.finish(),
                }
                drop(held);
            }
        });
    if let Some(value) = extension {
        response.headers_mut().insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
    }
    response
}

/// What an accepted connection holds until its `on_disconnect` has returned (or the drain
/// timeout dropped it): its connection slot and its place in the drain.
struct Held {
    _slot: OwnedSemaphorePermit,
    _drain: tokio_util::task::task_tracker::TaskTrackerToken,
}

/// A copy of `headers` that owns its values. hyper's header values are slices of the buffer
/// the request was read into (8 KiB or more), so keeping them would keep that whole buffer alive
/// for as long as the connection lives.
fn detached(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            out.append(name.clone(), copy);
        }
    }
    out
}

/// A connection between `on_connect` and the start of its session.
struct Pending(Option<Connection>);

impl Pending {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            conn.finish();
            // `on_disconnect` never runs for it: drop what hooks stored (a language binding's
            // connection object refers back to the connection and would keep both alive).
            conn.state().clear();
        }
    }
}
