//! Ruby values to JSON values and back, without going through JSON text.
//!
//! Ruby to JSON: `Hash` (String or Symbol keys), `Array`, `String`, `Symbol` (as its name),
//! `Integer`, `Float` (finite), `true`, `false`, `nil`, and any object answering `to_h`.
//! JSON to Ruby: objects become Hashes with String keys, strings become UTF-8 Strings.

use magnus::{
    Error, Float, Integer, IntoValue, RArray, RHash, RString, Ruby, Symbol, TryConvert, Value,
    r_hash::ForEach,
    value::{Qfalse, Qtrue, ReprValue},
};
use serde_json::{Map, Number};

/// Deepest nesting accepted from Ruby: the core's limit for every language (also guards against
/// cyclic structures).
const MAX_DEPTH: usize = spikard::bridge::protocol::MAX_DEPTH;

/// Convert a Ruby value to JSON; raises `TypeError` for what JSON cannot hold.
pub(crate) fn to_json(ruby: &Ruby, value: Value) -> Result<serde_json::Value, Error> {
    convert(ruby, value, 0)
}

fn convert(ruby: &Ruby, value: Value, depth: usize) -> Result<serde_json::Value, Error> {
    if depth > MAX_DEPTH {
        return Err(type_error(ruby, "value is nested too deeply (or contains itself)"));
    }
    if value.is_nil() {
        return Ok(serde_json::Value::Null);
    }
    if let Some(s) = RString::from_value(value) {
        return string(ruby, s).map(serde_json::Value::String);
    }
    if let Some(hash) = RHash::from_value(value) {
        let mut map = Map::with_capacity(hash.len());
        hash.foreach(|key: Value, item: Value| {
            map.insert(key_name(ruby, key)?, convert(ruby, item, depth + 1)?);
            Ok(ForEach::Continue)
        })?;
        return Ok(serde_json::Value::Object(map));
    }
    if let Some(array) = RArray::from_value(value) {
        let mut items = Vec::with_capacity(array.len());
        for item in array {
            items.push(convert(ruby, item, depth + 1)?);
        }
        return Ok(serde_json::Value::Array(items));
    }
    if let Some(int) = Integer::from_value(value) {
        let number = int.to_i64().map(Number::from).or_else(|_| int.to_u64().map(Number::from));
        return number
            .map(serde_json::Value::Number)
            .map_err(|_| type_error(ruby, "integer does not fit in 64 bits"));
    }
    if let Some(float) = Float::from_value(value) {
        return Number::from_f64(float.to_f64())
            .map(serde_json::Value::Number)
            .ok_or_else(|| type_error(ruby, "NaN and Infinity are not JSON numbers"));
    }
    if Qtrue::from_value(value).is_some() {
        return Ok(serde_json::Value::Bool(true));
    }
    if Qfalse::from_value(value).is_some() {
        return Ok(serde_json::Value::Bool(false));
    }
    if let Some(symbol) = Symbol::from_value(value) {
        return Ok(serde_json::Value::String(symbol.name()?.into_owned()));
    }
    if value.respond_to("to_h", false)? {
        let hash: Value = value.funcall("to_h", ())?;
        if RHash::from_value(hash).is_some() {
            return convert(ruby, hash, depth + 1);
        }
    }
    Err(type_error(ruby, &format!("cannot convert {} to JSON", value.class().inspect())))
}

fn key_name(ruby: &Ruby, key: Value) -> Result<String, Error> {
    if let Some(s) = RString::from_value(key) {
        return string(ruby, s);
    }
    if let Some(symbol) = Symbol::from_value(key) {
        return Ok(symbol.name()?.into_owned());
    }
    if Integer::from_value(key).is_some() {
        return String::try_convert(key.funcall("to_s", ())?);
    }
    Err(type_error(
        ruby,
        &format!("a JSON object key must be a String or Symbol, not {}", key.class().inspect()),
    ))
}

fn string(ruby: &Ruby, s: RString) -> Result<String, Error> {
    // SAFETY: the bytes are copied before any other Ruby call can change the string.
    let bytes = unsafe { s.as_slice() }.to_vec();
    String::from_utf8(bytes).map_err(|_| type_error(ruby, "string is not valid UTF-8"))
}

/// A copy of a Ruby String's bytes, whatever its encoding.
pub(crate) fn bytes(s: RString) -> spikard::Bytes {
    // SAFETY: the bytes are copied before any other Ruby call can change the string.
    spikard::Bytes::copy_from_slice(unsafe { s.as_slice() })
}

fn type_error(ruby: &Ruby, message: &str) -> Error {
    Error::new(ruby.exception_type_error(), message.to_owned())
}

/// Convert a JSON value to Ruby.
pub(crate) fn to_ruby(ruby: &Ruby, value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => ruby.qnil().as_value(),
        serde_json::Value::Bool(b) => b.into_value_with(ruby),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_value_with(ruby),
            (None, Some(u)) => u.into_value_with(ruby),
            _ => n.as_f64().unwrap_or(f64::NAN).into_value_with(ruby),
        },
        serde_json::Value::String(s) => ruby.str_new(s).as_value(),
        serde_json::Value::Array(items) => {
            ruby.ary_from_iter(items.iter().map(|item| to_ruby(ruby, item))).as_value()
        }
        serde_json::Value::Object(map) => {
            let hash = ruby.hash_new();
            // Setting a key of a fresh, unfrozen Hash cannot fail.
            for (key, item) in map {
                let _ = hash.aset(ruby.str_new(key), to_ruby(ruby, item));
            }
            hash.as_value()
        }
    }
}
