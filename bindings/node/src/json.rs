//! JavaScript values as JSON for the core ([`from_js`]): at most [`MAX_DEPTH`] arrays and
//! objects deep, so that a deeply nested or cyclic value fails (a `TypeError` in the package,
//! as `JSON.stringify` throws) instead of overflowing the stack.

use napi::{
    JsValue, Status, ValueType,
    bindgen_prelude::{JsObjectValue, Object, Unknown},
};
use serde_json::{Map, Number, Value};
use spikard::bridge::protocol::MAX_DEPTH;

/// Largest integer a JavaScript number holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

fn not_json(what: &str) -> napi::Error {
    napi::Error::new(Status::InvalidArg, format!("{what} cannot be represented as JSON"))
}

/// `value` as JSON: integral numbers as integers, `NaN` and infinities as `null`.
///
/// # Errors
/// `InvalidArg` for `undefined`, a function, a symbol or a `BigInt` anywhere in `value`, and for
/// arrays and objects nested more than [`MAX_DEPTH`] deep (a cycle is).
pub(crate) fn from_js(value: &Unknown<'_>) -> napi::Result<Value> {
    convert(value, 0)
}

fn convert(value: &Unknown<'_>, depth: usize) -> napi::Result<Value> {
    match value.get_type()? {
        ValueType::Null => Ok(Value::Null),
        ValueType::Boolean => Ok(Value::Bool(value.coerce_to_bool()?)),
        ValueType::String => Ok(Value::String(value.coerce_to_string()?.into_utf8()?.into_owned()?)),
        ValueType::Number => {
            let n = value.coerce_to_number()?.get_double()?;
            if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER {
                // Exact: the range check keeps it within i64.
                #[allow(clippy::cast_possible_truncation)]
                return Ok(Value::from(n as i64));
            }
            Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
        }
        ValueType::Object if depth >= MAX_DEPTH => Err(not_json(&format!(
            "a value nested more than {MAX_DEPTH} arrays and objects deep (or cyclic)"
        ))),
        ValueType::Object => {
            let object = value.coerce_to_object()?;
            if object.is_array()? {
                let items = (0..object.get_array_length()?)
                    .map(|i| convert(&object.get_element::<Unknown<'_>>(i)?, depth + 1));
                return items.collect::<napi::Result<_>>().map(Value::Array);
            }
            let mut map = Map::new();
            for key in Object::keys(&object)? {
                let item = object.get_named_property::<Unknown<'_>>(&key)?;
                map.insert(key, convert(&item, depth + 1)?);
            }
            Ok(Value::Object(map))
        }
        other => Err(not_json(&format!("a value of type {other:?}"))),
    }
}
