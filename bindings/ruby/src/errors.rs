//! Raising the exception classes that `lib/spikard/errors.rb` defines, with the core's codes.

use magnus::{Error, Exception, RModule, Ruby, prelude::*};

/// A `Spikard::<class_name>` exception carrying `code`, ready to raise.
pub(crate) fn build(ruby: &Ruby, class_name: &str, code: &str, message: &str) -> Error {
    let made = ruby
        .class_object()
        .const_get::<_, RModule>("Spikard")
        .and_then(|spikard| spikard.const_get::<_, magnus::RClass>(class_name))
        .and_then(|class| class.new_instance::<_>((message, code)))
        .and_then(Exception::try_convert);
    match made {
        Ok(exception) => exception.into(),
        Err(err) => err,
    }
}

/// The Ruby exception for a core error: `Spikard::SchemaError`, `ConfigError`, `BindError` or
/// `ServerError`, each carrying the core's stable `code`.
pub(crate) fn from_core(ruby: &Ruby, err: &spikard::Error) -> Error {
    let class_name = match err.code() {
        "schema_compile" => "SchemaError",
        "bind_failed" => "BindError",
        "serve_failed" => "ServerError",
        _ => "ConfigError",
    };
    build(ruby, class_name, err.code(), &err.to_string())
}
