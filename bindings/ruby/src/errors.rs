//! Every error the core reports, as the exception classes of `lib/spikard/errors.rb`: one
//! mapping from the core's [`Code`](spikard::bridge::Code), in `Spikard::Error.from_native`.

use magnus::{Error, Exception, RClass, RModule, Ruby, prelude::*};
use spikard::bridge::Failure;

/// The class `Spikard::<name>`.
pub(crate) fn class(ruby: &Ruby, name: &str) -> Result<RClass, Error> {
    ruby.class_object().const_get::<_, RModule>("Spikard")?.const_get(name)
}

/// The `Spikard::Error` subclass for a core failure, ready to raise: its code picks the class;
/// the message, topic and failing locations (`[path, message, keyword]` triples, which become
/// `Spikard::FieldError`s) go with it.
pub(crate) fn raise(ruby: &Ruby, failure: impl Into<Failure>) -> Error {
    let failure = failure.into();
    let errors: Vec<_> = failure.errors.into_iter().map(|e| (e.path, e.message, e.keyword)).collect();
    let args = (failure.code.as_str(), failure.message, failure.topic, errors);
    match class(ruby, "Error").and_then(|error| error.funcall::<_, _, Exception>("from_native", args)) {
        Ok(exception) => exception.into(),
        Err(err) => err,
    }
}
