//! The dispatcher loop: runs on a Ruby thread, takes the core's jobs in batches (waiting with
//! the GVL released) and calls the routes' Ruby callables. What a call answers, raises or never
//! answers means what the core's [`BridgeRoute`](spikard::bridge::BridgeRoute) says; this module
//! only turns Ruby's results into [`Outcome`]s. What an exception means for the client (and
//! logging it) is decided in Ruby, by `Spikard::Server#failed`; the core's log records go to
//! `Spikard::Server#logged`.

use magnus::{
    Error, RArray, RHash, RString, Ruby, TryConvert, Value,
    encoding::EncodingCapable,
    error::ErrorType,
    prelude::*,
    value::{LazyId, ReprValue},
};
use spikard::{
    Connection, HandlerError, Reply,
    bridge::{Batch, Call, Job, JobQueue, Outcome, Woken, runtime::HostPolicy},
};

use crate::{convert, errors, nogvl, websocket};

static CALL: LazyId = LazyId::new("call");

/// What a dispatcher works with, all owned by the Ruby `Spikard::Server`.
pub(crate) struct Host {
    /// `routes[i][kind]`: route `i`'s callable for each [`spikard::bridge::CallKind`] (nil when
    /// the route has none); for the message call of a route that dispatches by message type, a
    /// Hash of branch name to callable, looked up with [`Job::branch`].
    pub(crate) routes: RArray,
    /// The `Spikard::Server` (its `failed` and `logged` methods).
    pub(crate) server: Value,
    /// Each open connection's `Spikard::WebSocket` by connection id: made for the connection's
    /// first job ([`Job::first`]), deleted by its disconnect call (the routes ask the core for
    /// that call with [`Hooks::release`](spikard::bridge::Hooks::release)) or a refusal. Held by
    /// a Ruby Hash, the objects need no GC registration of their own.
    pub(crate) connections: RHash,
}

impl Host {
    /// Handle jobs until the queue is closed and drained.
    ///
    /// Returns early only when Ruby interrupts the thread with an exception (`Thread#raise`,
    /// `Thread#kill`); the rest of its batch goes back to the queue for the other dispatchers (when
    /// there is none, those calls are lost once the server stops, as the core's policy says).
    ///
    /// The thread's scheduling policy follows its batches ([`HostPolicy`]).
    pub(crate) fn run(&self, ruby: &Ruby, queue: &JobQueue) -> Result<(), Error> {
        let _consuming = queue.consume();
        let (mut batch, mut policy) = (Batch::new(), HostPolicy::default());
        loop {
            queue.take(&mut batch);
            let woken = if batch.is_empty() {
                nogvl::wait(queue, &mut batch).unwrap_or(Woken::Interrupted)
            } else {
                Woken::Taken
            };
            policy.took(batch.jobs.len());
            let mut jobs = batch.jobs.drain(..);
            let handled = (|| {
                for record in batch.logs.drain(..) {
                    let args = (record.level.as_str(), record.target, record.message);
                    self.server.funcall::<_, _, Value>("logged", args)?;
                }
                for job in jobs.by_ref() {
                    self.run_job(ruby, job)?;
                }
                ruby.thread_check_ints()
            })();
            if let Err(err) = handled {
                queue.requeue(jobs);
                return Err(err);
            }
            if woken == Woken::Closed {
                return Ok(());
            }
        }
    }

    /// The job's connection's `Spikard::WebSocket`.
    fn ws(&self, ruby: &Ruby, job: &Job) -> Result<Value, Error> {
        let id = job.conn().id().get();
        if !job.first() {
            if let Some(ws) = self.connections.get(id) {
                return Ok(ws);
            }
        }
        let ws = websocket::wrap(ruby, job.conn().clone());
        self.connections.aset(id, ws)?;
        Ok(ws)
    }

    /// Let Ruby collect the connection's `Spikard::WebSocket`.
    fn release(&self, conn: &Connection) {
        let _: Option<Value> = self.connections.delete(conn.id().get()).ok();
    }

    fn run_job(&self, ruby: &Ruby, mut job: Job) -> Result<(), Error> {
        let callables: RArray = self.routes.entry(isize::try_from(job.route()).unwrap_or(isize::MAX))?;
        let mut callable: Value = callables.entry(isize::from(job.call().kind().as_u8()))?;
        if let Some(name) = job.branch() {
            // A dispatching route's message callables: a Hash of branch name to callable, made
            // by `Spikard::Route#callables`. The core has picked the branch already.
            callable = RHash::from_value(callable)
                .and_then(|branches| branches.get(ruby.str_new(name)))
                .unwrap_or_else(|| ruby.qnil().as_value());
        }
        let call = LazyId::get_inner_with(&CALL, ruby);
        let conn = job.conn().clone();
        let route = conn.route();
        let outcome = match job.call() {
            Call::Connect => match callable.funcall::<_, _, Value>(call, (self.ws(ruby, &job)?,)) {
                Ok(_) => Outcome::Done,
                Err(err) => {
                    // A refused connection never hears of its end: release its object now.
                    self.release(&conn);
                    match Option::<(i64, String)>::try_convert(self.failed(&err, "on_connect", route)?)? {
                        // Out of range becomes 0, which the core refuses (500) like any status
                        // that is not an error.
                        Some((status, reason)) => {
                            Outcome::Rejected { status: u16::try_from(status).unwrap_or(0), reason }
                        }
                        None => internal(),
                    }
                }
            },
            Call::Message(message) => {
                let args = (convert::to_ruby(ruby, message), self.ws(ruby, &job)?);
                self.answer(ruby, callable.funcall(call, args), false, route)?
            }
            Call::Binary(data) => {
                let args = (ruby.str_from_slice(data), self.ws(ruby, &job)?);
                self.answer(ruby, callable.funcall(call, args), true, route)?
            }
            Call::Disconnect(close) => {
                let ran = if callable.is_nil() {
                    Ok(())
                } else {
                    let info =
                        errors::class(ruby, "Close")?.new_instance((close.code, close.reason.as_str()))?;
                    callable.funcall::<_, _, Value>(call, (self.ws(ruby, &job)?, info)).map(drop)
                };
                self.release(&conn);
                if let Err(err) = ran {
                    self.failed(&err, "on_disconnect", route)?;
                }
                Outcome::Done
            }
            _ => Outcome::Done,
        };
        // Answered once, here: the only error is a second answer, which cannot happen. A
        // connect nobody waits for any more (handshake timeout, client gone) never reaches
        // `on_disconnect`: release its object now.
        if !job.answer(outcome).unwrap_or(true) && matches!(job.call(), Call::Connect) {
            self.release(&conn);
        }
        Ok(())
    }

    /// A message handler's result: its reply, or what its exception means for the client.
    fn answer(
        &self,
        ruby: &Ruby,
        result: Result<Value, Error>,
        binary: bool,
        route: &str,
    ) -> Result<Outcome, Error> {
        match result.and_then(|value| reply(ruby, value, binary)) {
            Ok(outcome) => Ok(outcome),
            Err(err) => Ok(match Option::<String>::try_convert(self.failed(&err, "handler", route)?)? {
                Some(message) => Outcome::Failed(HandlerError::new(message)),
                None => internal(),
            }),
        }
    }

    /// `Spikard::Server#failed(what, route, exception)`: the refusal of a `Spikard::Rejection`
    /// from `on_connect`, the message of a `Spikard::HandlerError` from a handler, else nil
    /// (logged with its backtrace). A non-local jump (the thread is being killed) goes on up.
    fn failed(&self, err: &Error, what: &str, route: &str) -> Result<Value, Error> {
        let exception = match err.error_type() {
            ErrorType::Jump(_) => return Err(err.clone()),
            ErrorType::Exception(exception) => exception.as_value(),
            ErrorType::Error(class, message) => class.new_instance((message.as_ref(),))?.as_value(),
        };
        self.server.funcall("failed", (what, route, exception))
    }
}

/// An unexpected exception, already logged: `"internal error"` for the client.
fn internal() -> Outcome {
    Outcome::Failed(HandlerError::internal("raised in Ruby"))
}

/// A handler's return value: nil sends nothing, a binary String (any String, for a binary
/// message) a binary frame, anything else JSON.
fn reply(ruby: &Ruby, value: Value, binary: bool) -> Result<Outcome, Error> {
    if value.is_nil() {
        return Ok(Outcome::Done);
    }
    if let Some(string) = RString::from_value(value) {
        if binary || string.enc_get() == ruby.ascii8bit_encindex() {
            return Ok(Outcome::reply_binary(convert::bytes(string)));
        }
    }
    Ok(Outcome::Reply(Reply::Json(convert::to_json(ruby, value)?)))
}
