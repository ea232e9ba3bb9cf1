//! The [`WebSocketHandler`] trait: what a route does with its connections and messages.
//!
//! Implement it for a type (usable as `Arc<dyn WebSocketHandler>`, which is how the Python,
//! Node.js and Ruby bindings plug in), or wrap an async closure with [`handler_fn`].

use std::{fmt, future::Future, marker::PhantomData};

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::Value;

use crate::{
    connection::{CloseInfo, Connection},
    envelope::{ErrorCode, ErrorEnvelope, FieldError},
};

/// An error returned by a handler, and what the client is told about it.
///
/// Only [`HandlerError::Client`] carries text of the handler's choosing to the client; anything
/// unexpected is [`HandlerError::Internal`], which the client sees as a generic
/// `"internal error"` while the detail is logged server-side. The connection stays open either
/// way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// An error meant for the client: a `handler_error` envelope carries `message`.
    #[error("{message}")]
    Client {
        /// Text sent to the client.
        message: String,
    },
    /// An unexpected failure (a panic, an exception nobody raised for the client): the client
    /// gets `handler_error` with [`INTERNAL_ERROR`]; `detail` is only logged.
    #[error("internal error: {detail}")]
    Internal {
        /// What went wrong, for the server's log (never sent).
        detail: String,
    },
    /// The handler's own type system refused a message that passed the route's schema (a
    /// language binding's model conversion): the client gets `validation_failed` listing
    /// `errors`, bounded like every envelope.
    #[error("message refused by the handler's type: {} error(s)", errors.len())]
    Invalid {
        /// Every failing location (JSON pointers; never input values).
        errors: Vec<FieldError>,
    },
}

/// The message a client gets for an [`HandlerError::Internal`] failure.
pub const INTERNAL_ERROR: &str = "internal error";

impl HandlerError {
    /// An error for the client, carrying this message.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Self::Client { message: message.into() }
    }

    /// An unexpected failure: logged with `detail`, reported to the client as `"internal error"`.
    #[must_use]
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal { detail: detail.into() }
    }

    /// A refusal by the handler's type system, reported as `validation_failed` with `errors`.
    #[must_use]
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Self::Invalid { errors }
    }

    /// The stable code of the envelope this error becomes (`handler_error` or
    /// `validation_failed`).
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::ValidationFailed,
            Self::Client { .. } | Self::Internal { .. } => ErrorCode::HandlerError,
        }
    }

    /// The envelope the client receives for this error.
    #[must_use]
    pub fn envelope(&self) -> ErrorEnvelope {
        match self {
            Self::Client { message } => ErrorEnvelope::new(ErrorCode::HandlerError, message.clone()),
            Self::Internal { .. } => ErrorEnvelope::new(ErrorCode::HandlerError, INTERNAL_ERROR),
            Self::Invalid { errors } => ErrorEnvelope::validation(errors.clone()),
        }
    }
}

impl From<String> for HandlerError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for HandlerError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// A refused publish fails the handler as an internal error (logged with the publish error's
/// text, the client told `"internal error"`), so `?` works on
/// [`Connection::publish`](crate::Connection::publish) inside a handler. To tell the client,
/// catch it and return [`HandlerError::new`].
impl From<crate::PublishError> for HandlerError {
    fn from(err: crate::PublishError) -> Self {
        Self::internal(err.to_string())
    }
}

/// `on_connect`'s refusal: the upgrade is answered with an HTTP error status and a
/// `connection_rejected` envelope as body, and `on_disconnect` never runs.
///
/// To accept the upgrade and then close with a code (visible to browsers, which hide HTTP
/// statuses), call [`Connection::close`] inside `on_connect` and return `Ok(())`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP status of the refusal (403 by default). Anything but a 4xx or 5xx status is a
    /// mistake: the server answers 500 and logs it.
    pub status: StatusCode,
    /// Reason, sent as the envelope's message.
    pub reason: String,
}

impl Rejection {
    /// A 403 refusal with this reason.
    #[must_use]
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self { status: StatusCode::FORBIDDEN, reason: reason.into() }
    }

    /// A refusal with another status (401, 404, 429, ...).
    #[must_use]
    pub fn with_status(status: StatusCode, reason: impl Into<String>) -> Self {
        Self { status, reason: reason.into() }
    }
}

/// A reply to a message: JSON (sent as a text frame, after the route's response schema) or
/// bytes (sent as a binary frame).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Send this JSON value back as a text frame.
    Json(Value),
    /// Send these bytes back as a binary frame.
    Binary(Bytes),
}

impl From<Value> for Reply {
    fn from(value: Value) -> Self {
        Self::Json(value)
    }
}

/// What a route does. Every method but [`WebSocketHandler::handle_message`] has a default.
///
/// Messages of one connection are handled one after another, in order; different connections
/// run concurrently, so implementations must be `Send + Sync`.
#[async_trait::async_trait]
pub trait WebSocketHandler: Send + Sync + 'static {
    /// Called before the upgrade completes. `Err` refuses the connection; messages sent on
    /// `conn` here are delivered first, right after the upgrade.
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        let _ = conn;
        Ok(())
    }

    /// Handle one JSON message that passed the route's message schema. `Ok(Some(v))` sends `v`
    /// (after the response schema, if any), `Ok(None)` sends nothing.
    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError>;

    /// Whether binary frames are accepted. When `false` (the default) a binary frame closes the
    /// connection with 1003.
    fn accepts_binary(&self) -> bool {
        false
    }

    /// Handle one binary message (only called when [`WebSocketHandler::accepts_binary`]).
    async fn handle_binary(&self, conn: &Connection, data: Bytes) -> Result<Option<Reply>, HandlerError> {
        let _ = (conn, data);
        Ok(None)
    }

    /// Called exactly once per accepted connection, after it ended.
    async fn on_disconnect(&self, conn: &Connection, close: CloseInfo) {
        let _ = (conn, close);
    }
}

/// A handler made of one async function of the connection and the message.
///
/// ```
/// use spikard::{handler_fn, Connection, HandlerError};
/// use serde_json::Value;
///
/// let echo = handler_fn(|_conn: Connection, message: Value| async move {
///     Ok::<_, HandlerError>(Some(message))
/// });
/// # let _ = echo;
/// ```
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F, Fut>
where
    F: Fn(Connection, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Value>, HandlerError>> + Send + 'static,
{
    FnHandler { f, _fut: PhantomData }
}

/// The handler built by [`handler_fn`].
pub struct FnHandler<F, Fut> {
    f: F,
    _fut: PhantomData<fn() -> Fut>,
}

impl<F, Fut> fmt::Debug for FnHandler<F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnHandler").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl<F, Fut> WebSocketHandler for FnHandler<F, Fut>
where
    F: Fn(Connection, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Value>, HandlerError>> + Send + 'static,
{
    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        (self.f)(conn.clone(), message).await
    }
}

/// A shared handler is a handler: keep an `Arc` to read its state from elsewhere (a background
/// task, a test) while the route serves it.
#[async_trait::async_trait]
impl<H: WebSocketHandler + ?Sized> WebSocketHandler for std::sync::Arc<H> {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        (**self).on_connect(conn).await
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        (**self).handle_message(conn, message).await
    }

    fn accepts_binary(&self) -> bool {
        (**self).accepts_binary()
    }

    async fn handle_binary(&self, conn: &Connection, data: Bytes) -> Result<Option<Reply>, HandlerError> {
        (**self).handle_binary(conn, data).await
    }

    async fn on_disconnect(&self, conn: &Connection, close: CloseInfo) {
        (**self).on_disconnect(conn, close).await;
    }
}
