//! [`BridgeRoute`]: the core's handler for a route served by the host language, and the one
//! policy for what the host answers, raises, or never answers.

use std::sync::Arc;

use axum::{extract::ws::Message, http::StatusCode};
use bytes::Bytes;
use serde_json::Value;

use super::{Call, Job, JobQueue, protocol};
use crate::{
    connection::{CloseInfo, Connection},
    handler::{HandlerError, Rejection, Reply, WebSocketHandler},
};

/// What the host answered to a [`Call`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// Finished with nothing to send: `on_connect` accepted, `on_disconnect` ran, or a message
    /// handler returned no reply.
    Done,
    /// A message handler's reply. A binary reply to a text message goes out on the reply path
    /// too, in order with the other replies.
    Reply(Reply),
    /// `on_connect` refused the connection with this HTTP status (checked by
    /// [`protocol::rejection_status`]) and reason.
    Rejected {
        /// The HTTP status asked for.
        status: u16,
        /// The reason, sent in the refusal's envelope.
        reason: String,
    },
    /// The host's handler failed (see [`HandlerError`] for what the client is told).
    Failed(HandlerError),
}

impl Outcome {
    /// A JSON reply, or [`Outcome::Done`] for `None`.
    #[must_use]
    pub fn reply_json(value: Option<Value>) -> Self {
        value.map_or(Self::Done, |v| Self::Reply(Reply::Json(v)))
    }

    /// A binary reply.
    #[must_use]
    pub fn reply_binary(data: impl Into<Bytes>) -> Self {
        Self::Reply(Reply::Binary(data.into()))
    }
}

/// Which optional parts a host route has, so that calls with nothing to run never reach the
/// host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Hooks {
    /// The route has `on_connect`.
    pub connect: bool,
    /// The route has `on_disconnect`.
    pub disconnect: bool,
    /// The route accepts binary messages.
    pub binary: bool,
    /// The host keeps an object per connection that it must release itself: it hears of the
    /// end of every connection it was handed ([`Job::first`]), hook or not. Without it, what
    /// the host stored in the connection's state is dropped by the core.
    pub release: bool,
}

/// The client-facing text of a refusal the host never answered (the server is stopping).
pub const CLOSING: &str = "server is closing";

/// One route of the host: every call becomes a [`Job`] on the server's [`JobQueue`].
#[derive(Debug, Clone)]
pub struct BridgeRoute {
    route: usize,
    hooks: Hooks,
    queue: Arc<JobQueue>,
}

/// Marks a connection the host has been handed.
#[derive(Clone, Copy)]
struct Handed;

impl BridgeRoute {
    /// Route number `route` (the host's index of its callables), with `hooks`, queueing on
    /// `queue`.
    #[must_use]
    pub fn new(route: usize, hooks: Hooks, queue: Arc<JobQueue>) -> Self {
        Self { route, hooks, queue }
    }

    /// The handler of the branch `name` of this route (see [`crate::dispatch`]): its
    /// messages reach the host as [`Call::Message`] jobs whose [`Job::branch`] is `name`.
    #[must_use]
    pub fn branch(&self, name: &str) -> BridgeBranch {
        BridgeBranch { route: self.clone(), name: Arc::new(name.to_owned()) }
    }

    /// Queue `call` and wait for the host's answer; `None` when it was lost (queue closed, or
    /// the host dropped the job).
    async fn ask(&self, conn: &Connection, call: Call, branch: Option<Arc<String>>) -> Option<Outcome> {
        let first = {
            // Looked up before it is inserted: a lookup is cheaper, and all but the first call
            // of a connection find it.
            let mut state = conn.state();
            state.get::<Handed>().is_none() && state.insert(Handed).is_none()
        };
        let (job, outcome) = Job::new(self.route, conn.clone(), call, branch, first);
        self.queue.push(job).ok()?;
        outcome.await.ok()
    }

    fn handed(conn: &Connection) -> bool {
        conn.state().get::<Handed>().is_some()
    }
}

/// What a message call's outcome means for the core.
fn message_result(conn: &Connection, outcome: Option<Outcome>) -> Result<Option<Reply>, HandlerError> {
    match outcome {
        Some(Outcome::Done) => Ok(None),
        Some(Outcome::Reply(reply)) => Ok(Some(reply)),
        Some(Outcome::Failed(err)) => Err(err),
        Some(Outcome::Rejected { .. }) => {
            Err(HandlerError::internal("a message handler answered with a connection refusal"))
        }
        None => {
            tracing::debug!(connection = %conn.id(), "a call was lost: the server is stopping");
            Err(HandlerError::internal(CLOSING))
        }
    }
}

/// A message call's outcome as a handler's result: a binary reply goes out on the reply path.
fn json_reply(conn: &Connection, outcome: Option<Outcome>) -> Result<Option<Value>, HandlerError> {
    match message_result(conn, outcome)? {
        None => Ok(None),
        Some(Reply::Json(value)) => Ok(Some(value)),
        Some(Reply::Binary(data)) => {
            conn.send_reply(Message::Binary(data));
            Ok(None)
        }
    }
}

/// One branch of a host route that dispatches by message type ([`BridgeRoute::branch`]): its
/// messages become [`Call::Message`] jobs naming the branch ([`Job::branch`]), under the same
/// policy as the route's other calls.
#[derive(Debug)]
pub struct BridgeBranch {
    route: BridgeRoute,
    // A thin pointer (`Arc<String>`, not `Arc<str>`): it travels in every `Job`.
    name: Arc<String>,
}

#[async_trait::async_trait]
impl WebSocketHandler for BridgeBranch {
    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        let outcome = self.route.ask(conn, Call::Message(message), Some(Arc::clone(&self.name))).await;
        json_reply(conn, outcome)
    }
}

#[async_trait::async_trait]
impl WebSocketHandler for BridgeRoute {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        if !self.hooks.connect {
            return Ok(());
        }
        match self.ask(conn, Call::Connect, None).await {
            Some(Outcome::Done | Outcome::Reply(_)) => Ok(()),
            Some(Outcome::Rejected { status, reason }) => match protocol::rejection_status(status) {
                Ok(status) => Err(Rejection::with_status(status, reason)),
                Err(err) => {
                    tracing::error!(route = conn.route(), error = %err.message, "on_connect refused wrongly");
                    Err(Rejection::with_status(StatusCode::INTERNAL_SERVER_ERROR, crate::INTERNAL_ERROR))
                }
            },
            Some(Outcome::Failed(err)) => {
                tracing::debug!(route = conn.route(), error = %err, "on_connect failed");
                Err(Rejection::with_status(StatusCode::INTERNAL_SERVER_ERROR, crate::INTERNAL_ERROR))
            }
            None => Err(Rejection::with_status(StatusCode::SERVICE_UNAVAILABLE, CLOSING)),
        }
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        let outcome = self.ask(conn, Call::Message(message), None).await;
        json_reply(conn, outcome)
    }

    fn accepts_binary(&self) -> bool {
        self.hooks.binary
    }

    async fn handle_binary(&self, conn: &Connection, data: Bytes) -> Result<Option<Reply>, HandlerError> {
        let outcome = self.ask(conn, Call::Binary(data), None).await;
        message_result(conn, outcome)
    }

    async fn on_disconnect(&self, conn: &Connection, close: CloseInfo) {
        if self.hooks.disconnect || (self.hooks.release && Self::handed(conn)) {
            let _ = self.ask(conn, Call::Disconnect(close), None).await;
        }
        // Whatever the host left with the connection must not outlive it: its objects refer
        // to the connection, so keeping them would keep both alive.
        conn.state().clear();
    }
}
