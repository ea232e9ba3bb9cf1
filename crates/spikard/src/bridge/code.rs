//! [`Code`] and [`Failure`]: every error a binding raises into its host language, with the
//! stable code each language maps, once, onto its own exception classes.

use crate::{Error, FieldError, PublishError, SendError};

/// The stable code of an error raised into a host language.
///
/// Each binding maps every code to one exception class of its language (Python `spikard.errors`,
/// the Node package's error classes with a `code` property, Ruby `Spikard::*Error`), in one
/// function, so the same mistake raises the same kind of error everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// A message, response or topic schema does not compile.
    SchemaCompile,
    /// A route path is not usable.
    InvalidPath,
    /// Two routes have the same path.
    DuplicateRoute,
    /// A configured value is out of range.
    InvalidConfig,
    /// The listening socket could not be bound.
    BindFailed,
    /// The server failed while serving.
    ServeFailed,
    /// The shared pub/sub backend (Redis) could not be reached at start-up.
    PubsubUnavailable,
    /// A send on a connection that is closed or closing.
    ConnectionClosed,
    /// A send on a connection whose outgoing queue is full (it is being closed with 1013).
    QueueFull,
    /// A publish refused by its topic's schema.
    PublishInvalid,
    /// `close(code, reason)` with a code a server may not send, or a reason over 123 bytes.
    InvalidClose,
    /// A call answered twice, or an answer where none is expected.
    InvalidState,
    /// A value that cannot cross into JSON (unsupported type, nested too deeply).
    InvalidValue,
}

impl Code {
    /// The code as every language spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SchemaCompile => "schema_compile",
            Self::InvalidPath => "invalid_path",
            Self::DuplicateRoute => "duplicate_route",
            Self::InvalidConfig => "invalid_config",
            Self::BindFailed => "bind_failed",
            Self::ServeFailed => "serve_failed",
            Self::PubsubUnavailable => "pubsub_unavailable",
            Self::ConnectionClosed => "connection_closed",
            Self::QueueFull => "queue_full",
            Self::PublishInvalid => "publish_invalid",
            Self::InvalidClose => "invalid_close",
            Self::InvalidState => "invalid_state",
            Self::InvalidValue => "invalid_value",
        }
    }
}

/// An error on its way into a host language: its [`Code`], message, and the structured fields
/// some codes carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of error.
    pub code: Code,
    /// Human-readable text.
    pub message: String,
    /// The route it concerns, for route registration errors.
    pub route: Option<String>,
    /// The topic, for [`Code::PublishInvalid`].
    pub topic: Option<String>,
    /// Failing locations, for [`Code::PublishInvalid`].
    pub errors: Vec<FieldError>,
}

impl Failure {
    /// A failure with this code and message and no structured fields.
    #[must_use]
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), route: None, topic: None, errors: Vec::new() }
    }
}

impl From<&Error> for Failure {
    fn from(err: &Error) -> Self {
        let (code, route) = match err {
            Error::SchemaCompile { route, .. } => (Code::SchemaCompile, Some(route.clone())),
            Error::TopicSchemaCompile { .. } => (Code::SchemaCompile, None),
            Error::InvalidPath { route, .. } => (Code::InvalidPath, Some(route.clone())),
            Error::DuplicateRoute { route } => (Code::DuplicateRoute, Some(route.clone())),
            Error::Bind { .. } => (Code::BindFailed, None),
            Error::Serve(_) => (Code::ServeFailed, None),
            Error::PubSub { .. } => (Code::PubsubUnavailable, None),
            Error::InvalidConfig(_) => (Code::InvalidConfig, None),
        };
        Self { route, ..Self::new(code, err.to_string()) }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::from(&err)
    }
}

impl From<SendError> for Failure {
    fn from(err: SendError) -> Self {
        let code = match err {
            SendError::QueueFull => Code::QueueFull,
            SendError::Closed => Code::ConnectionClosed,
        };
        Self::new(code, err.to_string())
    }
}

impl From<&PublishError> for Failure {
    fn from(err: &PublishError) -> Self {
        Self {
            topic: Some(err.topic().to_owned()),
            errors: err.errors().to_vec(),
            ..Self::new(Code::PublishInvalid, err.to_string())
        }
    }
}

impl From<PublishError> for Failure {
    fn from(err: PublishError) -> Self {
        Self::from(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_keep_their_codes() {
        let err = Error::DuplicateRoute { route: "/chat".into() };
        let failure = Failure::from(&err);
        assert_eq!(failure.code.as_str(), err.code());
        assert_eq!(failure.route.as_deref(), Some("/chat"));
        let err = Error::InvalidConfig("x".into());
        assert_eq!(Failure::from(&err).code.as_str(), err.code());
    }

    #[test]
    fn a_full_queue_is_queue_full_everywhere() {
        assert_eq!(Failure::from(SendError::QueueFull).code, Code::QueueFull);
        assert_eq!(Failure::from(SendError::Closed).code, Code::ConnectionClosed);
    }
}
