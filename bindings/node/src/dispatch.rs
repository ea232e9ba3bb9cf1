//! The batch bridge from tokio tasks to the JavaScript thread.
//!
//! Handlers push [`Event`]s onto one queue. Only the push that finds the queue empty (and not yet
//! scheduled) calls the threadsafe function; its callback runs on the JavaScript thread, takes
//! every queued event at once and hands them to JavaScript as one array. So a burst of messages
//! costs one event-loop wake-up, and the JavaScript thread never waits on Rust I/O.

use std::sync::{Arc, Mutex, PoisonError};

use napi::{
    bindgen_prelude::{Buffer, Function, Unknown},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
};
use napi_derive::napi;
use serde_json::Value;
use spikard::Connection;

use crate::connection::{Bridge, NativeConnection};

/// What happened, for JavaScript to act on.
pub(crate) enum EventKind {
    /// A client is connecting and the route has an `onConnect` hook.
    Connect,
    /// A JSON message that passed the route's message schema.
    Message(Value),
    /// A binary message (routes with a binary handler only).
    Binary(Vec<u8>),
    /// The connection ended with this close code and reason.
    Disconnect(u16, String),
}

/// One event for one connection of one route.
pub(crate) struct Event {
    pub(crate) route: u32,
    pub(crate) conn: Connection,
    pub(crate) bridge: Arc<Bridge>,
    /// The connection object, on the first event JavaScript sees for this connection only.
    pub(crate) announce: bool,
    pub(crate) kind: EventKind,
}

/// One event as JavaScript receives it.
#[napi(object, object_from_js = false)]
pub struct JsEvent {
    /// 0 connect, 1 message, 2 binary, 3 disconnect.
    pub kind: u32,
    /// Index of the route, in registration order.
    pub route: u32,
    /// The connection's id (unique in the process).
    pub id: i64,
    /// The connection, present on the first event of each connection.
    pub connection: Option<NativeConnection>,
    /// The JSON message (kind 1).
    #[napi(ts_type = "unknown")]
    pub data: Option<Value>,
    /// The binary message (kind 2).
    pub binary: Option<Buffer>,
    /// The close code (kind 3).
    pub code: Option<u32>,
    /// The close reason (kind 3).
    pub reason: Option<String>,
}

impl Event {
    fn into_js(self) -> JsEvent {
        let id = i64::try_from(self.conn.id().get()).unwrap_or(i64::MAX);
        let connection =
            self.announce.then(|| NativeConnection::new(self.conn.clone(), Arc::clone(&self.bridge)));
        let mut event = JsEvent {
            kind: 0,
            route: self.route,
            id,
            connection,
            data: None,
            binary: None,
            code: None,
            reason: None,
        };
        match self.kind {
            EventKind::Connect => {}
            EventKind::Message(value) => {
                event.kind = 1;
                event.data = Some(value);
            }
            EventKind::Binary(bytes) => {
                event.kind = 2;
                event.binary = Some(bytes.into());
            }
            EventKind::Disconnect(code, reason) => {
                event.kind = 3;
                event.code = Some(u32::from(code));
                event.reason = Some(reason);
            }
        }
        event
    }
}

#[derive(Default)]
struct Queue {
    events: Vec<Event>,
    scheduled: bool,
    /// `false` before `start` and after `stop`: events are dropped.
    open: bool,
}

type Tsfn = ThreadsafeFunction<(), Unknown<'static>, Vec<JsEvent>, napi::Status, false>;

/// The queue plus the threadsafe function that wakes JavaScript up.
#[derive(Default)]
pub(crate) struct Dispatcher {
    queue: Arc<Mutex<Queue>>,
    tsfn: Mutex<Option<Tsfn>>,
}

impl Dispatcher {
    /// Start delivering events to `on_events`, called with an array of events per wake-up.
    pub(crate) fn start(&self, on_events: &Function<'_, Vec<JsEvent>, Unknown<'static>>) -> napi::Result<()> {
        let queue = Arc::clone(&self.queue);
        let tsfn = on_events.build_threadsafe_function::<()>().callee_handled::<false>().build_callback(
            move |_ctx| {
                let events = {
                    let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
                    queue.scheduled = false;
                    std::mem::take(&mut queue.events)
                };
                Ok(events.into_iter().map(Event::into_js).collect::<Vec<_>>())
            },
        )?;
        *self.tsfn.lock().unwrap_or_else(PoisonError::into_inner) = Some(tsfn);
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.open = true;
        queue.scheduled = false;
        Ok(())
    }

    /// Stop delivering: releases the threadsafe function so Node.js may exit. Events still
    /// queued are dropped, which completes their waiting handlers with no reply.
    pub(crate) fn stop(&self) {
        let dropped = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.open = false;
            std::mem::take(&mut queue.events)
        };
        drop(dropped);
        self.tsfn.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// Queue an event; wakes JavaScript up when the queue was idle.
    pub(crate) fn push(&self, event: Event) {
        let wake = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if !queue.open {
                return;
            }
            queue.events.push(event);
            !std::mem::replace(&mut queue.scheduled, true)
        };
        if wake {
            let tsfn = self.tsfn.lock().unwrap_or_else(PoisonError::into_inner);
            let delivered = tsfn
                .as_ref()
                .is_some_and(|f| f.call((), ThreadsafeFunctionCallMode::NonBlocking) == napi::Status::Ok);
            if !delivered {
                drop(tsfn);
                self.stop();
            }
        }
    }
}
