//! Every error the core reports, as the exception classes of `lib/spikard/errors.rb`: one
//! mapping from the core's [`Code`](spikard::bridge::Code), in `Spikard::Error.from_native`.

use magnus::{Error, Exception, RClass, RModule, Ruby, prelude::*};
use spikard::bridge::Failure;

/// The class `Spikard::<name>`.
pub(crate) fn class(ruby: &Ruby, name: &str) -> Result<RClass, Error> {
    ruby.class_object().const_get::<_, RModule>("Spikard")?.const_get(name)
}

/// The `Spikard::Error` subclass for a core failure, ready to raise: its code picks the class;
/// the message, topic and failing locations (`Spikard::FieldError`s) go with it.
pub(crate) fn raise(ruby: &Ruby, failure: impl Into<Failure>) -> Error {
    let failure = failure.into();
    let made = (|| {
        let field_error = class(ruby, "FieldError")?;
        let errors = ruby.ary_new_capa(failure.errors.len());
        for field in &failure.errors {
            errors.push(field_error.new_instance((
                field.path.as_str(),
                field.message.as_str(),
                field.keyword.as_str(),
            ))?)?;
        }
        let args = (failure.code.as_str(), failure.message.as_str(), failure.topic.as_deref(), errors);
        class(ruby, "Error")?.funcall::<_, _, Exception>("from_native", args)
    })();
    match made {
        Ok(exception) => exception.into(),
        Err(err) => err,
    }
}
