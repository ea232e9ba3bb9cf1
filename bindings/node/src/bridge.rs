//! The JavaScript end of the core's job queue ([`spikard::bridge`]).
//!
//! The queue wakes the JavaScript thread on the first job queued after JavaScript last took it
//! ([`WakePolicy::Immediate`]) by calling a threadsafe function, without blocking. Its callback
//! runs on the JavaScript thread, takes the whole batch and calls the package's dispatcher once
//! with every job and the core's log records: a burst of messages costs one event-loop wake-up.
//! Each job's answer channel is parked with its connection ([`Job::park`]); JavaScript answers
//! through [`NativeConnection`].

use std::sync::{Arc, Mutex, PoisonError, Weak};

use napi::{
    bindgen_prelude::{Buffer, Function, Unknown},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
};
use napi_derive::napi;
use serde_json::{Map, Value};
use spikard::bridge::{
    Batch, CallKind, Job, JobQueue, Wake, WakePolicy, log::LogRecord, runtime::HostPolicy,
};

use crate::{connection::NativeConnection, json};

/// One call as JavaScript receives it.
#[napi(object, object_from_js = false)]
pub struct JsJob {
    /// The kind of call, as numbered by `callKinds()`.
    pub kind: u32,
    /// Index of the route, in registration order.
    pub route: u32,
    /// The connection's id (unique in the process).
    pub id: i64,
    /// The connection, on the first job of each connection only.
    pub connection: Option<NativeConnection>,
    /// The JSON message (`MESSAGE`) as JSON text: the package builds the handler's value with
    /// `JSON.parse` (one V8 call, not one napi call per value). Absent when the message is a
    /// string (`text`).
    pub data: Option<String>,
    /// The message (`MESSAGE`) when it is a string (every message of a raw-text route): the
    /// string itself, with no JSON quoting to add and parse.
    pub text: Option<String>,
    /// On a route that dispatches by message type, the branch the core validated the message
    /// (`MESSAGE`) against: the package calls the handler it registered under this name.
    pub branch: Option<String>,
    /// The binary message (`BINARY`).
    pub binary: Option<Buffer>,
    /// The close code (`DISCONNECT`).
    pub code: Option<u32>,
    /// The close reason (`DISCONNECT`).
    pub reason: Option<String>,
}

/// One event of the core, for the package's logger.
#[napi(object, object_from_js = false)]
pub struct JsLog {
    /// `"error"`, `"warn"`, `"info"`, `"debug"` or `"trace"`.
    pub level: String,
    /// The Rust module that logged it (`spikard::session`, ...).
    pub target: String,
    /// The event's message followed by its fields as `name=value`.
    pub message: String,
}

/// What JavaScript is handed per wake-up.
#[napi(object, object_from_js = false)]
pub struct JsBatch {
    /// Calls, oldest first.
    pub jobs: Vec<JsJob>,
    /// The core's log records, oldest first.
    pub logs: Vec<JsLog>,
}

impl JsJob {
    fn new(mut job: Job) -> Self {
        job.park();
        let (conn, call) = (job.conn(), job.call());
        let close = call.close();
        Self {
            kind: u32::from(call.kind().as_u8()),
            route: u32::try_from(job.route()).unwrap_or(u32::MAX),
            id: i64::try_from(conn.id().get()).unwrap_or(i64::MAX),
            connection: job.first().then(|| NativeConnection::new(conn.clone())),
            data: call.message().filter(|m| !m.is_string()).map(json::to_text),
            text: call.message().and_then(Value::as_str).map(str::to_owned),
            branch: job.branch().map(str::to_owned),
            binary: call.binary().map(|data| data.to_vec().into()),
            code: close.map(|info| u32::from(info.code)),
            reason: close.map(|info| info.reason.clone()),
        }
    }
}

/// The number of each kind of call, by name (`CONNECT`, `MESSAGE`, `BINARY`, `DISCONNECT`), as
/// `JsJob.kind` carries it.
#[napi(ts_return_type = "{ CONNECT: number; MESSAGE: number; BINARY: number; DISCONNECT: number }")]
pub fn call_kinds() -> Map<String, Value> {
    CallKind::ALL.iter().map(|kind| (kind.name().to_owned(), Value::from(kind.as_u8()))).collect()
}

type Tsfn = ThreadsafeFunction<(), Unknown<'static>, JsBatch, napi::Status, false>;

/// The JavaScript thread's wake-up: a non-blocking call of the threadsafe function `listen`
/// was given (until the server stopped).
#[derive(Default)]
struct JsWake(Mutex<Option<Tsfn>>);

impl Wake for JsWake {
    fn wake(&self) {
        if let Some(tsfn) = &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            // It only fails while Node.js is exiting: nobody is left to run the jobs.
            let _ = tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

/// A server's job queue and the wake-up of the JavaScript thread that drains it.
pub(crate) struct Bridge {
    pub(crate) queue: Arc<JobQueue>,
    wake: Arc<JsWake>,
}

impl Bridge {
    /// An open queue that wakes nobody until [`Bridge::start`].
    pub(crate) fn new() -> Arc<Self> {
        let wake = Arc::new(JsWake::default());
        let queue = JobQueue::new(WakePolicy::Immediate(Arc::clone(&wake) as Arc<dyn Wake>));
        Arc::new(Self { queue, wake })
    }

    /// Hand every batch to `on_batch` on the JavaScript thread, with the core's log records.
    /// The JavaScript thread's scheduling policy follows the batches it takes ([`HostPolicy`]):
    /// `SCHED_BATCH` only while several jobs arrive per wake-up.
    pub(crate) fn start(&self, on_batch: &Function<'_, JsBatch, Unknown<'static>>) -> napi::Result<()> {
        let queue: Weak<JobQueue> = Arc::downgrade(&self.queue);
        let policy = Mutex::new(HostPolicy::default());
        let tsfn = on_batch.build_threadsafe_function::<()>().callee_handled::<false>().build_callback(
            move |_ctx| {
                let mut batch = Batch::default();
                if let Some(queue) = queue.upgrade() {
                    queue.take(&mut batch);
                }
                policy.lock().unwrap_or_else(PoisonError::into_inner).took(batch.jobs.len());
                let jobs = batch.jobs.into_iter().map(JsJob::new).collect();
                let log = |r: LogRecord| JsLog {
                    level: r.level.as_str().to_owned(),
                    target: r.target,
                    message: r.message,
                };
                Ok(JsBatch { jobs, logs: batch.logs.into_iter().map(log).collect() })
            },
        )?;
        *self.wake.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(tsfn);
        spikard::bridge::log::attach(&self.queue);
        Ok(())
    }

    /// Close the queue (waiting calls are lost: the core answers them) and release the
    /// threadsafe function, so that Node.js may exit.
    pub(crate) fn stop(&self) {
        self.queue.close();
        self.wake.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}
