//! The dispatcher loop: runs on a Ruby thread, takes jobs in batches (waiting with the GVL
//! released) and calls the routes' Ruby callables.

use magnus::{
    Error, RArray, RClass, RModule, RString, Ruby, Value,
    error::ErrorType,
    prelude::*,
    value::{LazyId, ReprValue},
};
use spikard::{BinaryReply, Connection, HandlerError, Rejection, StatusCode};

use crate::{
    convert,
    nogvl::without_gvl,
    queue::{BATCH, Call, Job, JobQueue, Outcome, Woken},
    websocket::RootedWs,
};

static CALL: LazyId = LazyId::new("call");

/// Positions in each route's callables array (see `Spikard::Route#callables`).
const ON_MESSAGE: isize = 0;
const ON_CONNECT: isize = 1;
const ON_DISCONNECT: isize = 2;
const ON_BINARY: isize = 3;

/// Handle jobs until the queue is closed and drained. `routes[i]` holds route `i`'s callables.
///
/// Returns early only when Ruby interrupts the thread with an exception (`Thread#raise`,
/// `Thread#kill`); the rest of its batch goes back to the queue for the other dispatchers (when
/// there is none, those calls are answered as "shutting down" once the server stops).
pub(crate) fn run(ruby: &Ruby, queue: &JobQueue, routes: RArray) -> Result<(), Error> {
    let _dispatching = queue.enter();
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    loop {
        queue.try_batch(&mut batch);
        let woken = if batch.is_empty() {
            without_gvl(|| queue.wait_batch(&mut batch), || queue.interrupt()).unwrap_or(Woken::Interrupted)
        } else {
            Woken::Jobs
        };
        let mut jobs = batch.drain(..);
        while let Some(job) = jobs.next() {
            if let Err(err) = run_job(ruby, routes, job) {
                for rest in jobs {
                    let _ = queue.push(rest);
                }
                return Err(err);
            }
        }
        ruby.thread_check_ints()?;
        if woken == Woken::Closed {
            return Ok(());
        }
    }
}

fn run_job(ruby: &Ruby, routes: RArray, job: Job) -> Result<(), Error> {
    let Job { route, conn, call, reply } = job;
    let callables: RArray = routes.entry(route as isize)?;
    let outcome = match call {
        Call::Connect => on_connect(ruby, callables.entry(ON_CONNECT)?, &conn)?,
        Call::Message(message) => {
            let ws = RootedWs::get_or_create(ruby, &conn);
            let callable: Value = callables.entry(ON_MESSAGE)?;
            let result =
                callable.funcall(LazyId::get_inner_with(&CALL, ruby), (convert::to_ruby(ruby, &message), ws));
            match handled(result)? {
                Ok(reply) if reply.is_nil() => Outcome::Reply(None),
                Ok(reply) => match convert::to_json(ruby, reply) {
                    Ok(value) => Outcome::Reply(Some(value)),
                    Err(err) => Outcome::Failed(handler_error(&err)),
                },
                Err(err) => Outcome::Failed(err),
            }
        }
        Call::Binary(data) => {
            let ws = RootedWs::get_or_create(ruby, &conn);
            let callable: Value = callables.entry(ON_BINARY)?;
            let result =
                callable.funcall(LazyId::get_inner_with(&CALL, ruby), (ruby.str_from_slice(&data), ws));
            match handled(result)? {
                Ok(reply) if reply.is_nil() => Outcome::BinaryReply(None),
                Ok(reply) => match RString::from_value(reply) {
                    Some(bytes) => Outcome::BinaryReply(Some(BinaryReply::Binary(convert::bytes(bytes)))),
                    None => match convert::to_json(ruby, reply) {
                        Ok(value) => Outcome::BinaryReply(Some(BinaryReply::Json(value))),
                        Err(err) => Outcome::Failed(handler_error(&err)),
                    },
                },
                Err(err) => Outcome::Failed(err),
            }
        }
        Call::Disconnect(close) => {
            let hook: Value = callables.entry(ON_DISCONNECT)?;
            if !hook.is_nil() {
                let ws = RootedWs::get_or_create(ruby, &conn);
                let info = spikard_class(ruby, "Close")?.new_instance((close.code, close.reason))?;
                if let Err(err) =
                    handled(hook.funcall::<_, _, Value>(LazyId::get_inner_with(&CALL, ruby), (ws, info)))?
                {
                    warn(
                        ruby,
                        &format!("spikard: on_disconnect of {} raised: {}", conn.route(), err.message),
                    );
                }
            }
            RootedWs::release(ruby, &conn);
            Outcome::Done
        }
    };
    // The connection's task may be gone (server stopping): nobody is waiting then.
    let _ = reply.send(outcome);
    Ok(())
}

fn on_connect(ruby: &Ruby, hook: Value, conn: &Connection) -> Result<Outcome, Error> {
    let ws = RootedWs::get_or_create(ruby, conn);
    let err = match hook.funcall::<_, _, Value>(LazyId::get_inner_with(&CALL, ruby), (ws,)) {
        Ok(_) => return Ok(Outcome::Done),
        Err(err) => err,
    };
    if matches!(err.error_type(), ErrorType::Jump(_)) {
        return Err(err);
    }
    RootedWs::release(ruby, conn);
    let rejected = spikard_class(ruby, "Rejected")?;
    let message = handler_error(&err).message;
    if err.is_kind_of(rejected) {
        let status: u16 = err.value().map_or(Ok(403), |e| e.funcall("status", ()))?;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        return Ok(Outcome::Rejected(Rejection::with_status(status, message)));
    }
    warn(ruby, &format!("spikard: on_connect of {} raised: {message}", conn.route()));
    Ok(Outcome::Rejected(Rejection::with_status(StatusCode::INTERNAL_SERVER_ERROR, message)))
}

/// Split a handler call's result: `Ok(Ok(v))` returned, `Ok(Err(e))` raised an exception (sent
/// to the client as `handler_error`), `Err` a non-local jump (thread kill) that must propagate.
fn handled(result: Result<Value, Error>) -> Result<Result<Value, HandlerError>, Error> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(err) if matches!(err.error_type(), ErrorType::Jump(_)) => Err(err),
        Err(err) => Ok(Err(handler_error(&err))),
    }
}

/// The client-facing text of an exception: its message only, never a backtrace.
fn handler_error(err: &Error) -> HandlerError {
    let message = match err.value() {
        Some(exception) => match exception.funcall::<_, _, RString>("message", ()) {
            Ok(message) => message.to_string().unwrap_or_default(),
            Err(_) => exception.class().inspect(),
        },
        None => err.to_string(),
    };
    HandlerError::new(message)
}

fn spikard_class(ruby: &Ruby, name: &str) -> Result<RClass, Error> {
    ruby.class_object().const_get::<_, RModule>("Spikard")?.const_get(name)
}

fn warn(ruby: &Ruby, message: &str) {
    let _ = ruby.module_kernel().funcall::<_, _, Value>("warn", (message,));
}
