//! Core errors as JavaScript errors: the message starts with `[<code>] `, which the `spikard`
//! package turns into a `SpikardError` carrying that code. A refused publish also carries its
//! `topic` and `errors` as properties, for the package's `PublishError`.

use napi::{Env, JsValue, bindgen_prelude::JsObjectValue};

/// A napi error for a core error, tagged with the core's stable code.
pub(crate) fn to_napi(err: &spikard::Error) -> napi::Error {
    coded(err.code(), &err.to_string())
}

/// A napi error tagged with `code`.
pub(crate) fn coded(code: &str, message: &str) -> napi::Error {
    napi::Error::from_reason(format!("[{code}] {message}"))
}

/// A JavaScript `Error` for a refused publish: message `[<code>] <the core's text>`, with the
/// properties `topic` and `errors` (`[{path, message, keyword}]`).
pub(crate) fn publish_error(env: &Env, err: &spikard::PublishError) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let mut error = env.create_error(coded(err.code(), &err.to_string()))?;
        error.set_named_property("topic", err.topic())?;
        error.set_named_property("errors", env.to_js_value(&err.errors())?)?;
        Ok(napi::Error::from(error.to_unknown()))
    };
    build().unwrap_or_else(|failed| failed)
}
