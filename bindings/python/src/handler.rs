//! [`PyRoute`]: the core's `WebSocketHandler` for a route whose handler and hooks live in Python.
//! Every call becomes a job on the bridge; hooks the route does not have never reach Python.

use std::sync::Arc;

use spikard::{
    BinaryReply, Bytes, CloseInfo, Connection, HandlerError, Rejection, StatusCode, WebSocketHandler,
    async_trait,
};

use crate::bridge::{Outcome, Payload, Shared};

/// What reaches the client when Python dropped a job without answering it.
const LOST: &str = "internal error";

/// Which optional parts a Python route has.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hooks {
    pub(crate) on_connect: bool,
    pub(crate) on_disconnect: bool,
    pub(crate) on_binary: bool,
}

/// A route served by Python callables through the bridge.
pub(crate) struct PyRoute {
    pub(crate) index: usize,
    pub(crate) hooks: Hooks,
    pub(crate) bridge: Arc<Shared>,
}

#[async_trait]
impl WebSocketHandler for PyRoute {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        if !self.hooks.on_connect {
            return Ok(());
        }
        match self.bridge.submit(self.index, conn, Payload::Connect).await {
            Some(Outcome::Done) => Ok(()),
            Some(Outcome::Reject { status, reason }) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
                Err(Rejection::with_status(status, reason))
            }
            _ => Err(Rejection::with_status(StatusCode::INTERNAL_SERVER_ERROR, LOST)),
        }
    }

    async fn handle_message(
        &self,
        conn: &Connection,
        message: serde_json::Value,
    ) -> Result<Option<serde_json::Value>, HandlerError> {
        match self.bridge.submit(self.index, conn, Payload::Message(message)).await {
            Some(Outcome::Reply(reply)) => Ok(reply),
            Some(Outcome::Failed(message)) => Err(HandlerError::new(message)),
            _ => Err(HandlerError::new(LOST)),
        }
    }

    fn accepts_binary(&self) -> bool {
        self.hooks.on_binary
    }

    async fn handle_binary(
        &self,
        conn: &Connection,
        data: Bytes,
    ) -> Result<Option<BinaryReply>, HandlerError> {
        match self.bridge.submit(self.index, conn, Payload::Binary(data)).await {
            Some(Outcome::BinaryReply(reply)) => Ok(reply),
            Some(Outcome::Failed(message)) => Err(HandlerError::new(message)),
            _ => Err(HandlerError::new(LOST)),
        }
    }

    async fn on_disconnect(&self, conn: &Connection, close: CloseInfo) {
        if self.hooks.on_disconnect {
            // The Python side forgets the connection's WebSocket object when it finishes.
            let _ = self.bridge.submit(self.index, conn, Payload::Disconnect(close)).await;
        }
        // Whatever Python left with the connection must not outlive it: the object refers to
        // the connection, so keeping it would keep both alive.
        conn.state().clear();
    }
}
