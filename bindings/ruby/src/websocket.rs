//! `Spikard::WebSocket`: the connection as handlers see it, and the link that keeps that Ruby
//! object alive while the core owns the connection.
//!
//! The Ruby object is created on the first call about a connection and stored in the core's
//! per-connection state ([`spikard::Connection::state`]) as a [`RootedWs`]; it is released when
//! `on_disconnect` has run (or the connection is rejected), always on a Ruby thread.

use std::sync::{Arc, Mutex, PoisonError};

use magnus::{
    Error, RHash, RModule, RString, Ruby, Value, method,
    prelude::*,
    rb_sys::{AsRawValue, FromRawValue},
};
use spikard::{Connection, SendError};

use crate::{convert, errors};

/// The connection handed to handlers and hooks (`ws`).
#[magnus::wrap(class = "Spikard::WebSocket", free_immediately, size)]
pub(crate) struct WebSocket {
    conn: Connection,
}

impl WebSocket {
    fn id(&self) -> u64 {
        self.conn.id().get()
    }

    fn path(&self) -> String {
        self.conn.path().to_owned()
    }

    fn route(&self) -> String {
        self.conn.route().to_owned()
    }

    fn path_params(ruby: &Ruby, rb_self: &Self) -> RHash {
        let params = rb_self.conn.path_params();
        convert::pairs_to_hash(ruby, params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    fn query_params(ruby: &Ruby, rb_self: &Self) -> RHash {
        let query = rb_self.conn.query_params();
        convert::pairs_to_hash(ruby, query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    fn query_pairs(ruby: &Ruby, rb_self: &Self) -> Value {
        let pairs = ruby.ary_new_capa(rb_self.conn.query_params().len());
        for (key, value) in rb_self.conn.query_params() {
            let _ = pairs.push(ruby.ary_new_from_values(&[ruby.str_new(key), ruby.str_new(value)]));
        }
        pairs.as_value()
    }

    fn headers(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let hash = ruby.hash_new();
        let headers = rb_self.conn.headers();
        for name in headers.keys() {
            let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
            hash.aset(name.as_str(), values.join(", "))?;
        }
        Ok(hash)
    }

    fn remote_addr(&self) -> String {
        self.conn.remote_addr().to_string()
    }

    fn send_json(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<(), Error> {
        let value = convert::to_json(ruby, message)?;
        rb_self.conn.send_json(&value).map_err(|err| send_error(ruby, err))
    }

    fn send_text(ruby: &Ruby, rb_self: &Self, text: RString) -> Result<(), Error> {
        let text = text.to_string()?;
        rb_self.conn.send_text(text).map_err(|err| send_error(ruby, err))
    }

    fn send_binary(ruby: &Ruby, rb_self: &Self, data: RString) -> Result<(), Error> {
        rb_self.conn.send_binary(convert::bytes(data)).map_err(|err| send_error(ruby, err))
    }

    fn close(ruby: &Ruby, rb_self: &Self, args: &[Value]) -> Result<(), Error> {
        let args = magnus::scan_args::scan_args::<(), (Option<u16>, Option<String>), (), (), (), ()>(args)?;
        let (code, reason) = args.optional;
        let code = code.unwrap_or(spikard::close::NORMAL);
        if !(code == 1000 || (3000..5000).contains(&code) || (1001..=1014).contains(&code)) {
            return Err(Error::new(
                ruby.exception_arg_error(),
                format!("{code} is not a close code an endpoint may send"),
            ));
        }
        let reason = reason.unwrap_or_default();
        if reason.len() > 123 {
            return Err(Error::new(ruby.exception_arg_error(), "a close reason is at most 123 bytes"));
        }
        rb_self.conn.close(code, &reason);
        Ok(())
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
        rb_self.conn.publish(&topic, &message).map_err(|err| errors::from_publish(ruby, &err))
    }

    fn publish_others(ruby: &Ruby, rb_self: &Self, topic: String, message: Value) -> Result<usize, Error> {
        let message = convert::to_json(ruby, message)?;
        rb_self.conn.publish_others(&topic, &message).map_err(|err| errors::from_publish(ruby, &err))
    }

    fn topic_count(&self, topic: String) -> usize {
        self.conn.topic_count(&topic)
    }
}

fn send_error(ruby: &Ruby, err: SendError) -> Error {
    let code = match err {
        SendError::QueueFull => "queue_full",
        _ => "connection_closed",
    };
    errors::build(ruby, "ConnectionClosed", code, &err.to_string())
}

/// A `Spikard::WebSocket` registered as a GC root, stored in the connection's state.
#[derive(Clone)]
pub(crate) struct RootedWs(Arc<Slot>);

/// A heap cell holding the object's `VALUE`; its address is what Ruby's GC scans.
struct Slot(Mutex<Option<Box<rb_sys::VALUE>>>);

impl Drop for Slot {
    fn drop(&mut self) {
        // Unregistering needs the GVL, which this thread may not hold: a slot that was never
        // released (the server was dropped mid-connection) is leaked rather than freed unsafely.
        if let Some(cell) = self.0.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            Box::leak(cell);
        }
    }
}

impl RootedWs {
    /// The connection's `Spikard::WebSocket`, created and rooted on first use.
    pub(crate) fn get_or_create(ruby: &Ruby, conn: &Connection) -> Value {
        if let Some(rooted) = conn.state().get::<Self>() {
            if let Some(value) = rooted.value() {
                return value;
            }
        }
        let ws = ruby.obj_wrap(WebSocket { conn: conn.clone() });
        let cell = Box::new(ws.as_value().as_raw());
        // SAFETY: called with the GVL (we are in a Ruby thread); the box's address stays valid
        // until `release` unregisters it.
        unsafe { rb_sys::rb_gc_register_address(std::ptr::from_ref(&*cell).cast_mut()) };
        conn.state().insert(Self(Arc::new(Slot(Mutex::new(Some(cell))))));
        ws.as_value()
    }

    fn value(&self) -> Option<Value> {
        let slot = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: a registered cell holds a live object's VALUE.
        slot.as_ref().map(|cell| unsafe { Value::from_raw(**cell) })
    }

    /// Let Ruby collect the connection's object (call with the GVL).
    pub(crate) fn release(_ruby: &Ruby, conn: &Connection) {
        let rooted = conn.state().remove::<Self>();
        if let Some(rooted) = rooted {
            let cell = rooted.0.0.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(cell) = cell {
                // SAFETY: `_ruby` proves the GVL is held; the cell was registered by
                // `get_or_create` and is unregistered exactly once.
                unsafe { rb_sys::rb_gc_unregister_address(std::ptr::from_ref(&*cell).cast_mut()) };
            }
        }
    }
}

/// Define `Spikard::WebSocket`'s native methods.
pub(crate) fn define(ruby: &Ruby, spikard: RModule) -> Result<(), Error> {
    let class = spikard.define_class("WebSocket", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_method("id", method!(WebSocket::id, 0))?;
    class.define_method("path", method!(WebSocket::path, 0))?;
    class.define_method("route", method!(WebSocket::route, 0))?;
    class.define_method("native_path_params", method!(WebSocket::path_params, 0))?;
    class.define_method("native_query_params", method!(WebSocket::query_params, 0))?;
    class.define_method("query_pairs", method!(WebSocket::query_pairs, 0))?;
    class.define_method("native_headers", method!(WebSocket::headers, 0))?;
    class.define_method("remote_addr", method!(WebSocket::remote_addr, 0))?;
    class.define_method("send", method!(WebSocket::send_json, 1))?;
    class.define_method("send_text", method!(WebSocket::send_text, 1))?;
    class.define_method("send_binary", method!(WebSocket::send_binary, 1))?;
    class.define_method("close", method!(WebSocket::close, -1))?;
    class.define_method("closing?", method!(WebSocket::is_closing, 0))?;
    class.define_method("subscribe", method!(WebSocket::subscribe, 1))?;
    class.define_method("unsubscribe", method!(WebSocket::unsubscribe, 1))?;
    class.define_method("subscriptions", method!(WebSocket::subscriptions, 0))?;
    class.define_method("publish", method!(WebSocket::publish, 2))?;
    class.define_method("publish_others", method!(WebSocket::publish_others, 2))?;
    class.define_method("topic_count", method!(WebSocket::topic_count, 1))?;
    Ok(())
}
