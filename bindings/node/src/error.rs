//! Every core failure as a JavaScript `Error` whose `code` property is the core's stable code
//! ([`spikard::bridge::Code`]), with `route`, `topic` and `errors` (`[{path, message,
//! keyword}]`) when the failure carries them. The package maps each code to its error class,
//! once (`packages/node/src/errors.ts`).

use napi::{Env, JsValue, Status, bindgen_prelude::JsObjectValue};
use spikard::bridge::Failure;

/// A JavaScript error for anything that becomes a [`Failure`].
pub(crate) fn raise(env: &Env, err: impl Into<Failure>) -> napi::Error {
    let failure = err.into();
    let build = || -> napi::Result<napi::Error> {
        let mut error =
            env.create_error(napi::Error::new(Status::GenericFailure, failure.message.clone()))?;
        error.set_named_property("code", failure.code.as_str())?;
        if let Some(route) = &failure.route {
            error.set_named_property("route", route.as_str())?;
        }
        if let Some(topic) = &failure.topic {
            error.set_named_property("topic", topic.as_str())?;
            error.set_named_property("errors", env.to_js_value(&failure.errors)?)?;
        }
        Ok(napi::Error::from(error.to_unknown()))
    };
    build().unwrap_or_else(|failed| failed)
}
