//! The error envelope: the one JSON shape in which the server reports a bad message.
//!
//! ```json
//! {"type": "error", "code": "validation_failed", "message": "...",
//!  "errors": [{"path": "/text", "message": "...", "keyword": "type"}]}
//! ```
//!
//! The shape and the codes are identical in every language package; the shared fixtures pin them.
//!
//! An envelope built from client input is bounded whatever the input: it lists at most
//! [`MAX_FIELD_ERRORS`] errors (and then says `"truncated": true`), each `path`, `message` and
//! `keyword` is at most [`MAX_FIELD_TEXT`] bytes (cut text ends with [`TRUNCATION_MARKER`]), and
//! no message carries an input value or a key.

use std::borrow::Cow;

use serde::Serialize;

/// The most field errors one envelope lists; when there are more, the envelope says
/// `"truncated": true`.
pub const MAX_FIELD_ERRORS: usize = 16;
/// The longest `path`, `message` or `keyword` of a field error, in UTF-8 bytes (the marker of a
/// cut text included).
pub const MAX_FIELD_TEXT: usize = 256;
/// What ends a text cut to [`MAX_FIELD_TEXT`] bytes.
pub const TRUNCATION_MARKER: &str = "\u{2026}";

/// `text` when it is at most [`MAX_FIELD_TEXT`] bytes long, otherwise its longest prefix (cut
/// on a character boundary) that fits with [`TRUNCATION_MARKER`] after it.
///
/// ```
/// use spikard::envelope::{bounded, MAX_FIELD_TEXT};
/// assert_eq!(bounded("/text"), "/text");
/// let long = "k".repeat(10_000);
/// let cut = bounded(&long);
/// assert!(cut.len() <= MAX_FIELD_TEXT && cut.ends_with('\u{2026}'));
/// ```
#[must_use]
pub fn bounded(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_FIELD_TEXT {
        return Cow::Borrowed(text);
    }
    let mut end = MAX_FIELD_TEXT - TRUNCATION_MARKER.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{TRUNCATION_MARKER}", &text[..end]))
}

fn bound_in_place(text: &mut String) {
    if let Cow::Owned(cut) = bounded(text) {
        *text = cut;
    }
}

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
    /// Human-readable explanation; never an input value.
    pub message: String,
    /// The JSON Schema keyword that failed (`type`, `required`, ...).
    pub keyword: String,
}

impl FieldError {
    /// A field error, each text cut to [`MAX_FIELD_TEXT`] bytes (see [`bounded`]).
    #[must_use]
    pub fn new(path: impl Into<String>, message: impl Into<String>, keyword: impl Into<String>) -> Self {
        let mut error = Self { path: path.into(), message: message.into(), keyword: keyword.into() };
        error.bound();
        error
    }

    fn bound(&mut self) {
        bound_in_place(&mut self.path);
        bound_in_place(&mut self.message);
        bound_in_place(&mut self.keyword);
    }
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
    /// The failing locations (empty unless `code` is `validation_failed`), at most
    /// [`MAX_FIELD_ERRORS`].
    pub errors: Vec<FieldError>,
    /// `true` when there were more failing locations than `errors` lists (serialised only then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl ErrorEnvelope {
    /// An envelope with a code and a message and no field errors.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { kind: "error", code, message: message.into(), errors: Vec::new(), truncated: false }
    }

    /// The `invalid_json` envelope for a text frame that did not parse. Its message names what
    /// was wrong and where (`expected value at line 1 column 1`), never the text itself.
    #[must_use]
    pub fn invalid_json(err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let message = match err.classify() {
            // The parser's own descriptions: a fixed set of phrases plus the position.
            Category::Syntax | Category::Eof => format!("message is not valid JSON: {err}"),
            Category::Data | Category::Io => {
                format!("message is not valid JSON (line {}, column {})", err.line(), err.column())
            }
        };
        Self::new(ErrorCode::InvalidJson, bounded(&message))
    }

    /// A `validation_failed` envelope listing the first [`MAX_FIELD_ERRORS`] of `errors`, each
    /// cut to [`MAX_FIELD_TEXT`] bytes, and `truncated` when `errors` held more. Only one more
    /// than the limit is ever taken from the iterator.
    #[must_use]
    pub fn validation(errors: impl IntoIterator<Item = FieldError>) -> Self {
        let mut errors = errors.into_iter();
        let mut listed: Vec<FieldError> = errors.by_ref().take(MAX_FIELD_ERRORS).collect();
        let truncated = errors.next().is_some();
        for error in &mut listed {
            error.bound();
        }
        let message = match (listed.len(), truncated) {
            (_, true) => format!(
                "message failed schema validation: more than {MAX_FIELD_ERRORS} errors, the first {MAX_FIELD_ERRORS} listed"
            ),
            (1, false) => "message failed schema validation: 1 error".to_owned(),
            (n, false) => format!("message failed schema validation: {n} errors"),
        };
        Self { kind: "error", code: ErrorCode::ValidationFailed, message, errors: listed, truncated }
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
        let field = FieldError::new("/a", "m", "type");
        let env = ErrorEnvelope::validation(vec![field.clone(), field]);
        assert_eq!(env.code.as_str(), "validation_failed");
        assert!(env.message.ends_with("2 errors"));
        assert!(!env.to_json().contains("truncated"));
    }

    #[test]
    fn validation_envelope_lists_at_most_the_limit_and_says_truncated() {
        let many = (0..1000).map(|i| FieldError::new(format!("/{i}"), "m", "type"));
        let env = ErrorEnvelope::validation(many);
        assert_eq!(env.errors.len(), MAX_FIELD_ERRORS);
        assert!(env.truncated);
        assert!(env.to_json().ends_with(r#""truncated":true}"#), "{}", env.to_json());
        let exact = (0..MAX_FIELD_ERRORS).map(|i| FieldError::new(format!("/{i}"), "m", "type"));
        assert!(!ErrorEnvelope::validation(exact).truncated);
    }

    #[test]
    fn texts_are_cut_on_a_character_boundary_with_a_marker() {
        let long = "\u{e9}".repeat(MAX_FIELD_TEXT);
        let field = FieldError::new(format!("/{long}"), long.clone(), "type");
        assert!(field.path.len() <= MAX_FIELD_TEXT && field.path.ends_with(TRUNCATION_MARKER));
        assert!(field.message.len() <= MAX_FIELD_TEXT);
        // Fields built without `new` are cut by the envelope.
        let raw = FieldError { path: long.clone(), message: long, keyword: "k".into() };
        let env = ErrorEnvelope::validation([raw]);
        assert!(env.errors[0].path.len() <= MAX_FIELD_TEXT);
        assert!(env.errors[0].message.len() <= MAX_FIELD_TEXT);
    }

    #[test]
    fn invalid_json_never_echoes_the_text() {
        let err = serde_json::from_str::<serde_json::Value>("{\"secret\": nope}").unwrap_err();
        let env = ErrorEnvelope::invalid_json(&err);
        assert_eq!(env.code, ErrorCode::InvalidJson);
        assert!(env.message.starts_with("message is not valid JSON"), "{}", env.message);
        assert!(!env.message.contains("secret") && !env.message.contains("nope"), "{}", env.message);
    }
}
