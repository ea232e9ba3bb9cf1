//! JSON Schemas compiled once per route, and their failures as [`FieldError`]s.
//!
//! The draft is taken from the schema's `$schema` keyword (2020-12 when absent). `format` is
//! checked, not only an annotation (`date-time`, `date`, `time`, `duration`, `email`,
//! `hostname`, `ipv4`, `ipv6`, `uri`, `uri-reference`, `uuid`, `json-pointer`, `regex`, ...
//! as the `jsonschema` crate implements them); unknown formats are ignored. Remote
//! references are never fetched: the core is built without `jsonschema`'s network resolver, so a
//! schema that points at a URL fails when it is compiled, at registration.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::{Error, envelope::FieldError};

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

    /// Every failing location of `instance`, empty when it is valid.
    ///
    /// A missing `required` property is reported at the pointer where it should be
    /// (`/user` rather than the parent object), and each property refused by
    /// `additionalProperties` or `unevaluatedProperties` gets its own entry.
    #[must_use]
    pub fn errors(&self, instance: &Value) -> Vec<FieldError> {
        if self.validator.is_valid(instance) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for error in self.validator.iter_errors(instance) {
            let base = error.instance_path().as_str().to_owned();
            let keyword = error.kind().keyword().to_owned();
            match error.kind() {
                ValidationErrorKind::Required { property } => {
                    let name = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
                    out.push(FieldError {
                        path: child_pointer(&base, &name),
                        message: format!("{name:?} is a required property"),
                        keyword,
                    });
                }
                ValidationErrorKind::AdditionalProperties { unexpected }
                | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                    for name in unexpected {
                        out.push(FieldError {
                            path: child_pointer(&base, name),
                            message: format!("additional property {name:?} is not allowed"),
                            keyword: keyword.clone(),
                        });
                    }
                }
                // Masked: the message never echoes the (untrusted, possibly huge) value back.
                _ => out.push(FieldError { path: base, message: error.masked().to_string(), keyword }),
            }
        }
        out
    }
}

/// `base` extended by one property name, escaped as RFC 6901 requires.
fn child_pointer(base: &str, name: &str) -> String {
    let escaped = name.replace('~', "~0").replace('/', "~1");
    format!("{base}/{escaped}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(schema: &Value, instance: &Value) -> Vec<String> {
        let compiled = CompiledSchema::compile("/t", "message", schema).unwrap();
        let mut p: Vec<String> = compiled.errors(instance).into_iter().map(|e| e.path).collect();
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
        let errors = compiled.errors(&json!("secret-and-long"));
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].message.contains("secret"), "{}", errors[0].message);
        assert_eq!(errors[0].keyword, "maxLength");
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
