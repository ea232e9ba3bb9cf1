//! One upgraded connection: the reader loop (parse, validate, handle, reply, in order) and the
//! writer task that owns the socket's sending half.

use std::{
    future::poll_fn,
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
use tokio::{
    sync::{Mutex, MutexGuard},
    time::Instant,
};
use tokio_util::sync::WaitForCancellationFuture;

use crate::{
    burst::Burst,
    close,
    connection::{CloseInfo, Connection},
    dispatch::{ACK_ID, ack_id},
    envelope::{ErrorEnvelope, MAX_FIELD_ERRORS},
    handler::{HandlerError, Reply},
    heartbeat::{Beat, Heartbeat},
    metrics::Metrics,
    outgoing::OutgoingReceiver,
    route::RouteState,
    schema::CompiledSchema,
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
    let sink: SharedSink = Arc::new(Mutex::new(sink));
    let mut writer = tokio::spawn(write_loop(Arc::clone(&sink), outgoing, conn.clone(), fanout_flush));
    let drain = read_loop(&mut stream.peekable(), &route, &conn, &sink).await;
    // A close frame queued by the reader waits behind the replies to what it read before:
    // the writer sends them all, then the close frame, and ends.
    let drained = drain && tokio::time::timeout(CLOSE_TIMEOUT, &mut writer).await.is_ok();
    conn.finish();
    if !drained {
        let _ = writer.await;
    }
    let info = conn.close_info().unwrap_or(CloseInfo { code: close::ABNORMAL, reason: String::new() });
    conn.metrics().connections_active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(connection = %conn.id(), code = info.code, "connection ended");
    let hook = AssertUnwindSafe(route.handler.on_disconnect(&conn, info)).catch_unwind();
    if hook.await.is_err() {
        tracing::error!(route = %route.path, "on_disconnect panicked");
    }
}

/// Read frames until the socket ends, the closing handshake times out or a ping goes unanswered.
/// `true` when it ended on a broken frame and queued a close frame for it (the writer has it
/// still to send).
///
/// The reader is in a burst (see [`crate::burst`]) from a frame's arrival until its handler has
/// finished and no further frame is waiting. Before it reads on, its reply is in the protocol
/// engine's write buffer ([`deliver`], [`Connection::wait_fed`]), so it goes out before the answer
/// to a close frame read next. It also keeps the connection's heartbeat (see
/// [`crate::heartbeat`]), whose timer is only looked at when no frame is waiting.
async fn read_loop(
    stream: &mut Peekable<SplitStream<WebSocket>>,
    route: &RouteState,
    conn: &Connection,
    sink: &Mutex<SplitSink<WebSocket, Message>>,
) -> bool {
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
            () = &mut handshake_timeout, if closing => return false,
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
                        return false;
                    }
                }
                beat.as_mut().reset(heartbeat.deadline(now));
                continue;
            }
        };
        match frame {
            None => {
                conn.record_close(close::ABNORMAL, "");
                return false;
            }
            Some(Err(err)) => {
                tracing::debug!(connection = %conn.id(), error = %err, "read failed");
                return match classify(err) {
                    Some((code, reason)) => conn.close_queued(code, reason),
                    None => {
                        conn.record_close(close::ABNORMAL, "");
                        false
                    }
                };
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
                if let Some(reply) = handle_frame(message, route, conn).await {
                    deliver(conn, sink, reply);
                }
                conn.wait_fed().await;
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

/// Handle one frame; the reply to send, if any.
async fn handle_frame(message: Message, route: &RouteState, conn: &Connection) -> Option<Message> {
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
                        return Some(envelope(&ErrorEnvelope::invalid_json(&err)));
                    }
                }
            };
            if let Some(dispatch) = &route.dispatch {
                let branch = match dispatch.select(&value) {
                    Ok(branch) => branch,
                    Err(refusal) => {
                        Metrics::incr(&metrics.validation_failed);
                        return Some(envelope(&refusal));
                    }
                };
                let id = ack_id(&value);
                return match guard(branch.handler.handle_message(conn, value)).await {
                    Ok(Some(reply)) => {
                        let check =
                            Check { schema: branch.reply_schema.as_ref(), branch: Some(&branch.name), id };
                        encode_reply(route, conn, check, reply)
                    }
                    Ok(None) => None,
                    Err(err) => Some(handler_failed(route, conn, err)),
                };
            }
            if let Some(schema) = &route.message_schema {
                if !schema.is_valid(&value) {
                    Metrics::incr(&metrics.validation_failed);
                    return Some(envelope(&ErrorEnvelope::validation(schema.errors(&value))));
                }
            }
            match guard(route.handler.handle_message(conn, value)).await {
                Ok(Some(reply)) => encode_reply(route, conn, Check::route(route), reply),
                Ok(None) => None,
                Err(err) => Some(handler_failed(route, conn, err)),
            }
        }
        Message::Binary(data) => {
            Metrics::incr(&metrics.messages_received);
            if !route.handler.accepts_binary() {
                conn.close(close::UNSUPPORTED_DATA, "binary messages are not accepted on this route");
                return None;
            }
            match guard(route.handler.handle_binary(conn, data)).await {
                Ok(Some(Reply::Binary(bytes))) => Some(Message::Binary(bytes)),
                Ok(Some(Reply::Json(reply))) => encode_reply(route, conn, Check::route(route), reply),
                Ok(None) => None,
                Err(err) => Some(handler_failed(route, conn, err)),
            }
        }
        Message::Close(frame) => {
            record_client_close(conn, frame);
            None
        }
        // tungstenite answers pings itself; pongs need nothing.
        Message::Ping(_) | Message::Pong(_) => None,
    }
}

/// Send the reader's reply: straight into the protocol engine's write buffer when that needs no
/// waiting ([`feed_directly`], the usual case: no task switch, and the writer only flushes),
/// otherwise through the outgoing queue, behind what waits there and under its bounds.
fn deliver(conn: &Connection, sink: &Mutex<SplitSink<WebSocket, Message>>, reply: Message) {
    if let Some(reply) = feed_directly(conn, sink, reply) {
        conn.send_reply(reply);
    }
}

/// Put the reader's reply into the protocol engine if nothing queued before it is still waiting,
/// the writer is not using the sink and the sink takes the frame without waiting (a client that
/// stopped reading makes it wait: the reply then goes through the queue and its bounds). Gives
/// the reply back when it was not taken.
fn feed_directly(
    conn: &Connection,
    sink: &Mutex<SplitSink<WebSocket, Message>>,
    reply: Message,
) -> Option<Message> {
    if !conn.caught_up() || conn.is_closing() {
        return Some(reply);
    }
    let Ok(mut sink) = sink.try_lock() else { return Some(reply) };
    // Checked again with the sink held: the writer may have taken a message meanwhile.
    if !conn.caught_up() {
        return Some(reply);
    }
    match poll_fn(|cx| sink.poll_ready_unpin(cx)).now_or_never() {
        Some(Ok(())) => {}
        None => return Some(reply),
        Some(Err(_)) => {
            conn.force_close(close::ABNORMAL, "");
            return None;
        }
    }
    conn.count_queued();
    // The split sink keeps the frame in its own slot until it is polled again: poll it, so the
    // frame is in the engine now (unless the socket is backed up; then it leaves first anyway,
    // before anything the writer feeds later).
    let fed = sink.start_send_unpin(reply).and_then(|()| {
        match poll_fn(|cx| sink.poll_ready_unpin(cx)).now_or_never() {
            Some(result) => result,
            None => Ok(()),
        }
    });
    match fed {
        Ok(()) => {
            conn.note_fed();
            conn.want_flush();
        }
        Err(_) => conn.force_close(close::ABNORMAL, ""),
    }
    None
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

fn handler_failed(route: &RouteState, conn: &Connection, err: HandlerError) -> Message {
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
    envelope(&err.envelope())
}

/// What a reply goes through: the route's response schema or a branch's reply schema (the
/// branch is named in the log when a reply fails it), and the acknowledgement id to add.
struct Check<'a> {
    schema: Option<&'a CompiledSchema>,
    branch: Option<&'a str>,
    /// The message's `id`, added to an object reply after the schema check (replacing any
    /// `id` of the handler's own).
    id: Option<Value>,
}

impl<'a> Check<'a> {
    fn route(route: &'a RouteState) -> Self {
        Self { schema: route.response_schema.as_ref(), branch: None, id: None }
    }
}

/// The frame for a handler's reply: checked against the response schema (`None` when it fails),
/// then JSON text, except a string on a raw-text route, which goes out as that text.
fn encode_reply(route: &RouteState, conn: &Connection, check: Check<'_>, reply: Value) -> Option<Message> {
    if let Some(schema) = check.schema {
        if !schema.is_valid(&reply) {
            Metrics::incr(&conn.metrics().replies_dropped);
            let paths: Vec<String> = schema.errors(&reply).take(MAX_FIELD_ERRORS).map(|e| e.path).collect();
            tracing::warn!(route = %route.path, branch = check.branch, ?paths, "reply failed the response schema; dropped");
            return None;
        }
    }
    let mut reply = reply;
    if let (Some(id), Value::Object(object)) = (check.id, &mut reply) {
        object.insert(ACK_ID.to_owned(), id);
    }
    let reply = match reply {
        Value::String(text) if route.raw_text => return Some(Message::Text(text.into())),
        reply => reply,
    };
    match serde_json::to_string(&reply) {
        Ok(text) => Some(Message::Text(text.into())),
        Err(err) => {
            tracing::error!(route = %route.path, error = %err, "reply not serialisable");
            None
        }
    }
}

fn envelope(envelope: &ErrorEnvelope) -> Message {
    Message::Text(envelope.to_json().into())
}

/// The socket's sending half, shared by the writer task and the reader (which feeds its own
/// replies when nothing is queued ahead of them, see [`deliver`]).
type SharedSink = Arc<Mutex<SplitSink<WebSocket, Message>>>;

/// Drain the outgoing queue into the socket, batching writes, until a close frame went out, the
/// socket broke, or the connection was cancelled. Cancelled (shutdown, a slow consumer, a
/// broken frame): send the recorded close code (1001 by default) after whatever frame was being
/// written, for at most [`CLOSE_TIMEOUT`], so a client that reads again still gets it.
async fn write_loop(sink: SharedSink, mut outgoing: OutgoingReceiver, conn: Connection, interval: Duration) {
    if let Err(Stop::Cancelled) = pump(&sink, &mut outgoing, &conn, interval).await {
        let info = conn
            .close_info()
            .unwrap_or(CloseInfo { code: close::GOING_AWAY, reason: "server shutting down".to_owned() });
        conn.record_close(info.code, &info.reason);
        let frame = CloseFrame { code: info.code, reason: info.reason.into() };
        let send = async { sink.lock().await.send(Message::Close(Some(frame))).await };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, send).await;
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
/// Every frame waiting in the queue is written before one flush; so is every reply the reader
/// fed itself meanwhile ([`Connection::want_flush`]). A batch of published messages only (no
/// reply, direct send or close) is held while some connection's reader is in a burst (see
/// [`crate::burst`]), for at most `interval`, taking in what is queued meanwhile: a subscriber
/// gets what a burst published in one socket write instead of one per message. Anything else
/// queued or fed meanwhile ends the hold at once. The sink is locked only while frames go into
/// it, never while the writer waits.
async fn pump(
    sink: &Mutex<SplitSink<WebSocket, Message>>,
    outgoing: &mut OutgoingReceiver,
    conn: &Connection,
    interval: Duration,
) -> Result<(), Stop> {
    let mut cancelled = pin!(conn.token().cancelled());
    loop {
        let message = tokio::select! {
            biased;
            () = &mut cancelled => return Err(Stop::Cancelled),
            message = outgoing.recv() => match message {
                Some(message) => Some(message),
                None => return Ok(()),
            },
            () = conn.flush_wanted() => None,
        };
        if let Some(message) = message {
            let mut guard = lock(sink, cancelled.as_mut()).await?;
            if feed(&mut guard, outgoing, conn, cancelled.as_mut(), message).await? == Fed::Closed {
                return Ok(());
            }
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
                    () = conn.flush_wanted() => break,
                };
                let Some(message) = message else { break };
                let mut guard = lock(sink, cancelled.as_mut()).await?;
                if feed(&mut guard, outgoing, conn, cancelled.as_mut(), message).await? == Fed::Closed {
                    return Ok(());
                }
                if conn.take_urgent() {
                    break;
                }
            }
        }
        let mut guard = lock(sink, cancelled.as_mut()).await?;
        write(conn, cancelled.as_mut(), guard.flush()).await?;
    }
}

/// Take the sink unless the connection is cancelled first.
async fn lock<'a>(
    sink: &'a Mutex<SplitSink<WebSocket, Message>>,
    cancelled: Pin<&mut WaitForCancellationFuture<'_>>,
) -> Result<MutexGuard<'a, SplitSink<WebSocket, Message>>, Stop> {
    tokio::select! {
        biased;
        guard = sink.lock() => Ok(guard),
        () = cancelled => Err(Stop::Cancelled),
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
        write(conn, cancelled.as_mut(), feed_one(sink, message)).await?;
        conn.note_fed();
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

/// Put one message into the protocol engine's write buffer, unflushed. A split sink keeps the
/// last item it was given in its own slot until it is polled again: poll it, so that the
/// message really is in the engine (which orders it before the answer to a close frame read
/// later) when this returns.
async fn feed_one(sink: &mut SplitSink<WebSocket, Message>, message: Message) -> Result<(), axum::Error> {
    sink.feed(message).await?;
    poll_fn(|cx| sink.poll_ready_unpin(cx)).await
}

/// Finish one socket write unless the connection is cancelled while the write is blocked (a
/// client that stopped reading). While it is blocked the writer counts as stalled (see
/// [`Connection::writer_stalled`]).
async fn write(
    conn: &Connection,
    cancelled: Pin<&mut WaitForCancellationFuture<'_>>,
    op: impl Future<Output = Result<(), axum::Error>>,
) -> Result<(), Stop> {
    let broken = |_| {
        conn.force_close(close::ABNORMAL, "");
        Stop::Broken
    };
    let mut op = pin!(op);
    if let Some(result) = op.as_mut().now_or_never() {
        return result.map_err(broken);
    }
    conn.writer_stalled(true);
    let result = tokio::select! {
        biased;
        result = op => result.map_err(broken),
        () = cancelled => Err(Stop::Cancelled),
    };
    conn.writer_stalled(false);
    result
}
