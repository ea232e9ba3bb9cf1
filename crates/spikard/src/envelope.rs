//! The error envelope: the one JSON shape in which the server reports a bad message.
//!
//! ```json
//! {"type": "error", "code": "validation_failed", "message": "...",
//!  "errors": [{"path": "/text", "message": "...", "keyword": "type"}]}
//! ```
//!
//! The shape and the codes are identical in every language package; the shared fixtures pin them.

use serde::Serialize;

/// The stable code carried by an [`ErrorEnvelope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// A text frame was not valid JSON. The connection stays open.
    InvalidJson,
    /// A message failed the route's message schema. The connection stays open.
    ValidationFailed,
    /// The handler raised (or returned an error). The connection stays open.
    HandlerError,
    /// `on_connect` refused the connection (sent as the body of the HTTP refusal).
    ConnectionRejected,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::ValidationFailed => "validation_failed",
            Self::HandlerError => "handler_error",
            Self::ConnectionRejected => "connection_rejected",
        }
    }
}

/// One failing location inside a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer to the failing value (for a missing required property: where it should be).
    pub path: String,
    /// Human-readable explanation.
    pub message: String,
    /// The JSON Schema keyword that failed (`type`, `required`, ...).
    pub keyword: String,
}

/// The error message sent to a client, serialised as `{"type": "error", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorEnvelope {
    #[serde(rename = "type")]
    kind: &'static str,
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable summary, never a traceback.
    pub message: String,
    /// Every failing location (empty unless `code` is `validation_failed`).
    pub errors: Vec<FieldError>,
}

impl ErrorEnvelope {
    /// An envelope with a code and a message and no field errors.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { kind: "error", code, message: message.into(), errors: Vec::new() }
    }

    /// A `validation_failed` envelope listing every failing location.
    #[must_use]
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = match errors.len() {
            1 => "message failed schema validation: 1 error".to_owned(),
            n => format!("message failed schema validation: {n} errors"),
        };
        Self { kind: "error", code: ErrorCode::ValidationFailed, message, errors }
    }

    /// The envelope as JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serialising plain strings and vectors into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape_is_stable() {
        let env = ErrorEnvelope::new(ErrorCode::InvalidJson, "bad");
        assert_eq!(env.to_json(), r#"{"type":"error","code":"invalid_json","message":"bad","errors":[]}"#);
    }

    #[test]
    fn validation_envelope_counts_errors() {
        let field = FieldError { path: "/a".into(), message: "m".into(), keyword: "type".into() };
        let env = ErrorEnvelope::validation(vec![field.clone(), field]);
        assert_eq!(env.code.as_str(), "validation_failed");
        assert!(env.message.ends_with("2 errors"));
    }
}
