//! One upgraded connection: the reader loop (parse, validate, handle, reply, in order) and the
//! writer task that owns the socket's sending half.

use std::{
    panic::AssertUnwindSafe,
    pin::{Pin, pin},
    sync::Arc,
    time::Duration,
};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{
    FutureExt, SinkExt, StreamExt,
    stream::{Peekable, SplitSink, SplitStream},
};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::WaitForCancellationFuture;

use crate::{
    burst::Burst,
    close,
    connection::{CloseInfo, Connection},
    envelope::{ErrorEnvelope, MAX_FIELD_ERRORS},
    handler::{HandlerError, Reply},
    heartbeat::{Beat, Heartbeat},
    metrics::Metrics,
    outgoing::OutgoingReceiver,
    route::RouteState,
};

/// How long a closing handshake may take before the socket is dropped.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Run an upgraded connection to its end, then `on_disconnect` exactly once.
pub(crate) async fn run(
    socket: WebSocket,
    route: Arc<RouteState>,
    conn: Connection,
    outgoing: OutgoingReceiver,
    fanout_flush: Duration,
) {
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write_loop(sink, outgoing, conn.clone(), fanout_flush));
    read_loop(&mut stream.peekable(), &route, &conn).await;
    conn.finish();
    let _ = writer.await;
    let info = conn.close_info().unwrap_or(CloseInfo { code: close::ABNORMAL, reason: String::new() });
    conn.metrics().connections_active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(connection = %conn.id(), code = info.code, "connection ended");
    let hook = AssertUnwindSafe(route.handler.on_disconnect(&conn, info)).catch_unwind();
    if hook.await.is_err() {
        tracing::error!(route = %route.path, "on_disconnect panicked");
    }
}

/// Read frames until the socket ends, the closing handshake times out or a ping goes unanswered.
///
/// The reader is in a burst (see [`crate::burst`]) from a frame's arrival until its handler has
/// finished and no further frame is waiting. It also keeps the connection's heartbeat (see
/// [`crate::heartbeat`]), whose timer is only looked at when no frame is waiting.
async fn read_loop(stream: &mut Peekable<SplitStream<WebSocket>>, route: &RouteState, conn: &Connection) {
    let mut burst = Burst::new(conn.bursts());
    // Built once and polled again on every turn: re-creating them per frame costs more than the
    // frame's own work on small messages.
    let mut cancelled = pin!(conn.token().cancelled());
    let mut close_sent = pin!(conn.close_sent().notified());
    let mut handshake_timeout = pin!(tokio::time::sleep(Duration::from_secs(86_400)));
    let mut heartbeat = Heartbeat::new(conn.heartbeat(), Instant::now());
    let mut beat = pin!(tokio::time::sleep_until(heartbeat.deadline(Instant::now())));
    let mut closing = false;
    loop {
        let frame = tokio::select! {
            biased;
            () = &mut cancelled, if !closing => {
                // Shutdown or forced close: the writer sends the close frame; wait for the echo.
                conn.record_close(close::GOING_AWAY, "server shutting down");
                closing = true;
                handshake_timeout.as_mut().reset(Instant::now() + CLOSE_TIMEOUT);
                continue;
            }
            () = &mut close_sent, if !closing => {
                closing = true;
                handshake_timeout.as_mut().reset(Instant::now() + CLOSE_TIMEOUT);
                continue;
            }
            () = &mut handshake_timeout, if closing => return,
            frame = stream.next() => frame,
            () = &mut beat, if !closing && heartbeat.is_on() => {
                let now = Instant::now();
                match heartbeat.fire(now) {
                    Beat::Wait => {}
                    Beat::Ping => conn.queue_ping(),
                    Beat::Idle => conn.close(close::GOING_AWAY, "idle timeout"),
                    Beat::PongMissed => {
                        // The peer is gone: no closing handshake to wait for.
                        tracing::debug!(connection = %conn.id(), "no pong within the ping timeout");
                        conn.force_close(close::INTERNAL_ERROR, "ping timeout");
                        return;
                    }
                }
                beat.as_mut().reset(heartbeat.deadline(now));
                continue;
            }
        };
        match frame {
            None => {
                conn.record_close(close::ABNORMAL, "");
                return;
            }
            Some(Err(err)) => {
                tracing::debug!(connection = %conn.id(), error = %err, "read failed");
                match classify(err) {
                    Some((code, reason)) => conn.close(code, reason),
                    None => conn.record_close(close::ABNORMAL, ""),
                }
                return;
            }
            Some(Ok(message)) => {
                match message {
                    Message::Pong(_) => heartbeat.pong(),
                    Message::Text(_) | Message::Binary(_) => heartbeat.data(),
                    Message::Ping(_) | Message::Close(_) => {}
                }
                if conn.is_closing() {
                    // No handler runs any more: what is left is not a burst.
                    burst.leave();
                    if let Message::Close(frame) = message {
                        record_client_close(conn, frame);
                    }
                    continue;
                }
                burst.enter();
                handle_frame(message, route, conn).await;
                if Pin::new(&mut *stream).peek().now_or_never().is_none() {
                    burst.leave();
                }
            }
        }
    }
}

/// The close code to send for a read error, `None` when the socket itself broke.
fn classify(err: axum::Error) -> Option<(u16, &'static str)> {
    let err = err.into_inner().downcast::<tungstenite::Error>().ok()?;
    match *err {
        tungstenite::Error::Capacity(_) => Some((close::MESSAGE_TOO_BIG, "message too large")),
        tungstenite::Error::Utf8(_) => Some((close::INVALID_PAYLOAD, "text message is not valid UTF-8")),
        tungstenite::Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => None,
        tungstenite::Error::Protocol(_) | tungstenite::Error::AttackAttempt => {
            Some((close::PROTOCOL_ERROR, "protocol error"))
        }
        _ => None,
    }
}

fn record_client_close(conn: &Connection, frame: Option<CloseFrame>) {
    match frame {
        Some(frame) => conn.record_close(frame.code, &frame.reason),
        None => conn.record_close(close::NO_STATUS, ""),
    }
    conn.mark_closing();
}

async fn handle_frame(message: Message, route: &RouteState, conn: &Connection) {
    let metrics = conn.metrics();
    match message {
        Message::Text(text) => {
            Metrics::incr(&metrics.messages_received);
            let value = if route.raw_text {
                Value::String(text.as_str().to_owned())
            } else {
                match serde_json::from_str(text.as_str()) {
                    Ok(value) => value,
                    Err(err) => {
                        Metrics::incr(&metrics.invalid_json);
                        return reply_envelope(conn, &ErrorEnvelope::invalid_json(&err));
                    }
                }
            };
            if let Some(schema) = &route.message_schema {
                if !schema.is_valid(&value) {
                    Metrics::incr(&metrics.validation_failed);
                    return reply_envelope(conn, &ErrorEnvelope::validation(schema.errors(&value)));
                }
            }
            let result = guard(route.handler.handle_message(conn, value)).await;
            match result {
                Ok(Some(reply)) => send_reply(route, conn, reply),
                Ok(None) => {}
                Err(err) => handler_failed(route, conn, err),
            }
        }
        Message::Binary(data) => {
            Metrics::incr(&metrics.messages_received);
            if !route.handler.accepts_binary() {
                conn.close(close::UNSUPPORTED_DATA, "binary messages are not accepted on this route");
                return;
            }
            match guard(route.handler.handle_binary(conn, data)).await {
                Ok(Some(Reply::Binary(bytes))) => conn.send_reply(Message::Binary(bytes)),
                Ok(Some(Reply::Json(reply))) => send_reply(route, conn, reply),
                Ok(None) => {}
                Err(err) => handler_failed(route, conn, err),
            }
        }
        Message::Close(frame) => record_client_close(conn, frame),
        // tungstenite answers pings itself; pongs need nothing.
        Message::Ping(_) | Message::Pong(_) => {}
    }
}

/// Await a handler future, turning a panic into a handler error.
async fn guard<T>(fut: impl Future<Output = Result<T, HandlerError>>) -> Result<T, HandlerError> {
    AssertUnwindSafe(fut).catch_unwind().await.unwrap_or_else(|panic| {
        let detail = panic_message(&*panic);
        tracing::error!(detail, "handler panicked");
        Err(HandlerError::internal(detail))
    })
}

/// The text of a panic's payload (`panic!` with a message gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

fn handler_failed(route: &RouteState, conn: &Connection, err: HandlerError) {
    let metrics = conn.metrics();
    match &err {
        HandlerError::Invalid { errors } => {
            Metrics::incr(&metrics.validation_failed);
            let paths: Vec<&str> = errors.iter().take(MAX_FIELD_ERRORS).map(|e| e.path.as_str()).collect();
            tracing::debug!(route = %route.path, connection = %conn.id(), ?paths, "refused by the handler's type");
        }
        HandlerError::Client { message } => {
            Metrics::incr(&metrics.handler_errors);
            tracing::debug!(route = %route.path, connection = %conn.id(), error = %message, "handler error");
        }
        HandlerError::Internal { detail } => {
            Metrics::incr(&metrics.handler_errors);
            tracing::debug!(route = %route.path, connection = %conn.id(), detail, "handler failed");
        }
    }
    reply_envelope(conn, &err.envelope());
}

/// Send a handler's reply: checked against the response schema, then sent as JSON text, except a
/// string on a raw-text route, which goes out as that text.
fn send_reply(route: &RouteState, conn: &Connection, reply: Value) {
    if let Some(schema) = &route.response_schema {
        if !schema.is_valid(&reply) {
            Metrics::incr(&conn.metrics().replies_dropped);
            let paths: Vec<String> = schema.errors(&reply).take(MAX_FIELD_ERRORS).map(|e| e.path).collect();
            tracing::warn!(route = %route.path, ?paths, "reply failed the response schema; dropped");
            return;
        }
    }
    let reply = match reply {
        Value::String(text) if route.raw_text => return conn.send_reply(Message::Text(text.into())),
        reply => reply,
    };
    match serde_json::to_string(&reply) {
        Ok(text) => conn.send_reply(Message::Text(text.into())),
        Err(err) => tracing::error!(route = %route.path, error = %err, "reply not serialisable"),
    }
}

fn reply_envelope(conn: &Connection, envelope: &ErrorEnvelope) {
    conn.send_reply(Message::Text(envelope.to_json().into()));
}

/// Drain the outgoing queue into the socket, batching writes, until a close frame went out, the
/// socket broke, or the connection was cancelled. Cancelled (shutdown, a slow consumer, a
/// broken frame): send the recorded close code (1001 by default) after whatever frame was being
/// written, for at most [`CLOSE_TIMEOUT`], so a client that reads again still gets it.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut outgoing: OutgoingReceiver,
    conn: Connection,
    interval: Duration,
) {
    if let Err(Stop::Cancelled) = pump(&mut sink, &mut outgoing, &conn, interval).await {
        let info = conn
            .close_info()
            .unwrap_or(CloseInfo { code: close::GOING_AWAY, reason: "server shutting down".to_owned() });
        conn.record_close(info.code, &info.reason);
        let frame = CloseFrame { code: info.code, reason: info.reason.into() };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
}

/// Why the writer stopped before its queue ended or a close frame went out.
enum Stop {
    /// The connection was cancelled (possibly while a write was blocked on a client that stopped
    /// reading).
    Cancelled,
    /// The socket broke.
    Broken,
}

/// The writer's loop: `Ok` once a queued close frame went out or the queue ended.
///
/// Every frame waiting in the queue is written before one flush. A batch of published messages
/// only (no reply, direct send or close) is held while some connection's reader is in a burst
/// (see [`crate::burst`]), for at most `interval`, taking in what is queued meanwhile: a
/// subscriber gets what a burst published in one socket write instead of one per message.
/// Anything else queued meanwhile ends the hold at once.
async fn pump(
    sink: &mut SplitSink<WebSocket, Message>,
    outgoing: &mut OutgoingReceiver,
    conn: &Connection,
    interval: Duration,
) -> Result<(), Stop> {
    let mut cancelled = pin!(conn.token().cancelled());
    loop {
        let message = tokio::select! {
            biased;
            () = &mut cancelled => return Err(Stop::Cancelled),
            message = outgoing.recv() => message,
        };
        let Some(message) = message else { return Ok(()) };
        if feed(sink, outgoing, conn, cancelled.as_mut(), message).await? == Fed::Closed {
            return Ok(());
        }
        if !conn.take_urgent() && !interval.is_zero() && conn.bursts().any() {
            let mut hold = pin!(tokio::time::sleep(interval));
            loop {
                let mut ended = pin!(conn.bursts().ended());
                ended.as_mut().enable();
                if !conn.bursts().any() {
                    break;
                }
                let message = tokio::select! {
                    biased;
                    () = &mut cancelled => return Err(Stop::Cancelled),
                    () = &mut ended => break,
                    () = &mut hold => break,
                    message = outgoing.recv() => message,
                };
                let Some(message) = message else { break };
                if feed(sink, outgoing, conn, cancelled.as_mut(), message).await? == Fed::Closed {
                    return Ok(());
                }
                if conn.take_urgent() {
                    break;
                }
            }
        }
        write(conn, cancelled.as_mut(), sink.flush()).await?;
    }
}

/// What [`feed`] left behind.
#[derive(PartialEq, Eq)]
enum Fed {
    /// Frames are buffered in the sink, waiting for a flush.
    Buffered,
    /// A close frame went out (flushed): the writer is done.
    Closed,
}

/// Write `message` and every message already waiting behind it into the sink without flushing,
/// except a close frame, which is flushed at once and ends the batch.
async fn feed(
    sink: &mut SplitSink<WebSocket, Message>,
    outgoing: &mut OutgoingReceiver,
    conn: &Connection,
    mut cancelled: Pin<&mut WaitForCancellationFuture<'_>>,
    mut message: Message,
) -> Result<Fed, Stop> {
    loop {
        let is_close = matches!(message, Message::Close(_));
        write(conn, cancelled.as_mut(), sink.feed(message)).await?;
        if is_close {
            let _ = write(conn, cancelled.as_mut(), sink.flush()).await;
            conn.close_sent().notify_one();
            return Ok(Fed::Closed);
        }
        match outgoing.try_recv() {
            Ok(next) => message = next,
            Err(_) => return Ok(Fed::Buffered),
        }
    }
}

/// Finish one socket write unless the connection is cancelled while the write is blocked (a
/// client that stopped reading).
async fn write(
    conn: &Connection,
    cancelled: Pin<&mut WaitForCancellationFuture<'_>>,
    op: impl Future<Output = Result<(), axum::Error>>,
) -> Result<(), Stop> {
    tokio::select! {
        biased;
        result = op => result.map_err(|_| {
            conn.force_close(close::ABNORMAL, "");
            Stop::Broken
        }),
        () = cancelled => Err(Stop::Cancelled),
    }
}
