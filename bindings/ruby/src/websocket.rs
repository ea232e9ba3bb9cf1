//! `Spikard::WebSocket`: the connection as handlers see it. The dispatcher makes one per
//! connection and keeps it until the connection's end (see [`crate::dispatch`]).

use magnus::{Error, RModule, RString, Ruby, Symbol, Value, method, prelude::*};
use spikard::{Connection, bridge::protocol};

use crate::{convert, errors};

/// The connection handed to handlers and hooks (`ws`).
#[magnus::wrap(class = "Spikard::WebSocket", free_immediately, size)]
pub(crate) struct WebSocket {
    conn: Connection,
}

impl WebSocket {
    /// What never changes about the connection: `[id, path, route pattern, "ip:port",
    /// subprotocol or nil]`.
    fn facts(&self) -> (u64, String, String, String, Option<String>) {
        let conn = &self.conn;
        let subprotocol = conn.subprotocol().map(str::to_owned);
        (
            conn.id().get(),
            conn.path().to_owned(),
            conn.route().to_owned(),
            conn.remote_addr().to_string(),
            subprotocol,
        )
    }

    /// The connection's `[name, value]` pairs of one kind, in order: `:path_params`, `:query`
    /// (keys may repeat), `:headers` (lower-case names, repeated headers joined with ", ") or
    /// `:cookies` (as sent).
    fn pairs(ruby: &Ruby, rb_self: &Self, which: Symbol) -> Result<Vec<(String, String)>, Error> {
        let conn = &rb_self.conn;
        Ok(match &*which.name()? {
            "path_params" => conn.path_params().to_vec(),
            "query" => conn.query_params().to_vec(),
            "cookies" => conn.cookies(),
            "headers" => conn.header_pairs(),
            other => return Err(Error::new(ruby.exception_arg_error(), format!("no pairs named {other}"))),
        })
    }

    fn send_json(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<(), Error> {
        let value = convert::to_json(ruby, message)?;
        rb_self.conn.send_json(&value).map_err(|err| errors::raise(ruby, err))
    }

    fn send_text(ruby: &Ruby, rb_self: &Self, text: String) -> Result<(), Error> {
        rb_self.conn.send_text(text).map_err(|err| errors::raise(ruby, err))
    }

    fn send_binary(ruby: &Ruby, rb_self: &Self, data: RString) -> Result<(), Error> {
        rb_self.conn.send_binary(convert::bytes(data)).map_err(|err| errors::raise(ruby, err))
    }

    /// Close with `code` and `reason` (defaults in `websocket.rb`), checked by the core: a code
    /// a server may not send or a reason over 123 bytes raises `Spikard::InvalidCloseError`.
    fn close(ruby: &Ruby, rb_self: &Self, code: u32, reason: String) -> Result<(), Error> {
        protocol::close(&rb_self.conn, code, &reason).map_err(|err| errors::raise(ruby, err))
    }

    fn is_closing(&self) -> bool {
        self.conn.is_closing()
    }

    fn subscribe(&self, topic: String) -> bool {
        self.conn.subscribe(&topic)
    }

    fn unsubscribe(&self, topic: String) -> bool {
        self.conn.unsubscribe(&topic)
    }

    fn subscriptions(&self) -> Vec<String> {
        self.conn.subscriptions()
    }

    fn publish(ruby: &Ruby, rb_self: &Self, topic: String, message: Value) -> Result<usize, Error> {
        let message = convert::to_json(ruby, message)?;
        rb_self.conn.publish(&topic, &message).map_err(|err| errors::raise(ruby, err))
    }

    fn publish_others(ruby: &Ruby, rb_self: &Self, topic: String, message: Value) -> Result<usize, Error> {
        let message = convert::to_json(ruby, message)?;
        rb_self.conn.publish_others(&topic, &message).map_err(|err| errors::raise(ruby, err))
    }

    fn topic_count(&self, topic: String) -> usize {
        self.conn.topic_count(&topic)
    }
}

/// A new `Spikard::WebSocket` for `conn`.
pub(crate) fn wrap(ruby: &Ruby, conn: Connection) -> Value {
    ruby.obj_wrap(WebSocket { conn }).as_value()
}

/// Define `Spikard::WebSocket`'s native methods.
pub(crate) fn define(ruby: &Ruby, spikard: RModule) -> Result<(), Error> {
    let class = spikard.define_class("WebSocket", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_method("native_facts", method!(WebSocket::facts, 0))?;
    class.define_method("native_pairs", method!(WebSocket::pairs, 1))?;
    class.define_method("send", method!(WebSocket::send_json, 1))?;
    class.define_method("send_text", method!(WebSocket::send_text, 1))?;
    class.define_method("send_binary", method!(WebSocket::send_binary, 1))?;
    class.define_method("native_close", method!(WebSocket::close, 2))?;
    class.define_method("closing?", method!(WebSocket::is_closing, 0))?;
    class.define_method("subscribe", method!(WebSocket::subscribe, 1))?;
    class.define_method("unsubscribe", method!(WebSocket::unsubscribe, 1))?;
    class.define_method("subscriptions", method!(WebSocket::subscriptions, 0))?;
    class.define_method("publish", method!(WebSocket::publish, 2))?;
    class.define_method("publish_others", method!(WebSocket::publish_others, 2))?;
    class.define_method("topic_count", method!(WebSocket::topic_count, 1))?;
    Ok(())
}
