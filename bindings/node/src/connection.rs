//! [`NativeConnection`]: one connection as JavaScript sees it (request data, `send`, `close`),
//! and the methods JavaScript calls to complete the event it is handling.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicBool, Ordering},
};

use napi::{Env, bindgen_prelude::Buffer};
use napi_derive::napi;
use serde_json::{Map, Value};
use spikard::{Connection, SendError, StatusCode};
use tokio::sync::oneshot;

use crate::error::{coded, publish_error};

/// How JavaScript answered an event.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Send this JSON value (`None`: send nothing).
    Reply(Option<Value>),
    /// Send these bytes as a binary frame.
    Binary(Vec<u8>),
    /// The handler threw: send a `handler_error` envelope with this message.
    Failed(String),
    /// `onConnect` refused the connection.
    Rejected(u16, String),
}

/// The binding's per-connection data, kept in the core connection's state (it holds no
/// `Connection`, which would make a reference cycle).
#[derive(Default)]
pub(crate) struct Bridge {
    pending: Mutex<Option<oneshot::Sender<Outcome>>>,
    announced: AtomicBool,
}

impl Bridge {
    /// The bridge of `conn`, created on first use.
    pub(crate) fn of(conn: &Connection) -> Arc<Self> {
        let mut state = conn.state();
        if let Some(bridge) = state.get::<Arc<Self>>() {
            return Arc::clone(bridge);
        }
        let bridge = Arc::new(Self::default());
        state.insert(Arc::clone(&bridge));
        bridge
    }

    /// Whether JavaScript has been handed this connection already.
    pub(crate) fn announced(&self) -> bool {
        self.announced.load(Ordering::Acquire)
    }

    /// Mark the connection as handed to JavaScript; `true` the first time.
    pub(crate) fn announce(&self) -> bool {
        !self.announced.swap(true, Ordering::AcqRel)
    }

    /// Wait for JavaScript's answer to the event about to be queued.
    pub(crate) fn expect_outcome(&self) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        rx
    }

    fn complete(&self, outcome: Outcome) -> napi::Result<()> {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner).take();
        match pending {
            Some(tx) => {
                // The core stopped waiting (connection gone): nothing left to do.
                let _ = tx.send(outcome);
                Ok(())
            }
            None => Err(coded("invalid_state", "no event of this connection is waiting for an answer")),
        }
    }
}

/// One WebSocket connection, as handed to JavaScript on its first event.
#[napi]
pub struct NativeConnection {
    conn: Connection,
    bridge: Arc<Bridge>,
}

impl NativeConnection {
    pub(crate) fn new(conn: Connection, bridge: Arc<Bridge>) -> Self {
        Self { conn, bridge }
    }

    fn conn(&self) -> &Connection {
        &self.conn
    }
}

fn pairs_to_object(pairs: &[(String, String)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in pairs {
        map.entry(k.clone()).or_insert_with(|| Value::String(v.clone()));
    }
    map
}

/// A count as JavaScript receives it (saturating: no process holds 2^32 connections).
pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn send_error(err: SendError) -> napi::Error {
    match err {
        SendError::QueueFull => coded("queue_full", &err.to_string()),
        _ => coded("connection_closed", &err.to_string()),
    }
}

#[napi]
impl NativeConnection {
    /// The connection's id, unique within the process.
    #[napi(getter)]
    pub fn id(&self) -> i64 {
        i64::try_from(self.conn().id().get()).unwrap_or(i64::MAX)
    }

    /// The request path (without the query string).
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.conn().path().to_owned()
    }

    /// The route pattern that matched, e.g. `/rooms/{room}`.
    #[napi(getter)]
    pub fn route(&self) -> String {
        self.conn().route().to_owned()
    }

    /// Path parameters by name.
    #[napi(getter, ts_return_type = "Record<string, string>")]
    pub fn path_params(&self) -> Map<String, Value> {
        pairs_to_object(self.conn().path_params())
    }

    /// Query parameters: the first value of each key.
    #[napi(getter, ts_return_type = "Record<string, string>")]
    pub fn query(&self) -> Map<String, Value> {
        pairs_to_object(self.conn().query_params())
    }

    /// Every query parameter as `[key, value]` pairs, in order (keys may repeat).
    #[napi(getter)]
    pub fn query_pairs(&self) -> Vec<Vec<String>> {
        self.conn().query_params().iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect()
    }

    /// The upgrade request's headers, names in lower case; repeated headers joined with `, `.
    #[napi(getter, ts_return_type = "Record<string, string>")]
    pub fn headers(&self) -> Map<String, Value> {
        let mut map = Map::new();
        for (name, value) in self.conn().headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match map.get_mut(name.as_str()) {
                Some(Value::String(existing)) => {
                    existing.push_str(", ");
                    existing.push_str(&value);
                }
                _ => {
                    map.insert(name.as_str().to_owned(), Value::String(value));
                }
            }
        }
        map
    }

    /// The client's address, `ip:port`.
    #[napi(getter)]
    pub fn remote_addr(&self) -> String {
        self.conn().remote_addr().to_string()
    }

    /// `true` once a close was started by either side.
    #[napi(getter)]
    pub fn closing(&self) -> bool {
        self.conn().is_closing()
    }

    /// Queue a JSON value for the client (non-blocking).
    #[napi(ts_args_type = "value: unknown")]
    pub fn send(&self, value: Value) -> napi::Result<()> {
        self.conn().send_json(&value).map_err(send_error)
    }

    /// Queue a text frame, sent as is.
    #[napi]
    pub fn send_text(&self, text: String) -> napi::Result<()> {
        self.conn().send_text(text).map_err(send_error)
    }

    /// Queue a binary frame.
    #[napi]
    pub fn send_binary(&self, data: Buffer) -> napi::Result<()> {
        self.conn().send_binary(data.to_vec()).map_err(send_error)
    }

    /// Join `topic`: messages published to it reach this connection until it unsubscribes or
    /// disconnects. `false` when already subscribed or when the connection is closing.
    #[napi]
    pub fn subscribe(&self, topic: String) -> bool {
        self.conn().subscribe(&topic)
    }

    /// Leave `topic`; `false` when this connection was not subscribed to it.
    #[napi]
    pub fn unsubscribe(&self, topic: String) -> bool {
        self.conn().unsubscribe(&topic)
    }

    /// The topics this connection is subscribed to, in the order it joined them.
    #[napi(getter)]
    pub fn subscriptions(&self) -> Vec<String> {
        self.conn().subscriptions()
    }

    /// Publish a JSON value to every subscriber of `topic` (this connection included when it is
    /// subscribed): validated against the topic's schema and serialised once in Rust, no
    /// JavaScript call per recipient. Returns the number of connections it was queued for;
    /// throws `[publish_invalid] ...` (with `topic` and `errors`) when the schema refuses it.
    #[napi(ts_args_type = "topic: string, value: unknown")]
    pub fn publish(&self, env: &Env, topic: String, value: Value) -> napi::Result<u32> {
        self.conn().publish(&topic, &value).map(count).map_err(|err| publish_error(env, &err))
    }

    /// Like `publish`, but never to this connection.
    #[napi(ts_args_type = "topic: string, value: unknown")]
    pub fn publish_others(&self, env: &Env, topic: String, value: Value) -> napi::Result<u32> {
        self.conn().publish_others(&topic, &value).map(count).map_err(|err| publish_error(env, &err))
    }

    /// How many connections are subscribed to `topic` now.
    #[napi]
    pub fn topic_count(&self, topic: String) -> u32 {
        count(self.conn().topic_count(&topic))
    }

    /// Close with `code` and `reason` after every message queued before.
    #[napi]
    pub fn close(&self, code: u32, reason: String) -> napi::Result<()> {
        let code =
            u16::try_from(code).map_err(|_| coded("invalid_close_code", "close code must fit in 16 bits"))?;
        self.conn().close(code, &reason);
        Ok(())
    }

    /// Complete the pending event with a JSON reply.
    #[napi(ts_args_type = "value: unknown")]
    pub fn reply(&self, value: Value) -> napi::Result<()> {
        self.bridge.complete(Outcome::Reply(Some(value)))
    }

    /// Complete the pending event without a reply (also ends connect/disconnect events).
    #[napi]
    pub fn done(&self) -> napi::Result<()> {
        self.bridge.complete(Outcome::Reply(None))
    }

    /// Complete the pending event with a binary reply.
    #[napi]
    pub fn reply_binary(&self, data: Buffer) -> napi::Result<()> {
        self.bridge.complete(Outcome::Binary(data.to_vec()))
    }

    /// Complete the pending event as failed: the client gets a `handler_error` envelope.
    #[napi]
    pub fn fail(&self, message: String) -> napi::Result<()> {
        self.bridge.complete(Outcome::Failed(message))
    }

    /// Refuse the pending connection with an HTTP status (403 when not a valid refusal status).
    #[napi]
    pub fn reject(&self, status: u32, reason: String) -> napi::Result<()> {
        let status = u16::try_from(status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or(StatusCode::FORBIDDEN);
        self.bridge.complete(Outcome::Rejected(status.as_u16(), reason))
    }
}
