//! Core errors as JavaScript errors: the message starts with `[<code>] `, which the `spikard`
//! package turns into a `SpikardError` carrying that code.

/// A napi error for a core error, tagged with the core's stable code.
pub(crate) fn to_napi(err: &spikard::Error) -> napi::Error {
    coded(err.code(), &err.to_string())
}

/// A napi error tagged with `code`.
pub(crate) fn coded(code: &str, message: &str) -> napi::Error {
    napi::Error::from_reason(format!("[{code}] {message}"))
}
