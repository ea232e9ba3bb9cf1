//! The core's error type: what can go wrong while registering routes or running a server.
//!
//! Every variant has a stable, machine-readable [`Error::code`]. The Python, Node.js and Ruby
//! packages map these codes onto exception classes defined in their own language, so the codes
//! are part of the public contract: they never change meaning once released.

use std::io;

/// An error raised while building an app or running its server.
///
/// Errors a *client* causes (invalid JSON, schema failures, ...) are never `Error`s: they are
/// answered on the socket with an [`ErrorEnvelope`](crate::ErrorEnvelope) or a close code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A route's message or response schema is not a valid JSON Schema.
    #[error("route {route}: {which} schema does not compile: {message}")]
    SchemaCompile {
        /// The route's path pattern.
        route: String,
        /// `"message"` or `"response"`.
        which: &'static str,
        /// What the schema compiler reported.
        message: String,
    },
    /// A topic schema (see `App::topic_schema`) is not a valid JSON Schema.
    #[error("topic {pattern}: schema does not compile: {message}")]
    TopicSchemaCompile {
        /// The topic pattern it was declared for.
        pattern: String,
        /// What the schema compiler reported.
        message: String,
    },
    /// A route path is not usable (empty, not starting with `/`, bad parameter syntax).
    #[error("route {route}: invalid path: {message}")]
    InvalidPath {
        /// The offending path.
        route: String,
        /// Why it was refused.
        message: String,
    },
    /// Two routes were registered with the same path.
    #[error("route {route}: a route with this path is already registered")]
    DuplicateRoute {
        /// The duplicated path.
        route: String,
    },
    /// A configured value is out of range (for example a zero message size limit).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The server could not bind its listening socket.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The shared pub/sub backend (Redis) could not be reached when the server started.
    #[error("cannot reach the pub/sub backend {url}: {message}")]
    PubSub {
        /// The backend's URL, its password hidden.
        url: String,
        /// What the connection attempt reported.
        message: String,
    },
    /// The server failed while serving (the listener broke).
    #[error("server error: {0}")]
    Serve(#[source] io::Error),
}

impl Error {
    /// The stable code of this error, shared by every language package.
    ///
    /// ```
    /// let err = spikard::Error::DuplicateRoute { route: "/chat".into() };
    /// assert_eq!(err.code(), "duplicate_route");
    /// ```
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::SchemaCompile { .. } | Self::TopicSchemaCompile { .. } => "schema_compile",
            Self::InvalidPath { .. } => "invalid_path",
            Self::DuplicateRoute { .. } => "duplicate_route",
            Self::InvalidConfig(_) => "invalid_config",
            Self::Bind { .. } => "bind_failed",
            Self::PubSub { .. } => "pubsub_unavailable",
            Self::Serve(_) => "serve_failed",
        }
    }
}
