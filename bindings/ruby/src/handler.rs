//! [`RubyHandler`]: the core's handler trait implemented by queueing each call for a Ruby
//! dispatcher thread and awaiting its outcome.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use spikard::{
    BinaryReply, Bytes, CloseInfo, Connection, HandlerError, Rejection, StatusCode, WebSocketHandler,
};
use tokio::sync::oneshot;

use crate::{
    queue::{Call, Job, JobQueue, Outcome},
    websocket::RootedWs,
};

/// Which optional Ruby callables a route has, so calls with nothing to run are never queued.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hooks {
    /// The route has `on_connect`.
    pub(crate) connect: bool,
    /// The route has `on_disconnect`.
    pub(crate) disconnect: bool,
    /// The route accepts binary messages.
    pub(crate) binary: bool,
}

/// One route's handler: every call goes to a Ruby thread through the shared queue.
pub(crate) struct RubyHandler {
    pub(crate) route: usize,
    pub(crate) hooks: Hooks,
    pub(crate) queue: Arc<JobQueue>,
}

fn stopped() -> HandlerError {
    HandlerError::new("the server is shutting down")
}

impl RubyHandler {
    async fn call(&self, conn: &Connection, call: Call) -> Option<Outcome> {
        let (reply, outcome) = oneshot::channel();
        let job = Job { route: self.route, conn: conn.clone(), call, reply };
        self.queue.push(job).ok()?;
        outcome.await.ok()
    }
}

#[async_trait]
impl WebSocketHandler for RubyHandler {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        if !self.hooks.connect {
            return Ok(());
        }
        match self.call(conn, Call::Connect).await {
            Some(Outcome::Rejected(rejection)) => Err(rejection),
            Some(_) => Ok(()),
            None => Err(Rejection::with_status(StatusCode::SERVICE_UNAVAILABLE, stopped().message)),
        }
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        match self.call(conn, Call::Message(message)).await {
            Some(Outcome::Reply(reply)) => Ok(reply),
            Some(Outcome::Failed(err)) => Err(err),
            Some(_) => Ok(None),
            None => Err(stopped()),
        }
    }

    fn accepts_binary(&self) -> bool {
        self.hooks.binary
    }

    async fn handle_binary(
        &self,
        conn: &Connection,
        data: Bytes,
    ) -> Result<Option<BinaryReply>, HandlerError> {
        match self.call(conn, Call::Binary(data)).await {
            Some(Outcome::BinaryReply(reply)) => Ok(reply),
            Some(Outcome::Failed(err)) => Err(err),
            Some(_) => Ok(None),
            None => Err(stopped()),
        }
    }

    async fn on_disconnect(&self, conn: &Connection, close: CloseInfo) {
        // The Ruby object, if one was made, must be released on a Ruby thread even without a hook.
        if self.hooks.disconnect || conn.state().get::<RootedWs>().is_some() {
            let _ = self.call(conn, Call::Disconnect(close)).await;
        }
    }
}
