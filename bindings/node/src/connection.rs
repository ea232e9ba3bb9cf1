//! [`NativeConnection`]: one connection as JavaScript sees it (request data, `send`, `close`,
//! rooms), and the answers to the call JavaScript was handed for it ([`answer_parked`]).

use napi::{Env, bindgen_prelude::Buffer};
use napi_derive::napi;
use serde_json::{Map, Value};
use spikard::{
    Connection, FieldError, HandlerError,
    bridge::{Outcome, answer_parked, protocol},
};

use crate::{error::raise, json::parse};

/// One WebSocket connection, as handed to JavaScript with its first job.
#[napi]
pub struct NativeConnection {
    conn: Connection,
}

impl NativeConnection {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// Answer this connection's call that waits in JavaScript (`invalid_state` when answered twice);
    /// `false` when the core no longer waited (see `done`).
    fn answer(&self, env: &Env, outcome: Outcome) -> napi::Result<bool> {
        answer_parked(&self.conn, outcome).map_err(|err| raise(env, err))
    }
}

/// One failing location of a message refused by the package's own type check.
#[napi(object, object_to_js = false)]
pub struct JsFieldError {
    /// JSON pointer to the failing value.
    pub path: String,
    /// What is wrong there (never the input value).
    pub message: String,
    /// The keyword or check that failed.
    pub keyword: String,
}

fn pairs_to_object(pairs: &[(String, String)]) -> Map<String, Value> {
    // In reverse, so that the first value of a repeated key is the one kept.
    pairs.iter().rev().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect()
}

/// A count as JavaScript receives it (saturating: no process holds 2^32 connections).
pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[napi]
impl NativeConnection {
    /// The connection's id, unique within the process.
    #[napi(getter)]
    pub fn id(&self) -> i64 {
        i64::try_from(self.conn.id().get()).unwrap_or(i64::MAX)
    }

    /// The request path (without the query string).
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.conn.path().to_owned()
    }

    /// The route pattern that matched, e.g. `/rooms/{room}`.
    #[napi(getter)]
    pub fn route(&self) -> String {
        self.conn.route().to_owned()
    }

    /// Path parameters by name.
    #[napi(getter, ts_return_type = "Record<string, string>")]
    pub fn path_params(&self) -> Map<String, Value> {
        pairs_to_object(self.conn.path_params())
    }

    /// Query parameters: the first value of each key.
    #[napi(getter, ts_return_type = "Record<string, string>")]
    pub fn query(&self) -> Map<String, Value> {
        pairs_to_object(self.conn.query_params())
    }

    /// Every query parameter as `[key, value]` pairs, in order (keys may repeat).
    #[napi(getter)]
    pub fn query_pairs(&self) -> Vec<Vec<String>> {
        self.conn.query_params().iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect()
    }

    /// The upgrade request's cookies by name: the first value of each name.
    #[napi(getter, ts_return_type = "Record<string, string>")]
    pub fn cookies(&self) -> Map<String, Value> {
        pairs_to_object(&self.conn.cookies())
    }

    /// The subprotocol the upgrade selected from the route's `subprotocols`, if any.
    #[napi(getter)]
    pub fn subprotocol(&self) -> Option<String> {
        self.conn.subprotocol().map(str::to_owned)
    }

    /// The upgrade request's headers, names in lower case; repeated headers joined with `, `.
    #[napi(getter, ts_return_type = "Record<string, string>")]
    pub fn headers(&self) -> Map<String, Value> {
        pairs_to_object(&self.conn.header_pairs())
    }

    /// The client's address, `ip:port`.
    #[napi(getter)]
    pub fn remote_addr(&self) -> String {
        self.conn.remote_addr().to_string()
    }

    /// `true` once a close was started by either side.
    #[napi(getter)]
    pub fn closing(&self) -> bool {
        self.conn.is_closing()
    }

    /// Queue a JSON value (its text, from `JSON.stringify`) for the client (non-blocking).
    #[napi]
    pub fn send(&self, env: &Env, json: String) -> napi::Result<()> {
        self.conn.send_json(&parse(&json)?).map_err(|err| raise(env, err))
    }

    /// Queue a text frame, sent as is.
    #[napi]
    pub fn send_text(&self, env: &Env, text: String) -> napi::Result<()> {
        self.conn.send_text(text).map_err(|err| raise(env, err))
    }

    /// Queue a binary frame.
    #[napi]
    pub fn send_binary(&self, env: &Env, data: Buffer) -> napi::Result<()> {
        self.conn.send_binary(data.to_vec()).map_err(|err| raise(env, err))
    }

    /// Join `topic`: messages published to it reach this connection until it unsubscribes or
    /// disconnects. `false` when already subscribed or when the connection is closing.
    #[napi]
    pub fn subscribe(&self, topic: String) -> bool {
        self.conn.subscribe(&topic)
    }

    /// Leave `topic`; `false` when this connection was not subscribed to it.
    #[napi]
    pub fn unsubscribe(&self, topic: String) -> bool {
        self.conn.unsubscribe(&topic)
    }

    /// The topics this connection is subscribed to, in the order it joined them.
    #[napi(getter)]
    pub fn subscriptions(&self) -> Vec<String> {
        self.conn.subscriptions()
    }

    /// Publish a JSON value to every subscriber of `topic` (this connection included when it is
    /// subscribed): validated against the topic's schema and serialised once in Rust, no
    /// JavaScript call per recipient. Returns the number of connections it was queued for;
    /// throws an error with code `publish_invalid` (and `topic`, `errors`) when the schema refuses it.
    /// `json` is the value's text, from `JSON.stringify`.
    #[napi]
    pub fn publish(&self, env: &Env, topic: String, json: String) -> napi::Result<u32> {
        self.conn.publish(&topic, &parse(&json)?).map(count).map_err(|err| raise(env, err))
    }

    /// Like `publish`, but never to this connection.
    #[napi]
    pub fn publish_others(&self, env: &Env, topic: String, json: String) -> napi::Result<u32> {
        self.conn.publish_others(&topic, &parse(&json)?).map(count).map_err(|err| raise(env, err))
    }

    /// How many connections are subscribed to `topic` now.
    #[napi]
    pub fn topic_count(&self, topic: String) -> u32 {
        count(self.conn.topic_count(&topic))
    }

    /// Close with `code` and `reason` after every message queued before; throws
    /// `invalid_close` for a code a server may not send or a reason over 123 bytes.
    #[napi]
    pub fn close(&self, env: &Env, code: u32, reason: String) -> napi::Result<()> {
        protocol::close(&self.conn, code, &reason).map_err(|err| raise(env, err))
    }

    /// Answer the waiting call with a JSON reply (its text, from `JSON.stringify`).
    #[napi]
    pub fn reply(&self, env: &Env, json: String) -> napi::Result<bool> {
        self.answer(env, Outcome::reply_json(Some(parse(&json)?)))
    }

    /// Answer the waiting call with a string (a JSON string; on a raw-text route, the text
    /// sent as it is), without the JSON quoting `reply` would need.
    #[napi]
    pub fn reply_string(&self, env: &Env, text: String) -> napi::Result<bool> {
        self.answer(env, Outcome::reply_json(Some(Value::String(text))))
    }

    /// Answer the waiting call with a binary reply (to a text message too).
    #[napi]
    pub fn reply_binary(&self, env: &Env, data: Buffer) -> napi::Result<bool> {
        self.answer(env, Outcome::reply_binary(data.to_vec()))
    }

    /// Answer the waiting call with nothing to send (also accepts a connection, ends a
    /// disconnect). Like every answer, returns whether the core still waited: `false` for a
    /// connect abandoned meanwhile (client gone, handshake timed out), whose connection never
    /// reaches `onDisconnect`, so JavaScript forgets it now.
    #[napi]
    pub fn done(&self, env: &Env) -> napi::Result<bool> {
        self.answer(env, Outcome::Done)
    }

    /// Answer with a `handler_error` envelope carrying `message` (an error thrown for the
    /// client: the package's `HandlerError`).
    #[napi]
    pub fn fail(&self, env: &Env, message: String) -> napi::Result<bool> {
        self.answer(env, Outcome::Failed(HandlerError::new(message)))
    }

    /// Answer with a `handler_error` envelope saying `"internal error"` (anything else thrown,
    /// which the package logged with its stack); refuses a connection with 500.
    #[napi]
    pub fn fail_internal(&self, env: &Env) -> napi::Result<bool> {
        self.answer(env, Outcome::Failed(HandlerError::internal("thrown in JavaScript")))
    }

    /// Answer with a `validation_failed` envelope: the package's type check refused the message.
    #[napi]
    pub fn invalid(&self, env: &Env, errors: Vec<JsFieldError>) -> napi::Result<bool> {
        let errors =
            errors.into_iter().map(|e| FieldError { path: e.path, message: e.message, keyword: e.keyword });
        self.answer(env, Outcome::Failed(HandlerError::invalid(errors.collect())))
    }

    /// Refuse the connecting client with an HTTP status (400-599; any other is the handler's
    /// mistake and answers 500) and a reason.
    #[napi]
    pub fn reject(&self, env: &Env, status: u32, reason: String) -> napi::Result<bool> {
        let status = u16::try_from(status).unwrap_or(0);
        self.answer(env, Outcome::Rejected { status, reason })
    }
}
