//! JSON values between Rust (`serde_json::Value`) and Python objects.
//!
//! Python to JSON takes the JSON-native types directly (`dict` with `str` keys, `list`, `tuple`,
//! `str`, `int`, `float`, `bool`, `None`) and hands anything else to an encoder supplied by the
//! Python package (Pydantic models, msgspec Structs, dataclasses, enums...), whose result is
//! converted in turn.

use pyo3::{
    exceptions::{PyTypeError, PyValueError},
    prelude::*,
    types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple},
};
use serde_json::{Map, Number, Value};

/// How deeply an object may nest (the core's limit for every language; also guards against
/// self-referencing containers and encoders that return their own input).
const MAX_DEPTH: usize = spikard::bridge::protocol::MAX_DEPTH;

/// A JSON value as a new Python object.
pub(crate) fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(PyString::new(py, key), to_python(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python object as a JSON value; `encoder` turns non-JSON objects into JSON-able ones.
pub(crate) fn from_python(obj: &Bound<'_, PyAny>, encoder: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    convert(obj, encoder, 0)
}

fn convert(obj: &Bound<'_, PyAny>, encoder: Option<&Bound<'_, PyAny>>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err("value nests too deeply to be sent as JSON"));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    // bool before int: `bool` is a subclass of `int`.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(Value::from(v));
        }
        if let Ok(v) = i.extract::<u64>() {
            return Ok(Value::from(v));
        }
        return Err(PyValueError::new_err("integer is too large to be sent as JSON"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err("NaN and infinity cannot be sent as JSON"));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, item) in dict.iter() {
            let key = key.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("JSON object keys must be str, not {}", type_name(&key)))
            })?;
            map.insert(key.to_str()?.to_owned(), convert(&item, encoder, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return list.iter().map(|item| convert(&item, encoder, depth + 1)).collect();
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return tuple.iter().map(|item| convert(&item, encoder, depth + 1)).collect();
    }
    match encoder {
        Some(encode) => convert(&encode.call1((obj,))?, encoder, depth + 1),
        None => {
            Err(PyTypeError::new_err(format!("object of type {} cannot be sent as JSON", type_name(obj))))
        }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string())
}
