//! [`Server`]: a bound app, its request entry point and graceful shutdown.

use std::{
    convert::Infallible,
    net::SocketAddr,
    panic::AssertUnwindSafe,
    sync::{Arc, atomic::Ordering},
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, FromRequestParts, Query, State, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
    serve::ListenerExt,
};
use futures_util::FutureExt;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::{
    App, Error, MetricsSnapshot,
    app::Settings,
    close,
    connection::{CloseInfo, Connection, ConnectionParts},
    envelope::{ErrorCode, ErrorEnvelope},
    handler::{INTERNAL_ERROR, Rejection},
    metrics::Metrics,
    route::RouteState,
    session,
    topics::{PublishError, Topics},
};

struct Shared {
    routes: Vec<Arc<RouteState>>,
    router: matchit::Router<usize>,
    settings: Settings,
    static_files: Option<ServeDir>,
    token: CancellationToken,
    tracker: TaskTracker,
    metrics: Arc<Metrics>,
    topics: Arc<Topics>,
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
    /// `on_disconnect`, and let [`Server::run`] return once drained (or after the drain timeout).
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
    /// returns the number of connections it was queued for (0 for a topic without subscribers).
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

    /// The connections subscribed to `topic` now.
    #[must_use]
    pub fn topic_members(&self, topic: &str) -> Vec<Connection> {
        self.shared.topics.members(topic)
    }

    /// How many connections are subscribed to `topic` now.
    #[must_use]
    pub fn topic_count(&self, topic: &str) -> usize {
        self.shared.topics.count(topic)
    }

    /// Every topic with at least one subscriber.
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        self.shared.topics.names()
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
    pub(crate) fn new(app: App, listener: TcpListener) -> Result<Self, Error> {
        let local_addr = listener.local_addr().map_err(Error::Serve)?;
        let static_files = app.settings.static_dir.as_ref().map(ServeDir::new);
        let shared = Arc::new(Shared {
            routes: app.routes,
            router: app.router,
            settings: app.settings,
            static_files,
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
            metrics: Arc::new(Metrics::default()),
            topics: Arc::new(Topics::new(app.topic_schemas)),
        });
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

    /// Serve until [`ServerHandle::shutdown`], then drain connections.
    ///
    /// # Errors
    /// [`Error::Serve`] when the listener fails.
    pub async fn run(self) -> Result<(), Error> {
        let shared = Arc::clone(&self.handle.shared);
        let router = Router::new().fallback(entry).with_state(Arc::clone(&shared));
        let token = shared.token.clone();
        // Small frames go out at once instead of waiting for the previous one's ACK (Nagle), as
        // in every WebSocket server people compare us with.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
        shared.tracker.close();
        if tokio::time::timeout(shared.settings.drain_timeout, shared.tracker.wait()).await.is_err() {
            tracing::warn!(
                remaining = shared.tracker.len(),
                "drain timeout reached; dropping connections still open"
            );
        }
        served.map_err(Error::Serve)
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

/// Every request lands here: a WebSocket route, a static file, or 404.
async fn entry(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Result<Response, Infallible> {
    let matched = shared.router.at(request.uri().path()).ok().map(|m| {
        let params: Vec<(String, String)> =
            m.params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        (*m.value, params)
    });
    let Some((index, path_params)) = matched else {
        return Ok(match &shared.static_files {
            Some(files) => match files.clone().oneshot(request).await {
                Ok(response) => response.map(Body::new),
                Err(never) => match never {},
            },
            None => StatusCode::NOT_FOUND.into_response(),
        });
    };
    let route = Arc::clone(&shared.routes[index]);
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    let limit = route.max_message_size.unwrap_or(shared.settings.max_message_size);
    let conn_parts = ConnectionParts {
        path: parts.uri.path().to_owned(),
        route: Arc::clone(&route.path),
        path_params,
        query,
        headers: detached(&parts.headers),
        remote_addr,
        metrics: Arc::clone(&shared.metrics),
        topics: Arc::clone(&shared.topics),
    };
    let (conn, outgoing) = Connection::new(conn_parts, &shared.settings, shared.token.child_token());
    // Until the session owns it, dropping the request (refusal, failed upgrade, client gone
    // during on_connect) must leave the topics on_connect may have joined.
    let pending = Pending(Some(conn.clone()));
    let connected = AssertUnwindSafe(route.handler.on_connect(&conn)).catch_unwind().await;
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
        return Ok((rejection.status, [(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    Metrics::incr(&shared.metrics.connections_accepted);
    shared.metrics.connections_active.fetch_add(1, Ordering::Relaxed);
    let failed = (Arc::clone(&route), conn.clone(), Arc::clone(&shared));
    let tracker = shared.tracker.clone();
    let fanout_flush = shared.settings.fanout_flush;
    let response = upgrade
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
            tracker.track_future(session::run(socket, route, conn, outgoing, fanout_flush))
        });
    Ok(response)
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
        }
    }
}
