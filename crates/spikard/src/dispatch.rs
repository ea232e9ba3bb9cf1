//! Dispatch by message type: one route, a handler per value of a discriminator field.
//!
//! A route with branches ([`Route::on`](crate::Route::on), [`Route::branch`](crate::Route::branch))
//! reads its discriminator (`"type"` unless [`Route::discriminator`](crate::Route::discriminator)
//! says otherwise) from each JSON message, picks the branch of that value and validates the
//! message against that branch's schema only, in one pass. A message that is not an object,
//! lacks the discriminator, or names no branch gets `validation_failed` listing the allowed
//! values (bounded like every envelope, never echoing the input). The branch's reply is checked
//! against its reply schema, and when the message carried an `id` (a string or an integer) the
//! reply, if it is a JSON object, carries the same `id`.
//!
//! ```
//! use serde_json::json;
//! use spikard::{handler_fn, App, Branch, Connection, HandlerError, Route};
//!
//! let join = handler_fn(|_c: Connection, m: serde_json::Value| async move {
//!     Ok::<_, HandlerError>(Some(json!({"joined": m["user"]})))
//! });
//! let say = handler_fn(|_c: Connection, m: serde_json::Value| async move {
//!     Ok::<_, HandlerError>(Some(json!({"said": m["text"]})))
//! });
//! let route = Route::dispatch("/chat")
//!     .on("join", json!({"type": "object", "required": ["user"]}), join)
//!     .branch(
//!         Branch::new("say", say)
//!             .message_schema(json!({"type": "object", "required": ["text"]}))
//!             .reply_schema(json!({"type": "object", "required": ["said"]}))
//!             .description("Say something to the room."),
//!     );
//! App::new().route(route).unwrap();
//! ```

use std::{collections::HashMap, fmt, sync::Arc};

use serde_json::Value;

use crate::{
    Error,
    envelope::{ErrorEnvelope, FieldError, MAX_FIELD_TEXT, bounded},
    handler::WebSocketHandler,
    schema::CompiledSchema,
};

/// The discriminator field read when a route does not name its own.
pub const DEFAULT_DISCRIMINATOR: &str = "type";

/// The field whose value a reply to a dispatched message echoes (an acknowledgement).
pub const ACK_ID: &str = "id";

/// One message type of a dispatching route: its name (the discriminator's value), its handler,
/// and optional message schema, reply schema and description.
///
/// Only the handler's [`WebSocketHandler::handle_message`] is called for a branch; the route's
/// own handler keeps `on_connect`, `on_disconnect` and binary messages.
pub struct Branch {
    pub(crate) name: String,
    pub(crate) handler: Arc<dyn WebSocketHandler>,
    pub(crate) message_schema: Option<Value>,
    pub(crate) reply_schema: Option<Value>,
    pub(crate) description: Option<String>,
}

impl fmt::Debug for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Branch")
            .field("name", &self.name)
            .field("message_schema", &self.message_schema)
            .field("reply_schema", &self.reply_schema)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Branch {
    /// The branch for messages whose discriminator is `name`, handled by `handler`.
    pub fn new(name: impl Into<String>, handler: impl WebSocketHandler) -> Self {
        Self::shared(name, Arc::new(handler))
    }

    /// A branch whose handler is already shared (how language bindings register branches).
    pub fn shared(name: impl Into<String>, handler: Arc<dyn WebSocketHandler>) -> Self {
        Self { name: name.into(), handler, message_schema: None, reply_schema: None, description: None }
    }

    /// Validate this branch's messages against this JSON Schema (pointers relative to the
    /// message). Without one, any object with this discriminator value is accepted.
    #[must_use]
    pub fn message_schema(mut self, schema: Value) -> Self {
        self.message_schema = Some(schema);
        self
    }

    /// Validate this branch's replies against this JSON Schema; a failing reply is dropped,
    /// logged and counted, as for a route's response schema.
    #[must_use]
    pub fn reply_schema(mut self, schema: Value) -> Self {
        self.reply_schema = Some(schema);
        self
    }

    /// What this message type does, for the AsyncAPI document ([`App::asyncapi`](crate::App::asyncapi)).
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// The discriminator value this branch handles.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A registered branch: schemas compiled.
pub(crate) struct BranchState {
    pub(crate) name: Arc<str>,
    pub(crate) handler: Arc<dyn WebSocketHandler>,
    pub(crate) message_schema: Option<CompiledSchema>,
    pub(crate) reply_schema: Option<CompiledSchema>,
    pub(crate) message_source: Option<Value>,
    pub(crate) reply_source: Option<Value>,
    pub(crate) description: Option<String>,
}

/// A route's dispatch table, compiled at registration.
pub(crate) struct Dispatch {
    pub(crate) discriminator: Arc<str>,
    pub(crate) branches: Vec<BranchState>,
    index: HashMap<Box<str>, usize>,
    /// `"a", "b", ...` (bounded), for the envelope of a message that names no branch.
    allowed: String,
}

impl Dispatch {
    pub(crate) fn compile(route: &str, discriminator: String, branches: Vec<Branch>) -> Result<Self, Error> {
        if discriminator.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "route {route}: the discriminator field must not be empty"
            )));
        }
        let mut index = HashMap::with_capacity(branches.len());
        let mut compiled = Vec::with_capacity(branches.len());
        for branch in branches {
            if index.insert(branch.name.clone().into_boxed_str(), compiled.len()).is_some() {
                return Err(Error::InvalidConfig(format!(
                    "route {route}: message type {:?} has two branches",
                    branch.name
                )));
            }
            let compile = |which, schema: &Option<Value>| {
                schema.as_ref().map(|s| CompiledSchema::compile(route, which, s)).transpose()
            };
            compiled.push(BranchState {
                message_schema: compile("branch message", &branch.message_schema)?,
                reply_schema: compile("branch reply", &branch.reply_schema)?,
                name: branch.name.into(),
                handler: branch.handler,
                message_source: branch.message_schema,
                reply_source: branch.reply_schema,
                description: branch.description,
            });
        }
        let allowed = allowed_list(compiled.iter().map(|b| &*b.name));
        Ok(Self { discriminator: discriminator.into(), branches: compiled, index, allowed })
    }

    /// The branch for `message`, after its schema; the envelope to send when there is none or
    /// the message fails the branch's schema.
    pub(crate) fn select(&self, message: &Value) -> Result<&BranchState, ErrorEnvelope> {
        let refuse = |path: String, message: String, keyword: &str| {
            Err(ErrorEnvelope::validation([FieldError::new(path, message, keyword)]))
        };
        let field = crate::schema::child_pointer("", &self.discriminator);
        let Some(object) = message.as_object() else {
            return refuse(
                String::new(),
                format!(
                    "value is not of type \"object\"; {:?} must be one of {}",
                    &*self.discriminator, self.allowed
                ),
                "type",
            );
        };
        let Some(kind) = object.get(&*self.discriminator) else {
            return refuse(
                field,
                format!("{:?} is a required property, one of {}", &*self.discriminator, self.allowed),
                "required",
            );
        };
        let Some(branch) = kind.as_str().and_then(|k| self.index.get(k)).map(|&i| &self.branches[i]) else {
            return refuse(field, format!("value is not one of {}", self.allowed), "enum");
        };
        if let Some(schema) = &branch.message_schema {
            if !schema.is_valid(message) {
                return Err(ErrorEnvelope::validation(schema.errors(message)));
            }
        }
        Ok(branch)
    }
}

/// The message's acknowledgement id: its `id` when that is a string or an integer.
pub(crate) fn ack_id(message: &Value) -> Option<Value> {
    match message.get(ACK_ID)? {
        id @ Value::String(_) => Some(id.clone()),
        id @ Value::Number(n) if n.is_i64() || n.is_u64() => Some(id.clone()),
        _ => None,
    }
}

/// `"a", "b", "c"`: the names quoted, as many as fit in a field error's message, then `…`.
fn allowed_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    // Room for the longest prefix the envelope's message puts before the list.
    let budget = MAX_FIELD_TEXT - 64;
    let mut out = String::new();
    for name in names {
        let quoted = format!("{:?}", bounded(name));
        let separator = if out.is_empty() { "" } else { ", " };
        if out.len() + separator.len() + quoted.len() > budget {
            out.push_str(", \u{2026}");
            break;
        }
        out.push_str(separator);
        out.push_str(&quoted);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Connection, HandlerError, handler_fn};

    fn branch(name: &str, schema: Value) -> Branch {
        let echo = handler_fn(|_c: Connection, m: Value| async move { Ok::<_, HandlerError>(Some(m)) });
        Branch::new(name, echo).message_schema(schema)
    }

    fn dispatch() -> Dispatch {
        Dispatch::compile(
            "/chat",
            "type".into(),
            vec![
                branch("join", json!({"type": "object", "required": ["user"]})),
                branch("say", json!({"properties": {"text": {"type": "string", "maxLength": 3}}})),
            ],
        )
        .unwrap()
    }

    fn refused(message: &Value) -> (Vec<String>, String) {
        let env = dispatch().select(message).err().unwrap();
        (env.errors.iter().map(|e| e.path.clone()).collect(), env.errors[0].message.clone())
    }

    #[test]
    fn picks_the_branch_and_validates_against_it_only() {
        let d = dispatch();
        assert_eq!(&*d.select(&json!({"type": "join", "user": "a"})).unwrap().name, "join");
        assert_eq!(&*d.select(&json!({"type": "say"})).unwrap().name, "say");
        let (paths, _) = refused(&json!({"type": "join"}));
        assert_eq!(paths, vec!["/user"]);
        let (paths, message) = refused(&json!({"type": "say", "text": "SECRET"}));
        assert_eq!(paths, vec!["/text"]);
        assert!(!message.contains("SECRET"), "{message}");
    }

    #[test]
    fn unknown_or_missing_types_list_the_allowed_values_without_echo() {
        let (paths, message) = refused(&json!({"type": "SECRET"}));
        assert_eq!(
            (paths, message.as_str()),
            (vec!["/type".to_owned()], r#"value is not one of "join", "say""#)
        );
        let (paths, message) = refused(&json!({"text": 1}));
        assert_eq!(paths, vec!["/type"]);
        assert_eq!(message, r#""type" is a required property, one of "join", "say""#);
        let (paths, _) = refused(&json!({"type": 5}));
        assert_eq!(paths, vec!["/type"]);
        let (paths, message) = refused(&json!(["SECRET"]));
        assert_eq!(paths, vec![""]);
        assert!(message.contains(r#""join", "say""#) && !message.contains("SECRET"), "{message}");
    }

    #[test]
    fn the_allowed_list_is_bounded() {
        let names: Vec<String> = (0..200).map(|i| format!("type-{i}-{}", "x".repeat(40))).collect();
        let list = allowed_list(names.iter().map(String::as_str));
        assert!(list.len() < MAX_FIELD_TEXT - 60 && list.ends_with('\u{2026}'), "{list}");
        let branches = names.iter().map(|n| branch(n, json!(true))).collect();
        let d = Dispatch::compile("/r", "kind".into(), branches).unwrap();
        let env = d.select(&json!({})).err().unwrap();
        assert!(env.errors[0].message.len() <= MAX_FIELD_TEXT);
    }

    #[test]
    fn duplicate_branches_and_bad_schemas_are_refused() {
        let twice = vec![branch("a", json!(true)), branch("a", json!(true))];
        assert_eq!(Dispatch::compile("/r", "type".into(), twice).err().unwrap().code(), "invalid_config");
        let bad = vec![branch("a", json!({"type": 12}))];
        assert_eq!(Dispatch::compile("/r", "type".into(), bad).err().unwrap().code(), "schema_compile");
    }

    proptest::proptest! {
        /// Whatever a client sends, a refusal names no input and stays within the bounds.
        #[test]
        fn refusals_never_echo_the_input(kind in "[a-zA-Z0-9 ]{0,300}", key in "[a-z]{1,20}") {
            let d = dispatch();
            let secret = format!("SECRET{kind}");
            for message in [json!({"type": secret}), json!({key.clone(): secret}), json!([secret]), json!(secret)] {
                if let Err(env) = d.select(&message) {
                    let text = env.to_json();
                    proptest::prop_assert!(!text.contains("SECRET"), "{}", text);
                    proptest::prop_assert!(text.len() < 600, "{}", text.len());
                }
            }
        }
    }

    #[test]
    fn ack_ids_are_strings_or_integers() {
        assert_eq!(ack_id(&json!({"id": "a1"})), Some(json!("a1")));
        assert_eq!(ack_id(&json!({"id": 7})), Some(json!(7)));
        assert_eq!(ack_id(&json!({"id": 1.5})), None);
        assert_eq!(ack_id(&json!({"id": null})), None);
        assert_eq!(ack_id(&json!({"id": {"a": 1}})), None);
        assert_eq!(ack_id(&json!("id")), None);
    }
}
