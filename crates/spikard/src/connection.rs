//! The connection context: who is connected, on which route, and a way to talk to them.
//!
//! A [`Connection`] is a cheap handle (an `Arc` inside): clone it into a background task to push
//! messages or close the socket at any time while it is open, not only as a reply.

use std::{
    fmt,
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use axum::{
    extract::ws::{CloseFrame, Message, Utf8Bytes},
    http::{Extensions, HeaderMap, HeaderValue, header::COOKIE},
};
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    app::Settings,
    burst::Bursts,
    close,
    heartbeat::HeartbeatSettings,
    metrics::Metrics,
    outgoing::{self, OutgoingReceiver, OutgoingSender, Refused},
    topics::{PublishError, Topics},
};

/// A process-unique connection number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a message could not be queued for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closed or closing.
    #[error("connection is closed")]
    Closed,
    /// The client's outgoing queue was full (its message or byte bound): the client is not
    /// reading. The connection is being closed with code 1013.
    #[error("outgoing queue is full; the connection is being closed with 1013")]
    QueueFull,
}

/// How a connection ended, as given to `on_disconnect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code: the client's when it closed first, the server's when the server did,
    /// 1005 when the client's close frame had no code, 1006 when the socket just ended.
    pub code: u16,
    /// The reason text of that close frame (may be empty).
    pub reason: String,
}

/// What a connection was opened with: filled by the server before `on_connect`.
pub(crate) struct ConnectionParts {
    pub(crate) path: String,
    pub(crate) route: Arc<str>,
    pub(crate) path_params: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) subprotocol: Option<String>,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) topics: Arc<Topics>,
}

struct Inner {
    id: ConnectionId,
    parts: ConnectionParts,
    state: Mutex<Extensions>,
    subscriptions: Mutex<Vec<Arc<str>>>,
    outgoing: OutgoingSender,
    heartbeat: HeartbeatSettings,
    closing: AtomicBool,
    /// Something other than a published message was queued since the writer last looked: the
    /// writer flushes at once instead of waiting out the fan-out flush interval.
    urgent: AtomicBool,
    close_info: Mutex<Option<CloseInfo>>,
    close_sent: Notify,
    token: CancellationToken,
    /// Messages admitted to the outgoing queue so far (counted before they enter it).
    queued: AtomicU64,
    /// Messages the writer (or the reader, see `deliver` in the session) has put into the
    /// socket's write buffer so far.
    fed: AtomicU64,
    /// The writer fed a message while the reader waits in [`Connection::wait_fed`].
    fed_changed: Notify,
    /// The reader is waiting in [`Connection::wait_fed`].
    reader_waiting: AtomicBool,
    /// The reader fed a reply into the socket itself: the writer flushes.
    flush_wanted: Notify,
    /// The writer waits for the socket (the client is not reading).
    writer_stalled: AtomicBool,
}

/// One WebSocket connection, as seen by handlers and hooks.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("path", &self.inner.parts.path)
            .field("remote_addr", &self.inner.parts.remote_addr)
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(
        parts: ConnectionParts,
        settings: &Settings,
        token: CancellationToken,
    ) -> (Self, OutgoingReceiver) {
        let (tx, rx) = outgoing::channel(settings.outgoing_queue, settings.outgoing_queue_bytes);
        let inner = Inner {
            id: ConnectionId::next(),
            parts,
            state: Mutex::new(Extensions::new()),
            subscriptions: Mutex::new(Vec::new()),
            outgoing: tx,
            heartbeat: settings.heartbeat,
            closing: AtomicBool::new(false),
            urgent: AtomicBool::new(false),
            close_info: Mutex::new(None),
            close_sent: Notify::new(),
            token,
            queued: AtomicU64::new(0),
            fed: AtomicU64::new(0),
            fed_changed: Notify::new(),
            reader_waiting: AtomicBool::new(false),
            flush_wanted: Notify::new(),
            writer_stalled: AtomicBool::new(false),
        };
        (Self { inner: Arc::new(inner) }, rx)
    }

    /// A connection on no socket, for unit tests of what only needs its handle.
    #[cfg(test)]
    pub(crate) fn for_tests() -> (Self, OutgoingReceiver) {
        Self::for_tests_with(HeaderMap::new())
    }

    /// [`Connection::for_tests`] whose upgrade request had these `headers`.
    #[cfg(test)]
    pub(crate) fn for_tests_with(headers: HeaderMap) -> (Self, OutgoingReceiver) {
        let parts = ConnectionParts {
            path: "/test".to_owned(),
            route: Arc::from("/test"),
            path_params: Vec::new(),
            query: Vec::new(),
            headers,
            subprotocol: None,
            remote_addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            metrics: Arc::default(),
            topics: Arc::new(Topics::new(Vec::new(), Arc::new(crate::pubsub::Local))),
        };
        Self::new(parts, &crate::App::new().settings, CancellationToken::new())
    }

    /// This connection's id, unique within the process.
    #[must_use]
    pub fn id(&self) -> ConnectionId {
        self.inner.id
    }

    /// The request path the client connected to (without the query string).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.inner.parts.path
    }

    /// The route pattern that matched, e.g. `/rooms/{room}`.
    #[must_use]
    pub fn route(&self) -> &str {
        &self.inner.parts.route
    }

    /// Path parameters in the order the pattern names them.
    #[must_use]
    pub fn path_params(&self) -> &[(String, String)] {
        &self.inner.parts.path_params
    }

    /// One path parameter by name.
    #[must_use]
    pub fn path_param(&self, name: &str) -> Option<&str> {
        lookup(&self.inner.parts.path_params, name)
    }

    /// Query parameters in the order they appear (a key may repeat).
    #[must_use]
    pub fn query_params(&self) -> &[(String, String)] {
        &self.inner.parts.query
    }

    /// The first value of one query parameter.
    #[must_use]
    pub fn query_param(&self, name: &str) -> Option<&str> {
        lookup(&self.inner.parts.query, name)
    }

    /// The headers of the upgrade request.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.parts.headers
    }

    /// The headers of the upgrade request as `(name, value)` pairs, one per name, in order:
    /// names in lower case, the values of a repeated header joined with `", "` (RFC 9110 §5.3),
    /// bytes that are not UTF-8 replaced. What the Node.js and Ruby connections show.
    #[must_use]
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        let headers = &self.inner.parts.headers;
        let text = |value: &HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
        let joined = |name| headers.get_all(name).iter().map(text).collect::<Vec<_>>().join(", ");
        headers.keys().map(|name| (name.as_str().to_owned(), joined(name))).collect()
    }

    /// The subprotocol the upgrade selected from the route's
    /// [`subprotocols`](crate::Route::subprotocols), if any.
    #[must_use]
    pub fn subprotocol(&self) -> Option<&str> {
        self.inner.parts.subprotocol.as_deref()
    }

    /// The cookies of the upgrade request, as `(name, value)` pairs in the order sent (every
    /// `Cookie` header, RFC 6265 §5.4): values keep their percent-encoding, surrounding double
    /// quotes are removed, and pairs without a name or `=` are skipped.
    #[must_use]
    pub fn cookies(&self) -> Vec<(String, String)> {
        let headers = self.inner.parts.headers.get_all(COOKIE);
        let pairs = headers.iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';'));
        pairs
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                let (name, value) = (name.trim(), value.trim());
                let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
                (!name.is_empty()).then(|| (name.to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// The value of the first cookie named `name`, if the upgrade request sent one.
    #[must_use]
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().into_iter().find(|(n, _)| n == name).map(|(_, value)| value)
    }

    /// The client's address.
    #[must_use]
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.parts.remote_addr
    }

    /// Per-connection state: typed values the handler keeps between messages.
    ///
    /// ```
    /// # fn demo(conn: &spikard::Connection) {
    /// #[derive(Clone)]
    /// struct Count(u32);
    /// let mut state = conn.state();
    /// let next = state.get::<Count>().map_or(1, |c| c.0 + 1);
    /// state.insert(Count(next));
    /// # }
    /// ```
    pub fn state(&self) -> MutexGuard<'_, Extensions> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a JSON value for the client.
    ///
    /// # Errors
    /// [`SendError::Closed`] once the connection is closing; [`SendError::QueueFull`] when the
    /// client stopped reading and its queue is full, in messages or in bytes (the connection is
    /// then closed with 1013).
    pub fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        let text = serde_json::to_string(value).map_err(|_| SendError::Closed)?;
        self.queue(Message::Text(text.into()))
    }

    /// Queue a text frame, sent as is.
    ///
    /// # Errors
    /// As [`Connection::send_json`].
    pub fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), SendError> {
        self.queue(Message::Text(text.into()))
    }

    /// Queue a binary frame.
    ///
    /// # Errors
    /// As [`Connection::send_json`].
    pub fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.queue(Message::Binary(data.into()))
    }

    pub(crate) fn queue(&self, message: Message) -> Result<(), SendError> {
        self.inner.urgent.store(true, Ordering::Release);
        self.queue_published(message)
    }

    /// Queue a message published to a topic: the writer may hold it for the fan-out flush
    /// interval to send it with the ones that follow.
    pub(crate) fn queue_published(&self, message: Message) -> Result<(), SendError> {
        if self.is_closing() {
            return Err(SendError::Closed);
        }
        self.count_queued();
        match self.inner.outgoing.try_send(message) {
            Ok(()) => Ok(()),
            Err(Refused::Closed) => Err(SendError::Closed),
            Err(full) => {
                self.slow_consumer(full);
                Err(SendError::QueueFull)
            }
        }
    }

    /// The client's queue refused a message: close it with 1013, dropping what is queued.
    fn slow_consumer(&self, full: Refused) {
        let bound = if full == Refused::Bytes { "bytes" } else { "messages" };
        tracing::warn!(connection = %self.id(), bound, "outgoing queue full; closing with 1013");
        Metrics::incr(&self.inner.parts.metrics.slow_consumers_closed);
        self.force_close(close::TRY_AGAIN_LATER, "client is not reading fast enough");
    }

    /// Join `topic`: messages published to it reach this connection until it unsubscribes or
    /// disconnects. `false` when already subscribed or when the connection is closing.
    pub fn subscribe(&self, topic: &str) -> bool {
        let mut mine = self.inner.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_closing() || !self.inner.parts.topics.subscribe(topic, self) {
            return false;
        }
        mine.push(Arc::from(topic));
        true
    }

    /// Leave `topic`; `false` when this connection was not subscribed to it.
    pub fn unsubscribe(&self, topic: &str) -> bool {
        let mut mine = self.inner.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        mine.retain(|t| &**t != topic);
        self.inner.parts.topics.unsubscribe(topic, self.id())
    }

    /// The topics this connection is subscribed to.
    #[must_use]
    pub fn subscriptions(&self) -> Vec<String> {
        let mine = self.inner.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        mine.iter().map(|t| t.to_string()).collect()
    }

    /// Publish `value` to every subscriber of `topic`, this connection included when it is
    /// subscribed. Validated against the topic's schema (if any) and serialised once; returns the
    /// number of this node's connections it was queued for. With a shared backend
    /// ([`App::pubsub`](crate::App::pubsub)) it also reaches every other node's subscribers.
    ///
    /// # Errors
    /// [`PublishError`] when the value fails the topic's schema or cannot be serialised; then it
    /// was queued for nobody.
    pub fn publish<T: Serialize + ?Sized>(&self, topic: &str, value: &T) -> Result<usize, PublishError> {
        let parts = &self.inner.parts;
        parts.topics.publish_value(topic, value, None, &parts.metrics)
    }

    /// Publish `value` to every subscriber of `topic` except this connection.
    ///
    /// # Errors
    /// As [`Connection::publish`].
    pub fn publish_others<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<usize, PublishError> {
        let parts = &self.inner.parts;
        parts.topics.publish_value(topic, value, Some(self.id()), &parts.metrics)
    }

    /// How many connections of this node are subscribed to `topic` now (node-local, as
    /// [`pubsub`](crate::pubsub) explains).
    #[must_use]
    pub fn topic_count(&self, topic: &str) -> usize {
        self.inner.parts.topics.count(topic)
    }

    /// End the connection's life in the server: mark it closing (so no later subscribe sticks),
    /// leave every topic, and stop its tasks. Used by the session's end and by a connection that
    /// never reached its session.
    pub(crate) fn finish(&self) {
        self.mark_closing();
        self.leave_all();
        self.inner.token.cancel();
    }

    /// Leave every topic (see [`Connection::finish`] for the order this needs).
    fn leave_all(&self) {
        let mut mine = self.inner.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        for topic in mine.drain(..) {
            self.inner.parts.topics.unsubscribe(&topic, self.id());
        }
    }

    /// Queue a reply from the message loop. Like a push, a reply that finds the queue full (in
    /// messages or bytes) closes the connection with 1013: the client stopped reading.
    pub(crate) fn send_reply(&self, message: Message) {
        self.inner.urgent.store(true, Ordering::Release);
        self.count_queued();
        match self.inner.outgoing.try_send(message) {
            Ok(()) | Err(Refused::Closed) => {}
            // Closing already (the handler closed): the reply is dropped with the queue.
            Err(_) if self.is_closing() => {}
            Err(full) => self.slow_consumer(full),
        }
    }

    /// Queue a ping for the heartbeat. A full queue drops it: the missing pong then tells.
    /// Counted only once queued (the reader, its only caller, counts it before it next checks
    /// [`Connection::wait_fed`]): a dropped ping is never fed, and the reader would wait for it.
    pub(crate) fn queue_ping(&self) {
        self.inner.urgent.store(true, Ordering::Release);
        if self.inner.outgoing.try_send(Message::Ping(Bytes::new())).is_ok() {
            self.count_queued();
        }
    }

    /// The app's heartbeat settings, for the connection's reader.
    pub(crate) fn heartbeat(&self) -> HeartbeatSettings {
        self.inner.heartbeat
    }

    /// Whether something other than a published message was queued since the last call.
    pub(crate) fn take_urgent(&self) -> bool {
        self.inner.urgent.swap(false, Ordering::AcqRel)
    }

    /// Close the connection with `code` and `reason`, after every message queued before.
    /// Closing twice keeps the first code.
    pub fn close(&self, code: u16, reason: &str) {
        self.close_queued(code, reason);
    }

    /// [`Connection::close`], saying whether the close frame is now waiting in the queue (behind
    /// every message queued before it).
    pub(crate) fn close_queued(&self, code: u16, reason: &str) -> bool {
        if self.inner.closing.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.record_close(code, reason);
        let frame = CloseFrame { code, reason: reason.into() };
        self.inner.urgent.store(true, Ordering::Release);
        self.count_queued();
        if self.inner.outgoing.try_send(Message::Close(Some(frame))).is_err() {
            // Queue full or writer gone: close without waiting for the queue.
            self.inner.token.cancel();
            return false;
        }
        true
    }

    /// Count a message about to enter the outgoing queue (or, from the reader, the socket's write
    /// buffer directly). Counted before it enters, and never taken back when it does not: a
    /// refused message means the connection is closing, which ends [`Connection::wait_fed`] too.
    pub(crate) fn count_queued(&self) {
        self.inner.queued.fetch_add(1, Ordering::SeqCst);
    }

    /// Called by the writer for every message it put into the socket's write buffer.
    pub(crate) fn note_fed(&self) {
        self.inner.fed.fetch_add(1, Ordering::SeqCst);
        if self.inner.reader_waiting.load(Ordering::SeqCst) {
            self.inner.fed_changed.notify_one();
        }
    }

    /// The writer starts or stops waiting for the socket. While it waits (the client is not
    /// reading) [`Connection::wait_fed`] does not: the reader reads on, so that replies fill the
    /// queue up to its bounds and a client that stopped reading is closed with 1013.
    pub(crate) fn writer_stalled(&self, stalled: bool) {
        self.inner.writer_stalled.store(stalled, Ordering::SeqCst);
        if stalled {
            self.inner.fed_changed.notify_one();
        }
    }

    /// Every message admitted to the queue so far is in the socket's write buffer.
    pub(crate) fn caught_up(&self) -> bool {
        self.inner.fed.load(Ordering::SeqCst) >= self.inner.queued.load(Ordering::SeqCst)
    }

    /// The reader fed a reply into the socket itself: have the writer flush it, at once.
    pub(crate) fn want_flush(&self) {
        self.inner.urgent.store(true, Ordering::Release);
        self.inner.flush_wanted.notify_one();
    }

    /// Resolves when [`Connection::want_flush`] was called (or had been, since the last time).
    pub(crate) fn flush_wanted(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.flush_wanted.notified()
    }

    /// Wait until every message queued so far is in the socket's write buffer (not necessarily
    /// flushed), or the connection is closing. The reader calls it before it reads the next
    /// frame: once the protocol engine has read a client's close frame it refuses data frames,
    /// so a reply still in the queue then would be lost. It only waits when the reader's reply
    /// had to join the queue behind other messages (pushes from the handler, say), and not while
    /// the writer waits for a client that stopped reading.
    pub(crate) async fn wait_fed(&self) {
        let inner = &self.inner;
        let target = inner.queued.load(Ordering::SeqCst);
        if inner.fed.load(Ordering::SeqCst) >= target {
            return;
        }
        inner.reader_waiting.store(true, Ordering::SeqCst);
        loop {
            let changed = inner.fed_changed.notified();
            if inner.fed.load(Ordering::SeqCst) >= target
                || self.is_closing()
                || inner.writer_stalled.load(Ordering::SeqCst)
            {
                break;
            }
            tokio::select! {
                () = changed => {}
                () = inner.token.cancelled() => break,
            }
        }
        inner.reader_waiting.store(false, Ordering::SeqCst);
    }

    /// Close at once, dropping queued messages (slow consumers, shutdown, broken frames).
    pub(crate) fn force_close(&self, code: u16, reason: &str) {
        self.inner.closing.store(true, Ordering::Release);
        self.record_close(code, reason);
        self.inner.token.cancel();
    }

    /// `true` once a close was started by either side.
    #[must_use]
    pub fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    /// Remember how the connection ends; the first record wins.
    pub(crate) fn record_close(&self, code: u16, reason: &str) {
        let mut info = self.inner.close_info.lock().unwrap_or_else(PoisonError::into_inner);
        if info.is_none() {
            *info = Some(CloseInfo { code, reason: reason.to_owned() });
        }
    }

    pub(crate) fn mark_closing(&self) {
        self.inner.closing.store(true, Ordering::Release);
    }

    pub(crate) fn close_info(&self) -> Option<CloseInfo> {
        self.inner.close_info.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.inner.token
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.parts.metrics
    }

    /// The server's readers in the middle of a burst (see [`crate::burst`]).
    pub(crate) fn bursts(&self) -> &Bursts {
        &self.inner.parts.topics.bursts
    }

    pub(crate) fn close_sent(&self) -> &Notify {
        &self.inner.close_sent
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::Connection;

    #[test]
    fn header_pairs_join_a_repeated_header_in_order() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("accept", HeaderValue::from_static("text/plain"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.append("x-bytes", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let (conn, _rx) = Connection::for_tests_with(headers);
        let pairs = conn.header_pairs();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("x-a", "1, 2"), ("accept", "text/plain"), ("x-bytes", "caf\u{fffd}")]);
    }
}
