//! Property tests of the text path, parse -> validate -> envelope, as the session runs it on
//! every text frame of a JSON route (proptest: runs on stable Rust inside `cargo test`).
//!
//! For any text, valid JSON or not, hostile or not: the message either passes the schema or is
//! answered with one envelope that is JSON, says `"type": "error"` with `invalid_json` or
//! `validation_failed`, lists at most [`MAX_FIELD_ERRORS`] errors (with `truncated` exactly when
//! there were more), keeps every `path`, `message` and `keyword` within [`MAX_FIELD_TEXT`]
//! bytes, and never carries an input string or key in a `message`. `PROPTEST_CASES` sets the
//! number of cases (256 by default).

use proptest::{prelude::*, test_runner::Config};
use serde_json::{Value, json};

use crate::{
    envelope::{ErrorCode, ErrorEnvelope, MAX_FIELD_ERRORS, MAX_FIELD_TEXT},
    schema::CompiledSchema,
};

/// A schema that refuses in many ways: types, lengths, bounds, required and unknown properties,
/// property names, array items.
fn schema() -> CompiledSchema {
    let schema = json!({
        "type": "object",
        "required": ["user", "text"],
        "additionalProperties": false,
        "propertyNames": {"maxLength": 8},
        "properties": {
            "user": {"type": "string", "maxLength": 5},
            "text": {"type": "string", "minLength": 1},
            "tags": {"type": "array", "items": {"type": "integer", "minimum": 0}, "maxItems": 40},
            "when": {"type": "string", "format": "date-time"}
        }
    });
    CompiledSchema::compile("/fuzz", "message", &schema).unwrap()
}

/// What the session does with a text frame's content: `None` when it reaches the handler.
fn pipeline(schema: &CompiledSchema, text: &str) -> Option<ErrorEnvelope> {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => return Some(ErrorEnvelope::invalid_json(&err)),
    };
    if schema.is_valid(&value) { None } else { Some(ErrorEnvelope::validation(schema.errors(&value))) }
}

/// Markers: 12 capital letters, so that finding one in an envelope is no coincidence.
fn marker() -> impl Strategy<Value = String> {
    "[A-Z]{12}"
}

/// JSON values whose strings and keys are markers, nested a few levels.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        marker().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 24, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..24).prop_map(Value::Array),
            prop::collection::btree_map(marker(), inner, 0..24)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Message texts: JSON of a value, the same cut short, or any text at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        value().prop_map(|v| v.to_string()),
        (value(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = v.to_string();
            let mut end = cut.index(text.len() + 1);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[..end].to_owned()
        }),
        any::<String>(),
    ]
}

/// Every marker (12 capital letters) in `text`.
fn markers(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_ascii_uppercase()).filter(|word| word.len() == 12).collect()
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    Config { cases, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_text_passes_or_gets_one_bounded_envelope_that_echoes_nothing(text in text()) {
        let schema = schema();
        let Some(envelope) = pipeline(&schema, &text) else { return Ok(()) };
        let json: Value = serde_json::from_str(&envelope.to_json()).unwrap();
        prop_assert_eq!(&json["type"], "error");
        prop_assert!(matches!(envelope.code, ErrorCode::InvalidJson | ErrorCode::ValidationFailed));
        prop_assert!(envelope.errors.len() <= MAX_FIELD_ERRORS);
        if envelope.code == ErrorCode::ValidationFailed {
            let all = serde_json::from_str::<Value>(&text).map(|v| schema.errors(&v).count()).unwrap();
            prop_assert_eq!(envelope.truncated, all > MAX_FIELD_ERRORS);
            prop_assert_eq!(envelope.errors.len(), all.min(MAX_FIELD_ERRORS));
        }
        let mut said = vec![envelope.message.as_str()];
        for error in &envelope.errors {
            prop_assert!(error.path.len() <= MAX_FIELD_TEXT, "path of {} bytes", error.path.len());
            prop_assert!(error.message.len() <= MAX_FIELD_TEXT);
            prop_assert!(error.keyword.len() <= MAX_FIELD_TEXT);
            said.push(&error.message);
        }
        let input = markers(&text);
        for message in said {
            for word in markers(message) {
                prop_assert!(!input.contains(&word), "{:?} echoes {:?}", message, word);
            }
        }
    }
}
