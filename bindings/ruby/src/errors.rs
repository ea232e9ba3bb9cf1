//! Raising the exception classes that `lib/spikard/errors.rb` defines, with the core's codes.

use magnus::{Error, Exception, KwArgs, RClass, RModule, Ruby, prelude::*};

/// The class `Spikard::<name>`.
fn class(ruby: &Ruby, name: &str) -> Result<RClass, Error> {
    ruby.class_object().const_get::<_, RModule>("Spikard")?.const_get(name)
}

/// The exception itself when making it worked, else the error that prevented it.
fn raised(made: Result<magnus::Value, Error>) -> Error {
    match made.and_then(Exception::try_convert) {
        Ok(exception) => exception.into(),
        Err(err) => err,
    }
}

/// A `Spikard::<class_name>` exception carrying `code`, ready to raise.
pub(crate) fn build(ruby: &Ruby, class_name: &str, code: &str, message: &str) -> Error {
    raised(class(ruby, class_name).and_then(|class| class.new_instance((message, code))))
}

/// `Spikard::PublishError` with the core's code, message, topic and failing locations
/// (`Spikard::FieldError`s).
pub(crate) fn from_publish(ruby: &Ruby, err: &spikard::PublishError) -> Error {
    let made = (|| {
        let field_error = class(ruby, "FieldError")?;
        let errors = ruby.ary_new_capa(err.errors().len());
        for field in err.errors() {
            errors.push(field_error.new_instance((
                field.path.as_str(),
                field.message.as_str(),
                field.keyword.as_str(),
            ))?)?;
        }
        let keywords = ruby.hash_new();
        keywords.aset(ruby.to_symbol("topic"), err.topic())?;
        keywords.aset(ruby.to_symbol("errors"), errors)?;
        class(ruby, "PublishError")?.new_instance((err.to_string(), err.code(), KwArgs(keywords)))
    })();
    raised(made)
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
