//! The dispatcher loop: runs on a Ruby thread, takes the core's jobs in batches (waiting with
//! the GVL released) and calls the routes' Ruby callables. What a call answers, raises or never
//! answers means what the core's [`BridgeRoute`](spikard::bridge::BridgeRoute) says; this module
//! only turns Ruby's results and exceptions into [`Outcome`]s, and hands the core's log records
//! and the handlers' unexpected exceptions to the app's `Logger`.

use magnus::{
    Error, RArray, RString, Ruby, Value,
    encoding::EncodingCapable,
    error::ErrorType,
    kwargs,
    prelude::*,
    value::{LazyId, ReprValue},
};
use spikard::{
    HandlerError, Reply,
    bridge::{Batch, Call, Job, JobQueue, Outcome, Woken, log::LogLevel},
};

use crate::{convert, errors, nogvl::without_gvl, websocket::RootedWs};

static CALL: LazyId = LazyId::new("call");

/// `Logger::ERROR`: the severity of a handler's unexpected exception.
const ERROR: u8 = 3;

/// The `Logger` severity of a core log record (`Logger::DEBUG` 0 ... `Logger::ERROR` 3).
fn severity(level: LogLevel) -> u8 {
    match level {
        LogLevel::Error => ERROR,
        LogLevel::Warn => 2,
        LogLevel::Info => 1,
        _ => 0,
    }
}

fn is_jump(err: &Error) -> bool {
    matches!(err.error_type(), ErrorType::Jump(_))
}

/// What the dispatcher calls: the routes' callables and the logger.
struct Host {
    /// `routes[i][kind]`: route `i`'s callable for each [`spikard::bridge::CallKind`] (nil when
    /// the route has none).
    routes: RArray,
    logger: Value,
}

/// Handle jobs until the queue is closed and drained.
///
/// Returns early only when Ruby interrupts the thread with an exception (`Thread#raise`,
/// `Thread#kill`); the rest of its batch goes back to the queue for the other dispatchers (when
/// there is none, those calls are lost once the server stops, as the core's policy says).
pub(crate) fn run(ruby: &Ruby, queue: &JobQueue, routes: RArray, logger: Value) -> Result<(), Error> {
    let _consuming = queue.consume();
    let host = Host { routes, logger };
    let mut batch = Batch::new();
    loop {
        queue.take(&mut batch);
        let woken = if batch.is_empty() {
            without_gvl(|| queue.wait(&mut batch), || queue.interrupt()).unwrap_or(Woken::Interrupted)
        } else {
            Woken::Taken
        };
        let mut jobs = batch.jobs.drain(..);
        let handled = (|| {
            for record in batch.logs.drain(..) {
                host.log(severity(record.level), &record.target, record.message)?;
            }
            for job in jobs.by_ref() {
                host.run_job(ruby, job)?;
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

impl Host {
    fn run_job(&self, ruby: &Ruby, mut job: Job) -> Result<(), Error> {
        let callables: RArray = self.routes.entry(isize::try_from(job.route()).unwrap_or(isize::MAX))?;
        let callable: Value = callables.entry(isize::from(job.call().kind().as_u8()))?;
        let call = LazyId::get_inner_with(&CALL, ruby);
        let conn = job.conn().clone();
        let route = conn.route();
        let outcome = match job.call() {
            Call::Connect => match callable.funcall::<_, _, Value>(call, (RootedWs::of(ruby, &job),)) {
                Ok(_) => Outcome::Done,
                Err(err) => {
                    // A refused connection never hears of its end: release its object now.
                    RootedWs::release(ruby, &conn);
                    if err.is_kind_of(errors::class(ruby, "Rejected")?) {
                        rejection(&err)
                    } else {
                        self.internal(&err, "on_connect", route)?
                    }
                }
            },
            Call::Message(message) => {
                let args = (convert::to_ruby(ruby, message), RootedWs::of(ruby, &job));
                let result = callable.funcall(call, args).and_then(|value| reply(ruby, value, false));
                result.or_else(|err| self.failed(ruby, &err, route))?
            }
            Call::Binary(data) => {
                let args = (ruby.str_from_slice(data), RootedWs::of(ruby, &job));
                let result = callable.funcall(call, args).and_then(|value| reply(ruby, value, true));
                result.or_else(|err| self.failed(ruby, &err, route))?
            }
            Call::Disconnect(close) => {
                let ran = if callable.is_nil() {
                    Ok(())
                } else {
                    let info =
                        errors::class(ruby, "Close")?.new_instance((close.code, close.reason.as_str()))?;
                    callable.funcall::<_, _, Value>(call, (RootedWs::of(ruby, &job), info)).map(drop)
                };
                RootedWs::release(ruby, &conn);
                if let Err(err) = ran {
                    self.internal(&err, "on_disconnect", route)?;
                }
                Outcome::Done
            }
            _ => Outcome::Done,
        };
        // Answered once, here: the only error is a second answer, which cannot happen.
        let _ = job.answer(outcome);
        Ok(())
    }

    /// A message handler's exception: a `Spikard::HandlerError` sends its message to the client;
    /// anything else is an internal error.
    fn failed(&self, ruby: &Ruby, err: &Error, route: &str) -> Result<Outcome, Error> {
        if err.is_kind_of(errors::class(ruby, "HandlerError")?) {
            return Ok(Outcome::Failed(HandlerError::new(message(err))));
        }
        self.internal(err, "handler", route)
    }

    /// An unexpected exception: logged with its backtrace, `"internal error"` for the client. A
    /// non-local jump (the thread is being killed) goes on up instead.
    fn internal(&self, err: &Error, what: &str, route: &str) -> Result<Outcome, Error> {
        let detail = match err.error_type() {
            ErrorType::Jump(_) => return Err(err.clone()),
            ErrorType::Exception(exception) => exception
                .funcall::<_, _, String>("full_message", (kwargs!("highlight" => false),))
                .unwrap_or_else(|_| err.to_string()),
            ErrorType::Error(class, message) => format!("{message} ({})", class.inspect()),
        };
        self.log(ERROR, "spikard", format!("{what} of route {route} raised {detail}"))?;
        Ok(Outcome::Failed(HandlerError::internal("raised in Ruby")))
    }

    /// `logger.add(severity, text, progname)`. A logger that fails does not stop the dispatcher;
    /// a thread kill gets through.
    fn log(&self, severity: u8, progname: &str, text: String) -> Result<(), Error> {
        match self.logger.funcall::<_, _, Value>("add", (severity, text, progname)) {
            Err(err) if is_jump(&err) => Err(err),
            _ => Ok(()),
        }
    }
}

/// The message of an exception.
fn message(err: &Error) -> String {
    match err.error_type() {
        ErrorType::Exception(exception) => exception.funcall("message", ()).unwrap_or_default(),
        ErrorType::Error(_, message) => message.to_string(),
        ErrorType::Jump(_) => String::new(),
    }
}

/// A `Spikard::Rejected` raised in `on_connect`: its status (checked by the core) and message.
fn rejection(err: &Error) -> Outcome {
    let status = match err.error_type() {
        ErrorType::Exception(exception) => exception.funcall::<_, _, i64>("status", ()).unwrap_or(0),
        _ => 0,
    };
    // Out of range becomes 0, which the core refuses (500), like any non-error status.
    Outcome::Rejected { status: u16::try_from(status).unwrap_or(0), reason: message(err) }
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
