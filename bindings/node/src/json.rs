//! JSON between JavaScript and the core as text: V8's `JSON.parse` and `JSON.stringify` build
//! and read JavaScript values far faster than one napi call per value (a 16 KiB document is
//! ~650 values each way), so a message reaches JavaScript as its JSON text ([`to_text`]) and a
//! reply, push or publish comes back as text that [`parse`] reads. The package checks a value
//! before it stringifies it (at most 128 arrays and objects deep, nothing `JSON.stringify`
//! would drop or refuse), so the text it hands here is always JSON no deeper than that.

use napi::Status;
use serde::Deserialize;
use serde_json::Value;

/// `json` (text the package made with `JSON.stringify`) as a value.
///
/// # Errors
/// `InvalidArg` when `json` is not JSON text (the package never sends such text).
pub(crate) fn parse(json: &str) -> napi::Result<Value> {
    let mut reader = serde_json::Deserializer::from_str(json);
    // The package has limited the depth (128) already; serde_json's own limit is one lower.
    reader.disable_recursion_limit();
    Value::deserialize(&mut reader)
        .and_then(|value| reader.end().map(|()| value))
        .map_err(|err| napi::Error::new(Status::InvalidArg, format!("not JSON text: {err}")))
}

/// `value` as JSON text for `JSON.parse` on the JavaScript side.
pub(crate) fn to_text(value: &Value) -> String {
    // Serialising a `Value` to a string cannot fail (its keys are strings).
    serde_json::to_string(value).unwrap_or_default()
}
