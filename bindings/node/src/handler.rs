//! [`JsHandler`]: the core's handler trait, answered by JavaScript through the dispatcher.

use std::sync::Arc;

use serde_json::Value;
use spikard::{
    BinaryReply, Bytes, CloseInfo, Connection, HandlerError, Rejection, StatusCode, WebSocketHandler,
    async_trait,
};

use crate::{
    connection::{Bridge, Outcome},
    dispatch::{Dispatcher, Event, EventKind},
};

/// Which optional callbacks a route has on the JavaScript side.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hooks {
    pub(crate) connect: bool,
    pub(crate) disconnect: bool,
    pub(crate) binary: bool,
}

/// One route's handler: every callback becomes an event for JavaScript, awaited in order.
pub(crate) struct JsHandler {
    pub(crate) route: u32,
    pub(crate) hooks: Hooks,
    pub(crate) dispatcher: Arc<Dispatcher>,
}

/// What the core hears when JavaScript went away before answering (server closing).
const GONE: &str = "the JavaScript handler did not complete";

impl JsHandler {
    async fn ask(&self, conn: &Connection, kind: EventKind) -> Option<Outcome> {
        let bridge = Bridge::of(conn);
        let answer = bridge.expect_outcome();
        let announce = bridge.announce();
        self.dispatcher.push(Event { route: self.route, conn: conn.clone(), bridge, announce, kind });
        answer.await.ok()
    }
}

#[async_trait]
impl WebSocketHandler for JsHandler {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        if !self.hooks.connect {
            return Ok(());
        }
        match self.ask(conn, EventKind::Connect).await {
            Some(Outcome::Rejected(status, reason)) => Err(Rejection::with_status(
                StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
                reason,
            )),
            Some(Outcome::Failed(reason)) => Err(Rejection::forbidden(reason)),
            Some(_) => Ok(()),
            None => Err(Rejection::with_status(StatusCode::SERVICE_UNAVAILABLE, "server is closing")),
        }
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        match self.ask(conn, EventKind::Message(message)).await {
            Some(Outcome::Reply(reply)) => Ok(reply),
            Some(Outcome::Failed(message)) => Err(HandlerError::new(message)),
            Some(Outcome::Binary(_) | Outcome::Rejected(..)) => {
                Err(HandlerError::new("a JSON message cannot be answered with binary data"))
            }
            None => Err(HandlerError::new(GONE)),
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
        match self.ask(conn, EventKind::Binary(data.to_vec())).await {
            Some(Outcome::Reply(reply)) => Ok(reply.map(BinaryReply::Json)),
            Some(Outcome::Binary(bytes)) => Ok(Some(BinaryReply::Binary(bytes.into()))),
            Some(Outcome::Failed(message)) => Err(HandlerError::new(message)),
            Some(Outcome::Rejected(..)) => Ok(None),
            None => Err(HandlerError::new(GONE)),
        }
    }

    async fn on_disconnect(&self, conn: &Connection, close: CloseInfo) {
        // JavaScript must hear of every connection it was handed (to forget it), and of every
        // connection of a route with an `onDisconnect` hook.
        if !self.hooks.disconnect && !Bridge::of(conn).announced() {
            return;
        }
        let _ = self.ask(conn, EventKind::Disconnect(close.code, close.reason)).await;
    }
}
