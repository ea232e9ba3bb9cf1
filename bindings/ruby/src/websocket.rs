//! `Spikard::WebSocket`: the connection as handlers see it, and the link that keeps that Ruby
//! object alive while the core owns the connection.
//!
//! The Ruby object is created on the first call about a connection and stored in the core's
//! per-connection state ([`spikard::Connection::state`]) as a [`RootedWs`]; it is released on a
//! Ruby thread when the connection's disconnect call has run (the routes ask the core for that
//! call with [`Hooks::release`](spikard::bridge::Hooks::release)), or when `on_connect` refused.

use std::sync::{Arc, Mutex, PoisonError};

use magnus::{
    Error, RModule, RString, Ruby, Value, method,
    prelude::*,
    rb_sys::{AsRawValue, FromRawValue},
};
use spikard::{
    Connection,
    bridge::{Job, protocol},
};

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

    /// The path parameters as `[name, value]` pairs.
    fn path_params(&self) -> Vec<(String, String)> {
        self.conn.path_params().to_vec()
    }

    /// Every query parameter as a `[name, value]` pair, in order.
    fn query_pairs(&self) -> Vec<(String, String)> {
        self.conn.query_params().to_vec()
    }

    /// The upgrade request's headers as `[name, value]` pairs, repeated headers joined with ", ".
    fn headers(&self) -> Vec<(String, String)> {
        let headers = self.conn.headers();
        let joined = |name| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
        headers.keys().map(|name| (name.as_str().to_owned(), joined(name).join(", "))).collect()
    }

    fn remote_addr(&self) -> String {
        self.conn.remote_addr().to_string()
    }

    fn send_json(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<(), Error> {
        let value = convert::to_json(ruby, message)?;
        rb_self.conn.send_json(&value).map_err(|err| errors::raise(ruby, err))
    }

    fn send_text(ruby: &Ruby, rb_self: &Self, text: RString) -> Result<(), Error> {
        let text = text.to_string()?;
        rb_self.conn.send_text(text).map_err(|err| errors::raise(ruby, err))
    }

    fn send_binary(ruby: &Ruby, rb_self: &Self, data: RString) -> Result<(), Error> {
        rb_self.conn.send_binary(convert::bytes(data)).map_err(|err| errors::raise(ruby, err))
    }

    /// Close with `code` (1000) and `reason` (""), checked by the core: a code a server may not
    /// send or a reason over 123 bytes raises `Spikard::InvalidCloseError`.
    fn close(ruby: &Ruby, rb_self: &Self, args: &[Value]) -> Result<(), Error> {
        let args = magnus::scan_args::scan_args::<(), (Option<u32>, Option<String>), (), (), (), ()>(args)?;
        let (code, reason) = args.optional;
        let code = code.unwrap_or(u32::from(spikard::close::NORMAL));
        protocol::close(&rb_self.conn, code, &reason.unwrap_or_default())
            .map_err(|err| errors::raise(ruby, err))
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
    /// The `Spikard::WebSocket` of the job's connection: made and rooted for the connection's
    /// first job ([`Job::first`]), found in the connection's state afterwards.
    pub(crate) fn of(ruby: &Ruby, job: &Job) -> Value {
        let conn = job.conn();
        if !job.first() {
            if let Some(value) = conn.state().get::<Self>().and_then(Self::value) {
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
