//! JSON Schemas compiled once per route, and their failures as [`FieldError`]s.
//!
//! The draft is taken from the schema's `$schema` keyword (2020-12 when absent). `format` is
//! checked, not only an annotation (`date-time`, `date`, `time`, `duration`, `email`,
//! `hostname`, `ipv4`, `ipv6`, `uri`, `uri-reference`, `uuid`, `json-pointer`, `regex`, ...
//! as the `jsonschema` crate implements them); unknown formats are ignored. Remote
//! references are never fetched: the core is built without `jsonschema`'s network resolver, so a
//! schema that points at a URL fails when it is compiled, at registration.

use jsonschema::{ValidationError, error::ValidationErrorKind};
use serde_json::Value;

use crate::{
    Error,
    envelope::{FieldError, MAX_FIELD_TEXT, bounded},
};

/// A compiled JSON Schema, ready to validate messages without further work per message.
#[derive(Debug)]
pub struct CompiledSchema {
    validator: jsonschema::Validator,
}

impl CompiledSchema {
    /// Compile `schema` for `route`; `which` is `"message"` or `"response"` and names the schema
    /// in the error when it does not compile.
    ///
    /// # Errors
    /// [`Error::SchemaCompile`] when the schema is not a valid JSON Schema of its draft.
    pub fn compile(route: &str, which: &'static str, schema: &Value) -> Result<Self, Error> {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map(|validator| Self { validator })
            .map_err(|err| Error::SchemaCompile { route: route.to_owned(), which, message: err.to_string() })
    }

    /// `true` when `instance` satisfies the schema. Stops at the first failure.
    #[must_use]
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// The failing locations of `instance`, none when it is valid, produced one at a time: take
    /// as many as you will report (an envelope takes [`MAX_FIELD_ERRORS`] + 1). Check
    /// [`CompiledSchema::is_valid`] first on a hot path, it is faster.
    ///
    /// A missing `required` property is reported at the pointer where it should be (`/user`
    /// rather than the parent object), and each property refused by `additionalProperties`,
    /// `unevaluatedProperties` or `propertyNames` gets its own entry. Messages never carry an
    /// input value or a key (the key is in the pointer), and every text is cut to
    /// [`MAX_FIELD_TEXT`](crate::MAX_FIELD_TEXT) bytes.
    ///
    /// [`MAX_FIELD_ERRORS`]: crate::MAX_FIELD_ERRORS
    pub fn errors<'a>(&'a self, instance: &'a Value) -> impl Iterator<Item = FieldError> + 'a {
        self.validator.iter_errors(instance).flat_map(Entries::of)
    }
}

/// The entries of one validation error: one, or one per refused property.
enum Entries {
    One(Option<FieldError>),
    Properties { base: String, keyword: String, message: &'static str, names: std::vec::IntoIter<String> },
}

impl Entries {
    fn of(error: ValidationError<'_>) -> Self {
        let base = bounded(error.instance_path().as_str()).into_owned();
        let keyword = error.kind().keyword().to_owned();
        let one =
            |path: String, message: String| Self::One(Some(FieldError::new(path, message, keyword.clone())));
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
                return one(child_pointer(&base, &name), format!("{name:?} is a required property"));
            }
            ValidationErrorKind::PropertyNames { error: inner } => {
                let name = inner.instance().as_str().map(|name| child_pointer(&base, name));
                // The inner error's subject is the key itself: masked, it reads "property name ...".
                return one(name.unwrap_or(base), inner.masked_with("property name").to_string());
            }
            ValidationErrorKind::AdditionalProperties { .. }
            | ValidationErrorKind::UnevaluatedProperties { .. } => {}
            // Masked: the message never echoes the (untrusted, possibly huge) value back.
            _ => return one(base, error.masked().to_string()),
        }
        let message = if keyword == "additionalProperties" {
            "additional property is not allowed"
        } else {
            "unevaluated property is not allowed"
        };
        match error.into_parts().kind {
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                Self::Properties { base, keyword, message, names: unexpected.into_iter() }
            }
            _ => Self::One(None),
        }
    }
}

impl Iterator for Entries {
    type Item = FieldError;

    fn next(&mut self) -> Option<FieldError> {
        match self {
            Self::One(error) => error.take(),
            Self::Properties { base, keyword, message, names } => names
                .next()
                .map(|name| FieldError::new(child_pointer(base, &name), *message, keyword.clone())),
        }
    }
}

/// `base` extended by one property name, escaped as RFC 6901 requires; a long name is only
/// escaped as far as [`MAX_FIELD_TEXT`](crate::MAX_FIELD_TEXT) needs, then cut.
pub(crate) fn child_pointer(base: &str, name: &str) -> String {
    let mut out = String::with_capacity((base.len() + name.len() + 1).min(MAX_FIELD_TEXT + 8));
    out.push_str(base);
    out.push('/');
    for c in name.chars() {
        if out.len() > MAX_FIELD_TEXT {
            break;
        }
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    // Stopped early or not, anything over the limit is cut here, marker added.
    if out.len() <= MAX_FIELD_TEXT { out } else { bounded(&out).into_owned() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(schema: &Value, instance: &Value) -> Vec<String> {
        let compiled = CompiledSchema::compile("/t", "message", schema).unwrap();
        let mut p: Vec<String> = compiled.errors(instance).map(|e| e.path).collect();
        p.sort();
        p
    }

    #[test]
    fn required_points_at_the_missing_property() {
        let schema = json!({"type": "object", "required": ["text", "a/b"]});
        assert_eq!(paths(&schema, &json!({})), vec!["/a~1b", "/text"]);
    }

    #[test]
    fn each_additional_property_is_listed() {
        let schema = json!({"type": "object", "properties": {"a": {}}, "additionalProperties": false});
        assert_eq!(paths(&schema, &json!({"a": 1, "x": 1, "y": 2})), vec!["/x", "/y"]);
    }

    #[test]
    fn nested_paths_are_pointers() {
        let schema = json!({"properties": {"tags": {"items": {"type": "string"}}}});
        assert_eq!(paths(&schema, &json!({"tags": ["a", 1, 2]})), vec!["/tags/1", "/tags/2"]);
    }

    #[test]
    fn default_draft_is_2020_12_and_schema_keyword_selects_another() {
        // prefixItems exists only from 2020-12 on.
        let modern = json!({"prefixItems": [{"type": "string"}]});
        assert_eq!(paths(&modern, &json!([1])), vec!["/0"]);
        let draft7 =
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]});
        assert_eq!(paths(&draft7, &json!([1])), vec!["/0"]);
    }

    #[test]
    fn messages_do_not_echo_the_value() {
        let compiled = CompiledSchema::compile("/t", "message", &json!({"maxLength": 3})).unwrap();
        let errors: Vec<FieldError> = compiled.errors(&json!("secret-and-long")).collect();
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].message.contains("secret"), "{}", errors[0].message);
        assert_eq!(errors[0].keyword, "maxLength");
    }

    #[test]
    fn refused_keys_are_in_the_pointer_only_and_cut() {
        let schema = json!({"properties": {"a": {}}, "additionalProperties": false});
        let key = format!("secret{}", "k".repeat(900_000));
        let compiled = CompiledSchema::compile("/t", "message", &schema).unwrap();
        let instance = json!({ key.clone(): 1, "a": 1 });
        let errors: Vec<FieldError> = compiled.errors(&instance).collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "additional property is not allowed");
        assert_eq!(errors[0].keyword, "additionalProperties");
        assert!(errors[0].path.len() <= MAX_FIELD_TEXT, "{}", errors[0].path.len());
        assert!(errors[0].path.starts_with("/secretkkk") && errors[0].path.ends_with('\u{2026}'));
    }

    #[test]
    fn property_names_errors_point_at_the_key_without_echoing_it() {
        let schema = json!({"propertyNames": {"maxLength": 3}});
        let compiled = CompiledSchema::compile("/t", "message", &schema).unwrap();
        let errors: Vec<FieldError> = compiled.errors(&json!({"toolong": 1})).collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "/toolong");
        assert_eq!(errors[0].keyword, "propertyNames");
        assert!(!errors[0].message.contains("toolong"), "{}", errors[0].message);
    }

    #[test]
    fn errors_are_produced_lazily_one_per_refused_key() {
        let schema = json!({"properties": {"a": {}}, "additionalProperties": false});
        let compiled = CompiledSchema::compile("/t", "message", &schema).unwrap();
        let instance: serde_json::Map<String, Value> =
            (0..1000).map(|i| (format!("k{i}"), json!(0))).collect();
        let instance = Value::Object(instance);
        assert_eq!(compiled.errors(&instance).count(), 1000);
        let first: Vec<String> = compiled.errors(&instance).take(2).map(|e| e.path).collect();
        assert_eq!(first, vec!["/k0", "/k1"]);
    }

    #[test]
    fn formats_are_checked_and_unknown_ones_ignored() {
        for (format, good, bad) in [
            ("date-time", "2024-02-29T10:20:30Z", "2024-02-30T10:20:30Z"),
            ("date", "2024-02-29", "2023-02-29"),
            ("time", "10:20:30+01:00", "25:20:30Z"),
            ("uuid", "12345678-1234-5678-1234-567812345678", "not-a-uuid"),
            ("email", "ann@example.com", "ann.example.com"),
            ("uri", "https://example.com/a?b=c", "no scheme"),
            ("ipv4", "192.168.0.1", "192.168.0.256"),
        ] {
            let schema = json!({"type": "string", "format": format});
            assert!(paths(&schema, &json!(good)).is_empty(), "{format}: {good}");
            assert_eq!(paths(&schema, &json!(bad)), vec![""], "{format}: {bad}");
        }
        let unknown = json!({"type": "string", "format": "no-such-format"});
        assert!(paths(&unknown, &json!("anything")).is_empty());
    }

    #[test]
    fn invalid_schema_names_the_route() {
        let err = CompiledSchema::compile("/chat", "message", &json!({"type": 12})).unwrap_err();
        assert_eq!(err.code(), "schema_compile");
        assert!(err.to_string().contains("/chat"), "{err}");
    }

    #[test]
    fn remote_refs_are_refused_at_compile_time() {
        let schema = json!({"$ref": "https://example.com/schema.json"});
        assert!(CompiledSchema::compile("/r", "message", &schema).is_err());
    }
}
